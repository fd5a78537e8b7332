"""Parsing scylla-migrator's YAML into frozen settings, and the one-line errors for everything else."""

from __future__ import annotations

import pickle

import pytest
import yaml

from migrator.config import (
    Credentials, Endpoint, MigratorConfig, Rename, S3ExportSource, load_config, redact, redacted_yaml,
)
from migrator.errors import ConfigError

SCYLLA_MIGRATOR_YAML = """\
source: {type: dynamodb, table: BasicTest, region: dummy, endpoint: {host: "http://dynamodb", port: 8000}, credentials: {accessKey: dummy, secretKey: dummy}}
target: {type: alternator, table: BasicTest, region: dummy, endpoint: {host: "http://scylla", port: 8000}, credentials: {accessKey: dummy, secretKey: dummy}, streamChanges: false, removeConsumedCapacity: true, billingMode: PAY_PER_REQUEST}
savepoints: {path: /app/savepoints, intervalSeconds: 300}
renames: []
validation: {compareTimestamps: true, ttlToleranceMillis: 60000, writetimeToleranceMillis: 1000, failuresToFetch: 100, floatingPointTolerance: 0.001, timestampMsTolerance: 0, copyMissingRows: false}
"""  # noqa: E501

DROP = object()  # marks a key to delete in `config()`


def config(source: dict | None = None, target: dict | None = None, **top) -> dict:
    """A minimal DynamoDB -> Alternator config, with the given keys of each section replaced (or DROPped)."""
    raw = {
        "source": {"type": "dynamodb", "table": "src", "region": "us-east-1"},
        "target": {"type": "alternator", "table": "dst", "endpoint": {"host": "http://scylla", "port": 8000}},
    }
    for name, changes in (("source", source or {}), ("target", target or {}), ("", top)):
        section = raw[name] if name else raw
        for key, value in changes.items():
            if value is DROP:
                section.pop(key, None)
            else:
                section[key] = value
    return raw


@pytest.fixture
def load(tmp_path):
    """Write YAML (text, or a dict to dump) to config.yaml and load it."""

    def load(raw: str | dict) -> MigratorConfig:
        path = tmp_path / "config.yaml"
        path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        return load_config(path)

    return load


@pytest.fixture
def error(load, tmp_path):
    """The one-line ConfigError message loading the given YAML raises, with the tmp directory cut off."""

    def error(raw: str | dict) -> str:
        with pytest.raises(ConfigError) as info:
            load(raw)
        message = str(info.value)
        assert "\n" not in message
        return message.replace(f"{tmp_path}/", "")

    return error


# ---- what parses ---------------------------------------------------------------------------------------------


def test_scylla_migrator_config_parses_unchanged(load):
    """A real scylla-migrator DynamoDB -> Alternator config loads without edits."""
    cfg = load(SCYLLA_MIGRATOR_YAML)
    assert cfg.source.type == "dynamodb" and cfg.source.table == "BasicTest"
    assert cfg.source.endpoint == Endpoint("http://dynamodb", 8000)
    assert cfg.source.credentials == Credentials("dummy", "dummy")
    assert cfg.target.billing_mode == "PAY_PER_REQUEST" and cfg.target.remove_consumed_capacity is True
    assert cfg.savepoints.path == "/app/savepoints" and cfg.savepoints.interval_seconds == 300
    assert cfg.validation.floating_point_tolerance == 0.001 and cfg.validation.ttl_tolerance_millis == 60000
    assert cfg.renames == () and cfg.skip_segments == frozenset()


def test_defaults_depend_on_type(load):
    """removeConsumedCapacity defaults to true for alternator, false for dynamodb; streamChanges to false."""
    cfg = load(config())
    assert cfg.source.remove_consumed_capacity is False and cfg.source.alternator is None
    assert cfg.target.remove_consumed_capacity is True
    assert cfg.target.alternator is not None and cfg.target.alternator.compression is False
    assert cfg.target.stream_changes is False and cfg.target.skip_initial_snapshot_transfer is False
    assert cfg.savepoints is None and cfg.validation is None


def test_dynamo_is_an_alias_of_dynamodb(load):
    """`type: dynamo` means dynamodb, as in scylla-migrator."""
    assert load(config(target={"type": "dynamo", "endpoint": DROP})).target.type == "dynamodb"


def test_whole_float_counts_as_integer(load):
    """`scanSegments: 8.0` is 8; YAML writers sometimes emit whole numbers as floats."""
    assert load(config(source={"scanSegments": 8.0})).source.scan_segments == 8


def test_null_value_means_default(load):
    """An empty optional key (`scanSegments:`) keeps its default."""
    assert load(config(source={"scanSegments": None})).source.scan_segments is None


