"""Writing a DynamoDB S3 export (exports/export_sink.py, exports/output.py): the layout, read back by the export
reader; into a local directory and into moto's S3 (the session's moto server, through AWS_ENDPOINT_URL_S3)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
import os
import pickle
import uuid
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest

from migrator.codec import dumps
from migrator.config import S3ExportTarget
from migrator.dynamo.throttle import Unlimited
from migrator.errors import ConfigError, TransferError
from migrator.exports import export_sink
from migrator.exports.data_file import pages
from migrator.exports.export_sink import ExportSink, ExportWrite
from migrator.exports.manifest import parse_files, parse_summary
from migrator.exports.output import ExportOutput
from migrator.readers.scan_source import ScanSegment


def item(number: int, pad: int = 0) -> bytes:
    return dumps({"pk": {"S": f"customer#{number:07d}"}, "sk": {"N": str(number)}, "note": {"S": "x" * pad}})


def random_item(number: int) -> bytes:
    """An item that compresses to about half its size."""
    return dumps({"pk": {"S": os.urandom(48).hex()}, "n": {"N": str(number)}})


@pytest.fixture
def s3_env(moto_source, monkeypatch):
    """AWS_ENDPOINT_URL_S3 at the session's moto server, dummy keys, and a fresh bucket."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_source.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"export-out-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=moto_source.url, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    s3.create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture(params=["local", "s3"])
def path(request, tmp_path):
    """target.path: a local directory, or a prefix in a fresh moto S3 bucket."""
    if request.param == "local":
        return str(tmp_path / "export")
    return f"s3://{request.getfixturevalue('s3_env')}/exports/orders"


def write_units(sink: ExportSink, units: dict[int, list[list[bytes]]], total: int | None = None) -> None:
    """One task's units, as transfer hands them over: start_unit, pages, flush."""
    total = total or len(units)
    with sink.open(Unlimited()) as writer:
        for unit, unit_pages in units.items():
            writer.start_unit(ScanSegment(unit, total))
            for page in unit_pages:
                writer.put_raw(page)
            writer.flush()


def export(path: str, units: dict[int, list[list[bytes]]], part_bytes: int = export_sink.PART_BYTES) -> ExportWrite:
    """units written by one task, then the driver's finish."""
    write = ExportWrite(S3ExportTarget(path))
    assert write.prepare(None, resuming=False) is True
    write_units(ExportSink(write.output, part_bytes=part_bytes), units)
    write.finish(SimpleNamespace(total=len(units), kind="segment"))
    return write


def read_back(output: ExportOutput) -> tuple[list, list[bytes]]:
    """The export's data files and its items, through the export reader."""
    summary = parse_summary(output.read("manifest-summary.json"), "summary")
    files = parse_files(output.read(summary.manifest_files_key), "files", summary)
    items = [bytes(i) for f in files for page in pages(output.read(f.key), f, f.key) for i in page]
    return list(files), items


def test_an_export_has_dynamodbs_layout_and_reads_back_item_for_item(path):
    """data/*.json.gz, manifest-files.json and manifest-summary.json; the records are gone; the reader reads it."""
    units = {0: [[item(i) for i in range(300)], [item(i) for i in range(300, 350)]],
             1: [[item(i) for i in range(350, 400)]]}
    write = export(path, units)
    keys = write.output.keys()
    assert {k for k in keys if not k.startswith("data/")} == {"manifest-files.json", "manifest-summary.json"}
    assert all(k.endswith(".json.gz") for k in keys if k.startswith("data/"))
    files, items = read_back(write.output)
    assert items == [item(i) for i in range(400)]
    assert [f.item_count for f in files] == [350, 50]
    summary = write.output.read("manifest-summary.json")
    assert b'"version":"2020-06-30"' in summary and b'"exportType":"FULL_EXPORT"' in summary
    assert b'"dataFileS3Key":"data/00000-' in write.output.read("manifest-files.json")


def test_md5_and_count_are_those_of_the_files_as_written(tmp_path):
    """Each manifest line's md5Checksum is the MD5 of the gzip file's bytes; its itemCount the lines inside."""
    write = export(str(tmp_path / "e"), {0: [[item(i) for i in range(123)]], 1: [[item(7)]]})
    for line in (tmp_path / "e" / "manifest-files.json").read_bytes().splitlines():
        doc = json.loads(line)
        data = (tmp_path / "e" / doc["dataFileS3Key"]).read_bytes()
        assert base64.b64decode(doc["md5Checksum"]) == hashlib.md5(data, usedforsecurity=False).digest()
        assert len(gzip.decompress(data).splitlines()) == doc["itemCount"]
    assert read_back(write.output)[1] == [item(i) for i in range(123)] + [item(7)]


