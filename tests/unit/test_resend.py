import pytest

from migrator.dynamo.api import RetryPolicy
from migrator.dynamo.resend import send_until_processed
from migrator.errors import TransferError

FAST = RetryPolicy(max_attempts=3, base_delay=0.0001, max_delay=0.001)


def test_what_is_left_is_sent_again_until_nothing_is_left():
    """Each round sends what the previous one left; on_resend hears how many go again."""
    sent, resent = [], []

    def send(batch):
        sent.append(batch)
        return batch[1:]

    send_until_processed(send, [1, 2, 3], FAST, what="op", noun="items", on_resend=resent.append)
    assert (sent, resent) == ([[1, 2, 3], [2, 3], [3]], [2, 1])


def test_only_rounds_in_a_row_without_progress_count_toward_giving_up():
    """Progress resets the count; max_attempts rounds in a row that leave everything raise TransferError."""
    answers = iter([[1, 2], [1, 2], [1], [1], [1], [1]])
    calls = []

    def send(batch):
        calls.append(batch)
        return next(answers)

    with pytest.raises(TransferError, match=r"^op on table 't': 1 keys still unprocessed after 3 attempts "
                                            r"without progress$"):
        send_until_processed(send, [1, 2], FAST, what="op on table 't'", noun="keys", on_resend=lambda n: None)
    assert len(calls) == 6  # two rounds without progress, one with (2 -> 1), then three without
