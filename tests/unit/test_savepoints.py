"""Savepoint files: names in time order, atomic writes, no secrets, and the progress they record."""

from __future__ import annotations

import logging
import os
import threading
import time

import pytest
import yaml

from migrator.savepoints import stores as savepoint_stores
from migrator.config import load_config
from migrator.errors import ConfigError, SavepointError
from migrator.savepoints.stores import NAME, SavepointDir, find_savepoint, savepoint_name
from migrator.savepoints.writer import SavepointWriter, savepoint_text

SECRET = "wJalrXUtnFEMI-do-not-leak"
RAW = {
    "source": {"type": "dynamodb", "table": "src", "region": "us-east-1",
               "credentials": {"accessKey": "AKIAEXAMPLE", "secretKey": SECRET,
                               "assumeRole": {"arn": "arn:aws:iam::1:role/r"}}},
    "target": {"type": "alternator", "table": "dst", "endpoint": {"host": "http://scylla", "port": 8000},
               "credentials": {"accessKey": "cassandra", "secretKey": SECRET}},
    "savepoints": {"path": "/tmp/unused", "intervalSeconds": 300},
}


def test_names_have_13_digit_millis_and_10_digit_counter():
    """savepoint_<13-digit epoch millis>_<10-digit counter>.yaml, zero-padded."""
    assert savepoint_name(1_700_000_000_123, 7) == "savepoint_1700000000123_0000000007.yaml"
    assert NAME.fullmatch(savepoint_name(5, 1))


def test_the_alphabetically_last_file_is_the_newest_even_when_the_clock_goes_back(tmp_path, monkeypatch):
    """Millis never decrease and the counter grows, so sorting the names gives the order of writing."""
    clock = iter([2_000.0, 1_000.0, 1_000.0, 3_000.0])
    monkeypatch.setattr(savepoint_stores.time, "time", lambda: next(clock))
    directory = SavepointDir(tmp_path)
    written = [directory.write(f"n: {i}\n").name for i in range(4)]
    assert written == sorted(written) == directory.names()
    assert [yaml.safe_load((tmp_path / name).read_text())["n"] for name in directory.names()] == [0, 1, 2, 3]
    assert directory.newest().name == written[-1]


def test_the_counter_and_millis_continue_from_the_files_already_there(tmp_path):
    """A new run's first file sorts after every existing savepoint, even one stamped in the future."""
    (tmp_path / "savepoint_9000000000000_0000000041.yaml").write_text("old: 1\n")
    (tmp_path / "savepoint_0000000000100_0000000007.yaml").write_text("old: 2\n")
    path = SavepointDir(tmp_path).write("new: 1\n")
    assert path.name == "savepoint_9000000000000_0000000042.yaml"
    assert SavepointDir(tmp_path).newest() == path


def test_a_write_is_atomic_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    """A failed rename raises SavepointError naming the file, and leaves neither a savepoint nor a temp file."""
    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(savepoint_stores.os, "replace", broken_replace)
    with pytest.raises(SavepointError, match=r"cannot write savepoint '.*savepoint_\d{13}_0000000001\.yaml': "
                                             r"No space left on device"):
        SavepointDir(tmp_path).write("x: 1\n")
    assert os.listdir(tmp_path) == []


def test_other_files_in_the_directory_are_ignored(tmp_path):
    """Temporary files, legacy names and other files are neither read nor counted."""
    (tmp_path / ".savepoint_0000000000001_0000000009.yaml.tmp").write_text("partial")
    (tmp_path / "savepoint_1700000000.yaml").write_text("legacy")
    (tmp_path / "notes.txt").write_text("")
    assert SavepointDir(tmp_path).names() == []
    assert SavepointDir(tmp_path).write("a: 1\n").name.endswith("_0000000001.yaml")


def test_no_secret_is_written_and_the_count_and_progress_are(tmp_path):
    """Credentials become a marker; scanSegments is the count used; skipSegments the sorted done segments."""
    text = savepoint_text({**RAW, "skipSegments": [9]}, total_segments=16, done={5, 1, 9}, reason="interval")
    assert SECRET not in text and "AKIAEXAMPLE" not in text and "cassandra" not in text
    doc = yaml.safe_load(text)
    assert doc["source"]["credentials"] == doc["target"]["credentials"] == "<not stored in savepoints>"
    assert doc["source"]["scanSegments"] == 16
    assert doc["skipSegments"] == [1, 5, 9]
    assert "skipSegments: [1, 5, 9]\n" in text
    assert text.startswith("# migrator ") and "(interval)" in text.splitlines()[0]
    assert "# progress: 3 of 16 segments done, 13 remain" in text
    assert ("# not stored: source.credentials, target.credentials; resume: ./submit.sh YOUR_CONFIG --resume "
            "THIS_FILE") in text


