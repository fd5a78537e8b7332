"""Secrets end to end: known secret values in the config and the environment appear nowhere a user or a UI can see.

One migration (savepoints on) and one validation (with a report) run through ./submit.sh between dynalite servers;
slow proxies keep each run going while the test reads the Spark UI's REST API. Then every place is searched.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
import yaml

from migrator.demo import sample_data, sample_items
from migrator.demo.sample_data import fill_table, scan_all
from migrator.demo.servers import HOST, client_for, free_port, start_dynalite
from tests.conftest import fresh_table_name
from tests.integration.fault_proxy import FaultProxy
from tests.integration.spark_process import output_of, submitted, wait_until
from tests.integration.spark_run import describe, write_config

pytestmark = pytest.mark.integration

ITEMS = 1000
# Random-looking, as real ones are: a word such as "secret" in them would let Spark's own UI masking hide a leak.
CONFIG_SECRET_KEY = "wJalrXUtnFEMI9d41e7b2bPxRfiCYzQ"
ENV_SECRET_KEY = "Hq7vK2mZ5a8c03f1LrT9pXwE4nUy6sD"
ENV_SESSION_TOKEN = "FQoGZXIvYXdzEPTc27be94dAaKq3JmVn8rWbL0Hs"
SECRETS = {"config secretKey": CONFIG_SECRET_KEY, "AWS_SECRET_ACCESS_KEY": ENV_SECRET_KEY,
           "AWS_SESSION_TOKEN": ENV_SESSION_TOKEN}
# The target signs with the default chain, so the environment's secrets are in use, not just present.
ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "env-access-key", "AWS_SECRET_ACCESS_KEY": ENV_SECRET_KEY,
               "AWS_SESSION_TOKEN": ENV_SESSION_TOKEN}


def spark_ui_pages(port: int) -> dict[str, str] | None:
    """The application list, environment and jobs pages of the Spark UI on `port`; None until it answers."""
    base = f"http://{HOST}:{port}/api/v1/applications"
    try:
        with urllib.request.urlopen(base, timeout=5) as answer:
            applications = answer.read().decode()
        app_id = json.loads(applications)[0]["id"]
        pages = {"applications": applications}
        for page in ("environment", "jobs"):
            with urllib.request.urlopen(f"{base}/{app_id}/{page}", timeout=5) as answer:
                pages[page] = answer.read().decode()
    except (OSError, ValueError, IndexError, KeyError):
        return None
    return pages


def ui_port(log: Path) -> int | None:
    """The port of the run's Spark UI, from the driver's `Spark UI: http://HOST:PORT` line; None until logged."""
    found = re.search(r"Spark UI: https?://[^\s:/]+:(\d+)", output_of(log))
    return int(found.group(1)) if found else None


def run_watching_the_ui(log: Path, *args: str) -> tuple[int, dict[str, str]]:
    """./submit.sh ARGS with the Spark UI on a free port; (exit status, UI pages read while the job ran). The port
    is read back from the driver's log: Spark takes the next one if another process took it first."""
    with submitted(log, *args, "--conf", f"spark.ui.port={free_port()}", env=ENVIRONMENT) as run:
        port = wait_until(lambda: ui_port(log), "the driver's Spark UI line", run, log)
        pages = wait_until(lambda: spark_ui_pages(port), "the Spark UI's environment page", run, log)
        status = run.wait(timeout=300)
    return status, pages


def leaks(places: dict[str, str]) -> dict[str, int]:
    """{"place: secret": occurrences} for every secret found anywhere."""
    return {f"{place}: {name}": text.count(secret)
            for place, text in places.items() for name, secret in SECRETS.items() if secret in text}


def test_secrets_from_config_and_environment_appear_in_no_log_savepoint_report_or_spark_ui(tmp_path_factory):
    """secretKey, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN: 0 occurrences in output, savepoints, report, UI."""
    # Spark's UI masks any value matching spark.redaction.regex ("secret", "token"...): no such word in the paths
    # and table names, so that the checks on the UI see real values.
    tmp_path = tmp_path_factory.mktemp("job")
    with start_dynalite(tmp_path_factory.mktemp("dynalite-source")) as source, \
            start_dynalite(tmp_path_factory.mktemp("dynalite-target")) as target:
        source_table, target_table = fresh_table_name("hidden"), fresh_table_name("hidden-copy")
        client = client_for(source)
        sample_data.create_demo_table(client, source_table)
        assert fill_table(client, source_table, sample_items.demo_items(ITEMS)) == ITEMS
        savepoints = tmp_path / "savepoints"
        report = tmp_path / "report.json"
        with FaultProxy(source.url, rates={"slow": 1.0}, seed=1, slow_seconds=0.15) as source_proxy, \
                FaultProxy(target.url, rates={"slow": 1.0}, seed=2, slow_seconds=0.1) as target_proxy:
            config = write_config(tmp_path / "job.yaml", source_proxy.url, source_table, target_proxy.url,
                                  target_table, source_extra={"scanSegments": 4},
                                  top={"savepoints": {"path": str(savepoints), "intervalSeconds": 1}})
            doc = yaml.safe_load(config.read_text())
            doc["source"]["credentials"] = {"accessKey": "cfg-access-key", "secretKey": CONFIG_SECRET_KEY}
            del doc["target"]["credentials"]
            config.write_text(yaml.safe_dump(doc, sort_keys=False))
            assert leaks({"config": config.read_text()}) == {"config: config secretKey": 1}  # the search finds it

            migrated, migrate_ui = run_watching_the_ui(tmp_path / "migrate.log", str(config))
            assert migrated == 0, describe(output_of(tmp_path / "migrate.log"))
            validated, validate_ui = run_watching_the_ui(tmp_path / "validate.log", "--validate", str(config),
                                                         "--report", str(report))
            assert validated == 0, describe(output_of(tmp_path / "validate.log"))
        assert len(scan_all(client_for(target), target_table)) == ITEMS

    places = {
        "migrate stdout": (tmp_path / "migrate.log").read_text(),
        "migrate stderr": (tmp_path / "migrate.log.err").read_text(),
        "validate stdout": (tmp_path / "validate.log").read_text(),
        "validate stderr": (tmp_path / "validate.log.err").read_text(),
        "report": report.read_text(),
        **{f"savepoint {path.name}": path.read_text() for path in sorted(savepoints.iterdir())},
        **{f"migrate UI {page}": text for page, text in migrate_ui.items()},
        **{f"validate UI {page}": text for page, text in validate_ui.items()},
    }
    # Each place is the real thing, so that a leak would be seen: the job's own words are in it.
    assert f"migrator verdict: OK - all {ITEMS} scanned items were written" in output_of(tmp_path / "migrate.log")
    assert "validator verdict: IDENTICAL" in output_of(tmp_path / "validate.log")
    assert any(name.startswith("savepoint ") and source_table in text for name, text in places.items())
    assert target_table in places["report"]
    for run, pages in (("migrate", migrate_ui), ("validate", validate_ui)):
        properties = dict(json.loads(pages["environment"])["sparkProperties"])
        assert properties["spark.scylla.config"] == str(config), f"{run}: {properties}"
    assert leaks(places) == {}
