import pytest

from migrator.dynamo.throttle import RateLimiter, job_budget, read_units, write_units


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_long_run_rate_equals_the_budget():
    """Charging 1000 requests of 3 units at 100 units/s takes 30 s of (fake) time, whatever the request size."""
    clock = FakeClock()
    bucket = RateLimiter(100, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        bucket.charge(3)
    assert clock.now == pytest.approx(30.0, rel=0.01)


def test_idle_time_saves_at_most_one_burst():
    """After a long pause only `burst` units go out without waiting."""
    clock = FakeClock()
    bucket = RateLimiter(10, burst=10, clock=clock, sleep=clock.sleep)
    bucket.charge(10)
    assert clock.now == pytest.approx(1.0)
    clock.now = 1000.0
    bucket.charge(10)
    assert clock.now == 1000.0
    bucket.charge(10)
    assert clock.now == pytest.approx(1001.0)


def test_the_bucket_starts_empty_at_its_first_charge_not_when_it_is_made():
    """A task that sets up for a while before its first request gets no head start above the budget."""
    clock = FakeClock()
    bucket = RateLimiter(10, clock=clock, sleep=clock.sleep)
    clock.now = 5.0
    bucket.charge(10)
    assert clock.now == pytest.approx(6.0)


def test_refund_gives_back_what_the_server_did_not_consume():
    """Units charged in advance and refunded do not slow the next request."""
    clock = FakeClock()
    bucket = RateLimiter(10, clock=clock, sleep=clock.sleep)
    bucket.charge(10)
    assert clock.now == pytest.approx(1.0)
    bucket.refund(10)
    bucket.charge(10)
    assert clock.now == pytest.approx(1.0)
    assert bucket.charged == pytest.approx(10)


def test_capacity_units_follow_dynamodb_rules():
    """1 WCU per started KB of an item; 0.5 RCU per started 4 KB of an eventually consistent page."""
    assert [write_units(n) for n in (1, 1024, 1025, 400 * 1024)] == [1, 1, 2, 400]
    assert [read_units(n) for n in (0, 4096, 4097, 1024 * 1024)] == [0.5, 0.5, 1.0, 128.0]


def test_budget_defaults_follow_the_table_and_are_shared_by_concurrent_tasks():
    """Configured figure first, else provisioned capacity, else 40000 for on-demand; times percent, split by tasks."""
    assert job_budget(1000, 0.8, 5, "PROVISIONED", 4, "readThroughput").per_task == pytest.approx(200)
    provisioned = job_budget(None, None, 300, "PROVISIONED", 3, "readThroughput")
    assert provisioned.units_per_second == 150 and provisioned.per_task == 50
    on_demand = job_budget(None, 1.5, 0, "PAY_PER_REQUEST", 6, "writeThroughput")
    assert on_demand.units_per_second == 60_000 and on_demand.per_task == 10_000


def test_scan_limit_keeps_a_page_a_small_share_of_the_budget():
    """10 RCU/s per task, 200-byte items: a page costs at most 2.5 RCU, i.e. 5 x 4 KB = 20480 bytes, 102 items."""
    from migrator.dynamo.throttle import scan_limit

    assert scan_limit(10, 200) == 102
    assert scan_limit(10_000, 200) is None  # a 1 MB page is a small bite already
    assert scan_limit(0, 200) is None  # no budget, no limit
    assert scan_limit(2, None) == 4  # unknown size: 1 KB assumed


def test_a_new_rate_counts_from_the_moment_it_is_set():
    """10 units/s for 1 s, then 40 units/s: the next 40 units are paid back in exactly 1 s more."""
    clock = FakeClock()
    bucket = RateLimiter(10, clock=clock, sleep=clock.sleep)
    bucket.charge(10)
    assert clock.now == pytest.approx(1.0)
    bucket.set_rate(40)
    bucket.charge(40)
    assert clock.now == pytest.approx(2.0)
    assert (bucket.rate, bucket.burst) == (40, 40)


def test_a_shared_limiter_takes_the_budget_divided_by_the_tasks_running_now():
    """Budget 100: alone, a task charges 100 units in 1 s; with 4 tasks running, 25 units take 1 s."""
    from migrator.dynamo.throttle import SharedLimiter

    clock = FakeClock()
    running = [1]
    bucket = SharedLimiter(100, lambda: running[0], clock=clock, sleep=clock.sleep)
    bucket.charge(100)
    assert (bucket.rate, clock.now) == (100, pytest.approx(1.0))
    running[0] = 4
    bucket.charge(25)
    assert (bucket.rate, clock.now) == (25, pytest.approx(2.0))
    running[0] = 0  # a count below one (never answered) still means this task alone
    bucket.charge(100)
    assert (bucket.rate, clock.now) == (100, pytest.approx(3.0))


def test_batch_get_units_follow_dynamodb_rules():
    """Strongly consistent: 1 RCU per started 4 KB of each item found, 1 RCU per key not found."""
    from migrator.dynamo.throttle import get_units

    assert get_units([100, 4096, 4097], missing=2) == 1 + 1 + 2 + 2
    assert get_units([], missing=0) == 0


def test_lookup_limit_keeps_a_page_of_keys_a_small_share_of_the_other_tables_budget():
    """66.7 RCU/s per task on the table looked up: pages of 16 keys cost at most a quarter of a second's share."""
    from migrator.dynamo.throttle import lookup_limit, smallest

    assert lookup_limit(66.7) == 16
    assert lookup_limit(1) == 1 and lookup_limit(0) is None
    assert smallest(None, 16, 133) == 16 and smallest(None, None) is None
