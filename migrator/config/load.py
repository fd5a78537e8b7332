"""Reading the YAML config: the file, YAML syntax (duplicate keys refused), then the parser.

Every problem is one `ConfigError` line naming the file (and the line, for YAML syntax), never a secret value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from migrator.config.model import MigratorConfig
from migrator.config.parse import build_config
from migrator.config.secrets import REDACTED, is_secret_key
from migrator.errors import ConfigError


def load_config(path: str | Path) -> MigratorConfig:
    """Read and check the YAML file at `path`; raise `ConfigError` with a one-line message on the first problem."""
    return parse_config(read_yaml(path), str(path))


def read_yaml(path: str | Path) -> Any:
    """The YAML file at `path` as loaded (duplicate keys refused); ConfigError naming the file on any problem."""
    origin = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{origin}: not found; give the path of your YAML config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{origin}: is a directory; give the path of the YAML config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"{origin}: cannot read: {reason}") from None
    return parse_yaml(text, origin)


def parse_yaml(text: str, origin: str) -> Any:
    """YAML text as loaded (duplicate keys refused); ConfigError naming `origin` and the line on any problem."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        problem, _, fix = str(exc.problem).partition("; ")
        if not fix:
            fix = ("indent with spaces, not tabs" if "'\\t'" in problem
                   else "fix the YAML syntax at that line (indentation, quotes, brackets, a space after ':')")
        where = ""
        if exc.problem_mark:
            lines = text.splitlines()
            number = exc.problem_mark.line
            shown = _line_shown(lines[number]) if number < len(lines) else "end of file"
            where = f"line {number + 1} ({shown}): "
        raise ConfigError(f"{origin}: {where}invalid YAML: {problem}; {fix}".replace("\n", " ")) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: invalid YAML: {exc}; fix the YAML syntax".replace("\n", " ")) from None


def _line_shown(line: str) -> str:
    """A line of YAML for an error message; `<redacted>` where it may hold a secret (a flow mapping may nest one)."""
    return REDACTED if is_secret_key(line) else repr(line[:80])


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key written twice in one mapping instead of keeping the last one."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                continue  # SafeLoader reports unhashable keys itself
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}; keep only one", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_config(raw: Any, origin: str) -> MigratorConfig:
    """Check the YAML `raw` as loaded from `origin` (a path, for messages) and build the config."""
    if not isinstance(raw, Mapping):
        kind = "empty" if raw is None else f"a {type(raw).__name__}"
        raise ConfigError(f"{origin}: top level must be a mapping, got {kind}; start the file with source: and target:")
    return build_config(raw)
