"""target.verifyCount end to end: the target is counted after the copy, and a shortfall fails the run."""

from __future__ import annotations

import pytest

from migrator.demo.sample_data import create_table, fill_table, scan_all
from migrator.demo.servers import client_for
from tests.conftest import fresh_table_name
from tests.integration.spark_run import describe, run_submit, write_config
from tests.integration.unprocessed_proxy import UnprocessedProxy

pytestmark = pytest.mark.integration

HASH_KEY = dict(key_schema=[{"AttributeName": "id", "KeyType": "HASH"}],
                attribute_definitions=[{"AttributeName": "id", "AttributeType": "S"}])
ITEMS = [{"id": {"S": f"item-{i:05d}"}, "n": {"N": str(i)}} for i in range(600)]


def source_with_items(moto_source) -> str:
    table = fresh_table_name("counted")
    client = client_for(moto_source)
    create_table(client, table, **HASH_KEY)
    assert fill_table(client, table, ITEMS) == len(ITEMS)
    return table


def test_verify_count_fails_a_run_whose_target_acknowledged_writes_it_did_not_keep(moto_source, moto_target,
                                                                                   tmp_path):
    """A proxy acknowledges every 7th BatchWriteItem without forwarding it: exit 1, FAILED naming table and counts."""
    source_table, target_table = source_with_items(moto_source), fresh_table_name("counted-copy")
    with UnprocessedProxy(moto_target.url, forward_every=1, lose_every=7) as proxy:
        config = write_config(tmp_path / "lossy.yaml", moto_source.url, source_table, proxy.url, target_table,
                              source_extra={"scanSegments": 4}, target_extra={"verifyCount": True})
        run = run_submit(config, "--master", "local[2]")
        lost = proxy.items_lost

    assert lost > 0, "the proxy lost no write"
    kept = len(scan_all(client_for(moto_target), target_table))
    assert kept == len(ITEMS) - lost
    assert run.returncode == 1, describe(run.stdout)
    assert (f"migrator verdict: FAILED - target table '{target_table}' holds {kept} items after the copy, "
            f"expected exactly {len(ITEMS)}") in run.stdout, describe(run.stdout)
    assert "migrator verdict: OK" not in run.stdout


def test_verify_count_passes_a_complete_copy_and_logs_the_count(moto_source, moto_target, tmp_path):
    """A normal run with verifyCount: exit 0, the count line says the created table holds every item written."""
    source_table, target_table = source_with_items(moto_source), fresh_table_name("counted-copy")
    config = write_config(tmp_path / "counted.yaml", moto_source.url, source_table, moto_target.url, target_table,
                          source_extra={"scanSegments": 4}, target_extra={"verifyCount": True})

    run = run_submit(config, "--master", "local[2]")

    assert run.returncode == 0, describe(run.stdout)
    assert f"migrator target count: table '{target_table}' holds {len(ITEMS)} items" in run.stdout
    assert f"this run wrote {len(ITEMS)}" in run.stdout
    assert f"migrator verdict: OK - all {len(ITEMS)} scanned items were written" in run.stdout
    assert "exact check needs --validate" not in run.stdout


def test_verify_count_of_an_existing_target_checks_at_least_and_points_to_validate(moto_source, moto_target,
                                                                                   tmp_path):
    """A target that existed with 5 items of its own holds 605: exit 0, and the log says --validate is exact."""
    source_table, target_table = source_with_items(moto_source), fresh_table_name("counted-copy")
    target = client_for(moto_target)
    create_table(target, target_table, **HASH_KEY)
    fill_table(target, target_table, [{"id": {"S": f"own-{i}"}} for i in range(5)])
    config = write_config(tmp_path / "existing.yaml", moto_source.url, source_table, moto_target.url, target_table,
                          source_extra={"scanSegments": 4}, target_extra={"verifyCount": True})

    run = run_submit(config, "--master", "local[2]")

    assert run.returncode == 0, describe(run.stdout)
    assert f"migrator target count: table '{target_table}' holds {len(ITEMS) + 5} items" in run.stdout
    assert f"at least the {len(ITEMS)} items written; an exact check needs --validate" in run.stdout
