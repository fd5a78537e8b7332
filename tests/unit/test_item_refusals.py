"""Items the target refuses on their own: found by splitting the batch, named, failed on or kept for a dead letter."""

import json
import logging

import pytest

from migrator.dynamo.api import RetryPolicy
from migrator.dynamo.database import Database
from migrator.errors import ConfigError, ItemRejected, RequestError, TransferError
from migrator.jobs.migrate import report
from migrator.schema import TableInfo
from migrator.readers.scan_source import ScanSegment, ScanSource
from migrator.transfer import TaskResult, TransferSettings, transfer
from migrator.writers import dead_letter
from migrator.writers import batch_writer
from migrator.writers.batch_writer import BatchWriter
from migrator.writers.table_sink import BatchWriteSink
from tests.unit.fakes import FakeApi

FAST = RetryPolicy(max_attempts=5, base_delay=0.0001, max_delay=0.001)
REASON = "Item size has exceeded the maximum allowed size"


def items(n: int, bad: tuple[int, ...] = ()) -> list[dict]:
    """`n` items keyed (pk, sk); those at the `bad` positions carry a `bad` attribute the fake target refuses."""
    return [{"pk": {"S": f"p{i}"}, "sk": {"N": str(i)}, "v": {"S": "x" * 20},
             **({"bad": {"B": "AA=="}} if i in bad else {})} for i in range(n)]


class Target:
    """A fake target that refuses, with HTTP 400 ValidationException, any batch holding an item with `bad`, and
    stores the items of the batches it takes."""

    def __init__(self, unprocessed_first: int = 0) -> None:
        self.stored: dict[str, dict] = {}
        self.unprocessed_first = unprocessed_first  # the first answer leaves all but this many items unprocessed
        self.api = FakeApi(self.answer)

    def answer(self, op, doc):
        requests = doc["RequestItems"]["t"]
        if self.unprocessed_first:  # shed load before validating, as a busy server may
            keep, back, self.unprocessed_first = requests[:self.unprocessed_first], requests[self.unprocessed_first:], 0
            self._store(keep)
            return {"UnprocessedItems": {"t": back}}
        if any("bad" in r["PutRequest"]["Item"] for r in requests):
            raise RequestError(f"BatchWriteItem to http://127.0.0.1:9/ was refused: HTTP 400 ValidationException: "
                               f"{REASON}", code="ValidationException", status=400)
        self._store(requests)
        return {"UnprocessedItems": {}}

    def _store(self, requests) -> None:
        for r in requests:
            item = r["PutRequest"]["Item"]
            assert "bad" not in item
            self.stored[item["pk"]["S"]] = item


def writer_for(target: Target, **kwargs) -> BatchWriter:
    return BatchWriter(target.api, "t", batch_size=25, retry=FAST, key_names=("pk", "sk"), **kwargs)


def test_one_refused_item_among_25_is_named_and_the_other_24_are_written():
    """The batch is split until the refused item is alone; the error names its key (key attributes only), the
    table and the server's reason; the 24 others are stored."""
    target = Target()
    with pytest.raises(ItemRejected) as info:
        with writer_for(target) as writer:
            writer.put_many(items(25, bad=(7,)))
    assert str(info.value) == (
        'target table \'t\' refused the item with key {"pk":{"S":"p7"},"sk":{"N":"7"}}: ValidationException: '
        f"{REASON}")
    assert sorted(target.stored) == sorted(f"p{i}" for i in range(25) if i != 7)
    assert writer.written == 24


def test_two_refused_items_are_both_found_and_counted_in_the_error():
    """Two refused items of one batch: both are isolated, the others written, and the error says one more."""
    target = Target()
    with pytest.raises(ItemRejected, match=r'key \{"pk":\{"S":"p3"\},"sk":\{"N":"3"\}\} \(and 1 more of the same '
                                           r"batch\): ValidationException") as info:
        with writer_for(target) as writer:
            writer.put_many(items(25, bad=(3, 20)))
    assert info.value.count == 2
    assert sorted(target.stored) == sorted(f"p{i}" for i in range(25) if i not in (3, 20))


def test_refused_items_go_to_on_refused_and_the_counts_add_up():
    """With on_refused, every refused item is handed over as its raw JSON with the reason; written + rejected = put."""
    target, kept = Target(), []
    with writer_for(target, on_refused=kept.append) as writer:
        writer.put_many(items(60, bad=(0, 31, 59)))
    assert [json.loads(r.item)["pk"]["S"] for r in kept] == ["p0", "p31", "p59"]
    assert all(r.reason == f"ValidationException: {REASON}" for r in kept)
    assert json.loads(kept[1].item) == items(60, bad=(31,))[31]  # the whole item, as it was put
    assert (writer.written, writer.rejected) == (57, 3)
    assert len(target.stored) == 57


