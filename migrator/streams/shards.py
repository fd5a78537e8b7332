"""A stream's shards as the replay tracks them: lineage, the position acknowledged per shard, the checkpoint.

The driver keeps one `StreamState`. Each round it merges the shards DescribeStream lists (new ones start at their
beginning), hands every ready shard (its parent ended, or gone from the stream before the migrator saw it) to a
task as a `ShardWork`, and takes back a `ShardProgress` per shard: the last sequence number whose change the target
acknowledged, and whether the shard is closed and read to its end. The state is what savepoints record under
`streamCheckpoint`, so that a resumed run continues every shard after its last acknowledged change.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from migrator.errors import ChangesLost, ConfigError

# A shard iterator lasts 15 minutes (GetShardIterator); one older than this is not reused but renewed.
ITERATOR_REUSE_SECONDS = 10 * 60
# DynamoDB keeps stream records 24 hours: a checkpoint older than that may have lost changes to trimming.
RETENTION_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Shard:
    """One shard as DescribeStream lists it."""

    id: str
    parent: str | None
    closed: bool  # it has an EndingSequenceNumber: no record will be added to it


@dataclass(frozen=True)
class ShardWork:
    """One shard of a round's task (picklable): where to continue reading it."""

    shard: str
    after: str | None  # the last sequence number applied; None: from the shard's beginning (TRIM_HORIZON)
    iterator: str | None = None  # the previous round's NextShardIterator, reusable while fresh
    iterator_at: float = 0.0  # time.time() when that iterator was handed out

    def reusable_iterator(self, now: float | None = None) -> str | None:
        now = time.time() if now is None else now
        return self.iterator if self.iterator and now - self.iterator_at < ITERATOR_REUSE_SECONDS else None


@dataclass(frozen=True)
class ShardProgress:
    """What a round did to one shard; every change up to `last` is acknowledged by the target."""

    shard: str
    last: str | None  # the last sequence number applied this round; None: no record this round
    ended: bool  # the shard is closed and every record of it applied
    caught_up: bool  # the last GetRecords returned no record: the shard holds nothing more now
    iterator: str | None = None  # NextShardIterator for the next round; None when ended
    iterator_at: float = 0.0
    records: int = 0  # records read this round
    puts: int = 0  # puts written (after the newest change per key won)
    deletes: int = 0  # deletes written
    newest: float | None = None  # ApproximateCreationDateTime (epoch seconds) of the last applied record


@dataclass
class ShardState:
    parent: str | None
    after: str | None = None  # last acknowledged sequence number; None: nothing applied yet
    ended: bool = False
    iterator: str | None = field(default=None, repr=False)
    iterator_at: float = 0.0


