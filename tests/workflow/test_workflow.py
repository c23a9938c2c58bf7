"""End-to-end runs of the Snakemake workflow on config/test.yaml, in a temporary directory.

One full run of each analysis's test config is shared by the tests of the session (the
``finished_run`` fixture of conftest.py; it is the slow part); each test then asks Snakemake
what it would do next, and asserts on the plan.
"""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest
import yaml
from workflow_runs import snakemake

from colliderflow.inference.fit import UNDETERMINED

pytestmark = pytest.mark.workflow


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run; {} when nothing is planned."""
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1]
    jobs = {}
    for line in table.splitlines()[3:]:
        match = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not match:
            break
        jobs[match.group(1)] = int(match.group(2))
    jobs.pop("total", None)
    return jobs


# Each analysis's tiny config, with a selection threshold whose change must rerun the skim.
ANALYSES = {
    "hyy": ("config/test.yaml", "photon_pt_min", 27.0),
    "hzz4l": ("config/test-hzz4l.yaml", "electron_pt_min", 8.0),
    "bs2dspi": ("config/test-bs2dspi.yaml", "kaon_pidk_min", 6.0),
}


@pytest.fixture(scope="module", params=sorted(ANALYSES))
def run(request, finished_run):
    """(analysis, work directory, config file) after one full run of that analysis's test config."""
    analysis = request.param
    configfile = ANALYSES[analysis][0]
    return analysis, finished_run(configfile), configfile


def test_full_run_writes_every_stage(run):
    analysis, workdir, _ = run
    results = workdir / "results" / analysis
    cutflow = json.loads((results / "cutflow.json").read_text())
    assert cutflow["simulated"] is True
    for sample, flow in cutflow["samples"].items():
        raws = [cut["raw"] for cut in flow["cuts"]]
        assert raws == sorted(raws, reverse=True), f"cutflow of {sample} not monotonic"
    assert (results / "plots" / "spectrum.png").stat().st_size > 10_000
    summary = json.loads((results / "summary.json").read_text())
    assert summary["baseline"] == "cutbased" and "cutbased" in summary["models"]
    assert summary["closure_passed"] is True, "the fit closes on the simulated truth (mu, peak position)"
    for name, row in summary["models"].items():
        for cat in row["categories"] if row["fitted"] else []:
            assert cat["gof"]["ndf"] > 0 and cat["window"]["signal"] > 0, (name, cat)
        if row["fitted"]:  # the goodness of fit of all categories together
            assert row["gof"]["ndf"] > 0 and 0 <= row["gof"]["p_value"] <= 1, (name, row["gof"])
        if row.get("sweights"):  # fit.sweights: the signal sWeights sum to the fitted signal
            assert row["sweights"]["sum_signal"] == pytest.approx(row["signal_fitted"], rel=1e-3), name
    if analysis == "bs2dspi":  # fit.sweights and a floating width by default; the truth knows the width
        assert all(row.get("sweights") for row in summary["models"].values())
        assert "N_S truth" in (results / "summary.md").read_text() and summary["truth"]["width"] == 20.0
    # the report's tables as HTML pages too
    for page in ("cutflow.html", "models/comparison.html", "summary.html"):
        assert "<table>" in (results / page).read_text(), page
    if analysis == "hyy":  # report.hepdata in config/test.yaml: the record validates
        from hepdata_validator.full_submission_validator import FullSubmissionValidator

        validator = FullSubmissionValidator()
        assert validator.validate(archive=str(results / "hepdata.tar.gz")), validator.get_messages()
        assert {f"{m}_workspace.json" for m in summary["models"]} <= {p.name for p in (results / "hepdata").iterdir()}
    if analysis == "hyy":  # config/test.yaml tunes the bdt (rule tune); rule train takes its best values
        best = json.loads((results / "models" / "bdt" / "tuning" / "best.json").read_text())
        assert best["trials"] == {"complete": 2, "pruned": 0, "fail": 0}, best["trials"]
        assert best["value"] <= best["configured"]["value"]
        for fold in ("fold0", "fold1"):  # config/test.yaml cross-trains: both folds with the best values
            info = json.loads((results / "models" / "bdt" / fold / "model" / "model_info.json").read_text())
            assert {key: info["settings"][key] for key in best["parameters"]} == best["parameters"]
    if analysis == "hyy":  # the systematics are nuisance parameters; a signal strength per production mode
        fit = json.loads((results / "inference" / "bdt" / "fit.json").read_text())
        for value in (fit["mu"], fit["mass"]):
            assert value["stat"] ** 2 + value["syst"] ** 2 == pytest.approx(value["error"] ** 2)
        assert {"lumi", "photon_energy_scale", "photon_energy_resolution", "theory_ttH"} <= set(
            fit["nuisance_parameters"])
        modes = fit["per_mode"]["modes"]
        assert set(modes) == {"ggH", "VBF", "VH", "ttH"} and all(m["error"] > 0 for m in modes.values())
        assert fit["per_mode"]["correlation"]["names"] == [m["poi"] for m in modes.values()]
        measurements = json.loads((results / "inference" / "bdt" / "workspace.json").read_text())["measurements"]
        assert measurements[1]["config"]["poi"] == next(iter(modes.values()))["poi"]
    # every rule wrote its log and benchmark
    assert any((workdir / "logs" / "skim").rglob("*.log"))
    assert any((workdir / "benchmarks" / "skim").rglob("*.tsv"))


