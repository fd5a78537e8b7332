"""The task side of progress reports: tell the driver each unit whose items are all written and acknowledged."""

from __future__ import annotations

import logging

from migrator.progress import ProgressAddress, UnitId, encode_report
from migrator.progress.client import LineConnection, unexpected_answer

logger = logging.getLogger("migrator.task")

TIMEOUT_SECONDS = 10.0


class ProgressReporter:
    """Call it with (unit id, items) after the writer's flush; one connection per task, opened on first use.

    A report that does not reach the driver loses no data: the unit is simply not in the savepoints, so a
    resumed run copies it again (puts are idempotent). It is not silent either: the first failure of a task is
    logged with its cause, and each later unit tries again on a new connection. `unit_kind` names the units in
    that line (Unit.kind).
    """

    def __init__(self, address: ProgressAddress, task: int, timeout: float = TIMEOUT_SECONDS,
                 unit_kind: str = "segment") -> None:
        self.address = address
        self.task = task
        self.unit_kind = unit_kind
        self.sent = 0
        self.failed = 0
        self._connection = LineConnection(address, timeout)

    def __call__(self, unit: UnitId, items: int) -> None:
        try:
            answer = self._connection.ask(encode_report(self.address.token, unit, items))
            if answer != b"ok\n":
                raise unexpected_answer(answer)
            self.sent += 1
        except OSError as exc:
            self.close()
            self.failed += 1
            if self.failed == 1:
                logger.warning(
                    "migrator task %d: could not report %s %s to the driver at %s:%d (%s); savepoints miss it "
                    "and the %ss of this task that fail to report, so a resumed run copies them again",
                    self.task, self.unit_kind, unit, self.address.host, self.address.port, exc, self.unit_kind)

    def close(self) -> None:
        self._connection.close()
