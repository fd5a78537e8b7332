"""A DynamoDB or Alternator table as a sink: BatchWriteItem through writers/batch_writer.BatchWriter.

The driver side (`TableWrite`) creates or checks the target table and sets the write budget; the executor side
(`BatchWriteSink`, picklable) opens a client and a BatchWriter inside the task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from migrator import schema
from migrator.config import DynamoTarget
from migrator.dynamo.api import RetryPolicy
from migrator.dynamo.database import Database, database_for, log_database
from migrator.dynamo.throttle import Budget, RateLimiter, Unlimited, job_budget
from migrator.readers.source import UnitPlan
from migrator.transforms import ttl
from migrator.writers.batch_writer import BatchWriter, Refused
from migrator.writers.sink import Refusal

DEFAULT_BATCH_SIZE = 25


@dataclass(frozen=True)
class BatchWriteSink:
    """The executor side: what a task needs to write into `table`, built once on the driver."""

    database: Database
    table: str
    batch_size: int = DEFAULT_BATCH_SIZE
    writes_in_flight: int = 4
    retry: RetryPolicy = RetryPolicy()
    units_per_second: float = 0.0  # the job's write budget, shared by the tasks running at once; 0: no limit
    key_names: tuple[str, ...] = ()  # named in the error about an item the target refuses
    budget_unit: ClassVar[str] = "WCU"

    @property
    def description(self) -> str:
        return f"target table {self.table!r}"

    def open(self, limiter: RateLimiter | Unlimited,
             on_refused: Callable[[Refusal], None] | None = None) -> _BatchWrites:
        api = self.database.api(max_connections=self.writes_in_flight, retry=self.retry)
        try:
            return _BatchWrites(self, api, limiter, on_refused)
        except BaseException:
            api.__exit__(None, None, None)
            raise


class _BatchWrites:
    """A BatchWriteSink opened inside a task: its client and BatchWriter, closed with it."""

    def __init__(self, sink: BatchWriteSink, api, limiter: RateLimiter | Unlimited,
                 on_refused: Callable[[Refusal], None] | None) -> None:
        self.api = api
        self.on_refused = on_refused
        self.writer = BatchWriter(api, sink.table, batch_size=sink.batch_size, max_in_flight=sink.writes_in_flight,
                                  retry=sink.retry, limiter=limiter, report_capacity=sink.database.report_capacity,
                                  key_names=sink.key_names,
                                  on_refused=self._refused if on_refused is not None else None)
        self.put_raw = self.writer.put_raw_many
        self.delete_raw = self.writer.delete_raw_many
        self.flush = self.writer.flush

    def start_unit(self, unit) -> None:
        """A table takes every unit's items alike."""

    def _refused(self, refused: Refused) -> None:
        self.on_refused(Refusal(bytes(refused.item), refused.key(self.writer.key_names), refused.reason))

    @property
    def written(self) -> int:
        return self.writer.written

    @property
    def deleted(self) -> int:
        return self.writer.deleted

    @property
    def rejected(self) -> int:
        return self.writer.rejected

    @property
    def retried(self) -> tuple[int, int, int]:
        return self.api.throttled_retries, self.api.other_retries, self.writer.unprocessed_resent

    def __enter__(self) -> _BatchWrites:
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.writer.__exit__(*exc_info)
        finally:
            self.api.__exit__(*exc_info)  # the client as a context manager, as `with` would close it


class TableWrite:
    """The driver side: create or check the target table, set the write budget."""

    def __init__(self, settings: DynamoTarget) -> None:
        self.settings = settings
        self.database = database_for("target", settings)
        self.info: schema.TableInfo | None = None

    @property
    def title(self) -> str:
        return f"{self.settings.type} table {self.settings.table!r}"

    @property
    def label(self) -> str:
        return self.settings.table

    def announce(self) -> None:
        log_database("target", self.settings, self.database)

    def prepare(self, source: schema.TableInfo, resuming: bool = False) -> bool:
        """Create the table like `source` (the source under the target's names) when it is missing, with the
        source's TTL setting (True); else check its keys, and warn when its TTL differs (False). A table holds the
        items of an earlier run as it is, so `resuming` changes nothing."""
        client = self.database.boto3_client()
        self.info, created = schema.ensure_target(client, source, self.settings.table, self.settings.billing_mode)
        if source.ttl_attribute is not None:
            on_target = ttl.enable_on_target if created else ttl.check_target
            on_target(client, self.settings.table, source.ttl_attribute, source.name, self.database.name)
        return created

    def budget(self, concurrent: int) -> Budget:
        dst = self.settings
        return job_budget(dst.write_throughput, dst.throughput_write_percent, self.info.capacity("WriteCapacityUnits"),
                          self.info.billing_mode, concurrent, "target.writeThroughput")

    def finish(self, plan: UnitPlan) -> None:
        """Nothing is left to do once every unit is written: each item is in the table."""

    def sink(self, budget: Budget) -> BatchWriteSink:
        return BatchWriteSink(self.database, self.settings.table,
                              batch_size=self.settings.max_items_per_batch or DEFAULT_BATCH_SIZE,
                              units_per_second=budget.units_per_second, key_names=self.info.key_names)
