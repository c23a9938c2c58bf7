"""A model's effective settings: its ``ml.models`` entry over the sections its kind reads."""

from __future__ import annotations

from .. import config, registry
from ..config import ConfigError


def sections(kind: str, ml: dict) -> list[str]:
    """The ml sections a model of ``kind`` reads, in order of precedence (shared ones first,
    then its own ``ml.<kind>`` where the kind has settings); from its schema piece."""
    piece = config.load_schema_file(registry.model_schema_file(kind))
    return [*piece.get("uses", []), *([kind] if kind in ml else [])]


def model_settings(cfg: dict, name: str) -> dict:
    """The sections of the model's kind (e.g. ``ml.network`` then ``ml.mlp``) updated with
    ``ml.models.<name>``. The schema refuses a key the kind does not read."""
    ml = cfg["ml"]
    if name not in ml["models"]:
        raise ConfigError(f"model '{name}' is not defined in ml.models (defined: {', '.join(ml['models'])})")
    entry = ml["models"][name]
    defaults = {key: value for section in sections(entry["type"], ml) for key, value in ml[section].items()}
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
