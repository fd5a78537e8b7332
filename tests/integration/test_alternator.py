"""Alternator as a cluster (node discovery, load balancing, a node failing) and throughput budgets, end to end."""

from __future__ import annotations

import threading
import time

import pytest

from migrator.demo.sample_data import count_items as count, create_table, fill_table
from migrator.demo.servers import client_for, start_dynalite
from tests.conftest import fresh_table_name
from tests.integration.alternator_nodes import AlternatorNodes
from tests.integration.spark_run import describe, run_submit, task_counts, write_config

pytestmark = pytest.mark.integration

HASH_KEY = dict(key_schema=[{"AttributeName": "id", "KeyType": "HASH"}],
                attribute_definitions=[{"AttributeName": "id", "AttributeType": "S"}])


@pytest.fixture(scope="module")
def dynalite_pair(tmp_path_factory):
    """Two dynalite servers: fast enough for runs of tens of thousands of items."""
    logs = tmp_path_factory.mktemp("dynalite")
    with start_dynalite(logs) as source, start_dynalite(logs) as target:
        yield source, target


def small_items(n: int) -> list[dict]:
    """Items of about 200 bytes: 1 WCU each."""
    return [{"id": {"S": f"item-{i:06d}"}, "n": {"N": str(i)}, "pad": {"S": "p" * 150}} for i in range(n)]


def test_writes_spread_over_the_nodes_and_survive_a_node_that_stops(dynalite_pair, tmp_path):
    """Three nodes from /localnodes all get writes; one stops answering mid-run; every item still arrives."""
    source_server, target_server = dynalite_pair
    source_table, target_table = fresh_table_name("lb"), fresh_table_name("lb-copy")
    source, target = client_for(source_server), client_for(target_server)
    create_table(source, source_table, **HASH_KEY)
    items = small_items(12_000)
    fill_table(source, source_table, items)
    with AlternatorNodes(target_server.url) as nodes:
        config = write_config(tmp_path / "lb.yaml", source_server.url, source_table, nodes.seed_url, target_table,
                              source_extra={"scanSegments": 6, "maxMapTasks": 3},
                              target_extra={"writeThroughput": 1500, "throughputWritePercent": 1.0})
        stopped_after: dict[str, int] = {}

        def stop_one_node_mid_run() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and sum(nodes.writes_by_node().values()) < 120:
                time.sleep(0.05)
            nodes.stop_node(2)
            stopped_after.update(nodes.writes_by_node())

        stopper = threading.Thread(target=stop_one_node_mid_run)
        stopper.start()
        run = run_submit(config, "--master", "local[3]")
        stopper.join()
        writes = nodes.writes_by_node()

    print(f"writes per node when node 3 stopped: {stopped_after}; at the end: {writes}")
    assert run.returncode == 0, describe(run.stdout)
    assert all(stopped_after[a] > 0 for a in nodes.addresses), stopped_after  # spread before the stop
    assert writes[nodes.addresses[2]] == stopped_after[nodes.addresses[2]]  # nothing reached the stopped node after
    assert writes[nodes.addresses[0]] > stopped_after[nodes.addresses[0]]  # ... while the others went on
    assert "3 nodes discovered through /localnodes" in run.stdout
    assert nodes.consumed_capacity_requests == []  # removeConsumedCapacity: nothing asks Alternator for capacity
    assert count(target, target_table) == len(items)
    assert sum(n for _, n in task_counts(run.stdout).values()) == len(items)


@pytest.mark.solo  # a lower bound on the rate: tests/suite.py runs it with the machine to itself
def test_write_rate_holds_the_job_budget_across_concurrent_tasks(dynalite_pair, tmp_path):
    """writeThroughput 300 x 1.0, 3 tasks at once for over 20 s: the target sees 300 WCU/s +-15%."""
    source_server, target_server = dynalite_pair
    source_table, target_table = fresh_table_name("wcu"), fresh_table_name("wcu-copy")
    source, target = client_for(source_server), client_for(target_server)
    create_table(source, source_table, **HASH_KEY)
    items = small_items(7_500)
    fill_table(source, source_table, items)
    with AlternatorNodes(target_server.url, addresses=("127.0.0.1",)) as node:
        config = write_config(tmp_path / "wcu.yaml", source_server.url, source_table, node.seed_url, target_table,
                              source_extra={"scanSegments": 6, "maxMapTasks": 3},
                              target_extra={"writeThroughput": 300, "throughputWritePercent": 1.0})
        run = run_submit(config, "--master", "local[3]")
        rate, seconds = node.rate("BatchWriteItem")

    assert run.returncode == 0, describe(run.stdout)
    assert ("write budget: 300 WCU/s (target.writeThroughput 300 x 1), shared by the tasks running at once, counted "
            "while the job runs (3 expected from Spark's parallelism: 100.0 WCU/s per task)" in run.stdout)
    assert seconds >= 15  # 80% of a run of over 20 s
    print(f"write budget 300 WCU/s: measured {rate:.1f} WCU/s over {seconds:.1f} s")
    assert 300 * 0.85 <= rate <= 300 * 1.15, f"{rate:.1f} WCU/s over {seconds:.1f} s"
    assert count(target, target_table) == len(items)