def test_a_unit_rolls_to_a_new_file_past_the_size_bound(path):
    """A bound of 20 KB cuts a unit of about 200 KB of compressed items into several files, in order."""
    noisy = [[random_item(i) for i in range(start, start + 100)] for start in range(0, 3000, 100)]
    write = export(path, {0: noisy}, part_bytes=20_000)
    files, items = read_back(write.output)
    assert len(files) >= 4
    assert items == [i for p in noisy for i in p]
    assert [f.key for f in files] == sorted(f.key for f in files)


def test_a_unit_without_items_has_no_data_file_but_counts_as_done(path):
    """An empty segment writes its record and no data file; the export holds the others' items."""
    write = export(path, {0: [], 1: [[item(1), item(2)]], 2: [[]]})
    files, items = read_back(write.output)
    assert len(files) == 1 and items == [item(1), item(2)]
    assert len(write.output.keys("data/")) == 1


def test_items_are_written_byte_for_byte_as_given(tmp_path):
    """Odd spacing, key order, escapes and non-ASCII survive: the fragment is never decoded."""
    odd = [b'{ "pk" : {"S":"\\u00e9t\\u00e9"} ,"a":{"N":"1.50"}}', '{"pk":{"S":"été ✓"}}'.encode(),
           b'{"z":{"B":"AAE="},"pk":{"S":"k"}}']
    write = export(str(tmp_path / "e"), {0: [odd]})
    data = write.output.read(write.output.keys("data/")[0])
    assert gzip.decompress(data) == b"".join(b'{"Item":' + line + b"}\n" for line in odd)


def test_an_output_that_holds_anything_is_refused(tmp_path):
    """A non-empty directory is refused (exit 2) naming target.path; a missing or empty one is taken."""
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"^target\.path: '.*/full' is not empty; .* name a new one, or empty it"):
        ExportWrite(S3ExportTarget(str(tmp_path / "full"))).prepare(None, resuming=False)
    assert ExportWrite(S3ExportTarget(str(tmp_path / "empty"))).prepare(None, resuming=False)
    assert ExportWrite(S3ExportTarget(str(tmp_path / "missing"))).prepare(None, resuming=False)


def test_a_non_empty_s3_prefix_is_refused_and_a_resumed_run_needs_one(s3_env):
    """On S3 too; a resumed run takes a prefix that holds its earlier files and refuses an empty one."""
    boto3.client("s3").put_object(Bucket=s3_env, Key="out/data/x.json.gz", Body=b"")
    with pytest.raises(ConfigError, match=rf"^target\.path: 's3://{s3_env}/out' is not empty"):
        ExportWrite(S3ExportTarget(f"s3://{s3_env}/out/")).prepare(None, resuming=False)
    assert ExportWrite(S3ExportTarget(f"s3://{s3_env}/out")).prepare(None, resuming=True)
    with pytest.raises(ConfigError, match=r"^target\.path: 's3://.*/other' holds nothing, but this run resumes"):
        ExportWrite(S3ExportTarget(f"s3://{s3_env}/other")).prepare(None, resuming=True)


def test_a_missing_bucket_fails_the_write_naming_the_path(s3_env):
    """No bucket: TransferError (exit 1) naming the S3 location and the cause."""
    with pytest.raises(TransferError, match=r"^s3://no-such-bucket-[0-9a-f]+/x: cannot list it: .*NoSuchBucket"):
        ExportWrite(S3ExportTarget(f"s3://no-such-bucket-{uuid.uuid4().hex[:6]}/x")).prepare(None, resuming=False)


def test_finish_refuses_a_plan_whose_unit_left_no_record(tmp_path):
    """Units 0 and 2 of 3 written: finish names the missing segment and writes no manifest."""
    write = ExportWrite(S3ExportTarget(str(tmp_path / "e")))
    write_units(ExportSink(write.output), {0: [[item(0)]], 2: [[item(2)]]}, total=3)
    with pytest.raises(TransferError, match=r"manifest-parts/: no record of the data files of 1 segments \[1\] of 3"):
        write.finish(SimpleNamespace(total=3, kind="segment"))
    assert not (tmp_path / "e" / "manifest-summary.json").exists()


