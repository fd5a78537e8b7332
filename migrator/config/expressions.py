"""source.filterExpression and its placeholders, as the config reads them: the tokens of a DynamoDB expression, the
name and value placeholders, and the values in DynamoDB JSON.

The server parses the expression itself (a probe Scan on the driver, transforms/filters.py, reports its syntax
errors); here are the checks the config can make on its own, so that a mistake in the YAML is named by its key:
a placeholder the expression uses but the config does not define (an unquoted `#s:` key in YAML is a comment, so
it is easily lost), one defined but unused (DynamoDB refuses it), a value that is not DynamoDB JSON.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from migrator.config.values import as_mapping, fail, join, show

NAMES_KEY, VALUES_KEY = "source.expressionAttributeNames", "source.expressionAttributeValues"
NAME_PLACEHOLDER = re.compile(r"#[A-Za-z0-9_]+")
VALUE_PLACEHOLDER = re.compile(r":[A-Za-z0-9_]+")
TYPES = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")

# The lexical pieces of a DynamoDB condition expression. It has no string literals: values go through placeholders.
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<placeholder>\#[A-Za-z0-9_]+)   # #name
  | (?P<value>:[A-Za-z0-9_]+)          # :value
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)   # an attribute name, a keyword (AND, BETWEEN) or a function (size)
  | (?P<number>[0-9]+)                 # a list index: a[0]
  | (?P<symbol><>|<=|>=|[=<>()\[\],.])
  | (?P<other>.)                       # anything else: the server says what is wrong with it
""", re.VERBOSE | re.DOTALL)


class Token(NamedTuple):
    kind: str  # space, placeholder, value, word, number, symbol or other
    text: str


def tokens(expression: str) -> list[Token]:
    """`expression` cut into tokens; joining their texts gives it back."""
    return [Token(match.lastgroup, match.group()) for match in _TOKEN.finditer(expression)]


def expression_names(value: Any, path: str) -> dict[str, str]:
    """source.expressionAttributeNames: {"#placeholder": "attribute name"}."""
    names = {}
    for key, name in as_mapping(value, path, 'write {"#n": ATTRIBUTE_NAME}').items():
        if not isinstance(key, str) or not NAME_PLACEHOLDER.fullmatch(key):
            raise fail(join(path, key), f"a name placeholder must be # and letters, digits or _, got {show(key)}; "
                       'write "#n": ATTRIBUTE_NAME, the key in quotes (in YAML an unquoted # starts a comment)')
        if not isinstance(name, str) or not name:
            raise fail(join(path, key), f"must be an attribute name, got {show(name)}; write {key!r}: "
                       "ATTRIBUTE_NAME")
        names[key] = name
    return names


def expression_values(value: Any, path: str) -> dict[str, dict]:
    """source.expressionAttributeValues: {":placeholder": DynamoDB JSON}; a YAML integer for N is taken as its
    text (`N: 10` is `N: "10"`)."""
    values = {}
    for key, item in as_mapping(value, path, 'write {":v": {N: "10"}}').items():
        if not isinstance(key, str) or not VALUE_PLACEHOLDER.fullmatch(key):
            raise fail(join(path, key), f"a value placeholder must be : and letters, digits or _, got {show(key)}; "
                       'write ":v": {S: TEXT}, the key in quotes')
        values[key] = attribute_value(item, join(path, key))
    return values


def attribute_value(value: Any, path: str) -> dict:
    """One value in DynamoDB JSON, checked: exactly one type key of TYPES, holding a value of its shape."""
    if not isinstance(value, Mapping) or len(value) != 1 or next(iter(value)) not in TYPES:
        raise fail(path, f"must be DynamoDB JSON with one type key ({', '.join(TYPES)}), got {show(value)}; write "
                   '{S: TEXT}, {N: "10"}, {BOOL: true}, ...')
    (kind, inner), = value.items()
    at = join(path, kind)
    if kind == "S":
        return {kind: _string(inner, at)}
    if kind == "N":
        return {kind: _number(inner, at)}
    if kind == "B":
        return {kind: _binary(inner, at)}
    if kind in ("SS", "NS", "BS"):
        member = {"SS": _string, "NS": _number, "BS": _binary}[kind]
        if not isinstance(inner, list) or not inner:
            raise fail(at, f"must be a non-empty list, got {show(inner)}; a DynamoDB set holds one or more values")
        members = [member(one, f"{at}[{index}]") for index, one in enumerate(inner)]
        if len(set(members)) != len(members):
            raise fail(at, f"holds a value twice, got {show(inner)}; a DynamoDB set holds each value once")
        return {kind: members}
    if kind == "M":
        fields = as_mapping(inner, at, "write {NAME: {S: TEXT}, ...}")
        return {kind: {str(name): attribute_value(one, join(at, name)) for name, one in fields.items()}}
    if kind == "L":
        if not isinstance(inner, list):
            raise fail(at, f"must be a list, got {show(inner)}; write [{{S: TEXT}}, ...]")
        return {kind: [attribute_value(one, f"{at}[{index}]") for index, one in enumerate(inner)]}
    if kind == "NULL":
        if inner is not True:
            raise fail(at, f"must be true, got {show(inner)}; write {{NULL: true}}")
        return {kind: True}
    if not isinstance(inner, bool):
        raise fail(at, f"must be true or false, got {show(inner)}; write {{BOOL: true}} without quotes")
    return {kind: inner}


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise fail(path, f"must be a string, got {show(value)}; put it in quotes")
    return value


def _number(value: Any, path: str) -> str:
    """A DynamoDB number as text: a quoted number, or a YAML integer (a YAML float is refused: 0.1 is not exact)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise fail(path, f"must be a number in quotes, got {show(value)}; write it as text, e.g. \"{value}\", so "
                   "that YAML does not round it")
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise fail(path, f"must be a number, got {show(value)}; write digits such as \"10\" or \"-1.5E3\"")
    return value.strip()


def _binary(value: Any, path: str) -> str:
    if isinstance(value, str):
        try:
            base64.b64decode(value, validate=True)
            return value
        except binascii.Error:
            pass
    raise fail(path, f"must be base64 text, got {show(value)}; write the bytes base64-encoded, e.g. \"AAEC\"")


def check_placeholders(expression: str, names: Mapping[str, str], values: Mapping[str, dict]) -> None:
    """Every placeholder of `expression` defined, every one defined used (DynamoDB refuses both mistakes)."""
    found = tokens(expression)
    for kind, key, defined in (("placeholder", NAMES_KEY, names), ("value", VALUES_KEY, values)):
        used = {token.text for token in found if token.kind == kind}
        for placeholder in sorted(used - set(defined)):
            example = "ATTRIBUTE_NAME" if kind == "placeholder" else "{S: TEXT}"
            raise fail("source.filterExpression", f"uses {placeholder}, which {key} does not define, got "
                       f'{expression!r}; add "{placeholder}": {example} under {key} (quote the key: in YAML an '
                       "unquoted # or : key is read otherwise)")
        for placeholder in sorted(set(defined) - used):
            raise fail(join(key, placeholder), f"not used by source.filterExpression {expression!r}; use it there "
                       "or remove it (DynamoDB refuses unused placeholders)")
