"""What this version cannot run yet: a config may name it (scylla-migrator runs it), the run stops with the fix.

The keys whose behaviour is not built are marked in `migrator.config.keys` (`Key.unbuilt`); every source and target
type is built. Shrink the marks as features land.
"""

from __future__ import annotations

from dataclasses import fields

from migrator.config.keys import unbuilt_keys
from migrator.config.model import MigratorConfig
from migrator.config.values import join
from migrator.errors import ConfigError

def refuse_unbuilt(cfg: MigratorConfig) -> None:
    """Raise `ConfigError` for the first key `cfg` uses whose behaviour is not built yet; a key counts as used when
    its attribute differs from the default."""
    for key in unbuilt_keys():
        for side in dict.fromkeys(where.partition(".")[0] for where in key.places):
            settings = getattr(cfg, side) if side else cfg
            defaults = {item.name: item.default for item in fields(settings)}
            if key.attribute in defaults and getattr(settings, key.attribute) != defaults[key.attribute]:
                raise ConfigError(f"{join(side, key.name)}: not supported yet; {key.unbuilt}")