def test_alternator_keys_parse_into_alternator_settings(load):
    """The flat Alternator keys land in `alternator`, snake_cased."""
    cfg = load(config(target={"datacenter": "dc1", "rack": "r1", "connectionTimeoutMs": 0, "compression": True}))
    settings = cfg.target.alternator
    assert (settings.datacenter, settings.rack, settings.connection_timeout_ms, settings.compression) == (
        "dc1", "r1", 0, True)


def test_renames_skip_segments_and_validation_parse(load):
    """Renames become Rename tuples, skipSegments a frozenset; validation keeps scylla-migrator's extra keys."""
    cfg = load(config(source={"scanSegments": 4}, renames=[{"from": "a", "to": "b"}], skipSegments=[0, 3, 3],
                      validation={"failuresToFetch": 5, "numericTypePolicy": "Lenient", "hashColumns": ["x"]}))
    assert cfg.renames == (Rename("a", "b"),)
    assert cfg.skip_segments == frozenset({0, 3})
    assert cfg.validation.failures_to_fetch == 5 and cfg.validation.copy_missing_rows is False


def test_validator_keys_parse_and_default(load):
    """The validator's own keys parse; without a validation section the validator's defaults apply."""
    cfg = load(config(validation={"copyMissingRows": True, "copyDifferingRows": True, "deleteExtraRows": True,
                                  "sampleSize": 1000, "reportPath": "out/report.json"}))
    v = cfg.validation
    assert (v.copy_missing_rows, v.copy_differing_rows, v.delete_extra_rows) == (True, True, True)
    assert (v.sample_size, v.report_path, v.failures_to_fetch) == (1000, "out/report.json", 100)
    assert load(config()).validation is None


@pytest.mark.parametrize(("validation", "message"), [
    ({"sampleSize": 0}, "validation.sampleSize: must be a positive integer, got 0"),
    ({"deleteExtraRows": "yes"}, "validation.deleteExtraRows: must be true or false, got 'yes'"),
    ({"copyDiferingRows": True}, "validation.copyDiferingRows: unknown key; did you mean 'copyDifferingRows'?"),
])
def test_validator_key_errors(error, validation, message):
    """Bad validator values and misspelt keys are one-line errors."""
    assert error(config(validation=validation)) == message


def test_s3_export_source_is_parsed(load):
    """A dynamodb-s3-export source is its own settings class: its S3 keys, and no table."""
    table = {"attributeDefinitions": [{"name": "id", "type": "S"}], "keySchema": [{"name": "id", "type": "HASH"}]}
    cfg = load(config(source={"type": "dynamodb-s3-export", "table": DROP, "bucket": "b", "manifestKey": "m.json",
                              "tableDescription": table}))
    assert isinstance(cfg.source, S3ExportSource) and cfg.source.type == "dynamodb-s3-export"
    assert not hasattr(cfg.source, "table") and cfg.source.region == "us-east-1"
    assert (cfg.source.bucket, cfg.source.manifest_key, cfg.source.table_description) == ("b", "m.json", table)


def test_config_is_picklable_for_executors(load):
    """Executors receive the frozen settings, so they must pickle."""
    cfg = load(SCYLLA_MIGRATOR_YAML)
    assert pickle.loads(pickle.dumps(cfg)) == cfg


@pytest.mark.parametrize(("host", "url"), [
    ("scylla", "http://scylla:8000"),
    ("http://scylla", "http://scylla:8000"),
    ("https://scylla.example.com/", "https://scylla.example.com:8000"),
    ("10.0.0.1", "http://10.0.0.1:8000"),
    ("::1", "http://[::1]:8000"),
    ("[::1]", "http://[::1]:8000"),
    ("https://[fd00::1]", "https://[fd00::1]:8000"),
])
def test_endpoint_url_adds_scheme_and_brackets(load, host, url):
    """A bare host gets http://, a bare IPv6 address gets brackets, a URL keeps its scheme."""
    cfg = load(config(source={"endpoint": {"host": host, "port": 8000}}))
    assert cfg.source.endpoint.url == url


# ---- file-level errors ---------------------------------------------------------------------------------------


def test_missing_file_is_reported(tmp_path):
    """A config path that does not exist says so."""
    with pytest.raises(ConfigError, match=r"^.*/nope\.yaml: not found; give the path of your YAML config file$"):
        load_config(tmp_path / "nope.yaml")


def test_invalid_yaml_names_the_line(error):
    """A YAML syntax error gives the file, the line and YAML's own one-line problem."""
    assert error("source:\n  type: dynamodb\n  table: [unclosed\n") == (
        "config.yaml: line 4 (end of file): invalid YAML: expected ',' or ']', but got '<stream end>'; fix the YAML "
        "syntax at that line (indentation, quotes, brackets, a space after ':')")


