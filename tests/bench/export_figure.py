"""The export import figure: a DynamoDB export to S3 in a local S3 server, imported into dynalite by the migrator.

Steps, on a moto server (its S3, path-style addressing) holding the export and a dynalite target, fresh tables each:
  export_build           the main bench's items (workload.build: ~300 bytes, every attribute type) as an export the
                         way DynamoDB writes one: gzip data files of `{"Item": ...}` lines, manifest-files.json
                         (itemCount, md5Checksum, dataFileS3Key) and manifest-summary.json, under AWSDynamoDB/<id>/;
                         and an empty export (one empty data file) for Spark's start-up cost
  export_upload          both exports put into a bucket of moto's S3
  export_read_ceiling    the export read back through the migrator's own manifest and data file readers, the files
                         fetched and cut into raw items by two threads: what the source side gives, and a check of
                         the export itself
  export_ingest_ceiling  the same items as BatchWriteItem bodies sent to the target: what the target takes
  export_empty           the migrator on the empty export: Spark's start-up cost, subtracted from the import's CPU
  export_migrator        ./submit.sh with source type dynamodb-s3-export: the `migrator total` line's items/s and
                         tasks' CPU per item; the target's count checked
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import boto3
import msgspec
import yaml
from botocore.config import Config

from migrator.demo import servers
from migrator.exports import data_file
from migrator.exports.manifest import parse_files, parse_summary
from tests.bench import ceilings, process_stats, report, spark_job, workload
from tests.bench.steps import say, step

TABLE = "bench"  # the ingest ceiling's table in the target (the bodies name it)
TARGET_TABLE = "bench-import"
BUCKET = "bench-exports"
S3_PREFIX = "bench-export"  # the export's s3Prefix, as `aws dynamodb export-table-to-point-in-time` takes it
READERS = 2  # threads of the read ceiling: the tasks of --master local[2]
TABLE_DESCRIPTION = {  # the workload's table (workload.create_table) as source.tableDescription writes it
    "attributeDefinitions": [{"name": "pk", "type": "S"}, {"name": "sk", "type": "N"}],
    "keySchema": [{"name": "pk", "type": "HASH"}, {"name": "sk", "type": "RANGE"}],
}
TOTAL_LINE = re.compile(r"migrator total: (\d+) tasks transferred (\d+) items from .* in ([\d.]+) s \((\d+) items/s; "
                        r"tasks' CPU ([\d.]+) s(?:, ([\d.]+) us per item)?\)")
SOURCE_COUNT_LINE = re.compile(r"migrator source count: (.*)")


@dataclass(frozen=True)
class Export:
    """An export's objects by S3 key (data files and both manifests), as DynamoDB lays them out."""

    summary_key: str  # manifest-summary.json: the source's manifestKey
    objects: dict[str, bytes]
    items: int
    files: int
    seconds: float  # to cut the items out of the bodies, compress and list them

    @property
    def data_bytes(self) -> int:
        return sum(len(data) for key, data in self.objects.items() if key.endswith(".json.gz"))


class _Put(msgspec.Struct, gc=False):
    Item: msgspec.Raw


class _Request(msgspec.Struct, gc=False):
    PutRequest: _Put


class _Body(msgspec.Struct, gc=False):
    RequestItems: dict[str, list[_Request]]


def items_of(bodies: list[bytes]) -> list[msgspec.Raw]:
    """The items of BatchWriteItem bodies, in order, as the raw JSON they are in the bodies."""
    decode = msgspec.json.Decoder(_Body).decode
    return [request.PutRequest.Item for body in bodies for requests in decode(body).RequestItems.values()
            for request in requests]


