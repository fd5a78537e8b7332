"""The whole test suite in two pytest processes at once: what `./build.sh test` runs when given no arguments (CI).

Why: most of the suite's time is spark-submit runs, and one run keeps about one of the machine's two cores busy
(JVM start-up, a few Python workers, a local server). Two runs side by side finish the suite in a little over half
the time of one after the other.
How: the test files are dealt to two shards by their measured durations (`SECONDS`, longest first, each to the
shard with less so far). Each shard is its own pytest process with its own --basetemp, so its own session servers,
free ports and folders; Spark picks the next free UI port when 4040 is taken. Tests marked `solo` measure a rate
against a budget with a lower bound, which needs the machine to itself: they run after the shards, alone.
Every line of both shards is shown as it comes, prefixed with [1] or [2]; the last line adds up the three runs. The
exit status is 0 only when every process passed (or had nothing to run); no test is ever run twice.

    python -m tests.suite                # from the repository root, as build.sh does
    python -m tests.suite --plan         # print the shards and their expected seconds, run nothing
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNIT = "tests/unit"
SHARDS = 2
# Seconds per test file (tests/unit as a whole; setup, call and teardown), as a fresh-clone CI run of this suite on
# this 2-core machine measured them with the two shards running at once (its "seconds per file" line). Only the
# deal between the shards uses them: a file missing here counts as DEFAULT_SECONDS; add it after its first run.
SECONDS = {
    "tests/integration/test_savepoints.py": 155,
    "tests/integration/test_stream_replay.py": 124,
    "tests/integration/test_migration.py": 110,
    "tests/integration/test_export_source.py": 89,
    "tests/integration/test_export_target.py": 87,
    "tests/integration/test_tls_and_proxies.py": 70,
    "tests/integration/test_validate.py": 69,
    "tests/integration/test_faults.py": 63,
    "tests/integration/test_checked_answers.py": 59,
    "tests/integration/test_progress.py": 54,
    "tests/integration/test_renames.py": 43,
    "tests/integration/test_filters.py": 40,
    "tests/integration/test_verify_count.py": 38,
    "tests/integration/test_ttl.py": 33,
    "tests/integration/test_secrets.py": 30,
    "tests/integration/test_cluster.py": 28,
    "tests/integration/test_run_report.py": 40,  # with the stopped run, measured alone
    "tests/integration/test_alternator.py": 25,  # 137 with its solo rate tests, which run after the shards
    "tests/integration/test_export_incremental.py": 24,
    "tests/integration/test_refused_items.py": 22,
    UNIT: 22,
    "tests/integration/test_bad_configs.py": 15,
    "tests/integration/test_submit_options.py": 12,
    "tests/integration/test_local_servers.py": 11,
    "tests/integration/test_spark35.py": 10,
    "tests/integration/test_scylla_migrator_keys.py": 9,
    "tests/integration/test_plan.py": 20,  # with its two export plans, measured alone
}
DEFAULT_SECONDS = 40  # about one spark-submit run


@dataclass
class Shard:
    """One pytest process's share of the files, and what it did."""

    number: int
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    process: subprocess.Popen | None = None
    report: Path | None = None
    took: float = 0.0


def test_files() -> list[str]:
    """tests/unit as one entry, then every other test_*.py under tests/, as paths from the repository root."""
    others = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")
                    if not p.is_relative_to(ROOT / UNIT))
    return [UNIT, *others]


def deal(files: list[str], shards: int = SHARDS) -> list[Shard]:
    """The files dealt to `shards` shards: longest first, each to the shard with the fewest seconds so far."""
    dealt = [Shard(n + 1) for n in range(shards)]
    for name in sorted(files, key=lambda f: (-SECONDS.get(f, DEFAULT_SECONDS), f)):
        lightest = min(dealt, key=lambda s: (s.seconds, s.number))
        lightest.files.append(name)
        lightest.seconds += SECONDS.get(name, DEFAULT_SECONDS)
    return dealt


def pytest_command(basetemp: Path, report: Path, marks: str, files: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--basetemp={basetemp}",
            f"--junitxml={report}", "-m", marks, "--durations=15", *files]


def start(command: list[str]) -> subprocess.Popen:
    """The command in its own process group (so that it and its servers can be ended together), output piped."""
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", bufsize=1, start_new_session=True)


def relay(process: subprocess.Popen, prefix: str, lock: threading.Lock) -> None:
    """Print each line of `process` as it comes, after `prefix`."""
    for line in process.stdout:
        with lock:
            sys.stdout.write(prefix + line)
            sys.stdout.flush()


