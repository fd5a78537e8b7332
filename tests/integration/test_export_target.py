"""A table written as a DynamoDB S3 export (`target.type: dynamodb-s3-export`), end to end through ./submit.sh:
a moto DynamoDB table as the source; a local directory or a prefix of moto's S3 (AWS_ENDPOINT_URL_S3) as the
target. The export is read back with the export reader (exports/manifest.py, exports/data_file.py)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import boto3
import pytest
import yaml

from migrator.codec import loads
from migrator.demo import sample_data, sample_items
from migrator.demo.sample_data import fill_table, scan_all
from migrator.demo.sample_items import canonical
from migrator.demo.servers import client_for
from migrator.exports.data_file import pages
from migrator.exports.manifest import parse_files, parse_summary
from migrator.exports.output import ExportOutput
from tests.conftest import fresh_table_name
from tests.integration.fault_proxy import FaultProxy
from tests.integration.spark_run import describe, run_submit, write_config
from tests.integration.test_savepoints import progress, savepoint_files, scanned_segments, submitted, wait_until

pytestmark = pytest.mark.integration

ITEMS = 1500
SEGMENTS = 4  # moto scans the whole table for each segment


@pytest.fixture(scope="module")
def source_table(moto_source):
    """A demo table of ITEMS items (composite key, GSI, LSI, every attribute type), shared by the module's tests:
    they only read it."""
    name = fresh_table_name("exp")
    client = client_for(moto_source)
    sample_data.create_demo_table(client, name)
    assert fill_table(client, name, sample_items.demo_items(ITEMS)) == ITEMS
    return name


@pytest.fixture
def s3_env(moto_source):
    """The environment that points the AWS default chain at moto's S3, and a fresh bucket there."""
    bucket = fresh_table_name("exp-bucket")
    boto3.client("s3", endpoint_url=moto_source.url, region_name="us-east-1", aws_access_key_id="k",
                 aws_secret_access_key="s").create_bucket(Bucket=bucket)
    env = {"AWS_ENDPOINT_URL_S3": moto_source.url, "AWS_ACCESS_KEY_ID": "exp-key",
           "AWS_SECRET_ACCESS_KEY": "exp-secret", "AWS_DEFAULT_REGION": "us-east-1"}
    return bucket, env


def export_config(tmp_path: Path, source_url: str, table: str, path: str, *, segments: int = SEGMENTS,
                  top: dict | None = None) -> Path:
    config = write_config(tmp_path / "config.yaml", source_url, table, "http://unused:1", "unused",
                          source_extra={"scanSegments": segments}, top=top)
    doc = yaml.safe_load(config.read_text())
    doc["target"] = {"type": "dynamodb-s3-export", "path": path}
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    return config


def exported_items(path: str, env: dict | None = None) -> tuple[int, list[bytes]]:
    """(data files, items) of the export at `path`, through the export reader: MD5s and counts checked."""
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        output = ExportOutput.at(path)
        summary = parse_summary(output.read("manifest-summary.json"), "manifest-summary.json")
        files = parse_files(output.read(summary.manifest_files_key), "manifest-files.json", summary)
        items = [bytes(i) for f in files for page in pages(output.read(f.key), f, f.key) for i in page]
        assert summary.item_count == len(items)
        return len(files), items
    finally:
        os.environ.clear()
        os.environ.update(saved)


def assert_export_equals_table(moto_source, table: str, items: list[bytes]) -> None:
    def key(item: dict) -> str:
        return json.dumps(canonical(item), sort_keys=True)

    expected = sorted(map(key, scan_all(client_for(moto_source), table)))
    assert len(expected) == ITEMS
    assert sorted(key(loads(i)) for i in items) == expected


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("migrator: error:")]


def test_a_table_exports_to_a_directory_that_reads_back_as_the_table(moto_source, source_table, tmp_path):
    """Every item once, in DynamoDB's layout; the total and the verdict say so."""
    path = tmp_path / "export"
    run = run_submit(export_config(tmp_path, moto_source.url, source_table, str(path)), "--master", "local[2]")

    assert run.returncode == 0, describe(run.stdout)
    files, items = exported_items(str(path))
    assert_export_equals_table(moto_source, source_table, items)
    assert f"wrote DynamoDB S3 export: {ITEMS} items in {files} data files at {path}" in run.stdout
    assert f"migrator verdict: OK - all {ITEMS} scanned items were written" in run.stdout, describe(run.stdout)
    assert sorted(p.name for p in path.iterdir()) == ["data", "manifest-files.json", "manifest-summary.json"]
    summary = json.loads((path / "manifest-summary.json").read_text())
    assert summary["tableDescription"]["keySchema"] == [{"name": "pk", "type": "HASH"}, {"name": "sk", "type": "RANGE"}]


