"""Spark wiring of the budgets' shares and the live progress, for both jobs: the driver's server that counts running
tasks and takes their counts, the budget lines of the log, each task attempt's registration (see
progress/share.py) and Spark's count of the tasks running now."""

from __future__ import annotations

import logging
import os

from migrator.progress import ProgressAddress
from migrator.progress.server import ProgressServer
from migrator.progress.share import RunningTasks
from migrator.dynamo.throttle import Budget

logger = logging.getLogger(__name__)


def progress_server(sc, unit_id=None, on_done=None, on_counts=None) -> ProgressServer:
    """The driver's server for unit reports (`unit_id`: the plan's UnitPlan.unit_id), budget shares and live
    counts, on the driver's address (executors reach it)."""
    conf = sc.getConf()
    host = conf.get("spark.driver.host", "127.0.0.1")
    return ProgressServer(conf.get("spark.driver.bindAddress", None) or host, host, unit_id, on_done, on_counts)


def active_tasks(sc) -> int:
    """The tasks running now, by Spark's status tracker; 0 when it cannot say (the context is going down): the
    count only decides whether the progress lines warn that no counts arrive."""
    try:
        tracker = sc.statusTracker()
        return sum(info.numActiveTasks for info in map(tracker.getStageInfo, tracker.getActiveStageIds()) if info)
    except Exception:  # noqa: BLE001 - py4j errors while Spark stops; no warning is better than a wrong one
        return 0


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