def test_duplicate_key_is_an_error(error):
    """A key written twice is an error instead of YAML's silent last-one-wins."""
    assert error("source:\n  table: a\n  table: b\n") == (
        "config.yaml: line 3 ('  table: b'): invalid YAML: duplicate key 'table'; keep only one")


def test_a_yaml_error_on_a_secret_line_does_not_echo_it(error):
    """The line of a YAML error is shown, except a line whose key looks secret."""
    message = error("source:\n  credentials:\n    secretKey: abc: def\n")
    assert "abc" not in message and "line 3 (<redacted>)" in message
    message = error("source: {type: dynamodb, credentials: {accessKey: a, secretKey: abc: def}}\n")
    assert "abc" not in message and "line 1 (<redacted>)" in message


@pytest.mark.parametrize(("text", "got"), [("- a\n", "a list"), ("", "empty"), ("just text\n", "a str")])
def test_top_level_must_be_a_mapping(error, text, got):
    """A file that is not a mapping is rejected with a hint on how it should start."""
    assert error(text) == (
        f"config.yaml: top level must be a mapping, got {got}; start the file with source: and target:")


# ---- key errors ----------------------------------------------------------------------------------------------


def test_unknown_key_suggests_the_closest(error):
    """A misspelt key gets a did-you-mean from the keys valid at that place."""
    assert error(config(target={"tabel": "x"})) == "target.tabel: unknown key; did you mean 'table'?"
    assert error(config(source={"scansegments": 4})) == "source.scansegments: unknown key; did you mean 'scanSegments'?"


def test_unknown_key_without_match_lists_valid_keys(error):
    """With no close match the message lists the valid keys."""
    assert error(config(source={"endpoint": {"host": "h", "port": 1, "zzz": 1}})) == (
        "source.endpoint.zzz: unknown key; valid keys here: host, port")


def test_top_level_unknown_key(error):
    """Top-level typos are caught too."""
    assert error(config(savepoint={"path": "/x"})) == "savepoint: unknown key; did you mean 'savepoints'?"
    assert error(config(skipTokenRange=[])) == "skipTokenRange: unknown key; did you mean 'skipTokenRanges'?"


def test_our_own_key_of_the_other_side_says_where_it_belongs(monkeypatch, error):
    """A key of this migrator's own (scylla-migrator knows none such) under the wrong side is refused with a move."""
    from migrator.config import keys

    monkeypatch.setattr(keys, "KEYS", keys.KEYS + (keys.Key("ourKey", ("source.dynamodb",), int, "our_key"),))
    assert error(config(target={"ourKey": 4})) == "target.ourKey: unknown key; it is a source key, move it under source"


@pytest.mark.parametrize(("raw", "warning"), [
    (config(target={"maxMapTasks": 8}),
     "target.maxMapTasks: has no effect; the number of tasks comes from source.maxMapTasks"),
    (config(source={"type": "alternator", "endpoint": {"host": "http://a", "port": 8000}, "maxItemsPerBatch": 100}),
     "source.maxItemsPerBatch: has no effect; only writes are batched; it has one as target.maxItemsPerBatch"),
    (config(skipTokenRanges=[[1, 2]]), "skipTokenRanges: has no effect; it lists the CQL token ranges a run has done, "
                                       "read only with a Cassandra or Scylla source"),
    (config(skipParquetFiles=["a.parquet"]), "skipParquetFiles: has no effect; it lists the Parquet files a run has "
                                             "done, read only with a Parquet source"),
    (config(target={"scanSegments": 4}), "target.scanSegments: has no effect; it is a source key, it has one as "
                                         "source.scanSegments"),
    (config(source={"writeThroughput": 100}), "source.writeThroughput: has no effect; it is a target key, it has one "
                                              "as target.writeThroughput"),
    (config(source={"bucket": "b"}), "source.bucket: has no effect; it is read only with source.type: "
                                     "dynamodb-s3-export"),
    (config(target={"path": "/x"}), "target.path: has no effect; it is read only with target.type: "
                                    "dynamodb-s3-export"),
    (config(savepoints={"path": "/sp", "intervalSeconds": 60, "enableParquetFileTracking": True}),
     "savepoints.enableParquetFileTracking: has no effect; it tracks Parquet files, read only with a Parquet source"),
    (config(validation={"numericTypePolicy": "StrictType"}),
     "validation.numericTypePolicy: has no effect; numbers are compared as decimal values; it applies to CQL tables"),
    (config(validation={"hashColumns": ["a"]}), "validation.hashColumns: has no effect; items are compared attribute "
                                                "by attribute; it applies to MySQL sources"),
])
def test_a_key_scylla_migrator_accepts_but_that_has_no_effect_here_is_one_warning(load, raw, warning):
    """scylla-migrator ignores these, so they run here too: one warning line naming the key, why, and where."""
    cfg = load(raw)
    assert list(cfg.warnings) == [warning]


