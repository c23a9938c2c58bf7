"""Which analysis or model kind a name means, without importing it: the built-ins and the
entry points of groups ``colliderflow.analyses`` and ``colliderflow.models``, and where each
one's piece of the config schema is.

A bottom-layer lookup, so that reading a config (``config``) finds the schema pieces by name
and runs no analysis or model code; ``colliderflow.analyses.get`` loads the analysis itself,
``colliderflow.ml.kinds.load`` a model kind.
"""

from __future__ import annotations

import functools
import importlib.util
from importlib.metadata import entry_points
from pathlib import Path

ENTRY_POINT_GROUP = "colliderflow.analyses"
BUILT_IN = {
    "hyy": "colliderflow.analyses.hyy:HyyAnalysis",
    "hzz4l": "colliderflow.analyses.hzz4l:Hzz4lAnalysis",
    "bs2dspi": "colliderflow.analyses.bs2dspi:Bs2DspiAnalysis",
}

MODEL_ENTRY_POINT_GROUP = "colliderflow.models"
# a model kind is a module (``colliderflow.ml.kinds`` says what it defines)
BUILT_IN_MODELS = {
    "cutbased": "colliderflow.ml.cutbased",
    "bdt": "colliderflow.ml.bdt",
    "mlp": "colliderflow.ml.mlp",
    "deepsets": "colliderflow.ml.deepsets",
    "transformer": "colliderflow.ml.transformer",
    "graph": "colliderflow.ml.graph",
    "cnn": "colliderflow.ml.cnn",
}

SCHEMA_FILE = "config.schema.yaml"
MODEL_SCHEMA_SUFFIX = ".schema.yaml"


def _registered(group: str = ENTRY_POINT_GROUP, built_in: dict[str, str] = BUILT_IN) -> dict[str, str]:
    """name -> where its code is, for every analysis (or model kind): built-ins, then entry
    points (which may not shadow a built-in)."""
    found = dict(built_in)
    for point in _entry_points(group):
        if point.name in built_in and point.value != built_in[point.name]:
            raise ValueError(
                f"entry point {point.name!r} = {point.value!r} of group {group} shadows the "
                f"built-in of that name; rename yours")
        found[point.name] = point.value
    return found


@functools.lru_cache(maxsize=None)
def _entry_points(group: str) -> tuple:
    """The group's entry points, read once per process: each read scans the metadata of every
    installed distribution (a hundredth of a second), and planning a workflow looks names up
    hundreds of times."""
    return tuple(entry_points(group=group))


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


def model_kinds() -> list[str]:
    return sorted(_registered(MODEL_ENTRY_POINT_GROUP, BUILT_IN_MODELS))


def model_source(kind: str) -> str:
    """The module of the model kind called ``kind`` (KeyError naming the known ones)."""
    registered = _registered(MODEL_ENTRY_POINT_GROUP, BUILT_IN_MODELS)
    if kind not in registered:
        raise KeyError(
            f"unknown model kind {kind!r}: set the type of the ml.models entry to one of "
            f"{', '.join(sorted(registered))}, or install a package that registers it under the entry-point "
            f"group {MODEL_ENTRY_POINT_GROUP}")
    return registered[kind]


def model_schema_file(kind: str) -> Path:
    """The model kind's piece of the config schema, found without importing the kind: beside
    its module ``x.py``, the file ``x.schema.yaml``; for a package, ``config.schema.yaml``
    in it. Every kind has one (its settings, ``description``, and ``uses``: the shared ml
    sections it reads)."""
    module_name = model_source(kind)
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        raise KeyError(f"model kind {kind!r}: its module {module_name} is not importable; install the package "
                       "that registers it")
    origin = Path(spec.origin)
    path = origin.parent / SCHEMA_FILE if origin.name == "__init__.py" else origin.with_suffix(MODEL_SCHEMA_SUFFIX)
    if not path.is_file():
        raise KeyError(f"model kind {kind!r} ({module_name}) has no schema piece {path}; it declares the kind's "
                       "settings with their defaults")
    return path
