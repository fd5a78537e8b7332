"""Budget shares over real sockets on 127.0.0.1: the driver counts the task attempts running, each task asks."""

from __future__ import annotations

import logging
import time

import pytest

from migrator.demo.servers import free_port
from migrator.progress import ProgressAddress
from migrator.progress.server import ProgressServer
from migrator.progress.share import RunningTasks
from migrator.dynamo.throttle import SharedLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server():
    with ProgressServer("127.0.0.1", "127.0.0.1") as progress:
        yield progress


def test_shares_follow_registrations_one_task_gets_all_then_four_get_a_quarter(server):
    """Budget 400: the first task alone gets 400/s; once 4 run, each gets 100/s; as they end, the rest get more."""
    clock = Clock()
    first = RunningTasks(server.address, "attempt-0", 0, fallback=2, clock=clock).start()
    limiter = SharedLimiter(400, first)
    assert (server.running, limiter.rate) == (1, 400)
    others = [RunningTasks(server.address, f"attempt-{n}", n, fallback=2, clock=clock).start() for n in (1, 2, 3)]
    clock.now += 1.0  # the first task asks again about a second later
    limiter.charge(0)
    assert (server.running, limiter.rate) == (4, 100)
    assert [SharedLimiter(400, task).rate for task in others] == [100, 100, 100]
    for task in others[:2]:
        task.close()
    clock.now += 1.0
    limiter.charge(0)
    assert (server.running, limiter.rate) == (2, 200)
    assert server.peak_running == 4
    others[2].close()
    first.close()
    assert server.running == 0


def test_a_task_asks_at_most_about_once_a_second(server):
    """Between refreshes the count comes from the last answer: tasks that start later are seen at the next one."""
    clock = Clock()
    task = RunningTasks(server.address, "a", 0, fallback=1, clock=clock).start()
    clock.now += 5.0
    task()  # intervals: 0.1 s, then doubling up to 1 s; now 0.2 s
    later = [RunningTasks(server.address, "b", 1, fallback=1, clock=clock).start()]  # kept: its socket stays open
    clock.now += 0.125
    assert task() == 1
    clock.now += 0.125
    assert task() == 2
    for _ in range(5):
        clock.now += 1.0
        task()
    later.append(RunningTasks(server.address, "c", 2, fallback=1, clock=clock).start())
    clock.now += 0.875
    assert task() == 2
    clock.now += 0.125
    assert task() == 3


def test_a_task_whose_connection_closes_stops_counting(server):
    """A worker that dies without saying `end` (its socket closes) no longer takes a share."""
    task = RunningTasks(server.address, "doomed", 0, fallback=1).start()
    assert server.running == 1
    task._connection.sock.close()  # what the OS does when the worker process is killed
    task._connection.reader.close()
    deadline = time.monotonic() + 5
    while server.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.running == 0


def test_an_unreachable_driver_leaves_the_static_share_logged_once(caplog):
    """No driver listening: the task keeps 1/fallback of each budget and says so in one warning."""
    address = ProgressAddress("127.0.0.1", free_port(), "t" * 32)
    clock = Clock()
    with caplog.at_level(logging.WARNING, logger="migrator.task"):
        task = RunningTasks(address, "a", 7, fallback=3, clock=clock).start()
        for _ in range(5):
            clock.now += 2.0
            assert task() == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "migrator task 7: could not ask the driver" in warnings[0] and "1/3 of each" in warnings[0]
    assert SharedLimiter(300, task).rate == 100


def test_a_wrong_token_is_refused_and_the_task_keeps_the_static_share(server):
    """A registration with another run's token does not count, and the task falls back."""
    wrong = ProgressAddress(server.address.host, server.address.port, "0" * 32)
    task = RunningTasks(wrong, "a", 0, fallback=2).start()
    assert (task(), server.running, server.refused) == (2, 0, 1)


def test_a_segment_report_to_a_server_without_savepoints_is_refused(server):
    """The server run only for budget shares records no segments: a report is refused, not counted."""
    from migrator.progress.reporter import ProgressReporter

    reporter = ProgressReporter(server.address, task=0)
    reporter(3, 10)
    reporter.close()
    assert (reporter.sent, reporter.failed, server.reports, server.refused) == (0, 1, 0, 1)