def test_a_key_with_no_effect_is_left_out_of_the_settings_and_kept_in_the_raw_config(load):
    """target.maxMapTasks does not become the source's cap, and a savepoint of the run still carries it."""
    cfg = load(config(target={"maxMapTasks": 8}))
    assert cfg.source.max_map_tasks is None and cfg.raw["target"]["maxMapTasks"] == 8


def test_validation_keys_scylla_migrator_requires_warn_only_when_they_ask_for_something(load):
    """compareTimestamps (required there), the tolerances and the default choices are silent."""
    cfg = load(config(validation={"compareTimestamps": True, "ttlToleranceMillis": 60000,
                                  "writetimeToleranceMillis": 1000, "timestampMsTolerance": 0,
                                  "repairWritetimeStrategy": "source", "numericTypePolicy": "Lenient",
                                  "hashColumns": []}))
    assert list(cfg.warnings) == []


@pytest.mark.parametrize(("side", "key", "value"), [("source", "datacenter", "dc1"), ("target", "rack", "r1"),
                                                    ("source", "removeConsumedCapacity", True)])
def test_alternator_keys_under_type_dynamodb_stay_errors_as_in_scylla_migrator(error, side, key, value):
    """scylla-migrator refuses these under type: dynamodb, so they are no warning here."""
    raw = config(**{side: {"type": "dynamodb", key: value}})
    assert error(raw).startswith(f"{side}.{key}: only valid with type: alternator;")


def test_missing_required_key(error):
    """A missing (or empty) required key says what to fill in."""
    assert error(config(target={"table": DROP})) == "target.table: required; name the target table"
    assert error(config(source={"table": None})) == "source.table: required; name the source table"
    assert error(config(source={"type": DROP})) == "source.type: required; set type: dynamodb or type: alternator"
    assert error({"target": config()["target"]}) == "source: required; add a source: section with type and table"


def test_unknown_type_suggests_the_closest(error):
    """A misspelt type lists the valid types and suggests one."""
    assert error(config(source={"type": "dynamdb"})) == (
        "source.type: must be one of dynamodb, alternator, dynamodb-s3-export, got 'dynamdb'; "
        "did you mean 'dynamodb'?")


def test_errors_come_in_a_fixed_order(error):
    """With both sections wrong, the source error is reported first."""
    assert error(config(source={"scanSegments": 0}, target={"table": DROP})).startswith("source.scanSegments:")


# ---- value errors --------------------------------------------------------------------------------------------


def test_positive_integer_is_enforced(error):
    """Zero segments is rejected with the shape from STYLE.md."""
    assert error(config(source={"scanSegments": 0})) == "source.scanSegments: must be a positive integer, got 0"
    assert error(config(source={"scanSegments": 2_000_000})) == (
        "source.scanSegments: must be at most 1000000, got 2000000")


@pytest.mark.parametrize(("value", "shown"), [(True, "true"), (2.5, "2.5"), ("8", "'8'; write it without quotes")])
def test_integer_rejects_bools_fractions_and_strings(error, value, shown):
    """An integer key takes no bool, no fractional float and no string."""
    assert error(config(source={"maxMapTasks": value})) == f"source.maxMapTasks: must be an integer, got {shown}"


def test_boolean_rejects_strings(error):
    """A bool key takes YAML booleans only, not the string 'false'."""
    assert error(config(target={"streamChanges": "false"})) == (
        "target.streamChanges: must be true or false, got 'false'; write true or false without quotes")


@pytest.mark.parametrize(("side", "key", "value"), [
    ("source", "throughputReadPercent", 2), ("target", "throughputWritePercent", 0.05)])
def test_throughput_percent_range(error, side, key, value):
    """throughputReadPercent and throughputWritePercent must be within 0.1 .. 1.5."""
    assert error(config(**{side: {key: value}})) == f"{side}.{key}: must be a number from 0.1 to 1.5, got {value}"


def test_max_items_per_batch_range(error):
    """maxItemsPerBatch is 1 .. 100 on Alternator."""
    assert error(config(target={"maxItemsPerBatch": 101})) == "target.maxItemsPerBatch: must be at most 100, got 101"
    assert error(config(target={"maxItemsPerBatch": 0})) == (
        "target.maxItemsPerBatch: must be a positive integer, got 0")


def test_max_items_per_batch_above_25_needs_alternator(load, error):
    """DynamoDB takes at most 25 items per BatchWriteItem; 25 itself is fine."""
    dynamodb = {"type": "dynamodb", "endpoint": DROP}
    assert error(config(target={**dynamodb, "maxItemsPerBatch": 100})) == (
        "target.maxItemsPerBatch: DynamoDB accepts at most 25 items per BatchWriteItem, got 100; "
        "use 25 or set type: alternator")
    assert load(config(target={**dynamodb, "maxItemsPerBatch": 25})).target.max_items_per_batch == 25


