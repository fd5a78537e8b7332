"""Entry point of the Spark application: find the config, start Spark, run the job, map errors to exit codes.

spark-submit runs `dist/main.py`, which calls `main()`. Exit status of a migration: 0 done (a live migration,
target.streamChanges: stopped because it caught up, target.streamStopWhenCaughtUp), 1 failed or items or changes
lost, 2 bad config or arguments (one line on stderr, no traceback), 128 + N stopped by signal N after a savepoint
(a live migration: after its current round).
With `--validate`: 0 the tables hold the same items, 1 they differ, 2 any error (so that a script can tell
"different" from "could not check").
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import platform
import re
import sys

from migrator import __version__, logs
from migrator.config import load_config, redacted_yaml
from migrator.errors import ConfigError, Interrupted, MigratorError
from migrator.reports.document import FAILED, STOPPED, SUCCEEDED, Outcome
from migrator.reports.files import check_report_path, write_run_report
from migrator.reports.record import RunRecord
from migrator.savepoints.resume import resume_config
from migrator.savepoints.stores import open_store

logger = logging.getLogger("migrator")

CONFIG_CONF_KEY = "spark.scylla.config"
VALIDATE_ERROR = 2  # a validation that could not finish; 1 means the tables differ


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and status 2, like every other bad input
        raise ConfigError(f"arguments: {message}; see --help")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _ArgumentParser(prog="migrator", description="Copy a DynamoDB table into ScyllaDB Alternator.")
    parser.add_argument("--config", help=f"YAML config (default: the Spark conf {CONFIG_CONF_KEY})")
    parser.add_argument("--resume", metavar="SAVEPOINT",
                        help="skip the segments a savepoint records as done and continue its stream (a live "
                             "migration): a savepoint file, or a directory of savepoints (the newest is used); "
                             "everything else comes from the config")
    parser.add_argument("--validate", action="store_true", help="compare source and target instead of copying")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="with --validate: check about N random items each way (default: validation.sampleSize, "
                             "else every item)")
    parser.add_argument("--report", metavar="PATH",
                        help="write the JSON report here: a migration's run report, with an HTML page beside it "
                             "(default: progress.reportPath, else none); with --validate the validation report "
                             "(default: validation.reportPath, else validation-report-<UTC time>.json)")
    parser.add_argument("--plan", action="store_true",
                        help="write nothing: describe both tables, the segments and tasks, the budgets, the expected "
                             "duration and the capacity units the copy would consume")
    parser.add_argument("--progress-interval", type=float, metavar="SECONDS",
                        help="a progress line this often while the copy runs; 0 turns them off (default: "
                             "progress.intervalSeconds, else 10)")
    parser.add_argument("--version", action="version", version=f"migrator {__version__}")
    args = parser.parse_args(argv)
    if not args.validate and args.sample is not None:
        raise ConfigError("arguments: --sample only applies to --validate; add --validate or remove it")
    if args.sample is not None and args.sample < 1:
        raise ConfigError(f"arguments: --sample must be a positive number of items, got {args.sample}")
    if args.plan and (args.validate or args.resume or args.report):
        other = "--validate" if args.validate else "--resume" if args.resume else "--report"
        raise ConfigError(f"arguments: --plan writes nothing and runs nothing, so {other} does not apply; remove one")
    if args.progress_interval is not None and not 0 <= args.progress_interval <= 3600:
        raise ConfigError(f"arguments: --progress-interval must be 0 to 3600 seconds (0: no progress lines), got "
                          f"{args.progress_interval:g}")
    return args


def with_options(config, args: argparse.Namespace):
    """The config with the command line's --progress-interval and a migration's --report in its progress section."""
    changes = {}
    if args.progress_interval is not None:
        changes["interval_seconds"] = args.progress_interval
    if args.report is not None and not args.validate:
        changes["report_path"] = args.report
    return dataclasses.replace(config, progress=dataclasses.replace(config.progress, **changes)) if changes else config


def main(argv: list[str] | None = None) -> int:
    logs.setup()
    args = None
    try:
        args = parse_args(argv)
        path = args.config or _spark_conf(CONFIG_CONF_KEY)
        if not path:
            raise ConfigError(
                f"{CONFIG_CONF_KEY}: not set; pass --conf {CONFIG_CONF_KEY}=/path/to/config.yaml to spark-submit"
            )
        config = load_config(path)
        for warning in config.warnings:
            logger.warning("%s", warning)
        if args.validate:
            from migrator.jobs.validate import refuse_non_tables

            refuse_non_tables(config)
        if args.resume:
            if args.validate:
                raise ConfigError("arguments: --resume only applies to a migration; remove it or --validate")
            config = resume_config(config, path, args.resume)
        config = with_options(config, args)
        if config.progress.report_path is not None and not args.validate and not args.plan:
            check_report_path(config.progress.report_path)
        if config.savepoints is not None and not args.validate and not args.plan:  # the check writes a probe
            open_store(config.savepoints.path).check()
        logger.info("migrator %s; config %s:\n%s", __version__, path, redacted_yaml(config).rstrip())
        spark = _start_spark(config, "migrator validate" if args.validate else "migrator plan" if args.plan
                             else "migrator")
        interrupted = False
        try:
            if args.plan:
                from migrator.jobs import plan

                return plan.run(spark, config)
            if args.validate:
                from migrator.jobs import validate

                return validate.run(spark, config, sample_size=args.sample, report_path=args.report)
            return _migrate(spark, config)
        except Interrupted:
            interrupted = True
            raise
        finally:
            try:
                spark.stop()
            except Exception as exc:
                if not interrupted:
                    raise
                logger.info("Spark was stopped already (%s)", type(exc).__name__)  # spark-submit is shutting down
    except ConfigError as exc:
        print(f"migrator: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except MigratorError as exc:
        logger.error("%s", exc)
        print(f"migrator: error: {exc}", file=sys.stderr)
        return VALIDATE_ERROR if _validating(args) else exc.exit_status
    except Exception as exc:
        cause = _task_failure(exc)
        if cause is None:
            if not _validating(args):
                raise
            logger.exception("the validator failed")
            print(f"migrator: error: the validator failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return VALIDATE_ERROR
        logger.error("the Spark job failed: %s", cause)
        print(f"migrator: error: the Spark job failed: {cause}", file=sys.stderr)
        return VALIDATE_ERROR if _validating(args) else 1


def _migrate(spark, config) -> int:
    """The migration; with progress.reportPath, its run report is written when it ends, whatever the outcome. A
    report that cannot be written is an error: exit status 1 when the run itself succeeded."""
    from migrator.jobs import migrate

    if config.progress.report_path is None:
        return migrate.run(spark, config)
    record = RunRecord(config)
    try:
        status = migrate.run(spark, config, record=record)
    except BaseException as exc:
        _write_report(record, _outcome(exc))  # the run's own error is the one that propagates
        raise
    if status == 0:
        outcome = Outcome(SUCCEEDED, 0)
    elif status >= 128:  # a live migration stopped by a signal after its round
        outcome = Outcome(STOPPED, status, f"stopped by signal {status - 128}")
    else:
        outcome = Outcome(FAILED, status, record.verdict or f"exit status {status}")
    if not _write_report(record, outcome) and status == 0:
        print(f"migrator: error: the run succeeded but its report {config.progress.report_path!r} could not be "
              "written; see the error above", file=sys.stderr)
        return 1
    return status


def _outcome(exc: BaseException) -> Outcome:
    """How a run that raised `exc` ended, with the message the CLI prints for it."""
    if isinstance(exc, Interrupted):  # below 128: spark-submit was shutting down, and its status is its own
        return Outcome(STOPPED, exc.exit_status if exc.exit_status >= 128 else None, str(exc))
    if isinstance(exc, MigratorError):
        return Outcome(FAILED, exc.exit_status, str(exc))
    if isinstance(exc, KeyboardInterrupt):
        return Outcome(STOPPED, 130, "stopped by SIGINT (KeyboardInterrupt)")
    cause = _task_failure(exc) if isinstance(exc, Exception) else None
    if cause is not None:
        return Outcome(FAILED, 1, f"the Spark job failed: {cause}")
    return Outcome(FAILED, 1, f"{type(exc).__name__}: {exc}")


def _write_report(record: RunRecord, outcome: Outcome) -> bool:
    """Write the run report; False, after an error line naming the path and the cause, when it cannot be."""
    try:
        write_run_report(record, outcome)
        return True
    except Exception as exc:  # noqa: BLE001 - an error line, and the run's own outcome still decides the status
        if isinstance(exc, MigratorError):
            logger.error("%s", exc)
        else:
            logger.error("cannot write the run report %r: %s: %s", record.config.progress.report_path,
                         type(exc).__name__, exc)
    return False


def _validating(args: argparse.Namespace | None) -> bool:
    return args is not None and args.validate


def _spark_conf(key: str) -> str | None:
    """Read a Spark conf before the SparkContext exists (spark-submit's gateway is already up)."""
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # connects to spark-submit's JVM, or starts one under plain python
    return SparkConf().get(key, None)


def _start_spark(config, app: str):
    from pyspark import __version__ as pyspark_version
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(f"{app}: {config.source.label} -> {config.target.label}")
    spark = builder.getOrCreate()
    if _spark_default_logging(spark.sparkContext):
        spark.sparkContext.setLogLevel("WARN")
    # Which Spark ran a job is the first question about a cluster's run (3.5 and 4.x are both supported).
    logger.info("Spark %s, PySpark %s, Python %s", spark.version, pyspark_version, platform.python_version())
    logger.info("Spark UI: %s (application %s)", spark.sparkContext.uiWebUrl, spark.sparkContext.applicationId)
    return spark


def _spark_default_logging(sc) -> bool:
    """True when the driver's log4j2 runs Spark's own default profile (INFO): spark-submit was run without
    submit.sh's dist/log4j2.properties, so Spark's lines go to WARN from here on. A log4j2 configuration of the
    user's (or ours) is left as it is: the user's levels win."""
    from py4j.protocol import Py4JError

    try:
        context = sc._jvm.org.apache.logging.log4j.LogManager.getContext(False)
        location = str(context.getConfiguration().getConfigurationSource().getLocation())
    except (Py4JError, AttributeError):  # another logging backend: quiet Spark as before
        return True
    return location.endswith("org/apache/spark/log4j2-defaults.properties")


_PY_ERROR = re.compile(r"migrator\.errors\.(\w+): (.+)")  # every class of errors.py, ChangesLost too


def _task_failure(exc: Exception) -> str | None:
    """The migrator's own message from a failed Spark task, or None when `exc` is not a Spark job failure."""
    if type(exc).__name__ not in {"Py4JJavaError", "PythonException", "SparkException"}:
        return None
    text = str(exc)
    found = _PY_ERROR.findall(text)
    if found:
        name, message = found[-1]
        return f"{name}: {message.strip()}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:500] if lines else type(exc).__name__
