"""Figures from the steps of a run, the goals they are held against, the printed table and the JSON file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

BUSY_WARNING_CORES = 0.3
WORKER_RSS_GOAL_MB = 300.0
CPU_GOAL_US = 20.0
INGEST_RATIO_GOAL = 0.8
RENAMES_CPU_GOAL = 1.5  # tasks' CPU per item with three renames / without (issue 14)
STREAM_RATIO_GOAL = 0.8
STREAM_CPU_GOAL_US = 30.0
SCALING_GOAL = 10.5
PROGRESS_GOAL_US = 1.0  # live progress, per item (issue 15)


def figures(items: int, steps: dict) -> list[dict]:
    """Rows of (figure, value, unit, goal, met); a figure whose step failed or was left out has value None."""
    ingest, scan, empty, run, plain = (steps.get(k, {}) for k in ("ingest_ceiling", "scan_ceiling", "spark_empty",
                                                                   "migrator", "plain_boto3"))
    good = {k: v.get("ok", False) for k, v in steps.items()}
    run_ok, empty_ok = good.get("migrator", False), good.get("spark_empty", False)
    roles = run.get("tree", {}).get("roles", {}) if run_ok else {}
    empty_roles = empty.get("tree", {}).get("roles", {}) if empty_ok else {}
    job_rate = _div(items, run.get("job_s")) if run_ok else None
    rows: list[dict] = []

    def add(name, value, unit, goal=None, met=None, digits=1):
        rows.append({"figure": name, "value": None if value is None else round(value, digits), "unit": unit,
                     "goal": goal, "met": met})

    add("target ingest ceiling (BatchWriteItem, pre-serialized)", ingest.get("items_per_s"), "items/s")
    add("  its load generator's CPU (1.0 = one core; near 1 = GIL-bound)", ingest.get("generator_cpu_share"), "cores",
        digits=2)
    add("  the target server's CPU (dynalite is one Node process)", ingest.get("server_cpu_share"), "cores", digits=2)
    add("source ingest while seeding (same load generator)", steps.get("seed", {}).get("items_per_s"), "items/s")
    add("source scan ceiling (parallel Scan)", scan.get("items_per_s"), "items/s")
    add("  its client's CPU (page cutting included)", scan.get("generator_cpu_share"), "cores", digits=2)
    add("migrator wall time (submit to exit)", run.get("wall_s") if run_ok else None, "s")
    add("migrator job time (Spark start-up excluded)", run.get("job_s") if run_ok else None, "s")
    add("migrator items/s, with Spark start-up", _div(items, run.get("wall_s")) if run_ok else None, "items/s")
    add("migrator items/s, Spark start-up excluded", job_rate, "items/s")
    steady = run.get("job_s", 0) - empty.get("job_s", 0) if run_ok and empty_ok else None
    add("migrator items/s, job time minus the empty job's (estimate)", _div(items, steady), "items/s")
    add("time from submit to the first write", run.get("first_write_s") if run_ok else None, "s", digits=2)
    add("  of which submit to the Spark job's start", run.get("job_start_s") if run_ok else None, "s", digits=2)
    ratio = _div(job_rate, ingest.get("items_per_s"))
    add("migrator / ingest ceiling", ratio, "x", f">= {INGEST_RATIO_GOAL}", _met(ratio, ">=", INGEST_RATIO_GOAL), 3)
    add("migrator / plain boto3 (job time)", _div(job_rate, plain.get("items_per_s")), "x", digits=2)
    add("migrator / plain boto3 (wall time)",
        _div(_div(items, run.get("wall_s")) if run_ok else None, plain.get("items_per_s")), "x", digits=2)
    add("plain boto3 copy", plain.get("items_per_s"), "items/s")
    add("plain boto3 copy: client CPU per item", plain.get("client_cpu_us_per_item"), "us/item")
    add("spark-submit tree CPU, whole run", run.get("cpu_s") if run_ok else None, "s", digits=2)
    add("spark-submit tree CPU, empty-table runs (Spark start-up), mean", empty.get("cpu_s") if empty_ok else None,
        "s", digits=2)
    add("  spread (max - min) of the empty-table runs' CPU", empty.get("cpu_spread_s") if empty_ok else None, "s",
        digits=2)
    add("wall time of an empty-table run, mean", empty.get("wall_s") if empty_ok else None, "s")
    add("spark-submit tree CPU per item, start-up included", _per_item(run.get("cpu_s"), 0, items) if run_ok else None,
        "us/item")
    net = _per_item(run.get("cpu_s"), empty.get("cpu_s"), items) if run_ok and empty_ok else None
    add("spark-submit tree CPU per item, start-up excluded", net, "us/item", f"<= {CPU_GOAL_US:.0f}",
        _met(net, "<=", CPU_GOAL_US))
    for role, label in (("python-worker", "Python workers"), ("jvm", "JVM"), ("python-driver", "Python driver")):
        role_net = (_per_item(_role(roles, role, "cpu_s"), _role(empty_roles, role, "cpu_s"), items)
                    if run_ok and empty_ok else None)
        add(f"{label} CPU per item, start-up excluded", role_net, "us/item")
    task_cpu = _per_item(run.get("task_cpu_s"), 0, items) if run_ok else None
    add("  the tasks' own CPU per item (logged by each task: no start-up in it)", task_cpu, "us/item")
    renames = steps.get("renames", {})
    renamed_cpu = _per_item(renames.get("task_cpu_s"), 0, items) if good.get("renames") else None
    add("the same copy with 3 renames (hash key, 2 attributes): tasks' CPU per item", renamed_cpu, "us/item")
    add("  with renames / without", _div(renamed_cpu, task_cpu), "x", f"<= {RENAMES_CPU_GOAL}",
        _met(_div(renamed_cpu, task_cpu), "<=", RENAMES_CPU_GOAL), 2)
    add("  its items/s, Spark start-up excluded", _div(items, renames.get("job_s")) if good.get("renames") else None,
        "items/s")
    rows += progress_rows(items, steps, task_cpu)
    worker_rss = _role(roles, "python-worker", "peak_rss_mb")
    add("peak RSS of one Python worker", worker_rss, "MB", f"<= {WORKER_RSS_GOAL_MB:.0f}",
        _met(worker_rss, "<=", WORKER_RSS_GOAL_MB))
    add("peak RSS of all Python workers together", _role(roles, "python-worker", "peak_rss_sum_mb"), "MB")
    add("peak RSS of the driver JVM (sampled VmHWM)", _role(roles, "jvm", "peak_rss_mb"), "MB")
    add("  largest peak RSS reaped into spark-submit's rusage", run.get("peak_rss_rusage_mb") if run_ok else None, "MB")
    add("peak RSS of the Python driver", _role(roles, "python-driver", "peak_rss_mb"), "MB")
    add("CPU of other programs during the migrator run (cores)",
        _div(run.get("other_cpu_s"), run.get("wall_s")) if run_ok else None, "cores", digits=2)
    return rows


def progress_rows(items: int, steps: dict, task_cpu: float | None) -> list[dict]:
    """What live progress costs per item: measured directly on the task side (held against the goal), and as the
    difference of two whole runs, with and without it (noise-sized: printed only). See progress_cost.py."""
    run, off, hook = (steps.get(k, {}) for k in ("migrator", "progress_off", "progress_hook"))
    sender = _per_item(run.get("sender_cpu_s"), 0, items) if run.get("ok") else None
    hook_us = hook.get("us_per_item") if hook.get("ok") else None
    direct = sender + hook_us if sender is not None and hook_us is not None else None
    off_ok = off.get("ok", False)
    off_task = _per_item(off.get("task_cpu_s"), 0, items) if off_ok else None
    whole = task_cpu - off_task if task_cpu is not None and off_task is not None else None
    tree = _per_item(run.get("cpu_s"), off.get("cpu_s"), items) if run.get("ok") and off_ok else None
    return [_row("live progress, task side: sender threads' CPU per item", sender, "us/item", digits=3),
            _row("live progress, task side: per-page hook (tally, bytes) per item", hook_us, "us/item", digits=3),
            _row("live progress, task side in all (direct)", direct, "us/item", f"< {PROGRESS_GOAL_US:.0f}",
                 None if direct is None else direct < PROGRESS_GOAL_US, 3),
            _row("live progress, whole runs: tasks' CPU per item, on - off (noisy)", whole, "us/item", digits=2),
            _row("live progress, whole runs: spark-submit tree CPU per item, on - off (noisy)", tree, "us/item",
                 digits=2),
            _row("  the tasks' CPU per item without live progress", off_task, "us/item")]


def _row(name, value, unit, goal=None, met=None, digits=1) -> dict:
    return {"figure": name, "value": None if value is None else round(value, digits), "unit": unit, "goal": goal,
            "met": met}


def stream_figures(changes: int, steps: dict) -> list[dict]:
    """The stream replay figure's rows: the two ceilings, the migrator's changes/s against the slower, CPU."""
    seed, read, ingest, run = (steps.get(k, {}) for k in ("stream_seed", "read_ceiling", "stream_ingest_ceiling",
                                                           "stream_migrator"))
    run_ok = run.get("ok", False)
    ok = {"read": read.get("ok", False), "ingest": ingest.get("ok", False)}
    ceiling = min((v for v in (read.get("changes_per_s") if ok["read"] else None,
                               ingest.get("changes_per_s") if ok["ingest"] else None) if v is not None),
                  default=None)
    rate = run.get("changes_per_s_logged") if run_ok else None
    roles = run.get("tree", {}).get("roles", {}) if run_ok else {}
    rows: list[dict] = []

    def add(name, value, unit, goal=None, met=None, digits=1):
        rows.append({"figure": name, "value": None if value is None else round(value, digits), "unit": unit,
                     "goal": goal, "met": met})

    add("backlog written to the source (BatchWriteItem, one writer)", seed.get("changes_per_s"), "changes/s")
    add("source GetRecords ceiling (TRIM_HORIZON, Limit 1000, one reader)",
        read.get("changes_per_s") if ok["read"] else None, "changes/s")
    add("  the source server's CPU while read (moto is one Python process)", read.get("server_cpu_share"), "cores",
        digits=2)
    add("target ingest ceiling (the backlog's bodies, pre-serialized)",
        ingest.get("changes_per_s") if ok["ingest"] else None, "changes/s")
    add("the slower ceiling", ceiling, "changes/s")
    add("migrator replay (its 'migrator stream total' line)", rate, "changes/s")
    ratio = _div(rate, ceiling)
    add("migrator / the slower ceiling", ratio, "x", f">= {STREAM_RATIO_GOAL}", _met(ratio, ">=", STREAM_RATIO_GOAL),
        3)
    # Where a shortfall comes from: the source server idle (the migrator not asking) or slower per change than in
    # its ceiling run (other programs on the same cores).
    source_cpu = run.get("server_cpu_s", {}).get("source") if run_ok else None
    add("  the source server's CPU share during the replay",
        _div(source_cpu, run.get("job_s")), "cores", digits=2)
    busy = _div(_div(source_cpu, run.get("job_s")), read.get("server_cpu_share") if ok["read"] else None)
    add("  that share / the ceiling run's (steadier than the ratio)",
        busy, "x", digits=3)
    ceiling_cpu = _mul(read.get("server_cpu_share"), read.get("seconds")) if ok["read"] else None
    add("  the source server's CPU per change: ceiling run", _per_item(ceiling_cpu, 0, changes), "us/change",
        digits=0)
    add("  the source server's CPU per change: replay", _per_item(source_cpu, 0, changes), "us/change", digits=0)
    add("  other programs' CPU: ceiling run", read.get("other_cpu_share") if ok["read"] else None, "cores", digits=2)
    add("  other programs' CPU: replay", _div(run.get("other_cpu_s"), run.get("wall_s")) if run_ok else None, "cores",
        digits=2)
    catch_up = run.get("catch_up_s") if run_ok else None
    add("time from the stream's setup line to the first caught-up round", catch_up, "s")
    add("  changes/s over that time (the first round's Spark start included)", _div(changes, catch_up), "changes/s")
    add("rounds until caught up", run.get("rounds_to_catch_up") if run_ok else None, "rounds", digits=0)
    add("migrator wall time (submit to exit, cut-over wait included)", run.get("wall_s") if run_ok else None, "s")
    per_change = run.get("task_cpu_us_per_change") if run_ok else None
    add("tasks' CPU per change (logged by the tasks)", per_change, "us/change", f"<= {STREAM_CPU_GOAL_US:.0f}",
        _met(per_change, "<=", STREAM_CPU_GOAL_US))
    add("Python workers' CPU per change (sampled, worker start-up included)",
        _per_item(_role(roles, "python-worker", "cpu_s"), 0, changes) if run_ok else None, "us/change")
    add("spark-submit tree CPU per change, Spark start-up included",
        _per_item(run.get("cpu_s"), 0, changes) if run_ok else None, "us/change")
    add("peak RSS of one Python worker", _role(roles, "python-worker", "peak_rss_mb"), "MB",
        f"<= {WORKER_RSS_GOAL_MB:.0f}", _met(_role(roles, "python-worker", "peak_rss_mb"), "<=", WORKER_RSS_GOAL_MB))
    return rows


def export_figures(items: int, steps: dict, scan: dict | None = None) -> list[dict]:
    """The export import figure's rows: the source's read and the target's ingest ceilings, the migrator's items/s
    against the target's, and its CPU per item (the tasks' own, and the spark-submit tree's net of start-up);
    `scan`: the table scan migrator's tasks' CPU per item in the same run, when it was measured."""
    read, ingest, empty, run = (steps.get(k, {}) for k in ("export_read_ceiling", "export_ingest_ceiling",
                                                           "export_empty", "export_migrator"))
    run_ok, empty_ok = run.get("ok", False), empty.get("ok", False)
    ceiling = ingest.get("items_per_s") if ingest.get("ok") else None
    rate = run.get("items_per_s_logged") if run_ok else None
    roles = run.get("tree", {}).get("roles", {}) if run_ok else {}
    empty_roles = empty.get("tree", {}).get("roles", {}) if empty_ok else {}
    built = steps.get("export_build", {})
    rows: list[dict] = []

    def add(name, value, unit, goal=None, met=None, digits=1):
        rows.append({"figure": name, "value": None if value is None else round(value, digits), "unit": unit,
                     "goal": goal, "met": met})

    add("export data files (gzip DynamoDB JSON lines)", built.get("files"), "files", digits=0)
    add("  compressed bytes per item", built.get("data_bytes_per_item"), "bytes")
    add("source read ceiling (S3 GET, MD5, inflate, cut; 2 threads)",
        read.get("items_per_s") if read.get("ok") else None, "items/s")
    add("  the S3 server's CPU while read (moto is one Python process)", read.get("server_cpu_share"), "cores",
        digits=2)
    add("target ingest ceiling (BatchWriteItem, pre-serialized)", ceiling, "items/s")
    add("  the target server's CPU (dynalite is one Node process)", ingest.get("server_cpu_share"), "cores", digits=2)
    add("migrator import (its 'migrator total' line)", rate, "items/s")
    ratio = _div(rate, ceiling)
    add("migrator / target ingest ceiling", ratio, "x", f">= {INGEST_RATIO_GOAL}", _met(ratio, ">=", INGEST_RATIO_GOAL),
        3)
    target_cpu = run.get("server_cpu_s", {}).get("target") if run_ok else None
    add("  the target server's CPU share during the import", _div(target_cpu, run.get("job_s")), "cores", digits=2)
    add("  the S3 server's CPU share during the import",
        _div(run.get("server_cpu_s", {}).get("source") if run_ok else None, run.get("job_s")), "cores", digits=2)
    add("migrator wall time (submit to exit)", run.get("wall_s") if run_ok else None, "s")
    add("migrator job time (Spark start-up excluded)", run.get("job_s") if run_ok else None, "s")
    add("time from submit to the first write", run.get("first_write_s") if run_ok else None, "s", digits=2)
    per_item = run.get("task_cpu_us_per_item") if run_ok else None
    add("tasks' CPU per item (logged by the tasks: no start-up in it)", per_item, "us/item", f"<= {CPU_GOAL_US:.0f}",
        _met(per_item, "<=", CPU_GOAL_US))
    if scan is not None:
        add("  the table scan migrator's, same run (main figure)", scan["task_cpu_us_per_item"], "us/item")
        add("  the import's / the scan's (the machine's speed cancels out)",
            _div(per_item, scan["task_cpu_us_per_item"]), "x", digits=2)
    net = _per_item(run.get("cpu_s"), empty.get("cpu_s"), items) if run_ok and empty_ok else None
    add("spark-submit tree CPU per item, start-up excluded", net, "us/item", f"<= {CPU_GOAL_US:.0f}",
        _met(net, "<=", CPU_GOAL_US))
    for role, label in (("python-worker", "Python workers"), ("jvm", "JVM"), ("python-driver", "Python driver")):
        role_net = (_per_item(_role(roles, role, "cpu_s"), _role(empty_roles, role, "cpu_s"), items)
                    if run_ok and empty_ok else None)
        add(f"  {label} CPU per item, start-up excluded", role_net, "us/item")
    add("spark-submit tree CPU per item, start-up included", _per_item(run.get("cpu_s"), 0, items) if run_ok else None,
        "us/item")
    add("spark-submit tree CPU, empty-export runs (Spark start-up), mean", empty.get("cpu_s") if empty_ok else None,
        "s", digits=2)
    worker_rss = _role(roles, "python-worker", "peak_rss_mb")
    add("peak RSS of one Python worker", worker_rss, "MB", f"<= {WORKER_RSS_GOAL_MB:.0f}",
        _met(worker_rss, "<=", WORKER_RSS_GOAL_MB))
    add("CPU of other programs during the import (cores)",
        _div(run.get("other_cpu_s"), run.get("wall_s")) if run_ok else None, "cores", digits=2)
    return rows


def contention(steps: dict) -> list[str]:
    """Steps during which other programs kept the CPUs busy: their figures are not the machine's best."""
    found = []
    for name, outcome in steps.items():
        shares = [outcome.get("other_cpu_share")] + [r.get("other_cpu_share") for r in outcome.get("runs", [])]
        worst = max((s for s in shares if s is not None), default=None)
        if worst is not None and worst > BUSY_WARNING_CORES:
            found.append(f"{name}: other programs used {worst:.2f} cores")
    return found


