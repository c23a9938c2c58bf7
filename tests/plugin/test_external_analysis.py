"""A physicist adds an analysis without touching colliderflow.

The toy dimuon analysis (``toy_dimuon/toydimuon``: its own ntuple format, selection, columns,
processes, schema piece and simulation) is "installed" in a temporary folder the way pip
would leave it, without pip: the package plus a ``toydimuon-0.1.dist-info`` whose
``entry_points.txt`` registers it under ``colliderflow.analyses``; ``importlib.metadata``
finds it on ``PYTHONPATH``. Then the unchanged workflow runs it from simulation to the
summary, by config only, and no colliderflow file may have changed.
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
PACKAGE = Path(__file__).resolve().parent / "toy_dimuon" / "toydimuon"
TRUE_MASS = 91.0  # simulate.mass of the package's schema piece

CONFIG = {
    "analysis": "dimuon",
    "dataset": {"name": "toy-dimuon", "simulated": True},
    "lumi_fb": 10.0,
    "samples": {
        "data": {"kind": "data", "process": "data", "files": [{"name": "toy_data", "lumi_fb": 10.0}]},
        "Z": {"kind": "signal", "process": "Z", "files": [{"name": "toy_mc_Z"}]},
        "dy": {"kind": "background", "process": "dy", "files": [{"name": "toy_mc_dy"}]},
    },
    "ml": {"enabled": ["cutbased", "bdt"], "threads": 1,
           "bdt": {"n_estimators": 30, "max_depth": 3, "early_stopping_rounds": 5}},
    "optimise": {"n_categories": 2, "n_thresholds": 20},
    # coarse scans: this test is about the plumbing, not the curves
    "fit": {"mu_scan": {"lo": 0.5, "hi": 1.5, "step": 0.25}, "p0_scan": {"lo": 80.0, "hi": 100.0, "step": 5.0},
            "mass_scan": {"lo": 90.0, "hi": 92.0, "step": 0.5},
            "spurious_signal": {"mass_points": {"lo": 87.0, "hi": 95.0, "step": 4.0}}},
}


@pytest.fixture
def site(tmp_path):
    return install(tmp_path / "site", PACKAGE, "colliderflow.analyses", "dimuon = toydimuon:DimuonAnalysis")


def test_registry_finds_the_installed_analysis(site, tmp_path):
    """Entry point, schema piece and defaults, from outside the package."""
    (tmp_path / "dimuon.yaml").write_text(yaml.safe_dump(CONFIG))
    code = ("import json; from colliderflow import analyses, config; a = analyses.get('dimuon'); "
            f"cfg = config.load({str(tmp_path / 'dimuon.yaml')!r}); "
            "print(json.dumps([analyses.available(), a.ntuple.tree, a.observable(cfg).column, "
            "cfg['selection'], cfg['fit']['signal_shape']]))")
    result = subprocess.run([sys.executable, "-c", code], env=environment(site), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    available, tree, column, selection, shape = json.loads(result.stdout.splitlines()[-1])
    assert "dimuon" in available and "hyy" in available
    assert (tree, column, shape) == ("events", "m_mumu", "gauss")
    assert selection == {"muon_pt_min": 10.0, "muon_eta_max": 2.4, "leading_pt_min": 25.0}


@pytest.mark.workflow
def test_workflow_runs_an_analysis_from_another_package(site, tmp_path):
    before = colliderflow_status()
    work = tmp_path / "work"
    work.mkdir()
    (work / "dimuon.yaml").write_text(yaml.safe_dump(CONFIG))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(work),
           "--configfile", "dimuon.yaml", "--cores", "2"]
    result = subprocess.run(cmd, cwd=work, env=environment(site), capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        logs = "\n".join(f"--- {p.relative_to(work)}\n{p.read_text()[-2000:]}"
                         for p in sorted((work / "logs").rglob("*.log")) if "rror" in p.read_text())
        pytest.fail(f"workflow failed:\n{result.stderr[-6000:]}\n{logs}")

    results = work / "results" / "dimuon"
    cutflow = json.loads((results / "cutflow.json").read_text())
    assert [c["name"] for c in cutflow["samples"]["data"]["cuts"]] == [
        "all", "two_muons", "opposite_charge", "leading_pt", "mass_window"]
    summary = json.loads((results / "summary.json").read_text())
    assert summary["analysis"] == "dimuon" and summary["simulated"] is True
    assert set(summary["models"]) == {"cutbased", "bdt"}
    for name, row in summary["models"].items():
        mu, mass = row["mu"], row["mass"]
        # the truth within 3 sigma, and sigmas of a real measurement (~0.04 and ~0.1 GeV here)
        assert 0 < mu["error"] < 0.2 and abs(mu["value"] - 1.0) < 3 * mu["error"], f"{name}: mu = {mu}"
        assert 0 < mass["error"] < 0.5 and abs(mass["value"] - TRUE_MASS) < 3 * mass["error"], f"{name}: peak = {mass}"
    # the plug-in's own files are in the code digests like colliderflow's: nothing is left to rerun
    plan = subprocess.run([*cmd, "-n"], cwd=work, env=environment(site), capture_output=True, text=True, timeout=120)
    reasons = sorted({line.strip() for line in plan.stdout.splitlines() if "reason:" in line})
    assert plan.returncode == 0 and "Nothing to be done" in plan.stdout + plan.stderr, reasons or plan.stderr[-3000:]
    # nothing the run did shows in colliderflow's tree (a line that went away is a commit made meanwhile)
    changed = set(colliderflow_status().splitlines()) - set(before.splitlines())
    assert not changed, f"the run changed files of colliderflow: {sorted(changed)}"
