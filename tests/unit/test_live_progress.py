"""Live progress: the `prog` lines of the protocol, the task's counts and sender thread, and the driver's lines."""

from __future__ import annotations

import dataclasses
import logging
import time
from types import SimpleNamespace

import pytest

from migrator.demo.servers import free_port
from migrator.progress import MAX_LINE, ProgressAddress, encode_counts, parse_counts
from migrator.progress.counts import FIELDS, Counts
from migrator.progress.live import Expected, LiveProgress, duration
from migrator.progress.sender import CountsSender, Tally
from migrator.progress.server import ProgressServer
from migrator.readers.scan_source import TableScan
from migrator.readers.source import UnitPlan
from migrator.transfer import TaskResult, transfer
from tests.unit.fakes import FakeApi
from tests.unit.test_transfer import segments, settings, wire

ITEM_COUNT = Expected(1000, "DescribeTable ItemCount, about")
BIG = Counts(*(10**12 + i for i in range(len(FIELDS))))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def live(expected: Expected = ITEM_COUNT, units: int = 8, **extra):
    clock = Clock()
    return LiveProgress(expected, units, interval=10, clock=clock, **extra), clock


# ---- protocol ---------------------------------------------------------------------------------------------------

def test_counts_lines_round_trip_and_fit_the_line_limit():
    """`TOKEN prog TASK ATTEMPT` and the counts in FIELDS order; the largest plausible line fits MAX_LINE."""
    line = encode_counts("t" * 32, 63, 10**9, BIG)
    assert len(line) <= MAX_LINE
    assert parse_counts(line) == ("t" * 32, 63, 10**9, BIG)
    assert encode_counts("abc", 1, 2, Counts(scanned=5, written=4)) == b"abc prog 1 2 5 4 0 0 0 0 0 0 0 0 0 0\n"
    assert parse_counts(b"abc 3 99\n") is None  # a unit report
    for bad in (b"abc prog 1 2 3\n", b"abc prog 1 2" + b" -1" * len(FIELDS) + b"\n"):
        with pytest.raises(ValueError):
            parse_counts(bad)


def test_the_server_hands_counts_on_and_refuses_them_when_progress_is_off(caplog):
    """A valid `prog` line reaches on_counts; without on_counts (interval 0) it is refused, with the reason."""
    got = []
    with ProgressServer("127.0.0.1", "127.0.0.1", on_counts=lambda *args: got.append(args)) as server:
        tally = Tally()
        tally.scanned = 7
        sender = CountsSender(server.address, task=2, attempt=5, tally=tally, interval=60)
        sender._send()
        assert got == [(2, 5, Counts(scanned=7))]
        sender.close()
        assert got[-1] == (2, 5, Counts(scanned=7)) and sender.sent == 2
    with ProgressServer("127.0.0.1", "127.0.0.1") as server, caplog.at_level(logging.WARNING):
        sender = CountsSender(server.address, task=2, attempt=5, tally=Tally(), interval=60)
        sender._send()
        assert sender.failed
    assert any("progress.intervalSeconds is 0" in m for m in caplog.messages)


# ---- task side --------------------------------------------------------------------------------------------------

def test_a_task_sends_its_counts_while_it_runs_and_at_the_end(monkeypatch):
    """The sender thread sends every interval and when a unit ends; the last counts equal the task's result, and
    the result carries each unit's items and the bytes read and written."""
    got = []
    source = FakeApi(lambda op, doc: time.sleep(0.02) or {"Items": [{"id": {"S": f"{doc['Segment']}-{i}"}}
                                                                     for i in range(5)]})
    wire({"source": source, "target": FakeApi(lambda op, doc: {"UnprocessedItems": {}})}, monkeypatch)
    with ProgressServer("127.0.0.1", "127.0.0.1", on_counts=lambda *args: got.append(args)) as server:
        tally = Tally()
        sender = CountsSender(server.address, task=1, attempt=9, tally=tally, interval=0.01).start()
        result = transfer(settings(), segments(0, 1, 2), task=1, tally=tally)
        sender.close()
    assert len(got) >= 4 and all(task == 1 and attempt == 9 for task, attempt, _ in got)
    last = got[-1][2]
    assert (last.scanned, last.written, last.units_done) == (15, 15, 3)
    assert result.unit_items == (5, 5, 5)
    assert result.bytes_read == last.bytes_read == 15 * len(b'{"id":{"S":"0-0"}}')
    assert result.bytes_written == result.bytes_read
    assert sender.cpu_seconds > 0


