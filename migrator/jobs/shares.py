"""Spark wiring of the budgets' shares, for both jobs: the driver's server that counts running tasks, the budget
lines of the log, and each task attempt's registration (see progress/share.py)."""

from __future__ import annotations

import logging
import os

from migrator.progress import ProgressAddress
from migrator.progress.server import ProgressServer
from migrator.progress.share import RunningTasks
from migrator.dynamo.throttle import Budget

logger = logging.getLogger(__name__)


def progress_server(sc, unit_id=None, on_done=None) -> ProgressServer:
    """The driver's server for unit reports (`unit_id`: the plan's UnitPlan.unit_id) and budget shares, on the
    driver's address (executors reach it)."""
    conf = sc.getConf()
    host = conf.get("spark.driver.host", "127.0.0.1")
    return ProgressServer(conf.get("spark.driver.bindAddress", None) or host, host, unit_id, on_done)


def log_budgets(budgets: tuple[tuple[str, Budget, str], ...], expected_tasks: int) -> None:
    """One line per (what, budget, unit): `read budget: 20 RCU/s (source.readThroughput 20 x 1), shared by ...`."""
    for what, budget, unit in budgets:
        if budget.units_per_second <= 0:  # an S3 export's side: no capacity units to spend
            logger.info("%s budget: none (%s)", what, budget.origin)
            continue
        logger.info("%s budget: %.0f %s/s (%s), shared by the tasks running at once, counted while the job runs "
                    "(%d expected from Spark's parallelism: %.1f %s/s per task)", what, budget.units_per_second,
                    unit, budget.origin, expected_tasks, budget.per_task, unit)


def log_peak(server: ProgressServer) -> None:
    logger.info("budget shares: at most %d tasks ran at once", server.peak_running)


def running_tasks(context, address: ProgressAddress | None, task: int, expected: int,
                  label: str = "migrator task") -> RunningTasks:
    """This task attempt, registered with the driver's count of running tasks (a static count without `address`)."""
    attempt = str(context.taskAttemptId()) if context is not None else f"{task}-{os.getpid()}"
    return RunningTasks(address, attempt, task, expected, label=label).start()