def test_a_killed_attempts_files_are_removed_and_the_retry_counts_once(path):
    """A task that failed mid-unit leaves a rolled data file and no record; its retry writes the unit again; the
    export holds the retry's items once, and no scratch file is left."""
    write = ExportWrite(S3ExportTarget(path))
    write.prepare(None, resuming=False)
    sink = ExportSink(write.output, part_bytes=20_000)
    noisy = [random_item(i) for i in range(2000)]
    with pytest.raises(RuntimeError), sink.open(Unlimited()) as writer:
        writer.start_unit(ScanSegment(0, 1))
        for start in range(0, 2000, 100):
            writer.put_raw(noisy[start:start + 100])
        while writer.pending:
            writer.pending.popleft().result()
        raise RuntimeError("executor lost")
    stray = write.output.keys("data/")
    assert stray and all(".tmp" not in k for k in stray)
    assert writer.written == 0
    write_units(sink, {0: [noisy]})
    write.finish(SimpleNamespace(total=1, kind="segment"))
    files, items = read_back(write.output)
    assert items == noisy
    assert not set(stray) & set(write.output.keys("data/"))
    assert sorted(f.key for f in files) == write.output.keys("data/")


def test_items_count_as_written_only_once_their_unit_is_flushed(tmp_path):
    write = ExportWrite(S3ExportTarget(str(tmp_path / "e")))
    with ExportSink(write.output).open(Unlimited()) as writer:
        writer.start_unit(ScanSegment(4, 8))
        writer.put_raw([item(1), item(2)])
        assert writer.written == 0
        writer.flush()
        assert writer.written == 2
    assert write.output.keys() == ["data/" + Path(write.output.keys("data/")[0]).name, "manifest-parts/00004.json"]


def test_an_export_takes_no_deletes(tmp_path):
    with ExportSink(ExportOutput.at(str(tmp_path))).open(Unlimited()) as writer:
        writer.delete_raw([])
        with pytest.raises(TransferError, match="an export holds items, not deletes; 2 deletes"):
            writer.delete_raw([b'{"pk":{"S":"a"}}', b'{"pk":{"S":"b"}}'])


def test_finish_again_after_a_finished_export_changes_nothing(tmp_path, caplog):
    """A resumed run with nothing left to copy finishes an export that is already complete."""
    write = export(str(tmp_path / "e"), {0: [[item(1)]]})
    before = write.output.read("manifest-files.json")
    with caplog.at_level(logging.INFO, logger="migrator"):
        write.finish(SimpleNamespace(total=1, kind="segment"))
    assert "was already complete" in caplog.text
    assert write.output.read("manifest-files.json") == before


def test_finish_logs_what_it_wrote(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="migrator"):
        export(str(tmp_path / "e"), {0: [[item(1), item(2)]], 1: [[item(3)]]})
    assert f"wrote DynamoDB S3 export: 3 items in 2 data files at {tmp_path / 'e'}" in caplog.text


def test_the_sink_pickles_without_its_client(s3_env):
    """The executor side goes to the tasks: its S3 client, built on first use, stays behind."""
    output = ExportOutput.at(f"s3://{s3_env}/p")
    assert output.is_empty()
    copy = pickle.loads(pickle.dumps(ExportSink(output)))
    assert copy.output == output and "_client" not in copy.output.__dict__


def test_a_path_names_its_place():
    assert ExportOutput.at("s3a://b/some/prefix/").location == "s3://b/some/prefix"
    assert ExportOutput.at("s3://b").prefix == ""
    assert ExportOutput.at("rel/dir").location == str(Path("rel/dir").absolute())
    with pytest.raises(ConfigError, match=r"^target\.path: gs:// is not supported, got 'gs://b/p'"):
        ExportOutput.at("gs://b/p")
    with pytest.raises(ConfigError, match=r"^target\.path: no bucket in 's3:///p'"):
        ExportOutput.at("s3:///p")


def test_a_data_file_that_cannot_be_written_fails_the_unit_naming_it(s3_env, tmp_path):
    """A bucket that is gone when a task writes: TransferError naming the object and the cause; no scratch file
    is left behind."""
    scratch_dir = tmp_path / "scratch"
    scratch_dir.mkdir()
    output = ExportOutput.at(f"s3://gone-{uuid.uuid4().hex[:6]}/x")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tempfile.tempdir", str(scratch_dir))
        with pytest.raises(TransferError, match=r"^s3://gone-\w+/x/data/00000-\w+-0000\.json\.gz: cannot write it: "
                                                r".*NoSuchBucket"):
            write_units(ExportSink(output), {0: [[item(1)]]})
    assert list(scratch_dir.iterdir()) == []


def test_a_local_output_under_a_file_fails_naming_the_directory(tmp_path):
    (tmp_path / "file").write_text("")
    output = ExportOutput.at(str(tmp_path / "file" / "export"))
    with pytest.raises(TransferError, match=r"/file/export/data/00000-\w+-0000\.json\.gz: cannot create its "
                                            "directory: Not a directory"):
        write_units(ExportSink(output), {0: [[item(1)]]})