def test_an_unreachable_driver_costs_one_warning_and_the_copy_succeeds(monkeypatch, caplog):
    """Nothing listens: the sender warns once naming host:port and the cause, stops, and the task copies all."""
    source = FakeApi(lambda op, doc: {"Items": [{"id": {"S": f"{doc['Segment']}-{i}"}} for i in range(4)]})
    wire({"source": source, "target": FakeApi(lambda op, doc: {"UnprocessedItems": {}})}, monkeypatch)
    address = ProgressAddress("127.0.0.1", free_port(), "t" * 32)
    tally = Tally()
    with caplog.at_level(logging.WARNING, logger="migrator.task"):
        sender = CountsSender(address, task=4, attempt=1, tally=tally, interval=0.01, timeout=2).start()
        result = transfer(settings(), segments(0, 1, 2, 3), task=4, tally=tally)
        time.sleep(0.05)
        sender.close()
    assert result.written == 16
    warnings = [m for m in caplog.messages if "progress unavailable" in m]
    assert len(warnings) == 1
    assert (f"migrator task 4: progress unavailable: could not send live counts to the driver at 127.0.0.1:"
            f"{address.port} (") in warnings[0]


# ---- driver side ------------------------------------------------------------------------------------------------

def test_lines_give_count_expected_total_rate_eta_units_and_retries(caplog):
    """Each tick logs one line: copied of ~expected with the percentage, items/s over the last interval, the ETA
    at that rate, the units done and the retries; a sample is kept per tick."""
    progress, clock = live()
    progress.on_counts(0, 1, Counts(scanned=100, written=100, units_done=1, throttled=3))
    progress.on_counts(1, 2, Counts(scanned=150, written=150, units_done=2, retries=1))
    clock.now += 10
    with caplog.at_level(logging.INFO, logger="migrator.progress.live"):
        line = progress.tick()
    assert line == ("250 of ~1,000 items (25.0%), 25 items/s, ETA 30 s; 3 of 8 segments done; 3 throttled, "
                    "1 other retries")
    assert caplog.messages == [f"migrator progress: {line}"]
    progress.on_counts(0, 1, Counts(scanned=400, written=400, units_done=4, throttled=3))
    clock.now += 5
    assert progress.tick().startswith("550 of ~1,000 items (55.0%), 60 items/s, ETA 8 s; 6 of 8 segments done")
    assert [(s.seconds, s.copied, s.items_per_second, s.throttled) for s in progress.samples] == [
        (10.0, 250, 25.0, 3), (15.0, 550, 60.0, 3)]
    clock.now += 10
    assert ", 0 items/s, ETA unknown;" in progress.tick()


def test_a_retried_task_attempt_replaces_the_counts_of_the_failed_one():
    """The counts are per task: a newer attempt's replace the older's, and a late line of the old one is ignored."""
    progress, _ = live()
    progress.on_counts(3, 10, Counts(scanned=90, written=90))
    progress.on_counts(3, 11, Counts(scanned=20, written=20))
    progress.on_counts(3, 10, Counts(scanned=95, written=95))
    progress.on_counts(4, 12, Counts(scanned=5, written=5))
    assert progress.task_counts() == {3: Counts(scanned=20, written=20), 4: Counts(scanned=5, written=5)}
    assert progress.total().copied == 25


def test_without_a_total_the_segments_finished_give_the_progress():
    """No ItemCount nor size: the percentage and the ETA come from the units done, including skipped ones."""
    progress, clock = live(Expected(None), units=10, units_skipped=2, unit_kind="file")
    assert (progress.expected, progress.expected_from) == (None, "segments finished")
    progress.on_counts(0, 1, Counts(scanned=500, written=500, units_done=2))
    clock.now += 20
    assert progress.tick() == ("500 items, 25 items/s, ETA 1 min 0 s (from the files done); 4 of 10 files done "
                               "(40.0%); 0 throttled, 0 other retries")
    assert (progress.units_done, progress.units_total) == (4, 10)


def test_the_table_size_gives_an_estimate_when_the_item_count_is_zero():
    """ItemCount 0 but TableSizeBytes 10000: the total is estimated from the bytes per item read so far."""
    progress, clock = live(Expected(None, "DescribeTable TableSizeBytes, about", 10_000))
    progress.on_counts(0, 1, Counts(scanned=20, written=20, bytes_read=1000))
    clock.now += 10
    assert progress.tick().startswith("20 of ~200 items (10.0%), 2 items/s, ETA 1 min 30 s;")
    assert progress.expected == 200


def test_the_filtered_out_items_count_as_processed_not_copied():
    """With a filter, the percentage is of the items processed; the line says how many."""
    progress, clock = live()
    progress.on_counts(0, 1, Counts(scanned=100, written=100, filtered_out=300))
    clock.now += 10
    assert progress.tick().startswith("100 of ~1,000 items (400 processed: 40.0%), 10 items/s, ETA 15 s;")


