"""A DynamoDB export in S3 imported into a table, end to end through ./submit.sh: moto's S3 holds the export (the
source server's port), a second moto server is the target."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
import yaml

from migrator.demo import sample_data, sample_items
from migrator.demo.sample_data import fill_table, scan_all
from migrator.demo.servers import client_for
from tests.conftest import fresh_table_name
from tests.integration.export_files import (
    SAMPLE_DESCRIPTION, build_export, data_file, new_bucket, put_sample, s3_client, sample_items as aws_sample,
)
from tests.integration.spark_run import describe, run_submit, write_config
from tests.integration.test_savepoints import reason, savepoint_files, submitted, wait_until
from tests.integration.unprocessed_proxy import UnprocessedProxy

pytestmark = pytest.mark.integration

DESCRIPTION = {"attributeDefinitions": [{"name": "pk", "type": "S"}, {"name": "sk", "type": "N"}],
               "keySchema": [{"name": "pk", "type": "HASH"}, {"name": "sk", "type": "RANGE"}]}
FILE_SUMMARY = re.compile(r"migrator task (\d+): files \[([\d, ]*)\] transferred (\d+) items")


def demo_files(sizes: list[int]) -> list[list[dict]]:
    """Demo items (every attribute type, composite key) cut into data files of these sizes."""
    items = list(sample_items.demo_items(sum(sizes)))
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return [items[start:start + size] for start, size in zip(starts, sizes)]


def export_config(path: Path, moto_source, export_bucket: str, manifest_key: str, target_url: str, table: str, *,
                  description: dict = DESCRIPTION, target_extra: dict | None = None, top: dict | None = None) -> Path:
    """A config reading the export in moto's S3 into `table`."""
    write_config(path, moto_source.url, "unused", target_url, table, target_extra={"type": "dynamodb",
                                                                                    **(target_extra or {})}, top=top)
    doc = yaml.safe_load(path.read_text())
    doc["source"] = {"type": "dynamodb-s3-export", "bucket": export_bucket, "manifestKey": manifest_key,
                     "tableDescription": description, "endpoint": doc["source"]["endpoint"], "region": "us-east-1",
                     "credentials": doc["source"]["credentials"], "usePathStyleAccess": True}
    doc["target"].pop("streamChanges", None)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def file_counts(output: str) -> dict[int, tuple[list[int], int]]:
    """{task: (file positions, items)} from the per-task summary lines."""
    return {int(task): ([int(f) for f in files.split(",") if f.strip()], int(items))
            for task, files, items in FILE_SUMMARY.findall(output)}


def assert_target_holds(moto_target, table: str, items: list[dict], key_names=("pk", "sk")) -> None:
    """The target holds exactly `items`, attribute for attribute (numbers and sets compared canonically)."""
    target = scan_all(client_for(moto_target), table)
    expected = sorted(items, key=lambda i: sample_items.key_of(i, key_names))
    assert len(target) == len(expected)
    assert [sample_items.canonical(i) for i in target] == [sample_items.canonical(i) for i in expected]


@pytest.fixture(scope="module")
def s3(moto_source):
    return s3_client(moto_source.url)


def test_an_export_of_several_files_one_empty_migrates_exactly_and_the_counts_add_up(moto_source, moto_target, s3,
                                                                                      tmp_path):
    """Seven data files (one empty) into three tasks: every item arrives, the task lines add up to the manifest's
    count, the target is created from tableDescription."""
    files = demo_files([300, 0, 150, 350, 80, 170, 150])
    export = build_export(s3, new_bucket(s3), files)
    table = fresh_table_name("export-copy")
    config = export_config(tmp_path / "export.yaml", moto_source, export.bucket, export.manifest_key,
                           moto_target.url, table)

    run = run_submit(config, "--master", "local[3]")

    assert run.returncode == 0, describe(run.stdout)
    assert_target_holds(moto_target, table, export.items)
    total = len(export.items)
    label = f"s3://{export.bucket}/{export.manifest_key}"
    assert f"found DynamoDB S3 export {label}: {total} items in 7 data files (FULL_EXPORT)" in run.stdout
    counts = file_counts(run.stdout)
    assert len(counts) == 3, describe(run.stdout)
    assert sorted(f for positions, _ in counts.values() for f in positions) == list(range(7))
    assert sum(n for _, n in counts.values()) == total
    assert f"{total} items read from 7 data files (exact); the manifest says {total}" in run.stdout
    assert f"migrator verdict: OK - all {total} scanned items were written" in run.stdout
    assert f"target table {table!r} does not exist; creating it (PAY_PER_REQUEST" in run.stdout
    assert "dummy-secret" not in run.stdout


def test_the_aws_sample_migrates_exactly(moto_source, moto_target, s3, tmp_path):
    """The real AWS export, at the keys AWS wrote (full keys in its manifests), arrives item for item."""
    bucket = new_bucket(s3)
    manifest_key = put_sample(s3, bucket)
    table = fresh_table_name("aws-sample")
    config = export_config(tmp_path / "sample.yaml", moto_source, bucket, manifest_key, moto_target.url, table,
                           description=SAMPLE_DESCRIPTION)

    run = run_submit(config, "--master", "local[2]")

    assert run.returncode == 0, describe(run.stdout)
    assert_target_holds(moto_target, table, aws_sample(), key_names=("id",))
    assert "3 items read from 1 data files (exact); the manifest says 3" in run.stdout


