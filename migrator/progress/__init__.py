"""Progress reports from the tasks to the driver, while the job runs: one line per finished segment.

A task's `ProgressReporter` (`reporter.py`) connects to the driver's `ProgressServer` (`server.py`) and sends
`TOKEN SEGMENT ITEMS` once the segment's items are all written and acknowledged; the server answers `ok`. The
token, random per run, makes the server refuse lines that do not come from this job's tasks.

The same server counts the tasks that run now, for the throughput budgets' shares (`share.py`): a task sends
`TOKEN run ATTEMPT` when it starts and about every second after (the answer is `tasks N`, itself included), and
`TOKEN end ATTEMPT` when it ends (answer `ok`); a connection that closes ends the attempts it started, so a task
whose worker dies stops counting.

Both task sides talk over one `client.LineConnection`: a line out, a line back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_LINE = 200  # bytes; a report is about 50


@dataclass(frozen=True)
class ProgressAddress:
    """Where the tasks report to; travels to the executors inside the task closure, never in the Spark conf."""

    host: str
    port: int
    token: str = field(repr=False)


def encode_report(token: str, segment: int, items: int) -> bytes:
    return f"{token} {segment} {items}\n".encode("ascii")


RUN, END = "run", "end"


def encode_running(token: str, verb: str, attempt: str) -> bytes:
    return f"{token} {verb} {attempt}\n".encode("ascii")


def parse_running(line: bytes) -> tuple[str, str, str] | None:
    """(token, verb, attempt) from a `run` or `end` line; None when the line is not one (a segment report)."""
    parts = line.decode("ascii").split()
    if len(parts) != 3 or parts[1] not in (RUN, END):
        return None
    return parts[0], parts[1], parts[2]


def parse_report(line: bytes) -> tuple[str, int, int]:
    """(token, segment, items) from one report line; ValueError when it is not one."""
    parts = line.decode("ascii").split()
    if len(parts) != 3:
        raise ValueError(f"expected 'TOKEN SEGMENT ITEMS', got {len(parts)} fields")
    token, segment, items = parts[0], int(parts[1]), int(parts[2])
    if segment < 0 or items < 0:
        raise ValueError("segment and items must not be negative")
    return token, segment, items
