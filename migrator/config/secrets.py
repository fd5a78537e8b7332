"""Secrets in a config as loaded: which keys hold one, and the one walk that finds them.

A key holds a secret when its name says so (`secretKey`, `access_key`, `api-token`, `credentials`...), known key or
not: a misspelt key must not print its value either. `replace_secrets` finds every non-null value under such a key;
the log redacts them (`redact`), a savepoint leaves them out (`without_secrets`) and names what it left out
(`secret_paths`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from migrator.config.model import MigratorConfig

REDACTED = "<redacted>"
NOT_STORED = "<not stored in savepoints>"  # a savepoint's stand-in for a secret; the loader refuses it
_SECRET_WORDS = ("password", "secret", "token", "credential", "accesskey", "apikey", "privatekey", "keyfile")
# keys whose name holds a secret word but not a secret: scylla-migrator's list of the CQL token ranges a run has done
_NOT_SECRET = frozenset({"skiptokenranges"})


def is_secret_key(key: object) -> bool:
    """True for keys such as `secretKey`, `access_key` or `api-token` whose values must never be printed."""
    squashed = re.sub(r"[._-]", "", str(key)).lower()
    return squashed not in _NOT_SECRET and any(word in squashed for word in _SECRET_WORDS)


def replace_secrets(obj: Any, replace: Callable[[str, Any], Any], path: str = "") -> Any:
    """A copy of nested dicts/lists in which each non-null value under a secret-looking key is `replace(path,
    value)`, `path` being its dotted path (`source.credentials`, `a[0].token`); the walk does not enter it."""
    if isinstance(obj, Mapping):
        copied = {}
        for key, value in obj.items():
            where = f"{path}.{key}" if path else str(key)
            secret = is_secret_key(key) and value is not None
            copied[key] = replace(where, value) if secret else replace_secrets(value, replace, where)
        return copied
    if isinstance(obj, (list, tuple)):
        return [replace_secrets(value, replace, f"{path}[{index}]") for index, value in enumerate(obj)]
    return obj


def without_secrets(obj: Any) -> Any:
    """A copy of nested dicts/lists with every value under a secret-looking key replaced by `NOT_STORED`."""
    return replace_secrets(obj, lambda path, value: NOT_STORED)


def secret_paths(obj: Any) -> list[str]:
    """The dotted paths of the values `without_secrets` leaves out, e.g. `source.credentials`."""
    paths: list[str] = []
    replace_secrets(obj, lambda path, value: paths.append(path))
    return paths


def redact(obj: Any) -> Any:
    """A copy of nested dicts/lists with every value under a secret-looking key replaced by `<redacted>`; a mapping
    under such a key keeps its structure (`credentials.assumeRole.arn` stays readable)."""
    return replace_secrets(obj, lambda path, value: _hide(value))


def _hide(value: Any) -> Any:
    if isinstance(value, Mapping):
        return redact(value)
    if isinstance(value, (list, tuple)):
        return [_hide(item) for item in value]
    return None if value is None else REDACTED


def redacted_yaml(cfg: MigratorConfig) -> str:
    """The config as loaded, as YAML, with every secret-looking value replaced by `<redacted>`."""
    return yaml.safe_dump(redact(cfg.raw or {}), sort_keys=False, default_flow_style=False)
