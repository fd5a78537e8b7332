"""The fault suite: migrations through proxies that inject faults, end to end through ./submit.sh.

Source and target are dynalite servers on 127.0.0.1 (safe under concurrent writes, unlike moto); a FaultProxy
stands in front of each. Every test ends with the two tables compared item by item in wire format.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from migrator.demo import sample_data, sample_items
from migrator.demo.sample_data import fill_table, scan_all
from migrator.demo.servers import client_for, start_dynalite
from tests.conftest import fresh_table_name
from tests.integration.fault_proxy import KINDS, FaultProxy
from tests.integration.spark_process import connected_to, output_of, python_workers, submitted, wait_until
from tests.integration.spark_run import describe, run_submit, write_config

pytestmark = pytest.mark.integration

ITEMS = 3000
SEED = 20261202
# Per data-path request. 12 attempts per request make a request that fails every time vanishingly rare (0.3^12).
RATES = {"server_error": 0.06, "throttle": 0.06, "cut_short": 0.06, "dropped": 0.06, "slow": 0.04}
SLOW_SECONDS = 2.0  # well under the client's 60 s read timeout
OUTAGE_AFTER = 60  # the target's data-path request that starts its 10 s outage: about a third of the run's


@pytest.fixture(scope="module")
def dynalite_pair(tmp_path_factory):
    """Two dynalite servers, source and target, shared by this module's tests."""
    with start_dynalite(tmp_path_factory.mktemp("dynalite-source")) as source, \
            start_dynalite(tmp_path_factory.mktemp("dynalite-target")) as target:
        yield source, target


@pytest.fixture(scope="module")
def source_table(dynalite_pair):
    """ITEMS demo items (composite key, GSI, LSI, every attribute type) in the source dynalite."""
    source, _ = dynalite_pair
    name = fresh_table_name("faults")
    client = client_for(source)
    sample_data.create_demo_table(client, name)
    assert fill_table(client, name, sample_items.demo_items(ITEMS)) == ITEMS
    return name


def assert_tables_identical(source, source_table, target, target_table):
    """The target holds exactly the source's items, in wire format to the letter, and ITEMS of them."""
    source_items = scan_all(client_for(source), source_table)
    target_items = scan_all(client_for(target), target_table)
    assert len(source_items) == ITEMS
    assert len(target_items) == ITEMS, f"{ITEMS - len(target_items)} items lost"
    for want, got in zip(source_items, target_items):
        assert got == want


def test_every_fault_kind_and_a_10_second_target_outage_still_copy_every_item_exactly(dynalite_pair, source_table,
                                                                                      tmp_path):
    """5xx, throttles, cut-short answers, dropped connections, slow answers on both sides and the target unreachable
    for 10 s: exit 0, every item exact."""
    source, target = dynalite_pair
    target_table = fresh_table_name("faults-copy")
    with FaultProxy(source.url, rates=RATES, seed=SEED, slow_seconds=SLOW_SECONDS) as source_proxy, \
            FaultProxy(target.url, rates=RATES, seed=SEED + 1, slow_seconds=SLOW_SECONDS,
                       outage_after=OUTAGE_AFTER, outage_seconds=10.0) as target_proxy:
        config = write_config(tmp_path / "faults.yaml", source_proxy.url, source_table, target_proxy.url,
                              target_table, source_extra={"scanSegments": 24, "maxMapTasks": 4})
        started = time.monotonic()
        run = run_submit(config, timeout=300)
        seconds = time.monotonic() - started
        injected = {"source": source_proxy.injected(), "target": target_proxy.injected()}
        outages = list(target_proxy.outages)

    print(f"fault figures: {injected}, run {seconds:.1f} s, task attempts lost {run.stdout.count('Lost task')}")
    assert run.returncode == 0, describe(run.stdout)
    for side, counts in injected.items():
        for kind in KINDS:
            assert counts[kind] >= 1, f"no {kind} injected on the {side} side: {injected}"
    # The outage happened mid-run: connections were reset during it, and writes still came after it.
    assert len(outages) == 1, outages
    assert injected["target"]["outage_resets"] > 1, injected
    assert injected["target"]["requests"] > OUTAGE_AFTER + 10, injected
    assert f"migrator verdict: OK - all {ITEMS} scanned items were written" in run.stdout, describe(run.stdout)
    assert_tables_identical(source, source_table, target, target_table)


def test_a_python_worker_killed_mid_task_is_rerun_by_spark_and_every_item_arrives(dynalite_pair, source_table,
                                                                                   tmp_path):
    """SIGKILL to the Python worker that is writing a task: Spark runs the task again, exit 0, every item exact."""
    source, target = dynalite_pair
    target_table = fresh_table_name("killed-copy")
    log = tmp_path / "run.log"
    # Slow writes keep the task running long after its first write.
    with FaultProxy(target.url, rates={}, seed=SEED, write_delay=0.3) as target_proxy:
        config = write_config(tmp_path / "kill.yaml", source.url, source_table, target_proxy.url, target_table,
                              source_extra={"scanSegments": 2, "maxMapTasks": 2})
        with submitted(log, str(config)) as run:
            wait_until(lambda: target_proxy.operations.get("BatchWriteItem", 0) >= 8, "8 writes", run, log)
            writing = wait_until(
                lambda: [pid for pid in python_workers(run.pid) if connected_to(pid, target_proxy.port)],
                "a Python worker connected to the target", run, log)
            victim = writing[0]
            os.kill(victim, signal.SIGKILL)
            target_proxy.write_delay = 0.0  # the rest of the run at full speed
            status = run.wait(timeout=300)
    output = output_of(log)

    assert status == 0, describe(output)
    assert "Lost task" in output and "Python worker exited unexpectedly" in output, describe(output)
    assert f"migrator verdict: OK - all {ITEMS} scanned items were written" in output, describe(output)
    assert_tables_identical(source, source_table, target, target_table)
