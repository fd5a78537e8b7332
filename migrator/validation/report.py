"""The validator's verdict: add up the task results, log counts and examples, write the JSON report.

Log lines have a fixed format (README documents them): `validator total: ...`, `validator example i/n: ...`,
`validator repair: ...`, `validator report: PATH` and one `validator verdict: IDENTICAL|DIFFERENT - ...`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from migrator.errors import MigratorError
from migrator.items import key_text
from migrator.validation.passes import DIFFERING, EXTRA, MISSING, Example, PassResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Totals:
    source_checked: int
    target_checked: int
    missing: int
    differing: int
    extra: int
    copied: int
    rewritten: int
    deleted: int
    expired: int = 0  # source items not checked because their TTL has passed (the copy skips them)

    @property
    def identical(self) -> bool:
        return self.missing == self.differing == self.extra == 0


def add_up(results: Sequence[PassResult]) -> Totals:
    source = [r for r in results if r.side == "source"]
    target = [r for r in results if r.side == "target"]
    return Totals(
        source_checked=sum(r.checked for r in source), target_checked=sum(r.checked for r in target),
        missing=sum(r.missing for r in source), differing=sum(r.differing for r in source),
        extra=sum(r.extra for r in target), copied=sum(r.copied for r in source),
        rewritten=sum(r.rewritten for r in source), deleted=sum(r.deleted for r in target),
        expired=sum(r.expired for r in source),
    )


def pick_examples(results: Sequence[PassResult], limit: int) -> list[Example]:
    """Up to `limit` examples, taken in turn from the missing, differing and extra ones, so each kind shows."""
    by_kind: dict[str, list[Example]] = {MISSING: [], DIFFERING: [], EXTRA: []}
    for result in sorted(results, key=lambda r: (r.side, r.task)):
        for example in result.examples:
            by_kind[example.kind].append(example)
    picked: list[Example] = []
    for position in range(max(map(len, by_kind.values()))):
        for examples in by_kind.values():
            if position < len(examples) and len(picked) < limit:
                picked.append(examples[position])
    return picked


def default_report_path(now: datetime | None = None) -> Path:
    """`validation-report-20260101T120000Z.json` in the current directory."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return Path(f"validation-report-{stamp}.json")


def report(results: Sequence[PassResult], *, context: dict, failures_to_fetch: int, report_path: Path,
           seconds: float, sample: bool) -> int:
    """Log the totals, the examples and the verdict, write the JSON report; 0 when identical, else 1."""
    for r in sorted(results, key=lambda r: (r.side != "source", r.task)):
        logger.info("task %d: %s pass, %d segments, %d items checked in %.1f s%s", r.task, r.side, len(r.segments),
                    r.checked, r.seconds, f", {r.expired} expired (TTL) not checked" if r.expired else "")
    totals = add_up(results)
    source, target = context["source"]["table"], context["target"]["table"]
    what = "sampled" if sample else "checked"
    logger.info("validator total: source %r: %d items %s: %d missing on the target, %d differing%s",
                source, totals.source_checked, what, totals.missing, totals.differing, _expired_text(totals))
    logger.info("validator total: target %r: %d items %s: %d extra (not on the source%s)",
                target, totals.target_checked, what, totals.extra,
                ", or not matching source.filterExpression" if "filter" in context else "")
    examples = pick_examples(results, failures_to_fetch)
    found = totals.missing + totals.differing + totals.extra
    for index, example in enumerate(examples, 1):
        logger.info("validator example %d/%d: %s", index, found, example_line(example))
    if found > len(examples):
        logger.info("validator examples: %d shown of %d differences (validation.failuresToFetch: %d)",
                    len(examples), found, failures_to_fetch)
    if totals.copied or totals.rewritten or totals.deleted:
        logger.info("validator repair: target %r: %d missing copied, %d differing rewritten, %d extra deleted; "
                    "run the validator again to confirm", target, totals.copied, totals.rewritten, totals.deleted)
    logger.info("validator verdict: %s", verdict(totals, sample, filtered="filter" in context))
    document = {
        "verdict": "identical" if totals.identical else "different",
        "mode": "sample" if sample else "full",
        **context,
        "counts": {"sourceItemsChecked": totals.source_checked, "targetItemsChecked": totals.target_checked,
                   "missing": totals.missing, "differing": totals.differing, "extra": totals.extra,
                   "copied": totals.copied, "rewritten": totals.rewritten, "deleted": totals.deleted,
                   "expired": totals.expired},
        "examples": [{"kind": e.kind, "key": e.key, "differences": list(e.differences)} for e in examples],
        "examplesLeftOut": found - len(examples),
        "tasks": [{k: v for k, v in asdict(r).items() if k != "examples"} for r in results],
        "seconds": round(seconds, 3),
    }
    write_report(report_path, document)
    logger.info("validator report: %s", report_path)
    return 0 if totals.identical else 1


def verdict(totals: Totals, sample: bool, filtered: bool = False) -> str:
    """The verdict line; `filtered`: only source items matching source.filterExpression were expected."""
    source = "source items matching source.filterExpression" if filtered else "source items"
    if totals.identical:
        if sample:
            return (f"IDENTICAL in the sample - {totals.source_checked} sampled {source} are on the target with "
                    f"equal values, and {totals.target_checked} sampled target items exist on the source"
                    f"{_expired_text(totals)}")
        return (f"IDENTICAL - all {totals.source_checked} {source} are on the target with equal values, and "
                f"all {totals.target_checked} target items exist on the source{_expired_text(totals)}")
    what = "sampled" if sample else "checked"
    return (f"DIFFERENT - {totals.missing} missing, {totals.differing} differing, {totals.extra} extra "
            f"({totals.source_checked} source and {totals.target_checked} target items {what}"
            f"{_expired_text(totals)})")


def _expired_text(totals: Totals) -> str:
    """`; 12 expired (TTL) not checked`: source items whose TTL has passed, which the copy skips."""
    return f"; {totals.expired} expired (TTL) not checked" if totals.expired else ""


def example_line(example: Example) -> str:
    """`differing {"id":{"S":"a"}}: price: N 1 != N 2; tags: ...`, `missing {...}`, `extra {...}`."""
    line = f"{example.kind} {key_text(example.key)}"
    return f"{line}: " + "; ".join(example.differences) if example.differences else line


def write_report(path: Path, document: dict) -> None:
    """Write the report next to its final name, then rename it, so a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        raise MigratorError(f"cannot write the validation report {str(path)!r}: {exc.strerror or exc}") from exc
