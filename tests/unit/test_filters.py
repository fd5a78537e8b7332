"""source.filterExpression: its config checks, the Scan fields, the probe, the translation for the validator, and
the counts of what the server left out."""

from __future__ import annotations

import pickle

import pytest
import yaml

from migrator.codec import dumps, raw_scan_page, scan_page
from migrator.config import parse_config, parse_yaml
from migrator.config.expressions import tokens
from migrator.dynamo.database import Database
from migrator.dynamo.throttle import Unlimited, read_units
from migrator.errors import ConfigError, RequestError
from migrator.readers.scan import scan_pages
from migrator.readers.scan_source import ScanSegment, ScanSource
from migrator.transforms.filters import ScanFilter, probe
from tests.unit.fakes import FakeApi, FakeDynamo

SOURCE = {"type": "dynamodb", "table": "src", "region": "us-east-1"}
TARGET = {"type": "alternator", "table": "dst", "endpoint": {"host": "http://scylla", "port": 8000}}
FILTER = {"filterExpression": "age >= :min AND #s = :on", "expressionAttributeNames": {"#s": "status"},
          "expressionAttributeValues": {":min": {"N": "18"}, ":on": {"S": "yes"}}}


def load(source: dict | None = None, target: dict | None = None):
    return parse_config({"source": {**SOURCE, **(source or {})}, "target": {**TARGET, **(target or {})}}, "c.yaml")


