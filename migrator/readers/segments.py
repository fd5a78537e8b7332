"""How a table is split: the number of parallel-scan segments and of Spark partitions."""

from __future__ import annotations

from dataclasses import dataclass

from migrator.errors import ConfigError

BYTES_PER_SEGMENT = 128 * 1024 * 1024
MAX_SEGMENTS = 1_000_000  # DynamoDB's limit on TotalSegments


@dataclass(frozen=True)
class SegmentPlan:
    total: int  # TotalSegments sent with every Scan
    segments: tuple[int, ...]  # the segments this run scans (total minus skipSegments)
    partitions: int  # Spark partitions, each scanning a slice of `segments`
    derived: bool  # True when `total` was computed from the table size

    @property
    def skipped(self) -> int:
        return self.total - len(self.segments)

    def assignments(self) -> list[tuple[int, ...]]:
        """The segments of each partition, dealt round-robin so that partitions differ by one segment at most."""
        return [self.segments[p :: self.partitions] for p in range(self.partitions)]


def plan_segments(
    *,
    scan_segments: int | None,
    table_size_bytes: int,
    default_parallelism: int,
    max_map_tasks: int | None,
    skip_segments: frozenset[int] = frozenset(),
) -> SegmentPlan:
    """Segments: `scan_segments` when given, else one per 128 MiB and never fewer than Spark's parallelism.

    Partitions: min(segments to scan, `max_map_tasks`). Read capacity does not cap them: throughput is
    limited by rate, not by starving the job of tasks.
    """
    derived = scan_segments is None
    if derived:
        by_size = -(-max(table_size_bytes, 0) // BYTES_PER_SEGMENT)
        total = min(MAX_SEGMENTS, max(by_size, default_parallelism, 1))
    else:
        total = scan_segments
    out_of_range = sorted(s for s in skip_segments if s >= total)
    if out_of_range:
        raise ConfigError(
            f"skipSegments: {out_of_range} are not below the {total} segments of this run; "
            "skipSegments belong to the scanSegments they were recorded with, so set source.scanSegments to that"
        )
    segments = tuple(s for s in range(total) if s not in skip_segments)
    partitions = max(1, min(len(segments), max_map_tasks or len(segments)))
    return SegmentPlan(total=total, segments=segments, partitions=partitions, derived=derived)


def segment_ranges(segments) -> str:
    """Segment numbers as short text for the log: `[0-3, 7, 9-10]`."""
    ordered = sorted(segments)
    parts: list[str] = []
    start = previous = None
    for segment in ordered + [None]:
        if start is not None and segment == previous + 1:
            previous = segment
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = segment
    return "[" + ", ".join(parts) + "]"


def segments_record(total: int, done: frozenset[int]) -> dict:
    """What a savepoint keeps of a scan's progress: the segment count (`source.scanSegments`, so that a resumed run
    splits the table the same way) and the segments done (`skipSegments`, scylla-migrator's key)."""
    return {"source": {"scanSegments": total}, "skipSegments": sorted(done)}
