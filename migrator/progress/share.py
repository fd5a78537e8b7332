"""The task side of the budgets' shares: how many tasks of the job run now, as the driver's progress server counts.

A task registers when it starts (`RunningTasks.start`), asks again when a limiter charges and the last answer is
older than `interval` (0.1 s at first, doubling up to 1 s, so that the tasks of a stage that start together learn
of each other within a fraction of a second), and ends its registration in `close`. If the driver cannot be
reached, the task keeps `fallback` (the static estimate, min(partitions, defaultParallelism)) and says so once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from migrator.progress import END, RUN, ProgressAddress, encode_running
from migrator.progress.client import LineConnection, unexpected_answer

logger = logging.getLogger("migrator.task")

TIMEOUT_SECONDS = 3.0  # asked on the data path: a driver that does not answer soon is not waited for
FIRST_INTERVAL, MAX_INTERVAL = 0.1, 1.0


class RunningTasks:
    """Call it for the number of tasks running now (at least 1); cheap between refreshes, safe from many threads."""

    def __init__(self, address: ProgressAddress | None, attempt: str, task: int, fallback: int, *,
                 label: str = "migrator task", timeout: float = TIMEOUT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.address = address
        self.label = label
        self.attempt = attempt
        self.task = task
        self.fallback = max(1, fallback)
        self._clock = clock
        self.count = self.fallback
        self.seen: set[int] = set()  # every count the driver answered, for the task's log
        self.failed = address is None
        self._connection = LineConnection(address, timeout)
        self._lock = threading.Lock()
        self._interval, self._next_interval = 0.0, FIRST_INTERVAL
        self._asked = float("-inf")

    def start(self) -> RunningTasks:
        with self._lock:
            self._refresh()
        return self

    def __call__(self) -> int:
        if self.failed or self._clock() - self._asked < self._interval:
            return self.count
        if self._lock.acquire(blocking=False):  # another thread asking now: its answer will do
            try:
                self._refresh()
            finally:
                self._lock.release()
        return self.count

    def _refresh(self) -> None:
        if self.failed:
            return
        self._asked = self._clock()
        self._interval, self._next_interval = self._next_interval, min(MAX_INTERVAL, self._next_interval * 2)
        try:
            answer = self._ask(RUN)
            parts = answer.split()
            if len(parts) != 2 or parts[0] != b"tasks" or not parts[1].isdigit():
                raise unexpected_answer(answer)
            self.count = max(1, int(parts[1]))
            self.seen.add(self.count)
        except OSError as exc:
            self.failed = True
            self.count = self.fallback
            self._connection.close()
            logger.warning("%s %d: could not ask the driver at %s:%d how many tasks run now (%s); this task keeps "
                           "the static share of the budgets: 1/%d of each", self.label, self.task,
                           self.address.host, self.address.port, exc, self.fallback)

    def _ask(self, verb: str) -> bytes:
        return self._connection.ask(encode_running(self.address.token, verb, self.attempt))

    def close(self) -> None:
        """End the registration (closing the connection would too; saying so is quicker to be seen)."""
        with self._lock:
            if self._connection.is_open:
                try:
                    self._ask(END)
                except OSError:
                    pass  # the connection's close below ends the registration as well
            self._connection.close()
        if self.address is not None:
            logger.info("%s %d: budgets %s", self.label, self.task, self.describe())

    def describe(self) -> str:
        """For the task's log: `shared by 1-4 tasks running at once (the driver's count)` or the static share."""
        if self.failed or not self.seen:
            return f"static share: 1/{self.fallback}"
        low, high = min(self.seen), max(self.seen)
        return f"shared by {low if low == high else f'{low}-{high}'} tasks running at once (the driver's count)"
