"""./submit.sh takes spark-submit's options and its own before or after the config, in any order. SUBMIT_DRY_RUN=1
shows the spark-submit command it would run, so the orders are checked without starting Spark; a few bad configs
then go through the real ./submit.sh and spark-submit."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.integration.spark_run import REPO

CONFIG_TEXT = """\
source: {type: dynamodb, table: src, region: us-east-1, endpoint: {host: "http://127.0.0.1", port: 8001}}
target: {type: alternator, table: dst, endpoint: {host: "http://127.0.0.1", port: 8002}, streamChanges: false}
"""


def submit(args: list[str], cwd: Path, dry_run: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    if dry_run:
        env["SUBMIT_DRY_RUN"] = "1"
    return subprocess.run([str(REPO / "submit.sh"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def command(args: list[str], cwd: Path) -> tuple[list[str], list[str], str]:
    """(spark-submit's arguments after submit.sh's own, the application's arguments, the config path passed)."""
    run = submit(args, cwd)
    assert run.returncode == 0, run.stderr
    words = shlex.split(run.stdout)
    main = words.index(str(REPO / "dist" / "main.py"))
    config = next(word.split("=", 1)[1] for word in words if word.startswith("spark.scylla.config="))
    # submit.sh's own options come first and end with its JVM options (or the executor python)
    own_end = max(i for i, word in enumerate(words[:main]) if word.startswith((
        "spark.executor.defaultJavaOptions=", "spark.pyspark.python=", "spark.pyspark.driver.python=")))
    return words[own_end + 1:main], words[main + 1:], config


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "config.yaml").write_text(CONFIG_TEXT)
    return tmp_path


@pytest.mark.parametrize(("args", "spark", "app"), [
    # spark-submit's order: its options first
    (["--master", "spark://h:7077", "config.yaml"], ["--master", "spark://h:7077"], []),
    (["--conf", "spark.x=1", "--name", "copy", "config.yaml"], ["--conf", "spark.x=1", "--name", "copy"], []),
    (["--master=local[2]", "--verbose", "config.yaml"], ["--master=local[2]", "--verbose"], []),
    (["--driver-java-options", "-Dx=1", "config.yaml", "--conf", "a=b"],
     ["--driver-java-options", "-Dx=1", "--conf", "a=b"], []),
    (["--master", "local[1]", "--validate", "config.yaml", "--sample", "5"], ["--master", "local[1]"],
     ["--validate", "--sample", "5"]),
    (["--validate", "--master", "local[1]", "config.yaml"], ["--master", "local[1]"], ["--validate"]),
    (["--resume", "sp", "--master", "local[1]", "config.yaml"], ["--master", "local[1]"], ["--resume", "sp"]),
    # the forms that worked before
    (["config.yaml", "--master", "local[2]"], ["--master", "local[2]"], []),
    (["config.yaml", "--resume", "sp", "--master", "local[2]"], ["--master", "local[2]"], ["--resume", "sp"]),
    (["config.yaml", "--resume=sp"], [], ["--resume", "sp"]),
    (["--validate", "config.yaml", "--sample", "5", "--report", "r.json", "--conf", "a=b"], ["--conf", "a=b"],
     ["--validate", "--sample", "5", "--report", "r.json"]),
    (["--validate", "config.yaml", "--sample=5", "--report=r.json"], [],
     ["--validate", "--sample=5", "--report=r.json"]),
    (["config.yaml", "--report", "run.json", "--progress-interval=2", "--plan"], [],
     ["--report", "run.json", "--progress-interval=2", "--plan"]),
    (["config.yaml", "--validate"], [], ["--validate"]),
])
def test_options_before_or_after_the_config_reach_spark_submit_and_the_application(workdir, args, spark, app):
    """Whatever the order, spark-submit gets its options, the application its own, and the config is found."""
    got_spark, got_app, config = command(args, workdir)
    assert (got_spark, got_app, config) == (spark, app, str(workdir / "config.yaml"))


def test_no_master_given_means_local_in_every_order(workdir):
    """--master absent before or after the config: submit.sh adds local[*,4]."""
    for args in (["--conf", "a=b", "config.yaml"], ["config.yaml", "--conf", "a=b"]):
        run = submit(args, workdir)
        assert "--master 'local[*,4]'" in run.stdout or "--master local\\[\\*\\,4\\]" in run.stdout, run.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--master", "spark://h:7077", "nope.yaml"], "submit.sh: config file 'nope.yaml' not found; pass the path of "
                                                  "your YAML config"),
    (["--validate", "--conf", "a=b", "nope.yaml"], "submit.sh: config file 'nope.yaml' not found;"),
    (["nope.yaml", "--master", "local[1]"], "submit.sh: config file 'nope.yaml' not found;"),
    (["--master", "local[1]"], "usage: ./submit.sh [spark-submit options] CONFIG"),
    (["--master"], "submit.sh: spark-submit option --master needs a value"),
    (["config.yaml", "other.yaml"], "submit.sh: two configs given, 'config.yaml' and 'other.yaml'; give one YAML "
                                    "config"),
    (["--sample", "5", "config.yaml"], "submit.sh: --sample only applies to --validate; add --validate or remove it"),
    (["config.yaml", "--report"], "submit.sh: --report needs a value"),
    (["config.yaml", "--resume"], "submit.sh: --resume needs a savepoint file or a directory of savepoints"),
])
def test_bad_arguments_in_any_order_are_one_line_and_status_2(workdir, args, message):
    """A missing config or a missing value, before or after the config: one stderr line, status 2."""
    run = submit(args, workdir)
    assert run.returncode == 2 and run.stdout == "", run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), run.stderr


