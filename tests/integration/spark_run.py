"""Run the migrator the way users do (./submit.sh -> spark-submit) and read what it printed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from migrator.demo.servers import HOST, free_port
from migrator.logs import TASK_SUMMARY, VALIDATOR_SUMMARY

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"


def spark_home() -> str:
    """The Spark that pip installed into .venv."""
    import pyspark

    return os.path.dirname(pyspark.__file__)


def write_config(path: Path, source_url: str, source_table: str, target_url: str, target_table: str, *,
                 source_extra: dict | None = None, target_extra: dict | None = None, top: dict | None = None) -> Path:
    """A YAML config between two local servers; the extras are merged in."""
    def endpoint(url: str) -> dict:
        scheme_host, port = url.rsplit(":", 1)
        return {"host": scheme_host, "port": int(port)}

    doc = {
        "source": {"type": "dynamodb", "table": source_table, "region": "us-east-1", "endpoint": endpoint(source_url),
                   "credentials": {"accessKey": "dummy", "secretKey": "dummy-secret"}, **(source_extra or {})},
        "target": {"type": "alternator", "table": target_table, "region": "us-east-1", "endpoint": endpoint(target_url),
                   "credentials": {"accessKey": "dummy", "secretKey": "dummy-secret"}, "streamChanges": False,
                   **(target_extra or {})},
        **(top or {}),
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_submit(config: Path | str, *spark_args: str, timeout: float = 600,
               env: dict | None = None) -> subprocess.CompletedProcess:
    """./submit.sh CONFIG SPARK_ARGS..., output captured (stdout and stderr together)."""
    full_env = {**os.environ, "SPARK_LOCAL_IP": HOST, **(env or {})}
    return subprocess.run(
        [str(REPO / "submit.sh"), str(config), *spark_args],
        cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
    )


def task_counts(output: str) -> dict[int, tuple[list[int], int]]:
    """{task: (segments, items)} from the per-task summary lines."""
    found = {}
    for task, segments, items in TASK_SUMMARY.findall(output):
        found[int(task)] = ([int(s) for s in segments.split(",") if s.strip()], int(items))
    return found


def validator_counts(output: str) -> dict[str, int]:
    """The validator's per-task summary lines added up: items checked per side, missing, differing, extra."""
    found = {"source": 0, "target": 0, "missing": 0, "differing": 0, "extra": 0}
    for _task, side, _segments, checked, rest in VALIDATOR_SUMMARY.findall(output):
        found[side] += int(checked)
        for part in rest.split(", "):
            number, name = part.split(" ", 1)
            if name in found:
                found[name] += int(number)
    return found


class SparkUiWatch:
    """Polls a running job's Spark UI REST API (http://127.0.0.1:PORT/api/v1/applications/ID/jobs and /stages)
    from a thread, keeping the newest answers: the UI answers only while the application runs. Pass
    `spark_args` (spark.ui.port) to run_submit."""

    def __init__(self, period: float = 0.2) -> None:
        self.port = free_port()
        self.period = period
        self.jobs: list[dict] = []
        self.stages: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    @property
    def spark_args(self) -> tuple[str, ...]:
        return ("--conf", f"spark.ui.port={self.port}")

    def _get(self, path: str):
        with urllib.request.urlopen(f"http://{HOST}:{self.port}/api/v1/{path}", timeout=2) as answer:
            return json.load(answer)

    def _poll(self) -> None:
        while not self._stop.wait(self.period):
            try:
                for app in self._get("applications"):
                    jobs, stages = self._get(f"applications/{app['id']}/jobs"), \
                        self._get(f"applications/{app['id']}/stages")
                    if len(jobs) >= len(self.jobs):
                        self.jobs, self.stages = jobs, stages
            except (OSError, ValueError):  # not up yet, or gone
                pass

    def __enter__(self) -> SparkUiWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def describe(output: str) -> str:
    """The tail of a run's output, for assertion messages."""
    return "\n".join(output.splitlines()[-60:])


@dataclass
class StandaloneCluster:
    """A Spark standalone master and one worker on 127.0.0.1, started with spark-class, ended by PID."""

    work_dir: Path
    cores: int = 2
    port: int = field(default_factory=free_port)
    ui_port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.port}"

    def start(self) -> StandaloneCluster:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "SPARK_LOCAL_IP": HOST, "SPARK_HOME": spark_home(), "SPARK_LOG_DIR": str(self.work_dir)}
        spark_class = str(VENV_BIN / "spark-class")
        self._spawn([spark_class, "org.apache.spark.deploy.master.Master", "--host", HOST, "--port", str(self.port),
                     "--webui-port", str(self.ui_port)], env, "master.log")
        self._wait(lambda s: s.get("status") == "ALIVE", "master")
        self._spawn([spark_class, "org.apache.spark.deploy.worker.Worker", self.master_url, "--host", HOST,
                     "--cores", str(self.cores), "--memory", "2g", "--webui-port", str(free_port()),
                     "--work-dir", str(self.work_dir / "work")], env, "worker.log")
        self._wait(lambda s: any(w.get("state") == "ALIVE" for w in s.get("workers", [])), "worker")
        return self

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self.processes.clear()

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _spawn(self, argv: list[str], env: dict, log_name: str) -> None:
        log = open(self.work_dir / log_name, "wb")  # noqa: SIM115 - the process writes it as long as it lives
        self.processes.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))

    def _wait(self, ready, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"Spark {what} exited; see the logs in {self.work_dir}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.ui_port}/json/", timeout=2) as answer:
                    if ready(json.load(answer)):
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"Spark {what} did not come up within {timeout} s; see {self.work_dir}")