def scaling_rows(small: dict, large: dict) -> list[dict]:
    """T(large)/T(small) and the workers' RSS at both sizes."""
    rows = []
    ratio_items = large["items"] / small["items"]
    runs = [r["steps"].get("migrator", {}) for r in (small, large)]
    runs = [run if run.get("ok") else {} for run in runs]
    for key, label in (("job_s", "Spark start-up excluded"), ("wall_s", "wall")):
        a, b = (run.get(key) for run in runs)
        ratio = _div(b, a)
        goal = f"<= {SCALING_GOAL}" if key == "job_s" else None
        rows.append({"figure": f"T({large['items']})/T({small['items']}), {label}",
                     "value": None if ratio is None else round(ratio, 2), "unit": f"x (items x{ratio_items:.0f})",
                     "goal": goal, "met": _met(ratio, "<=", SCALING_GOAL) if goal else None})
    ceilings = [r["steps"].get("ingest_ceiling", {}).get("items_per_s") for r in (small, large)]
    server_ratio = _div(_div(large["items"], ceilings[1]), _div(small["items"], ceilings[0]))
    rows.append({"figure": "  the same ratio for the target's ingest ceiling (the server's own scaling)",
                 "value": None if server_ratio is None else round(server_ratio, 2),
                 "unit": f"x (items x{ratio_items:.0f})", "goal": None, "met": None})
    sizes = []
    for result, run in zip((small, large), runs):
        rss = _role(run.get("tree", {}).get("roles", {}), "python-worker", "peak_rss_mb")
        sizes.append(rss)
        rows.append({"figure": f"peak RSS of one Python worker at {result['items']} items",
                     "value": rss, "unit": "MB", "goal": f"<= {WORKER_RSS_GOAL_MB:.0f}",
                     "met": _met(rss, "<=", WORKER_RSS_GOAL_MB)})
    growth = None if None in sizes else round(sizes[1] - sizes[0], 1)
    rows.append({"figure": "worker RSS growth from the small to the large run (flat)", "value": growth, "unit": "MB",
                 "goal": "< 10%",
                 "met": None if growth is None else growth < 0.1 * sizes[0]})
    return rows


