"""Which segments a sample validation reads: random segments of a fine split, a few items from each.

A parallel scan splits a table by the hash of the partition key, so the first items of a random segment are a
random pick of the table. With about one item per segment (TotalSegments = the table's item count, at most
1,000,000), N random segments with up to ceil(N / segments) items each give about N random items for about N
Scan requests, however big the table. Segments can be empty (items sharing a partition key share a segment, and
the count is an estimate), so each task gets up to 4 times its share of random segments, in random order, and
stops once it has read its share of the N items. A sample at least as large as the table reads every segment.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from migrator.readers.segments import MAX_SEGMENTS, SegmentPlan

OVERSAMPLE = 4  # candidate segments per wanted item, for tables with empty segments


@dataclass(frozen=True)
class SampleLimit:
    """How much of its segments a sampling task reads."""

    per_segment: int  # the first items of a segment, at most this many
    per_task: int  # the task stops reading segments once it has this many items


@dataclass(frozen=True)
class SamplePlan:
    size: int  # items asked for
    estimated_items: int  # DescribeTable's ItemCount, the larger of the two sides (approximate)
    segments: SegmentPlan  # candidate segments of `segments.total`, in random order, dealt to Spark partitions
    limit: SampleLimit

    @property
    def covers_everything(self) -> bool:
        """True when every segment is a candidate."""
        return len(self.segments.segments) == self.segments.total


def plan_sample(size: int, estimated_items: int, max_partitions: int, rng: random.Random) -> SamplePlan:
    """Candidates: min(OVERSAMPLE * size, total) random segments of `total` = the estimated item count (`size` when
    unknown); each read up to ceil(size / min(size, total)) items, each task up to its share of `size`."""
    if size < 1:
        raise ValueError(f"sample size must be positive, got {size}")
    total = min(MAX_SEGMENTS, estimated_items if estimated_items > 0 else size)
    candidates = tuple(rng.sample(range(total), min(total, OVERSAMPLE * size)))  # in random order
    partitions = max(1, min(len(candidates), max_partitions))
    limit = SampleLimit(per_segment=-(-size // min(size, total)), per_task=-(-size // partitions))
    plan = SegmentPlan(total=total, segments=candidates, partitions=partitions, derived=True)
    return SamplePlan(size=size, estimated_items=estimated_items, segments=plan, limit=limit)