def test_a_corrupted_data_file_fails_the_job_naming_the_file(moto_source, moto_target, s3, tmp_path):
    """A data file's bytes changed after the export: its MD5 differs from the manifest's; exit 1 naming it."""
    export = build_export(s3, new_bucket(s3), demo_files([50, 60, 70]))
    key = export.files[1][0]
    body = bytearray(data_file(export.files[1][1]))
    body[len(body) // 2] ^= 0x55
    s3.put_object(Bucket=export.bucket, Key=key, Body=bytes(body))
    config = export_config(tmp_path / "corrupt.yaml", moto_source, export.bucket, export.manifest_key,
                           moto_target.url, fresh_table_name("corrupt"))

    run = run_submit(config, "--master", "local[2]", "--conf", "spark.task.maxFailures=1")

    assert run.returncode == 1, describe(run.stdout)
    assert f"s3://{export.bucket}/{key}: its MD5 differs from the manifest's md5Checksum" in run.stdout, \
        describe(run.stdout)


def test_a_killed_import_resumes_from_its_savepoint_and_copies_only_the_files_left(moto_source, moto_target, s3,
                                                                                   tmp_path):
    """kill -9 once a savepoint records some finished files; the resumed run skips them and the target ends
    equal to the export."""
    files = demo_files([50] * 16)
    export = build_export(s3, new_bucket(s3), files)
    keys = [f.removeprefix(export.manifest_key.rsplit("/", 1)[0] + "/") for f, _ in export.files]
    table = fresh_table_name("export-resume")
    savepoints = tmp_path / "savepoints"
    with UnprocessedProxy(moto_target.url, forward_every=1, write_delay=0.2) as proxy:
        config = export_config(tmp_path / "resume.yaml", moto_source, export.bucket, export.manifest_key, proxy.url,
                               table, top={"savepoints": {"path": str(savepoints), "intervalSeconds": 1}})
        log = tmp_path / "first.log"
        with submitted(config, log, "--master", "local[2]") as run:
            def some_done():
                found = savepoint_files(savepoints)
                return found and len(skip_files(found[-1])) >= 3

            wait_until(some_done, "a savepoint with 3 files done", run, log)
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()

        newest = savepoint_files(savepoints)[-1]
        done = skip_files(newest)
        assert reason(newest) == "interval" and 3 <= len(done) < len(files)
        assert set(done) <= {f for f, _ in export.files} | set(keys)
        proxy.write_delay = 0
        resumed = run_submit(config, "--master", "local[2]", "--resume", str(savepoints))

    assert resumed.returncode == 0, describe(resumed.stdout)
    assert_target_holds(moto_target, table, export.items)
    copied = sorted(f for positions, _ in file_counts(resumed.stdout).values() for f in positions)
    assert len(copied) == len(files) - len(done), describe(resumed.stdout)
    assert f"resuming from savepoint {newest}: {len(done)} data files of the export done" in resumed.stdout
    assert f"skipping {len(done)} of {len(files)} data files already done (skipFiles)" in resumed.stdout
    final = savepoint_files(savepoints)[-1]
    assert reason(final) == "final" and len(skip_files(final)) == len(files)


def skip_files(path: Path) -> list[str]:
    return yaml.safe_load(path.read_text()).get("skipFiles") or []


def test_a_table_exported_by_the_migrator_reads_back_into_a_table_equal_to_it(moto_source, moto_target, s3,
                                                                             tmp_path):
    """Round trip: a table -> an export in moto's S3 (target type dynamodb-s3-export, keys relative to its
    manifest) -> the export source -> a new table holding the same items."""
    table, copy = fresh_table_name("round"), fresh_table_name("round-copy")
    source = client_for(moto_source)
    sample_data.create_demo_table(source, table)
    items = list(sample_items.demo_items(600))
    assert fill_table(source, table, items) == len(items)
    bucket = new_bucket(s3)
    exported = write_config(tmp_path / "out.yaml", moto_source.url, table, "http://unused:1", "unused",
                            source_extra={"scanSegments": 3})
    doc = yaml.safe_load(exported.read_text())
    doc["target"] = {"type": "dynamodb-s3-export", "path": f"s3://{bucket}/round"}
    exported.write_text(yaml.safe_dump(doc, sort_keys=False))
    env = {"AWS_ENDPOINT_URL_S3": moto_source.url, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
           "AWS_DEFAULT_REGION": "us-east-1"}
    out = run_submit(exported, "--master", "local[2]", env=env)
    assert out.returncode == 0, describe(out.stdout)

    config = export_config(tmp_path / "in.yaml", moto_source, bucket, "round/manifest-summary.json",
                           moto_target.url, copy)
    back = run_submit(config, "--master", "local[2]")

    assert back.returncode == 0, describe(back.stdout)
    assert_target_holds(moto_target, copy, scan_all(source, table))
    assert f"{len(items)} items read from 3 data files (exact); the manifest says {len(items)}" in back.stdout
