"""The Source seam: where items come from, in units of work.

A source is read in units: a scan segment today, an S3 export data file or a stream shard later. The driver plans
the units (`UnitPlan`: every unit of the source, those an earlier run finished, and the Spark partitions); each
executor task gets a tuple of units and the source's executor side (`Source`: plain picklable settings), opens it
(the client is built there, inside the task, never shipped from the driver) and reads each unit as pages of raw
items (JSON fragments, see codec.py), which go through the transform (transform.py) into the sink
(writers/sink.py).

Unit ids. A unit's `id` is what savepoints and the task -> driver progress channel record for it. It is stable
across runs of the same migration and prints as one token without whitespace, so that the line protocol
`TOKEN UNIT ITEMS` carries it as it is (progress/). The unit type decides its form: a scan segment's id is its
segment number, an int, so that progress lines and `skipSegments` are the numbers they always were; an export
data file's id is its position in the export's manifest (an int too: object keys may hold spaces). A run has one
source, so its plan (`UnitPlan.unit_id`) turns a progress line's text back into an id and refuses the text that
names no unit of the run, and `UnitPlan.record` turns the ids done into what a savepoint keeps: segment numbers as
`skipSegments`, data files by their keys as `skipFiles`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from migrator.dynamo.throttle import RateLimiter, Unlimited

UnitId = int | str


class Unit(Protocol):
    """One unit of work: picklable, named by a stable `id` and, for the log, a `label` such as `segment 3/16`."""

    kind: str  # what the units are called in the log: `segment` (`segments [1, 3]`)

    @property
    def id(self) -> UnitId: ...

    @property
    def label(self) -> str: ...


class Changes(NamedTuple):
    """A page of changes rather than items (an incremental export): raw items to put and raw keys to delete, one
    change per key. A plain page (a list) holds items to put only."""

    puts: list
    deletes: list


class SourceReader(Protocol):
    """A source opened inside a task (a context manager that closes its client)."""

    def pages(self, unit: Unit) -> Generator[list | Changes, None, None]:
        """The unit's items, page by page, as raw JSON fragments (or Changes); closing the generator stops the
        reading."""
        ...

    @property
    def retried(self) -> tuple[int, int, int]:
        """(throttled requests retried, other retries, items re-sent) so far, for the task's retry line."""
        ...

    @property
    def filtered_out(self) -> int:
        """Items the source server read but its filter left out so far (a filtered Scan's ScannedCount - Count);
        0 for a source without a filter."""
        ...

    def __enter__(self) -> SourceReader: ...

    def __exit__(self, *exc_info: object) -> None: ...


class Source(Protocol):
    """The executor side of a source: picklable settings, built once on the driver."""

    description: str  # names it in messages: `source table 'orders'`
    unit_kind: str  # Unit.kind of its units
    units_per_second: float  # the job's read budget in `budget_unit`, shared by the running tasks; 0: no limit
    budget_unit: str  # `RCU`

    def open(self, limiter: RateLimiter | Unlimited) -> SourceReader:
        """Build the client (inside the task); reading is charged to `limiter`."""
        ...


@dataclass(frozen=True)
class UnitPlan:
    """The units of one run, planned on the driver: `units` to copy now, dealt into `partitions` Spark tasks."""

    kind: str  # Unit.kind
    total: int  # units of the whole source, including those done by an earlier run
    units: tuple[Unit, ...]  # those this run copies
    done: frozenset[UnitId]  # those an earlier run finished (skipSegments, skipFiles)
    partitions: int
    unit_id: Callable[[str], UnitId]  # a progress line's UNIT text -> id; ValueError: malformed, LookupError: none
    record: Callable[[frozenset], dict]  # done ids -> the keys a savepoint records them with (savepoints/writer.py)

    @property
    def skipped(self) -> int:
        return len(self.done)

    def assignments(self) -> list[tuple[Unit, ...]]:
        """The units of each partition, dealt round-robin so that partitions differ by one unit at most."""
        return [self.units[p :: self.partitions] for p in range(self.partitions)]


def unit_list(kind: str, ids) -> str:
    """Unit ids for the log: `segments [1, 3]`."""
    return f"{kind}s [" + ", ".join(str(i) for i in ids) + "]"
