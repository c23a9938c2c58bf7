"""Which analysis a name means, without importing it: the built-ins and the entry points of
group ``colliderflow.analyses``, and where each analysis's piece of the config schema is.

A bottom-layer lookup, so that reading a config (``config``) finds the schema piece by name
and runs no analysis code; ``colliderflow.analyses.get`` loads the analysis itself.
"""

from __future__ import annotations

import importlib.util
from importlib.metadata import entry_points
from pathlib import Path

ENTRY_POINT_GROUP = "colliderflow.analyses"
BUILT_IN = {
    "hyy": "colliderflow.analyses.hyy:HyyAnalysis",
    "hzz4l": "colliderflow.analyses.hzz4l:Hzz4lAnalysis",
    "bs2dspi": "colliderflow.analyses.bs2dspi:Bs2DspiAnalysis",
}

SCHEMA_FILE = "config.schema.yaml"


def _registered() -> dict[str, str]:
    """name -> 'module:Class' of every analysis: built-ins, then entry points (which may not
    shadow a built-in)."""
    found = dict(BUILT_IN)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in BUILT_IN and point.value != BUILT_IN[point.name]:
            raise ValueError(
                f"entry point {point.name!r} = {point.value!r} of group {ENTRY_POINT_GROUP} shadows the "
                f"built-in analysis of that name; rename your analysis")
        found[point.name] = point.value
    return found


def available() -> list[str]:
    return sorted(_registered())


def source(name: str) -> str:
    """'module:Class' of the analysis called ``name`` (KeyError naming the known ones)."""
    registered = _registered()
    if name not in registered:
        raise KeyError(
            f"unknown analysis {name!r}: set the config key 'analysis' to one of {', '.join(sorted(registered))}, "
            f"or install a package that registers it under the entry-point group {ENTRY_POINT_GROUP}")
    return registered[name]


def schema_file(name: str) -> Path | None:
    """The analysis's piece of the config schema: ``config.schema.yaml`` in the folder of the
    module that defines it, found without importing the analysis (so reading a config runs no
    analysis code). None if the analysis brings no piece."""
    module_name = source(name).partition(":")[0]
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        raise KeyError(f"analysis {name!r}: its module {module_name} is not importable; install the package "
                       "that registers it")
    path = Path(spec.origin).parent / SCHEMA_FILE
    return path if path.is_file() else None