def test_a_batch_of_only_refused_items_writes_nothing_and_hands_over_all():
    """All 25 refused: each is isolated (2n-1 requests), none is written, all 25 are handed over."""
    target, kept = Target(), []
    with writer_for(target, on_refused=kept.append) as writer:
        writer.put_many(items(25, bad=tuple(range(25))))
    assert sorted(json.loads(r.item)["pk"]["S"] for r in kept) == sorted(f"p{i}" for i in range(25))
    assert (writer.written, writer.rejected, len(target.stored)) == (0, 25, 0)
    assert len(target.api.calls) == 49


def test_a_refused_item_among_unprocessed_items_is_found_when_they_are_resent():
    """The server first leaves 15 items unprocessed, among them the refused one; resending them is refused, the
    split finds the item, and every other item is written exactly once."""
    target, kept = Target(unprocessed_first=10), []
    with writer_for(target, on_refused=kept.append) as writer:
        writer.put_many(items(25, bad=(20,)))
    assert [json.loads(r.item)["pk"]["S"] for r in kept] == ["p20"]
    assert sorted(target.stored) == sorted(f"p{i}" for i in range(25) if i != 20)
    assert (writer.written, writer.rejected, writer.unprocessed_resent) == (24, 1, 15)


def test_other_refusals_are_not_split():
    """An error that is not about the batch's content (here a missing table) fails at once, with one request."""

    def missing(op, doc):
        raise RequestError("BatchWriteItem to x was refused: HTTP 400 ResourceNotFoundException: no table",
                           code="ResourceNotFoundException", status=400)

    api = FakeApi(missing)
    with pytest.raises(RequestError, match="ResourceNotFoundException"):
        with BatchWriter(api, "t", batch_size=25, retry=FAST, key_names=("pk",)) as writer:
            writer.put_many(items(25))
    assert len(api.calls) == 1


def test_a_huge_key_is_cut_in_the_error():
    """A key longer than KEY_SHOWN_CHARS is cut and says how long it was; other attributes are never shown."""
    target = Target()
    item = {"pk": {"S": "k" * 2000}, "sk": {"N": "1"}, "bad": {"S": "secret-ish payload"}}
    with pytest.raises(ItemRejected) as info:
        with writer_for(target) as writer:
            writer.put(item)
    message = str(info.value)
    full = json.dumps({"pk": item["pk"], "sk": item["sk"]}, separators=(",", ":"))
    assert f"key {full[:batch_writer.KEY_SHOWN_CHARS]}... ({len(full)} chars): ValidationException" in message
    assert "payload" not in message


def test_a_refused_delete_is_an_error_even_with_on_refused():
    """A delete has no item to keep: its refusal raises, naming the key."""

    def refuse(op, doc):
        raise RequestError("BatchWriteItem to x was refused: HTTP 400 ValidationException: bad key",
                           code="ValidationException", status=400)

    kept = []
    with pytest.raises(ItemRejected, match=r'refused the delete of the item with key \{"pk":\{"S":""\}\}: '
                                           "ValidationException: bad key"):
        with BatchWriter(FakeApi(refuse), "t", retry=FAST, key_names=("pk",), on_refused=kept.append) as writer:
            writer.delete({"pk": {"S": ""}})
    assert kept == []


# ---- one task --------------------------------------------------------------------------------------------------


def settings(keep_rejected: bool = False) -> TransferSettings:
    return TransferSettings(
        source=ScanSource(Database("source", "dynamodb", "us-east-1", "http://127.0.0.1:1"), "src", retry=FAST),
        sink=BatchWriteSink(Database("target", "dynamodb", "us-east-1", "http://127.0.0.1:2"), "t", retry=FAST,
                            key_names=("pk", "sk")),
        keep_rejected=keep_rejected,
    )


def segments(*numbers: int) -> list[ScanSegment]:
    return [ScanSegment(n, 4) for n in numbers]


def wire(monkeypatch, source_items: list[dict], target: Target) -> None:
    source = FakeApi(lambda op, doc: {"Items": source_items})
    apis = {"source": source, "target": target.api}
    monkeypatch.setattr(Database, "api", lambda self, **kwargs: apis[self.side])


def test_a_refused_item_fails_the_task_naming_key_table_segment_and_reason(monkeypatch):
    """Without a dead-letter directory, the task fails with one line that names all four and the fix."""
    wire(monkeypatch, items(30, bad=(12,)), Target())
    with pytest.raises(TransferError) as info:
        transfer(settings(), segments(2), task=0)
    assert str(info.value) == (
        "segment 2/4 of source table 'src' -> target table 't': target table 't' refused the item with key "
        '{"pk":{"S":"p12"},"sk":{"N":"12"}}: ValidationException: ' + REASON + "; fix the item, or set "
        "target.deadLetterPath to write the items the target refuses to a file and copy the rest")


