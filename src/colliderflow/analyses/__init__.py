"""The analyses: ``get(name)`` returns the analysis object (``interface.Analysis``) that the
config's ``analysis`` key names. Built-ins are packages under ``colliderflow.analyses``; a
package of your own registers its class under the entry-point group ``colliderflow.analyses``
(see ``colliderflow.registry``, which finds them by name) and needs no change here.
"""

from __future__ import annotations

import functools
import importlib

from ..registry import SCHEMA_FILE, available, schema_file, source
from .interface import Analysis, Observable, Process, Simulation

__all__ = ["Analysis", "Observable", "Process", "Simulation", "available", "get", "schema_file", "source"]


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