def test_a_table_exports_to_an_s3_prefix(moto_source, source_table, tmp_path, s3_env):
    """s3://bucket/prefix with the AWS default chain and AWS_ENDPOINT_URL_S3: the export reads back as the table."""
    bucket, env = s3_env
    path = f"s3://{bucket}/exports/orders"
    run = run_submit(export_config(tmp_path, moto_source.url, source_table, path), "--master", "local[2]", env=env)

    assert run.returncode == 0, describe(run.stdout)
    assert f"target: dynamodb-s3-export {path} at {moto_source.url} (region us-east-1)" in run.stdout
    files, items = exported_items(path, env)
    assert_export_equals_table(moto_source, source_table, items)
    assert f"wrote DynamoDB S3 export: {ITEMS} items in {files} data files at {path}" in run.stdout
    assert "exp-secret" not in run.stdout


def test_an_output_that_holds_files_is_refused_before_anything_is_read(moto_source, source_table, tmp_path):
    """Status 2, one line naming target.path and the fix; the file there is left alone."""
    path = tmp_path / "full"
    path.mkdir()
    (path / "keep.txt").write_text("mine")
    run = run_submit(export_config(tmp_path, moto_source.url, source_table, str(path)), "--master", "local[1]")

    assert run.returncode == 2, describe(run.stdout)
    assert error_lines(run.stdout) == [f"migrator: error: target.path: {str(path)!r} is not empty; an export is "
                                       "written into an empty directory or S3 prefix only: name a new one, or empty "
                                       "it"]
    assert "Traceback" not in run.stdout
    assert [p.name for p in path.iterdir()] == ["keep.txt"]


def test_an_export_into_a_missing_bucket_fails(moto_source, source_table, tmp_path, s3_env):
    """No such bucket: status 1 and the cause, naming the S3 location."""
    _, env = s3_env
    path = f"s3://{fresh_table_name('no-bucket')}/exports"
    run = run_submit(export_config(tmp_path, moto_source.url, source_table, path), "--master", "local[1]", env=env)

    assert run.returncode == 1, describe(run.stdout)
    (line,) = error_lines(run.stdout)
    assert line.startswith(f"migrator: error: {path}: cannot list it: ") and "NoSuchBucket" in line, line


def test_a_killed_export_resumes_from_its_savepoint_and_holds_every_item_once(moto_source, source_table, tmp_path):
    """kill -9 after some segments are done; --resume copies only the rest, removes the killed attempt's files,
    and the export holds each item once."""
    segments, path, savepoints = 8, tmp_path / "export", tmp_path / "savepoints"
    with FaultProxy(moto_source.url, rates={"slow": 1.0}, seed=3, slow_seconds=1.0,
                    operations=frozenset({"Scan"})) as proxy:
        config = export_config(tmp_path, proxy.url, source_table, str(path), segments=segments,
                               top={"savepoints": {"path": str(savepoints), "intervalSeconds": 1}})
        log = tmp_path / "first.log"
        with submitted(config, log, "--master", "local[1]") as run:
            def some_done():
                files = savepoint_files(savepoints)
                return files and len(progress(files[-1])) >= 3

            wait_until(some_done, "a savepoint with 3 segments done", run, log)
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
        done = progress(savepoint_files(savepoints)[-1])
        assert 3 <= len(done) < segments
        assert not (path / "manifest-summary.json").exists()

        proxy.slow_seconds = 0
        resumed = run_submit(config, "--master", "local[2]", "--resume", str(savepoints))

    assert resumed.returncode == 0, describe(resumed.stdout)
    assert scanned_segments(resumed.stdout) == sorted(set(range(segments)) - done), describe(resumed.stdout)
    files, items = exported_items(str(path))
    assert_export_equals_table(moto_source, source_table, items)
    assert sorted(p.name for p in path.iterdir()) == ["data", "manifest-files.json", "manifest-summary.json"]
    assert len(list((path / "data").iterdir())) == files
