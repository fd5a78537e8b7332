"""--resume: the user's config plus a savepoint's progress, refused when the two do not belong together."""

from __future__ import annotations

import pytest
import yaml

from migrator.config import load_config
from migrator.errors import ConfigError
from migrator.savepoints.resume import resume_config
from migrator.savepoints.stores import SavepointDir
from migrator.savepoints.writer import savepoint_text

SECRET = "s3cr3t-from-the-users-config"


def user_config(tmp_path, **source_extra):
    raw = {
        "source": {"type": "dynamodb", "table": "src", "region": "us-east-1",
                   "credentials": {"accessKey": "AK", "secretKey": SECRET}, **source_extra},
        "target": {"type": "alternator", "table": "dst", "endpoint": {"host": "http://scylla", "port": 8000}},
        "savepoints": {"path": str(tmp_path / "savepoints"), "intervalSeconds": 60},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path), str(path), raw


def savepoint(tmp_path, raw, total, done):
    directory = SavepointDir(tmp_path / "savepoints")
    directory.check()
    return directory.write(savepoint_text(raw, total_segments=total, done=set(done), reason="interval"))


def test_resume_takes_progress_from_the_savepoint_and_credentials_from_the_config(tmp_path):
    """skipSegments and the segment count come from the savepoint; the secret from the user's config."""
    config, origin, raw = user_config(tmp_path)
    savepoint(tmp_path, raw, 16, {3, 1, 4})
    resumed = resume_config(config, origin, str(tmp_path / "savepoints"))
    assert resumed.source.scan_segments == 16  # derived in the first run, fixed from now on
    assert resumed.skip_segments == frozenset({1, 3, 4})
    assert resumed.source.credentials.secret_key == SECRET


def test_the_newest_savepoint_of_a_directory_is_used(tmp_path):
    """A directory means its alphabetically last, that is newest, savepoint."""
    config, origin, raw = user_config(tmp_path, scanSegments=8)
    savepoint(tmp_path, raw, 8, {0})
    newest = savepoint(tmp_path, raw, 8, {0, 5})
    assert resume_config(config, origin, str(tmp_path / "savepoints")).skip_segments == frozenset({0, 5})
    assert resume_config(config, origin, str(newest)).skip_segments == frozenset({0, 5})


def test_a_savepoint_with_another_segment_count_is_refused(tmp_path):
    """Segment 3 of 16 is other data than segment 3 of 8: refused with the fix, status 2."""
    config, origin, raw = user_config(tmp_path, scanSegments=8)
    path = savepoint(tmp_path, raw, 16, {3})
    with pytest.raises(ConfigError) as info:
        resume_config(config, origin, str(path))
    assert info.value.exit_status == 2
    assert str(info.value) == (
        f"--resume: savepoint {str(path)!r} was recorded with 16 scan segments but source.scanSegments is 8; its "
        "segment numbers name other data with another count, so set source.scanSegments: 16 (or remove it) to "
        "resume, or run without --resume to start over")


def test_a_savepoint_of_another_migration_is_refused(tmp_path):
    """The savepoint must name the same source and target tables as the config."""
    config, origin, raw = user_config(tmp_path)
    other = {**raw, "source": {**raw["source"], "table": "other"}}
    path = savepoint(tmp_path, other, 4, {0})
    with pytest.raises(ConfigError, match=r"records source table 'other' -> target table 'dst', but the config "
                                          r"copies 'src' -> 'dst'; give a savepoint of this migration"):
        resume_config(config, origin, str(path))


@pytest.mark.parametrize("text, message", [
    ("source: {table: src}\ntarget: {table: dst}\n", "not a savepoint of this migrator, it has no source.scanSegments"),
    ("source: {table: src, scanSegments: 4}\ntarget: {table: dst}\nskipSegments: [4]\n",
     "skipSegments[0]: must be at most 3, got 4"),
    ("[1, 2]\n", "not a savepoint of this migrator"),
])
def test_a_file_that_is_not_a_savepoint_is_refused(tmp_path, text, message):
    """Any other YAML given to --resume is a one-line error naming the file."""
    config, origin, _ = user_config(tmp_path)
    path = tmp_path / "other.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        resume_config(config, origin, str(path))
    assert str(info.value).startswith(f"--resume: {str(path)!r}") and message in str(info.value)


@pytest.mark.parametrize("side, change, message", [
    ("source", {"region": "eu-west-1"}, "records source.region 'eu-west-1' but the config has 'us-east-1'"),
    ("source", {"region": None}, "records source.region none but the config has 'us-east-1'"),
    ("source", {"endpoint": {"host": "http://old-host", "port": 8000}},
     "records source.endpoint 'http://old-host:8000' but the config has none"),
    ("target", {"endpoint": {"host": "http://scylla", "port": 9000}},
     "records target.endpoint 'http://scylla:9000' but the config has 'http://scylla:8000'"),
    ("target", {"type": "dynamodb"}, "records target.type 'dynamodb' but the config has 'alternator'"),
])
def test_a_savepoint_of_another_server_type_or_region_is_refused(tmp_path, side, change, message):
    """Same table names elsewhere are another migration: one line naming the key, both values and the fix."""
    config, origin, raw = user_config(tmp_path)
    other = {**raw, side: {**raw[side], **change}}
    path = savepoint(tmp_path, other, 4, {0})
    with pytest.raises(ConfigError) as info:
        resume_config(config, origin, str(path))
    assert info.value.exit_status == 2
    assert str(info.value) == (f"--resume: savepoint {str(path)!r} {message}; give a savepoint of this migration, "
                               "or run without --resume to start over")


def test_a_savepoint_written_with_the_same_endpoint_spelt_otherwise_is_accepted(tmp_path):
    """`type: dynamo` and a host with a trailing slash read as the config's `dynamodb` and host."""
    config, origin, raw = user_config(tmp_path)
    spelt = {**raw, "source": {**raw["source"], "type": "dynamo"},
             "target": {**raw["target"], "endpoint": {"host": "http://scylla/", "port": 8000.0}}}
    savepoint(tmp_path, spelt, 4, {2})
    assert resume_config(config, origin, str(tmp_path / "savepoints")).skip_segments == frozenset({2})
