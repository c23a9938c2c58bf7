"""A model's effective settings: its ``ml.models`` entry over the defaults of its type's section."""

from __future__ import annotations

from ..config import ConfigError
from .kinds import kind_of


def model_settings(cfg: dict, name: str) -> dict:
    """``ml.bdt`` (type bdt) or ``ml.network`` (mlp, deepsets) updated with ``ml.models.<name>``.

    Raises ConfigError for an unknown model or a key of another type's section (a BDT with a
    ``loss`` would silently ignore it; a cutbased model takes no key but ``type``).
    """
    ml = cfg["ml"]
    if name not in ml["models"]:
        raise ConfigError(f"model '{name}' is not defined in ml.models (defined: {', '.join(ml['models'])})")
    entry = dict(ml["models"][name])
    kind = entry["type"]
    section = kind_of(kind).section
    defaults = ml[section] if section else {}
    foreign = sorted(set(entry) - {"type"} - set(defaults))
    if foreign:
        where = f"keys of ml.{section}" if section else f"settings of type {kind}, which has none"
        raise ConfigError(
            f"ml.models.{name} (type {kind}) sets {', '.join(foreign)}, which are not {where}; "
            f"remove them or change the type"
        )
    return {**defaults, **entry, "name": name}


def baseline(ml: dict) -> str:
    """The name of ``ml.baseline``, the model every other is compared with, after checking it."""
    name = ml["baseline"]
    if name not in ml["enabled"]:
        raise ConfigError(
            f"ml.baseline is '{name}', which is not in ml.enabled ({', '.join(ml['enabled']) or 'empty'}); "
            f"add it to ml.enabled or set ml.baseline to one of them"
        )
    if name not in ml["models"]:
        raise ConfigError(f"ml.baseline '{name}' is not defined in ml.models (defined: {', '.join(ml['models'])})")
    return name
