"""The seams between a source, the transform and a sink, checked with fakes of each (no client, no Spark)."""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

import pytest

from migrator.config import ALTERNATOR, DYNAMODB, S3_EXPORT
from migrator.dynamo.api import RetryPolicy
from migrator.dynamo.database import Database
from migrator.errors import ConfigError
from migrator.jobs import migrate
from migrator.progress import parse_report
from migrator.readers.scan_source import ScanSegment, ScanSource, segment_id
from migrator.readers.source import Changes
from migrator.transfer import TransferSettings, transfer
from migrator.transforms import IDENTITY
from migrator.writers.sink import Refusal
from migrator.writers.table_sink import BatchWriteSink


@dataclass(frozen=True)
class FileUnit:
    """A unit named by a string, as an export data file will be."""

    kind: ClassVar[str] = "data file"
    key: str

    @property
    def id(self) -> str:
        return self.key

    @property
    def label(self) -> str:
        return f"data file {self.key}"


class FakeReader:
    def __init__(self, pages: dict) -> None:
        self._pages = pages
        self.closed = False

    def pages(self, unit):
        yield from self._pages[unit.id]

    retried = (1, 0, 0)
    filtered_out = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.closed = True


@dataclass(frozen=True)
class FakeSource:
    pages: dict
    description: str = "source files 'export'"
    unit_kind: ClassVar[str] = FileUnit.kind
    units_per_second: float = 0.0
    budget_unit: ClassVar[str] = "RCU"

    def open(self, limiter):
        return FakeReader(self.pages)


class FakeWriter:
    """Acknowledges every item but those equal to b"bad", which it refuses."""

    def __init__(self, on_refused) -> None:
        self.on_refused = on_refused
        self.items: list = []
        self.written = self.rejected = self.deleted = 0
        self.flushes = 0
        self.retried = (0, 2, 3)
        self.units: list = []

    def start_unit(self, unit):
        self.units.append(unit.id)

    def put_raw(self, items):
        for item in items:
            if item == b"bad" and self.on_refused is not None:
                self.on_refused(Refusal(item, "{bad}", "too big"))
                self.rejected += 1
            else:
                self.items.append(item)
                self.written += 1

    def delete_raw(self, keys):
        self.deletes = getattr(self, "deletes", []) + list(keys)
        self.deleted += len(keys)

    def flush(self):
        self.flushes += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        pass


@dataclass
class FakeSink:
    description: str = "target bucket 'b'"
    units_per_second: float = 0.0
    budget_unit: ClassVar[str] = "WCU"
    opened: list | None = None

    def open(self, limiter, on_refused=None):
        writer = FakeWriter(on_refused)
        self.opened.append(writer)
        return writer


def test_the_identity_transform_hands_back_the_page_itself():
    """The identity costs nothing per item: the page that goes in is the object that comes out."""
    page = [b'{"id":{"S":"a"}}', b'{"id":{"S":"b"}}']
    assert IDENTITY.apply(page) is page
    assert pickle.loads(pickle.dumps(IDENTITY)).apply(page) is page


def test_a_task_copies_two_units_of_any_source_into_any_sink_and_logs_them(caplog):
    """Two string-named units through transfer(): every item reaches the sink, each unit is reported done with its
    id and count, the log names the units by their label, and the retries of both sides are summed."""
    sink = FakeSink(opened=[])
    source = FakeSource({"a/1.json": [[b"1", b"2"], [b"3"]], "a/2.json": [[b"4"]]})
    done = []
    with caplog.at_level(logging.INFO, logger="migrator.task"):
        result = transfer(TransferSettings(source=source, sink=sink), [FileUnit("a/1.json"), FileUnit("a/2.json")],
                          task=7, on_unit_done=lambda unit, items: done.append((unit, items)))
    assert sink.opened[0].items == [b"1", b"2", b"3", b"4"] and sink.opened[0].flushes == 2
    assert sink.opened[0].units == ["a/1.json", "a/2.json"]  # each unit announced to the sink before its pages
    assert done == [("a/1.json", 3), ("a/2.json", 1)]
    assert (result.segments, result.scanned, result.written) == (("a/1.json", "a/2.json"), 4, 4)
    assert (result.throttled_retries, result.other_retries, result.unprocessed_resent) == (1, 2, 3)
    assert "migrator task 7: data file a/1.json transferred 3 items" in caplog.messages
    assert any(m.startswith("migrator task 7: data files [a/1.json, a/2.json] transferred 4 items in ")
               for m in caplog.messages)


