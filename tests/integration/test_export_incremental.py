"""An incremental export applied through ./submit.sh on top of a table loaded from a full export: puts of new keys,
updates, deletes, and keys changed more than once in a file with their timestamps out of line order. moto's S3
holds both exports (the source server's port), a second moto server is the target."""

from __future__ import annotations

import gzip
import json
import uuid

import pytest

from migrator.demo import sample_items
from tests.conftest import fresh_table_name
from tests.integration.export_files import build_export, md5_base64, new_bucket, s3_client
from tests.integration.spark_run import describe, run_submit
from tests.integration.test_export_source import assert_target_holds, export_config

pytestmark = pytest.mark.integration

START = 1_680_109_764_000_000  # WriteTimestampMicros of the first change


def keys_of(item: dict) -> dict:
    return {"pk": item["pk"], "sk": item["sk"]}


def change(micros: int, keys: dict, new: dict | None = None, old: dict | None = None) -> dict:
    """One line as AWS writes it (NEW_AND_OLD_IMAGES): no NewImage for a delete, no OldImage for an insert."""
    line = {"Metadata": {"WriteTimestampMicros": {"N": str(micros)}}, "Keys": keys}
    if new is not None:
        line["NewImage"] = new
    if old is not None:
        line["OldImage"] = old
    return line


def build_incremental_export(s3, bucket: str, files: list[list[dict]]) -> str:
    """An INCREMENTAL_EXPORT of `files` (the change lines of each data file) in the AWS layout; its manifest's
    key."""
    directory = f"incremental/AWSDynamoDB/{uuid.uuid4().hex[:12]}"
    listed = []
    for number, lines in enumerate(files):
        key = f"{directory}/data/{number:04d}-{uuid.uuid4().hex[:8]}.json.gz"
        body = gzip.compress(b"".join(json.dumps(line).encode() + b"\n" for line in lines), mtime=0)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        listed.append({"itemCount": len(lines), "md5Checksum": md5_base64(body), "dataFileS3Key": key})
    s3.put_object(Bucket=bucket, Key=f"{directory}/manifest-files.json",
                  Body="".join(json.dumps(line) + "\n" for line in listed).encode())
    summary = {"version": "2023-08-01", "exportType": "INCREMENTAL_EXPORT", "outputFormat": "DYNAMODB_JSON",
               "outputView": "NEW_AND_OLD_IMAGES", "itemCount": sum(len(lines) for lines in files),
               "manifestFilesS3Key": f"{directory}/manifest-files.json"}
    s3.put_object(Bucket=bucket, Key=f"{directory}/manifest-summary.json", Body=json.dumps(summary).encode())
    return f"{directory}/manifest-summary.json"


def applied(items: list[dict], files: list[list[dict]]) -> list[dict]:
    """What the table holds after the changes, each key's changes taken in timestamp order (a tie: line order)."""
    table = {json.dumps(keys_of(item), sort_keys=True): item for item in items}
    lines = [line for lines in files for line in lines]
    for line in sorted(lines, key=lambda line: int(line["Metadata"]["WriteTimestampMicros"]["N"])):  # stable
        key = json.dumps(line["Keys"], sort_keys=True)
        if "NewImage" in line:
            table[key] = line["NewImage"]
        else:
            table.pop(key, None)
    return list(table.values())


def changes_of(loaded: list[dict], fresh: list[dict]) -> list[list[dict]]:
    """Three data files of changes to `loaded` (the full export's items), one empty; `fresh` are new items."""
    def updated(item: dict, text: str) -> dict:
        return {**item, "note": {"S": text}}

    old = loaded
    first = ([change(START + i, keys_of(item), item) for i, item in enumerate(fresh[:40])]  # inserts
             + [change(START + 100 + i, keys_of(item), updated(item, "one update"), item)
                for i, item in enumerate(old[:30])]
             + [change(START + 200 + i, keys_of(item), None, item) for i, item in enumerate(old[30:50])])  # deletes
    second = [
        # updated twice, the newer change written first: the newer one stays
        change(START + 900, keys_of(old[60]), updated(old[60], "newest"), updated(old[60], "older")),
        change(START + 800, keys_of(old[60]), updated(old[60], "older"), old[60]),
        # deleted, then an older put written after it: stays deleted
        change(START + 910, keys_of(old[61]), None, updated(old[61], "put before the delete")),
        change(START + 905, keys_of(old[61]), updated(old[61], "put before the delete"), old[61]),
        # deleted then put again, in line order: the put stays
        change(START + 920, keys_of(old[62]), None, old[62]),
        change(START + 930, keys_of(old[62]), updated(old[62], "put again"), None),
        # a new key put then deleted in the same microsecond: the later line (the delete) wins
        change(START + 940, keys_of(fresh[40]), fresh[40], None),
        change(START + 940, keys_of(fresh[40]), None, fresh[40]),
        *[change(START + 1000 + i, keys_of(item), item) for i, item in enumerate(fresh[41:60])],
    ]
    return [first, [], second]


def test_an_incremental_export_applied_on_a_loaded_table_leaves_the_final_state(moto_source, moto_target,
                                                                                 tmp_path):
    """A full export loaded, then an incremental one applied: the table equals every change applied in timestamp
    order per key; the verdict counts the puts and deletes."""
    s3 = s3_client(moto_source.url)
    bucket = new_bucket(s3)
    items = list(sample_items.demo_items(360))
    loaded, fresh = items[:300], items[300:]
    full = build_export(s3, bucket, [loaded[:150], loaded[150:]])
    table = fresh_table_name("incremental")
    load = run_submit(export_config(tmp_path / "full.yaml", moto_source, bucket, full.manifest_key, moto_target.url,
                                    table), "--master", "local[2]")
    assert load.returncode == 0, describe(load.stdout)
    assert_target_holds(moto_target, table, loaded)

    files = changes_of(loaded, fresh)
    manifest_key = build_incremental_export(s3, bucket, files)
    run = run_submit(export_config(tmp_path / "incremental.yaml", moto_source, bucket, manifest_key,
                                   moto_target.url, table), "--master", "local[2]")

    assert run.returncode == 0, describe(run.stdout)
    assert_target_holds(moto_target, table, applied(loaded, files))
    lines = sum(len(f) for f in files)
    kept = lines - 4  # four keys of the second file changed twice
    found = f"found DynamoDB S3 export s3://{bucket}/{manifest_key}: {lines} items in 3 data files"
    assert f"{found} (INCREMENTAL_EXPORT)" in run.stdout
    assert f"migrator source count: {kept} changes applied (the newest of each key) from 3 data files" in run.stdout
    deletes = 20 + 2  # the first file's deletes, and the second's two keys whose last change is a delete
    assert f"migrator total: {deletes} of the {kept} changes were deletes" in run.stdout
    assert f"migrator verdict: OK - all {kept} scanned items were written" in run.stdout
