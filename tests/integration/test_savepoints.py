"""Savepoints and resume, end to end: moto servers on loopback, the job run and interrupted through ./submit.sh.

A proxy in front of the target delays every BatchWriteItem, so that a run lasts long enough to be interrupted
after some segments; `--master local[1]` runs one task at a time. Waits are for conditions, with a bound.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path

import boto3
import pytest
import yaml

from migrator.demo import sample_data, sample_items
from migrator.demo.sample_data import fill_table, scan_all
from migrator.demo.sample_items import canonical
from migrator.demo.servers import HOST, client_for
from migrator.logs import TASK_SUMMARY
from migrator.savepoints.stores import SavepointDir
from migrator.savepoints.writer import savepoint_text
from tests.conftest import fresh_table_name
from tests.integration.spark_run import REPO, describe, run_submit, write_config
from tests.integration.unprocessed_proxy import UnprocessedProxy

pytestmark = pytest.mark.integration

SEGMENTS = 16
ITEMS = 1200
SECRET = "sp-secret-7f3a9c-must-never-be-written"
CREDENTIALS = {"accessKey": "sp-access-key", "secretKey": SECRET}
WRITE_DELAY = 0.2  # seconds per BatchWriteItem: about 0.7 s per segment of 75 items


@pytest.fixture
def source_table(moto_source):
    """A source table of ITEMS demo items (composite key, GSI, LSI, every attribute type)."""
    name = fresh_table_name("sp")
    client = client_for(moto_source)
    sample_data.create_demo_table(client, name)
    assert fill_table(client, name, sample_items.demo_items(ITEMS)) == ITEMS
    return name


def config_for(tmp_path: Path, moto_source, source_table: str, target_url: str, target_table: str, *,
               credentials: bool = True, scan_segments: int | None = SEGMENTS) -> Path:
    """A config with savepoints every second in tmp_path/savepoints; with or without credentials on both sides."""
    source_extra = {"maxMapTasks": 4, **({"scanSegments": scan_segments} if scan_segments else {})}
    path = write_config(tmp_path / "config.yaml", moto_source.url, source_table, target_url, target_table,
                        source_extra=source_extra,
                        top={"savepoints": {"path": str(tmp_path / "savepoints"), "intervalSeconds": 1}})
    doc = yaml.safe_load(path.read_text())
    for side in ("source", "target"):
        if credentials:
            doc[side]["credentials"] = dict(CREDENTIALS)
        else:
            doc[side].pop("credentials")
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@contextmanager
def submitted(config: Path, log: Path, *args: str, env: dict | None = None):
    """./submit.sh CONFIG ARGS in its own process group, output to `log`; whatever is left of it is killed after."""
    with open(log, "wb") as out:
        process = subprocess.Popen([str(REPO / "submit.sh"), str(config), *args], cwd=REPO, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, "SPARK_LOCAL_IP": HOST, **(env or {})})
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if group_alive(process.pid):  # members left: the group id cannot have been reused
            os.killpg(process.pid, signal.SIGKILL)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until(condition, what: str, process: subprocess.Popen | None, log: Path, timeout: float = 240):
    """Poll `condition` until it returns something true; fail with the log's tail if `process` ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if process is not None and process.poll() is not None:
            pytest.fail(f"the run ended (status {process.returncode}) before {what}:\n{describe(log.read_text())}")
        time.sleep(0.1)
    pytest.fail(f"no {what} within {timeout} s:\n{describe(log.read_text())}")


def savepoint_files(directory: Path) -> list[Path]:
    return [directory / name for name in SavepointDir(directory).names()]


def progress(path: Path) -> set[int]:
    return set(yaml.safe_load(path.read_text()).get("skipSegments") or [])


def reason(path: Path) -> str:
    """The reason in a savepoint's first line, e.g. `interval` or `signal: SIGINT`."""
    first = path.read_text().splitlines()[0]
    return first[first.rindex("(") + 1:first.rindex(")")]