def test_with_a_dead_letter_the_task_returns_refused_items_and_does_not_report_their_segment_done(monkeypatch, caplog):
    """keep_rejected: the refused items come back raw in the result, scanned = written + rejected, each refusal is
    logged with its key and segment, and only segments without refusals are reported done."""
    target = Target()
    per_segment = {1: items(10), 2: items(30, bad=(4, 17))}
    source = FakeApi(lambda op, doc: {"Items": per_segment[doc["Segment"]]})
    apis = {"source": source, "target": target.api}
    monkeypatch.setattr(Database, "api", lambda self, **kwargs: apis[self.side])
    done = []
    with caplog.at_level(logging.INFO, logger="migrator.task"):
        result = transfer(settings(keep_rejected=True), segments(1, 2), task=3,
                          on_unit_done=lambda s, n: done.append(s))
    assert (result.scanned, result.written, result.rejected) == (40, 38, 2)
    assert [json.loads(i) for i in result.rejected_items] == [per_segment[2][4], per_segment[2][17]]
    assert done == [1]
    lines = [r.getMessage() for r in caplog.records]
    assert ("migrator task 3: segment 2/4: target table 't' refused the item with key "
            '{"pk":{"S":"p4"},"sk":{"N":"4"}}: ValidationException: ' + REASON + "; kept for the dead-letter file"
            ) in lines
    assert ("migrator task 3: segment 2/4 transferred 28 items, 2 refused by the target (kept for the dead-letter "
            "file)") in lines
    assert any(line.startswith("migrator task 3: segments [1, 2] transferred 38 items in ") and
               line.endswith("; 2 refused by the target") for line in lines)


def test_a_task_keeps_at_most_max_rejected_items(monkeypatch):
    """Past the bound, the task fails instead of sending an unbounded list of items to the driver."""
    monkeypatch.setattr("migrator.transfer.MAX_REJECTED_ITEMS", 2)
    wire(monkeypatch, items(25, bad=(1, 2, 3)), Target())
    with pytest.raises(TransferError, match=r"refused more than 2 items of this task .*the last with key "
                                            r'\{"pk":\{"S":"p3"\},"sk":\{"N":"3"\}\}.* at most 2 items') as info:
        transfer(settings(keep_rejected=True), segments(0), task=0)
    assert str(info.value).startswith("segment 0/4 of source table 'src' -> target table 't': ")
    assert "set target.deadLetterPath" not in str(info.value)


# ---- the driver: file and verdict ------------------------------------------------------------------------------


def test_dead_letter_file_holds_one_dynamodb_json_item_per_line(tmp_path):
    """Each line is {"Item": {...}} with the item as scanned; a second run gets a new file, never overwriting."""
    raw = [b'{"pk":{"S":"a"},"n":{"N":"1.50"}}', b'{"pk":{"S":"b"},"s":{"SS":[]}}']
    first = dead_letter.write(tmp_path, "t", iter(raw))
    second = dead_letter.write(tmp_path, "t", iter(raw[:1]))
    assert first != second
    assert first.read_bytes().splitlines() == [b'{"Item":' + r + b"}" for r in raw]
    assert [json.loads(line) for line in first.read_text().splitlines()] == [{"Item": json.loads(r)} for r in raw]


def test_dead_letter_directory_is_created_before_the_copy(tmp_path):
    """A missing directory (and its parents) is created, so the file can be written at the end."""
    assert dead_letter.check_directory(str(tmp_path / "a" / "b")) == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir()


def test_dead_letter_directory_that_cannot_be_created_is_a_config_error(tmp_path):
    """A path under a file cannot be a directory: exit-2 error naming the key, the value and the fix."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"target.deadLetterPath: cannot create directory '.*file/sub': .*; name a "
                                          "writable local directory on the driver"):
        dead_letter.check_directory(str(tmp_path / "file" / "sub"))


def test_verdict_counts_rejected_items_and_fails(tmp_path, caplog):
    """scanned = written + rejected, yet the verdict is FAILED naming the count and the file, exit status 1."""
    info = TableInfo("src", (("pk", "HASH"),), 0, 0, "PAY_PER_REQUEST", {})
    results = [TaskResult(0, (0,), 10, 10, 1.0, 0.1), TaskResult(1, (1,), 12, 9, 1.0, 0.1, rejected=3)]
    with caplog.at_level(logging.INFO):
        status = report(results, info, "src", "t", 2.0, rejected_file=tmp_path / "t-rejected.json")
    assert status == 1
    lines = [r.getMessage() for r in caplog.records]
    assert (f"migrator verdict: FAILED - 3 items rejected by the target, written to {tmp_path / 't-rejected.json'}; "
            "the other 19 of 22 scanned items were written") in lines
    assert "task 1: 1 segments, 9 items in 1.0 s, 3 refused by the target" in lines


def test_dead_letter_path_parses_and_defaults_to_none(tmp_path):
    """target.deadLetterPath is a non-empty string; absent, refused items fail the job."""
    import yaml

    from migrator.config import load_config

    def load(target_extra: dict):
        raw = {"source": {"type": "dynamodb", "table": "src", "region": "us-east-1"},
               "target": {"type": "dynamodb", "table": "dst", "region": "us-east-1", **target_extra}}
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(raw))
        return load_config(path)

    assert load({}).target.dead_letter_path is None
    assert load({"deadLetterPath": "rejected"}).target.dead_letter_path == "rejected"
    with pytest.raises(ConfigError, match=r"target.deadLetterPath: must be a string, got 3"):
        load({"deadLetterPath": 3})
