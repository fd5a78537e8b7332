import pytest

from migrator.errors import ConfigError
from migrator.readers.segments import BYTES_PER_SEGMENT, plan_segments


def test_scan_segments_given_is_used_and_partitions_capped_by_max_map_tasks():
    """scanSegments 8 with maxMapTasks 3 scans 8 segments in 3 partitions."""
    plan = plan_segments(scan_segments=8, table_size_bytes=0, default_parallelism=2, max_map_tasks=3)
    assert (plan.total, plan.segments, plan.partitions, plan.derived) == (8, tuple(range(8)), 3, False)


def test_derived_segments_follow_table_size():
    """About one segment per 128 MiB when the table is large."""
    plan = plan_segments(scan_segments=None, table_size_bytes=10 * BYTES_PER_SEGMENT + 1, default_parallelism=2,
                         max_map_tasks=None)
    assert plan.total == 11 and plan.partitions == 11 and plan.derived


def test_derived_segments_never_fewer_than_default_parallelism():
    """A small table still gets one segment per core."""
    plan = plan_segments(scan_segments=None, table_size_bytes=1000, default_parallelism=6, max_map_tasks=None)
    assert plan.total == 6


def test_no_read_capacity_cap_on_partitions():
    """1000 segments give 1000 partitions when maxMapTasks is unset: nothing caps tasks by capacity."""
    plan = plan_segments(scan_segments=1000, table_size_bytes=0, default_parallelism=2, max_map_tasks=None)
    assert plan.partitions == 1000


def test_skip_segments_are_left_out():
    """skipSegments are not scanned, and partitions shrink with them."""
    plan = plan_segments(scan_segments=4, table_size_bytes=0, default_parallelism=2, max_map_tasks=None,
                         skip_segments=frozenset({1, 3}))
    assert plan.segments == (0, 2) and plan.partitions == 2 and plan.skipped == 2


def test_skip_segments_beyond_the_total_are_refused():
    """A skipped segment that does not exist means the split changed: refuse rather than skip the wrong data."""
    with pytest.raises(ConfigError, match=r"skipSegments: \[9\]"):
        plan_segments(scan_segments=4, table_size_bytes=0, default_parallelism=2, max_map_tasks=None,
                      skip_segments=frozenset({9}))


def test_segments_are_dealt_round_robin_to_partitions():
    """8 segments in 3 partitions: [0, 3, 6], [1, 4, 7], [2, 5]; every segment exactly once."""
    plan = plan_segments(scan_segments=8, table_size_bytes=0, default_parallelism=2, max_map_tasks=3)
    assert plan.assignments() == [(0, 3, 6), (1, 4, 7), (2, 5)]