def failures(steps: dict) -> list[str]:
    """One line per failed or skipped step, with its reason."""
    return [f"{name}: {outcome.get('reason', 'failed')}" for name, outcome in steps.items() if not outcome.get("ok")]


def print_table(title: str, rows: list[dict], warnings: list[str] = (), failed: list[str] = ()) -> None:
    width = max(len(r["figure"]) for r in rows)
    print(f"\n{title}")
    print(f"{'figure':<{width}}  {'value':>12}  {'unit':<18} {'goal':<10} met?")
    print("-" * (width + 50))
    for r in rows:
        value = "n/a" if r["value"] is None else f"{r['value']:,}"
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        print(f"{r['figure']:<{width}}  {value:>12}  {r['unit']:<18} {r['goal'] or '':<10} {met}")
    for line in failed:
        print(f"FAILED {line}")
    for warning in warnings:
        print(f"WARNING, figures skewed by a busy machine: {warning}")


def write_json(path: Path, document: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


def machine_facts(repo: Path) -> dict:
    """What the figures depend on: cores, memory, versions, the commit, the load before the run."""
    import pyspark

    def command(*argv: str) -> str:
        try:
            done = subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=30)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unknown"

    cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "unknown")
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
    dynalite = repo / "node_modules" / "dynalite" / "package.json"
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "pyspark": pyspark.__version__,
        "java": command("java", "-version"),
        "node": command("node", "--version"),
        "dynalite": json.loads(dynalite.read_text()).get("version") if dynalite.exists() else None,
        "commit": command("git", "rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(command("git", "status", "--porcelain", "--", "migrator") not in ("", "unknown")),
        "load_average_at_start": os.getloadavg(),
    }


def _role(roles: dict, role: str, key: str):
    return roles.get(role, {}).get(key)


def _mul(a, b):
    return a * b if a is not None and b is not None else None


def _div(a, b):
    return a / b if a is not None and b else None


def _per_item(cpu, baseline, items: int):
    return (cpu - (baseline or 0.0)) / items * 1e6 if cpu is not None and items else None


def _met(value, op: str, goal: float):
    if value is None:
        return None
    return value >= goal if op == ">=" else value <= goal
