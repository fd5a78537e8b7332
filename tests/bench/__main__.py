"""`./build.sh bench [--items N] [--scaling] [--out DIR]`: measure the migrator against its servers' ceilings.

Steps of one run, each on fresh tables of two local dynalite servers (source and target):
  workload        encode N demo items (~300 bytes each, every attribute type) as BatchWriteItem bodies
  seed            send them to the source (its ingest rate is reported too), check the count
  ingest_ceiling  send the same bodies to the target: what the target can take, items/s
  scan_ceiling    parallel Scan of the source, items/s
  spark_empty     the migrator on an empty table: Spark's start-up cost
  migrator        ./submit.sh CONFIG --master local[2]: times, CPU, RSS, target count
  renames         the same copy with three renames (the hash key and two attributes): the tasks' CPU per item
  progress_off    the same copy with progress.intervalSeconds 0: what live progress costs (progress_cost.py)
  progress_hook   the per-page work transfer() does for live progress, timed here on raw items
  plain_boto3     a one-process boto3 copy (Scan pages + batch_writer), items/s
Then the stream replay figure (stream_figure.py): a backlog of changes in a moto table's stream, replayed into
dynalite, against moto's GetRecords ceiling and the target's ingest ceiling.
Then the export import figure (export_figure.py): a DynamoDB export to S3 of the same items (gzip data files and
manifests) in moto's S3, imported into dynalite, against the target's ingest ceiling.
A failed step is reported with its reason; the steps that need it are skipped, the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from migrator.demo import servers
from tests.bench import (
    ceilings, export_figure, plain_copy, process_stats, progress_cost, report, spark_job, stream_figure, workload,
)
from tests.bench.steps import say, step

REPO = Path(__file__).resolve().parents[2]
TABLE = "bench"  # in the source, and in the target for the ingest ceiling (the bodies name it)
# The renames step: the hash key and two attributes of every item (the target is created with the new key name).
RENAMES = [{"from": "pk", "to": "customer"}, {"from": "title", "to": "name"}, {"from": "price", "to": "amount"}]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./build.sh bench", description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000, help="items in the source table (default 200000)")
    parser.add_argument("--scaling", action="store_true", help="run 100000 and 1000000 items and compare them")
    parser.add_argument("--out", type=Path, default=REPO / "bench-output", help="folder for JSON, configs and logs")
    parser.add_argument("--segments", type=int, default=8,
                        help="source.scanSegments of the migrator and segments of the scan ceiling (default 8)")
    parser.add_argument("--connections", type=int, default=16, help="connections of the ingest load generator")
    parser.add_argument("--empty-runs", type=int, default=2,
                        help="runs on an empty table: Spark's start-up cost, subtracted from the run's (default 2)")
    parser.add_argument("--quiet-wait", type=float, default=120.0,
                        help="before each measured step, wait up to this many seconds for other programs to leave "
                             "the CPUs idle (default 120; 0 to not wait)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("SMALL.json", "LARGE.json"),
                        help="print the scaling comparison of two saved runs, and run nothing")
    parser.add_argument("--skip-plain", action="store_true", help="leave out the plain boto3 copy")
    parser.add_argument("--skip-renames", action="store_true", help="leave out the copy with three renames")
    parser.add_argument("--skip-progress", action="store_true",
                        help="leave out the copy without live progress and the progress hook's timing")
    parser.add_argument("--skip-ceilings", action="store_true", help="leave out the ingest and scan ceilings")
    parser.add_argument("--stream-changes", type=int, default=50_000,
                        help="changes in the stream replay figure's backlog (default 50000)")
    parser.add_argument("--skip-stream", action="store_true",
                        help="leave out the stream replay figure (--scaling leaves it out too)")
    parser.add_argument("--stream-only", action="store_true", help="run only the stream replay figure")
    parser.add_argument("--export-items", type=int, default=200_000,
                        help="items in the export import figure's export (default 200000)")
    parser.add_argument("--export-files", type=int, default=16,
                        help="data files the export's items are written to (default 16)")
    parser.add_argument("--skip-export", action="store_true",
                        help="leave out the export import figure (--scaling leaves it out too)")
    parser.add_argument("--export-only", action="store_true", help="run only the export import figure")
    args = parser.parse_args(argv)
    if min(args.items, args.segments, args.connections, args.empty_runs, args.stream_changes, args.export_items,
           args.export_files) < 1:
        parser.error("--items, --segments, --connections, --empty-runs, --stream-changes, --export-items and "
                     "--export-files must be positive")
    if args.stream_only and (args.skip_stream or args.scaling or args.export_only):
        parser.error("--stream-only runs the stream figure alone: not with --skip-stream, --scaling or --export-only")
    if args.export_only and (args.skip_export or args.scaling):
        parser.error("--export-only runs the export figure alone: not with --skip-export or --scaling")
    # dynalite keeps tables in Node's heap; the default limit (about 4 GB) is too small for 1M-item tables.
    os.environ.setdefault("NODE_OPTIONS", "--max-old-space-size=12288")
    if servers.dynalite_executable() is None:
        print("bench: dynalite not found; run ./build.sh (it installs dynalite with npm)", file=sys.stderr)
        return 2

    if args.compare:
        small, large = (json.loads(path.read_text()) for path in args.compare)
        return print_scaling(small, large, args.out)
    sizes = [] if args.stream_only or args.export_only else [100_000, 1_000_000] if args.scaling else [args.items]
    results = []
    for items in sizes:
        result = measure(items, args)
        path = report.write_json(args.out / f"bench-{items}.json", result)
        report.print_table(f"migrator benchmark, {items} items ({path})", result["figures"], result["contention"],
                           report.failures(result["steps"]))
        results.append(result)
    if not (args.skip_stream or args.scaling or args.export_only):
        changes = args.stream_changes
        result = stream_figure.measure(changes, args, report.machine_facts(REPO))
        path = report.write_json(args.out / f"bench-stream-{changes}.json", result)
        report.print_table(f"stream replay, {changes} changes ({path})", result["figures"], result["contention"],
                           report.failures(result["steps"]))
        results.append(result)
    if not (args.skip_export or args.scaling or args.stream_only):
        items = args.export_items
        scan_run = next((r for r in results if "migrator" in r["steps"]), None)
        result = export_figure.measure(items, args, report.machine_facts(REPO), scan_run)
        path = report.write_json(args.out / f"bench-export-{items}.json", result)
        report.print_table(f"export import, {items} items in {args.export_files} data files ({path})",
                           result["figures"], result["contention"], report.failures(result["steps"]))
        results.append(result)
    status = 0 if all(step.get("ok") for r in results for step in r["steps"].values()) else 1
    if args.scaling:
        status = max(status, print_scaling(results[0], results[1], args.out))
    return status


def print_scaling(small: dict, large: dict, out: Path) -> int:
    """The scaling table of two runs, also written to bench-scaling.json; 1 when a figure is missing."""
    rows = report.scaling_rows(small, large)
    path = report.write_json(out / "bench-scaling.json", {"figures": rows, "runs": [
        {"items": r["items"], "started": r.get("started"), "commit": r.get("machine", {}).get("commit")}
        for r in (small, large)]})
    report.print_table(f"scaling ({path})", rows)
    return 0 if all(r["value"] is not None for r in rows) else 1


def measure(items: int, args: argparse.Namespace) -> dict:
    """One run of every step at `items` items; never raises for a failed step."""
    out = args.out / f"run-{items}"
    out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    result: dict = {"items": items, "started": datetime.now(UTC).isoformat(timespec="seconds"),
                    "machine": report.machine_facts(REPO),
                    "settings": {"segments": args.segments, "connections": args.connections,
                                 "master": spark_job.MASTER, "table": "hash pk (S) + range sk (N), no indexes",
                                 "batch_items": workload.BATCH, "empty_runs": args.empty_runs}, "steps": {}}
    steps = result["steps"]
    say(f"{items} items; output in {out}")
    with ExitStack() as stack:
        try:
            source = stack.enter_context(servers.start_dynalite(out))
            target = stack.enter_context(servers.start_dynalite(out))
        except Exception as exc:  # noqa: BLE001 - reported, then nothing else can run
            steps["servers"] = {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
            return _finish(result, began)
        pids = {"source": source.pid, "target": target.pid}
        result["servers"] = {"source": source.url, "target": target.url, "kind": "dynalite"}
        loaded: dict = {}

        def build() -> dict:
            loaded["workload"] = w = workload.build(TABLE, items)
            return {"seconds": round(w.seconds, 3), "bodies": len(w.bodies),
                    "wire_bytes_per_item": round(w.wire_bytes_per_item, 1),
                    "item_size_bytes": round(w.item_size_bytes, 1)}

        def seed() -> dict:
            workload.create_table(source.url, TABLE)
            sent = ceilings.send_bodies(source.url, loaded["workload"].bodies, TABLE, args.connections, source.pid)
            return workload.counted(sent, source.url, TABLE, items)

        def ingest() -> dict:
            workload.create_table(target.url, TABLE)
            try:
                sent = ceilings.send_bodies(target.url, loaded["workload"].bodies, TABLE, args.connections,
                                            target.pid)
                return workload.counted(sent, target.url, TABLE, items)
            finally:
                workload.delete_table(target.url, TABLE)

        def empty() -> dict:
            workload.create_table(source.url, "empty")
            runs = [spark_job.run(out, f"spark-empty-{number}", source.url, "empty", target.url,
                                  f"empty-copy-{number}", segments=args.segments, expected_items=0,
                                  server_pids=pids, timeout=600)
                    for number in range(args.empty_runs)]
            return spark_job.mean_of(runs)

        def migrate() -> dict:
            try:
                result = spark_job.run(out, "migrator", source.url, TABLE, target.url, f"{TABLE}-copy",
                                       segments=args.segments, expected_items=items, server_pids=pids,
                                       timeout=600 + items / 500)
                result["sender_cpu_s"] = progress_cost.sender_cpu_s(Path(result["log"]).read_text(errors="replace"))
                return result
            finally:
                workload.delete_table(target.url, f"{TABLE}-copy")

        def progress_off() -> dict:
            try:
                return spark_job.run(out, "progress-off", source.url, TABLE, target.url, f"{TABLE}-quiet",
                                     segments=args.segments, expected_items=items, server_pids=pids,
                                     timeout=600 + items / 500, top={"progress": {"intervalSeconds": 0}})
            finally:
                workload.delete_table(target.url, f"{TABLE}-quiet")

        def renamed() -> dict:
            try:
                return spark_job.run(out, "renames", source.url, TABLE, target.url, f"{TABLE}-renamed",
                                     segments=args.segments, expected_items=items, server_pids=pids,
                                     timeout=600 + items / 500, top={"renames": RENAMES})
            finally:
                workload.delete_table(target.url, f"{TABLE}-renamed")

        def plain() -> dict:
            try:
                copied = plain_copy.copy(source.url, TABLE, target.url, f"{TABLE}-plain", pids)
                return workload.counted(copied, target.url, f"{TABLE}-plain", items)
            finally:
                workload.delete_table(target.url, f"{TABLE}-plain")

        wait = args.quiet_wait
        step(steps, "workload", build)
        step(steps, "seed", seed, "workload")
        if not args.skip_ceilings:
            step(steps, "ingest_ceiling", ingest, "workload", quiet_wait=wait)
        loaded.clear()  # the bodies: up to ~700 MB at 1M items
        if not args.skip_ceilings:
            step(steps, "scan_ceiling", lambda: ceilings.scan_ceiling(source.url, TABLE, args.segments, source.pid),
                 "seed", quiet_wait=wait)
        spark_job.ensure_built()  # before waiting for quiet: a rebuild would keep the CPUs busy
        step(steps, "spark_empty", empty, quiet_wait=wait)
        spark_job.ensure_built()
        step(steps, "migrator", migrate, "seed", quiet_wait=wait)
        if not args.skip_progress:
            step(steps, "progress_off", progress_off, "seed", quiet_wait=wait)
            step(steps, "progress_hook", lambda: {"us_per_item": progress_cost.page_hook_us_per_item()})
        if not args.skip_renames:
            step(steps, "renames", renamed, "seed", quiet_wait=wait)
        if not args.skip_plain:
            step(steps, "plain_boto3", plain, "seed", quiet_wait=wait)
        result["servers"]["peak_rss_mb"] = {role: process_stats.peak_rss_mb(pid) for role, pid in pids.items()}
    return _finish(result, began)


def _finish(result: dict, began: float) -> dict:
    result["total_s"] = round(time.monotonic() - began, 1)
    result["machine"]["load_average_at_end"] = os.getloadavg()
    result["figures"] = report.figures(result["items"], result["steps"])
    result["contention"] = report.contention(result["steps"])
    return result


if __name__ == "__main__":
    sys.exit(main())