def scanned_segments(output: str) -> list[int]:
    """Every segment the task summary lines of a run name, with repeats."""
    return sorted(int(s) for _, segments, _ in TASK_SUMMARY.findall(output) for s in segments.split(",") if s.strip())


def assert_target_equals_source(moto_source, source_table, moto_target, target_table):
    source_items = scan_all(client_for(moto_source), source_table)
    target_items = scan_all(client_for(moto_target), target_table)
    assert len(source_items) == ITEMS
    assert [canonical(item) for item in target_items] == [canonical(item) for item in source_items]


def assert_no_secret(directory: Path, *secrets: str) -> None:
    for path in directory.iterdir():
        text = path.read_text()
        for secret in secrets:
            assert secret not in text, f"{path.name} contains a secret"


def test_a_run_killed_with_sigkill_resumes_from_its_newest_interval_savepoint_and_copies_only_the_rest(
        moto_source, moto_target, source_table, tmp_path):
    """Interval savepoints appear while the job runs; after kill -9 the newest one resumes the copy exactly."""
    target_table = fresh_table_name("sp-copy")
    savepoints = tmp_path / "savepoints"
    with UnprocessedProxy(moto_target.url, forward_every=1, write_delay=WRITE_DELAY) as proxy:
        config = config_for(tmp_path, moto_source, source_table, proxy.url, target_table)
        log = tmp_path / "first.log"
        with submitted(config, log, "--master", "local[1]") as run:
            def some_done():
                files = savepoint_files(savepoints)
                return len(files) >= 2 and len(progress(files[-1])) >= 3

            wait_until(some_done, "two interval savepoints with 3 segments done", run, log)
            os.killpg(run.pid, signal.SIGKILL)  # spark-submit and everything it started: no last word
            run.wait()

        files = savepoint_files(savepoints)
        assert [reason(path) for path in files] == ["interval"] * len(files)
        steps = [progress(path) for path in files]
        assert all(earlier <= later for earlier, later in pairwise(steps)), steps
        done = steps[-1]
        assert 3 <= len(done) < SEGMENTS
        assert_no_secret(savepoints, SECRET)

        proxy.write_delay = 0
        resumed = run_submit(config, "--master", "local[2]", "--resume", str(savepoints))

    assert resumed.returncode == 0, describe(resumed.stdout)
    assert_target_equals_source(moto_source, source_table, moto_target, target_table)
    remaining = sorted(set(range(SEGMENTS)) - done)
    assert scanned_segments(resumed.stdout) == remaining, describe(resumed.stdout)
    assert f"resuming from savepoint {files[-1]}: {len(done)} of {SEGMENTS} segments done" in resumed.stdout
    assert f"skipping {len(done)} of {SEGMENTS} segments already done (skipSegments): [" in resumed.stdout
    assert f"; {len(remaining)} remain" in resumed.stdout
    final = savepoint_files(savepoints)[-1]
    assert reason(final) == "final" and progress(final) == set(range(SEGMENTS))
    assert_no_secret(savepoints, SECRET)
    assert SECRET not in resumed.stdout


