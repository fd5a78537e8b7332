"""The Sink seam: where items go.

A sink takes raw items to put (JSON fragments, each one DynamoDB JSON object, see codec.py) and raw keys to delete, and
says what the target acknowledged: `written` puts, and each item it refused on its own, handed to `on_refused` as a
`Refusal` (for the dead-letter file) or, without `on_refused`, raised as ItemRejected. Like a source
(readers/source.py), its executor side (`Sink`) is plain picklable settings built on the driver, opened inside the
task, where its client is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

from migrator.dynamo.throttle import RateLimiter, Unlimited


class Refusal(NamedTuple):
    """An item the target refused on its own: the item as given, its key for messages, and the server's reason."""

    item: bytes
    key: str
    reason: str


class SinkWriter(Protocol):
    """A sink opened inside a task (a context manager: leaving it without an error flushes; it closes the client)."""

    written: int  # puts acknowledged
    deleted: int  # deletes acknowledged
    rejected: int  # puts refused and handed to on_refused

    def start_unit(self, unit) -> None:
        """Called before the first page of each unit (readers/source.Unit): a file sink names its files after it."""
        ...

    def put_raw(self, items: list) -> None:
        """Put items given as JSON fragments; an error of an earlier write may be raised here."""
        ...

    def delete_raw(self, keys: list) -> None:
        """Delete the items with these keys, given as JSON fragments of their key attributes (a stream record's
        Keys); deleting an absent item is not an error."""
        ...

    def flush(self) -> None:
        """Return once everything given so far is acknowledged (or refused and handed over). Called after each
        unit's last page: the unit is then recorded as done (savepoints), so what it wrote must be durable."""
        ...

    @property
    def retried(self) -> tuple[int, int, int]:
        """(throttled requests retried, other retries, items re-sent) so far, for the task's retry line."""
        ...

    def __enter__(self) -> SinkWriter: ...

    def __exit__(self, *exc_info: object) -> None: ...


class Sink(Protocol):
    """The executor side of a sink: picklable settings, built once on the driver."""

    description: str  # names it in messages: `target table 'orders-copy'`
    units_per_second: float  # the job's write budget in `budget_unit`, shared by the running tasks; 0: no limit
    budget_unit: str  # `WCU`

    def open(self, limiter: RateLimiter | Unlimited,
             on_refused: Callable[[Refusal], None] | None = None) -> SinkWriter:
        """Build the client (inside the task); writes are charged to `limiter`."""
        ...
