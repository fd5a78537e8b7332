"""Start and stop local DynamoDB-compatible servers (moto, dynalite) on 127.0.0.1.

Each server runs in its own process group, so ``stop()`` ends the server and any
child it spawned, and nothing else.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
REPO_ROOT = Path(__file__).resolve().parents[2]
MOTO_ONE_AT_A_TIME = str(Path(__file__).with_name("moto_one_at_a_time.py"))  # run as a script: see its docstring


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class LocalServer:
    """A server process this module started; ``stop()`` ends its whole process group."""

    kind: str
    port: int
    pid: int
    url: str
    log_path: Path
    _process: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    def stop(self) -> None:
        """SIGTERM the process group, wait up to 5 s, then SIGKILL it. Safe to call twice."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return  # never started by us, or already reaped: its group id may belong to someone else now
        _signal_group(self.pid, signal.SIGTERM)
        if not _exited_unreaped(self.pid, STOP_TIMEOUT_S):
            logger.warning("%s on port %d ignored SIGTERM for %.0f s; killing it",
                           self.kind, self.port, STOP_TIMEOUT_S)
        # The leader is not reaped yet, so the group id is still ours: kill it and any straggling child.
        _signal_group(self.pid, signal.SIGKILL)
        process.wait()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def moto_executable() -> str | None:
    """``moto_server`` from this interpreter's bin directory, else from PATH; None if absent."""
    beside_python = Path(sys.executable).parent / "moto_server"
    return str(beside_python) if beside_python.exists() else shutil.which("moto_server")


def dynalite_executable() -> str | None:
    """``<repo>/node_modules/.bin/dynalite``, else from PATH; None if absent."""
    in_repo = REPO_ROOT / "node_modules" / ".bin" / "dynalite"
    return str(in_repo) if in_repo.exists() else shutil.which("dynalite")


def start_moto(log_dir: Path, port: int | None = None, *, serialized: bool = True) -> LocalServer:
    """Start a moto server on 127.0.0.1 and wait until it answers ListTables.

    ``serialized`` (the default) runs moto one request at a time (moto_one_at_a_time.py): ``moto_server`` as
    shipped loses acknowledged items when concurrent BatchWriteItem requests create the same new partition key.
    ``serialized=False`` starts ``moto_server`` itself (tests/tools/moto_race.py uses it to show the loss).
    """
    executable = moto_executable()
    if executable is None:
        raise RuntimeError("moto_server not found next to the Python interpreter or on PATH; "
                           "install it with: pip install 'moto[server]'")
    port = port or free_port()
    if serialized:
        command = [sys.executable, MOTO_ONE_AT_A_TIME, "-H", HOST, "-p", str(port)]
    else:
        command = [executable, "-H", HOST, "-p", str(port)]
    return _start("moto", command, port, Path(log_dir))


def start_dynalite(log_dir: Path, port: int | None = None) -> LocalServer:
    """Start an in-memory dynalite on 127.0.0.1 and wait until it answers ListTables."""
    executable = dynalite_executable()
    if executable is None:
        raise RuntimeError(f"dynalite not found in {REPO_ROOT / 'node_modules/.bin'} or on PATH; "
                           "install it with: npm install dynalite@4")
    port = port or free_port()
    # Tables become ACTIVE at once instead of after dynalite's default 500 ms.
    command = [executable, "--host", HOST, "--port", str(port),
               "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
    return _start("dynalite", command, port, Path(log_dir))


def client_for(server: LocalServer | str, region: str = "us-east-1", **config: object):
    """A boto3 DynamoDB client for a server (or endpoint URL) with dummy credentials.

    ``config`` overrides botocore Config settings, e.g. ``retries={"total_max_attempts": 1}``.
    """
    settings = {"retries": {"max_attempts": 3, "mode": "standard"}, "max_pool_connections": 16}
    settings.update(config)
    return boto3.client(
        "dynamodb",
        endpoint_url=server if isinstance(server, str) else server.url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the demo's local servers take any key
        config=Config(**settings),
    )


def _start(kind: str, command: list[str], port: int, log_dir: Path) -> LocalServer:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{kind}-{port}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = LocalServer(kind, port, process.pid, f"http://{HOST}:{port}", log_path, process)
    try:
        _wait_until_answering(server, process)
    except BaseException:
        server.stop()
        raise
    logger.info("started %s pid %d at %s (log %s)", kind, process.pid, server.url, log_path)
    return server


def _wait_until_answering(server: LocalServer, process: subprocess.Popen) -> None:
    client = client_for(server, retries={"total_max_attempts": 1, "mode": "standard"},
                        connect_timeout=1, read_timeout=2)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{server.kind} exited with status {process.returncode} during startup; "
                               f"log {server.log_path}:\n{_tail(server.log_path)}")
        try:
            client.list_tables(Limit=1)
            return
        except Exception as exc:  # noqa: BLE001 - connection refused until the server listens
            last_error = exc
            time.sleep(0.1)
    raise RuntimeError(f"{server.kind} did not answer ListTables at {server.url} within "
                       f"{STARTUP_TIMEOUT_S:.0f} s (last error: {last_error}); "
                       f"log {server.log_path}:\n{_tail(server.log_path)}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(cannot read log: {exc})"


def _exited_unreaped(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` exits, leaving it a zombie so its pid (and group id) is not reused."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