@pytest.mark.parametrize("how, status", [("SIGTERM to spark-submit", 143), ("Ctrl-C", 130)])
def test_a_signal_writes_a_savepoint_and_the_savepoint_alone_resumes_the_copy(
        moto_source, moto_target, source_table, tmp_path, how, status):
    """kill PID (SIGTERM to spark-submit's JVM) or Ctrl-C (SIGINT to the process group): a savepoint, then a
    non-zero exit, nothing left running; `./submit.sh SAVEPOINT` then copies only the rest."""
    target_table = fresh_table_name("sp-copy")
    savepoints = tmp_path / "savepoints"
    chain = {"AWS_ACCESS_KEY_ID": "sp-env-key", "AWS_SECRET_ACCESS_KEY": SECRET}  # the default credential chain
    with UnprocessedProxy(moto_target.url, forward_every=1, write_delay=WRITE_DELAY) as proxy:
        config = config_for(tmp_path, moto_source, source_table, proxy.url, target_table, credentials=False)
        log = tmp_path / "first.log"
        with submitted(config, log, "--master", "local[1]", env=chain) as run:
            before = wait_until(lambda: [p for p in savepoint_files(savepoints) if len(progress(p)) >= 2],
                                "a savepoint with 2 segments done", run, log)[-1]
            if how == "Ctrl-C":
                os.killpg(run.pid, signal.SIGINT)
            else:
                run.send_signal(signal.SIGTERM)
            assert run.wait(timeout=120) == status, describe(log.read_text())
            wait_until(lambda: not group_alive(run.pid), "end of the Python driver", None, log, timeout=60)

        stopped = savepoint_files(savepoints)[-1]
        assert stopped.name > before.name
        assert reason(stopped).startswith("signal: "), stopped.read_text()
        done = progress(stopped)
        assert progress(before) <= done and len(done) < SEGMENTS
        assert_no_secret(savepoints, SECRET)
        assert SECRET not in log.read_text()

        proxy.write_delay = 0
        resumed = run_submit(stopped, "--master", "local[2]", env=chain)

    assert resumed.returncode == 0, describe(resumed.stdout)
    assert_target_equals_source(moto_source, source_table, moto_target, target_table)
    assert scanned_segments(resumed.stdout) == sorted(set(range(SEGMENTS)) - done), describe(resumed.stdout)
    assert f"skipping {len(done)} of {SEGMENTS} segments already done (skipSegments)" in resumed.stdout


def test_a_failed_job_writes_a_savepoint_of_what_was_done_before_it_failed(
        moto_source, moto_target, source_table, tmp_path):
    """A target that starts refusing writes fails the job (one attempt per task): status 1, the cause, and a
    failure savepoint holding every segment finished before."""
    target_table = fresh_table_name("sp-copy")
    savepoints = tmp_path / "savepoints"
    with UnprocessedProxy(moto_target.url, forward_every=1, write_delay=WRITE_DELAY) as proxy:
        config = config_for(tmp_path, moto_source, source_table, proxy.url, target_table)
        log = tmp_path / "first.log"
        with submitted(config, log, "--master", "local[1]") as run:
            before = wait_until(lambda: [p for p in savepoint_files(savepoints) if len(progress(p)) >= 2],
                                "a savepoint with 2 segments done", run, log)[-1]
            proxy.script_errors([(400, "ValidationException")] * 10_000)
            assert run.wait(timeout=120) == 1, describe(log.read_text())

    output = log.read_text()
    assert "migrator: error: the Spark job failed: TransferError: segment " in output, describe(output)
    assert "ValidationException: injected by the test" in output
    failed = savepoint_files(savepoints)[-1]
    assert reason(failed) == "failure: the Spark job failed", failed.read_text()
    assert progress(before) <= progress(failed) and len(progress(failed)) < SEGMENTS
    assert f"the job failed; savepoint {failed} holds {len(progress(failed))} of {SEGMENTS} segments done" in output
    assert_no_secret(savepoints, SECRET)


def test_a_savepoint_recorded_with_another_segment_count_is_refused(moto_source, moto_target, tmp_path):
    """--resume with a config whose scanSegments differs from the savepoint's: status 2, one line, nothing copied."""
    source_table, target_table = fresh_table_name("sp-count"), fresh_table_name("sp-count-copy")
    config = config_for(tmp_path, moto_source, source_table, moto_target.url, target_table, scan_segments=8)
    savepoints = SavepointDir(tmp_path / "savepoints")
    savepoints.check()
    recorded = savepoints.write(savepoint_text(yaml.safe_load(config.read_text()), total_segments=16,
                                               done={0, 1, 2}, reason="interval"))

    run = run_submit(config, "--master", "local[1]", "--resume", str(recorded))

    assert run.returncode == 2, describe(run.stdout)
    errors = [line for line in run.stdout.splitlines() if line.startswith("migrator: error:")]
    assert errors == [f"migrator: error: --resume: savepoint {str(recorded)!r} was recorded with 16 scan segments "
                      "but source.scanSegments is 8; its segment numbers name other data with another count, so set "
                      "source.scanSegments: 16 (or remove it) to resume, or run without --resume to start over"]
    assert target_table not in client_for(moto_target).list_tables()["TableNames"]


