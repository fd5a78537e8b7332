"""The example config documents every key the parser accepts, and it runs as it is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from migrator.config import accepted_key_paths, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config.dynamodb.yaml.example"

_KEY_LINE = re.compile(r"(?P<indent> *)(?P<dash>- )?(?P<key>[A-Za-z][A-Za-z0-9]*):(?:\s|$)")
_TRAILING_COMMENT = re.compile(r"\s#\s*(?P<text>.*)$")


def documented_keys(text: str) -> dict[str, str]:
    """Dotted path -> trailing comment of every `key:` line, commented out (`# key:`) or not.

    A commented-out key is written with `# ` in front of it at its own indentation, so deleting the first `# `
    gives the line its YAML nesting. Prose comment lines do not start with `word:` and are skipped.
    """
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []  # (indentation, key) of the enclosing keys
    for line in text.splitlines():
        match = _KEY_LINE.match(re.sub(r"^( *)# ?", r"\1", line, count=1))
        if not match:
            continue
        indent = len(match["indent"]) + (2 if match["dash"] else 0)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"]))
        path = ".".join(key for _, key in stack)
        comment = _TRAILING_COMMENT.search(line[match.end():])
        if path not in found or not found[path]:
            found[path] = comment["text"] if comment else ""
    return found


DOCUMENTED = documented_keys(EXAMPLE.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", sorted(accepted_key_paths()))
def test_every_accepted_key_is_documented_in_the_example(path):
    """Each key the parser accepts appears at its place in the example, with a comment giving default or need."""
    assert path in DOCUMENTED, f"{path} is accepted but missing from {EXAMPLE.name}"
    assert re.search(r"\b(default|required)\b", DOCUMENTED[path]), f"{path}: comment must say its default"


def test_every_documented_key_is_accepted():
    """The example documents no key the parser would reject (no stale or misspelt docs)."""
    assert set(DOCUMENTED) - accepted_key_paths() == set()


def test_example_runs_as_it_is():
    """The example's uncommented part is a working DynamoDB -> Alternator config that this version can run."""
    cfg = load_config(EXAMPLE)
    assert (cfg.source.type, cfg.source.table, cfg.source.region) == ("dynamodb", "my-table", "us-east-1")
    assert (cfg.target.type, cfg.target.endpoint.url) == ("alternator", "http://scylla-node1:8000")
    assert list(cfg.warnings) == []


def test_key_scanner_sees_nesting_of_commented_keys():
    """The scanner puts commented-out keys at their nesting and misses keys that are not written."""
    text = ("source:\n  type: x   # required\n  # endpoint:\n  #   host: h   # default: none\n"
            "# renames:\n#   - from: a\n")
    found = documented_keys(text)
    assert found == {"source": "", "source.type": "required", "source.endpoint": "",
                     "source.endpoint.host": "default: none", "renames": "", "renames.from": ""}
    assert "source.endpoint.port" not in found
