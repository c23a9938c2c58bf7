"""A model's effective settings: its ``ml.models`` entry over the defaults of its type's section."""

from __future__ import annotations

from pathlib import Path

import yaml

from .. import config
from ..config import ConfigError

TORCH_TYPES = ("mlp", "deepsets")


def model_settings(cfg: dict, name: str) -> dict:
    """``ml.bdt`` (type bdt) or ``ml.network`` (mlp, deepsets) updated with ``ml.models.<name>``.

    Raises ConfigError for an unknown model or a key of the other type's section (a BDT
    with a ``loss`` would silently ignore it).
    """
    ml = cfg["ml"]
    if name not in ml["models"]:
        raise ConfigError(f"model '{name}' is not defined in ml.models (defined: {', '.join(ml['models'])})")
    entry = dict(ml["models"][name])
    kind = entry["type"]
    section = "bdt" if kind == "bdt" else "network"
    foreign = sorted(set(entry) - {"type"} - set(ml[section]))
    if foreign:
        raise ConfigError(
            f"ml.models.{name} (type {kind}) sets {', '.join(foreign)}, which are not keys of ml.{section}; "
            f"remove them or change the type"
        )
    return {**ml[section], **entry, "name": name}


def section_schema() -> dict:
    """The ``ml`` section of the config schema.

    The main schema's, once it defines keys; until the lead merges the section it holds a
    placeholder, and the section comes from ``ml/config_section.yaml`` (delete after the merge).
    """
    schema = config.load_schema()
    section = schema["properties"].get("ml", {})
    if "properties" not in section:
        section = yaml.safe_load(Path(__file__).with_name("config_section.yaml").read_text())
    return section


def with_ml_defaults(cfg: dict, source: str = "config") -> dict:
    """Validate ``cfg['ml']`` against the section schema and fill its defaults, in place.

    A no-op for a config already validated against a schema with the full section.
    """
    schema = {"type": "object", "properties": {"ml": section_schema()}}
    cfg.setdefault("ml", {})
    errors = sorted(config._Validator(schema).iter_errors({"ml": cfg["ml"]}), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10]]
        raise ConfigError(f"invalid configuration in {source}:\n" + "\n".join(lines)
                          + "\nSee config/README.md for every key, its type and its default.")
    return cfg