def test_a_config_without_credentials_gives_a_savepoint_that_runs_alone(tmp_path):
    """Nothing left out: the header says the savepoint itself can be run, and it loads as the config."""
    raw = {side: {k: v for k, v in section.items() if k != "credentials"} for side, section in RAW.items()}
    text = savepoint_text(raw, total_segments=4, done={2}, reason="final")
    assert "# resume: ./submit.sh THIS_FILE, or ./submit.sh YOUR_CONFIG --resume THIS_FILE" in text
    path = tmp_path / "alone.yaml"
    path.write_text(text)
    assert load_config(path).skip_segments == frozenset({2})


def test_a_savepoint_alone_says_the_credentials_are_missing_and_runs_once_they_are_removed(tmp_path):
    """Loading a savepoint with credentials left out is a one-line error; without them it is a working config."""
    path = tmp_path / "savepoint.yaml"
    path.write_text(savepoint_text(RAW, total_segments=8, done={0, 3}, reason="final"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith("source.credentials: not stored in savepoints; resume with your own config "
                                      "plus this savepoint: ./submit.sh YOUR_CONFIG --resume SAVEPOINT")
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True)
                            if "credentials:" not in line))
    cfg = load_config(path)
    assert (cfg.source.scan_segments, cfg.skip_segments) == (8, frozenset({0, 3}))
    assert cfg.source.credentials is None and cfg.target.credentials is None


def writer(tmp_path, done=frozenset()) -> SavepointWriter:
    return SavepointWriter(SavepointDir(tmp_path), RAW, 4, done)


def test_interval_savepoints_are_written_only_when_progress_changed(tmp_path):
    """No new segment, no new interval file; a segment reported twice counts once."""
    w = writer(tmp_path, frozenset({0}))
    assert w.save("interval") is None
    w.unit_done(2, 10)
    first = w.save("interval")
    w.unit_done(2, 10)
    assert w.save("interval") is None
    assert yaml.safe_load(first.read_text())["skipSegments"] == [0, 2]
    assert SavepointDir(tmp_path).names() == [first.name]


def test_a_terminal_savepoint_is_written_even_without_new_progress_but_only_once(tmp_path):
    """signal, failure and final savepoints always leave a file, and do not repeat an identical one."""
    w = writer(tmp_path)
    w.unit_done(1, 3)
    w.save("interval")
    signal_file = w.save("signal", "SIGTERM")
    assert signal_file is not None and "(signal: SIGTERM)" in signal_file.read_text().splitlines()[0]
    assert w.save("final") is None
    w.unit_done(3, 3)
    final = w.save("final")
    assert yaml.safe_load(final.read_text())["skipSegments"] == [1, 3]
    assert len(SavepointDir(tmp_path).names()) == 3


def test_once_a_run_is_stopping_only_terminal_savepoints_are_written(tmp_path):
    """After a signal savepoint the interval ones stop, so the newest file says why the run stopped."""
    w = writer(tmp_path)
    w.save("signal", "SIGTERM")
    w.unit_done(0, 1)  # a task that finished while the job was being stopped
    assert w.save("interval") is None
    last = w.save("signal", "SIGTERM")
    assert "(signal: SIGTERM)" in last.read_text() and yaml.safe_load(last.read_text())["skipSegments"] == [0]


def test_the_interval_thread_writes_while_segments_finish(tmp_path):
    """With the writer started, a finished segment shows up in a savepoint file without anyone asking."""
    w = writer(tmp_path)
    w.start(0.02)
    try:
        w.unit_done(3, 5)
        deadline = time.monotonic() + 10
        while not SavepointDir(tmp_path).names() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        w.stop()
    newest = SavepointDir(tmp_path).newest()
    assert newest is not None and yaml.safe_load(newest.read_text())["skipSegments"] == [3]
    assert "(interval)" in newest.read_text().splitlines()[0]


