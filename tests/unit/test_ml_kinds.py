"""The model-kind registry: built-ins load by name and satisfy the interface; the generic
stage names no kind and has no import cycle; a broken kind is refused with a clear error."""

from __future__ import annotations

import ast

import pytest

from colliderflow import registry
from colliderflow.config import ConfigError
from colliderflow.ml import kinds
from colliderflow.stage_code import PACKAGE_DIR, _imports, module_file

ML = PACKAGE_DIR / "ml"
GENERIC = ("train", "apply", "evaluate", "compare", "data", "settings", "plots", "kinds", "cli", "tune")


@pytest.mark.parametrize("kind", list(registry.BUILT_IN_MODELS))
def test_every_built_in_kind_loads_with_its_interface(kind):
    module = kinds.load(kind)
    assert all(callable(getattr(module, name)) for name in ("train", "importance"))
    # a torch kind is scored through its ONNX export (apply.load_predictor); the others load themselves
    assert callable(getattr(module, "load", None)) != (module.train.__module__ == "colliderflow.ml.network")
    assert registry.model_schema_file(kind) == ML / f"{kind}.schema.yaml"


def test_the_generic_stage_names_no_kind():
    """No ``type == "mlp"`` branch: a string literal naming a kind in a generic module is one."""
    names = set(registry.BUILT_IN_MODELS)
    for module in GENERIC:
        tree = ast.parse((ML / f"{module}.py").read_text())
        literals = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
        assert not literals & names, f"ml/{module}.py names the kind(s) {sorted(literals & names)}"


def test_no_import_cycle_in_the_ml_stage():
    roots = {"colliderflow": PACKAGE_DIR.parent}
    names = [f"colliderflow.ml.{path.stem}" for path in ML.glob("*.py") if path.stem != "__init__"]
    graph = {name: {other for other in _imports(module_file(name, roots), name, roots) if other in names}
             for name in names}

    def reaches(start, target, seen=()):
        return any(nxt == target or (nxt not in seen and reaches(nxt, target, (*seen, nxt))) for nxt in graph[start])

    cycles = [name for name in names if reaches(name, name)]
    assert not cycles, f"import cycle through {cycles}"


def test_a_broken_or_unknown_kind_is_refused(monkeypatch, tmp_path):
    (tmp_path / "halfkind.py").write_text("INPUTS = ('features',)\ndef train(): pass\n")
    (tmp_path / "oddinputs.py").write_text("INPUTS = ('mask',)\nPOSITIVE_WEIGHTS = False\n"
                                           "def train(): pass\ndef load(): pass\ndef importance(): pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    real = registry._registered
    monkeypatch.setattr(registry, "_registered", lambda group=registry.ENTRY_POINT_GROUP, built_in=registry.BUILT_IN: (
        {**real(group, built_in), "half": "halfkind", "odd": "oddinputs"} if group == registry.MODEL_ENTRY_POINT_GROUP
        else real(group, built_in)))
    kinds.load.cache_clear()
    try:
        with pytest.raises(TypeError, match=r"'half' \(halfkind\) lacks POSITIVE_WEIGHTS, importance"):
            kinds.load("half")
        with pytest.raises(TypeError, match=r"INPUTS is \('mask',\)"):
            kinds.load("odd")
        with pytest.raises(ConfigError, match="unknown model kind 'nope'.*colliderflow.models"):
            kinds.load("nope")
        with pytest.raises(KeyError, match="no schema piece"):
            registry.model_schema_file("half")
    finally:
        kinds.load.cache_clear()
