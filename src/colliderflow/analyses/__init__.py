"""The analysis registry: built-in analyses plus those of other packages (entry points).

``get(name)`` returns the analysis object (``interface.Analysis``) that the config's
``analysis`` key names. Built-ins are packages under ``colliderflow.analyses``; a package of
your own registers its class under the entry-point group ``colliderflow.analyses`` and
needs no change here.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from importlib.metadata import entry_points
from pathlib import Path

from .interface import Analysis, Observable, Process, Simulation

ENTRY_POINT_GROUP = "colliderflow.analyses"
BUILT_IN = {
    "hyy": "colliderflow.analyses.hyy:HyyAnalysis",
    "hzz4l": "colliderflow.analyses.hzz4l:Hzz4lAnalysis",
}

__all__ = ["Analysis", "Observable", "Process", "Simulation", "available", "get", "schema_file", "source"]
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


@functools.lru_cache(maxsize=None)
def get(name: str) -> Analysis:
    """The analysis object called ``name`` (the config key ``analysis``)."""
    module_name, _, class_name = source(name).partition(":")
    analysis_class = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(analysis_class, type) and issubclass(analysis_class, Analysis)):
        raise TypeError(f"{source(name)} is not a subclass of colliderflow.analyses.Analysis")
    analysis = analysis_class()
    if analysis.name != name:
        raise ValueError(f"{source(name)} calls itself {analysis.name!r} but is registered as {name!r}")
    _check_schema(analysis)
    if schema_file(name) is None:
        raise ValueError(f"analysis {name!r} ({source(name)}) has no {SCHEMA_FILE} beside its module; it declares "
                         "the analysis's selection section and its defaults of observable, fit, ml and simulate")
    return analysis


# columns every stage after the skim reads (name -> Arrow type name), and those features adds
REQUIRED_COLUMNS = {"eventNumber": "uint64", "sample": "string", "weight": "double"}
ADDED_BY_FEATURES = ("process", "kind", "label", "split")


def _check_schema(analysis: Analysis) -> None:
    """The skim schema has what the generic stages read, and nothing the features stage adds."""
    schema = analysis.schema
    wrong = [f"{column} ({kind})" for column, kind in REQUIRED_COLUMNS.items()
             if column not in schema.names or str(schema.field(column).type) != kind]
    if analysis.observable_column not in schema.names:
        wrong.append(f"{analysis.observable_column} (the observable)")
    clash = [column for column in ADDED_BY_FEATURES if column in schema.names]
    if wrong or clash:
        raise TypeError(f"analysis {analysis.name!r}: its skim schema "
                        + (f"lacks {', '.join(wrong)}" if wrong else "")
                        + ("; " if wrong and clash else "")
                        + (f"has {', '.join(clash)}, which the features stage adds" if clash else ""))