class _FailsOnce(SavepointDir):
    """A directory store whose first write raises an exception that is not a SavepointError."""

    def __init__(self, path):
        super().__init__(path)
        self.failures = 0
        self.written = threading.Event()

    def write(self, text):
        if self.failures == 0:
            self.failures += 1
            raise RuntimeError("store broke once")
        path = super().write(text)
        self.written.set()
        return path


def test_the_interval_thread_logs_any_exception_and_writes_at_the_next_interval(tmp_path):
    """A write that raises RuntimeError is logged with its cause; the thread lives on and the next write lands."""
    store = _FailsOnce(tmp_path)
    w = SavepointWriter(store, RAW, 4, frozenset())
    w.unit_done(1, 7)
    records = []
    handler = logging.Handler()
    handler.emit = records.append  # the migrator logger may not propagate to pytest's handler
    logger = logging.getLogger("migrator.savepoints.writer")
    logger.addHandler(handler)
    try:
        w.start(0.01)
        try:
            assert store.written.wait(30), "no savepoint was written after the failed one"
        finally:
            w.stop()
    finally:
        logger.removeHandler(handler)
    assert store.failures == 1
    assert any("interval savepoint failed: RuntimeError: store broke once" in r.getMessage() for r in records)
    assert yaml.safe_load(SavepointDir(tmp_path).newest().read_text())["skipSegments"] == [1]


def test_writes_from_several_threads_never_share_a_name(tmp_path):
    """The progress server's threads and the signal path may save at once: every file gets its own name."""
    w = writer(tmp_path)

    def work(segment):
        w.unit_done(segment, 1)
        w.save("interval")

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = SavepointDir(tmp_path).names()
    assert len(names) == len(set(names)) >= 1
    assert yaml.safe_load(SavepointDir(tmp_path).newest().read_text())["skipSegments"] == [0, 1, 2, 3]


def test_find_savepoint_takes_a_file_or_the_newest_in_a_directory(tmp_path):
    """--resume accepts a savepoint file, or a directory whose newest savepoint is used."""
    directory = SavepointDir(tmp_path)
    directory.write("a: 1\n")
    newest = directory.write("a: 2\n")
    assert find_savepoint(str(tmp_path)) == (str(newest), "a: 2\n")
    assert find_savepoint(str(newest)) == (str(newest), "a: 2\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"^--resume: no savepoint_\*\.yaml file in '.*empty'"):
        find_savepoint(str(empty))
    with pytest.raises(ConfigError, match=r"^--resume: '.*missing' not found"):
        find_savepoint(str(tmp_path / "missing"))


def test_a_directory_that_cannot_be_written_is_a_config_error(tmp_path):
    """savepoints.path is checked before the job starts: the error names the key, the path and the cause."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"^savepoints\.path: cannot write savepoints to '.*file/sub': Not a "
                                          r"directory; create the directory or point savepoints\.path"):
        SavepointDir(blocker / "sub").check()
    SavepointDir(tmp_path / "new" / "dir").check()
    assert (tmp_path / "new" / "dir").is_dir() and os.listdir(tmp_path / "new" / "dir") == []


def test_an_export_import_records_its_data_files_by_key_and_no_segment_count():
    """With the plan's record (an export source's), the savepoint lists the files done as skipFiles, replaces an
    older list, and says 'files' in its header; no scanSegments is added to the source."""
    raw = {"source": {"type": "dynamodb-s3-export", "bucket": "b", "manifestKey": "e/manifest-summary.json",
                      "tableDescription": {"attributeDefinitions": [{"name": "id", "type": "S"}],
                                           "keySchema": [{"name": "id", "type": "HASH"}]}},
           "target": RAW["target"], "skipFiles": ["old"]}
    keys = ("e/data/a b.json.gz", "e/data/c.json.gz", "e/data/d.json.gz")
    text = savepoint_text(raw, total_segments=3, done={2, 0}, reason="interval", kind="file",
                          record=lambda done: {"skipFiles": [keys[i] for i in sorted(done)]})
    doc = yaml.safe_load(text)
    assert doc["skipFiles"] == ["e/data/a b.json.gz", "e/data/d.json.gz"]
    assert "scanSegments" not in doc["source"] and "skipSegments" not in doc
    assert "# progress: 2 of 3 files done, 1 remain" in text
