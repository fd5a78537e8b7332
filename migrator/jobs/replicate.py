"""Live replication on the driver: the source's stream replayed into the target in rounds of Spark tasks.

Each round lists the stream's shards, gives every ready shard (its parent ended) to a task, one Spark job per round
(its description names the table and the round), and advances the checkpoint by what the target acknowledged. It
logs the changes applied, the shards and the lag (the age of the newest change applied, or "caught up"); once every
shard has been caught up for `target.streamCutoverSeconds` a line says it is safe to switch applications over. The
replay runs until SIGINT or SIGTERM (after the current round, exit 128 + signal) or, with
`target.streamStopWhenCaughtUp`, until that line (exit 0). A change that cannot be written, or changes trimmed
before they were applied, fail the job (exit 1). Savepoints record the checkpoint every `intervalSeconds`, on a
signal, on failure and at the end. Every `progress.intervalSeconds` (0: never), after a round, one progress line
gives the changes applied so far, changes/s since the last such line, and the lag.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from functools import partial

from migrator.config import DynamoTarget, MigratorConfig
from migrator.errors import ChangesLost, Interrupted, SavepointError
from migrator.jobs.interrupts import SHUTDOWN, StopOnSignals
from migrator.savepoints.writer import SavepointWriter
from migrator.streams.reader import AWS_GET_RECORDS_PER_SECOND  # custom endpoints are not paced
from migrator.streams.setup import StreamControl
from migrator.streams.shards import RETENTION_SECONDS, ShardProgress, ShardWork, StreamState
from migrator.transfer import cpu_summary
from migrator.transforms import IDENTITY, Transform
from migrator.writers.table_sink import TableWrite

logger = logging.getLogger(__name__)

IDLE_LOG_SECONDS = 30.0  # rounds that find nothing are summed up in one line this often


@dataclasses.dataclass
class _Totals:
    rounds: int = 0
    records: int = 0
    puts: int = 0
    deletes: int = 0
    cpu_seconds: float = 0.0
    retried: tuple[int, int, int] = (0, 0, 0)
    shards: set = dataclasses.field(default_factory=set)


class Replication:
    """The replay of one table's stream into the target, round after round."""

    def __init__(self, sc, config: MigratorConfig, state: StreamState, control: StreamControl, sink: TableWrite,
                 writer: SavepointWriter | None, transform: Transform = IDENTITY) -> None:
        self.sc = sc
        self.config = config
        self.target: DynamoTarget = config.target
        self.state = state
        self.control = control
        self.sink = sink
        self.writer = writer
        self.transform = transform.renames_only()  # a replay writes expired puts: the target's TTL removes them
        self.table = config.source.table
        self.totals = _Totals()
        self._stop = threading.Event()
        self._caught_up_since: float | None = None
        self._cutover_said = False
        self._idle: list[int] = []  # the rounds since the last line, when they found nothing
        self._idle_started = 0.0  # when the first of them ran
        self._progress_at = (time.monotonic(), 0)  # (when, changes) at the last progress line

    def run(self) -> int:
        """Replay until stopped; the exit status (0 when stopped because caught up)."""
        age = time.time() - self.state.since
        if age > RETENTION_SECONDS:
            raise ChangesLost(
                f"stream of table {self.table!r}: the replay starts {age / 3600:.1f} h after its positions were "
                f"recorded (the snapshot took that long), past the stream's {RETENTION_SECONDS // 3600}-hour "
                "retention: changes may have been trimmed before they were applied; take a new snapshot with more "
                "throughput (readThroughput, writeThroughput) so that it ends within the retention")
        started = time.monotonic()
        stop = StopOnSignals(self.sc, self._on_stop, jvm_hook=self.writer is not None, cancel_jobs=False)
        if self.writer is not None:
            self.writer.start(self.config.savepoints.interval_seconds)
        try:
            with stop:
                status = self._rounds(stop)
        except BaseException as exc:
            stop.wait()
            why = stop.received or (SHUTDOWN if "SparkContext was shut down" in str(exc) else None)
            self._summary(time.monotonic() - started)
            if why is not None:
                self._save("signal", why)
                raise Interrupted(f"stream: stopped by {why} during round {self.totals.rounds}; "
                                  f"{self._resume_hint()}", stop.exit_status) from exc
            self._save_after_failure(exc)
            raise
        finally:
            if self.writer is not None:
                self.writer.stop()
        self._summary(time.monotonic() - started)
        if status == 0:
            self._save("final")
            return 0
        self._save("signal", stop.received)
        raise Interrupted(f"stream: stopped by {stop.received} after round {self.totals.rounds}; "
                          f"{self._resume_hint()}", stop.exit_status)

    # ---- rounds -------------------------------------------------------------------------------------------------

    def _rounds(self, stop: StopOnSignals) -> int:
        while True:
            if stop.received:
                self._log_idle()
                logger.info("stream: stopped after round %d (%s)", self.totals.rounds, stop.received)
                return stop.exit_status
            status, listing = self.control.shards(self.state.stream_arn)
            self.state.merge(listing, self.table)
            works = self.state.ready()
            started = time.time()
            progress = self._round(works) if works else []
            for shard in progress:
                self.state.advance(shard)
            caught_up = all(p.caught_up or p.ended for p in progress)
            if caught_up:
                self.state.caught_up(started)
            if self.writer is not None and progress:
                self.writer.stream_advanced(self.state.to_doc())
            self._log_round(progress, caught_up)
            self._log_progress(progress, caught_up)
            if not self.state.ready() and status != "ENABLED":
                raise ChangesLost(
                    f"stream of table {self.table!r} is {status or 'gone'}: every change it recorded is applied, "
                    "but the table's later changes go to no stream the migrator reads, so they are lost; enable the "
                    "stream again and take a new snapshot")
            if self._cut_over(caught_up, started):
                return 0
            if caught_up:
                self._stop.wait(self.target.stream_poll_seconds)

    def _round(self, works: list[ShardWork]) -> list[ShardProgress]:
        from migrator.streams.replay import ReplaySettings, replay_round_task

        self.totals.rounds += 1
        tasks = min(len(works), self.config.source.max_map_tasks or self.sc.defaultParallelism)
        groups = [tuple(works[t::tasks]) for t in range(tasks)]
        budget = self.sink.budget(tasks)
        settings = ReplaySettings(
            stream_arn=self.state.stream_arn, table=self.table, database=self.control.database,
            sink=self.sink.sink(budget), round_seconds=self.target.stream_round_seconds,
            get_records_per_second=0.0 if self.control.database.endpoint_url else AWS_GET_RECORDS_PER_SECOND,
            tasks_at_once=tasks, transform=self.transform)
        self.sc.setJobDescription(f"stream replay of table {self.table!r}: round {self.totals.rounds}, "
                                  f"{len(works)} shards in {tasks} tasks")
        results = self.sc.parallelize(groups, tasks).map(partial(replay_round_task, settings)).collect()
        progress = [shard for result in results for shard in result.shards]
        totals = self.totals
        totals.records += sum(p.records for p in progress)
        totals.puts += sum(p.puts for p in progress)
        totals.deletes += sum(p.deletes for p in progress)
        totals.cpu_seconds += sum(r.cpu_seconds for r in results)
        totals.retried = tuple(a + b for a, b in zip(totals.retried, (
            sum(r.throttled_retries for r in results), sum(r.other_retries for r in results),
            sum(r.unprocessed_resent for r in results)), strict=True))
        totals.shards.update(p.shard for p in progress)
        return progress

    def _log_round(self, progress: list[ShardProgress], caught_up: bool) -> None:
        n = self.totals.rounds
        if not any(p.records for p in progress) and caught_up:
            if not self._idle:
                self._idle_started = time.monotonic()
            self._idle.append(n)
            if time.monotonic() - self._idle_started >= IDLE_LOG_SECONDS:
                self._log_idle()
            return
        self._log_idle()
        lag = "caught up" if caught_up else f"lag {self._lag(progress):.1f} s"
        logger.info("stream round %d: %d puts, %d deletes from %d shards (%d open); %s", n,
                    sum(p.puts for p in progress), sum(p.deletes for p in progress), len(progress),
                    self.state.open_shards, lag)

    def _log_progress(self, progress: list[ShardProgress], caught_up: bool) -> None:
        """The replay's progress line, when progress.intervalSeconds have passed since the last one."""
        interval, (when, changes) = self.config.progress.interval_seconds, self._progress_at
        now, t = time.monotonic(), self.totals
        if not interval or now - when < interval:
            return
        self._progress_at = (now, t.records)
        logger.info("migrator progress: stream replay: %s changes replayed, %s changes/s, %s; round %d, %d shards "
                    "(%d open); %s throttled, %s other retries", f"{t.records:,}",
                    f"{(t.records - changes) / (now - when):,.0f}",
                    "caught up" if caught_up else f"lag {self._lag(progress):.1f} s", t.rounds, len(t.shards),
                    self.state.open_shards, f"{t.retried[0]:,}", f"{t.retried[1]:,}")

    def _log_idle(self) -> None:
        """The line for the rounds since the last line that found nothing new, if any."""
        if self._idle:
            first, last, self._idle = self._idle[0], self._idle[-1], []
            rounds = f"rounds {first}-{last}" if last > first else f"round {first}"
            logger.info("stream %s: no changes from %d shards (%d open); caught up", rounds,
                        len(self.state.ready()), self.state.open_shards)

    @staticmethod
    def _lag(progress: list[ShardProgress]) -> float:
        """The age of the newest change applied, over the shards not caught up."""
        behind = [p.newest for p in progress if not (p.caught_up or p.ended) and p.newest is not None]
        return max(0.0, time.time() - min(behind)) if behind else 0.0

    def _cut_over(self, caught_up: bool, started: float) -> bool:
        """Say once per caught-up stretch that it is safe to switch over; True to stop now. A stretch starts when
        the first round of it ends: only then is the target known to hold everything made before that round."""
        if not caught_up:
            self._caught_up_since, self._cutover_said = None, False
            return False
        if self._caught_up_since is None:
            self._caught_up_since = time.time()
            return False
        held = time.time() - self._caught_up_since
        if self._cutover_said or held < self.target.stream_cutover_seconds:
            return False
        self._cutover_said = True
        self._log_idle()
        logger.info("stream: caught up for %.0f s: the target holds every change of table %r made until %.0f s "
                    "ago; safe to switch applications over to table %r", held, self.table, time.time() - started,
                    self.target.table)
        if self.target.stream_stop_when_caught_up:
            logger.info("stream: stopped after round %d: caught up for %.0f s (target.streamStopWhenCaughtUp)",
                        self.totals.rounds, held)
            return True
        return False

    # ---- stopping, savepoints ------------------------------------------------------------------------------------

    def _on_stop(self, why: str) -> None:
        self._stop.set()
        if why != SHUTDOWN:
            logger.warning("stream: %s received; stopping after the current round", why)
        elif self.writer is not None:
            # spark-submit is going down now: the checkpoint of the last finished round (the writer holds it; the
            # main thread may be changing the state), at once
            self.writer.save("signal", why)

    def _save(self, reason: str, detail: str = "") -> None:
        if self.writer is None:
            return
        self.writer.stream_advanced(self.state.to_doc())
        self.writer.save(reason, detail or "")

    def _save_after_failure(self, exc: BaseException) -> None:
        if self.writer is None:
            return
        try:
            self._save("failure", f"{type(exc).__name__}")
            if _changes_lost(exc):
                logger.error("the stream replay failed: changes were lost, so resuming cannot repair the target; "
                             "take a new snapshot (run without --resume)")
            else:
                logger.error("the stream replay failed; %s", self._resume_hint())
        except SavepointError as save_error:  # the replay's own failure is the one to report
            logger.error("%s", save_error)

    def _resume_hint(self) -> str:
        if self.writer is None or self.writer.last_path is None:
            return "no savepoints configured, so a new run starts with a new snapshot; set savepoints: to resume"
        return (f"savepoint {self.writer.last_path} holds the stream's positions; continue with ./submit.sh "
                f"YOUR_CONFIG --resume {self.writer.store.location}")

    def _summary(self, seconds: float) -> None:
        t = self.totals
        changes = t.records
        rate = changes / seconds if seconds > 0 else 0.0
        logger.info("migrator stream total: %d changes read, %d puts, %d deletes written from %d shards in %.1f s "
                    "(%.0f changes/s; tasks' %s)", changes, t.puts, t.deletes, len(t.shards), seconds, rate,
                    cpu_summary(t.cpu_seconds, changes).replace("per item", "per change"))
        if any(t.retried):
            logger.info("migrator stream total: %d throttled requests retried, %d other retries, %d unprocessed "
                        "items re-sent", *t.retried)


def _changes_lost(exc: BaseException) -> bool:
    """True for ChangesLost, raised here or in a task (then it reaches the driver as Spark's error text)."""
    return isinstance(exc, ChangesLost) or "migrator.errors.ChangesLost" in str(exc)
