"""Wire-format item helpers: key extraction, key identity across servers, key projections, renames.

Items stay DynamoDB JSON (`{"id": {"S": "a"}}`). Two servers may spell the same number differently ("1.50" vs
"1.5", "1E+2" vs "100"), so a key's identity (`key_id`) normalizes numbers; everything else is compared as sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Context, Decimal, InvalidOperation

from migrator.codec import dumps
from migrator.transforms.transform import renamed_attributes

_WIDE = Context(prec=60)  # DynamoDB numbers have up to 38 significant digits


def key_of(item: Mapping, key_names: Sequence[str]) -> dict:
    """The key attributes of `item`, e.g. {"pk": {"S": "a"}, "sk": {"N": "1"}}."""
    return {name: item[name] for name in key_names}


def key_id(item: Mapping, key_names: Sequence[str]) -> str:
    """A text equal for two items with the same key on any server: numbers by value, strings and binaries as sent."""
    parts = []
    for name in key_names:
        (kind, value), = item[name].items()
        parts.append([kind, canonical_number(value) if kind == "N" else value])
    return dumps(parts).decode()


def key_text(key: Mapping) -> str:
    """A key as one line of compact JSON, for logs and reports: {"id":{"S":"item-7"}}."""
    return dumps(dict(key)).decode()


def canonical_number(text: str) -> str:
    """One spelling per value: "1.50" -> "1.5", "100" and "1E+2" -> "1E+2", "-0" -> "0"; non-numbers unchanged."""
    try:
        number = Decimal(text).normalize(_WIDE)
    except InvalidOperation:
        return text
    return "0" if number.is_zero() else str(number)


def key_projection(key_names: Iterable[str]) -> dict:
    """Request fields that read only the key attributes; names go through placeholders (any name is allowed)."""
    names = {f"#k{index}": name for index, name in enumerate(key_names)}
    return {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}


def renamed(item: Mapping, renames: Mapping[str, str], key_names: Sequence[str] = ()) -> dict:
    """`item` (decoded) with its top-level attributes renamed (`{old: new}`), as the target is meant to hold it:
    the validator's form of transforms.Transform. An item that holds both names of a rename raises RenameConflict
    naming its key (`key_names`: the item's key attributes), as the migration does."""
    if not renames:
        return dict(item)
    return renamed_attributes(item, renames, key_names)
