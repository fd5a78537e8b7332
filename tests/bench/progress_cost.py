"""What live progress costs per item, two ways (issue 15's goal: under 1 us per item).

Whole runs: the tasks' CPU per item of the migrator run (progress on, every 10 s by default) minus that of the same
copy with `progress.intervalSeconds: 0`. Both are ~40 us per item on a small machine, so their difference is
noise-sized: it is printed, not held against the goal.

Directly, the task side: the CPU of each task's sender thread (the tasks log it: `live progress: N counts sent to
the driver (sender CPU X ms)`) over the items, plus the per-page hook of transfer() (the tally's additions and
the bytes summed over the raw items) timed here on pages of the benchmark's own raw items.
"""

from __future__ import annotations

import re
import time

from migrator.codec import dumps, raw_scan_page
from migrator.demo import sample_items
from migrator.progress.sender import Tally

SENDER_CPU = re.compile(r"migrator task \d+: live progress: \d+ counts sent to the driver \(sender CPU ([\d.]+) ms\)")
PAGE_ITEMS = 100  # a Scan page of ~300-byte items under a budget is smaller, unthrottled larger (1 MB)


def sender_cpu_s(output: str) -> float | None:
    """The tasks' sender threads' CPU, summed from their lines; None when no task logged one (progress off)."""
    found = SENDER_CPU.findall(output)
    return sum(float(ms) for ms in found) / 1000 if found else None


def page_hook_us_per_item(pages: int = 20_000) -> float:
    """The per-page work transfer() does for progress, per item, on pages of raw items as a Scan returns them."""
    page = _raw_page(list(sample_items.demo_items(PAGE_ITEMS)))
    tally = Tally()

    def hook(puts: list, kept: list) -> None:  # as in transfer._transfer, per page
        read = len(puts)
        dropped = len(puts) - len(kept)
        tally.scanned += read
        tally.expired += dropped
        tally.bytes_read += sum(map(len, puts))
        tally.bytes_written += sum(map(len, kept))

    def none(puts: list, kept: list) -> None:
        pass

    timings = []
    for run in (none, hook):
        started = time.perf_counter()
        for _ in range(pages):
            run(page, page)
        timings.append(time.perf_counter() - started)
    return max(0.0, timings[1] - timings[0]) / (pages * len(page)) * 1e6


def _raw_page(items: list) -> list:
    """A page of raw item fragments, cut from a Scan answer as the reader cuts them."""
    answer = dumps({"Items": items, "Count": len(items), "ScannedCount": len(items)})
    return list(raw_scan_page(answer).items)