@pytest.mark.parametrize(("text", "fragments"), [
    (CONFIG_TEXT.replace("table: src,", "table: src, scanSegments: 0,"),
     ["source.scanSegments", "got 0", "must be a positive integer"]),
    (CONFIG_TEXT + "\tskipSegments: [1]\n", ["line 3 ('\\tskipSegments: [1]')", "indent with spaces, not tabs"]),
    (CONFIG_TEXT.replace("region: us-east-1,", "region: us-east-1, credentials: {accessKey: AK},"),
     ["source.credentials.secretKey: required", "give both accessKey and secretKey"]),
])
def test_a_bad_config_through_submit_sh_with_options_first_is_one_line_and_status_2(workdir, text, fragments):
    """spark-submit really runs: status 2, the application prints one line (spark-submit sends a Python driver's
    stderr to its stdout), no traceback; spark-submit's own JVM notices are on stderr."""
    (workdir / "bad.yaml").write_text(text)
    run = submit(["--master", "local[1]", "--conf", "spark.ui.enabled=false", "bad.yaml"], workdir, dry_run=False)
    assert run.returncode == 2, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("migrator: error: "), run.stdout
    assert all(fragment in lines[0] for fragment in fragments), lines[0]
    assert "Traceback" not in run.stdout + run.stderr


def java_options(args: list[str], cwd: Path, env: dict | None = None) -> dict[str, str]:
    """The spark.*.defaultJavaOptions submit.sh passes (dry run), by key."""
    run = subprocess.run([str(REPO / "submit.sh"), *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SUBMIT_DRY_RUN": "1", **(env or {})})
    assert run.returncode == 0, run.stderr
    return dict(word.split("=", 1) for word in shlex.split(run.stdout) if "defaultJavaOptions=" in word)


OURS = f'"-Dlog4j2.configurationFile={REPO}/dist/log4j2.properties"'


def test_the_driver_gets_the_quiet_log4j2_configuration(workdir):
    """Spark's INFO lines off on the driver (a local job's executors run in its JVM); the JVM flags on both."""
    options = java_options(["config.yaml"], workdir)
    assert options["spark.driver.defaultJavaOptions"] == f"-XX:TieredStopAtLevel=1 -XX:+UseSerialGC {OURS}"
    assert options["spark.executor.defaultJavaOptions"] == "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    assert (REPO / "dist" / "log4j2.properties").read_text() == (REPO / "conf" / "log4j2.properties").read_text()


@pytest.mark.parametrize("args", [
    ["--driver-java-options", "-Dlog4j2.configurationFile=/etc/mine.properties", "config.yaml"],
    ["config.yaml", "--conf", "spark.driver.extraJavaOptions=-Dlog4j2.configurationFile=mine.xml"],
    ["--conf=spark.driver.extraJavaOptions=-Dlog4j.configurationFile=mine.xml", "config.yaml"],
])
def test_a_log4j2_file_the_user_names_wins(workdir, args):
    """A -Dlog4j2.configurationFile among the options: ours is not passed, the JVM flags still are."""
    options = java_options(args, workdir)
    assert options["spark.driver.defaultJavaOptions"] == "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("log4j2.properties", "rootLogger.level = info\n", {"spark.driver.defaultJavaOptions":
                                                        "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
                                                        "spark.executor.defaultJavaOptions":
                                                        "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}),
    ("spark-defaults.conf", "spark.driver.defaultJavaOptions -Dx=1\n", {}),
    ("spark-defaults.conf", "spark.driver.extraJavaOptions -Dlog4j2.configurationFile=/etc/l.xml\n",
     {"spark.driver.defaultJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
      "spark.executor.defaultJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}),
    ("log4j2.properties.template", "# Spark's example\n", {"spark.driver.defaultJavaOptions":
                                                           f"-XX:TieredStopAtLevel=1 -XX:+UseSerialGC {OURS}",
                                                           "spark.executor.defaultJavaOptions":
                                                           "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}),
])
def test_the_spark_installations_own_log4j2_configuration_wins(workdir, tmp_path, name, text, expected):
    """SPARK_HOME/conf/log4j2.properties, or spark-defaults.conf naming a log4j2 file or setting defaultJavaOptions:
    ours is not passed (a .template file is Spark's example, not a configuration)."""
    home = tmp_path / "spark"
    (home / "conf").mkdir(parents=True)
    (home / "conf" / name).write_text(text)
    assert java_options(["config.yaml"], workdir, env={"SPARK_HOME": str(home)}) == expected
