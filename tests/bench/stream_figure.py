"""The stream replay figure: a backlog of changes in a moto table's stream, replayed into dynalite by the migrator.

Steps, on a moto source (one request at a time, as the tests run it: moto is the local server with Streams) and a
dynalite target, each on fresh tables:
  backlog                encode N changes (inserts, updates, deletes of live keys) as BatchWriteItem bodies
  stream_seed            the source table with a NEW_IMAGE stream, the bodies sent in order by one writer
  read_ceiling           GetRecords from TRIM_HORIZON with Limit 1000, one call after the other: moto's rate
  stream_ingest_ceiling  the same bodies sent to the target over 16 connections: the target's rate
  stream_migrator        ./submit.sh with streamChanges, skipInitialSnapshotTransfer and streamStopWhenCaughtUp: the
                         `migrator stream total:` line's changes/s and CPU per change; the target then checked item
                         by item against what the backlog leaves
"""

from __future__ import annotations

import argparse
import re
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from migrator.demo import sample_items, servers
from migrator.readers.scan import scan_pages
from tests.bench import backlog, ceilings, report, spark_job, workload
from tests.bench.steps import say, step
from tests.integration.spark_run import write_config

TABLE = "changes"
CUTOVER_S = 2  # target.streamCutoverSeconds: how long caught up before the run stops
STREAM_TOTAL = re.compile(
    r"migrator stream total: ([\d,]+) changes read, ([\d,]+) puts, ([\d,]+) deletes written from ([\d,]+) shards in "
    r"([\d.]+) s \(([\d.,]+) changes/s; tasks' CPU ([\d.]+) s, ([\d.]+) us per change\)")
STAMP = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) "
ROUND_LINE = re.compile(STAMP + r".*?stream round (\d+): ([\d,]+) puts, ([\d,]+) deletes from (\d+) shards "
                                r"\((\d+) open\); (?:lag ([\d.]+) s|(caught up))", re.M)
SETUP_LINE = re.compile(STAMP + r".*?stream: (?:reusing the|enabled a) NEW_IMAGE stream", re.M)


