"""What a user would otherwise write: one process, boto3's Table.scan pages into Table.batch_writer().

This is the baseline the migrator has to beat. It is written the way boto3's documentation shows it: the
resource layer (items as Python types), one Scan stream, the batch writer's default buffer of 25 items.
"""

from __future__ import annotations

import time

import boto3
from botocore.config import Config

from tests.bench import workload
from tests.bench.process_stats import cpu_seconds, machine_busy_seconds

MAX_PAGES = 10_000_000


def copy(source_url: str, source_table: str, target_url: str, target_table: str, server_pids: dict[str, int]) -> dict:
    """Copy every item, then report items/s and this process's CPU per item."""
    workload.create_table(target_url, target_table)
    source = _resource(source_url).Table(source_table)
    target = _resource(target_url).Table(target_table)
    servers_before = {role: cpu_seconds(pid) for role, pid in server_pids.items()}
    busy_before = machine_busy_seconds()
    cpu_before = time.process_time()
    started = time.monotonic()
    copied = 0
    request: dict = {}
    with target.batch_writer() as writer:
        for _ in range(MAX_PAGES):
            page = source.scan(**request)
            for item in page["Items"]:
                writer.put_item(Item=item)
            copied += len(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    seconds = time.monotonic() - started
    cpu = time.process_time() - cpu_before
    servers = {role: round(cpu_seconds(pid) - servers_before[role], 3) for role, pid in server_pids.items()}
    other = machine_busy_seconds() - busy_before - cpu - sum(servers.values())
    return {
        "items": copied,
        "seconds": round(seconds, 3),
        "items_per_s": round(copied / seconds, 1) if seconds else 0.0,
        "client_cpu_s": round(cpu, 3),
        "client_cpu_us_per_item": round(cpu / copied * 1e6, 2) if copied else None,
        "server_cpu_s": servers,
        "other_cpu_share": round(other / seconds, 3) if seconds else None,
    }


def _resource(url: str):
    return boto3.resource(
        "dynamodb",
        endpoint_url=url,
        region_name=workload.REGION,
        aws_access_key_id=workload.CREDENTIALS.access_key,
        aws_secret_access_key=workload.CREDENTIALS.secret_key,
        config=Config(retries={"mode": "standard", "max_attempts": 10}),
    )