def test_billing_mode_is_one_of_two(error):
    """billingMode is PROVISIONED or PAY_PER_REQUEST; a wrong case gets a suggestion."""
    assert error(config(target={"billingMode": "pay_per_request"})) == (
        "target.billingMode: must be one of PROVISIONED, PAY_PER_REQUEST, got 'pay_per_request'; "
        "did you mean 'PAY_PER_REQUEST'?")


def test_skip_segments_are_non_negative_integers_below_scan_segments(error):
    """skipSegments is a list of segment numbers, each below scanSegments when that is set."""
    assert error(config(skipSegments=3)) == (
        "skipSegments: must be a list, got 3; write [a, b] or one '- item' per line")
    assert error(config(skipSegments=[1, -1])) == "skipSegments[1]: must be a non-negative integer, got -1"
    assert error(config(source={"scanSegments": 4}, skipSegments=[4])) == (
        "skipSegments[0]: must be below source.scanSegments (4), got 4; use segment numbers 0 to 3")


def test_string_key_rejects_numbers(error):
    """A table name YAML read as a number asks for quotes."""
    assert error(config(source={"table": 123})) == "source.table: must be a string, got 123; put it in quotes"


def test_an_attribute_renamed_twice_is_refused(error):
    """One attribute cannot be renamed twice: the message names both renames."""
    assert error(config(renames=[{"from": "a", "to": "b"}, {"from": "a", "to": "c"}])) == (
        "renames[1].from: renamed twice, got 'a' (renames[0] renames it too); keep one rename per attribute")


def test_two_renames_to_one_name_are_refused(error):
    """Two attributes cannot become one: the second rename is named, with the first."""
    assert error(config(renames=[{"from": "a", "to": "x"}, {"from": "b", "to": "x"}])) == (
        "renames[1].to: 'x' is also the new name of 'a' (renames[0]), got 'b' -> 'x'; two attributes cannot become "
        "one, give each its own new name")


@pytest.mark.parametrize(("renames", "message"), [
    ([{"from": "a", "to": "b"}, {"from": "b", "to": "c"}],
     "renames[0].to: 'b' is renamed again by renames[1] ('b' -> 'c'), got 'a' -> 'b'"),
    ([{"from": "b", "to": "c"}, {"from": "a", "to": "b"}],
     "renames[1].to: 'b' is renamed again by renames[0] ('b' -> 'c'), got 'a' -> 'b'"),
    ([{"from": "a", "to": "b"}, {"from": "b", "to": "a"}],
     "renames[0].to: 'b' is renamed again by renames[1] ('b' -> 'a'), got 'a' -> 'b'"),
    ([{"from": "a", "to": "b"}, {"from": "b", "to": "c"}, {"from": "c", "to": "a"}],
     "renames[0].to: 'b' is renamed again by renames[1] ('b' -> 'c'), got 'a' -> 'b'"),
])
def test_rename_chains_and_cycles_are_refused(error, renames, message):
    """A new name that another rename reads as its old name reads two ways: chains, swaps and longer cycles."""
    assert error(config(renames=renames)) == (
        f"{message}; a chain or cycle of renames reads two ways (they apply at once to the source's names): rename "
        "each attribute straight to a name no other rename reads")


def test_a_rename_to_its_own_name_is_refused(error):
    """from == to renames nothing: the config says so rather than carry a no-op."""
    assert error(config(renames=[{"from": "a", "to": "a"}])) == (
        "renames[0].to: is the same as from, got 'a'; a rename to its own name changes nothing, remove it")


@pytest.mark.parametrize(("rename", "message"), [
    ({"to": "b"}, "renames[0].from: required; name the source attribute"),
    ({"from": "a"}, "renames[0].to: required; name the target attribute"),
    ({"from": "a", "to": 1}, "renames[0].to: must be a string, got 1; put it in quotes"),
    ({"from": "a", "to": "b", "as": "c"}, "renames[0].as: unknown key"),
])
def test_a_rename_needs_from_and_to_as_strings(error, rename, message):
    """Each rename is {from: OLD, to: NEW}: a missing or odd field is named by its place in the list."""
    assert error(config(renames=[rename])).startswith(message)


def test_renames_that_touch_distinct_names_parse_in_order(load):
    """Independent renames, a key attribute's among them, parse as given."""
    cfg = load(config(renames=[{"from": "id", "to": "pk"}, {"from": "ts", "to": "sk"}, {"from": "n", "to": "name"}]))
    assert cfg.renames == (Rename("id", "pk"), Rename("ts", "sk"), Rename("n", "name"))


def test_validation_choice_keys_are_checked(error):
    """The accepted-but-unused validation keys still get their values checked."""
    assert error(config(validation={"numericTypePolicy": "lenient"})) == (
        "validation.numericTypePolicy: must be one of Lenient, DetectWiden, StrictType, got 'lenient'; "
        "did you mean 'Lenient'?")


