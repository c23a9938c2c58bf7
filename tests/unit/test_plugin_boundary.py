"""The generic stages never name what belongs to an analysis.

For every built-in analysis, its observable column, its skim columns (other than the
event identity, sample and weight every analysis writes), its process names and its
normalisation systematics may appear as string literals only inside the analysis packages
(``colliderflow/analyses/<name>/``; two analyses may well share a process name). Experiment formats (``ntuples/``) and the shared toy
detector (``simulation/``) may name ntuple branches, never an analysis's columns.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from colliderflow import analyses, config, registry

PACKAGE = Path(analyses.__file__).resolve().parents[1]
GENERIC_COLUMNS = {"eventNumber", "runNumber", "channelNumber", "sample", "weight"}


def string_literals(path: Path) -> set[str]:
    """Every string constant of a module (docstrings and comments excluded)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings}


def analysis_names(name: str) -> set[str]:
    analysis = analyses.get(name)
    cfg = config.validate({"analysis": name})
    names = {analysis.observable_column} | (set(analysis.schema.names) - GENERIC_COLUMNS)
    names |= {p for p in analysis.processes if p != "data"}
    names |= {name for kind in ("yield", "peak_position", "peak_width") for name in cfg["fit"]["systematics"][kind]}
    names -= {"lumi"}
    names |= set(cfg["fit"]["production_modes"])
    return names


@pytest.mark.parametrize("name", sorted(registry.BUILT_IN))
def test_generic_code_names_nothing_of_an_analysis(name):
    own = PACKAGE / "analyses"
    forbidden = analysis_names(name)
    leaks = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if own in path.parents:
            continue
        if path.is_relative_to(PACKAGE / "ntuples") or path.is_relative_to(PACKAGE / "simulation"):
            # formats and the toy detector write branches; the analysis's columns are not theirs
            found = string_literals(path) & (forbidden - set(_ntuple_branches()))
        else:
            found = string_literals(path) & forbidden
        if found:
            leaks[str(path.relative_to(PACKAGE))] = sorted(found)
    assert not leaks, f"names of analysis {name!r} outside colliderflow/analyses/{name}/: {leaks}"


def _ntuple_branches() -> set[str]:
    from colliderflow.ntuples import atlas2025, lhcb

    return set(atlas2025.branch_dtypes()) | set(lhcb.BRANCHES) | set(lhcb.MC_BRANCHES)


def test_the_check_finds_a_leak(tmp_path):
    """The literal scan sees a column named in code, not one named in a docstring."""
    module = tmp_path / "stage.py"
    module.write_text('"""Reads m_yy."""\ndef f(frame):\n    """m_yy"""\n    return frame["m_yy"]\n')
    assert string_literals(module) == {"m_yy"}
    module.write_text('"""Reads m_yy."""\ndef f(frame, column):\n    return frame[column]\n')
    assert string_literals(module) == set()