def test_fit_intervals_contour_and_impacts(run):
    analysis, workdir, configfile = run
    inference = workdir / "results" / analysis / "inference"
    studied = yaml.safe_load((workdir / configfile).read_text()).get("fit", {}).get("contour_and_impacts", "all")
    models = sorted(p for p in inference.iterdir() if p.is_dir())
    assert models
    if studied != "all":  # fit.contour_and_impacts: the other models get neither job
        assert sorted(p.name for p in models if (p / "contour.json").exists()) == sorted(studied)
        assert not [p for p in models if (p / "impacts.json").exists() and p.name not in studied]
        models = [p for p in models if p.name in studied]
    for model in models:
        fit, contour, impacts = (json.loads((model / f"{name}.json").read_text())
                                 for name in ("fit", "contour", "impacts"))
        for plot in ("contour.png", "impacts.png"):
            assert (model / plot).stat().st_size > 5_000, (model, plot)
        if not fit["fitted"]:
            assert contour["fitted"] is False and impacts["fitted"] is False
            continue
        for key in ("mu", "mass"):
            minos, scan = fit[key], fit["scans"][key]
            assert minos["interval_method"] == "minos"
            lo, hi = minos["interval68"]
            assert lo < minos["value"] < hi and minos["interval95"][0] < lo and hi < minos["interval95"][1]
            # the scan interpolates its crossings between grid points: close to MINOS, not equal
            for edge, scan_edge in zip(minos["interval68"], scan["interval68"]):
                if scan_edge is not None:
                    assert edge == pytest.approx(scan_edge, abs=0.2 * minos["error"]), (model, key)
        compatibility = fit["category_compatibility"]
        assert compatibility["ndf"] == len(fit["categories"]) - 1
        assert compatibility["p_value"] is None if compatibility["ndf"] == 0 else 0 < compatibility["p_value"] <= 1
        for cat in fit["categories"].values():
            assert cat["mu"]["interval68"][0] < cat["mu"]["value"] < cat["mu"]["interval68"][1], (model, cat["mu"])
        assert (model / "plots" / "mu_categories.png").is_file()
        # the 2D 68% region projects onto a wider mu range than the 1D 68% interval (2.30 > 1)
        assert [c["level"] for c in contour["contours"]] == pytest.approx([2.30, 5.99], abs=0.01)
        inner = np.array(contour["contours"][0]["points"])
        assert inner[:, 0].min() < fit["mu"]["interval68"][0] and inner[:, 0].max() > fit["mu"]["interval68"][1]
        constrained = {n for n, p in fit["model"]["parameters"].items() if p.get("constraint") and not p.get("fixed")}
        assert {r["param"] for r in impacts["parameters"]} == constrained
        for row in impacts["parameters"]:
            assert 0 < row["constraint"] <= 1.05 and all(np.isfinite(row["impact_prefit"] + row["impact_postfit"]))


def test_rerun_plans_nothing(run):
    _, workdir, configfile = run
    result = snakemake(workdir, "-n", configfile=configfile)
    assert result.returncode == 0, result.stderr[-3000:]
    assert planned_jobs(result) == {}, result.stdout[-3000:]


