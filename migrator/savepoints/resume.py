"""Resuming from a savepoint together with the user's own config (`--resume SAVEPOINT_OR_DIRECTORY`).

The other way, scylla-migrator's, needs no code: a savepoint is a config, so `./submit.sh SAVEPOINT` runs it. Its
credentials are not stored, though, so that way works as it is only for configs without credentials; with
`--resume`, credentials (and everything else) come from the user's config and only the progress from the savepoint:
`skipSegments` and the segment count it was recorded with, and for a live migration the stream's positions
(`streamCheckpoint`); for an export import, the data files done (`skipFiles`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

from migrator.config import S3_EXPORT, TYPE_ALIASES, MigratorConfig, parse_config, parse_yaml
from migrator.config.parse import endpoint_url
from migrator.config.values import as_int, as_list, as_str, show
from migrator.errors import ConfigError
from migrator.savepoints.stores import find_savepoint
from migrator.readers.segments import MAX_SEGMENTS

logger = logging.getLogger("migrator")


def resume_config(config: MigratorConfig, origin: str, resume_from: str) -> MigratorConfig:
    """`config` (loaded from `origin`) with the progress of the savepoint `resume_from`: a file or a directory, or
    an s3:// object or prefix."""
    path, text = find_savepoint(resume_from)
    raw = parse_yaml(text, path)
    export = config.source.type == S3_EXPORT
    files = savepoint_files(raw, path) if export else None
    total, done = (None, None) if export else savepoint_progress(raw, path)
    _check_same_tables(config, raw, path)
    _check_same_databases(config, raw, path)
    merged = copy.deepcopy(config.raw)
    if export:
        merged["skipFiles"] = sorted(set(config.skip_files) | files)
        logger.info("resuming from savepoint %s: %d data files of the export done", path, len(files))
        return parse_config(merged, origin)
    scan_segments = config.source.scan_segments
    if scan_segments is not None and scan_segments != total:
        raise ConfigError(
            f"--resume: savepoint {str(path)!r} was recorded with {total} scan segments but source.scanSegments is "
            f"{scan_segments}; its segment numbers name other data with another count, so set source.scanSegments: "
            f"{total} (or remove it) to resume, or run without --resume to start over")
    merged["source"] = {**merged["source"], "scanSegments": total}
    merged["skipSegments"] = sorted(set(config.skip_segments) | done)
    stream = raw.get("streamCheckpoint")
    if stream is not None and getattr(config.target, "stream_changes", False):
        merged["streamCheckpoint"] = stream  # checked by streams/setup.py against the table's stream
    logger.info("resuming from savepoint %s: %d of %d segments done%s", path, len(done), total,
                ", and the stream's positions" if "streamCheckpoint" in merged else "")
    return parse_config(merged, origin)


def savepoint_progress(raw: Any, path: str) -> tuple[int, frozenset[int]]:
    """(segment count, done segments) of a savepoint as loaded; ConfigError when it is not a savepoint."""
    where = f"--resume: {str(path)!r}"
    source = raw.get("source") if isinstance(raw, Mapping) else None
    if not isinstance(source, Mapping) or source.get("scanSegments") is None:
        raise ConfigError(f"{where}: not a savepoint of this migrator, it has no source.scanSegments; give a "
                          "savepoint_*.yaml file written by this migrator")
    total = as_int(source["scanSegments"], f"{where}: source.scanSegments", low=1, high=MAX_SEGMENTS)
    done = set()
    for index, item in enumerate(as_list(raw.get("skipSegments") or [], f"{where}: skipSegments")):
        segment = as_int(item, f"{where}: skipSegments[{index}]", low=0, high=total - 1)
        done.add(segment)
    return total, frozenset(done)


def savepoint_files(raw: Any, path: str) -> frozenset[str]:
    """The data files done that the savepoint of an export import lists (`skipFiles`); ConfigError when it lists
    none and is no savepoint."""
    where = f"--resume: {str(path)!r}"
    if not isinstance(raw, Mapping) or "skipFiles" not in raw:
        raise ConfigError(f"{where}: not a savepoint of an export import, it has no skipFiles; give a "
                          "savepoint_*.yaml file written by this migrator for this export")
    return frozenset(as_str(item, f"{where}: skipFiles[{index}]")
                     for index, item in enumerate(as_list(raw["skipFiles"] or [], f"{where}: skipFiles")))


def _check_same_tables(config: MigratorConfig, raw: Mapping, path: str) -> None:
    """The savepoint must belong to the migration the config describes: the same tables, export or output."""
    recorded = (_label(raw, "source"), _label(raw, "target"))
    wanted = (config.source.label, config.target.label)
    if tuple(label for _, label in recorded) != wanted:
        (source_kind, source), (target_kind, target) = recorded
        raise ConfigError(
            f"--resume: savepoint {str(path)!r} records source {source_kind} {source!r} -> target {target_kind} "
            f"{target!r}, but the config copies {wanted[0]!r} -> {wanted[1]!r}; give a savepoint of this migration")


def _label(raw: Mapping, side: str) -> tuple[str, Any]:
    """(what, name) of a side in a savepoint, the name as the settings' `label` gives it: a table, an export's
    manifest, an export's output path."""
    section = raw.get(side)
    if not isinstance(section, Mapping):
        return "table", None
    if TYPE_ALIASES.get(section.get("type"), section.get("type")) != S3_EXPORT:
        return "table", section.get("table")
    if side == "source":
        return "export", f"s3://{section.get('bucket')}/{section.get('manifestKey')}"
    return "export", section.get("path")


def _check_same_databases(config: MigratorConfig, raw: Mapping, path: str) -> None:
    """Same table names on another server, of another type or in another region are another migration."""
    for side in ("source", "target"):
        settings = getattr(config, side)
        endpoint = getattr(settings, "endpoint", None)  # an export target has neither endpoint nor region
        wanted = {"type": settings.type, "region": getattr(settings, "region", None),
                  "endpoint": endpoint.url if endpoint else None}
        section = raw.get(side) if isinstance(raw.get(side), Mapping) else {}
        for key, value in wanted.items():
            recorded = _recorded(section, key, f"{side}.{key}")
            if recorded != value:
                raise ConfigError(
                    f"--resume: savepoint {str(path)!r} records {side}.{key} {_shown(recorded)} but the config has "
                    f"{_shown(value)}; give a savepoint of this migration, or run without --resume to start over")


def _recorded(section: Mapping, key: str, where: str) -> Any:
    """A savepoint's value of `key` in the form the config holds it (type alias resolved, endpoint as a URL)."""
    value = section.get(key)
    if key == "type" and isinstance(value, str):
        return TYPE_ALIASES.get(value, value)
    if key == "endpoint" and value is not None:
        try:
            return endpoint_url(value, where)
        except ConfigError:
            return show(value)  # unreadable: it cannot equal the config's URL, and the message shows it
    return value


def _shown(value: Any) -> str:
    return "none" if value is None else repr(value)
