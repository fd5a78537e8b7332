"""The driver's live progress: the tasks' counts as they arrive (`prog` lines), summed into one line every
`progress.intervalSeconds`:

    migrator progress: 123,400 of ~500,000 items (24.7%), 2,150 items/s, ETA 2 min 55 s; 12 of 64 segments done;
    3 throttled, 0 other retries

The expected total comes from the source (`Expected`): DescribeTable's ItemCount (about: AWS refreshes it every
six hours or so), its TableSizeBytes when the count is 0, or an export's manifest; else the line says how many
units (segments, files) are done, and the ETA comes from them. Items/s are those of the last interval; the ETA
is the rest at that rate. The counts of each task are those of its newest attempt, so a retried task does not
count twice. `finish` logs the last line from the tasks' results, which are exact.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

from migrator.progress.counts import Counts, Sample, result_counts

logger = logging.getLogger(__name__)

SILENT_TICKS = 3  # ticks with tasks running and no counts arriving before the driver says the channel is down
UNITS_SOURCE = "segments finished"


class Expected(NamedTuple):
    """What the source expects this run to read: `items` (None: unknown), where that comes from, and, when the
    count is unknown, the source's size in bytes to estimate it from."""

    items: int | None
    source: str = UNITS_SOURCE
    size_bytes: int | None = None


