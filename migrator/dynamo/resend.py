"""Re-sending what a batch operation left unprocessed (UnprocessedItems, UnprocessedKeys) until none is left."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from migrator.dynamo.api import RetryPolicy
from migrator.errors import TransferError

Pending = TypeVar("Pending")


def send_until_processed(
    send: Callable[[Pending], Pending],
    pending: Pending,
    retry: RetryPolicy,
    *,
    what: str,
    noun: str,
    on_resend: Callable[[int], None],
    size: Callable[[Pending], int] = len,
) -> None:
    """Call `send(pending)`, which returns what the server left unprocessed, then `send` that, and so on until
    nothing is left, sleeping `retry.delay(round)` before each re-send and telling `on_resend` how many go again.

    A round that leaves as many as it sent makes no progress; after `retry.max_attempts` such rounds in a row,
    raise TransferError starting with `what` (the operation and table) and counting the `noun` still left."""
    rounds = rounds_without_progress = 0
    while True:
        rounds += 1
        left = send(pending)
        count = size(left)
        if not count:
            return
        rounds_without_progress = 0 if count < size(pending) else rounds_without_progress + 1
        if rounds_without_progress >= retry.max_attempts:
            raise TransferError(
                f"{what}: {count} {noun} still unprocessed after {rounds_without_progress} attempts without progress"
            )
        on_resend(count)
        pending = left
        time.sleep(retry.delay(rounds))

