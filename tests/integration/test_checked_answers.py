"""Scan answers that are not Scan answers (200 with an error body, no Items) are retried, never read as an empty
last page: through a loopback proxy in front of dynalite, with the real ./submit.sh."""

from __future__ import annotations

import re

import pytest

from migrator.demo.sample_data import create_table, fill_table, scan_all
from migrator.demo.sample_items import canonical
from migrator.demo.servers import client_for, start_dynalite
from tests.conftest import fresh_table_name
from tests.integration.scan_answer_proxy import ERROR_BODY, NO_ITEMS_BODY, ScanAnswerProxy
from tests.integration.spark_run import describe, run_submit, task_counts, write_config

pytestmark = pytest.mark.integration

HASH_KEY = dict(key_schema=[{"AttributeName": "id", "KeyType": "HASH"}],
                attribute_definitions=[{"AttributeName": "id", "AttributeType": "S"}])
ITEMS = [{"id": {"S": f"item-{i:05d}"}, "n": {"N": str(i)}, "pad": {"S": "x" * (i % 40)}} for i in range(2000)]


@pytest.fixture(scope="module")
def dynalite(tmp_path_factory):
    """One dynalite for source and target tables (safe under concurrent writes)."""
    with start_dynalite(tmp_path_factory.mktemp("dynalite")) as server:
        yield server


@pytest.fixture(scope="module")
def source_table(dynalite):
    name = fresh_table_name("answers")
    client = client_for(dynalite)
    create_table(client, name, **HASH_KEY)
    fill_table(client, name, ITEMS)
    return name


def test_a_200_scan_answer_with_an_error_body_or_without_items_is_retried_and_nothing_is_lost(
        dynalite, source_table, tmp_path):
    """One Scan answered 200 {"__type": ...InternalServerError} and one answered without Items: the run retries
    both, exits 0, and the target holds every item."""
    target_table = fresh_table_name("answers-copy")
    with ScanAnswerProxy(dynalite.url, script={1: [ERROR_BODY], 2: [NO_ITEMS_BODY]}) as proxy:
        config = write_config(tmp_path / "answers.yaml", proxy.url, source_table, dynalite.url, target_table,
                              source_extra={"scanSegments": 4})
        run = run_submit(config, "--master", "local[2]")
        mangled = proxy.mangled

    assert run.returncode == 0, describe(run.stdout)
    assert mangled == 2
    client = client_for(dynalite)
    target_items = scan_all(client, target_table)
    assert [canonical(i) for i in target_items] == [canonical(i) for i in scan_all(client, source_table)]
    assert len(target_items) == len(ITEMS)
    assert sum(n for _, n in task_counts(run.stdout).values()) == len(ITEMS)
    total = re.search(r"migrator total: \d+ throttled requests retried, (\d+) other retries", run.stdout)
    assert total and int(total.group(1)) >= 2, describe(run.stdout)  # the two replaced answers, at least


def test_every_scan_of_a_segment_answered_with_an_error_body_fails_the_run_naming_scan_table_and_segment(
        dynalite, source_table, tmp_path):
    """When every Scan of segment 1 gets a 200 with an error body, retries run out and the job exits 1 with a
    message naming Scan, the table, the segment and the cause; it never reports OK."""
    target_table = fresh_table_name("answers-fail")
    with ScanAnswerProxy(dynalite.url, always={1: ERROR_BODY}) as proxy:
        config = write_config(tmp_path / "answers-fail.yaml", proxy.url, source_table, dynalite.url, target_table,
                              source_extra={"scanSegments": 4})
        run = run_submit(config, "--master", "local[2]")
        mangled = proxy.mangled

    assert run.returncode == 1, describe(run.stdout)
    assert mangled == 12  # RetryPolicy's max_attempts, once (local[2] makes one attempt per task)
    assert (f"segment 1/4 of source table {source_table!r} -> target table {target_table!r}: "
            f"Scan of table {source_table!r} to {proxy.url} failed 12 times; last error: a 200 answer carries the "
            "error InternalServerError: injected by the test") in run.stdout, describe(run.stdout)
    assert "verdict: OK" not in run.stdout
