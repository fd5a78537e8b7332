"""Throughput budgets: capacity units per second for the whole job, split over the tasks that run at once.

How many run at once is known only while the job runs (executors that register late, dynamic allocation), so each
task's bucket follows `budget / tasks running now`, as the driver counts them (see progress/share.py); when the
driver cannot be reached, the static estimate `min(partitions, defaultParallelism)` stands in.

DynamoDB counts 1 WCU per started KB of each item written and, for eventually consistent reads, 0.5 RCU per started
4 KB of each Scan page. When the server reports ConsumedCapacity (DynamoDB does when asked; Alternator never does)
the limiter charges what it reports; otherwise it charges the same rule applied to the DynamoDB JSON it moved,
which overstates the size a little (type tags and quotes), so the limiter errs on the slow side.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# scylla-migrator's defaults: an on-demand table has no capacity to read, so assume DynamoDB's per-table quota.
ON_DEMAND_CAPACITY = 40_000
DEFAULT_PERCENT = 0.5
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


def write_units(item_bytes: int) -> int:
    """WCU to put one item of `item_bytes`."""
    return max(1, math.ceil(item_bytes / WRITE_UNIT_BYTES))


def read_units(page_bytes: int) -> float:
    """RCU of an eventually consistent Scan page of `page_bytes`."""
    return max(1, math.ceil(page_bytes / READ_UNIT_BYTES)) * 0.5


def get_units(item_bytes: list[int], missing: int) -> int:
    """RCU of a strongly consistent BatchGetItem: 1 per started 4 KB of each item found, 1 per key not found."""
    return sum(max(1, math.ceil(n / READ_UNIT_BYTES)) for n in item_bytes) + missing


@dataclass(frozen=True)
class Budget:
    """Units per second for the whole job, and how many tasks share them at once."""

    units_per_second: float  # 0 or less: no limit
    concurrent_tasks: int
    origin: str  # how the figure was set, for the log

    @property
    def per_task(self) -> float:
        return self.units_per_second / max(1, self.concurrent_tasks) if self.units_per_second > 0 else 0.0


def job_budget(configured: int | None, percent: float | None, table_capacity: int, billing_mode: str,
               concurrent_tasks: int, what: str) -> Budget:
    """The budget from the config, else from the table: its provisioned capacity, or 40000 when on-demand."""
    share = DEFAULT_PERCENT if percent is None else percent
    if configured is not None:
        base, origin = configured, f"{what} {configured}"
    elif billing_mode == "PROVISIONED" and table_capacity > 0:
        base, origin = table_capacity, f"the table's provisioned {table_capacity}"
    else:
        base, origin = ON_DEMAND_CAPACITY, f"{ON_DEMAND_CAPACITY} for an on-demand table"
    return Budget(units_per_second=base * share, concurrent_tasks=concurrent_tasks,
                  origin=f"{origin} x {share:g}")


# A Scan page should cost at most this share of a task's read budget per second, so that one page is a small bite.
PAGE_SHARE = 0.25
ASSUMED_ITEM_BYTES = 1024  # when DescribeTable gives no size and count (Alternator, some local servers)


def scan_limit(read_units_per_task: float, average_item_bytes: float | None) -> int | None:
    """Items per Scan page (`Limit`), or None when a full 1 MB page already fits the budget comfortably."""
    if read_units_per_task <= 0:
        return None
    page_bytes = read_units_per_task * PAGE_SHARE / 0.5 * READ_UNIT_BYTES
    if page_bytes >= 1024 * 1024:
        return None
    return max(1, int(page_bytes // (average_item_bytes or ASSUMED_ITEM_BYTES)))


def lookup_limit(read_units_per_task: float) -> int | None:
    """Items per Scan page whose lookups on the other table (BatchGetItem, at least 1 RCU per key, strongly
    consistent) cost at most PAGE_SHARE of a task's read budget there; None without a budget."""
    if read_units_per_task <= 0:
        return None
    return max(1, int(read_units_per_task * PAGE_SHARE))


def smallest(*limits: int | None) -> int | None:
    """The smallest of the page limits that are set, else None."""
    return min((n for n in limits if n is not None), default=None)


class RateLimiter:
    """A token bucket shared by the threads of one task.

    `charge(units)` takes units from the bucket and, when that leaves it in debt, sleeps until the debt is paid back
    at `rate` units per second. Charging what a request cost after it ran keeps the long-run rate exact while
    requests of unknown cost (Scan pages) go out one after the other. The bucket holds at most `burst` units.
    """

    def __init__(self, rate: float, burst: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self._burst = burst
        self.burst = rate if burst is None else burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = 0.0  # start empty, at the first charge: a task's start is not a burst above the budget
        self._stamp: float | None = None
        self.charged = 0.0

    def charge(self, units: float) -> None:
        with self._lock:
            now = self._clock()
            self._fill(now)
            self._tokens -= units
            self.charged += units
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)

    def refund(self, units: float) -> None:
        """Give back units charged in advance that the server says were not consumed (negative: charge more)."""
        with self._lock:
            self._tokens = min(self.burst, self._tokens + units)
            self.charged -= units

    def _fill(self, now: float) -> None:
        """Add what the time since the last charge earned, at most up to `burst` (called with the lock held)."""
        if self._stamp is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def set_rate(self, rate: float) -> None:
        """From now on, fill at `rate`: the time until now counts at the old rate, a debt is repaid at the new one."""
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        with self._lock:
            self._fill(self._clock())
            self.rate = rate
            self.burst = rate if self._burst is None else self._burst
            self._tokens = min(self.burst, self._tokens)


class SharedLimiter:
    """A task's bucket for its share of a job budget: `units_per_second / tasks()`, where `tasks()` says how many
    tasks run now; the rate follows before each charge (`tasks` must be cheap: see progress/share.py)."""

    def __init__(self, units_per_second: float, tasks: Callable[[], int], **bucket) -> None:
        self.units_per_second = units_per_second
        self._tasks = tasks
        self._bucket = RateLimiter(self._share(), **bucket)

    @property
    def rate(self) -> float:
        return self._bucket.rate

    @property
    def charged(self) -> float:
        return self._bucket.charged

    def _share(self) -> float:
        return self.units_per_second / max(1, self._tasks())

    def charge(self, units: float) -> None:
        rate = self._share()
        if rate != self._bucket.rate:
            self._bucket.set_rate(rate)
        self._bucket.charge(units)

    def refund(self, units: float) -> None:
        self._bucket.refund(units)


class Unlimited:
    """Stands in for RateLimiter when there is no budget."""

    rate = 0.0
    charged = 0.0

    def charge(self, units: float) -> None:
        pass

    def refund(self, units: float) -> None:
        pass


def limiter(units_per_second: float) -> RateLimiter | Unlimited:
    return RateLimiter(units_per_second) if units_per_second > 0 else Unlimited()


def shared_limiter(units_per_second: float, tasks: Callable[[], int]) -> SharedLimiter | Unlimited:
    """A task's limiter for a job budget of `units_per_second` (0 or less: no limit) shared by `tasks()` tasks."""
    return SharedLimiter(units_per_second, tasks) if units_per_second > 0 else Unlimited()