def measure(changes: int, args: argparse.Namespace, machine: dict) -> dict:
    """One run of every stream step at `changes` changes; never raises for a failed step."""
    out = args.out / f"stream-{changes}"
    out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    result: dict = {"changes": changes, "started": datetime.now(UTC).isoformat(timespec="seconds"),
                    "machine": machine, "steps": {},
                    "settings": {"source": "moto, one request at a time", "target": "dynalite",
                                 "page_limit": backlog.PAGE_LIMIT, "master": spark_job.MASTER,
                                 "cutover_s": CUTOVER_S, "connections": args.connections,
                                 "mix": {"update": backlog.UPDATE_SHARE, "delete": backlog.DELETE_SHARE}}}
    steps = result["steps"]
    say(f"stream replay figure, {changes} changes; output in {out}")
    with ExitStack() as stack:
        try:
            source = stack.enter_context(servers.start_moto(out))
            target = stack.enter_context(servers.start_dynalite(out))
        except Exception as exc:  # noqa: BLE001 - reported, then nothing else can run
            steps["servers"] = {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
            return _finish(result, began)
        pids = {"source": source.pid, "target": target.pid}
        result["servers"] = {"source": source.url, "target": target.url, "kind": "moto -> dynalite"}
        loaded: dict = {}

        def build() -> dict:
            loaded["backlog"] = b = backlog.build(TABLE, changes)
            return {"seconds": round(b.seconds, 3), "bodies": len(b.bodies), "changes": b.changes,
                    "inserts": b.inserts, "updates": b.updates, "deletes": b.deletes, "final_items": len(b.final)}

        def seed() -> dict:
            loaded["stream_arn"] = backlog.create_table(source.url, TABLE)
            written = backlog.write(source.url, loaded["backlog"], source.pid)
            return workload.counted(written, source.url, TABLE, len(loaded["backlog"].final))

        def ingest() -> dict:
            workload.create_table(target.url, TABLE)
            try:
                sent = ceilings.send_bodies(target.url, loaded["backlog"].bodies, TABLE, args.connections, target.pid)
                sent["changes"] = sent.pop("items")
                sent["changes_per_s"] = sent.pop("items_per_s")
                return sent
            finally:
                workload.delete_table(target.url, TABLE)

        def migrate() -> dict:
            return run_migrator(out, source.url, target.url, loaded["backlog"], pids,
                                timeout=300 + 3 * changes / 100)

        wait = args.quiet_wait
        step(steps, "backlog", build)
        step(steps, "stream_seed", seed, "backlog")
        step(steps, "read_ceiling", lambda: backlog.read_ceiling(source.url, loaded["stream_arn"], changes,
                                                                 source.pid), "stream_seed", quiet_wait=wait)
        step(steps, "stream_ingest_ceiling", ingest, "backlog", quiet_wait=wait)
        spark_job.ensure_built()
        step(steps, "stream_migrator", migrate, "stream_seed", quiet_wait=wait)
    return _finish(result, began)


def run_migrator(out: Path, source_url: str, target_url: str, changes: backlog.Backlog, server_pids: dict[str, int],
                 timeout: float) -> dict:
    """The replay of the whole backlog through ./submit.sh, stopped by streamStopWhenCaughtUp; checked."""
    target_table = f"{TABLE}-copy"
    config = write_config(out / "stream-migrator.yaml", source_url, TABLE, target_url, target_table,
                          target_extra={"streamChanges": True, "skipInitialSnapshotTransfer": True,
                                        "streamStopWhenCaughtUp": True, "streamCutoverSeconds": CUTOVER_S,
                                        "maxItemsPerBatch": 25})
    result, output = spark_job.submit(config, out / "stream-migrator.log", server_pids=server_pids, timeout=timeout)
    result.update(parse_log(output))
    reason = spark_job.exit_problem(result, output)
    if reason is None and "changes_logged" not in result:
        reason = "no 'migrator stream total' line in the driver's output"
    if reason is None and result["changes_logged"] != changes.changes:
        reason = f"the driver logged {result['changes_logged']} changes read, expected {changes.changes}"
    if reason is None:
        result["check"] = check = compare(target_url, target_table, changes.final)
        if check["missing"] or check["unexpected"] or check["differing"]:
            reason = f"the target differs from the source's end state: {check}"
    if reason:
        result.update(ok=False, reason=reason)
    return result


def parse_log(output: str) -> dict:
    """The figures of the driver's stream lines: the total line, the rounds, the time until caught up."""
    found: dict = {}
    totals = STREAM_TOTAL.findall(output)
    if totals:
        read, puts, deletes, shards, seconds, rate, cpu, per_change = (v.replace(",", "") for v in totals[-1])
        found.update(changes_logged=int(read), puts_logged=int(puts), deletes_logged=int(deletes),
                     shards=int(shards), job_s=float(seconds), changes_per_s_logged=float(rate),
                     task_cpu_s=float(cpu), task_cpu_us_per_change=float(per_change))
    rounds = ROUND_LINE.findall(output)
    found["rounds"] = len(rounds)
    setup = SETUP_LINE.search(output)
    # The first round that applied changes and read its shards to their current end; else the last round that
    # applied any (the next found nothing new: the idle rounds' line comes later, so its time would not do).
    caught = next((r for r in rounds if r[-1]), rounds[-1] if rounds else None)
    if setup and caught:
        found["catch_up_s"] = round(spark_job.log_time(caught[0]) - spark_job.log_time(setup.group(1)), 3)
        found["rounds_to_catch_up"] = int(caught[1])
    return found


def compare(url: str, table: str, expected: dict[tuple, dict], segments: int = 4) -> dict:
    """Every item of the target against the expected end state (numbers and sets compared canonically)."""
    seen: set[tuple] = set()
    differing: list[tuple] = []
    unexpected: list[tuple] = []
    with workload.api(url, connections=segments) as api:
        for segment in range(segments):
            for page in scan_pages(api, table, segment, segments):
                for item in page:
                    key = sample_items.key_of(item, ("pk", "sk"))
                    seen.add(key)
                    want = expected.get(key)
                    if want is None:
                        unexpected.append(key)
                    elif sample_items.canonical(item) != sample_items.canonical(want):
                        differing.append(key)
    missing = [key for key in expected if key not in seen]
    return {"items": len(seen), "expected": len(expected), "missing": len(missing), "unexpected": len(unexpected),
            "differing": len(differing),
            "examples": [str(k) for k in (missing[:2] + unexpected[:2] + differing[:2])]}


def _finish(result: dict, began: float) -> dict:
    result["total_s"] = round(time.monotonic() - began, 1)
    result["figures"] = report.stream_figures(result["changes"], result["steps"])
    result["contention"] = report.contention(result["steps"])
    return result
