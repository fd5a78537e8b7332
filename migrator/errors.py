"""Every error the migrator raises on purpose.

    MigratorError                 base; str(err) is the whole one-line message
    ├── ConfigError               bad config, arguments or input: exit status 2, no traceback
    ├── SchemaError               source/target tables cannot be used together (key schema, missing table)
    ├── RequestError              a DynamoDB API call failed for good (non-retryable, or retries exhausted)
    │   └── ThrottledError        ... and the last failure was throttling/overload
    ├── TransferError             a scan or batch write gave up; names table, segment and cause
    │   ├── ItemRejected          the target refused an item on its own (ValidationException); names its key
    │   └── ChangesLost           stream records were trimmed before they were applied: a new snapshot is needed
    ├── SavepointError            a savepoint file could not be written
    └── Interrupted               SIGINT/SIGTERM or spark-submit shutting down stopped the job: status 128+signal
"""

from __future__ import annotations


class MigratorError(Exception):
    """Base of the migrator's own errors."""

    exit_status = 1


class ConfigError(MigratorError):
    """Bad configuration, arguments or data. The message names the key, the value and the fix."""

    exit_status = 2


class SchemaError(MigratorError):
    """The source and target tables do not fit together."""


class RequestError(MigratorError):
    """A DynamoDB API request failed and will not be retried any more."""

    def __init__(self, message: str, *, code: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class ThrottledError(RequestError):
    """Retries ran out while the server kept throttling or shedding load."""


class TransferError(MigratorError):
    """A segment could not be scanned or its items could not be written."""


class ItemRejected(TransferError):
    """The target refused items for their content (over 400 KB, an empty key, a type it refuses); `count` of them
    in one batch, the first named by its key in the message."""

    def __init__(self, message: str, count: int = 1) -> None:
        super().__init__(message)
        self.count = count


class ChangesLost(TransferError):
    """Stream records were trimmed (DynamoDB keeps them 24 hours) before the replay applied them; the target
    misses changes that no later record repairs, so only a new snapshot does."""


class SavepointError(MigratorError):
    """A savepoint could not be written; the message names the file and the cause."""


class Interrupted(MigratorError):
    """A signal stopped the job after a savepoint was written; exit status 128 + the signal's number."""

    def __init__(self, message: str, exit_status: int = 1) -> None:
        super().__init__(message)
        self.exit_status = exit_status