def error(source: dict | None = None, target: dict | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load(source, target)
    message = str(info.value)
    assert "\n" not in message and info.value.exit_status == 2
    return message


def with_filter(**changes) -> dict:
    """FILTER with keys replaced; None drops one."""
    return {k: v for k, v in {**FILTER, **changes}.items() if v is not None}


# ---- config ----------------------------------------------------------------------------------------------------


def test_a_filter_with_its_placeholders_parses_into_the_scan_fields():
    """The three keys become the Scan request's FilterExpression, ExpressionAttributeNames and Values."""
    cfg = load(FILTER)
    scan_filter = ScanFilter.of(cfg.source)
    assert scan_filter.request() == {
        "FilterExpression": "age >= :min AND #s = :on", "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":min": {"N": "18"}, ":on": {"S": "yes"}}}
    assert pickle.loads(pickle.dumps(scan_filter)) == scan_filter


def test_no_filter_means_no_scan_fields():
    """Without filterExpression there is no ScanFilter."""
    assert ScanFilter.of(load().source) is None


def test_yaml_integers_for_numbers_are_their_text_and_every_type_is_accepted():
    """`N: 18` is "18"; each DynamoDB JSON type passes with a value of its shape, nested ones too."""
    values = {":n": {"N": 18}, ":s": {"S": "x"}, ":b": {"B": "AAEC"}, ":ss": {"SS": ["a", "b"]},
              ":ns": {"NS": [1, "2.5"]}, ":bs": {"BS": ["AA=="]}, ":m": {"M": {"a": {"N": "1"}, "b": {"NULL": True}}},
              ":l": {"L": [{"BOOL": False}, {"L": []}]}, ":z": {"NULL": True}, ":t": {"BOOL": True}}
    expression = " OR ".join(f"a{i} = {key}" for i, key in enumerate(values))
    cfg = load({"filterExpression": expression, "expressionAttributeValues": values})
    got = cfg.source.expression_attribute_values
    assert got[":n"] == {"N": "18"} and got[":ns"] == {"NS": ["1", "2.5"]}
    assert got[":m"] == {"M": {"a": {"N": "1"}, "b": {"NULL": True}}}


def test_filter_written_in_yaml_with_quoted_keys_parses():
    """The README's YAML: quoted # and : keys, a quoted number."""
    text = """
source: {type: dynamodb, table: src, region: us-east-1,
         filterExpression: "age >= :min AND #s = :on",
         expressionAttributeNames: {"#s": status},
         expressionAttributeValues: {":min": {N: "18"}, ":on": {S: "yes"}}}
target: {type: alternator, table: dst, endpoint: {host: "http://scylla", port: 8000}}
"""
    cfg = parse_config(parse_yaml(text, "c.yaml"), "c.yaml")
    assert cfg.source.expression_attribute_names == {"#s": "status"}


@pytest.mark.parametrize("changes, message", [
    ({"expressionAttributeNames": {"s": "status"}},
     "source.expressionAttributeNames.s: a name placeholder must be # and letters, digits or _, got 's'; write "
     '"#n": ATTRIBUTE_NAME, the key in quotes (in YAML an unquoted # starts a comment)'),
    ({"expressionAttributeNames": {"#s": 5}},
     "source.expressionAttributeNames.#s: must be an attribute name, got 5; write '#s': ATTRIBUTE_NAME"),
    ({"expressionAttributeValues": {"min": {"N": "18"}, ":on": {"S": "yes"}}},
     "source.expressionAttributeValues.min: a value placeholder must be : and letters, digits or _, got 'min'; "
     'write ":v": {S: TEXT}, the key in quotes'),
    ({"expressionAttributeValues": {":min": 18, ":on": {"S": "yes"}}},
     "source.expressionAttributeValues.:min: must be DynamoDB JSON with one type key (S, N, B, SS, NS, BS, M, L, "
     'NULL, BOOL), got 18; write {S: TEXT}, {N: "10"}, {BOOL: true}, ...'),
    ({"expressionAttributeValues": {":min": {"N": "1", "S": "1"}, ":on": {"S": "yes"}}},
     "source.expressionAttributeValues.:min: must be DynamoDB JSON with one type key"),
    ({"expressionAttributeValues": {":min": {"Number": "1"}, ":on": {"S": "yes"}}},
     "source.expressionAttributeValues.:min: must be DynamoDB JSON with one type key"),
    ({"expressionAttributeValues": {":min": {"N": 1.5}, ":on": {"S": "yes"}}},
     'source.expressionAttributeValues.:min.N: must be a number in quotes, got 1.5; write it as text, e.g. "1.5", '
     "so that YAML does not round it"),
    ({"expressionAttributeValues": {":min": {"N": "ten"}, ":on": {"S": "yes"}}},
     "source.expressionAttributeValues.:min.N: must be a number, got 'ten'; write digits such as \"10\" or "
     '"-1.5E3"'),
    ({"expressionAttributeValues": {":min": {"N": "18"}, ":on": {"S": 1}}},
     "source.expressionAttributeValues.:on.S: must be a string, got 1; put it in quotes"),
    ({"expressionAttributeValues": {":min": {"N": "18"}, ":on": {"B": "not base64!"}}},
     "source.expressionAttributeValues.:on.B: must be base64 text, got 'not base64!'"),
    ({"expressionAttributeValues": {":min": {"N": "18"}, ":on": {"SS": []}}},
     "source.expressionAttributeValues.:on.SS: must be a non-empty list, got []"),
    ({"expressionAttributeValues": {":min": {"N": "18"}, ":on": {"NS": ["1", 1]}}},
     "source.expressionAttributeValues.:on.NS: holds a value twice"),
    ({"expressionAttributeValues": {":min": {"N": "18"}, ":on": {"M": {"a": {"N": "x"}}}}},
     "source.expressionAttributeValues.:on.M.a.N: must be a number, got 'x'"),
    ({"expressionAttributeValues": {":min": {"N": "18"}, ":on": {"L": [{"BOOL": "yes"}]}}},
     "source.expressionAttributeValues.:on.L[0].BOOL: must be true or false, got 'yes'"),
    ({"expressionAttributeValues": {":min": {"N": "18"}, ":on": {"NULL": False}}},
     "source.expressionAttributeValues.:on.NULL: must be true, got false; write {NULL: true}"),
])
def test_placeholders_and_values_of_the_wrong_shape_are_refused(changes, message):
    """Each refusal names the key, the value and how to write it."""
    assert error(with_filter(**changes)).startswith(message)


@pytest.mark.parametrize("changes, message", [
    ({"expressionAttributeNames": {}},
     "source.filterExpression: uses #s, which source.expressionAttributeNames does not define, got 'age >= :min "
     "AND #s = :on'; add \"#s\": ATTRIBUTE_NAME under source.expressionAttributeNames (quote the key: in YAML "
     "an unquoted # or : key is read otherwise)"),
    ({"expressionAttributeValues": {":min": {"N": "18"}}},
     "source.filterExpression: uses :on, which source.expressionAttributeValues does not define"),
    ({"expressionAttributeNames": {"#s": "status", "#t": "type"}},
     "source.expressionAttributeNames.#t: not used by source.filterExpression 'age >= :min AND #s = :on'; use it "
     "there or remove it (DynamoDB refuses unused placeholders)"),
    ({"expressionAttributeValues": {":min": {"N": "18"}, ":on": {"S": "yes"}, ":x": {"N": "1"}}},
     "source.expressionAttributeValues.:x: not used by source.filterExpression"),
])
def test_placeholders_the_expression_does_not_use_or_lacks_are_refused(changes, message):
    """Defined but unused, or used but undefined (an unquoted `#s:` key in YAML is a comment): refused before the
    server is asked."""
    assert error(with_filter(**changes)).startswith(message)


@pytest.mark.parametrize("key", ["expressionAttributeNames", "expressionAttributeValues"])
def test_placeholders_without_a_filter_expression_are_refused(key):
    """Names or values alone filter nothing."""
    assert error({key: FILTER[key]}) == (f"source.{key}: given without source.filterExpression, the expression "
                                         "that uses it; add the filterExpression or remove the key")


def test_a_filter_on_an_s3_export_source_is_refused():
    """No server reads an export's data files, so nothing would evaluate the filter."""
    export = {"type": "dynamodb-s3-export", "bucket": "b", "manifestKey": "m.json", "table": None,
              "tableDescription": {"attributeDefinitions": [{"name": "id", "type": "S"}],
                                   "keySchema": [{"name": "id", "type": "HASH"}]}}
    source = {k: v for k, v in {**SOURCE, **export, **FILTER}.items() if v is not None}
    with pytest.raises(ConfigError) as info:
        parse_config({"source": source, "target": TARGET}, "c.yaml")
    assert str(info.value) == (
        "source.filterExpression: an export is read from its data files, which no server filters, got 'age >= :min "
        "AND #s = :on'; remove the filter, or migrate from the table (source.type: dynamodb) with it")


def test_a_filter_with_stream_changes_is_refused():
    """Stream records cannot be filtered by the server: the replay would copy what the snapshot left out."""
    assert error(FILTER, {"streamChanges": True}) == (
        "source.filterExpression: filters the snapshot's Scan, and target.streamChanges replays every change of the "
        "table's stream, which no server filters, got 'age >= :min AND #s = :on'; remove the filter, or set "
        "streamChanges: false")


def test_the_example_config_filter_parses():
    """The filter lines of config.dynamodb.yaml.example, uncommented, load."""
    from tests.conftest import REPO_ROOT

    lines = [line.strip().removeprefix("# ") for line in
             (REPO_ROOT / "config.dynamodb.yaml.example").read_text().splitlines()
             if line.strip().startswith(("# filterExpression", "# expressionAttribute"))]
    section = yaml.safe_load("\n".join(lines))
    assert load(section).source.filter_expression == section["filterExpression"]


# ---- the expression under the target's names -------------------------------------------------------------------


def translate(expression: str, names: dict | None = None, renames=(), values=None) -> tuple[str, dict]:
    got = ScanFilter(expression, names or {}, values or {":v": {"N": "1"}}).translated(renames)
    return got.expression, dict(got.names)


def test_tokens_join_back_into_the_expression():
    """Cutting loses nothing, odd characters included."""
    text = "a.b[0] <> :v AND size(#x)>=:w OR c IN (:p,:q) ~"
    assert "".join(t.text for t in tokens(text)) == text


def test_plain_names_become_placeholders_under_their_new_names():
    """Renamed or not, every top-level name goes through a fresh placeholder; :values stay."""
    assert translate("age >= :v AND city = :v", renames=[("age", "years")]) == (
        "#f0 >= :v AND #f1 = :v", {"#f0": "years", "#f1": "city"})


def test_placeholders_are_renamed_through_what_they_stand_for():
    """`#s` stands for status, renamed state: the new placeholder names state."""
    assert translate("#s = :v", {"#s": "status"}, [("status", "state")]) == ("#f0 = :v", {"#f0": "state"})


def test_one_name_used_twice_gets_one_placeholder():
    """The same attribute, plain or through a placeholder, is one placeholder."""
    assert translate("a > :v OR #a < :v", {"#a": "a"}) == ("#f0 > :v OR #f0 < :v", {"#f0": "a"})


def test_nested_path_elements_are_not_renamed():
    """Renames are top-level: in a.b only a is renamed; b after a dot stays, a nested placeholder keeps its
    name under a fresh placeholder."""
    assert translate("a.b = :v AND #m.#b = :v", {"#m": "map", "#b": "b"}, [("a", "x"), ("b", "y"), ("map", "m2")]) \
        == ("#f0.b = :v AND #f1.#f2 = :v", {"#f0": "x", "#f1": "m2", "#f2": "b"})


def test_list_indexes_stay():
    """a[0].b[12]: the index numbers are not names."""
    assert translate("a[0].b[12] = :v", renames=[("a", "x")]) == ("#f0[0].b[12] = :v", {"#f0": "x"})


def test_function_names_stay_and_their_arguments_are_translated():
    """attribute_exists, size, begins_with, contains: a word before `(` is a function; its arguments are names."""
    expression = ("attribute_exists(a) AND attribute_not_exists (b.c) AND size(d) > :v AND begins_with(e, :v) "
                  "AND contains(#t, :v) AND attribute_type(a, :v)")
    got, names = translate(expression, {"#t": "tags"}, [("a", "A")])
    assert got == ("attribute_exists(#f0) AND attribute_not_exists (#f1.c) AND size(#f2) > :v AND "
                   "begins_with(#f3, :v) AND contains(#f4, :v) AND attribute_type(#f0, :v)")
    assert names == {"#f0": "A", "#f1": "b", "#f2": "d", "#f3": "e", "#f4": "tags"}


def test_between_in_and_keywords_in_any_case_stay():
    """BETWEEN, IN, AND, OR, NOT are keywords whatever their case; their operands are names."""
    assert translate("a between :v and :w Or NOT b In (:v, :w) oR c <> :v") == (
        "#f0 between :v and :w Or NOT #f1 In (:v, :w) oR #f2 <> :v", {"#f0": "a", "#f1": "b", "#f2": "c"})


def test_a_rename_to_a_reserved_word_is_safe():
    """The new name goes through a placeholder, so a reserved word such as `status` may be one."""
    assert translate("st = :v", renames=[("st", "status")]) == ("#f0 = :v", {"#f0": "status"})


def test_the_negation_wraps_the_whole_expression():
    """NOT (...) keeps the placeholders and values."""
    scan_filter = ScanFilter("a = :v OR b = :v", {}, {":v": {"S": "x"}}).translated(())
    negated = scan_filter.negated()
    assert negated.expression == "NOT (#f0 = :v OR #f1 = :v)"
    assert (negated.names, negated.values) == (scan_filter.names, scan_filter.values)


# ---- the probe --------------------------------------------------------------------------------------------------


def test_probe_scans_one_item_with_the_filter():
    """One Scan, Limit 1, with the filter's fields."""
    api = FakeApi(lambda op, doc: {"Items": [], "Count": 0, "ScannedCount": 1})
    probe(api, "src", ScanFilter("a = :v", {}, {":v": {"S": "x"}}))
    assert api.calls == [("Scan", {"TableName": "src", "Limit": 1, "FilterExpression": "a = :v",
                                   "ExpressionAttributeValues": {":v": {"S": "x"}}})]


def test_the_servers_validation_exception_is_a_config_error_naming_the_key():
    """A malformed expression: exit 2, one line, the server's own message."""
    def refuse(op, doc):
        raise RequestError("Scan of table 'src' to http://x was refused: HTTP 400 ValidationException: Invalid "
                           "FilterExpression: Syntax error; token: \">\"", code="ValidationException", status=400)

    with pytest.raises(ConfigError) as info:
        probe(FakeApi(refuse), "src", ScanFilter("a >>= :v", {}, {":v": {"N": "1"}}))
    assert str(info.value) == (
        "source.filterExpression: the source table 'src' refused the filter 'a >>= :v': Invalid FilterExpression: "
        "Syntax error; token: \">\"; fix source.filterExpression, source.expressionAttributeNames or "
        "source.expressionAttributeValues")


def test_other_probe_failures_are_not_config_errors():
    """A throttled or unreachable server is not the config's fault: the RequestError goes on."""
    def fail(op, doc):
        raise RequestError("Scan failed: AccessDeniedException", code="AccessDeniedException", status=400)

    with pytest.raises(RequestError):
        probe(FakeApi(fail), "src", ScanFilter("a = :v", {}, {":v": {"N": "1"}}))


# ---- pushdown and counts ----------------------------------------------------------------------------------------


def test_scan_requests_carry_the_filter_merged_with_a_key_projection():
    """A key projection's #k0 and a translated filter's #f0 share ExpressionAttributeNames."""
    api = FakeApi(lambda op, doc: {"Items": [], "Count": 0, "ScannedCount": 3})
    projection = {"ProjectionExpression": "#k0", "ExpressionAttributeNames": {"#k0": "id"}}
    scan_filter = ScanFilter("s = :v", {}, {":v": {"S": "x"}}).translated(())
    list(scan_pages(api, "t", 0, 1, projection=projection, scan_filter=scan_filter))
    (_, request), = api.calls
    assert request["ExpressionAttributeNames"] == {"#k0": "id", "#f0": "s"}
    assert request["FilterExpression"] == "#f0 = :v" and request["ProjectionExpression"] == "#k0"


def test_a_placeholder_defined_twice_differently_is_a_bug_caught_before_sending():
    """Two fields naming one placeholder differently would read the wrong attribute: ValueError."""
    api = FakeApi(lambda op, doc: {"Items": []})
    projection = {"ProjectionExpression": "#k0", "ExpressionAttributeNames": {"#k0": "id"}}
    with pytest.raises(ValueError, match="#k0"):
        list(scan_pages(api, "t", 0, 1, projection=projection,
                        scan_filter=ScanFilter("#k0 = :v", {"#k0": "other"}, {":v": {"N": "1"}})))
    assert api.calls == []


def test_a_filtered_page_is_charged_for_the_items_read_not_only_those_returned():
    """Without ConsumedCapacity, the items left out count as large as those returned: 1 returned of 41 read."""
    item = {"id": {"S": "x" * 2000}}
    answers = iter([{"Items": [item], "Count": 1, "ScannedCount": 41}])
    charged = []

    class Limiter:
        def charge(self, units):
            charged.append(units)

    list(scan_pages(FakeApi(lambda op, doc: next(answers)), "t", 0, 1, limiter=Limiter(),
                    scan_filter=ScanFilter("a = :v", {}, {":v": {"S": "x"}})))
    assert charged == [read_units(41 * len(dumps({"Items": [item], "Count": 1, "ScannedCount": 41})))]


def test_a_page_is_charged_the_capacity_reported_only_when_it_was_asked_for():
    """With report_capacity the page costs the answer's CapacityUnits; without, a reported figure (moto sends one
    unasked) is not trusted and the page costs its size."""
    answer = {"Items": [{"id": {"S": "x" * 9000}}], "Count": 1, "ScannedCount": 1,
              "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5}}
    class Limiter:
        def __init__(self):
            self.charged = []

        def charge(self, units):
            self.charged.append(units)

    for report_capacity, expected in ((True, 0.5), (False, read_units(len(dumps(answer))))):
        limiter = Limiter()
        list(scan_pages(FakeApi(lambda op, doc: answer), "t", 0, 1, limiter=limiter, raw=True,
                        report_capacity=report_capacity))
        assert limiter.charged == [expected], report_capacity
    assert read_units(len(dumps(answer))) == 1.5  # the size's figure differs from the reported one


@pytest.mark.parametrize("decode", [scan_page, raw_scan_page])
def test_scan_pages_carry_the_answers_scanned_count(decode):
    """ScannedCount, on both decoding paths; None when the server leaves it out."""
    page = decode(dumps({"Items": [{"a": {"S": "x"}}], "Count": 1, "ScannedCount": 7}))
    assert page.scanned_count == 7 and len(page.items) == 1
    assert decode(dumps({"Items": []})).scanned_count is None


def test_the_scanner_counts_what_the_filter_left_out_per_page(monkeypatch):
    """filtered_out adds ScannedCount - Count of each page; the filter goes into every request."""
    answers = iter([
        {"Items": [{"id": {"S": "a"}}], "Count": 1, "ScannedCount": 5, "LastEvaluatedKey": {"id": {"S": "a"}}},
        {"Items": [{"id": {"S": "b"}}, {"id": {"S": "c"}}], "Count": 2, "ScannedCount": 4},
    ])
    api = FakeApi(lambda op, doc: next(answers))
    monkeypatch.setattr(Database, "api", lambda self, **kwargs: api)
    scan_filter = ScanFilter("a = :v", {}, {":v": {"S": "x"}})
    source = ScanSource(Database("source", "dynamodb", "us-east-1", "http://127.0.0.1:1"), "t",
                        scan_filter=scan_filter)
    with source.open(Unlimited()) as reader:
        items = [item for page in reader.pages(ScanSegment(0, 1)) for item in page]
        assert len(items) == 3 and reader.filtered_out == 6
    assert all(doc["FilterExpression"] == "a = :v" for _, doc in api.calls)


# ---- the validator ----------------------------------------------------------------------------------------------


class FilteringDynamo(FakeDynamo):
    """FakeDynamo whose Scan applies `predicates[FilterExpression](item, names, values)` to each page, as a
    server does after reading it, and answers Count and ScannedCount."""

    def __init__(self, tables, predicates, **options) -> None:
        super().__init__(tables, **options)
        self.predicates = predicates

    def _Scan(self, doc):
        answer = super()._Scan({k: v for k, v in doc.items() if k != "ProjectionExpression"})
        scanned = len(answer["Items"])
        if "FilterExpression" in doc:
            keep = self.predicates[doc["FilterExpression"]]
            answer["Items"] = [i for i in answer["Items"] if keep(i, doc.get("ExpressionAttributeNames", {}),
                                                                  doc["ExpressionAttributeValues"])]
        answer["Items"] = [self._project(i, doc) for i in answer["Items"]]
        return {**answer, "Count": len(answer["Items"]), "ScannedCount": scanned}


def age_at_least(name_of):
    def keep(item, names, values):
        attribute = item.get(name_of(names))
        return attribute is not None and int(attribute["N"]) >= int(values[":min"]["N"])
    return keep


def person(i: int, age_name: str = "age") -> dict:
    return {"id": {"S": f"p{i:02d}"}, age_name: {"N": str(i)}}


@pytest.fixture
def filtered_tables(monkeypatch):
    """A source of 30 people aged 0-29, a target with those aged 18 or more under the renamed `years`, plus two
    items that should not be there: p05 (does not match) and p99 (matches, absent on the source)."""
    source = [person(i) for i in range(30)]
    target = [person(i, "years") for i in range(18, 30)] + [person(5, "years"), person(99, "years")]
    on_source = age_at_least(lambda names: "age")
    on_target = age_at_least(lambda names: names["#f0"])
    fake = FilteringDynamo({"src": (("id",), source), "dst": (("id",), target)}, {
        "age >= :min": on_source, "#f0 >= :min": on_target,
        "NOT (#f0 >= :min)": lambda *args: not on_target(*args)})
    monkeypatch.setattr(Database, "api", lambda self, **kwargs: fake)
    return fake


def filtered_settings(**overrides):
    from migrator.dynamo.api import RetryPolicy
    from migrator.validation.passes import ValidationSettings

    values = dict(source=Database("source", "dynamodb", "us-east-1", "http://127.0.0.1:1"), source_table="src",
                  target=Database("target", "alternator", "us-east-1", "http://127.0.0.1:2"), target_table="dst",
                  key_names=("id",), renames=(("age", "years"),), retry=RetryPolicy(max_attempts=2),
                  scan_filter=ScanFilter("age >= :min", {}, {":min": {"N": "18"}}))
    values.update(overrides)
    return ValidationSettings(**values)


def test_the_source_pass_checks_only_the_items_the_filter_matches(filtered_tables):
    """30 source items, 12 match: those 12 are checked, all found on the target under the new name."""
    from migrator.validation.passes import check_source_segments

    result = check_source_segments(filtered_settings(), range(3), 0, 3)
    assert (result.checked, result.missing, result.differing) == (12, 0, 0)
    assert all(doc.get("FilterExpression") == "age >= :min" for op, doc in filtered_tables.calls if op == "Scan")


def test_the_target_pass_counts_unmatched_and_unknown_items_as_extra_and_says_why(filtered_tables):
    """p05 does not match the filter (extra, with the reason); p99 matches but the source has no such item."""
    from migrator.validation.passes import EXTRA, Example, check_target_segments

    result = check_target_segments(filtered_settings(delete_extra=True), range(3), 0, 3)
    assert (result.checked, result.extra, result.deleted) == (14, 2, 2)
    assert sorted(result.examples, key=lambda e: e.key["id"]["S"]) == [
        Example(EXTRA, {"id": {"S": "p05"}}, ("does not match source.filterExpression",)),
        Example(EXTRA, {"id": {"S": "p99"}}),
    ]
    scans = [doc for op, doc in filtered_tables.calls if op == "Scan"]
    assert {doc["FilterExpression"] for doc in scans} == {"#f0 >= :min", "NOT (#f0 >= :min)"}
    assert all(doc["ExpressionAttributeNames"] == {"#k0": "id", "#f0": "years"} for doc in scans)
    assert sorted(filtered_tables.items["dst"]) == sorted(
        filtered_tables._key_id(person(i), ("id",)) for i in range(18, 30))


def test_a_sample_quota_covers_both_scans_of_a_target_segment(filtered_tables):
    """Sampling reads at most the quota per segment over the matching and the unmatched scans together."""
    from migrator.validation.passes import check_target_segments
    from migrator.validation.sampling import SampleLimit

    result = check_target_segments(filtered_settings(), [0], 0, 1, SampleLimit(per_segment=13, per_task=13))
    assert result.checked == 13
