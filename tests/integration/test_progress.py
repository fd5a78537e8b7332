"""Live progress end to end: a throttled copy of about 40 s prints progress lines at the default interval."""

from __future__ import annotations

import re

import pytest

from migrator.demo.sample_data import count_items as count, create_table, fill_table
from migrator.demo.servers import client_for, start_dynalite
from tests.conftest import fresh_table_name
from tests.integration.spark_run import describe, run_submit, write_config

pytestmark = pytest.mark.integration

ITEMS = 12_000  # of about 200 bytes: 1 WCU each, so 40 s at 300 WCU/s
PROGRESS = re.compile(r"migrator progress: ([\d,]+) (?:of ~([\d,]+) )?items(?: \(([\d.]+)%\))?, ([\d,]+) items/s"
                      r"(?: on average)?, (ETA [^;]+|in [^;]+); (\d+) of (\d+) segments done(?: \([\d.]+%\))?; "
                      r"(\d+) throttled, (\d+) other retries")


@pytest.fixture(scope="module")
def dynalite_pair(tmp_path_factory):
    logs = tmp_path_factory.mktemp("dynalite")
    with start_dynalite(logs) as source, start_dynalite(logs) as target:
        yield source, target


def test_a_throttled_copy_prints_rising_progress_lines_and_a_final_one(dynalite_pair, tmp_path):
    """writeThroughput 300 WCU/s over 12,000 one-WCU items: at the default 10 s interval, at least three lines with
    rising counts before the verdict, and a last line with the total. dynalite's DescribeTable says ItemCount 0,
    so the segments finished give the percentage and the ETA (the unit tests cover the other sources)."""
    source_server, target_server = dynalite_pair
    source_table, target_table = fresh_table_name("progress"), fresh_table_name("progress-copy")
    source, target = client_for(source_server), client_for(target_server)
    create_table(source, source_table, key_schema=[{"AttributeName": "id", "KeyType": "HASH"}],
                 attribute_definitions=[{"AttributeName": "id", "AttributeType": "S"}])
    fill_table(source, source_table, [{"id": {"S": f"item-{i:06d}"}, "n": {"N": str(i)}, "pad": {"S": "p" * 150}}
                                      for i in range(ITEMS)])
    config = write_config(tmp_path / "progress.yaml", source_server.url, source_table, target_server.url,
                          target_table, source_extra={"scanSegments": 4, "maxMapTasks": 2},
                          target_extra={"writeThroughput": 300, "throughputWritePercent": 1.0})
    run = run_submit(config, "--master", "local[2]")
    print("\n".join(line for line in run.stdout.splitlines() if "migrator progress:" in line))

    assert run.returncode == 0, describe(run.stdout)
    lines = [(m.start(), m.groups()) for m in PROGRESS.finditer(run.stdout)]
    verdict = run.stdout.index("migrator verdict: OK")
    assert all(at < verdict for at, _ in lines)
    ticks, last = [g for _, g in lines[:-1]], lines[-1][1]
    copied = [int(g[0].replace(",", "")) for g in ticks]
    assert len(ticks) >= 3 and copied == sorted(copied) and copied[0] < copied[-1] < ITEMS, copied
    assert all(g[1] is None for _, g in lines)  # no expected item count: dynalite's ItemCount is 0
    assert all(g[4].startswith("ETA ") for g in ticks) and any(g[4].endswith("(from the segments done)") for g in ticks)
    assert last[0] == f"{ITEMS:,}" and last[4].startswith("in ")
    assert (last[5], last[6]) == ("4", "4")
    assert f"transferred {ITEMS} items" in run.stdout  # the total line agrees
    assert "progress unavailable" not in run.stdout
    assert len(re.findall(r"migrator task \d+: live progress: \d+ counts sent to the driver", run.stdout)) == 2
    assert count(target, target_table) == ITEMS