def test_a_page_of_changes_is_put_then_deleted_and_counted_whole(caplog):
    """A Changes page (an incremental export's) puts its items and deletes its keys; the unit counts both as read,
    and the task's line counts both as transferred."""
    sink = FakeSink(opened=[])
    source = FakeSource({"inc": [[b"1"], Changes(puts=[b"2"], deletes=[b"k3", b"k4"])]})
    done = []
    with caplog.at_level(logging.INFO, logger="migrator.task"):
        result = transfer(TransferSettings(source=source, sink=sink), [FileUnit("inc")], task=2,
                          on_unit_done=lambda unit, items: done.append((unit, items)))
    writer = sink.opened[0]
    assert (writer.items, writer.deletes) == ([b"1", b"2"], [b"k3", b"k4"])
    assert (result.scanned, result.written, result.deleted) == (4, 2, 2)
    assert done == [("inc", 4)]
    assert "migrator task 2: data file inc transferred 4 items" in caplog.messages


def test_a_unit_with_an_item_the_sink_refuses_is_kept_and_not_reported_done(caplog):
    """With keep_rejected, the refused item comes back in the result, named by the sink, and its unit is not done."""
    sink = FakeSink(opened=[])
    source = FakeSource({"x": [[b"1", b"bad"]], "y": [[b"2"]]})
    done = []
    with caplog.at_level(logging.INFO, logger="migrator.task"):
        result = transfer(TransferSettings(source=source, sink=sink, keep_rejected=True),
                          [FileUnit("x"), FileUnit("y")], task=1, on_unit_done=lambda unit, items: done.append(unit))
    assert (result.scanned, result.written, result.rejected, result.rejected_items) == (3, 2, 1, (b"bad",))
    assert done == ["y"]
    assert ("migrator task 1: data file x: target bucket 'b' refused the item with key {bad}: too big; kept for the "
            "dead-letter file") in caplog.messages


def test_a_scan_segment_is_named_by_its_number_and_travels_pickled():
    """A segment's id is its number (so progress lines and skipSegments stay numbers); units and the source and
    sink settings pickle, as Spark ships them to the executors."""
    unit = ScanSegment(3, 16)
    assert (unit.id, unit.label, unit.kind) == (3, "segment 3/16", "segment")
    source = ScanSource(Database("source", "dynamodb", "us-east-1", "http://127.0.0.1:1"), "src",
                        retry=RetryPolicy(max_attempts=2))
    sink = BatchWriteSink(Database("target", "alternator", "us-east-1", "http://127.0.0.1:2"), "dst")
    for value in (unit, source, sink, TransferSettings(source=source, sink=sink)):
        assert pickle.loads(pickle.dumps(value)) == value


def test_a_progress_line_names_a_unit_through_the_plan():
    """The plan reads the UNIT field: a segment number below the total, else malformed or unknown."""
    unit_id = partial(segment_id, total=4)
    assert parse_report(b"t 3 10\n", unit_id) == ("t", 3, 10)
    with pytest.raises(LookupError, match="segment 4 is not below the run's 4 segments"):
        parse_report(b"t 4 10\n", unit_id)
    with pytest.raises(ValueError):
        parse_report(b"t data/1.json 10\n", unit_id)
    assert parse_report(b"t data/1.json 10\n", str) == ("t", "data/1.json", 10)


@pytest.mark.parametrize("pair", [(s, t) for s in (DYNAMODB, ALTERNATOR) for t in (DYNAMODB, ALTERNATOR)])
def test_every_pair_of_table_types_is_a_table_scan_into_batch_writes(pair):
    """The one choice table maps each (source.type, target.type) of tables to the scan source and the writer sink."""
    assert migrate.PAIRS[pair] == (migrate.TableScan, migrate.TableWrite)


def test_a_pair_without_a_source_and_sink_is_a_config_error():
    """An export copied into an export has no pair (the config refuses it earlier, too)."""
    config = type("Config", (), {"source": type("S", (), {"type": S3_EXPORT})(),
                                 "target": type("T", (), {"type": S3_EXPORT})()})()
    with pytest.raises(ConfigError, match="source.type dynamodb-s3-export -> target.type dynamodb-s3-export: not "
                                          "supported; copy between tables"):
        migrate.choose(config)
