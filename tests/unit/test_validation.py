import copy
import logging

import pytest

from migrator.dynamo.api import RetryPolicy
from migrator.dynamo.database import Database
from migrator.errors import TransferError
from migrator.validation.sampling import SampleLimit
from migrator.validation.passes import (
    DIFFERING, EXTRA, MISSING, Example, ValidationSettings, check_source_segments, check_target_segments,
)
from tests.unit.fakes import FakeDynamo

KEYS = ("pk", "sk")
TOTAL = 4
FAST = RetryPolicy(max_attempts=3, base_delay=0.0001, max_delay=0.001)


def items(n: int) -> list[dict]:
    return [{"pk": {"S": f"p{i // 3}"}, "sk": {"N": str(i)}, "price": {"N": f"{i}.5"},
             "tags": {"SS": ["a", "b", f"t{i}"]}, "address": {"M": {"geo": {"L": [{"N": "1"}, {"N": str(i)}]}}}}
            for i in range(n)]


@pytest.fixture
def server(monkeypatch):
    """One fake server holding both tables; every connection's api() talks to it."""
    holder = {}
    monkeypatch.setattr(Database, "api", lambda self, **kwargs: holder["server"])

    def make(source_items, target_items, **options):
        holder["server"] = FakeDynamo({"src": (KEYS, source_items), "dst": (KEYS, target_items)}, **options)
        return holder["server"]

    return make


def settings(**overrides) -> ValidationSettings:
    values = dict(source=Database("source", "dynamodb", "us-east-1", "http://127.0.0.1:1"), source_table="src",
                  target=Database("target", "alternator", "us-east-1", "http://127.0.0.1:2"), target_table="dst",
                  key_names=KEYS, tolerance="0.001", retry=FAST)
    values.update(overrides)
    return ValidationSettings(**values)


def both_passes(s: ValidationSettings, limit=None):
    source = check_source_segments(s, range(TOTAL), 0, TOTAL, limit)
    target = check_target_segments(s, range(TOTAL), 0, TOTAL, limit)
    return source, target


def injected(source_items: list[dict]) -> list[dict]:
    """The target: source items with one missing, one changed beyond the tolerance, one within it, one set
    reordered, one nested number changed, plus one extra item."""
    target = copy.deepcopy(source_items)
    del target[1]  # p0/1 missing
    target[1]["price"] = {"N": "999"}  # p0/2 beyond the tolerance
    target[2]["price"] = {"N": "3.5004"}  # p1/3 within it
    target[3]["tags"] = {"SS": list(reversed(target[3]["tags"]["SS"]))}  # p1/4 set order
    target[4]["address"]["M"]["geo"]["L"][1] = {"N": "-1"}  # p1/5 nested
    target.append({"pk": {"S": "extra"}, "sk": {"N": "1"}})
    return target


def test_identical_tables_have_no_differences_and_every_item_is_checked(server):
    """Both passes check every item of their side and count nothing else."""
    server(items(40), items(40))
    source, target = both_passes(settings())
    assert (source.checked, source.missing, source.differing) == (40, 0, 0)
    assert (target.checked, target.extra) == (40, 0)
    assert source.examples == target.examples == ()
    assert source.segments == target.segments == tuple(range(TOTAL))


def test_injected_differences_are_counted_with_keys_and_paths(server):
    """Missing, differing (beyond the tolerance, nested) and extra items are found; within tolerance and set order
    are not differences."""
    server(items(20), injected(items(20)))
    source, target = both_passes(settings())
    assert (source.checked, source.missing, source.differing) == (20, 1, 2)
    assert (target.checked, target.extra) == (20, 1)
    assert sorted(source.examples, key=lambda e: e.key["sk"]["N"]) == [
        Example(MISSING, {"pk": {"S": "p0"}, "sk": {"N": "1"}}),
        Example(DIFFERING, {"pk": {"S": "p0"}, "sk": {"N": "2"}},
                ("price: N 2.5 != N 999 (off by 996.5, tolerance 0.001)",)),
        Example(DIFFERING, {"pk": {"S": "p1"}, "sk": {"N": "5"}},
                ("address.geo[1]: N 5 != N -1 (off by 6, tolerance 0.001)",)),
    ]
    assert target.examples == (Example(EXTRA, {"pk": {"S": "extra"}, "sk": {"N": "1"}}),)


def test_lookups_are_batched_and_the_target_pass_reads_keys_only(server):
    """Each scan page is looked up with one BatchGetItem, not one read per item; the target pass projects keys."""
    fake = server(items(40), items(40))
    both_passes(settings())
    operations = [op for op, _ in fake.calls]
    assert "GetItem" not in operations
    scans = [doc for op, doc in fake.calls if op == "Scan"]
    gets = [doc for op, doc in fake.calls if op == "BatchGetItem"]
    assert len(gets) == len([s for s in scans if s["TableName"] == "src"]) + \
        len([s for s in scans if s["TableName"] == "dst"])
    assert all("ProjectionExpression" in s for s in scans if s["TableName"] == "dst")
    assert all("ProjectionExpression" in g["RequestItems"]["src"] for g in gets if "src" in g["RequestItems"])


def test_examples_per_task_are_capped_but_counts_are_not(server):
    """30 missing items with examples_per_task 5: 30 counted, 5 examples kept."""
    server(items(30), [])
    source = check_source_segments(settings(examples_per_task=5), range(TOTAL), 0, TOTAL)
    assert source.missing == 30 and len(source.examples) == 5


