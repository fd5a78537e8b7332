"""The catalogue of bad input: each bad config ends with exit status 2 and one line on stderr naming the key, the
value and the fix, with no traceback. Most run through dist/main.py as spark-submit runs it (the application file,
the package from dist/migrator.zip), which refuses a bad config before Spark starts; a few through ./submit.sh."""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.spark_run import REPO, VENV_BIN

DROP = object()  # marks a key to delete

BASE = {
    "source": {"type": "dynamodb", "table": "src", "region": "us-east-1",
               "endpoint": {"host": "http://127.0.0.1", "port": 8001}},
    "target": {"type": "alternator", "table": "dst", "region": "us-east-1",
               "endpoint": {"host": "http://127.0.0.1", "port": 8002}, "streamChanges": False},
}


def changed(**changes) -> str:
    """BASE as YAML with dotted paths set (or DROPped): changed(**{"source.scanSegments": 0})."""
    doc = copy.deepcopy(BASE)
    for path, value in changes.items():
        *parents, key = path.split(".")
        section = doc
        for name in parents:
            section = section.setdefault(name, {})
        if value is DROP:
            section.pop(key, None)
        else:
            section[key] = value
    return yaml.safe_dump(doc, sort_keys=False)


BASE_TEXT = changed()
SECRET = "wJalr-catalogue-secret"