def test_a_savepoint_alone_says_which_credentials_it_lacks(moto_source, moto_target, tmp_path):
    """A savepoint of a config with credentials, run as the config: status 2 and how to resume instead."""
    config = config_for(tmp_path, moto_source, "src", moto_target.url, "dst")
    savepoints = SavepointDir(tmp_path / "savepoints")
    savepoints.check()
    alone = savepoints.write(savepoint_text(yaml.safe_load(config.read_text()), total_segments=16, done={0},
                                            reason="failure"))
    assert SECRET not in alone.read_text()

    run = run_submit(alone, "--master", "local[1]")

    assert run.returncode == 2, describe(run.stdout)
    assert ("migrator: error: source.credentials: not stored in savepoints; resume with your own config plus this "
            "savepoint: ./submit.sh YOUR_CONFIG --resume SAVEPOINT, or delete this line from the savepoint to use "
            "the AWS default credential chain") in run.stdout
    assert "Traceback" not in run.stdout


def test_savepoints_can_go_to_s3_and_a_run_resumes_from_there(moto_source, moto_target, source_table, tmp_path):
    """savepoints.path s3://bucket/prefix (moto's S3, AWS default chain): the final savepoint is an object there,
    without the secret, and --resume with the prefix reads it."""
    bucket, target_table = fresh_table_name("sp-bucket"), fresh_table_name("sp-copy")
    s3_env = {"AWS_ENDPOINT_URL_S3": moto_source.url, "AWS_ACCESS_KEY_ID": "sp-env-key",
              "AWS_SECRET_ACCESS_KEY": "sp-env-secret", "AWS_DEFAULT_REGION": "us-east-1"}
    s3 = boto3.client("s3", endpoint_url=moto_source.url, region_name="us-east-1", aws_access_key_id="k",
                      aws_secret_access_key="s")
    s3.create_bucket(Bucket=bucket)
    config = config_for(tmp_path, moto_source, source_table, moto_target.url, target_table)
    doc = yaml.safe_load(config.read_text())
    doc["savepoints"]["path"] = f"s3://{bucket}/runs/orders"
    config.write_text(yaml.safe_dump(doc, sort_keys=False))

    first = run_submit(config, "--master", "local[2]", env=s3_env)

    assert first.returncode == 0, describe(first.stdout)
    assert_target_equals_source(moto_source, source_table, moto_target, target_table)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="runs/orders/")["Contents"])
    assert keys and all(key.startswith("runs/orders/savepoint_") for key in keys), keys
    final = s3.get_object(Bucket=bucket, Key=keys[-1])["Body"].read().decode()
    assert "(final)" in final.splitlines()[0] and yaml.safe_load(final)["skipSegments"] == list(range(SEGMENTS))
    for key in keys:
        assert SECRET not in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()

    again = run_submit(config, "--master", "local[1]", "--resume", f"s3://{bucket}/runs/orders", env=s3_env)

    assert again.returncode == 0, describe(again.stdout)
    assert f"resuming from savepoint s3://{bucket}/{keys[-1]}: {SEGMENTS} of {SEGMENTS} segments done" in again.stdout
    assert f"migrator verdict: OK - nothing to copy, all {SEGMENTS} segments are done" in again.stdout
    assert scanned_segments(again.stdout) == []
