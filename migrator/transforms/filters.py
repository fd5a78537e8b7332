"""source.filterExpression: pushed down into the source's Scan, probed on the driver, and turned around for the
validator's target pass.

The filter runs on the server (Scan's FilterExpression), so no unmatched item reaches a task; a page's ScannedCount
minus its items is what the filter left out (readers/scan_source.py counts it). The expression is written with the
source's attribute names. The validator reads the target, whose top-level attributes may be renamed, so it applies
`translated(renames)`: the same expression with each top-level name under its new name. Its target pass scans the
target twice per segment, with that filter (the keys to look up on the source) and with its negation (items the
migration would not have copied: extra).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import pairwise
from dataclasses import dataclass, field

from migrator.config.expressions import tokens
from migrator.errors import ConfigError, RequestError

KEYWORDS = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN"})  # DynamoDB reads them in any case
FILTER_KEY = "source.filterExpression"
UNMATCHED = "does not match source.filterExpression"  # why the validator counts such a target item as extra


@dataclass(frozen=True)
class ScanFilter:
    """A Scan's FilterExpression with its placeholders (values in DynamoDB JSON); picklable."""

    expression: str
    names: Mapping[str, str] = field(default_factory=dict)  # {"#s": "status"}
    values: Mapping[str, dict] = field(default_factory=dict)  # {":min": {"N": "18"}}

    @classmethod
    def of(cls, source) -> ScanFilter | None:
        """The filter of a source's settings (config.source), or None when it has none."""
        expression = getattr(source, "filter_expression", None)
        if not expression:
            return None
        return cls(expression, dict(source.expression_attribute_names or {}),
                   dict(source.expression_attribute_values or {}))

    def request(self) -> dict:
        """The Scan request fields of this filter."""
        fields: dict = {"FilterExpression": self.expression}
        if self.names:
            fields["ExpressionAttributeNames"] = dict(self.names)
        if self.values:
            fields["ExpressionAttributeValues"] = dict(self.values)
        return fields

    def negated(self) -> ScanFilter:
        """The items this filter leaves out (DynamoDB's conditions are true or false, a missing attribute too)."""
        return ScanFilter(f"NOT ({self.expression})", self.names, self.values)

    def translated(self, renames: Iterable[tuple[str, str]]) -> ScanFilter:
        """The filter for the target: every top-level attribute under its new name (`renames`: (source name, target
        name) pairs).

        Each name of the expression becomes a new placeholder `#f0`, `#f1`, ... (a new name may be a reserved
        word, and the placeholders cannot clash with a key projection's `#k0`): a top-level path element (a plain
        name or a #placeholder, not after a `.`) for its renamed name, a nested one (`a.b`, `a[0].#c`) for the
        name it stood for. Keywords (AND, OR, NOT, BETWEEN, IN, in any case) and function names (a word before
        `(`) stay; :values and list indexes are untouched.
        """
        renamed = dict(renames)
        placeholders: dict[str, str] = {}  # attribute name -> its new placeholder

        def placeholder(name: str) -> str:
            return placeholders.setdefault(name, f"#f{len(placeholders)}")

        found = tokens(self.expression)
        meaningful = [i for i, token in enumerate(found) if token.kind != "space"]
        following = {i: found[j] for i, j in pairwise(meaningful)}
        out, previous = [], None
        for i, token in enumerate(found):
            text = token.text
            if token.kind in ("word", "placeholder") and not _is_operator(token, following.get(i)):
                name = self.names[text] if token.kind == "placeholder" else text
                nested = previous is not None and previous.text == "."
                if not nested:
                    text = placeholder(renamed.get(name, name))
                elif token.kind == "placeholder":
                    text = placeholder(name)
            out.append(text)
            if token.kind != "space":
                previous = token
        return ScanFilter("".join(out), {p: name for name, p in placeholders.items()}, self.values)


def _is_operator(token, following) -> bool:
    """A keyword, or a function name (a word followed by `(`): not an attribute name."""
    if token.kind != "word":
        return False
    return token.text.upper() in KEYWORDS or (following is not None and following.text == "(")


def probe(api, table: str, scan_filter: ScanFilter, what: str = "the source") -> None:
    """One Scan of one item with the filter, so that the server's ValidationException (a malformed expression, an
    unknown function, a reserved word used as a name) stops the job with exit 2 before anything is copied.

    `what` says which table and which form of the filter (the validator probes the target with the filter under
    the target's names)."""
    request = {"TableName": table, "Limit": 1, **scan_filter.request()}
    try:
        api.call("Scan", request, table=table)
    except RequestError as exc:
        if exc.code != "ValidationException":
            raise
        message = str(exc).split(f"{exc.code}: ", 1)[-1]
        raise ConfigError(f"{FILTER_KEY}: {what} table {table!r} refused the filter {scan_filter.expression!r}: "
                          f"{message}; fix source.filterExpression, source.expressionAttributeNames or "
                          "source.expressionAttributeValues") from None
