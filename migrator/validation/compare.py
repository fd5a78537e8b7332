"""Compare a source item with a target item in wire format and name the attributes that differ.

    N        equal by decimal value ("1.50" == "1.5"), or within the absolute tolerance
    NS       the same numbers, in any order; with a tolerance, matched in sorted order
    SS, BS   the same members, in any order
    S, B     exactly (B is base64 text: equal bytes <=> equal text); BOOL and NULL exactly
    M        the same keys, then each value; L: the same length, then element by element
    a change of type is a difference

A difference reads `path: SOURCE != TARGET`, e.g. `address.geo[1]: N 12 != N 13`. Paths join map keys with `.` and
list positions with `[i]`; a name that is not plain letters, digits, `_` or `-` is written in JSON quotes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation

# Wide enough that subtracting any two DynamoDB numbers (38 digits, exponents -130 to +125) is exact.
_EXACT = Context(prec=400)
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-]+")
SHOW_LIMIT = 80


@dataclass(frozen=True)
class Difference:
    path: str
    description: str

    def __str__(self) -> str:
        return f"{self.path}: {self.description}"


def diff_items(source: Mapping, target: Mapping, tolerance: Decimal = Decimal(0)) -> list[Difference]:
    """The differences between two items (attribute name -> wire value), in source attribute order; [] if equal."""
    found: list[Difference] = []
    _diff_maps(source, target, "", tolerance, found)
    return found


def _diff_maps(source: Mapping, target: Mapping, prefix: str, tolerance: Decimal, found: list[Difference]) -> None:
    for name, value in source.items():
        path = _join(prefix, name)
        if name not in target:
            found.append(Difference(path, f"{show(value)} != (missing on the target)"))
        else:
            _diff_values(value, target[name], path, tolerance, found)
    for name, value in target.items():
        if name not in source:
            found.append(Difference(_join(prefix, name), f"(missing on the source) != {show(value)}"))


def _diff_values(source: Mapping, target: Mapping, path: str, tolerance: Decimal, found: list[Difference]) -> None:
    (kind, a), = source.items()
    (target_kind, b), = target.items()
    if kind != target_kind:
        found.append(Difference(path, f"{show(source)} != {show(target)}"))
    elif kind == "M":
        _diff_maps(a, b, path, tolerance, found)
    elif kind == "L":
        if len(a) != len(b):
            found.append(Difference(path, f"L of {len(a)} elements != L of {len(b)} elements"))
            return
        for index, (x, y) in enumerate(zip(a, b)):
            _diff_values(x, y, f"{path}[{index}]", tolerance, found)
    elif kind == "N":
        if not numbers_equal(a, b, tolerance):
            found.append(Difference(path, f"N {a} != N {b}{_off_by(a, b, tolerance)}"))
    elif kind == "NS":
        if not number_sets_equal(a, b, tolerance):
            found.append(Difference(path, _number_set_difference(a, b, tolerance)))
    elif kind in ("SS", "BS"):
        if set(a) != set(b):
            found.append(Difference(path, _set_difference(kind, sorted(set(a) - set(b)), sorted(set(b) - set(a)))))
    elif a != b:
        found.append(Difference(path, f"{show(source)} != {show(target)}"))


def numbers_equal(a: str, b: str, tolerance: Decimal = Decimal(0)) -> bool:
    """Two N values are equal when their decimal values differ by at most `tolerance`."""
    x, y = _decimal(a), _decimal(b)
    if x is None or y is None:
        return a == b
    return _within(x, y, tolerance)


def number_sets_equal(a: list[str], b: list[str], tolerance: Decimal = Decimal(0)) -> bool:
    """Two NS values hold the same numbers; with a tolerance, the i-th smallest of each are within it."""
    xs, ys = _decimals(a), _decimals(b)
    if xs is None or ys is None:
        return set(a) == set(b)
    if tolerance <= 0:
        return set(xs) == set(ys)
    return len(xs) == len(ys) and all(_within(x, y, tolerance) for x, y in zip(sorted(xs), sorted(ys)))


def _within(x: Decimal, y: Decimal, tolerance: Decimal) -> bool:
    return x == y or (tolerance > 0 and _EXACT.abs(_EXACT.subtract(x, y)) <= tolerance)


def show(value: Mapping, limit: int = SHOW_LIMIT) -> str:
    """A wire value as `TYPE text`, cut to about `limit` characters: N 1.5, S "abc", BOOL true, M {...}."""
    (kind, inner), = value.items()
    if kind == "N":
        text = inner
    elif kind == "NULL":
        return "NULL"
    else:
        text = json.dumps(inner, ensure_ascii=False, separators=(",", ":"))
    return f"{kind} {_cut(text, limit)}"


def _set_difference(kind: str, only_source: list[str], only_target: list[str]) -> str:
    parts = []
    if only_source:
        parts.append(f"only on the source {_members(kind, only_source)}")
    if only_target:
        parts.append(f"only on the target {_members(kind, only_target)}")
    return f"{kind} members differ: " + "; ".join(parts)


def _number_set_difference(a: list[str], b: list[str], tolerance: Decimal) -> str:
    if tolerance > 0:
        return f"NS {_members('NS', a)} != NS {_members('NS', b)} (tolerance {tolerance})"
    source_values = {_decimal(n) for n in a}
    target_values = {_decimal(n) for n in b}
    return _set_difference("NS", [n for n in a if _decimal(n) not in target_values],
                           [n for n in b if _decimal(n) not in source_values])


def _members(kind: str, members) -> str:
    """Set members sorted (numbers by value), numbers bare, strings and base64 in JSON quotes, cut short."""
    if kind == "NS":
        text = ", ".join(sorted(members, key=lambda n: (_decimal(n) is None, _decimal(n) or 0, n)))
    else:
        text = ", ".join(json.dumps(m, ensure_ascii=False) for m in sorted(members))
    return "[" + _cut(text, SHOW_LIMIT) + "]"


def _off_by(a: str, b: str, tolerance: Decimal) -> str:
    x, y = _decimal(a), _decimal(b)
    if x is None or y is None:
        return ""
    off = _EXACT.abs(_EXACT.subtract(x, y)).normalize(_EXACT)
    return f" (off by {off}, tolerance {tolerance})" if tolerance > 0 else ""


def _decimal(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _decimals(texts: list[str]) -> list[Decimal] | None:
    numbers = [_decimal(t) for t in texts]
    return None if any(n is None for n in numbers) else numbers


def _join(prefix: str, name: str) -> str:
    part = name if _PLAIN_NAME.fullmatch(name) else json.dumps(name, ensure_ascii=False)
    return f"{prefix}.{part}" if prefix else part


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
