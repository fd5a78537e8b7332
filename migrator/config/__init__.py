"""The migrator's configuration: scylla-migrator's YAML, checked once on the driver into frozen settings.

    keys.py     every YAML key declared once: where it is accepted, its rule, its attribute, what it does not do
    model.py    the settings: one class per source and target type (DynamoSource, S3ExportSource, ...)
    values.py   the rules for single values, the unknown-key check with did-you-mean
    expressions.py  source.filterExpression's placeholders and DynamoDB JSON values, checked
    parse.py    sections -> settings, following the declarations
    load.py     the file and its YAML
    secrets.py  the one walk that finds secrets: redaction, savepoints without secrets

Unknown keys are errors; a key scylla-migrator accepts that has no effect here is a warning line in
`MigratorConfig.warnings`, for the caller to log.
"""

from __future__ import annotations

from migrator.config.keys import ALTERNATOR_KEYS, accepted_key_paths
from migrator.config.load import load_config, parse_config, parse_yaml, read_yaml
from migrator.config.model import (
    ALTERNATOR, DYNAMODB, S3_EXPORT, TYPE_ALIASES, TYPES, AlternatorSettings, AssumeRole, Credentials, DynamoSource,
    DynamoTable, DynamoTarget, Endpoint, MigratorConfig, Progress, Rename, S3ExportSource, S3ExportTarget, Savepoints,
    SourceSettings, TargetSettings, Validation,
)
from migrator.config.secrets import redact, redacted_yaml

__all__ = [
    "ALTERNATOR", "ALTERNATOR_KEYS", "DYNAMODB", "S3_EXPORT", "TYPES", "TYPE_ALIASES", "AlternatorSettings",
    "AssumeRole", "Credentials", "DynamoSource", "DynamoTable", "DynamoTarget", "Endpoint", "MigratorConfig",
    "Progress", "Rename", "S3ExportSource", "S3ExportTarget", "Savepoints", "SourceSettings", "TargetSettings",
    "Validation", "accepted_key_paths", "load_config", "parse_config", "parse_yaml", "read_yaml", "redact",
    "redacted_yaml",
]
