"""A ./submit.sh run in the background, and the processes under it: for tests that act while a job runs.

The run gets its own process group; whatever is left of it is killed by that group id afterwards, never by name.
Processes are found by walking /proc from the run's PID, so that only our own Spark is ever touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from migrator.demo.servers import HOST
from tests.integration.spark_run import REPO, describe


@contextmanager
def submitted(log: Path, *args: str, env: dict | None = None):
    """./submit.sh ARGS, stdout to `log` and stderr to `log`.err; yields the Popen."""
    with open(log, "wb") as out, open(f"{log}.err", "wb") as err:
        process = subprocess.Popen([str(REPO / "submit.sh"), *args], cwd=REPO, stdout=out, stderr=err,
                                   start_new_session=True, env={**os.environ, "SPARK_LOCAL_IP": HOST, **(env or {})})
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        try:
            os.killpg(process.pid, signal.SIGKILL)  # members left: the group id cannot have been reused
        except ProcessLookupError:
            pass


def output_of(log: Path) -> str:
    """stdout then stderr of a `submitted` run."""
    return log.read_text(errors="replace") + Path(f"{log}.err").read_text(errors="replace")


def wait_until(condition, what: str, process: subprocess.Popen, log: Path, timeout: float = 180):
    """Poll `condition` until it returns something true; fail with the log's tail if `process` ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if process.poll() is not None:
            pytest.fail(f"the run ended (status {process.returncode}) before {what}:\n{describe(output_of(log))}")
        time.sleep(0.1)
    pytest.fail(f"no {what} within {timeout} s:\n{describe(output_of(log))}")


def descendants(root: int) -> list[int]:
    """PIDs of every live process under `root` (not `root` itself), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])  # after "pid (comm) state"
        children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2:].split()[1])


def python_workers(root: int) -> list[int]:
    """PySpark's Python workers under `root`: the processes that pyspark.daemon forked (the daemon excluded)."""
    daemons = {pid for pid in descendants(root) if "pyspark.daemon" in cmdline(pid)}
    workers = []
    for pid in daemons:
        try:
            if parent_of(pid) in daemons:
                workers.append(pid)
        except OSError:
            continue
    return workers


def connected_to(pid: int, port: int) -> bool:
    """Whether `pid` holds an established TCP connection to 127.0.0.1:`port`."""
    try:
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")
                  if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")}
        table = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    wanted = f"0100007F:{port:04X}"
    for line in table:
        fields = line.split()
        if fields[2] == wanted and fields[3] == "01" and fields[9] in inodes:  # 01: ESTABLISHED
            return True
    return False