# ---- endpoint and credentials errors -------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "message"), [
    ("http://scylla:8000", "not a valid host, got 'http://scylla:8000'; put the port in endpoint.port"),
    ("scylla:8000", "not a valid host, got 'scylla:8000'; put the port in endpoint.port"),
    ("http://scylla/api", "must not contain a path, query or fragment, got 'http://scylla/api'; write only the host"),
    ("ftp://scylla", "protocol must be http or https, got 'ftp://scylla'; write http://HOST or https://HOST"),
    ("bad host", "not a valid host, got 'bad host'; write a hostname, an IP or http(s)://HOST"),
])
def test_endpoint_host_must_be_a_host(error, host, message):
    """endpoint.host is a hostname, IP or http(s) URL without port, path or query."""
    assert error(config(source={"endpoint": {"host": host, "port": 8000}})) == f"source.endpoint.host: {message}"


def test_endpoint_host_with_password_is_not_echoed(error):
    """A user:password@ in the host is rejected without printing the password."""
    message = error(config(source={"endpoint": {"host": "http://me:hunter2@scylla", "port": 8000}}))
    assert message == ("source.endpoint.host: must not contain a user name or password; "
                       "write only the host and use credentials")


def test_endpoint_port_range(error):
    """endpoint.port is 1 .. 65535."""
    assert error(config(target={"endpoint": {"host": "http://scylla", "port": 70000}})) == (
        "target.endpoint.port: must be at most 65535, got 70000")


def test_credentials_need_both_keys(error):
    """accessKey without secretKey (or the reverse) is an error that offers the AWS default chain instead."""
    fix = "give both accessKey and secretKey, or remove credentials to use the AWS default credential chain"
    assert error(config(source={"credentials": {"accessKey": "AK"}})) == (
        f"source.credentials.secretKey: required; {fix}")
    assert error(config(source={"credentials": {"secretKey": "S"}})) == (
        f"source.credentials.accessKey: required; {fix}")


def test_bad_secret_value_is_not_echoed(error):
    """An error about a secret key's value shows <redacted>, not the value."""
    message = error(config(source={"credentials": {"accessKey": "AK", "secretKey": 998877}}))
    assert message == "source.credentials.secretKey: must be a string, got <redacted>; put it in quotes"


# ---- rules scylla-migrator adds for Alternator ---------------------------------------------------------------


@pytest.mark.parametrize(("side", "key", "value"), [
    ("source", "removeConsumedCapacity", True), ("source", "datacenter", "dc1"),
    ("target", "removeConsumedCapacity", False), ("target", "compression", True),
    ("target", "connectionTimeoutMs", 1000),
])
def test_alternator_only_keys_need_type_alternator(error, side, key, value):
    """Alternator-only keys under type: dynamodb say to switch the type."""
    changes = {"type": "dynamodb", "endpoint": DROP, key: value}
    assert error(config(**{side: changes})) == (
        f"{side}.{key}: only valid with type: alternator; set {side}.type: alternator or remove the key")


def test_nested_alternator_block_is_rejected(error):
    """There is no nested `alternator:` block; its keys go flat under the section."""
    assert error(config(target={"alternator": {"datacenter": "dc1"}})) == (
        "target.alternator: unknown key; there is no nested alternator block, set target.type: alternator and "
        "write its keys directly under target")


def test_alternator_needs_an_endpoint(error):
    """type: alternator has no default endpoint."""
    assert error(config(target={"endpoint": DROP})) == (
        "target.endpoint: required for type: alternator; add endpoint: {host: http://HOST, port: 8000}")


def test_alternator_host_needs_protocol(error):
    """Alternator's host must say http:// or https://."""
    assert error(config(target={"endpoint": {"host": "scylla", "port": 8000}})) == (
        "target.endpoint.host: Alternator needs the protocol, got 'scylla'; write http://scylla or https://scylla")


def test_alternator_rejects_assume_role(error):
    """Alternator has no STS, so assumeRole is rejected."""
    credentials = {"accessKey": "a", "secretKey": "s", "assumeRole": {"arn": "arn:aws:iam::1:role/r"}}
    assert error(config(target={"credentials": credentials})) == (
        "target.credentials.assumeRole: not supported by Alternator; remove it and give accessKey and secretKey")


def test_rack_needs_datacenter(error):
    """Routing to a rack needs its datacenter."""
    assert error(config(target={"rack": "r1"})) == (
        "target.rack: needs datacenter, got rack 'r1' alone; add target.datacenter")