def test_changing_a_selection_threshold_reruns_skim_and_downstream_only(run):
    analysis, workdir, configfile = run
    _, key, value = ANALYSES[analysis]
    cfg = yaml.safe_load((workdir / configfile).read_text())
    cfg.setdefault("selection", {})[key] = value
    (workdir / "config" / "changed.yaml").write_text(yaml.safe_dump(cfg))
    result = snakemake(workdir, "-n", configfile="config/changed.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = planned_jobs(result)
    n_files = sum(len(s["files"]) for s in cfg["samples"].values())
    assert jobs.get("skim") == n_files, jobs
    assert jobs.get("features") == len(cfg["samples"]), jobs
    assert "simulate" not in jobs, f"upstream of the skim must not rerun: {jobs}"
    assert {"train", "summary", "plot_spectrum", "cutflow_table"} <= set(jobs), jobs


def test_changing_one_model_retrains_only_that_model(run):
    from colliderflow import config

    analysis, workdir, configfile = run
    cfg = yaml.safe_load((workdir / configfile).read_text())
    enabled = cfg["ml"]["enabled"]
    # the test config takes the model definitions from the schema's defaults: spell them out
    models = config.load_schema(analysis)["properties"]["ml"]["properties"]["models"]["default"]
    models.update(cfg["ml"].get("models", {}))
    cfg["ml"]["models"] = models
    target = next(name for name in enabled if models[name]["type"] in ("mlp", "deepsets"))
    models[target]["lr"] = 0.00123
    (workdir / "config" / "model.yaml").write_text(yaml.safe_dump(cfg))
    result = snakemake(workdir, "-n", configfile="config/model.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = planned_jobs(result)
    assert jobs.get("train") == config.validate(cfg)["features"]["folds"], jobs  # one per fold
    assert "skim" not in jobs and "features" not in jobs, jobs
    assert jobs.get("apply") == len(cfg["samples"]), jobs


def test_the_snakemake_report_shows_the_tables_inline(finished_run, tmp_path):
    """`snakemake --report` embeds the summary, cutflow and comparison tables as HTML pages
    (shown in a frame; a Markdown result would only be a download link)."""
    import base64

    workdir = finished_run("config/test.yaml")
    result = snakemake(workdir, "--report", str(tmp_path / "report.html"))
    assert result.returncode == 0, result.stderr[-3000:]
    report = (tmp_path / "report.html").read_text()
    pages = {match.group(1): base64.b64decode(match.group(2)).decode()
             for match in re.finditer(r"data:text/html;charset=utf8;filename=([\w.]+);base64,([A-Za-z0-9+/=]+)", report)}
    assert {"summary.html", "cutflow.html", "comparison.html"} <= set(pages), sorted(pages)
    summary = json.loads((workdir / "results" / "hyy" / "summary.json").read_text())
    mu = summary["models"]["cutbased"]["mu"]["value"]
    assert f"<td>cutbased (baseline)</td>\n<td>1</td>\n<td>{mu:.2f} " in pages["summary.html"]
    assert "<td>trigger</td>" in pages["cutflow.html"] and "<td>bdt</td>" in pages["comparison.html"]


def test_multiclass_model_down_to_the_fit(finished_run):
    """config/test.yaml's mlp_multiclass: per-class metrics, score_<class> columns, per-class
    categories, and a fit in exactly those categories."""
    import numpy as np
    import pandas as pd

    results = finished_run(ANALYSES["hyy"][0]) / "results" / "hyy"
    names = ["background", "VBF", "VH", "ggH", "ttH"]  # background, then sorted by name
    training = results / "models" / "mlp_multiclass" / "fold0"  # config/test.yaml cross-trains (features.folds)
    metrics = json.loads((training / "metrics.json").read_text())
    assert metrics["classes"]["names"] == names
    counts = np.array(metrics["classes"]["confusion"]["counts"])
    assert counts.shape == (5, 5) and counts.sum() > 0 and np.trace(counts) > 0
    assert set(metrics["classes"]["roc_auc"]) == set(names) and metrics["classes"]["roc_auc"]["VBF"] > 0.6
    assert (training / "confusion.png").stat().st_size > 10_000
    assert json.loads((training / "history.json").read_text())["loss"] == "bce (categorical)"  # softmax CE
    scores = pd.read_parquet(results / "scores" / "mlp_multiclass" / "VBF.parquet")
    probabilities = scores[[f"score_{c}" for c in names]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(scores["score"], 1.0 - scores["score_background"], atol=1e-6)
    selection = json.loads((results / "optimise" / "mlp_multiclass" / "selection.json").read_text())
    assert selection["multiclass"]["classes"] == names[1:]
    categories = selection["categories"]
    assert categories and all(c["name"].startswith(f"{c['class']}_cat") for c in categories)
    assert len({c["class"] for c in categories}) >= 2  # a class may get none (each needs optimise.min_background)
    fit = json.loads((results / "inference" / "mlp_multiclass" / "fit.json").read_text())
    assert fit["fitted"] and set(fit["categories"]) == {c["name"] for c in categories}
    assert np.isfinite(fit["mu"]["value"]) and fit["mu"]["error"] > 0
    # mu per production mode: MINOS where the categories can separate the modes, not where they cannot
    for model in ("mlp_multiclass", "bdt"):
        result = json.loads((results / "inference" / model / "fit.json").read_text())
        per_mode = result["per_mode"]
        assert len(per_mode["modes"]) == 4
        assert per_mode["underdetermined"] == (len(result["categories"]) < 4), model
        for mode in per_mode["modes"].values():
            skipped = mode["interval68_edges"] == [UNDETERMINED] * 2
            assert skipped == per_mode["underdetermined"] and (mode["interval68"] is None or not skipped), (model, mode)
    comparison = (results / "models" / "comparison.md").read_text()
    assert "## Confusion matrix of mlp_multiclass" in comparison and "auc_VBF" in comparison


def test_filter_speedup_and_integrated_gradients_of_the_shared_run(finished_run):
    """Every model's metrics.json has its speedup as a filter (ml.metrics.filter) and speedup.png;
    the torch models' importance has Integrated Gradients beside the permutation importance.
    (config/test.yaml cross-trains: fold 0's training, on its own fold.)"""
    results = finished_run(ANALYSES["hyy"][0]) / "results" / "hyy"

    def metrics(name):
        return json.loads((results / "models" / name / "fold0" / "metrics.json").read_text())

    for name in ("cutbased", "bdt", "deepsets", "mlp_multiclass"):
        speedup = metrics(name)["filter"]
        assert speedup["speedup_max"] == pytest.approx(max(speedup["curve"]["speedup"]))
        assert speedup["speedup_max"] >= 1.0 - 1e-9  # threshold 0 passes everything: speedup 1
        assert (results / "models" / name / "fold0" / "speedup.png").stat().st_size > 10_000
    assert metrics("cutbased")["filter"]["speedup_max"] == pytest.approx(1.0)  # passes every event: saves nothing
    importance = metrics("mlp_multiclass")["importance"]
    attribution = importance["integrated_gradients"]
    assert set(attribution["values"]) == set(importance["values"])
    assert attribution["completeness_max_deviation"] < 1e-3
    deepsets = metrics("deepsets")["importance"]["integrated_gradients"]
    assert any(name.startswith("objects:") for name in deepsets["values"])


def test_cross_training_scores_every_event_out_of_fold_and_fits_them_all(finished_run):
    """config/test.yaml cross-trains in two folds (features.folds): one training per (model,
    fold), each event scored by the model of its fold, optimisation and fit on every event."""
    import pandas as pd

    from colliderflow import analyses, config, features
    from colliderflow.ml.apply import load_predictor
    from colliderflow.ml.data import load_events

    workdir = finished_run(ANALYSES["hyy"][0])
    results = workdir / "results" / "hyy"
    cfg = config.load(str(workdir / ANALYSES["hyy"][0]))
    assert cfg["features"]["folds"] == 2
    for model in cfg["ml"]["enabled"]:
        selection = json.loads((results / "optimise" / model / "selection.json").read_text())
        fit = json.loads((results / "inference" / model / "fit.json").read_text())
        assert selection["splits"] == fit["splits"] == ["train", "val", "test"], model
        assert fit["data_fraction"] == 1.0, model
        assert sorted(p.name for p in (results / "models" / model).glob("fold*")) == ["fold0", "fold1"], model
    predictors = [load_predictor(results / "models" / "bdt" / f"fold{k}" / "model") for k in range(2)]
    observable = analyses.get("hyy").observable(cfg)
    for sample in ("data", "VBF"):
        events = load_events(results / "features", {"ml": predictors[0].info["ml"]}, observable, samples=[sample])
        scores = pd.read_parquet(results / "scores" / "bdt" / f"{sample}.parquet")
        assert (scores["eventNumber"].to_numpy() == events.frame["eventNumber"].to_numpy()).all()
        fold, _ = features.assign_fold(events.frame["eventNumber"].to_numpy(), cfg["features"])
        by_fold = np.stack([p.score(events.inputs()) for p in predictors])
        np.testing.assert_allclose(scores["score"], by_fold[fold, np.arange(len(fold))], atol=1e-6)
        assert set(fold) == {0, 1} and not np.allclose(by_fold[0], by_fold[1])