def test_repair_copies_missing_rewrites_differing_and_deletes_extra(server):
    """With the three repairs on, the target holds the source's items afterwards (equal ones are left as they
    are), and a second check finds nothing."""
    fake = server(items(20), injected(items(20)))
    repair = settings(copy_missing=True, copy_differing=True, delete_extra=True)
    source, target = both_passes(repair)
    assert (source.copied, source.rewritten, target.deleted) == (1, 2, 1)
    assert fake.items["dst"].keys() == fake.items["src"].keys()
    untouched = {'[["S","p1"],["N","3"]]', '[["S","p1"],["N","4"]]'}  # within the tolerance, set order
    assert {k: v for k, v in fake.items["dst"].items() if k not in untouched} == \
        {k: v for k, v in fake.items["src"].items() if k not in untouched}
    again_source, again_target = both_passes(settings())
    assert again_source.missing == again_source.differing == again_target.extra == 0


def test_without_repair_options_nothing_is_written(server):
    """Validation alone never writes to either table."""
    fake = server(items(20), injected(items(20)))
    both_passes(settings())
    assert not [op for op, _ in fake.calls if op == "BatchWriteItem"]


def test_sample_limit_caps_items_per_segment_and_per_task(server):
    """A sample reads at most per_segment items of a segment and stops reading segments at per_task items."""
    fake = server(items(60), items(60))
    source = check_source_segments(settings(), range(TOTAL), 0, TOTAL, SampleLimit(per_segment=2, per_task=5))
    assert source.checked == 5
    assert len(source.segments) == 3  # 2 + 2 + 1 items
    assert all(doc["Limit"] <= 2 for op, doc in fake.calls if op == "Scan")


def test_a_refused_read_fails_the_task_naming_segment_tables_and_cause(server):
    """A BatchGetItem that is refused raises TransferError with the segment and both tables; nothing is counted."""
    server(items(10), items(10), fail_on="BatchGetItem")
    with pytest.raises(TransferError, match=r"segment 0/4 of source table 'src' checked against target table 'dst':"
                                            r" BatchGetItem was refused: ValidationException"):
        check_source_segments(settings(), range(TOTAL), 0, TOTAL)


def test_task_logs_one_line_per_segment_and_a_summary(server, caplog):
    """The per-segment lines and the documented summary line, with the counts."""
    server(items(20), injected(items(20)))
    with caplog.at_level(logging.INFO, logger="migrator.task"):
        check_source_segments(settings(), range(TOTAL), 3, TOTAL)
    lines = [r.getMessage() for r in caplog.records]
    assert len([line for line in lines if line.startswith("validator task 3: source segment ")]) == TOTAL
    assert any(line.startswith("validator task 3: source segments [0, 1, 2, 3] checked 20 items in ")
               and line.endswith(": 1 missing, 2 differing") for line in lines), lines


def test_each_table_is_read_within_its_read_budget_and_repairs_within_the_write_budget(server, monkeypatch):
    """Source scan and source lookups charge the source's read budget, target scan and lookups the target's, copies
    and deletes the write budget; every limiter takes its share from the running-tasks count it is given."""
    import migrator.validation.passes as validation

    charged: dict[float, float] = {}
    counts = []

    class Recorder:
        def __init__(self, budget: float, tasks) -> None:
            self.budget = budget
            counts.append(tasks())

        def charge(self, units: float) -> None:
            charged[self.budget] = charged.get(self.budget, 0) + units

        def refund(self, units: float) -> None:
            charged[self.budget] = charged.get(self.budget, 0) - units

    monkeypatch.setattr(validation, "shared_limiter", Recorder)
    source_items = items(30)
    server(source_items, source_items[5:] + [{"pk": {"S": "extra"}, "sk": {"N": "1"}}])
    s = settings(source_read_units=1001, target_read_units=1002, target_write_units=1003, copy_missing=True,
                 delete_extra=True)
    source = check_source_segments(s, range(TOTAL), 0, TOTAL, running_tasks=lambda: 7)
    assert (source.copied, set(charged)) == (5, {1001, 1002, 1003})
    source_pass = dict(charged)
    charged.clear()
    target = check_target_segments(s, range(TOTAL), 0, TOTAL, running_tasks=lambda: 7)
    assert (target.deleted, set(charged)) == (1, {1001, 1002, 1003})
    assert source_pass[1003] == 5 and charged[1003] == 1  # 1 WCU per small item copied or deleted
    # lookups: 1 RCU per small item or key not found; the target holds 31 items once the 5 missing are copied
    assert source_pass[1002] == 30 and charged[1001] == 31
    assert source_pass[1001] > 0 and charged[1002] > 0  # the scans: 0.5 RCU per started 4 KB of each page
    assert set(counts) == {7}


def test_the_validator_refuses_an_export_on_either_side_before_spark_starts():
    """--validate compares two tables: an S3 export source or target is a one-line config error naming it."""
    from migrator.config import DynamoSource, DynamoTarget, MigratorConfig, S3ExportSource, S3ExportTarget
    from migrator.errors import ConfigError
    from migrator.jobs.validate import refuse_non_tables

    table = DynamoSource(type="dynamodb", table="src")
    export = S3ExportSource(bucket="b", manifest_key="e/manifest-summary.json", table_description={})
    with pytest.raises(ConfigError, match=r"^source.type: --validate compares two tables, got dynamodb-s3-export "
                                          r"'s3://b/e/manifest-summary.json'; validate the table"):
        refuse_non_tables(MigratorConfig(source=export, target=DynamoTarget(type="alternator", table="dst")))
    with pytest.raises(ConfigError, match=r"^target.type: --validate compares two tables, got dynamodb-s3-export "
                                          r"'/out'"):
        refuse_non_tables(MigratorConfig(source=table, target=S3ExportTarget(path="/out")))
    refuse_non_tables(MigratorConfig(source=table, target=DynamoTarget(type="alternator", table="dst")))