def test_alternator_source_cannot_stream(error):
    """streamChanges replays a DynamoDB table's stream; like scylla-migrator, an alternator source is refused."""
    source = {"type": "alternator", "endpoint": {"host": "http://old", "port": 8000}}
    assert error(config(source=source, target={"streamChanges": True})) == (
        "target.streamChanges: replays the stream of a DynamoDB table, and the source is type alternator, got "
        "true; set streamChanges: false or read from source type: dynamodb")


def test_skip_initial_snapshot_needs_stream_changes(error):
    """skipInitialSnapshotTransfer alone would copy nothing."""
    assert error(config(target={"skipInitialSnapshotTransfer": True})) == (
        "target.skipInitialSnapshotTransfer: only has an effect with target.streamChanges: true, got true; "
        "set streamChanges: true or remove the key")


# ---- secrets -------------------------------------------------------------------------------------------------


def test_secret_key_never_printed(load):
    """The secret key appears neither in repr(cfg) nor in redacted_yaml(cfg)."""
    secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY"
    credentials = {"accessKey": "AKIDEXAMPLE", "secretKey": secret,
                   "assumeRole": {"arn": "arn:aws:iam::1:role/r", "sessionName": "s"}}
    cfg = load(config(source={"credentials": credentials}))
    assert cfg.source.credentials.secret_key == secret
    assert secret not in repr(cfg) and secret not in str(cfg) and secret not in repr(cfg.source.credentials)
    dumped = redacted_yaml(cfg)
    assert secret not in dumped and "AKIDEXAMPLE" not in dumped
    assert yaml.safe_load(dumped)["source"]["credentials"] == {
        "accessKey": "<redacted>", "secretKey": "<redacted>", "assumeRole": {"arn": "arn:aws:iam::1:role/r",
                                                                              "sessionName": "s"}}


def test_redact_matches_secret_key_spellings():
    """Keys like api_key, Private-Key, keyFile or sessionToken are redacted at any depth, lists included."""
    raw = {"a": [{"api_key": "k1", "Private-Key": "k2"}], "keyFile": "/k", "sessionToken": ["t1", "t2"],
           "Password": 42, "table": "keep", "endpoint": {"host": "keep"}}
    assert redact(raw) == {"a": [{"api_key": "<redacted>", "Private-Key": "<redacted>"}], "keyFile": "<redacted>",
                           "sessionToken": ["<redacted>", "<redacted>"], "Password": "<redacted>", "table": "keep",
                           "endpoint": {"host": "keep"}}


def test_skip_token_ranges_is_not_taken_for_a_secret():
    """scylla-migrator's skipTokenRanges holds token ranges, not a token: the log shows it and savepoints keep it."""
    from migrator.config.secrets import secret_paths, without_secrets

    raw = {"skipTokenRanges": [[1, 2]], "source": {"sessionToken": "t"}}
    assert redact(raw) == {"skipTokenRanges": [[1, 2]], "source": {"sessionToken": "<redacted>"}}
    assert without_secrets(raw)["skipTokenRanges"] == [[1, 2]]
    assert secret_paths(raw) == ["source.sessionToken"]


def test_the_keys_declared_secret_are_the_ones_the_secret_walk_finds():
    """An accepted key declared secret is one whose value redaction and savepoints leave out, and no other is."""
    from migrator.config.keys import KEYS
    from migrator.config.secrets import is_secret_key

    accepted = [key for key in KEYS if key.places]
    assert {key.name for key in accepted if key.secret} == {key.name for key in accepted if is_secret_key(key.name)}


def test_a_key_is_declared_once_per_place():
    """No place accepts two declarations of one YAML key."""
    from migrator.config.keys import KEYS

    places = [(where, key.name) for key in KEYS for where in key.places]
    assert len(places) == len(set(places))


# ---- configs that run as they are ---------------------------------------------------------------------------

def test_stream_changes_and_skip_initial_snapshot_transfer_parse(load):
    """streamChanges and skipInitialSnapshotTransfer are read into the target's settings."""
    cfg = load(config(target={"streamChanges": True, "skipInitialSnapshotTransfer": True}))
    assert cfg.target.stream_changes and cfg.target.skip_initial_snapshot_transfer


def test_stream_checkpoint_needs_stream_changes(error):
    """A savepoint's streamCheckpoint without streamChanges would be ignored: refused."""
    assert error(config(streamCheckpoint={"streamArn": "arn:x"})) == (
        "streamCheckpoint: records stream positions, read only with target.streamChanges: true; set streamChanges: "
        "true to continue the stream, or remove streamCheckpoint")


def test_defaults_written_out_parse_without_warnings(load):
    """Keys written with their default value (compression: false, streamChanges: false) run fine."""
    cfg = load(config(target={"compression": False, "streamChanges": False, "removeConsumedCapacity": True},
                      renames=[]))
    assert list(cfg.warnings) == []


