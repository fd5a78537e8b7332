"""What the live progress counts: one task attempt's running counts, and the driver's samples of the whole job.

A task's counts travel to the driver while it runs (progress/__init__.py's `prog` lines); the driver keeps the
newest of each task and samples their sum every progress interval (progress/live.py). The run report
(reports/) writes both.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class Counts:
    """One task attempt's counts so far: every field only grows while the attempt runs."""

    scanned: int = 0  # items the source returned (with a filter: those it matched)
    written: int = 0  # puts acknowledged
    deleted: int = 0  # deletes acknowledged (stream changes, export deletes)
    rejected: int = 0  # items the target refused (kept for the dead-letter file)
    expired: int = 0  # items skipped as TTL-expired
    filtered_out: int = 0  # items the source read that source.filterExpression left out
    throttled: int = 0  # requests retried after throttling, both sides
    retries: int = 0  # requests retried after other transient failures, both sides
    resent: int = 0  # unprocessed items re-sent
    bytes_read: int = 0  # DynamoDB JSON bytes of the items read
    bytes_written: int = 0  # DynamoDB JSON bytes of the items written
    units_done: int = 0  # units (segments, files) finished

    @property
    def copied(self) -> int:
        return self.written + self.deleted

    def values(self) -> tuple[int, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(self.values(), other.values())))


FIELDS = tuple(f.name for f in fields(Counts))


def result_counts(r) -> Counts:
    """A finished task's transfer.TaskResult as Counts (exact, where a task's sent counts may be a page late)."""
    return Counts(scanned=r.scanned, written=r.written, deleted=r.deleted, rejected=r.rejected, expired=r.expired,
                  filtered_out=r.filtered_out, throttled=r.throttled_retries, retries=r.other_retries,
                  resent=r.unprocessed_resent, bytes_read=r.bytes_read, bytes_written=r.bytes_written,
                  units_done=len(r.segments))


@dataclass(frozen=True)
class Sample:
    """The whole job at one progress tick."""

    seconds: float  # since the copy started
    copied: int  # items written or deleted so far, all tasks
    items_per_second: float  # over the interval that ends here
    throttled: int = 0  # so far
    retries: int = 0  # so far