@dataclass
class StreamState:
    """The replay's position in the stream `stream_arn`. `since` (epoch seconds): no change made before it is
    left unread, so trimming can have lost nothing while it is less than RETENTION_SECONDS ago (the snapshot's
    start, then the start of the last round that read every shard to its end)."""

    stream_arn: str
    shards: dict[str, ShardState]
    since: float

    # ---- lineage ----------------------------------------------------------------------------------------------

    def merge(self, listing: Iterable[Shard], table: str) -> list[str]:
        """Take in the shards DescribeStream lists now; return the ids of the new ones. A shard the state still
        has to read that the stream no longer lists was trimmed away: ChangesLost."""
        listed = {shard.id: shard for shard in listing}
        new = [shard_id for shard_id in listed if shard_id not in self.shards]
        for shard_id in new:
            self.shards[shard_id] = ShardState(parent=listed[shard_id].parent)
        for shard_id, state in list(self.shards.items()):
            if shard_id in listed:
                continue
            if state.ended:
                del self.shards[shard_id]  # aged out of the listing; its children no longer wait for it
                continue
            raise ChangesLost(
                f"stream of table {table!r}: shard {shard_id} is no longer in the stream "
                f"({'after sequence number ' + state.after if state.after else 'never read'}): its records were "
                "trimmed (DynamoDB keeps them 24 hours) before they were applied, so changes were lost; take a new "
                "snapshot (run without --resume)")
        return new

    def ready(self) -> list[ShardWork]:
        """The shards a round reads: not ended, and their parent ended or unknown (gone before we saw it)."""
        work = []
        for shard_id, state in self.shards.items():
            if state.ended:
                continue
            parent = self.shards.get(state.parent) if state.parent else None
            if parent is not None and not parent.ended:
                continue  # parent first: the child holds the later changes of the parent's keys
            work.append(ShardWork(shard_id, state.after, state.iterator, state.iterator_at))
        return work

    def advance(self, progress: ShardProgress) -> None:
        """Record what a round acknowledged for one shard."""
        state = self.shards[progress.shard]
        if progress.last is not None:
            state.after = progress.last
        state.ended = state.ended or progress.ended
        state.iterator, state.iterator_at = progress.iterator, progress.iterator_at

    def caught_up(self, started: float) -> None:
        """A round that began at `started` read every shard to its end: no record older than that is unread."""
        self.since = max(self.since, started)

    @property
    def open_shards(self) -> int:
        return sum(1 for state in self.shards.values() if not state.ended)

    # ---- checkpoint -------------------------------------------------------------------------------------------

    def to_doc(self) -> dict[str, Any]:
        """The savepoint's `streamCheckpoint`: plain YAML values, no iterators (they expire)."""
        shards = {}
        for shard_id, state in self.shards.items():
            entry: dict[str, Any] = {"parent": state.parent}
            if state.ended:
                entry["ended"] = True
            else:
                entry["after"] = state.after
            shards[shard_id] = entry
        when = datetime.datetime.fromtimestamp(self.since, datetime.UTC).isoformat(timespec="seconds")
        return {"streamArn": self.stream_arn, "since": when, "shards": shards}

    @classmethod
    def from_doc(cls, doc: Any, where: str) -> StreamState:
        """A checkpoint as a savepoint holds it; ConfigError naming what is malformed."""
        if not isinstance(doc, Mapping):
            raise ConfigError(f"{where}: expected a mapping with streamArn, since and shards, got {_shown(doc)}")
        arn, since, shards = doc.get("streamArn"), doc.get("since"), doc.get("shards")
        if not isinstance(arn, str) or not arn.startswith("arn:"):
            raise ConfigError(f"{where}.streamArn: expected a stream ARN, got {_shown(arn)}; give a savepoint "
                              "written by this migrator")
        try:
            when = datetime.datetime.fromisoformat(str(since))
        except ValueError:
            raise ConfigError(f"{where}.since: expected an ISO time such as 2026-12-02T06:30:00+00:00, got "
                              f"{_shown(since)}") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        if not isinstance(shards, Mapping):
            raise ConfigError(f"{where}.shards: expected a mapping of shard ids, got {_shown(shards)}")
        states = {}
        for shard_id, entry in shards.items():
            here = f"{where}.shards.{shard_id}"
            if not isinstance(entry, Mapping):
                raise ConfigError(f"{here}: expected a mapping with parent and after (or ended), got {_shown(entry)}")
            parent, after, ended = entry.get("parent"), entry.get("after"), entry.get("ended", False)
            if parent is not None and not isinstance(parent, str):
                raise ConfigError(f"{here}.parent: expected a shard id or null, got {_shown(parent)}")
            if after is not None and not (isinstance(after, str | int) and str(after).isdigit()):
                raise ConfigError(f"{here}.after: expected a sequence number (digits) or null, got {_shown(after)}")
            if not isinstance(ended, bool):
                raise ConfigError(f"{here}.ended: expected true or false, got {_shown(ended)}")
            states[str(shard_id)] = ShardState(parent=parent, after=None if after is None else str(after),
                                               ended=ended)
        return cls(arn, states, when.timestamp())


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "..."