@pytest.mark.solo  # a lower bound on the rate: tests/suite.py runs it with the machine to itself
def test_read_rate_holds_the_job_budget_across_concurrent_tasks(dynalite_pair, tmp_path):
    """readThroughput 20 x 1.0 on an Alternator source, 3 tasks at once for over 20 s: 20 RCU/s +-15%."""
    source_server, target_server = dynalite_pair
    source_table, target_table = fresh_table_name("rcu"), fresh_table_name("rcu-copy")
    source, target = client_for(source_server), client_for(target_server)
    create_table(source, source_table, **HASH_KEY)
    items = small_items(12_000)
    fill_table(source, source_table, items)
    with AlternatorNodes(source_server.url, addresses=("127.0.0.1",)) as node:
        config = write_config(tmp_path / "rcu.yaml", node.seed_url, source_table, target_server.url, target_table,
                              source_extra={"type": "alternator", "scanSegments": 6, "maxMapTasks": 3,
                                            "readThroughput": 20, "throughputReadPercent": 1.0})
        run = run_submit(config, "--master", "local[3]")
        rate, seconds = node.rate("Scan")

    assert run.returncode == 0, describe(run.stdout)
    assert "read budget: 20 RCU/s (source.readThroughput 20 x 1), shared by the tasks running at once" in run.stdout
    assert seconds >= 15
    print(f"read budget 20 RCU/s: measured {rate:.2f} RCU/s over {seconds:.1f} s")
    assert 20 * 0.85 <= rate <= 20 * 1.15, f"{rate:.2f} RCU/s over {seconds:.1f} s"
    assert count(target, target_table) == len(items)


@pytest.mark.solo  # a lower bound on the rate: tests/suite.py runs it with the machine to itself
def test_write_rate_holds_the_budget_when_more_tasks_run_than_default_parallelism_says(dynalite_pair, tmp_path):
    """spark.default.parallelism 1 under local[4]: 4 tasks run at once, each takes a quarter, not the whole budget;
    the target sees writeThroughput 300 WCU/s +-10%."""
    source_server, target_server = dynalite_pair
    source_table, target_table = fresh_table_name("share"), fresh_table_name("share-copy")
    source, target = client_for(source_server), client_for(target_server)
    create_table(source, source_table, **HASH_KEY)
    items = small_items(4_500)
    fill_table(source, source_table, items)
    with AlternatorNodes(target_server.url, addresses=("127.0.0.1",)) as node:
        config = write_config(tmp_path / "share.yaml", source_server.url, source_table, node.seed_url, target_table,
                              source_extra={"scanSegments": 8, "maxMapTasks": 4},
                              target_extra={"writeThroughput": 300, "throughputWritePercent": 1.0})
        run = run_submit(config, "--master", "local[4]", "--conf", "spark.default.parallelism=1")
        rate, seconds = node.rate("BatchWriteItem")

    assert run.returncode == 0, describe(run.stdout)
    assert ("write budget: 300 WCU/s (target.writeThroughput 300 x 1), shared by the tasks running at once, counted "
            "while the job runs (1 expected from Spark's parallelism: 300.0 WCU/s per task)" in run.stdout)
    assert "budget shares: at most 4 tasks ran at once" in run.stdout
    print(f"write budget 300 WCU/s, 4 tasks, defaultParallelism 1: measured {rate:.1f} WCU/s over {seconds:.1f} s")
    assert 300 * 0.9 <= rate <= 300 * 1.1, f"{rate:.1f} WCU/s over {seconds:.1f} s"
    assert count(target, target_table) == len(items)


@pytest.mark.solo  # a lower bound on the rate: tests/suite.py runs it with the machine to itself
def test_the_validator_reads_each_table_within_its_read_budget(dynalite_pair, tmp_path):
    """readThroughput 200 x 1.0: the source's Scan and BatchGetItem reads and the target's lookups, each measured at
    a proxy in front of its table, stay within 200 RCU/s +10%; the lookups, which set the pace, use at least 80%."""
    source_server, target_server = dynalite_pair
    source_table, target_table = fresh_table_name("vrcu"), fresh_table_name("vrcu-copy")
    items = [{"id": {"S": f"item-{i:06d}"}, "pad": {"S": "p" * 3900}} for i in range(800)]  # under 4 KB: 1 RCU
    for server, table in ((source_server, source_table), (target_server, target_table)):
        create_table(client_for(server), table, **HASH_KEY)
        fill_table(client_for(server), table, items)
    with AlternatorNodes(source_server.url, addresses=("127.0.0.1",)) as source_node, \
            AlternatorNodes(target_server.url, addresses=("127.0.0.1",)) as target_node:
        config = write_config(tmp_path / "vrcu.yaml", source_node.seed_url, source_table, target_node.seed_url,
                              target_table, source_extra={"type": "alternator", "scanSegments": 6, "maxMapTasks": 3,
                                                          "readThroughput": 200, "throughputReadPercent": 1.0})
        run = run_submit("--validate", config, "--report", str(tmp_path / "report.json"), "--master", "local[3]")
        rates = {f"{side} {op}": node.rate(op) for side, node, op in (
            ("source", source_node, "Scan"), ("source", source_node, "BatchGetItem"),
            ("target", target_node, "BatchGetItem"))}

    assert run.returncode == 0, describe(run.stdout)
    assert "source read budget: 200 RCU/s (source.readThroughput 200 x 1)" in run.stdout
    assert "target read budget: 200 RCU/s (source.readThroughput 200 x 1)" in run.stdout
    print("validator, read budget 200 RCU/s per table: " + ", ".join(
        f"{what} {rate:.1f} RCU/s over {seconds:.1f} s" for what, (rate, seconds) in rates.items()))
    assert all(rate <= 200 * 1.1 for rate, _ in rates.values()), rates
    assert rates["source BatchGetItem"][0] >= 200 * 0.8 and rates["target BatchGetItem"][0] >= 200 * 0.8, rates
