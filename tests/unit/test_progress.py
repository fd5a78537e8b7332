"""Progress reports over real sockets on 127.0.0.1: the driver's server and a task's reporter."""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
from functools import partial

import pytest

from migrator.demo.servers import free_port
from migrator.progress import MAX_LINE, ProgressAddress, encode_report, parse_report
from migrator.progress.reporter import ProgressReporter
from migrator.progress.server import ProgressServer
from migrator.readers.scan_source import segment_id


class Recorder:
    def __init__(self) -> None:
        self.done: list[tuple[int, int]] = []
        self._lock = threading.Lock()

    def __call__(self, segment: int, items: int) -> None:
        with self._lock:
            self.done.append((segment, items))


@pytest.fixture
def server():
    recorder = Recorder()
    with ProgressServer("127.0.0.1", "127.0.0.1", partial(segment_id, total=8), recorder) as progress:
        progress.recorder = recorder
        yield progress


def test_reports_reach_the_driver_while_the_task_runs(server):
    """Each call is recorded by the server before the call returns, over one connection per task."""
    reporter = ProgressReporter(server.address, task=3)
    reporter(5, 120)
    assert server.recorder.done == [(5, 120)]
    reporter(7, 0)
    assert server.recorder.done == [(5, 120), (7, 0)]
    reporter.close()
    assert (reporter.sent, reporter.failed, server.reports, server.refused) == (2, 0, 2, 0)


def test_several_tasks_report_at_once(server):
    """Reports from concurrent tasks are all recorded."""
    def task(number: int) -> None:
        reporter = ProgressReporter(server.address, task=number)
        reporter(number, number * 10)
        reporter.close()

    threads = [threading.Thread(target=task, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(server.recorder.done) == [(n, n * 10) for n in range(8)]


def test_a_report_with_the_wrong_token_is_refused_and_the_task_warns_once(server, caplog):
    """A stranger's line is not recorded; the reporter logs one warning with the cause, not one per segment."""
    stranger = ProgressReporter(dataclasses.replace(server.address, token="0" * 32), task=1)
    with caplog.at_level(logging.WARNING):
        stranger(1, 5)
        stranger(2, 5)
    assert server.recorder.done == []
    assert (stranger.sent, stranger.failed, server.refused) == (0, 2, 2)
    warnings = [r.getMessage() for r in caplog.records if r.name == "migrator.task"]
    assert len(warnings) == 1
    assert warnings[0].startswith("migrator task 1: could not report segment 1 to the driver at 127.0.0.1:")
    assert "the driver answered 'refused'" in warnings[0] and "a resumed run copies them again" in warnings[0]
    assert any("refused a report from 127.0.0.1" in r.getMessage() and "wrong token" in r.getMessage()
               for r in caplog.records if r.name == "migrator.progress.server")


@pytest.mark.parametrize("line, why", [
    (b"not a report\n", "malformed report"),
    (b"TOKEN 8 1\n", "segment 8 is not below the run's 8 segments"),
    (b"TOKEN -1 1\n", "malformed report"),
    (b"x" * (MAX_LINE + 100) + b"\n", "line too long"),
])
def test_malformed_or_out_of_range_lines_are_refused(server, caplog, line, why):
    """Only well-formed reports of a segment of this run count; the server says why it refused."""
    line = line.replace(b"TOKEN", server.address.token.encode())
    with caplog.at_level(logging.WARNING), socket.create_connection(("127.0.0.1", server.address.port), 5) as sock:
        sock.sendall(line)
        assert sock.makefile("rb").readline() == b"refused\n"
    assert server.recorder.done == []
    assert any(why in r.getMessage() for r in caplog.records)


def test_an_unreachable_driver_costs_a_warning_not_the_task(caplog):
    """With nothing listening, reporting never raises: one warning names the address and the cause."""
    address = ProgressAddress("127.0.0.1", free_port(), "t" * 32)
    reporter = ProgressReporter(address, task=4, timeout=2)
    with caplog.at_level(logging.WARNING, logger="migrator.task"):
        for segment in range(3):
            reporter(segment, 1)
    assert (reporter.sent, reporter.failed) == (0, 3)
    assert len(caplog.records) == 1
    assert f"could not report segment 0 to the driver at 127.0.0.1:{address.port} (" in caplog.records[0].getMessage()


def test_the_token_never_shows_in_the_address_repr():
    """The token travels in the task closure; printing the settings does not reveal it."""
    address = ProgressAddress("127.0.0.1", 1234, "secret-token")
    assert "secret-token" not in repr(address)


def test_report_lines_round_trip():
    """The wire format is one ASCII line: TOKEN SEGMENT ITEMS."""
    assert encode_report("abc", 3, 99) == b"abc 3 99\n"
    assert parse_report(b"abc 3 99\n") == ("abc", 3, 99)
    with pytest.raises(ValueError):
        parse_report(b"abc 3\n")