# (id, config text, fragments the one error line must contain: the key, the value, the fix)
CATALOGUE = [
    # YAML itself
    ("yaml-unclosed-bracket", BASE_TEXT.replace("table: src", "table: [src"),
     ["line 4 ('  region: us-east-1')", "invalid YAML: expected ',' or ']'", "fix the YAML syntax"]),
    ("yaml-tab-indent", BASE_TEXT.replace("  table: src", "\ttable: src"),
     ["line 3 ('\\ttable: src')", "found character '\\t'", "indent with spaces, not tabs"]),
    ("yaml-bad-indent", BASE_TEXT.replace("  table: dst", "     table: dst"),
     ["line 10 ('     table: dst')", "mapping values are not allowed", "fix the YAML syntax"]),
    ("yaml-duplicate-key", BASE_TEXT.replace("  table: src", "  table: src\n  table: other"),
     ["line 4 ('  table: other')", "duplicate key 'table'", "keep only one"]),
    ("empty-file", "", ["top level", "got empty", "start the file with source: and target:"]),
    ("only-comments", "# nothing here\n", ["top level", "got empty", "start the file with source: and target:"]),
    ("list-not-mapping", "- source\n- target\n", ["top level", "got a list", "start the file with source:"]),
    ("scalar-not-mapping", "source\n", ["top level", "got a str", "start the file with source:"]),
    # missing sections and keys
    ("missing-source", changed(source=DROP), ["source: required", "add a source: section"]),
    ("missing-target", changed(target=DROP), ["target: required", "add a target: section"]),
    ("missing-source-table", changed(**{"source.table": DROP}), ["source.table: required", "name the source table"]),
    ("missing-target-table", changed(**{"target.table": DROP}), ["target.table: required", "name the target table"]),
    ("missing-type", changed(**{"target.type": DROP}), ["target.type: required", "set type: dynamodb or"]),
    ("section-is-a-string", changed(source="dynamodb"), ["source: must be a mapping", "got 'dynamodb'",
                                                         "write type: and table: under it"]),
    ("empty-table-name", changed(**{"source.table": ""}),
     ["source.table", "got ''", "write a value, or remove the key"]),
    # typos
    ("typo-top-level", changed(sourc={"table": "x"}), ["sourc: unknown key", "did you mean 'source'?"]),
    ("typo-source-key", changed(**{"source.tabel": "x"}), ["source.tabel: unknown key", "did you mean 'table'?"]),
    ("typo-camel-case", changed(**{"source.scansegments": 4}),
     ["source.scansegments: unknown key", "did you mean 'scanSegments'?"]),
    ("typo-type-value", changed(**{"source.type": "dynamdb"}),
     ["source.type", "got 'dynamdb'", "did you mean 'dynamodb'?"]),
    ("unknown-key-no-match", changed(**{"target.zzzz": 1}), ["target.zzzz: unknown key", "valid keys here:"]),
    # wrong types and out-of-range numbers
    ("scan-segments-zero", changed(**{"source.scanSegments": 0}),
     ["source.scanSegments", "got 0", "must be a positive integer"]),
    ("scan-segments-negative", changed(**{"source.scanSegments": -1}),
     ["source.scanSegments", "got -1", "must be a positive integer"]),
    ("scan-segments-text", changed(**{"source.scanSegments": "abc"}),
     ["source.scanSegments", "got 'abc'", "must be an integer"]),
    ("scan-segments-fraction", changed(**{"source.scanSegments": 1.5}),
     ["source.scanSegments", "got 1.5", "must be an integer"]),
    ("scan-segments-bool", changed(**{"source.scanSegments": True}),
     ["source.scanSegments", "got true", "must be an integer"]),
    ("read-percent-too-high", changed(**{"source.throughputReadPercent": 2.0}),
     ["source.throughputReadPercent", "got 2.0", "from 0.1 to 1.5"]),
    ("read-percent-zero", changed(**{"source.throughputReadPercent": 0}),
     ["source.throughputReadPercent", "got 0", "from 0.1 to 1.5"]),
    ("write-percent-text", changed(**{"target.throughputWritePercent": "half"}),
     ["target.throughputWritePercent", "got 'half'", "must be a number from 0.1 to 1.5"]),
    ("stream-changes-text", changed(**{"target.streamChanges": "no"}),
     ["target.streamChanges", "got 'no'", "must be true or false"]),
    ("billing-mode-typo", changed(**{"target.billingMode": "PAY_PER_REQEST"}),
     ["target.billingMode", "got 'PAY_PER_REQEST'", "did you mean 'PAY_PER_REQUEST'?"]),
    ("batch-over-25-on-dynamodb", changed(**{"target.type": "dynamodb", "target.maxItemsPerBatch": 50}),
     ["target.maxItemsPerBatch", "got 50", "use 25 or set type: alternator"]),
    ("table-is-a-number", changed(**{"target.table": 123}), ["target.table", "got 123", "put it in quotes"]),
    ("skip-segment-out-of-range", changed(**{"source.scanSegments": 4, "skipSegments": [4]}),
     ["skipSegments[0]", "got 4", "use segment numbers 0 to 3"]),
    ("savepoints-without-interval", changed(savepoints={"path": "/tmp/sp"}),
     ["savepoints.intervalSeconds: required", "add intervalSeconds: 300"]),
    ("validation-failures-zero", changed(validation={"failuresToFetch": 0}),
     ["validation.failuresToFetch", "got 0", "must be a positive integer"]),
    # endpoints
    ("port-out-of-range", changed(**{"source.endpoint.port": 70000}),
     ["source.endpoint.port", "got 70000", "must be at most 65535"]),
    ("port-quoted", changed(**{"source.endpoint.port": "8000"}),
     ["source.endpoint.port", "got '8000'", "write it without quotes"]),
    ("port-is-a-word", changed(**{"source.endpoint.port": "http"}),
     ["source.endpoint.port", "got 'http'", "must be an integer"]),
    ("endpoint-without-host", changed(**{"source.endpoint.host": DROP}),
     ["source.endpoint.host: required", "add host: http://HOST"]),
    ("endpoint-url-with-path", changed(**{"source.endpoint.host": "http://db.local/dynamo"}),
     ["source.endpoint.host", "got 'http://db.local/dynamo'", "write only the host"]),
    ("endpoint-bad-scheme", changed(**{"source.endpoint.host": "ftp://db.local"}),
     ["source.endpoint.host", "got 'ftp://db.local'", "write http://HOST or https://HOST"]),
    ("endpoint-port-in-host", changed(**{"target.endpoint.host": "http://scylla:8000"}),
     ["target.endpoint.host", "got 'http://scylla:8000'", "put the port in endpoint.port"]),
    ("endpoint-not-a-mapping", changed(**{"source.endpoint": "http://db.local:8000"}),
     ["source.endpoint: must be a mapping", "got 'http://db.local:8000'", "write endpoint: {host: HOST, port: PORT}"]),
    ("alternator-without-endpoint", changed(**{"target.endpoint": DROP}),
     ["target.endpoint: required for type: alternator", "add endpoint: {host: http://HOST, port: 8000}"]),
    ("alternator-host-without-protocol", changed(**{"target.endpoint.host": "scylla"}),
     ["target.endpoint.host", "got 'scylla'", "write http://scylla or https://scylla"]),
    # Alternator-only keys under type: dynamodb
    ("datacenter-on-dynamodb", changed(**{"source.datacenter": "dc1"}),
     ["source.datacenter: only valid with type: alternator", "set source.type: alternator or remove the key"]),
    ("remove-consumed-capacity-on-dynamodb", changed(**{"target.type": "dynamodb",
                                                         "target.removeConsumedCapacity": True}),
     ["target.removeConsumedCapacity: only valid with type: alternator", "set target.type: alternator"]),
    ("nested-alternator-block", changed(**{"target.alternator": {"datacenter": "dc1"}}),
     ["target.alternator: unknown key", "set target.type: alternator"]),
    ("rack-without-datacenter", changed(**{"target.rack": "r1"}),
     ["target.rack", "got rack 'r1' alone", "add target.datacenter"]),
    # credentials
    ("access-key-without-secret", changed(**{"source.credentials": {"accessKey": "AKIA1"}}),
     ["source.credentials.secretKey: required", "give both accessKey and secretKey"]),
    ("secret-without-access-key", changed(**{"source.credentials": {"secretKey": SECRET}}),
     ["source.credentials.accessKey: required", "give both accessKey and secretKey"]),
    ("assume-role-without-arn", changed(**{"source.credentials": {"accessKey": "A", "secretKey": SECRET,
                                                                  "assumeRole": {"sessionName": "s"}}}),
     ["source.credentials.assumeRole.arn: required", "give the ARN of the role to assume"]),
    ("assume-role-arn-not-an-arn", changed(**{"source.credentials": {"accessKey": "A", "secretKey": SECRET,
                                                                     "assumeRole": {"arn": "my-role"}}}),
     ["source.credentials.assumeRole.arn", "got 'my-role'", "write arn:aws:iam::ACCOUNT:role/NAME"]),
    ("assume-role-on-alternator", changed(**{"target.credentials": {"accessKey": "A", "secretKey": SECRET,
                                                                    "assumeRole": {"arn": "arn:aws:iam::1:role/r"}}}),
     ["target.credentials.assumeRole: not supported by Alternator", "give accessKey and secretKey"]),
    ("secret-key-is-a-number", changed(**{"source.credentials": {"accessKey": "A", "secretKey": 12345}}),
     ["source.credentials.secretKey", "got <redacted>", "put it in quotes"]),
    ("credentials-not-a-mapping", changed(**{"source.credentials": "default"}),
     ["source.credentials: must be a mapping", "got <redacted>", "write credentials: {accessKey: KEY, secretKey:"]),
]


