"""One migration through ./submit.sh, measured from outside: times, CPU, memory, and whether every item arrived.

Times: wall (submit to exit), job (the driver's `migrator total: ... in S s` line, Spark start-up excluded) and
first write (a Limit=1 Scan of the target every 50 ms until it returns an item). CPU: the whole spark-submit tree
twice, by /proc sampling per process (`TreeSampler`, per role) and by wait4's rusage (exact for the processes that
were reaped into it). Memory: VmHWM of the JVM, the Python driver and the Python workers.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

from migrator.errors import MigratorError
from tests.bench import workload
from tests.bench.process_stats import TreeSampler, cpu_seconds, machine_busy_seconds
from tests.integration.spark_run import write_config

REPO = Path(__file__).resolve().parents[2]
MASTER = "local[2]"
POLL_S = 0.05
TOTAL_LINE = re.compile(r"migrator total: (\d+) tasks transferred (\d+) items from .* in ([\d.]+) s "
                        r"\(.*; tasks' CPU ([\d.]+) s")
# The driver's last line before the Spark job starts, with the logging module's local-time stamp.
JOB_START_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO migrator\.jobs\.migrate: scanning ", re.M)


def ensure_built() -> None:
    """Rebuild now, outside the timings, if submit.sh would (dist/migrator.zip older than migrator/)."""
    zip_path = REPO / "dist" / "migrator.zip"
    newest = max((p.stat().st_mtime for p in (REPO / "migrator").rglob("*.py")), default=0.0)
    if zip_path.exists() and zip_path.stat().st_mtime >= newest and (REPO / "dist" / "migrator-env.tar.gz").exists():
        return
    subprocess.run([str(REPO / "build.sh")], cwd=REPO, check=True, stdout=subprocess.DEVNULL, timeout=900)


def run(out_dir: Path, name: str, source_url: str, source_table: str, target_url: str, target_table: str, *,
        segments: int, expected_items: int, server_pids: dict[str, int], timeout: float,
        top: dict | None = None) -> dict:
    """Run the migrator once (`top`: more top-level config keys, such as renames); the result says `ok` False with
    a `reason` when anything is off."""
    config = write_config(out_dir / f"{name}.yaml", source_url, source_table, target_url, target_table,
                          source_extra={"scanSegments": segments}, target_extra={"maxItemsPerBatch": 25}, top=top)
    result, output = submit(config, out_dir / f"{name}.log", server_pids=server_pids, timeout=timeout,
                            first_write=(target_url, target_table))
    result.update(name=name, segments=segments)
    found = TOTAL_LINE.findall(output)
    if found:
        tasks, items, seconds, task_cpu = found[-1]
        result.update(tasks=int(tasks), items_logged=int(items), job_s=float(seconds), task_cpu_s=float(task_cpu))
    return _verify(result, found, output, target_url, target_table, expected_items)


def submit(config: Path, log_path: Path, *, server_pids: dict[str, int], timeout: float,
           first_write: tuple[str, str] | None = None) -> tuple[dict, str]:
    """./submit.sh CONFIG --master MASTER once, measured from outside: (figures, the driver's output).

    `first_write` (target URL, table): poll that table for its first item. No verdict: the caller checks the
    exit status and the output.
    """
    ensure_built()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    servers_before = {role: cpu_seconds(pid) for role, pid in server_pids.items()}
    busy_before = machine_busy_seconds()
    first: dict = {}
    with open(log_path, "w") as log:
        submitted_at = time.time()
        started = time.monotonic()
        process = subprocess.Popen([str(REPO / "submit.sh"), str(config), "--master", MASTER], cwd=REPO, env=env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        sampler = TreeSampler(process.pid, max_seconds=timeout)
        poller = None
        try:
            sampler.start()
            if first_write:
                poller = threading.Thread(target=_poll_first_write, args=(*first_write, started, process, timeout,
                                                                          first), daemon=True)
                poller.start()
            status, rusage = _wait(process, timeout)
        finally:
            if process.returncode is None:  # interrupted: leave no spark-submit behind
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            sampler.stop()
        wall = time.monotonic() - started
        if poller is not None:
            poller.join(timeout=5)
    busy = machine_busy_seconds() - busy_before
    servers = {role: round(cpu_seconds(pid) - servers_before[role], 3) for role, pid in server_pids.items()}
    output = log_path.read_text(errors="replace")
    tree = sampler.summary()
    result = {
        "log": str(log_path),
        "exit_status": status,
        "master": MASTER,
        "wall_s": round(wall, 3),
        "first_write_s": first.get("seconds"),
        "cpu_rusage_s": round(rusage.ru_utime + rusage.ru_stime, 3) if rusage else None,
        "peak_rss_rusage_mb": round(rusage.ru_maxrss / 1024, 1) if rusage else None,
        "cpu_sampled_s": tree["cpu_s"],
        "tree": tree,
        "server_cpu_s": servers,
        "machine_busy_cpu_s": round(busy, 3),
    }
    result["cpu_s"] = result["cpu_sampled_s"]  # rusage misses the Python workers: nobody reaps them into it
    result["other_cpu_s"] = round(busy - result["cpu_s"] - sum(servers.values()), 3)
    result["other_cpu_share"] = round(result["other_cpu_s"] / wall, 3)
    job_start = JOB_START_LINE.search(output)
    if job_start:
        result["job_start_s"] = round(log_time(job_start.group(1)) - submitted_at, 3)  # submit to the job's start
    return result, output


def log_time(stamp: str) -> float:
    """The logging module's local-time stamp (2026-12-02 06:16:29,123) as a Unix time."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()  # noqa: DTZ007 - local time


def mean_of(runs: list[dict]) -> dict:
    """The mean times, CPU and per-role CPU of several runs (the empty-table runs), with the CPU spread."""
    good = [r for r in runs if r.get("ok")]
    if not good:
        return {"ok": False, "reason": "; ".join(r.get("reason", "?") for r in runs), "runs": runs}

    def mean(values) -> float | None:
        values = [v for v in values if v is not None]
        return round(sum(values) / len(values), 3) if values else None

    roles = {role for r in good for role in r["tree"]["roles"]}
    return {
        "ok": True,  # the mean of the runs that worked; the others are listed with their reasons
        **({} if len(good) == len(runs) else {"failed_runs": [r.get("reason") for r in runs if not r.get("ok")]}),
        "wall_s": mean(r["wall_s"] for r in good),
        "job_s": mean(r.get("job_s") for r in good),
        "cpu_s": mean(r["cpu_s"] for r in good),
        "cpu_spread_s": round(max(r["cpu_s"] for r in good) - min(r["cpu_s"] for r in good), 3),
        "tree": {"roles": {role: {"cpu_s": mean(r["tree"]["roles"].get(role, {}).get("cpu_s", 0.0) for r in good)}
                           for role in roles}},
        "runs": runs,
    }


def exit_problem(result: dict, output: str) -> str | None:
    """Why a run that should have ended with exit 0 did not, or None."""
    status = result["exit_status"]
    if status is None:
        return f"timed out after {result['wall_s']:.0f} s and was killed"
    if status != 0:
        return f"exit status {status}: {_last_error(output)}"
    return None


def _verify(result: dict, found: list, output: str, target_url: str, target_table: str,
            expected: int) -> dict:
    reason = exit_problem(result, output)
    if reason is None and not found:
        reason = "no 'migrator total' line in the driver's output"
    if reason is None:
        try:
            result["target_count"] = workload.count_items(target_url, target_table)
        except MigratorError as exc:
            reason = f"counting the target failed: {exc}"
    if reason is None and result["target_count"] != expected:
        reason = f"the target holds {result['target_count']} items, expected {expected}"
    if reason is None and result["items_logged"] != expected:
        reason = f"the driver logged {result['items_logged']} items, expected {expected}"
    result["ok"] = reason is None
    if reason:
        result["reason"] = reason
    return result


def _wait(process: subprocess.Popen, timeout: float):
    """(exit status, rusage of the tree reaped into it); (None, None) after killing it on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
        if pid == process.pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, rusage
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the session submit.sh started: spark-submit and its children
    process.wait()
    return None, None


def _poll_first_write(url: str, table: str, started: float, process: subprocess.Popen, timeout: float,
                      into: dict) -> None:
    deadline = started + timeout
    with workload.api(url, connections=1, attempts=1) as api:
        while process.returncode is None and time.monotonic() < deadline:
            try:
                if api.call("Scan", {"TableName": table, "Limit": 1}).get("Items"):
                    into["seconds"] = round(time.monotonic() - started, 3)
                    return
            except MigratorError:
                pass  # the migrator has not created the table yet
            time.sleep(POLL_S)


def _last_error(output: str) -> str:
    """The driver's last error line, else its last line."""
    errors = [line for line in output.splitlines() if "error" in line.lower()]
    lines = errors or output.strip().splitlines() or ["no output"]
    return lines[-1][:400]