def test_scylla_migrators_config_with_savepoints_parses_without_warnings(load):
    """scylla-migrator's config, savepoints included, runs with no error and no warning."""
    cfg = load(SCYLLA_MIGRATOR_YAML)
    assert list(cfg.warnings) == []


def test_skip_segments_need_the_segment_count_they_were_recorded_with(error):
    """skipSegments without source.scanSegments would skip other data if the derived count changed: refused."""
    assert error(config(skipSegments=[1])) == (
        "skipSegments: needs source.scanSegments, the segment count these segment numbers belong to; got none, and "
        "a count derived from the table size can change between runs; set source.scanSegments to the count of the "
        "run that recorded them (a savepoint records it)")


def test_credentials_left_out_of_a_savepoint_are_refused_with_the_way_to_resume(error):
    """A savepoint's stand-in for credentials says how to resume instead of failing as a bad mapping."""
    message = error(config(source={"credentials": "<not stored in savepoints>"}))
    assert message == (
        "source.credentials: not stored in savepoints; resume with your own config plus this savepoint: ./submit.sh "
        "YOUR_CONFIG --resume SAVEPOINT, or delete this line from the savepoint to use the AWS default credential "
        "chain")


@pytest.mark.parametrize(("target", "path"), [
    ({"type": "filesystem", "path": "/app/savepoints"}, "/app/savepoints"),
    ({"type": "path", "path": "/app/savepoints"}, "/app/savepoints"),
    ({"type": "s3", "bucket": "b", "prefix": "/runs/1/"}, "s3://b/runs/1"),
    ({"type": "aws-bucket", "bucket": "b"}, "s3://b"),
])
def test_scylla_migrators_savepoints_target_stands_for_savepoints_path(load, target, path):
    """savepoints.target (scylla-migrator's structured form) runs here as the directory or s3:// URL it names."""
    cfg = load(config(savepoints={"target": target, "intervalSeconds": 60}))
    assert cfg.savepoints.path == path and list(cfg.warnings) == []


def test_savepoints_target_region_is_a_warning(load):
    """S3 savepoints use the driver's region, so target.region has no effect: one warning."""
    cfg = load(config(savepoints={"target": {"type": "s3", "bucket": "b", "region": "eu-west-1"},
                                  "intervalSeconds": 60}))
    assert list(cfg.warnings) == ["savepoints.target.region: has no effect; S3 savepoints use the driver's AWS "
                                  "region (AWS_REGION); set it there"]


@pytest.mark.parametrize(("savepoints", "message"), [
    ({"path": "/a", "target": {"type": "filesystem", "path": "/b"}, "intervalSeconds": 60},
     "savepoints.target: given together with savepoints.path '/a'; keep one of them"),
    ({"intervalSeconds": 60}, "savepoints.path: required; name the savepoints directory (path: DIR or "
                              "s3://BUCKET/PREFIX)"),
    ({"target": {"type": "gcs", "bucket": "b"}, "intervalSeconds": 60},
     "savepoints.target.type: must be one of filesystem, path, s3, aws-s3, aws-bucket, got 'gcs'; Google Cloud "
     "Storage and target-table are not supported here, use filesystem or s3"),
    ({"target": {"type": "s3"}, "intervalSeconds": 60}, "savepoints.target.bucket: required; name the S3 bucket"),
    ({"target": {"type": "filesystem", "bucket": "b", "path": "/p"}, "intervalSeconds": 60},
     "savepoints.target.bucket: only valid with type: s3; set type: s3 or remove the key"),
    ({"target": {"type": "s3", "bucket": "b", "credentials": {"accessKey": "a", "secretKey": "s"}},
      "intervalSeconds": 60}, "savepoints.target.credentials: not supported; S3 savepoints are written with the AWS "
                              "default credential chain, remove it"),
])
def test_savepoints_target_errors(error, savepoints, message):
    """Both forms at once, neither, an unsupported store type, a missing bucket: one line each."""
    assert error(config(savepoints=savepoints)) == message


def test_skip_files_are_data_file_keys_of_an_export_source(load, error):
    """skipFiles (savepoints write it for an export import) is a list of keys, and only an export source has files."""
    export = {"type": "dynamodb-s3-export", "bucket": "b", "manifestKey": "m.json", "table": DROP, "region": DROP,
              "tableDescription": {"attributeDefinitions": [{"name": "id", "type": "S"}],
                                   "keySchema": [{"name": "id", "type": "HASH"}]}}
    assert load(config(source=export, skipFiles=["d/a.json.gz", "d/b.json.gz"])).skip_files == frozenset(
        {"d/a.json.gz", "d/b.json.gz"})
    assert error(config(skipFiles=["d/a.json.gz"])) == (
        "skipFiles: lists data files of a dynamodb-s3-export source, and the source is type dynamodb; remove "
        "skipFiles (a table's progress is skipSegments)")
