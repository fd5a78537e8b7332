from decimal import Decimal

import pytest

from migrator.validation.compare import diff_items, number_sets_equal, numbers_equal, show
from migrator.demo import sample_items

TOLERANCE = Decimal("0.001")


def paths(source, target, tolerance=Decimal(0)):
    return [d.path for d in diff_items(source, target, tolerance)]


def texts(source, target, tolerance=Decimal(0)):
    return [str(d) for d in diff_items(source, target, tolerance)]


def test_equal_items_have_no_differences():
    """Every edge item of every type equals itself."""
    for item in sample_items.edge_items():
        assert diff_items(item, dict(item)) == []


def test_numbers_compare_by_decimal_value_not_by_spelling():
    """1.50 == 1.5, 100 == 1E+2, 0 == -0: servers spell numbers differently."""
    assert paths({"n": {"N": "1.50"}}, {"n": {"N": "1.5"}}) == []
    assert paths({"n": {"N": "100"}}, {"n": {"N": "1E+2"}}) == []
    assert paths({"n": {"N": "0"}}, {"n": {"N": "-0"}}) == []


def test_38_digit_numbers_that_differ_in_the_last_digit_differ():
    """No rounding: numbers differing in their 38th digit, or far apart in exponent, are not equal."""
    a, b = "12345678901234567890123456789012345678", "12345678901234567890123456789012345679"
    assert texts({"n": {"N": a}}, {"n": {"N": b}}) == [f"n: N {a} != N {b}"]
    assert not numbers_equal("1E-130", "-1E-130")
    assert not numbers_equal("9.9999999999999999999999999999999999999E+125", "1E+126")


def test_number_within_the_tolerance_is_equal_and_beyond_it_differs():
    """The tolerance is absolute and inclusive; the description gives the distance."""
    assert paths({"p": {"N": "19.99"}}, {"p": {"N": "19.9905"}}, TOLERANCE) == []
    assert paths({"p": {"N": "1"}}, {"p": {"N": "1.001"}}, TOLERANCE) == []
    assert texts({"p": {"N": "19.99"}}, {"p": {"N": "25"}}, TOLERANCE) == [
        "p: N 19.99 != N 25 (off by 5.01, tolerance 0.001)"]


def test_tolerance_works_on_numbers_of_38_digits():
    """Exact subtraction: a difference of 1 in the 38th digit is within a tolerance of 1 and beyond 0.5."""
    a, b = "12345678901234567890123456789012345678", "12345678901234567890123456789012345679"
    assert numbers_equal(a, b, Decimal(1))
    assert not numbers_equal(a, b, Decimal("0.5"))


def test_sets_compare_without_order():
    """SS, NS and BS members in another order are equal."""
    assert paths({"s": {"SS": ["a", "b", "c"]}}, {"s": {"SS": ["c", "a", "b"]}}) == []
    assert paths({"s": {"NS": ["1", "2.50", "-3"]}}, {"s": {"NS": ["-3", "2.5", "1"]}}) == []
    assert paths({"s": {"BS": ["AA==", "AQ=="]}}, {"s": {"BS": ["AQ==", "AA=="]}}) == []


def test_set_differences_name_the_members_on_each_side():
    """A changed member shows what only the source and only the target hold."""
    assert texts({"tags": {"SS": ["a", "b"]}}, {"tags": {"SS": ["a", "c"]}}) == [
        'tags: SS members differ: only on the source ["b"]; only on the target ["c"]']
    assert texts({"ns": {"NS": ["1", "2"]}}, {"ns": {"NS": ["1.0", "2", "3"]}}) == [
        "ns: NS members differ: only on the target [3]"]


def test_number_sets_use_the_tolerance_member_by_member():
    """NS members within the tolerance of each other, in sorted order, are equal; a lost member is not."""
    assert number_sets_equal(["1", "2"], ["2.0005", "0.9995"], TOLERANCE)
    assert not number_sets_equal(["1", "2"], ["1", "2.01"], TOLERANCE)
    assert not number_sets_equal(["1", "1.0005"], ["1"], TOLERANCE)
    assert texts({"ns": {"NS": ["1", "2"]}}, {"ns": {"NS": ["1", "3"]}}, TOLERANCE) == [
        "ns: NS [1, 2] != NS [1, 3] (tolerance 0.001)"]


def test_binary_compares_exactly():
    """B and BS compare their base64 text exactly: one changed byte differs."""
    assert texts({"b": {"B": "AAEC"}}, {"b": {"B": "AAED"}}) == ['b: B "AAEC" != B "AAED"']


def test_a_change_of_type_is_a_difference():
    """N 1 and S "1" are different values, and so are SS and NS with the same text."""
    assert texts({"x": {"N": "1"}}, {"x": {"S": "1"}}) == ['x: N 1 != S "1"']
    assert paths({"x": {"SS": ["1"]}}, {"x": {"NS": ["1"]}}) == ["x"]
    assert texts({"x": {"NULL": True}}, {"x": {"BOOL": False}}) == ["x: NULL != BOOL false"]


def test_attributes_missing_on_either_side_are_named():
    """An attribute only on the source or only on the target is a difference at its path."""
    assert texts({"id": {"S": "a"}, "old": {"N": "5"}}, {"id": {"S": "a"}, "new": {"S": "x"}}) == [
        "old: N 5 != (missing on the target)", 'new: (missing on the source) != S "x"']


def test_nested_differences_have_full_paths():
    """A changed number deep in maps and lists is reported as address.geo[1], and only there."""
    source = {"address": {"M": {"city": {"S": "Oslo"}, "geo": {"L": [{"N": "59"}, {"N": "10"}]}}}}
    target = {"address": {"M": {"city": {"S": "Oslo"}, "geo": {"L": [{"N": "59"}, {"N": "11"}]}}}}
    assert texts(source, target) == ["address.geo[1]: N 10 != N 11"]
    target["address"]["M"]["zip"] = {"N": "1234"}
    assert paths(source, target) == ["address.geo[1]", "address.zip"]


def test_lists_of_another_length_differ_as_a_whole():
    """A list with an element more is one difference at the list, not one per shifted element."""
    assert texts({"l": {"L": [{"N": "1"}]}}, {"l": {"L": [{"N": "1"}, {"N": "2"}]}}) == [
        "l: L of 1 elements != L of 2 elements"]


def test_names_that_are_not_plain_are_quoted_in_paths():
    """Dots, spaces and brackets in attribute names cannot be mistaken for nesting."""
    assert paths({"a.b": {"M": {"c d": {"N": "1"}}}}, {"a.b": {"M": {"c d": {"N": "2"}}}}) == ['"a.b"."c d"']


def test_every_differing_attribute_is_reported():
    """Three changed attributes give three differences, in the source's attribute order."""
    source = {"a": {"N": "1"}, "b": {"S": "x"}, "c": {"BOOL": True}, "d": {"N": "4"}}
    target = {"a": {"N": "2"}, "b": {"S": "y"}, "c": {"BOOL": False}, "d": {"N": "4"}}
    assert paths(source, target) == ["a", "b", "c"]


@pytest.mark.parametrize("value, text", [
    ({"S": "x" * 200}, "S \"" + "x" * 76 + "..."),
    ({"M": {"k": {"N": "1"}}}, 'M {"k":{"N":"1"}}'),
    ({"BOOL": True}, "BOOL true"),
])
def test_values_are_shown_short(value, text):
    """Long values are cut, so a 400 KB attribute cannot flood a log line."""
    assert show(value) == text