def _built() -> None:
    """dist/ is what build.sh made from this tree (./build.sh test rebuilds it)."""
    zip_file = REPO / "dist" / "migrator.zip"
    newer = [p for p in (REPO / "migrator").rglob("*.py") if p.stat().st_mtime > zip_file.stat().st_mtime]
    assert (REPO / "dist" / "main.py").is_file() and not newer, "dist/ is stale: run ./build.sh"


def run_main(config: Path) -> subprocess.CompletedProcess:
    """dist/main.py --config CONFIG with the package from dist/migrator.zip, as spark-submit's driver runs it."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "dist" / "migrator.zip")}
    return subprocess.run([str(VENV_BIN / "python"), str(REPO / "dist" / "main.py"), "--config", str(config)],
                          cwd=config.parent, env=env, capture_output=True, text=True, timeout=120)


def assert_one_error_line(run: subprocess.CompletedProcess, fragments: list[str]) -> str:
    assert run.returncode == 2, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("migrator: error: ") and "Traceback" not in run.stderr
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert SECRET not in run.stderr + run.stdout
    return lines[0]


def test_the_catalogue_has_at_least_30_bad_configs():
    """The issue asks for 30; every id is distinct."""
    assert len(CATALOGUE) >= 30 and len({case[0] for case in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize(("text", "fragments"), [case[1:] for case in CATALOGUE], ids=[case[0] for case in CATALOGUE])
def test_a_bad_config_is_one_line_naming_key_value_and_fix_and_exit_2(tmp_path, text, fragments):
    """Through the application file as spark-submit runs it: status 2, one stderr line, no traceback."""
    _built()
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")
    assert_one_error_line(run_main(config), fragments)


def test_a_missing_config_file_names_the_path_and_the_fix(tmp_path):
    """--config naming no file: status 2, the path, the fix."""
    _built()
    assert_one_error_line(run_main(tmp_path / "nope.yaml"), ["nope.yaml: not found", "give the path of"])