def build_export(items: list, files: int, export_id: str | None = None) -> Export:
    """`items` (raw DynamoDB JSON) in `files` gzip data files of about equal counts, and the manifests listing them,
    under `S3_PREFIX/AWSDynamoDB/<id>/` with full keys, as AWS writes them (tests/data/aws-export-sample)."""
    started = time.monotonic()
    export_id = export_id or f"{int(time.time() * 1000):014d}-{secrets.token_hex(4)}"
    directory = f"{S3_PREFIX}/AWSDynamoDB/{export_id}/"
    bounds = [len(items) * number // files for number in range(files + 1)]
    parts = [items[bounds[n]:bounds[n + 1]] for n in range(files)]
    with ThreadPoolExecutor(max_workers=READERS) as pool:  # zlib lets go of the GIL while it compresses
        compressed = list(pool.map(_data_file, parts))
    objects: dict[str, bytes] = {}
    listed = []
    for number, (part, data) in enumerate(zip(parts, compressed)):
        name = base64.b32encode(hashlib.sha256(f"{export_id}/{number}".encode()).digest()).decode()[:26].lower()
        key = f"{directory}data/{name}.json.gz"
        objects[key] = data
        digest = hashlib.md5(data, usedforsecurity=False)
        listed.append({"itemCount": len(part), "md5Checksum": base64.b64encode(digest.digest()).decode(),
                       "etag": f"{digest.hexdigest()}-1", "dataFileS3Key": key})
    files_key = f"{directory}manifest-files.json"
    objects[files_key] = "".join(json.dumps(entry, separators=(",", ":")) + "\n" for entry in listed).encode()
    summary_key = f"{directory}manifest-summary.json"
    objects[summary_key] = json.dumps(_summary(export_id, files_key, len(items), objects),
                                      separators=(",", ":")).encode()
    return Export(summary_key, objects, len(items), files, time.monotonic() - started)


def _data_file(items: list) -> bytes:
    lines = b"".join(part for item in items for part in (b'{"Item":', item, b"}\n"))
    return gzip.compress(lines, compresslevel=6, mtime=0)


def _summary(export_id: str, files_key: str, items: int, objects: dict[str, bytes]) -> dict:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    table_arn = f"arn:aws:dynamodb:{workload.REGION}:000000000000:table/{TABLE}"
    return {"version": "2020-06-30", "exportArn": f"{table_arn}/export/{export_id}", "startTime": now, "endTime": now,
            "tableArn": table_arn, "tableId": "00000000-0000-0000-0000-000000000000", "exportTime": now,
            "s3Bucket": BUCKET, "s3Prefix": S3_PREFIX, "s3SseAlgorithm": "AES256", "s3SseKmsKeyId": None,
            "manifestFilesS3Key": files_key, "billedSizeBytes": sum(len(d) for d in objects.values()),
            "itemCount": items, "outputFormat": "DYNAMODB_JSON", "exportType": "FULL_EXPORT"}


def s3_client(url: str):
    """A boto3 S3 client for moto's S3 at `url`: path-style addressing, dummy keys."""
    return boto3.client("s3", endpoint_url=url, region_name=workload.REGION,
                        aws_access_key_id=workload.CREDENTIALS.access_key,
                        aws_secret_access_key=workload.CREDENTIALS.secret_key,
                        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 5},
                                      max_pool_connections=READERS))


def upload(url: str, exports: list[Export]) -> dict:
    """The bucket created and every object of `exports` put into it."""
    client = s3_client(url)
    started = time.monotonic()
    client.create_bucket(Bucket=BUCKET)
    for export in exports:
        for key, data in export.objects.items():
            client.put_object(Bucket=BUCKET, Key=key, Body=data)
    seconds = time.monotonic() - started
    sent = sum(len(data) for export in exports for data in export.objects.values())
    return {"seconds": round(seconds, 3), "objects": sum(len(e.objects) for e in exports), "mb": round(sent / 1e6, 1)}


