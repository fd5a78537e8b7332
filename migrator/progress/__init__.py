"""Progress reports from the tasks to the driver, while the job runs: one line per finished unit of work.

A task's `ProgressReporter` (`reporter.py`) connects to the driver's `ProgressServer` (`server.py`) and sends
`TOKEN UNIT ITEMS` once the unit's items are all written and acknowledged; the server answers `ok`. UNIT is the
unit's id (readers/source.py), one token without whitespace: for a table scan the segment number, so the lines
are `TOKEN SEGMENT ITEMS` as before units; the run's plan turns it back into an id and refuses ids of no unit of
the run. The token, random per run, makes the server refuse lines that do not come from this job's tasks.

The same server counts the tasks that run now, for the throughput budgets' shares (`share.py`): a task sends
`TOKEN run ATTEMPT` when it starts and about every second after (the answer is `tasks N`, itself included), and
`TOKEN end ATTEMPT` when it ends (answer `ok`); a connection that closes ends the attempts it started, so a task
whose worker dies stops counting.

Live progress (`sender.py` on the task side, `live.py` on the driver): while a task runs, it sends its attempt's
cumulative counts every few seconds and at the end of each unit, `TOKEN prog TASK ATTEMPT V1 V2 ...` (the values
in the order of `counts.FIELDS`); the answer is `ok`. The driver keeps the newest attempt's counts of each task.

Both task sides talk over one `client.LineConnection`: a line out, a line back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from migrator.progress.counts import FIELDS, Counts
from migrator.readers.source import UnitId

MAX_LINE = 400  # bytes; a unit report is about 50, a `prog` line up to about 300


@dataclass(frozen=True)
class ProgressAddress:
    """Where the tasks report to; travels to the executors inside the task closure, never in the Spark conf."""

    host: str
    port: int
    token: str = field(repr=False)


def encode_report(token: str, unit: UnitId, items: int) -> bytes:
    return f"{token} {unit} {items}\n".encode("ascii")


RUN, END, PROG = "run", "end", "prog"


def encode_running(token: str, verb: str, attempt: str) -> bytes:
    return f"{token} {verb} {attempt}\n".encode("ascii")


def parse_running(line: bytes) -> tuple[str, str, str] | None:
    """(token, verb, attempt) from a `run` or `end` line; None when the line is not one (a segment report)."""
    parts = line.decode("ascii").split()
    if len(parts) != 3 or parts[1] not in (RUN, END):
        return None
    return parts[0], parts[1], parts[2]


def parse_report(line: bytes, unit_id: Callable[[str], UnitId] = int) -> tuple[str, UnitId, int]:
    """(token, unit id, items) from one report line; ValueError when it is not one. `unit_id` reads the UNIT
    field (the run's plan: UnitPlan.unit_id), and may raise LookupError for an id of no unit of the run."""
    parts = line.decode("ascii").split()
    if len(parts) != 3:
        raise ValueError(f"expected 'TOKEN SEGMENT ITEMS', got {len(parts)} fields")
    token, items = parts[0], int(parts[2])
    if items < 0:
        raise ValueError("segment and items must not be negative")
    return token, unit_id(parts[1]), items


def encode_counts(token: str, task: int, attempt: int, counts: Counts) -> bytes:
    return f"{token} {PROG} {task} {attempt} {' '.join(map(str, counts.values()))}\n".encode("ascii")


def parse_counts(line: bytes) -> tuple[str, int, int, Counts] | None:
    """(token, task, attempt, counts) from a `prog` line; None when the line is not one; ValueError when it is a
    malformed one (a wrong number of fields, a negative or non-integer value)."""
    parts = line.decode("ascii").split()
    if len(parts) < 2 or parts[1] != PROG:
        return None
    if len(parts) != 4 + len(FIELDS):
        raise ValueError(f"expected 'TOKEN {PROG} TASK ATTEMPT' and {len(FIELDS)} counts, got {len(parts)} fields")
    numbers = [int(part) for part in parts[2:]]
    if min(numbers) < 0:
        raise ValueError("task, attempt and counts must not be negative")
    return parts[0], numbers[0], numbers[1], Counts(*numbers[2:])
