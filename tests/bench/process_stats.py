"""CPU and memory of a process tree, sampled from /proc.

`TreeSampler` walks the descendants of one pid every `interval` seconds and keeps, per process, the last
utime+stime it saw and the highest VmHWM/VmRSS. A process that exits loses at most the CPU it used after its last
sample: at most interval x ncpu seconds each (`error_bound_s`). Processes are told apart by (pid, start time), so a
reused pid is a new process.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
ROLES = ("jvm", "python-driver", "python-daemon", "python-worker", "other")


def cpu_seconds(pid: int) -> float:
    """utime+stime of `pid` so far, 0.0 when it is gone."""
    stat = _stat(pid)
    return (stat[11] + stat[12]) / TICKS if stat else 0.0


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent outside idle and iowait since boot (from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICKS


def wait_until_quiet(max_seconds: float, cores: float = 0.3, quiet_seconds: int = 3) -> dict:
    """Wait (at most `max_seconds`) until the machine spent less than `cores` busy cores for `quiet_seconds` in a row.

    Other programs on a shared machine skew every figure; this gives them a chance to finish first.
    """
    started = time.monotonic()
    quiet = 0
    busy = 0.0
    while quiet < quiet_seconds and time.monotonic() - started < max_seconds:
        before = machine_busy_seconds()
        time.sleep(1.0)
        busy = machine_busy_seconds() - before
        quiet = quiet + 1 if busy < cores else 0
    return {"waited_s": round(time.monotonic() - started, 1), "busy_cores": round(busy, 2),
            "quiet": quiet >= quiet_seconds}


def _stat(pid: int) -> list | None:
    """/proc/<pid>/stat fields after the command name: [state, ppid, ...], index 11/12 utime/stime, 19 starttime;
    the command name last."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    close = data.rindex(b")")
    rest = data[close + 2:].split()
    return [rest[0].decode()] + [int(v) for v in rest[1:]] + [data[data.index(b"(") + 1:close].decode(errors="replace")]


def _status_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in kB; zeros for a zombie or a gone process."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


@dataclass
class Proc:
    pid: int
    ppid: int
    comm: str
    cmdline: str
    role: str = "other"
    cpu_s: float = 0.0
    rss_kb: int = 0
    hwm_kb: int = 0
    alive: bool = True


@dataclass
class TreeSampler:
    """Samples `root` and its descendants in a background thread until `stop()`; bounded by `max_seconds`."""

    root: int
    interval: float = 0.1
    max_seconds: float = 7200.0
    procs: dict[tuple[int, int], Proc] = field(default_factory=dict)
    peak_rss_sum_kb: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> TreeSampler:
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        stats = {}
        children: dict[int, list[int]] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                stat = _stat(int(name))
                if stat:
                    stats[int(name)] = stat
                    children.setdefault(stat[1], []).append(int(name))
        seen = set()
        rss_sum: dict[str, int] = {}
        todo = [self.root] if self.root in stats else []
        while todo:
            pid = todo.pop()
            todo.extend(children.get(pid, []))
            stat = stats[pid]
            key = (pid, stat[19])
            proc = self.procs.get(key)
            if proc is None or proc.comm != stat[-1]:  # new, or exec'd another program (bash -> java)
                proc = self.procs[key] = Proc(pid, stat[1], stat[-1], _cmdline(pid))
            proc.role = self._role(proc)
            if stat[0] == "Z":  # exited, not reaped yet: its CPU is final, its memory gone
                proc.cpu_s = max(proc.cpu_s, (stat[11] + stat[12]) / TICKS)
                continue
            seen.add(key)
            proc.cpu_s = (stat[11] + stat[12]) / TICKS
            rss, hwm = _status_kb(pid)
            proc.rss_kb = rss
            proc.hwm_kb = max(proc.hwm_kb, hwm, rss)
            rss_sum[proc.role] = rss_sum.get(proc.role, 0) + rss
        for key, proc in self.procs.items():
            proc.alive = key in seen
        for role, total in rss_sum.items():
            self.peak_rss_sum_kb[role] = max(self.peak_rss_sum_kb.get(role, 0), total)
        self.samples += 1

    def _role(self, proc: Proc) -> str:
        """jvm, python-driver (dist/main.py), python-daemon (pyspark.daemon started by the JVM), python-worker."""
        if proc.comm == "java":
            return "jvm"
        program = proc.cmdline.split(" ", 1)[0]
        if "python" not in program:
            return "other"
        if "pyspark.daemon" in proc.cmdline or "pyspark.worker" in proc.cmdline:
            parent = next((p for p in self.procs.values() if p.pid == proc.ppid and p.alive), None)
            if parent is not None and parent.role in ("python-daemon", "python-worker"):
                return "python-worker"  # forked by the daemon
            return "python-daemon" if "pyspark.daemon" in proc.cmdline else "python-worker"
        if proc.cmdline.endswith("main.py"):
            return "python-driver"
        return "other"

    def summary(self) -> dict:
        """Per role: processes, CPU seconds, largest VmHWM (MB), peak of the summed VmRSS (MB)."""
        roles = {}
        for role in ROLES:
            members = [p for p in self.procs.values() if p.role == role]
            if not members:
                continue
            roles[role] = {
                "processes": len(members),
                "cpu_s": round(sum(p.cpu_s for p in members), 3),
                "peak_rss_mb": round(max(p.hwm_kb for p in members) / 1024, 1),
                "peak_rss_sum_mb": round(self.peak_rss_sum_kb.get(role, 0) / 1024, 1),
            }
        return {
            "roles": roles,
            "cpu_s": round(sum(p.cpu_s for p in self.procs.values()), 3),
            "processes": len(self.procs),
            "samples": self.samples,
            "interval_s": self.interval,
            "error_bound_s": round(len(self.procs) * self.interval * NCPU, 2),
            "process_list": [
                {"pid": p.pid, "ppid": p.ppid, "role": p.role, "cpu_s": round(p.cpu_s, 3),
                 "peak_rss_mb": round(p.hwm_kb / 1024, 1), "cmdline": p.cmdline[:160]}
                for p in self.procs.values()
            ],
        }


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident memory (VmHWM) in MB; None when /proc no longer has it."""
    try:
        line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmHWM"))
        return round(int(line.split()[1]) / 1024, 1)
    except (OSError, StopIteration):
        return None
