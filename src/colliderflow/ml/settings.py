"""A model's effective settings: its ``ml.models`` entry over the defaults of its type's section."""

from __future__ import annotations

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

