"""Rules for single YAML values, and the check of a mapping's keys. Each returns the clean value or raises a one-line
`ConfigError` that names the YAML path, the bad value and the fix. Secret values are shown as `<redacted>`, never
echoed."""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from migrator.config.secrets import REDACTED, is_secret_key, redact
from migrator.errors import ConfigError


def show(value: Any, path: str = "") -> str:
    """`value` as a short one-line YAML-ish text for an error message; `<redacted>` under a secret key."""
    if path and is_secret_key(path.rsplit(".", 1)[-1]):
        return REDACTED
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (str, int, float)):
        text = repr(value)
    else:
        try:
            text = yaml.safe_dump(redact(value), default_flow_style=True, width=10_000)
        except yaml.YAMLError:
            text = repr(value)
        text = " ".join(text.split())
    return text if len(text) <= 80 else text[:77] + "..."


def join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def fail(path: str, message: str) -> ConfigError:
    """The error to raise: `path: message`, on one line."""
    return ConfigError(f"{path}: {message}".replace("\n", " "))


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The closest of `choices` to `word`, ignoring case, or None."""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def check_keys(section: Mapping, path: str, valid: Sequence[str], hints: Mapping[str, str] | None = None) -> None:
    """Reject the first key (in YAML order) not in `valid`: a specific hint, else did-you-mean, else the valid keys."""
    for key in section:
        if key in valid:
            continue
        name = str(key)
        if hints and name in hints:
            raise fail(join(path, name), hints[name])
        guess = suggest(name, valid)
        fix = f"did you mean {guess!r}?" if guess else f"valid keys here: {', '.join(sorted(valid))}"
        raise fail(join(path, name), f"unknown key; {fix}")


def require(section: Mapping, key: str, path: str, fix: str) -> None:
    """A missing key and a key with an empty (null) value are both `required`."""
    if section.get(key) is None:
        raise fail(join(path, key), f"required; {fix}")


def as_mapping(value: Any, path: str, fix: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise fail(path, f"must be a mapping, got {show(value, path)}; {fix}")
    return value


def as_list(value: Any, path: str) -> list:
    if not isinstance(value, list):
        raise fail(path, f"must be a list, got {show(value, path)}; write [a, b] or one '- item' per line")
    return value


def as_str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise fail(path, f"must be a string, got {show(value, path)}; put it in quotes")
    if not value.strip():
        raise fail(path, f"must be a non-empty string, got {show(value, path)}; write a value, or remove the key "
                   "for its default")
    return value


def as_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        hint = "; write true or false without quotes" if str(value).lower() in ("true", "false") else ""
        raise fail(path, f"must be true or false, got {show(value, path)}{hint}")
    return value


def as_int(value: Any, path: str, low: int | None = None, high: int | None = None) -> int:
    """An integer within [low, high]; a whole float such as 8.0 counts, a bool or a string does not."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        quoted = isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value)
        hint = "; write it without quotes" if quoted else ""
        raise fail(path, f"must be an integer, got {show(value, path)}{hint}")
    if low is not None and value < low:
        wanted = {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer >= {low}")
        raise fail(path, f"must be {wanted}, got {value}")
    if high is not None and value > high:
        raise fail(path, f"must be at most {high}, got {value}")
    return value


def as_float(value: Any, path: str, low: float, high: float | None = None) -> float:
    """A finite number within [low, high]; ints count, bools and strings do not."""
    wanted = f"from {low} to {high}" if high is not None else f">= {low}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise fail(path, f"must be a number {wanted}, got {show(value, path)}")
    if value < low or (high is not None and value > high):
        raise fail(path, f"must be a number {wanted}, got {show(value)}")
    return float(value)


def as_choice(value: Any, path: str, choices: Sequence[str]) -> str:
    if isinstance(value, str) and value in choices:
        return value
    message = f"must be one of {', '.join(choices)}, got {show(value, path)}"
    guess = suggest(value, choices) if isinstance(value, str) else None
    raise fail(path, f"{message}; did you mean {guess!r}?" if guess else message)


_HOSTNAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?")


def as_host(value: Any, path: str) -> str:
    """A hostname, an IP address or an http(s):// URL of one; a bare IPv6 address may go without brackets."""
    host = as_str(value, path).strip()
    scheme, sep, rest = host.partition("://")
    if sep and scheme.lower() not in ("http", "https"):
        raise fail(path, f"protocol must be http or https, got {host!r}; write http://HOST or https://HOST")
    rest = rest.removesuffix("/") if sep else host
    if "@" in rest:  # the value may hold a password: do not echo it
        raise fail(path, "must not contain a user name or password; write only the host and use credentials")
    if any(char in rest for char in "/?#"):
        raise fail(path, f"must not contain a path, query or fragment, got {host!r}; write only the host")
    bare = rest[1:-1] if rest.startswith("[") and rest.endswith("]") else rest
    try:
        is_ipv6 = ipaddress.ip_address(bare).version == 6
    except ValueError:
        is_ipv6 = False
    if not is_ipv6 and (":" in rest or not _HOSTNAME.fullmatch(rest)):
        fix = "put the port in endpoint.port" if ":" in rest else "write a hostname, an IP or http(s)://HOST"
        raise fail(path, f"not a valid host, got {host!r}; {fix}")
    if sep:
        return f"{scheme.lower()}://[{bare}]" if is_ipv6 else f"{scheme.lower()}://{rest}"
    return rest
