"""Savepoints: the config plus the progress of a run, and the writer that records that progress while it runs.

A savepoint is a config this migrator can run: the YAML as loaded, with `skipSegments` (the segments whose items
are all written and acknowledged) and `source.scanSegments` (the segment count the run used, so that a resumed run
splits the table the same way even when the count was derived from the table size). Secrets are never written:
every value under a secret-looking key (the whole `credentials` block) becomes `NOT_STORED`
(`migrator.config.secrets`), which the config loader refuses with a message saying how to resume
(`migrator.savepoints.resume`). Where the files go and how they are named: `migrator.savepoints.stores`.

Progress is kept per unit of work (readers/source.py): the writer records the ids of the units done, as the tasks
report them over the progress channel (progress/). A table scan's unit ids are its segment numbers, so the
document writes them as scylla-migrator's `skipSegments` and a resume reads old and new savepoints alike; an
export's data files are written as `skipFiles`, by key (the run's `UnitPlan.record` says which). A live migration adds
`streamCheckpoint`, the replay's position per shard (streams/shards.py), recorded before the snapshot starts and
advanced after each round.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

import yaml

from migrator import __version__
from migrator.config.secrets import secret_paths, without_secrets
from migrator.errors import SavepointError
from migrator.readers.segments import segments_record
from migrator.savepoints.stores import SavepointStore

logger = logging.getLogger(__name__)

REASONS = ("interval", "signal", "failure", "final")
PROGRESS_KEYS = ("skipSegments", "skipFiles", "streamCheckpoint")  # what a savepoint rewrites of the config


def savepoint_text(raw: Mapping, *, total_segments: int, done: set | frozenset, reason: str, detail: str = "",
                   items: int = 0, now: float | None = None, stream: Mapping | None = None,
                   record: Callable[[frozenset], dict] | None = None, kind: str = "segment") -> str:
    """The savepoint file for config `raw` with `done` units (`kind`s: segments by default) of `total_segments`
    and the stream checkpoint `stream`, if any; a header comment says why. `record(done)` gives the keys that
    record the progress (the run's UnitPlan.record; by default a scan's `scanSegments` and `skipSegments`)."""
    progress = (record or partial(segments_record, total_segments))(frozenset(done))
    doc = without_secrets(raw)
    for key in PROGRESS_KEYS:
        doc.pop(key, None)
    doc["source"] = {**(doc.get("source") or {}), **progress.pop("source", {})}
    when = datetime.datetime.fromtimestamp(time.time() if now is None else now, datetime.UTC)
    left_out = secret_paths(raw)
    header = [
        f"# migrator {__version__} savepoint, written {when.isoformat(timespec='seconds')} ({reason}"
        + (f": {detail}" if detail else "") + ")",
        f"# progress: {len(done)} of {total_segments} {kind}s done, {total_segments - len(done)} remain; "
        f"{items} items copied by the run that wrote this file",
        *([f"# stream: {_shards_to_read(stream)} shards to read, no change before {stream['since']} left unread"]
          if stream is not None else []),
        f"# not stored: {', '.join(left_out)}; resume: ./submit.sh YOUR_CONFIG --resume THIS_FILE" if left_out
        else "# resume: ./submit.sh THIS_FILE, or ./submit.sh YOUR_CONFIG --resume THIS_FILE",
    ]
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    skip = yaml.safe_dump(progress, default_flow_style=None, width=100)
    if stream is not None:
        skip += yaml.safe_dump({"streamCheckpoint": dict(stream)}, sort_keys=False, default_flow_style=False,
                               width=200)
    return "\n".join(header) + "\n" + body + skip


def _shards_to_read(stream: Mapping) -> int:
    return sum(1 for entry in stream["shards"].values() if not entry.get("ended"))


class SavepointWriter:
    """The progress of one run, and the savepoints that record it.

    `unit_done` is called (from the progress server's threads) for each unit whose items are all written and
    acknowledged. `save` writes a savepoint: an interval one only when progress changed since the last file and no
    terminal one (signal, failure, final) was written, a terminal one also without new progress if it is the
    first, so that the newest file of a stopped run always says why it stopped. `start` writes interval
    savepoints every `interval_seconds` in a daemon thread; a failed interval write (any exception) is logged with
    its cause and tried again at the next interval, while a failed terminal write raises SavepointError.
    """

    def __init__(self, store: SavepointStore, raw: Mapping, total_units: int, done: frozenset,
                 stream: Mapping | None = None, record: Callable[[frozenset], dict] | None = None,
                 kind: str = "segment") -> None:
        self.store = store
        self.raw = raw
        self.total_units = total_units  # of the whole source (a table scan's segment count)
        self.record = record  # done ids -> their savepoint keys (UnitPlan.record); None: a scan's segments
        self.kind = kind  # what the units are called: segment, file
        self._state = threading.Lock()
        self._writing = threading.Lock()  # one write at a time; held while a file is written
        self._done = set(done)  # unit ids
        self._items: dict = {}  # items per unit copied by this run
        self._stream = stream  # the stream checkpoint (StreamState.to_doc()), for a live migration
        self._version = 0  # bumped for every newly finished unit
        self._written_version = 0
        self._terminal_written = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_path: Path | str | None = None

    def unit_done(self, unit, items: int | None = None) -> None:
        """Record unit id `unit` as done, with the items this run copied for it."""
        with self._state:
            if items is not None:
                self._items[unit] = items
            if unit not in self._done:
                self._done.add(unit)
                self._version += 1

    def stream_advanced(self, stream: Mapping) -> None:
        """Record the stream checkpoint after a round (a document the caller no longer changes)."""
        with self._state:
            if stream != self._stream:
                self._stream = stream
                self._version += 1

    @property
    def done(self) -> frozenset:
        with self._state:
            return frozenset(self._done)

    def save(self, reason: str, detail: str = "") -> Path | str | None:
        """Write a savepoint now if there is something new to record; return its path, or None."""
        if reason not in REASONS:
            raise ValueError(f"unknown savepoint reason {reason!r}")
        terminal = reason != "interval"
        with self._writing:
            with self._state:
                version, done, items = self._version, frozenset(self._done), sum(self._items.values())
                stream = self._stream
            if version == self._written_version and (not terminal or self._terminal_written):
                return None
            if not terminal and self._terminal_written:
                return None  # the run is ending: its last savepoint says why, later progress goes into another
            text = savepoint_text(self.raw, total_segments=self.total_units, done=done, reason=reason,
                                  detail=detail, items=items, stream=stream, record=self.record, kind=self.kind)
            path = self.store.write(text)
            self._written_version = version
            self._terminal_written = self._terminal_written or terminal
            self.last_path = path
        logger.info("savepoint %s written (%s): %d of %d %ss done, %d remain", path, reason, len(done),
                    self.total_units, self.kind, self.total_units - len(done))
        return path

    def start(self, interval_seconds: float) -> None:
        self._stop.clear()  # a live migration starts it again for the replay, after the snapshot stopped it
        self._thread = threading.Thread(target=self._every, args=(interval_seconds,), name="savepoints",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _every(self, interval_seconds: float) -> None:
        while not self._stop.wait(interval_seconds):
            try:
                self.save("interval")
            except SavepointError as exc:
                logger.warning("%s; trying again in %s s", exc, interval_seconds)
            except Exception as exc:  # any other failure must not end the run's interval savepoints either
                logger.exception("interval savepoint failed: %s: %s; trying again in %s s", type(exc).__name__, exc,
                                 interval_seconds)