def test_items_read_ahead_of_the_writes_do_not_count_as_done():
    """A throttled task has read its whole segment while half of it is written: the percentage and the ETA are
    those of the items written (here 1,000 of 2,000 read), not of those read."""
    progress, clock = live(Expected(2000, "DescribeTable ItemCount, about"))
    progress.on_counts(0, 1, Counts(scanned=2000, written=1000))
    clock.now += 10
    assert progress.tick().startswith("1,000 of ~2,000 items (50.0%), 100 items/s, ETA 10 s;")
    progress.on_counts(0, 1, Counts(scanned=2000, written=1600, expired=100, rejected=100))
    clock.now += 10
    assert progress.tick().startswith("1,600 of ~2,000 items (1,800 processed: 90.0%), 60 items/s, ETA 2 s;")


def test_the_last_line_comes_from_the_tasks_results():
    """finish() replaces every task's counts by its result's (exact) and logs the average rate and duration."""
    progress, clock = live(Expected(600, "the export's manifest"), units=3, unit_kind="file")
    progress.on_counts(0, 1, Counts(scanned=100, written=100))
    clock.now += 125
    results = [TaskResult(0, (0, 1), 400, 400, 1.0, 0.1, throttled_retries=2),
               TaskResult(1, (2,), 200, 190, 1.0, 0.1, deleted=10)]
    assert progress.finish(results) == ("600 of ~600 items (100.0%), 5 items/s on average, in 2 min 5 s; "
                                        "3 of 3 files done; 2 throttled, 0 other retries")
    assert progress.total().copied == 600 and progress.samples[-1].copied == 600


def test_the_driver_warns_once_when_tasks_run_but_no_counts_arrive(caplog):
    """Three ticks with running tasks and no counts: one warning naming the channel; none while counts come."""
    running = [2]
    progress, clock = live(active_tasks=lambda: running[0])
    progress.channel = "10.0.0.5:40000"
    with caplog.at_level(logging.WARNING, logger="migrator.progress.live"):
        for _ in range(6):
            clock.now += 10
            progress.tick()
    warnings = [m for m in caplog.messages if "progress unavailable" in m]
    assert len(warnings) == 1 and "2 tasks run but no live counts reached 10.0.0.5:40000 for 30 s" in warnings[0]
    quiet, clock = live(active_tasks=lambda: 2)
    with caplog.at_level(logging.WARNING, logger="migrator.progress.live"):
        caplog.clear()
        for tick in range(6):
            quiet.on_counts(0, 1, Counts(scanned=tick, written=tick))
            clock.now += 10
            quiet.tick()
    assert not [m for m in caplog.messages if "progress unavailable" in m]


def test_a_scan_expects_the_item_count_in_its_share_of_segments():
    """DescribeTable's ItemCount, scaled to the segments this run scans; its size when the count is 0."""
    scan = TableScan.__new__(TableScan)
    plan = UnitPlan("segment", 8, tuple(range(6)), frozenset({6, 7}), 2, int, dict)
    scan.info = SimpleNamespace(item_count=1000, size_bytes=50_000)
    assert scan.expected(plan) == Expected(750, "DescribeTable ItemCount, about")
    scan.info = SimpleNamespace(item_count=0, size_bytes=8000)
    assert scan.expected(plan) == Expected(None, "DescribeTable TableSizeBytes, about", 6000)
    scan.info = SimpleNamespace(item_count=0, size_bytes=0)
    assert scan.expected(dataclasses.replace(plan)) == Expected(None, "segments finished")


def test_durations_read_as_people_say_them():
    assert [duration(s) for s in (0.4, 45, 175, 3780)] == ["0 s", "45 s", "2 min 55 s", "1 h 3 min"]


def test_the_replay_logs_a_progress_line_once_an_interval_has_passed(caplog, monkeypatch):
    """After a round, a replay line with the changes so far, changes/s since the last line and the lag; none
    before the interval has passed, none with interval 0."""
    from migrator.jobs import replicate

    replay = replicate.Replication.__new__(replicate.Replication)
    replay.config = SimpleNamespace(progress=SimpleNamespace(interval_seconds=10))
    replay.totals = replicate._Totals(rounds=7, records=2500, retried=(3, 0, 0), shards={"a", "b"})
    replay.state = SimpleNamespace(open_shards=1)
    now = [1000.0]
    monkeypatch.setattr(replicate.time, "monotonic", lambda: now[0])
    replay._progress_at = (990.0, 500)
    with caplog.at_level(logging.INFO, logger="migrator.jobs.replicate"):
        replay._log_progress([], caught_up=True)
        replay.totals.records = 2600
        now[0] += 5
        replay._log_progress([], caught_up=True)
    assert caplog.messages == ["migrator progress: stream replay: 2,500 changes replayed, 200 changes/s, caught up; "
                               "round 7, 2 shards (1 open); 3 throttled, 0 other retries"]
    replay.config.progress.interval_seconds = 0
    now[0] += 60
    replay._log_progress([], caught_up=True)
    assert len(caplog.messages) == 1
