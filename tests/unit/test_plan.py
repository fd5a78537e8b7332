"""--plan's arithmetic: the capacity units a copy consumes, how long it takes at the budgets, and where the sizes
come from when DescribeTable says 0."""

from __future__ import annotations

from migrator.dynamo.throttle import Budget
from migrator.jobs.plan import (_duration_line, copy_write_units, scan_read_units, seconds_at, show_bytes,
                                show_seconds, table_sizes)
from migrator.schema import TableInfo


def info(items: int, size: int) -> TableInfo:
    return TableInfo("t", (("id", "HASH"),), items, size, "PAY_PER_REQUEST", {})


def test_a_scan_costs_half_an_rcu_per_started_4_kb():
    """Eventually consistent reads: 0.5 RCU per 4 KB, the last 4 KB started counts whole."""
    assert scan_read_units(0) == 0
    assert scan_read_units(1) == 0.5
    assert scan_read_units(4096) == 0.5
    assert scan_read_units(4097) == 1.0
    assert scan_read_units(10 * 1024 ** 3) == 10 * 1024 ** 3 / 4096 / 2  # 10 GB: 1,310,720 RCU


def test_a_put_costs_one_wcu_per_started_kb_of_each_item():
    """Each item rounds up on its own: 1 WCU at least, 2 for an item of 1025 bytes."""
    assert copy_write_units(500, 341) == 500
    assert copy_write_units(10, 1024) == 10
    assert copy_write_units(10, 1025) == 20
    assert copy_write_units(3, 0) == 3  # an item costs 1 WCU however small


def test_the_duration_is_the_slower_side_at_its_budget():
    """2,000,000 WCU at 1000 WCU/s take 2000 s; the reads at 500 RCU/s take 200 s; they overlap."""
    read, write = Budget(500, 4, "r"), Budget(1000, 4, "w")
    assert seconds_at(100_000, 500) == 200
    assert seconds_at(5, 0) is None
    line = _duration_line(100_000, read, 2_000_000, write)
    assert line.startswith("duration: at least 33 min 20 s at these budgets (reading 3 min 20 s, writing 33 min 20 s")


def test_without_any_budget_the_duration_depends_on_the_servers():
    """An S3 export read into an export: no capacity units either side, so no duration to promise."""
    line = _duration_line(0, Budget(0, 2, "S3"), 0, Budget(0, 2, "S3"))
    assert line == "duration: no budget limits it: it depends on the servers and the tasks"


def test_one_side_without_a_budget_is_said():
    """An export source: writing sets the time, reading has no budget (and no units)."""
    line = _duration_line(0, Budget(0, 2, "S3"), 3600, Budget(1, 2, "w"))
    assert "at least 1 h 0 min" in line and "reading" not in line


def test_describe_tables_figures_are_used_when_both_are_set():
    sizes = table_sizes(info(1000, 2_048_000), None)
    assert (sizes.items, sizes.table_bytes, sizes.average_item_bytes) == (1000, 2_048_000, 2048)
    assert sizes.origin.startswith("DescribeTable's ItemCount and TableSizeBytes")


def test_a_sample_completes_a_count_without_a_size():
    """moto: ItemCount set, TableSizeBytes 0: the size is the count times the sample's average."""
    sizes = table_sizes(info(500, 0), (100, 34_100, False))
    assert (sizes.items, sizes.table_bytes, sizes.average_item_bytes) == (500, 170_500, 341)
    assert "sample of 100 items" in sizes.origin


def test_a_sample_completes_a_size_without_a_count():
    """Alternator: TableSizeBytes set, no ItemCount: the count is the size over the sample's average."""
    sizes = table_sizes(info(0, 1_000_000), (100, 50_000, False))
    assert (sizes.items, sizes.table_bytes) == (2000, 1_000_000)


def test_a_sample_that_held_the_whole_table_is_exact():
    sizes = table_sizes(info(0, 0), (42, 4200, True))
    assert (sizes.items, sizes.table_bytes, sizes.average_item_bytes) == (42, 4200, 100)


def test_without_count_or_size_the_estimate_is_unknown_not_invented():
    """dynalite says 0 and 0, and the sample did not reach the table's end: only the item size is known."""
    sizes = table_sizes(info(0, 0), (100, 25_600, False))
    assert (sizes.items, sizes.table_bytes, sizes.average_item_bytes) == (None, None, 256)


def test_sizes_and_times_read_as_people_write_them():
    assert [show_bytes(n) for n in (0, 1023, 1024, 1536, 3 * 1024 ** 3)] == ["0 B", "1023 B", "1.0 KB", "1.5 KB",
                                                                           "3.0 GB"]
    assert [show_seconds(s) for s in (0.04, 42, 725, 12_000)] == ["0.0 s", "42 s", "12 min 5 s", "3 h 20 min"]
