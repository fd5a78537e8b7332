"""The manifests of a DynamoDB export to S3: what the export holds, checked before anything is copied.

DynamoDB writes `manifest-summary.json` (one JSON object: itemCount, manifestFilesS3Key, outputFormat, exportType)
and `manifest-files.json` (JSON lines, one per data file: itemCount, md5Checksum, dataFileS3Key). The summary's
itemCount must be the sum of the files'; a data file's own count and MD5 are checked when it is read
(data_file.py). ION exports are refused: this reader takes DYNAMODB_JSON only.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from migrator.codec import dumps, loads
from migrator.errors import ConfigError, TransferError

DYNAMODB_JSON = "DYNAMODB_JSON"
FULL_EXPORT, INCREMENTAL_EXPORT = "FULL_EXPORT", "INCREMENTAL_EXPORT"


@dataclass(frozen=True)
class DataFile:
    """One data file as manifest-files.json lists it."""

    key: str  # dataFileS3Key: the unit's id (an S3 key holds no whitespace DynamoDB would write)
    item_count: int
    md5: bytes  # the MD5 of the gzip file's bytes (md5Checksum, base64 in the manifest)


@dataclass(frozen=True)
class Summary:
    """manifest-summary.json, the fields the reader uses."""

    item_count: int
    manifest_files_key: str
    output_format: str
    export_type: str


def parse_summary(data: bytes, where: str) -> Summary:
    """The summary at `where` (s3://bucket/key, for messages); TransferError when it is not one, ConfigError for an
    export this reader cannot take (ION)."""
    doc = _object(data, where)
    output_format = doc.get("outputFormat", DYNAMODB_JSON)
    if output_format != DYNAMODB_JSON:
        raise ConfigError(f"source.manifestKey: {where} is an export in {output_format}; only DYNAMODB_JSON exports "
                          "are read: export the table again with --export-format DYNAMODB_JSON")
    export_type = doc.get("exportType", FULL_EXPORT)
    if export_type not in (FULL_EXPORT, INCREMENTAL_EXPORT):
        raise TransferError(f"{where}: exportType {str(export_type)[:40]!r} is neither {FULL_EXPORT} nor "
                            f"{INCREMENTAL_EXPORT}")
    return Summary(_count(doc, "itemCount", where), _text(doc, "manifestFilesS3Key", where), output_format,
                   export_type)


def parse_files(data: bytes, where: str, summary: Summary) -> tuple[DataFile, ...]:
    """The data files manifest-files.json lists, each once; their counts must add up to the summary's."""
    files: dict[str, DataFile] = {}
    for file, here in file_lines(data, where):
        if file.key in files:
            raise TransferError(f"{here}: data file {file.key} is listed twice")
        files[file.key] = file
    total = sum(f.item_count for f in files.values())
    if total != summary.item_count:
        raise TransferError(f"{where}: its {len(files)} data files hold {total} items but the summary says "
                            f"{summary.item_count}: the export is incomplete or its manifests do not belong together")
    return tuple(files.values())


def file_lines(data: bytes, where: str) -> Iterator[tuple[DataFile, str]]:
    """Each data file that lines in manifest-files.json form list, with `where line N` for messages; TransferError
    for a line that is not one."""
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        here = f"{where} line {number}"
        doc = _object(line, here)
        key = _text(doc, "dataFileS3Key", here)
        try:
            md5 = base64.b64decode(_text(doc, "md5Checksum", here), validate=True)
        except binascii.Error:
            md5 = b""
        if len(md5) != 16:
            raise TransferError(f"{here}: md5Checksum of {key} is not a base64 MD5: {str(doc['md5Checksum'])[:60]!r}")
        yield DataFile(key, _count(doc, "itemCount", here), md5), here


def _object(data: bytes, where: str) -> dict:
    try:
        doc = loads(data)
    except ValueError as exc:
        raise TransferError(f"{where}: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise TransferError(f"{where}: a JSON {type(doc).__name__}, not an object")
    return doc


def _text(doc: dict, name: str, where: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value:
        raise TransferError(f"{where}: {name} is {_shown(value)}, not a non-empty string")
    return value


def _count(doc: dict, name: str, where: str) -> int:
    value = doc.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TransferError(f"{where}: {name} is {_shown(value)}, not a count")
    return value


def _shown(value: Any) -> str:
    return "missing" if value is None else repr(value)[:60]


# -- written: the same documents, for the export writer (exports/export_sink.py)

SUMMARY_VERSION = "2020-06-30"  # the manifest version DynamoDB writes


def file_line(file: DataFile) -> bytes:
    """`file` as one line of manifest-files.json, newline included."""
    return dumps({"itemCount": file.item_count, "md5Checksum": base64.b64encode(file.md5).decode("ascii"),
                  "dataFileS3Key": file.key}) + b"\n"


def summary_document(item_count: int, manifest_files_key: str, **extra: Any) -> bytes:
    """manifest-summary.json of a full DYNAMODB_JSON export of `item_count` items; `extra` fields are added as
    given (exportTime, s3Bucket, ...)."""
    return dumps({"version": SUMMARY_VERSION, **extra, "manifestFilesS3Key": manifest_files_key,
                  "itemCount": item_count, "outputFormat": DYNAMODB_JSON, "exportType": FULL_EXPORT})
