"""The task side of live progress: the counts the data path keeps (`Tally`), and the thread that sends them to the
driver every few seconds (`CountsSender`).

The data path pays for a few additions per page (transfer.py) and nothing per item: the sender thread reads the
counts the reader and the writer keep anyway. A driver that cannot be reached costs one warning; the copy goes on.
"""

from __future__ import annotations

import logging
import threading
import time

from migrator.progress import ProgressAddress, encode_counts
from migrator.progress.client import LineConnection, unexpected_answer
from migrator.progress.counts import Counts

logger = logging.getLogger("migrator.task")

SEND_SECONDS = 2.0  # a task's counts reach the driver this often (and at the end of each unit)
TIMEOUT_SECONDS = 3.0


class Tally:
    """One task attempt's counts: transfer() adds each page's to the fields; `sides` are the opened reader and
    writer, whose own counters (written, retried...) are read as they are. Read from another thread without a
    lock: each field is one int, and a count a page late is fine for a progress line."""

    __slots__ = ("scanned", "expired", "bytes_read", "bytes_written", "units_done", "sides", "closed", "wake")

    def __init__(self) -> None:
        self.scanned = self.expired = self.bytes_read = self.bytes_written = self.units_done = 0
        self.sides: tuple = ()  # (reader, writer) while a transfer runs
        self.closed = Counts()  # the side counters of the transfers that ended
        self.wake = None  # called when a unit ends, so that its counts go out at once

    def unit_done(self) -> None:
        self.units_done += 1
        if self.wake is not None:
            self.wake()

    def close_sides(self) -> None:
        """A transfer ended: keep what its reader and writer counted."""
        self.closed, self.sides = self._sides(), ()

    def counts(self) -> Counts:
        return Counts(scanned=self.scanned, expired=self.expired, bytes_read=self.bytes_read,
                      bytes_written=self.bytes_written, units_done=self.units_done) + self._sides()

    def _sides(self) -> Counts:
        if not self.sides:
            return self.closed
        reader, writer = self.sides
        throttled, retries, resent = (a + b for a, b in zip(reader.retried, writer.retried))
        return self.closed + Counts(written=writer.written, deleted=writer.deleted, rejected=writer.rejected,
                                    filtered_out=reader.filtered_out, throttled=throttled, retries=retries,
                                    resent=resent)


class CountsSender:
    """A daemon thread that sends `tally`'s counts to the driver every `interval` seconds and when a unit ends;
    `close` stops it and sends the last counts. If the driver cannot be reached, it says so once and stops."""

    def __init__(self, address: ProgressAddress, task: int, attempt: int, tally: Tally,
                 interval: float = SEND_SECONDS, timeout: float = TIMEOUT_SECONDS) -> None:
        self.address = address
        self.task = task
        self.attempt = attempt
        self.tally = tally
        self.interval = interval
        self.sent = 0
        self.failed = False
        self.cpu_seconds = 0.0  # of the sender thread, for the benchmark's cost per item
        self._connection = LineConnection(address, timeout)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"progress-counts-{task}", daemon=True)
        tally.wake = self._wake.set

    def start(self) -> CountsSender:
        self._thread.start()
        return self

    def _run(self) -> None:
        cpu = time.thread_time()
        try:
            while not self._stop.is_set() and not self.failed:
                self._wake.wait(self.interval)
                self._wake.clear()
                if not self._stop.is_set():
                    self._send()
        finally:
            self.cpu_seconds += time.thread_time() - cpu

    def _send(self) -> None:
        try:
            answer = self._connection.ask(encode_counts(self.address.token, self.task, self.attempt,
                                                        self.tally.counts()))
            if answer != b"ok\n":
                raise unexpected_answer(answer)
            self.sent += 1
        except OSError as exc:
            self.failed = True
            self._connection.close()
            logger.warning("migrator task %d: progress unavailable: could not send live counts to the driver at "
                           "%s:%d (%s); the copy goes on, and the driver's progress lines miss this task until it "
                           "ends", self.task, self.address.host, self.address.port, exc)

    def close(self) -> None:
        """Stop the thread and send the last counts (unless the driver could not be reached)."""
        self._stop.set()
        self._wake.set()
        self.tally.wake = None
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=self._connection.timeout + 1)
        if not self.failed and not self._thread.is_alive():
            cpu = time.thread_time()
            self._send()
            self.cpu_seconds += time.thread_time() - cpu
        self._connection.close()
        logger.info("migrator task %d: live progress: %d counts sent to the driver (sender CPU %.1f ms)", self.task,
                    self.sent, self.cpu_seconds * 1000)
