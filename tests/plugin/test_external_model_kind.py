"""A physicist adds a model kind without touching colliderflow.

The toy Fisher discriminant (``toy_kind/toyfisher``: the kind's module and its schema piece,
numpy only) is "installed" in a temporary folder the way pip would leave it: the package plus
a ``toyfisher-0.1.dist-info`` whose ``entry_points.txt`` registers it under
``colliderflow.models``. A config then trains it like any built-in kind, through the
unchanged workflow, and no colliderflow file may have changed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from plugins import colliderflow_status, environment, install

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "workflow" / "Snakefile"
PACKAGE = Path(__file__).resolve().parent / "toy_kind" / "toyfisher"


def config() -> dict:
    """The hyy test config, smaller, with the plug-in kind next to the baseline."""
    cfg = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    cfg["simulate"] = {**cfg["simulate"], "data_events": 60000, "signal_mc_events": 4000,
                       "background_mc_events": 10000}
    cfg["ml"] = {"enabled": ["cutbased", "lda"], "threads": 1,
                 "models": {"cutbased": {"type": "cutbased"}, "lda": {"type": "fisher", "ridge": 0.01}}}
    cfg["features"] = {"folds": 1}  # one training per model (the shared test run cross-trains)
    cfg["fit"] = {**cfg["fit"], "contour_and_impacts": []}  # the test config's are the bdt's
    return cfg


@pytest.fixture
def site(tmp_path):
    return install(tmp_path / "site", PACKAGE, "colliderflow.models", "fisher = toyfisher")


def test_registry_and_schema_find_the_installed_kind(site, tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config()))
    code = ("import json; from colliderflow import config, registry; from colliderflow.ml import kinds, settings; "
            f"cfg = config.load({str(tmp_path / 'c.yaml')!r}); "
            "print(json.dumps([registry.model_kinds(), cfg['ml']['fisher'], settings.model_settings(cfg, 'lda'), "
            "kinds.load('fisher').INPUTS]))")
    result = subprocess.run([sys.executable, "-c", code], env=environment(site), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    available, section, effective, inputs = json.loads(result.stdout.splitlines()[-1])
    assert {"fisher", "bdt", "mlp"} <= set(available)
    assert section == {"ridge": 0.001, "sharpness": 1.0}  # the defaults of its schema piece
    assert effective == {"ridge": 0.01, "sharpness": 1.0, "type": "fisher", "multiclass": False, "name": "lda",
                         "seed": 1, "class_balance": "equal"}  # ml.seed and ml.class_balance
    assert inputs == ["features"]
    # a key the kind does not declare is refused, naming the entry
    bad = config()
    bad["ml"]["models"]["lda"]["epochs"] = 3
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    result = subprocess.run(["colliderflow", "check-config", "--configfile",
                             str(tmp_path / "bad.yaml")], env=environment(site), capture_output=True, text=True)
    assert result.returncode != 0 and "ml.models.lda" in result.stderr and "'epochs' was unexpected" in result.stderr


@pytest.mark.workflow
def test_workflow_trains_a_model_kind_from_another_package(site, tmp_path):
    before = colliderflow_status()
    work = tmp_path / "work"
    work.mkdir()
    (work / "c.yaml").write_text(yaml.safe_dump(config()))
    targets = ["results/hyy/models/comparison.md", "results/hyy/scores/lda/data.parquet"]
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(work),
           "--configfile", "c.yaml", "--cores", "2"]
    result = subprocess.run([*cmd, *targets], cwd=work, env=environment(site), capture_output=True, text=True,
                            timeout=900)
    if result.returncode != 0:
        logs = "\n".join(f"--- {p.relative_to(work)}\n{p.read_text()[-2000:]}"
                         for p in sorted((work / "logs").rglob("*.log")) if "rror" in p.read_text())
        pytest.fail(f"workflow failed:\n{result.stderr[-6000:]}\n{logs}")
    models = work / "results" / "hyy" / "models"
    # the declared directory output: the kind's file and the model's description (and Snakemake's timestamp)
    assert sorted(p.name for p in (models / "lda" / "model").iterdir()) == [
        ".snakemake_timestamp", "fisher.json", "model_info.json"]
    metrics = json.loads((models / "lda" / "metrics.json").read_text())
    assert metrics["type"] == "fisher" and metrics["roc_auc"] > 0.6
    assert metrics["z_max"] > metrics["z_inclusive"]  # it separates signal from background
    table = json.loads((models / "comparison.json").read_text())
    assert [row["model"] for row in table["models"]] == ["cutbased (baseline)", "lda"]
    # the plug-in kind's files are code inputs of train: nothing is left to rerun ...
    plan = subprocess.run([*cmd, "-n", *targets], cwd=work, env=environment(site), capture_output=True, text=True,
                          timeout=120)
    assert plan.returncode == 0 and "Nothing to be done" in plan.stdout + plan.stderr, plan.stdout[-3000:]
    # ... until its code changes: then exactly its training (and what reads it) reruns
    module = site / "toyfisher" / "__init__.py"
    module.write_text(module.read_text() + "\n# changed\n")
    plan = subprocess.run([*cmd, "-n", *targets], cwd=work, env=environment(site), capture_output=True, text=True,
                          timeout=120)
    assert plan.returncode == 0 and "train" in plan.stdout and "features" not in plan.stdout.split("Job stats")[-1], \
        plan.stdout[-3000:]
    changed = set(colliderflow_status().splitlines()) - set(before.splitlines())
    assert not changed, f"the run changed files of colliderflow: {sorted(changed)}"
