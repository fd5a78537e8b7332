"""SIGINT/SIGTERM while the job runs: the savepoint callback first, then the job is cancelled."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from migrator.jobs.interrupts import StopOnSignals


class FakeSparkContext:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.cancelled = threading.Event()

    def cancelAllJobs(self) -> None:
        self.events.append("cancel")
        self.cancelled.set()


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_saves_then_cancels_the_job(signum, status):
    """The handler does not raise into the running job: a thread calls on_stop, then cancelAllJobs."""
    sc = FakeSparkContext()
    before = signal.getsignal(signum)
    with StopOnSignals(sc, lambda why: sc.events.append(f"save {why}"), jvm_hook=False) as stop:
        os.kill(os.getpid(), signum)
        assert sc.cancelled.wait(10)
        stop.wait()
    assert sc.events == [f"save {signal.Signals(signum).name}", "cancel"]
    assert (stop.received, stop.exit_status) == (signal.Signals(signum).name, status)
    assert signal.getsignal(signum) is before


def test_a_failing_save_still_cancels_the_job(caplog):
    """If the savepoint cannot be written the job is still stopped, and the cause is logged."""
    sc = FakeSparkContext()

    def broken(why):
        raise OSError("disk full")

    with StopOnSignals(sc, broken, jvm_hook=False) as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert sc.cancelled.wait(10)
        stop.wait()
    assert any("stopping after SIGTERM: disk full" in r.getMessage() for r in caplog.records)


def test_without_a_signal_nothing_happens():
    """Leaving the block normally restores the handlers and reports no signal."""
    sc = FakeSparkContext()
    with StopOnSignals(sc, lambda why: sc.events.append(why), jvm_hook=False) as stop:
        pass
    assert (stop.received, sc.events) == (None, [])