def read_ceiling(url: str, export: Export, server_pid: int | None) -> dict:
    """Both manifests parsed and every data file fetched, MD5- and count-checked and cut into raw items by the
    migrator's readers, `READERS` files at a time: items/s; not ok when the export does not hold its items."""
    client = s3_client(url)
    counts: list[int] = []
    lock = threading.Lock()

    def fetch(key: str) -> bytes:
        return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def read(file) -> None:
        count = sum(len(page) for page in data_file.pages(fetch(file.key), file, f"s3://{BUCKET}/{file.key}"))
        with lock:
            counts.append(count)

    def run() -> None:
        summary = parse_summary(fetch(export.summary_key), export.summary_key)
        listed = parse_files(fetch(summary.manifest_files_key), summary.manifest_files_key, summary)
        with ThreadPoolExecutor(max_workers=READERS) as pool:
            list(pool.map(read, listed))

    result = ceilings.timed(run, None, server_pid, readers=READERS)
    result.update(items=sum(counts), files=len(counts))
    result["items_per_s"] = round(sum(counts) / result["seconds"], 1)
    if result["items"] != export.items:
        result.update(ok=False, reason=f"read {result['items']} items from the export, expected {export.items}")
    return result


def write_config(path: Path, s3_url: str, export: Export, target_url: str, target_table: str) -> Path:
    """The import's YAML: the export in moto's S3 as the source, a fresh table of the target."""
    def endpoint(url: str) -> dict:
        host, port = url.rsplit(":", 1)
        return {"host": host, "port": int(port)}

    credentials = {"accessKey": "dummy", "secretKey": "dummy-secret"}
    doc = {
        "source": {"type": "dynamodb-s3-export", "bucket": BUCKET, "manifestKey": export.summary_key,
                   "tableDescription": TABLE_DESCRIPTION, "endpoint": endpoint(s3_url), "region": workload.REGION,
                   "credentials": credentials, "usePathStyleAccess": True},
        "target": {"type": "alternator", "table": target_table, "region": workload.REGION,
                   "endpoint": endpoint(target_url), "credentials": credentials, "streamChanges": False,
                   "maxItemsPerBatch": workload.BATCH},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_migrator(out: Path, name: str, s3_url: str, export: Export, target_url: str, target_table: str,
                 server_pids: dict[str, int], timeout: float) -> dict:
    """One import through ./submit.sh, measured from outside; checked: exit 0, the total line, the target's count."""
    config = write_config(out / f"{name}.yaml", s3_url, export, target_url, target_table)
    result, output = spark_job.submit(config, out / f"{name}.log", server_pids=server_pids, timeout=timeout,
                                      first_write=(target_url, target_table) if export.items else None)
    result.update(name=name, **parse_log(output))
    reason = spark_job.exit_problem(result, output)
    if reason is None and "items_logged" not in result:
        reason = "no 'migrator total' line in the driver's output"
    if reason is None and result["items_logged"] != export.items:
        reason = f"the driver logged {result['items_logged']} items, expected {export.items}"
    if reason is None:
        result["target_count"] = count = workload.count_items(target_url, target_table)
        if count != export.items:
            reason = f"the target table {target_table!r} holds {count} items, expected {export.items}"
    result["ok"] = reason is None
    if reason:
        result["reason"] = reason
    return result


def parse_log(output: str) -> dict:
    """The driver's total line (tasks, items, job time, items/s, tasks' CPU) and its source count line."""
    found: dict = {}
    totals = TOTAL_LINE.findall(output)
    if totals:
        tasks, items, seconds, rate, cpu, per_item = totals[-1]
        found.update(tasks=int(tasks), items_logged=int(items), job_s=float(seconds), items_per_s_logged=float(rate),
                     task_cpu_s=float(cpu), task_cpu_us_per_item=float(per_item) if per_item else None)
    counted = SOURCE_COUNT_LINE.findall(output)
    if counted:
        found["source_count_line"] = counted[-1].strip()
    return found


def measure(items: int, args: argparse.Namespace, machine: dict, scan_run: dict | None = None) -> dict:
    """One run of every export step at `items` items in `args.export_files` data files; never raises for a failed
    step. `scan_run` (the main figure's result, when this run measured it): its migrator's tasks' CPU per item is
    shown beside the import's, since both depend on the machine's speed of the day."""
    out = args.out / f"export-{items}"
    out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    result: dict = {"items": items, "started": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine,
                    "steps": {},
                    "settings": {"source": "moto's S3 (one request at a time), path-style", "target": "dynalite",
                                 "data_files": args.export_files, "master": spark_job.MASTER,
                                 "connections": args.connections, "read_ceiling_threads": READERS,
                                 "batch_items": workload.BATCH, "empty_runs": args.empty_runs}}
    steps = result["steps"]
    scan = (scan_run or {}).get("steps", {}).get("migrator", {})
    if scan.get("ok") and scan.get("task_cpu_s") is not None:
        result["scan_reference"] = {"items": scan_run["items"], "task_cpu_s": scan["task_cpu_s"],
                                    "task_cpu_us_per_item": round(scan["task_cpu_s"] / scan_run["items"] * 1e6, 2)}
    say(f"export import figure, {items} items in {args.export_files} data files; output in {out}")
    with ExitStack() as stack:
        try:
            s3 = stack.enter_context(servers.start_moto(out))
            target = stack.enter_context(servers.start_dynalite(out))
        except Exception as exc:  # noqa: BLE001 - reported, then nothing else can run
            steps["servers"] = {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
            return _finish(result, began)
        pids = {"source": s3.pid, "target": target.pid}
        result["servers"] = {"source": s3.url, "target": target.url, "kind": "moto S3 -> dynalite"}
        loaded: dict = {}

        def build() -> dict:
            loaded["workload"] = w = workload.build(TABLE, items)
            loaded["export"] = export = build_export(items_of(w.bodies), args.export_files)
            loaded["empty"] = build_export([], 1)
            return {"seconds": round(w.seconds + export.seconds, 3), "items": export.items, "files": export.files,
                    "data_mb": round(export.data_bytes / 1e6, 1),
                    "data_bytes_per_item": round(export.data_bytes / max(1, export.items), 1),
                    "manifest": f"s3://{BUCKET}/{export.summary_key}"}

        def ingest() -> dict:
            workload.create_table(target.url, TABLE)
            try:
                sent = ceilings.send_bodies(target.url, loaded["workload"].bodies, TABLE, args.connections,
                                            target.pid)
                return workload.counted(sent, target.url, TABLE, items)
            finally:
                workload.delete_table(target.url, TABLE)

        def empty() -> dict:
            runs = []
            for number in range(args.empty_runs):
                table = f"{TARGET_TABLE}-empty-{number}"
                try:
                    runs.append(run_migrator(out, f"export-empty-{number}", s3.url, loaded["empty"], target.url,
                                             table, pids, timeout=600))
                finally:
                    workload.delete_table(target.url, table)
            return spark_job.mean_of(runs)

        def migrate() -> dict:
            try:
                return run_migrator(out, "export-migrator", s3.url, loaded["export"], target.url, TARGET_TABLE, pids,
                                    timeout=600 + items / 500)
            finally:
                workload.delete_table(target.url, TARGET_TABLE)

        wait = args.quiet_wait
        step(steps, "export_build", build)
        step(steps, "export_upload", lambda: upload(s3.url, [loaded["export"], loaded["empty"]]), "export_build")
        step(steps, "export_read_ceiling", lambda: read_ceiling(s3.url, loaded["export"], s3.pid), "export_upload",
             quiet_wait=wait)
        step(steps, "export_ingest_ceiling", ingest, "export_build", quiet_wait=wait)
        loaded.pop("workload", None)  # the bodies: the export holds its items compressed
        spark_job.ensure_built()  # before waiting for quiet: a rebuild would keep the CPUs busy
        step(steps, "export_empty", empty, "export_upload", quiet_wait=wait)
        spark_job.ensure_built()
        step(steps, "export_migrator", migrate, "export_upload", quiet_wait=wait)
        result["servers"]["peak_rss_mb"] = {role: process_stats.peak_rss_mb(pid) for role, pid in pids.items()}
    return _finish(result, began)


def _finish(result: dict, began: float) -> dict:
    result["total_s"] = round(time.monotonic() - began, 1)
    result["figures"] = report.export_figures(result["items"], result["steps"], result.get("scan_reference"))
    result["contention"] = report.contention(result["steps"])
    return result
