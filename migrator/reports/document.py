"""The run report's JSON document, built from a RunRecord and the run's outcome: what ran, how it ended, the counts
per task and per unit, their totals and the items/s series.

The counts are the Spark job's task results when it ended; when it did not (a failure or a stop during the copy),
the tasks' last progress reports (`record.live.task_counts()`), which the document says are the last reported
ones; with neither, it has no counts. The config is redacted: no secret ever reaches a report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from migrator import __version__
from migrator.config.secrets import redact
from migrator.progress.counts import Counts, result_counts
from migrator.reports.record import RunRecord

SUCCEEDED, FAILED, STOPPED = "succeeded", "failed", "stopped"
FROM_RESULTS = "the Spark job's task results"
FROM_LIVE = ("the tasks' last progress reports: the Spark job did not end, so these are the counts last reported, "
             "not final ones")
FROM_NOTHING = "none: neither a task result nor a progress report reached the driver"


@dataclass(frozen=True)
class Outcome:
    """How the run ended: `succeeded`, `failed` or `stopped`, the exit status and, unless it succeeded, what
    failed (the message the CLI prints, or the verdict)."""

    outcome: str
    exit_status: int | None  # None: spark-submit's own, unknown to the driver (its JVM was stopped by a signal)
    failure: str | None = None


def build(record: RunRecord, outcome: Outcome, ended: float | None = None) -> dict[str, Any]:
    """The JSON document of the run: see the module docstring and README's "Run report"."""
    ended = time.time() if ended is None else ended
    tasks, counts_from = _tasks(record)
    totals = _totals(tasks)
    seconds = record.seconds
    if seconds is None and record.live is not None and record.live.samples:
        seconds = record.live.samples[-1].seconds  # the copy did not end: as far as the samples go
    copied = totals["items"] if tasks else None
    totals["itemsPerSecond"] = round(copied / seconds, 1) if copied is not None and seconds else None
    return {
        "report": "migrator run report",
        "migratorVersion": __version__,
        "outcome": outcome.outcome,
        "exitStatus": outcome.exit_status,
        "failure": outcome.failure,
        "verdict": record.verdict,
        "started": _utc(record.started),
        "ended": _utc(ended),
        "seconds": round(ended - record.started, 3),
        "copySeconds": round(seconds, 3) if seconds is not None else None,
        "phases": list(record.phases),
        "source": {"title": record.source, **_table_figures(record.source_info)},
        "target": {"title": record.target},
        "plan": {"unitKind": record.unit_kind, "unitsTotal": record.units_total,
                 "unitsPlanned": record.units_planned, "partitions": record.partitions},
        "expected": _expected(record),
        "countsFrom": counts_from,
        "totals": totals,
        "tasks": tasks,
        "throughput": _throughput(record),
        "config": redact(record.config.raw or {}),
    }


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _table_figures(info: Any) -> dict[str, int]:
    """DescribeTable's ItemCount and TableSizeBytes (an export's: its manifest's count), when known."""
    figures = {}
    if info is not None and getattr(info, "item_count", 0) > 0:
        figures["itemCount"] = info.item_count
    if info is not None and getattr(info, "size_bytes", 0) > 0:
        figures["sizeBytes"] = info.size_bytes
    return figures


def _expected(record: RunRecord) -> dict[str, Any]:
    """The expected item total as the live progress had it, else the source's ItemCount; None when unknown."""
    live = record.live
    if live is not None and live.expected:
        return {"items": live.expected, "from": live.expected_from}
    count = getattr(record.source_info, "item_count", 0) or 0
    if count > 0:
        return {"items": count, "from": "DescribeTable ItemCount, about"}
    return {"items": None, "from": "unknown"}


def _tasks(record: RunRecord) -> tuple[list[dict[str, Any]], str]:
    """Per-task counts and where they come from: the task results, else the last progress reports."""
    if record.results is not None:
        return [_result_entry(r) for r in sorted(record.results, key=lambda r: r.task)], FROM_RESULTS
    live = record.live
    counts = live.task_counts() if live is not None else {}
    if not counts:
        return [], FROM_NOTHING
    return [_counts_entry(task, c) for task, c in sorted(counts.items())], FROM_LIVE


def _result_entry(r) -> dict[str, Any]:
    """One TaskResult; `units` pairs each unit with its items when the task sent them (`unit_items`), or when the
    task had one unit (its items are the task's); else the unit's items are unknown (None)."""
    if len(r.unit_items) == len(r.segments):
        per_unit = list(r.unit_items)
    elif len(r.segments) == 1:
        per_unit = [r.written + r.deleted]
    else:
        per_unit = [None] * len(r.segments)
    entry = _counts_entry(r.task, result_counts(r))
    entry.update(seconds=round(r.seconds, 3), cpuSeconds=round(r.cpu_seconds, 3),
                 units=[{"unit": unit, "items": items} for unit, items in zip(r.segments, per_unit)])
    return entry


def _counts_entry(task: int, c: Counts) -> dict[str, Any]:
    """One task's last reported progress/counts.Counts: no duration, CPU or per-unit items."""
    return {
        "task": task, "items": c.copied, "scanned": c.scanned, "written": c.written,
        "deleted": c.deleted, "refused": c.rejected, "expired": c.expired, "filteredOut": c.filtered_out,
        "retries": c.retries, "throttled": c.throttled, "unprocessedResent": c.resent,
        "bytesRead": c.bytes_read, "bytesWritten": c.bytes_written,
        "seconds": None, "cpuSeconds": None, "unitsDone": c.units_done, "units": None,
    }


SUMMED = ("items", "scanned", "written", "deleted", "refused", "expired", "filteredOut", "retries", "throttled",
          "unprocessedResent", "bytesRead", "bytesWritten", "unitsDone", "cpuSeconds")


def _totals(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    totals: dict[str, Any] = {"tasks": len(tasks)}
    for name in SUMMED:
        values = [t[name] for t in tasks if t[name] is not None]
        totals[name] = (round(sum(values), 3) if name == "cpuSeconds" else sum(values)) if values else None
    return totals


def _throughput(record: RunRecord) -> dict[str, Any]:
    """The items/s series of the progress ticks (none when the progress lines were off or the run was short)."""
    samples = record.live.samples if record.live is not None else []
    return {
        "intervalSeconds": record.config.progress.interval_seconds,
        "samples": [{"seconds": round(s.seconds, 3), "copied": s.copied,
                     "itemsPerSecond": round(s.items_per_second, 1), "throttled": s.throttled,
                     "retries": s.retries} for s in samples],
    }
