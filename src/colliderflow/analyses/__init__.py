"""Analysis modules: the only code that knows an ntuple's branch names.

Each analysis is a module ``colliderflow.analyses.<name>`` that the generic drivers
(``colliderflow.skim``) call through the same small protocol, so a new final state or
another experiment's ntuple plugs in without touching the drivers:

- ``CUT_ORDER``: the cut names of the cutflow, in order (after the implicit ``all``).
- ``SCHEMA``: the ``pyarrow.Schema`` of the skim Parquet (one row per selected event).
- ``branches(cfg) -> list[str]``: the branches to read, nothing more.
- ``select(events, cfg, is_mc) -> (PackedSelection, cut_order, derived)``: the event
  selection on one chunk; ``derived`` holds the objects the selection built (e.g. the
  chosen photons) so that ``columns`` does not rebuild them.
- ``weights(events, cfg, is_mc) -> coffea Weights``: the event weight, checked against
  the sample kind (a data/MC mismatch raises ValueError).
- ``columns(events, mask, cfg, sample, weight, derived) -> pyarrow.Table``: the output
  rows (with ``SCHEMA``) for the events where ``mask`` is true.
"""

from __future__ import annotations

import importlib
from types import ModuleType

KNOWN = ("hyy",)


def get(name: str) -> ModuleType:
    """The analysis module called ``name`` (the config key ``analysis``)."""
    if name not in KNOWN:
        raise KeyError(
            f"unknown analysis {name!r}: set the config key 'analysis' to one of {', '.join(KNOWN)}"
        )
    return importlib.import_module(f"{__name__}.{name}")
