import random

import pytest

from migrator.validation.sampling import OVERSAMPLE, plan_sample


def test_sample_of_a_large_table_reads_one_item_from_each_random_segment_of_a_fine_split():
    """10 million items, sample 1000: distinct random segments of 1,000,000, one item each, 250 items per task."""
    plan = plan_sample(1000, 10_000_000, 4, random.Random(1))
    assert plan.segments.total == 1_000_000
    assert len(set(plan.segments.segments)) == len(plan.segments.segments) == OVERSAMPLE * 1000
    assert (plan.limit.per_segment, plan.limit.per_task) == (1, 250)
    assert plan.segments.partitions == 4 and not plan.covers_everything
    assert sorted(s for part in plan.segments.assignments() for s in part) == sorted(plan.segments.segments)


def test_segments_are_random_and_in_random_order():
    """Two plans choose different segments, and the candidates are not sorted (a task reads them in that order)."""
    first = plan_sample(100, 1_000_000, 4, random.Random(1)).segments.segments
    second = plan_sample(100, 1_000_000, 4, random.Random(2)).segments.segments
    assert first != second
    assert list(first) != sorted(first)


def test_sample_at_least_as_large_as_the_table_reads_every_segment():
    """200 items, sample 2000: all 200 segments, up to 10 items each, 1000 items per task of 2."""
    plan = plan_sample(2000, 200, 2, random.Random(1))
    assert sorted(plan.segments.segments) == list(range(200))
    assert (plan.limit.per_segment, plan.limit.per_task) == (10, 1000) and plan.covers_everything


def test_unknown_item_count_splits_by_the_sample_size():
    """A table that reports ItemCount 0 (new, or a server that does not count) is split in N segments."""
    plan = plan_sample(500, 0, 4, random.Random(1))
    assert plan.segments.total == 500 and plan.limit.per_segment == 1 and plan.covers_everything


def test_sample_size_must_be_positive():
    """A zero sample is a programming error here; the config and CLI refuse it before."""
    with pytest.raises(ValueError):
        plan_sample(0, 10, 1, random.Random(1))
