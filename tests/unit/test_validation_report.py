import json
import logging
from datetime import UTC, datetime

import pytest

from migrator.cli import parse_args
from migrator.errors import ConfigError
from migrator.validation.passes import DIFFERING, EXTRA, MISSING, Example, PassResult
from migrator.validation.report import default_report_path, pick_examples, report

CONTEXT = {"source": {"type": "dynamodb", "table": "src", "endpoint": "http://127.0.0.1:1"},
           "target": {"type": "alternator", "table": "dst", "endpoint": "http://127.0.0.1:2"}}


def example(kind: str, i: int) -> Example:
    return Example(kind, {"id": {"S": f"{kind}-{i}"}}, ("n: N 1 != N 2",) if kind == DIFFERING else ())


def results(missing=0, differing=0, extra=0, checked=10) -> list[PassResult]:
    return [
        PassResult("source", 0, (0, 2), checked, missing=missing, differing=differing,
                   examples=tuple([example(MISSING, i) for i in range(missing)] +
                                  [example(DIFFERING, i) for i in range(differing)])),
        PassResult("source", 1, (1,), 5),
        PassResult("target", 0, (0, 1, 2), checked + 5 - missing + extra, extra=extra,
                   examples=tuple(example(EXTRA, i) for i in range(extra))),
    ]


def test_examples_take_turns_between_kinds_so_each_kind_shows():
    """50 differing and 2 extra items with a limit of 5: the extra ones are not crowded out."""
    picked = pick_examples(results(missing=1, differing=50, extra=2), 5)
    assert [e.kind for e in picked] == [MISSING, DIFFERING, EXTRA, DIFFERING, EXTRA]


def test_identical_tables_exit_0_and_the_report_says_so(tmp_path, caplog):
    """No difference: status 0, an IDENTICAL verdict line with both counts, a JSON report with zero counts."""
    path = tmp_path / "report.json"
    with caplog.at_level(logging.INFO):
        status = report(results(), context=CONTEXT, failures_to_fetch=10, report_path=path, seconds=1.5, sample=False)
    assert status == 0
    assert ("validator verdict: IDENTICAL - all 15 source items are on the target with equal values, and all 15 "
            "target items exist on the source") in caplog.text
    document = json.loads(path.read_text())
    assert document["verdict"] == "identical" and document["mode"] == "full"
    assert document["counts"] == {"sourceItemsChecked": 15, "targetItemsChecked": 15, "missing": 0, "differing": 0,
                                  "extra": 0, "copied": 0, "rewritten": 0, "deleted": 0, "expired": 0}
    assert document["examples"] == [] and document["source"]["table"] == "src"


def test_differences_exit_1_with_examples_in_log_and_report(tmp_path, caplog):
    """Differences: status 1, one line per example with its key and paths, the examples in the report."""
    path = tmp_path / "report.json"
    with caplog.at_level(logging.INFO):
        status = report(results(missing=1, differing=2, extra=1), context=CONTEXT, failures_to_fetch=3,
                        report_path=path, seconds=1.0, sample=False)
    assert status == 1
    assert "validator verdict: DIFFERENT - 1 missing, 2 differing, 1 extra (15 source and 15 target items checked)" \
        in caplog.text
    assert 'validator example 1/4: missing {"id":{"S":"missing-0"}}' in caplog.text
    assert 'validator example 2/4: differing {"id":{"S":"differing-0"}}: n: N 1 != N 2' in caplog.text
    assert "validator examples: 3 shown of 4 differences (validation.failuresToFetch: 3)" in caplog.text
    document = json.loads(path.read_text())
    assert document["examples"][1] == {"kind": "differing", "key": {"id": {"S": "differing-0"}},
                                       "differences": ["n: N 1 != N 2"]}
    assert document["examplesLeftOut"] == 1 and document["verdict"] == "different"


def test_report_path_defaults_to_a_timestamped_name_in_the_current_directory():
    """validation-report-<UTC time>.json, so runs do not overwrite each other."""
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert str(default_report_path(now)) == "validation-report-20260102T030405Z.json"


@pytest.mark.parametrize("argv, message", [
    (["--sample", "5"], "arguments: --sample only applies to --validate"),
    (["--plan", "--report", "r.json"], "arguments: --plan writes nothing and runs nothing, so --report does not"),
    (["--plan", "--validate"], "arguments: --plan writes nothing and runs nothing, so --validate does not"),
    (["--progress-interval", "-1"], "arguments: --progress-interval must be 0 to 3600 seconds"),
    (["--validate", "--sample", "0"], "arguments: --sample must be a positive number of items, got 0"),
    (["--validate", "--sample", "many"], "arguments: argument --sample: invalid int value: 'many'"),
])
def test_validator_arguments_are_checked(argv, message):
    """Wrong validator arguments are one-line config errors (status 2)."""
    with pytest.raises(ConfigError) as error:
        parse_args(argv)
    assert str(error.value).startswith(message)
    assert error.value.exit_status == 2


def test_migration_options_reach_the_config():
    """--report PATH and --progress-interval S of a migration land in the config's progress section."""
    from migrator.cli import with_options
    from migrator.config import parse_config

    config = parse_config({"source": {"type": "dynamodb", "table": "a"}, "target": {"type": "dynamodb", "table": "b"},
                           "progress": {"intervalSeconds": 30, "reportPath": "from-config.json"}}, "config.yaml")
    assert (config.progress.interval_seconds, config.progress.report_path) == (30, "from-config.json")
    changed = with_options(config, parse_args(["--report", "run.json", "--progress-interval", "2.5"]))
    assert (changed.progress.interval_seconds, changed.progress.report_path) == (2.5, "run.json")
    validating = with_options(config, parse_args(["--validate", "--report", "check.json"]))
    assert validating.progress.report_path == "from-config.json"  # the validation report's path, not the run's


def test_validator_arguments_are_parsed():
    """--validate --sample N --report PATH reach the job."""
    args = parse_args(["--validate", "--sample", "1000", "--report", "r.json"])
    assert (args.validate, args.sample, args.report) == (True, 1000, "r.json")
