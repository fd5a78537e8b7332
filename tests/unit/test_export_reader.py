"""Reading a DynamoDB export: its manifests checked, its data files cut into raw items (exports/).

The AWS sample in tests/data/aws-export-sample (copied from ../shared/reference) is a real export of 3 items
made by AWS."""

from __future__ import annotations

import base64
import gzip
import hashlib
from pathlib import Path

import pytest

from migrator.codec import dumps, loads
from migrator.errors import ConfigError, TransferError
from migrator.exports import data_file
from migrator.exports.data_file import pages
from migrator.exports.manifest import DataFile, parse_files, parse_summary

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "aws-export-sample"  # a copy of the shared reference


def sample():
    summary = parse_summary((SAMPLE / "manifest-summary.json").read_bytes(), "manifest-summary.json")
    (file,) = parse_files((SAMPLE / "manifest-files.json").read_bytes(), "manifest-files.json", summary)
    return summary, file, (SAMPLE / "data" / file.key.rsplit("/", 1)[1]).read_bytes()


def data_file_of(items: list[dict], *, members: int = 1) -> tuple[bytes, DataFile]:
    lines = [dumps({"Item": item}) + b"\n" for item in items]
    size = -(-len(lines) // members) if lines else 1
    data = b"".join(gzip.compress(b"".join(lines[i:i + size])) for i in range(0, max(len(lines), 1), size))
    return data, DataFile("export/data/f.json.gz", len(items), hashlib.md5(data, usedforsecurity=False).digest())


def read(data: bytes, file: DataFile, **kwargs) -> list[bytes]:
    return [bytes(item) for page in pages(data, file, "s3://b/" + file.key, **kwargs) for item in page]


def test_the_aws_sample_reads_as_its_three_items_byte_for_byte():
    summary, file, data = sample()
    assert (summary.item_count, summary.output_format, summary.export_type) == (3, "DYNAMODB_JSON", "FULL_EXPORT")
    assert summary.manifest_files_key.endswith("/manifest-files.json")
    lines = gzip.decompress(data).splitlines()
    assert read(data, file) == [line[len(b'{"Item":'):-1] for line in lines]
    assert loads(read(data, file)[1])["k"] == {"BS": ["aXMgZmFzdA==", "c2N5bGxhZGI="]}  # sets and binaries kept


def test_a_corrupted_file_writes_nothing_and_names_itself():
    _, file, data = sample()
    damaged = data[:40] + bytes([data[40] ^ 1]) + data[41:]
    produced = pages(damaged, file, "s3://test-bucket/" + file.key)
    with pytest.raises(TransferError, match=r"^s3://test-bucket/dynamodb-export/.*\.json\.gz: its MD5 differs"):
        next(produced)


def test_a_count_that_differs_from_the_manifest_fails_after_the_items():
    data, file = data_file_of([{"pk": {"S": str(i)}} for i in range(5)])
    with pytest.raises(TransferError, match="it holds 5 items but the manifest's itemCount is 6"):
        read(data, DataFile(file.key, 6, file.md5))


def test_a_truncated_gzip_is_refused_even_when_its_md5_matches():
    data, _ = data_file_of([{"pk": {"S": str(i)}, "v": {"S": "x" * i}} for i in range(200)])
    cut = data[: len(data) // 2]
    file = DataFile("f", 200, hashlib.md5(cut, usedforsecurity=False).digest())
    with pytest.raises(TransferError, match="ends before its end: the file is truncated"):
        read(cut, file)


def test_lines_across_chunks_and_gzip_members_all_arrive_in_pages(monkeypatch):
    monkeypatch.setattr(data_file, "CHUNK_BYTES", 97)  # lines and members cut at odd places
    items = [{"pk": {"S": f"k{i}"}, "n": {"N": str(i)}, "s": {"S": "y" * (i % 50)}} for i in range(2500)]
    data, file = data_file_of(items, members=3)
    got = [list(page) for page in pages(data, file, "f", page_items=1000)]
    assert all(len(page) <= 1000 for page in got)
    assert [loads(item) for page in got for item in page] == items


def test_an_empty_data_file_has_no_items():
    data, file = data_file_of([])
    assert read(data, file) == []


def test_a_line_without_an_item_names_the_file():
    lines = b'{"Item":{"pk":{"S":"a"}}}\n{"Keys":{"pk":{"S":"b"}}}\n'
    data = gzip.compress(lines)
    file = DataFile("f", 2, hashlib.md5(data, usedforsecurity=False).digest())
    with pytest.raises(TransferError, match=r"^s3://b/f: a line after item 0 is not a DynamoDB JSON line"):
        read(data, file)


def test_an_ion_export_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="is an export in ION; only DYNAMODB_JSON exports are read"):
        parse_summary(dumps({"itemCount": 1, "manifestFilesS3Key": "m", "outputFormat": "ION"}), "s3://b/summary")


@pytest.mark.parametrize(("lines", "message"), [
    ([{"itemCount": 2, "md5Checksum": "rzAeIrtALbOlNdK5Hh8tgA==", "dataFileS3Key": "a"}],
     "its 1 data files hold 2 items but the summary says 3"),
    ([{"itemCount": 1, "md5Checksum": "rzAeIrtALbOlNdK5Hh8tgA==", "dataFileS3Key": "a"}] * 3,
     "line 2: data file a is listed twice"),
    ([{"itemCount": 3, "md5Checksum": "not-an-md5", "dataFileS3Key": "a"}], "md5Checksum of a is not a base64 MD5"),
    ([{"itemCount": -3, "md5Checksum": "rzAeIrtALbOlNdK5Hh8tgA==", "dataFileS3Key": "a"}], "itemCount is -3"),
])
def test_manifest_files_that_do_not_add_up_are_refused(lines, message):
    summary = parse_summary(dumps({"itemCount": 3, "manifestFilesS3Key": "m"}), "summary")
    with pytest.raises(TransferError, match=message):
        parse_files(b"\n".join(dumps(line) for line in lines), "s3://b/m", summary)


def test_the_md5_in_the_manifest_is_the_gzip_files():
    _, file, data = sample()
    assert base64.b64encode(file.md5) == b"rzAeIrtALbOlNdK5Hh8tgA=="
    assert hashlib.md5(data, usedforsecurity=False).digest() == file.md5