def counts(report: Path) -> dict[str, int]:
    """passed, failed (failures and errors) and skipped from a pytest JUnit XML report; zeros when there is none."""
    found = {"passed": 0, "failed": 0, "skipped": 0}
    if not report.exists():
        return found
    root = ET.parse(report).getroot()  # noqa: S314 - pytest's own report, written just now
    for suite in ([root] if root.tag == "testsuite" else root.iter("testsuite")):
        tests, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        found["passed"] += tests - failed - skipped
        found["failed"] += failed
        found["skipped"] += skipped
    return found


def file_seconds(report: Path) -> dict[str, float]:
    """Seconds per test file (tests/unit as a whole; setup, call and teardown) from a JUnit XML report."""
    found: dict[str, float] = {}
    if not report.exists():
        return found
    for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314 - pytest's own report
        name = case.get("classname", "").split(".")
        path = "/".join(name[:3]) + ".py" if len(name) >= 3 and name[1] != "unit" else UNIT
        found[path] = found.get(path, 0.0) + float(case.get("time", 0))
    return found


def stop(processes: list[subprocess.Popen]) -> None:
    """End each still-running pytest we started, by its process group: SIGINT first, as Ctrl-C, so that pytest tears
    its fixtures down (the servers it started); SIGKILL to what is left after 30 s."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        try:
            os.killpg(process.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
    for process in running:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # members left: the group id cannot have been reused
        except ProcessLookupError:
            pass
        process.wait()


def relay_shard(shard: Shard, lock: threading.Lock) -> None:
    """Relay the shard's lines until its process ends; then note how long it took."""
    relay(shard.process, f"[{shard.number}] ", lock)
    shard.process.wait()
    shard.took = time.monotonic() - shard.took


def run_shards(shards: list[Shard], work: Path) -> None:
    """Both shards at once, their lines relayed; returns when both have ended."""
    lock = threading.Lock()
    relays = []
    for shard in shards:
        shard.report = work / f"shard-{shard.number}.xml"
        print(f"suite: shard {shard.number}, about {shard.seconds:.0f} s: {' '.join(shard.files)}", flush=True)
        shard.took = time.monotonic()
        shard.process = start(pytest_command(work / f"shard-{shard.number}", shard.report, "not solo", shard.files))
        relays.append(threading.Thread(target=relay_shard, args=(shard, lock)))
        relays[-1].start()
    for thread in relays:
        thread.join()


def run_solo(work: Path) -> tuple[subprocess.Popen, float]:
    """The tests marked solo, alone, their lines relayed."""
    print("suite: the solo tests, alone", flush=True)
    started = time.monotonic()
    solo = start(pytest_command(work / "solo", work / "solo.xml", "solo", ["tests"]))
    try:
        relay(solo, "[solo] ", threading.Lock())
        solo.wait()
    finally:
        stop([solo])
    return solo, time.monotonic() - started


def main(argv: list[str]) -> int:
    shards = deal(test_files())
    if argv == ["--plan"]:
        for shard in shards:
            print(f"shard {shard.number}, about {shard.seconds:.0f} s: {' '.join(shard.files)}")
        return 0
    if argv:
        print("usage: python -m tests.suite [--plan]", file=sys.stderr)
        return 2
    # SIGTERM (CI stopping the run) unwinds like Ctrl-C, so that the pytest processes are ended with us.
    signal.signal(signal.SIGTERM, lambda number, _frame: sys.exit(128 + number))
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="migrator-suite-"))  # kept when a test failed: its tmp_path folders
    try:
        run_shards(shards, work)
    finally:
        stop([s.process for s in shards if s.process is not None])
    solo, solo_took = run_solo(work)
    runs = [(f"shard {s.number}", s.report, s.took, s.process.returncode) for s in shards]
    runs.append(("solo", work / "solo.xml", solo_took, solo.returncode))
    total = {"passed": 0, "failed": 0, "skipped": 0}
    for name, report, took, status in runs:
        found = counts(report)
        for key in total:
            total[key] += found[key]
        print(f"suite: {name}: {found['passed']} passed, {found['failed']} failed, {found['skipped']} skipped "
              f"in {took:.0f} s (pytest exit status {status})")
    measured: dict[str, float] = {}
    for _, report, _, _ in runs:
        for path, seconds in file_seconds(report).items():
            measured[path] = measured.get(path, 0.0) + seconds
    print("suite: seconds per file (for SECONDS in tests/suite.py): " + ", ".join(
        f"{path.removeprefix('tests/integration/')} {seconds:.0f}"
        for path, seconds in sorted(measured.items(), key=lambda p: -p[1])))
    failed = any(status not in (0, 5) for *_, status in runs)  # 5: that process had no test to run
    if failed:
        print(f"suite: the failed tests' folders are kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"suite: {time.monotonic() - started:.0f} s in all")
    print(f"total: {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped")
    if failed:
        return 1
    return 0 if total["passed"] else 5


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
