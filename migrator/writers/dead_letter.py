"""The dead-letter file: items the target refused, written by the driver as DynamoDB JSON, one per line."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

from migrator.errors import ConfigError, MigratorError

KEY = "target.deadLetterPath"


def check_directory(path: str) -> Path:
    """The directory `path`, created if missing; ConfigError when it cannot be created or written (checked before
    the copy starts, so that refused items are not lost to a typo found at the end)."""
    directory = Path(path).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{KEY}: cannot create directory {path!r}: {exc.strerror or exc}; "
                          "name a writable local directory on the driver") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"{KEY}: directory {path!r} is not writable; name a writable local directory on the driver")
    return directory


def write(directory: Path, table: str, items: Iterable[bytes]) -> Path:
    """Write `items` (raw DynamoDB JSON objects) to a new file in `directory`, each line `{"Item": {...}}` as in
    DynamoDB's own exports; return its path. A new name per run, so an earlier run's file is never overwritten."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = directory / f"{table}-rejected-{stamp}.json"
    n = 1
    while path.exists():
        n += 1
        path = directory / f"{table}-rejected-{stamp}-{n}.json"
    try:
        with open(path, "xb") as out:
            for item in items:
                out.write(b'{"Item":' + item + b"}\n")
    except OSError as exc:
        raise MigratorError(f"dead-letter file {path}: cannot write it: {exc.strerror or exc}; the items the "
                            f"target refused are named in the log above; free {directory} and run again") from None
    return path
