"""Where the run report goes and how it is written: the JSON file at progress.reportPath (or --report), the HTML
page beside it, both on the driver's file system (a relative path is relative to the driver's working directory).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from migrator.errors import ConfigError, MigratorError
from migrator.reports.document import Outcome, build
from migrator.reports.page import render
from migrator.reports.record import RunRecord

logger = logging.getLogger("migrator")

KEY = "progress.reportPath (or --report)"


def check_report_path(path: str) -> Path:
    """The report's path, checked before the run starts so that a bad one does not wait for the run's end.
    S3 is refused: the report is written on the driver, as a local file."""
    if path.startswith(("s3://", "s3a://")):
        raise ConfigError(f"{KEY}: {path!r}: the run report is written on the driver's file system, not to S3; give "
                          "a local path such as run-report.json and copy it afterwards (aws s3 cp)")
    where = Path(path)
    if where.is_dir():
        raise ConfigError(f"{KEY}: {path!r} is a directory; give a file name such as {str(where / 'run.json')!r}")
    if not where.parent.is_dir():
        raise ConfigError(f"{KEY}: directory {str(where.parent)!r} does not exist; create it or choose another path")
    return where


def page_path(path: Path) -> Path:
    """The HTML page beside the JSON report: `run.json` -> `run.html`, any other name -> `NAME.html`."""
    return path.with_suffix(".html") if path.suffix == ".json" else path.with_name(path.name + ".html")


def write_run_report(record: RunRecord, outcome: Outcome) -> tuple[Path, Path]:
    """Write the JSON report and its HTML page, log where; MigratorError naming the path when it cannot."""
    path = Path(record.config.progress.report_path)
    html = page_path(path)
    with record.lock:  # the JVM's shutdown hook may write it while the CLI does (jobs/migrate.py)
        document = build(record, outcome)
        _write(path, json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
        _write(html, render(document))
    logger.info("migrator run report: %s (and %s)", path, html)
    return path, html


def _write(path: Path, text: str) -> None:
    """Write beside the final name, then rename, so that a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        raise MigratorError(f"cannot write the run report {str(path)!r}: {exc.strerror or exc}") from exc
