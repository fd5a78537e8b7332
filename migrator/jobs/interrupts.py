"""Stopping a running job on SIGINT, SIGTERM or spark-submit shutting down, after `on_stop` wrote a savepoint.

What really happens (pyspark 4, spark-submit in client mode): the process a user runs is spark-submit's JVM, and
the Python driver is its child.
- `kill PID` sends SIGTERM to the JVM only. The JVM runs its shutdown hooks: Spark's stops the SparkContext, so
  the running job fails in the Python driver, which gets no signal; the JVM then exits with 143 without waiting
  for Python. So a JVM shutdown hook (a py4j callback into this process) calls `on_stop` and the JVM waits for it
  to return: the savepoint is on disk before spark-submit exits.
- Ctrl-C in a terminal sends SIGINT to the JVM and the Python driver together: the JVM does as above (status 130);
  the Python driver's handler below calls `on_stop` and cancels the job.
- SIGINT or SIGTERM to the Python driver alone (e.g. a container runtime signalling every process): the handler.
A Python signal handler must not raise while py4j waits for the JVM (the call's answer would be read by the next
call), so the handler starts a thread that calls `on_stop` and then `cancelAllJobs`; the main thread then sees the
job fail and `received` tells why. A second signal ends the driver at once (default handlers). The stream replay
(jobs/replicate.py) passes `cancel_jobs=False`: its round runs to its end, and the main thread stops after it.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)
SHUTDOWN = "spark-submit is shutting down"


class StopOnSignals:
    """Context manager around the job; `received` is the signal's name, `SHUTDOWN`, or None."""

    def __init__(self, sc, on_stop: Callable[[str], None], *, jvm_hook: bool, cancel_jobs: bool = True) -> None:
        self.sc = sc
        self.on_stop = on_stop
        self.cancel_jobs = cancel_jobs
        self.received: str | None = None
        self.signum = 0
        self._jvm_hook = jvm_hook
        self._hook_thread = None
        self._previous: dict[int, object] = {}
        self._stopper: threading.Thread | None = None
        self._signalled = threading.Event()

    def __enter__(self) -> StopOnSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._on_signal)
        if self._jvm_hook:
            try:
                self._add_jvm_hook()
            except Exception as exc:  # noqa: BLE001 - e.g. no py4j callback server: the run goes on, warned
                self._hook_thread = None
                logger.warning("could not add the savepoint shutdown hook to the JVM (%s): a kill of spark-submit "
                               "may end the driver before it writes a last savepoint", exc)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        if self._hook_thread is not None:
            self._remove_jvm_hook()

    def wait(self) -> None:
        """Wait until the savepoint and the cancel started by a signal are done."""
        if self._stopper is not None:
            self._stopper.join()

    def saw_signal(self, timeout: float) -> bool:
        """Whether this driver got SIGINT or SIGTERM, waiting up to `timeout` seconds for it: Ctrl-C reaches the JVM
        and the driver at once, and the JVM's shutdown hook may call in before the driver's handler has run."""
        return self._signalled.wait(timeout)

    @property
    def exit_status(self) -> int:
        return 128 + self.signum if self.signum else 1

    def _on_signal(self, signum: int, frame) -> None:
        for other in SIGNALS:
            signal.signal(other, signal.SIG_DFL)  # a second signal ends the driver at once
        self.received, self.signum = signal.Signals(signum).name, signum
        self._signalled.set()
        self._stopper = threading.Thread(target=self._stop, args=(self.received,), name="stop-on-signal",
                                         daemon=True)
        self._stopper.start()

    def _stop(self, why: str) -> None:
        try:
            self.on_stop(why)
        except Exception as exc:  # noqa: BLE001 - the main thread saves again, and fails the run if it cannot
            logger.error("stopping after %s: %s", why, exc)
        finally:
            try:
                if self.cancel_jobs:
                    self.sc.cancelAllJobs()
            except Exception as exc:  # noqa: BLE001 - the JVM may be going down as well (Ctrl-C reaches both)
                logger.warning("could not cancel the Spark job after %s: %s", why, exc)

    def _on_jvm_shutdown(self) -> None:
        if self.received is None:
            self.received = SHUTDOWN
        self.on_stop(SHUTDOWN)

    def _add_jvm_hook(self) -> None:
        from pyspark.java_gateway import ensure_callback_server_started

        # The py4j callback server is PySpark's own (streaming and foreachBatch use it), on 127.0.0.1.
        ensure_callback_server_started(self.sc._gateway)
        jvm = self.sc._jvm
        self._hook_thread = jvm.java.lang.Thread(_JvmHook(self._on_jvm_shutdown), "migrator-savepoint")
        jvm.java.lang.Runtime.getRuntime().addShutdownHook(self._hook_thread)

    def _remove_jvm_hook(self) -> None:
        hook, self._hook_thread = self._hook_thread, None
        if self.received == SHUTDOWN:
            return  # the JVM is running its hooks: removing one is refused, and it has run or is running
        try:
            self.sc._jvm.java.lang.Runtime.getRuntime().removeShutdownHook(hook)
        except Exception as exc:  # noqa: BLE001 - py4j wraps what the JVM raises; told apart by message
            if "Shutdown in progress" in str(exc):  # Ctrl-C reached the JVM too: its hooks run now, ours included
                return
            logger.warning("could not remove the savepoint shutdown hook from the JVM: %s", exc)


class _JvmHook:
    """A java.lang.Runnable implemented in Python: the JVM calls `run` from a shutdown hook and waits for it."""

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action

    def run(self) -> None:
        try:
            self.action()
        except Exception as exc:  # noqa: BLE001 - py4j would hand the JVM a bare error; the main thread tries again
            logger.error("stopping at shutdown: %s", exc)

    class Java:
        implements = ["java.lang.Runnable"]  # noqa: RUF012 - py4j's convention