class LiveProgress:
    """The tasks' counts and the progress lines of one copy. `on_counts` is the progress server's callback;
    `start` runs the ticker thread, `stop` ends it. `active_tasks()` says how many tasks run now (Spark's status
    tracker), for the warning that no counts arrive."""

    def __init__(self, expected: Expected, units_total: int, *, units_skipped: int = 0, unit_kind: str = "segment",
                 interval: float = 10.0, active_tasks: Callable[[], int] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.expected = expected.items
        self.expected_from = expected.source
        self._size_bytes = expected.size_bytes if expected.items is None else None
        self.units_total = units_total
        self.units_skipped = units_skipped
        self.unit_kind = unit_kind
        self.interval = interval
        self.channel = "the driver's progress server"  # host:port, once the server listens
        self.samples: list[Sample] = []
        self._active_tasks = active_tasks
        self._clock = clock
        self._started = clock()
        self._last = (self._started, 0, 0)  # (when, copied, done) at the last tick
        self._tasks: dict[int, tuple[int, Counts]] = {}
        self._lock = threading.Lock()
        self._received = self._received_at_tick = 0
        self._silent_ticks = 0
        self._said_silent = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the counts ---------------------------------------------------------------------------------------------

    def on_counts(self, task: int, attempt: int, counts: Counts) -> None:
        """A task attempt's counts so far; an older attempt's never replace a newer one's."""
        with self._lock:
            held = self._tasks.get(task)
            if held is None or attempt >= held[0]:
                self._tasks[task] = (attempt, counts)
            self._received += 1

    def task_counts(self) -> dict[int, Counts]:
        with self._lock:
            return {task: counts for task, (_, counts) in self._tasks.items()}

    def total(self) -> Counts:
        return sum(self.task_counts().values(), Counts())

    @property
    def units_done(self) -> int:
        return self.units_skipped + self.total().units_done

    # ---- the lines ----------------------------------------------------------------------------------------------

    def start(self) -> LiveProgress:
        self._thread = threading.Thread(target=self._run, name="progress-lines", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def tick(self) -> str:
        """Log one progress line (and keep its sample); also the once-only warning that no counts arrive."""
        now, total = self._clock(), self.total()
        self._check_silence()
        when, copied, done = self._last
        seconds = now - when
        rate = (total.copied - copied) / seconds if seconds > 0 else 0.0
        done_rate = (_done(total) - done) / seconds if seconds > 0 else 0.0
        self._last = (now, total.copied, _done(total))
        self._sample(now, total, rate)
        line = self._line(total, rate, self._eta(total, done_rate, now))
        logger.info("migrator progress: %s", line)
        return line

    def finish(self, results: Iterable) -> str:
        """The last line, from the tasks' results (transfer.TaskResult: exact) where there are some, else from the
        newest counts: a run always shows its final count. Stops the ticker."""
        self.stop()
        for r in results:
            self.on_counts(r.task, 1 << 62, result_counts(r))
        now, total = self._clock(), self.total()
        seconds = now - self._started
        rate = total.copied / seconds if seconds > 0 else 0.0
        self._sample(now, total, rate)
        line = self._line(total, rate, f"in {duration(seconds)}", average=True)
        logger.info("migrator progress: %s", line)
        return line

    def _sample(self, now: float, total: Counts, rate: float) -> None:
        self._estimate(total)
        self.samples.append(Sample(round(now - self._started, 3), total.copied, round(rate, 1), total.throttled,
                                   total.retries))

    def _estimate(self, total: Counts) -> None:
        """Without an item count but with the source's size: the items expected at the bytes per item read so far."""
        if self._size_bytes and total.bytes_read and _read(total):
            self.expected = round(_read(total) * self._size_bytes / total.bytes_read)

    def _line(self, total: Counts, rate: float, eta: str, average: bool = False) -> str:
        copied, done = total.copied, _done(total)
        units = f"{self.units_done} of {self.units_total} {self.unit_kind}s done"
        if self.expected:
            shown = f"{done:,} processed: " if done != copied else ""
            head = f"{copied:,} of ~{self.expected:,} items ({shown}{100 * done / self.expected:.1f}%)"
        else:
            head = f"{copied:,} items"
            units += f" ({100 * self.units_done / self.units_total:.1f}%)" if self.units_total else ""
        speed = f"{rate:,.0f} items/s{' on average' if average else ''}"
        return (f"{head}, {speed}, {eta}; {units}; {total.throttled:,} throttled, {total.retries:,} other retries")

    def _eta(self, total: Counts, done_rate: float, now: float) -> str:
        if self.expected:
            left = self.expected - _done(total)
            if left <= 0:
                return "ETA unknown (past the expected total)"
            return f"ETA {duration(left / done_rate)}" if done_rate > 0 else "ETA unknown"
        done = total.units_done  # this run's units, at this run's pace
        left = self.units_total - self.units_skipped - done
        if done <= 0 or left < 0:
            return "ETA unknown"
        return f"ETA {duration(left * (now - self._started) / done)} (from the {self.unit_kind}s done)"

    def _check_silence(self) -> None:
        """Say once when tasks run but no counts have arrived for SILENT_TICKS ticks."""
        received = self._received
        running = self._active_tasks() if self._active_tasks is not None else 0
        silent = received == self._received_at_tick and running > 0
        self._received_at_tick = received
        self._silent_ticks = self._silent_ticks + 1 if silent else 0
        if self._silent_ticks >= SILENT_TICKS and not self._said_silent:
            self._said_silent = True
            logger.warning("migrator progress: %d tasks run but no live counts reached %s for %.0f s: progress "
                           "unavailable (can the executors reach the driver? see the tasks' logs); the copy goes "
                           "on and its final count comes with the tasks' results", running, self.channel,
                           SILENT_TICKS * self.interval)


def _done(total: Counts) -> int:
    """Items the copy is through with: copied, refused, skipped as expired or left out by the filter. Items read
    but not yet acknowledged do not count: a task's page read ahead must not run the percentage ahead of the copy
    (on a throttled run, whole segments were read while a half was written)."""
    return total.copied + total.rejected + total.expired + total.filtered_out


def _read(total: Counts) -> int:
    """Items the source read: those scanned (with a filter: matched) and those the filter left out."""
    return total.scanned + total.filtered_out


def duration(seconds: float) -> str:
    """`45 s`, `2 min 55 s`, `1 h 3 min`."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
