"""`./submit.sh --demo`: a whole migration between two local servers, checked by counts.

Starts a source and a target server on free loopback ports, fills a sample table (composite key, one GSI, one LSI,
every attribute type), runs ./submit.sh on a generated config, prints the per-task counts from the job's log and
the verdict, then stops the servers. Exit status 0 only when the task counts add up to the source's item count and
the target holds that many items.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import yaml

from migrator.demo import sample_data, sample_items, servers

REPO = Path(__file__).resolve().parents[2]
SOURCE_TABLE = "demo-orders"
TARGET_TABLE = "demo-orders-copy"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="submit.sh --demo", description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000, help="items in the sample table (default 20000)")
    parser.add_argument("--server", choices=("moto", "dynalite"), default=None,
                        help="local DynamoDB-compatible server (default dynalite when installed, else moto)")
    parser.add_argument("--segments", type=int, default=8, help="source.scanSegments (default 8)")
    parser.add_argument("--max-map-tasks", type=int, default=4, help="source.maxMapTasks (default 4)")
    parser.add_argument("--out", type=Path, default=REPO / "demo-output", help="folder for config and logs")
    args, spark_args = parser.parse_known_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.server is None:
        args.server = "dynalite" if servers.dynalite_executable() else "moto"
    start = servers.start_moto if args.server == "moto" else servers.start_dynalite

    with start(args.out) as source, start(args.out) as target:
        say(f"source: {args.server} at {source.url} (pid {source.pid}); target: {args.server} at {target.url} "
            f"(pid {target.pid}, standing in for ScyllaDB Alternator)")
        client = servers.client_for(source)
        sample_data.create_demo_table(client, SOURCE_TABLE)
        began = time.monotonic()
        filled = sample_data.fill_table(client, SOURCE_TABLE, sample_items.demo_items(args.items))
        say(f"filled source table {SOURCE_TABLE!r} with {filled} items in {time.monotonic() - began:.1f} s "
            "(key pk+sk, GSI by_gsi_pk, LSI by_lsi_sk, every attribute type)")

        config = write_config(args.out / "config.yaml", source, target, args.segments, args.max_map_tasks)
        log_path = args.out / "spark-submit.log"
        say(f"running: ./submit.sh {config.relative_to(REPO)} {' '.join(spark_args)}  (full log: {log_path})")
        status = run_logged([str(REPO / "submit.sh"), str(config), *spark_args], log_path)
        output = log_path.read_text()

        counts = task_counts(output)
        source_count = sample_data.count_items(client, SOURCE_TABLE)
        target_count = sample_data.count_items(servers.client_for(target), TARGET_TABLE)
    return verdict(status, counts, source_count, target_count)


def write_config(path: Path, source, target, segments: int, max_map_tasks: int) -> Path:
    def endpoint(server) -> dict:
        return {"host": "http://127.0.0.1", "port": server.port}

    doc = {
        "source": {"type": "dynamodb", "table": SOURCE_TABLE, "region": "us-east-1", "endpoint": endpoint(source),
                   "credentials": {"accessKey": "demo", "secretKey": "demo-secret"},
                   "scanSegments": segments, "maxMapTasks": max_map_tasks},
        "target": {"type": "alternator", "table": TARGET_TABLE, "region": "us-east-1", "endpoint": endpoint(target),
                   "credentials": {"accessKey": "demo", "secretKey": "demo-secret"}, "streamChanges": False,
                   "maxItemsPerBatch": 25},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_logged(argv: list[str], log_path: Path) -> int:
    """Run `argv`, keep all its output in `log_path`, and echo the migrator's own lines."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in process.stdout:
            log.write(line)
            if " migrator" in line or line.startswith("migrator:"):
                print("  | " + line.rstrip(), flush=True)
        return process.wait()


def task_counts(output: str) -> dict[int, int]:
    from migrator.logs import TASK_SUMMARY

    return {int(task): int(items) for task, _, items in TASK_SUMMARY.findall(output)}


def verdict(status: int, counts: dict[int, int], source_count: int, target_count: int) -> int:
    say("per-task counts from the job's log:")
    for task in sorted(counts):
        say(f"  task {task:3d}: {counts[task]:8d} items")
    total = sum(counts.values())
    say(f"  sum     : {total:8d} items")
    say(f"source table holds {source_count} items; target table holds {target_count} items")
    ok = status == 0 and total == source_count == target_count
    if ok:
        say(f"verdict: OK - the task counts add up to the source's {source_count} items, and the target has them all")
        return 0
    say(f"verdict: FAILED - spark-submit exit status {status}, task sum {total}, source {source_count}, "
        f"target {target_count}")
    return 1


def say(message: str) -> None:
    print(f"demo: {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
