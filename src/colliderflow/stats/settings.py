"""The ``fit`` config section: ``fit_settings(cfg)`` and the scan grids.

The section's schema and defaults live in the one config schema
(``workflow/schemas/config.schema.yaml``, ``properties.fit``); ``fit_settings`` reads them from
there, so the statistics commands also run without a config file (``colliderflow fit`` /
``limit`` on a physicist's own inputs).
"""

from __future__ import annotations

import numpy as np

from .. import config
from ..config import ConfigError


def fit_settings(cfg: dict | None = None) -> dict:
    """``cfg["fit"]`` validated against the one config schema with defaults filled (a copy)."""
    section = config.section(cfg, "fit")
    lo, hi = section["range"]
    if not hi > lo:
        raise ConfigError(f"fit.range [{lo}, {hi}] is empty")
    return section


def grid(spec: dict):
    """The values lo, lo + step, ..., hi (hi included when it falls on the grid)."""
    n = int(round((spec["hi"] - spec["lo"]) / spec["step"]))
    return spec["lo"] + spec["step"] * np.arange(n + 1)
