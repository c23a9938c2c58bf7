"""The fit stage end to end on a small synthetic dataset with a known truth (mu = 1, m_H = 125)."""

import json

import numpy as np
import pandas as pd
import pytest

from colliderflow import analyses, cli, config
from colliderflow.inference.inputs import prepare
from colliderflow.inference.models import background_template, mc_template_usable
from colliderflow.report import summarise, table

SPLIT_P = {"train": 0.5, "val": 0.25, "test": 0.25}
TRUE_YIELD = 350.0  # signal events in the whole dataset (mu = 1)
N_BKG = 16_000


def _frame(kind, sample, m, score, weight, rng):
    n = len(m)
    return pd.DataFrame({
        "eventNumber": rng.integers(0, 2**62, n).astype(np.uint64),
        "sample": sample, "process": sample, "kind": kind,
        "label": np.int8(kind == "signal"),
        "split": rng.choice(list(SPLIT_P), n, p=list(SPLIT_P.values())),
        "weight": np.full(n, float(weight)),
        "m_yy": np.asarray(m, dtype=float),
        "score": np.asarray(score, dtype=float),
    })


def _signal_mass(rng, n):
    """A Gaussian core at 125 GeV with a low-side tail (DSCB-like)."""
    m = rng.normal(125.0, 1.7, n)
    tail = rng.random(n) < 0.08
    m[tail] = 125.0 - np.abs(rng.normal(0.0, 5.0, tail.sum()))
    return m


def _background_mass(rng, n):
    m = 105.0 + rng.exponential(28.0, 3 * n)
    return m[m < 160.0][:n]


def synthetic(seed=2024):
    """Pseudo-data (exponential continuum + signal at 125 with mu = 1), weighted signal MC
    normalised to the injected yield, background MC; scores separate signal (Beta(4,1))
    from background (Beta(1,2)) so that the optimiser finds categories."""
    rng = np.random.default_rng(seed)
    mb = _background_mass(rng, rng.poisson(N_BKG))
    ms = _signal_mass(rng, rng.poisson(TRUE_YIELD))
    data = _frame("data", "data", np.r_[mb, ms], np.r_[rng.beta(1, 2, mb.size), rng.beta(4, 1, ms.size)], 1.0, rng)
    n_mc = 30_000
    signal = _frame("signal", "ggH", _signal_mass(rng, n_mc), rng.beta(4, 1, n_mc), TRUE_YIELD / n_mc, rng)
    n_bmc = 60_000
    bm = _background_mass(rng, n_bmc)
    background = _frame("background", "yy", bm, rng.beta(1, 2, bm.size), N_BKG / bm.size, rng)
    return {"data": data, "ggH": signal, "yy": background}


# Small settings so the whole chain runs in seconds.
SETTINGS = {
    "analysis": "hyy",
    "dataset": {"name": "synthetic", "simulated": True},
    "lumi_fb": 36.1,
    "optimise": {"n_categories": 2, "min_background": 10.0, "n_thresholds": 40},
    "fit": {
        "background_candidates": ["exponential", "bernstein:2"],
        "spurious_signal": {"mass_points": {"lo": 123.0, "hi": 127.0, "step": 2.0}},
        "mu_scan": {"lo": 0.0, "hi": 2.5, "step": 0.25},
        "mass_scan": {"lo": 123.0, "hi": 127.0, "step": 1.0},
        "p0_scan": {"lo": 115.0, "hi": 135.0, "step": 5.0},
        "limit": {"scan": {"lo": 0.0, "hi": 3.0, "step": 0.5}},
    },
}


CFG = config.validate(json.loads(json.dumps(SETTINGS)))
OBSERVABLE = analyses.get("hyy").observable(CFG)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Run optimise and every inference command for a classifier ('bdt') and the cut-based
    baseline (a model whose score is 1 for every event)."""
    root = tmp_path_factory.mktemp("inference")
    for name, frame in synthetic().items():
        for model, part in (("bdt", frame), ("cutbased", frame.assign(score=1.0))):
            (root / "scores" / model).mkdir(parents=True, exist_ok=True)
            part.to_parquet(root / "scores" / model / f"{name}.parquet")
    settings = json.dumps(SETTINGS)
    for model in ("bdt", "cutbased"):
        source = ["--scores", str(root / "scores" / model)]
        opt = root / "optimise" / model / "selection.json"
        fit = root / "fit" / model
        assert cli.main(["optimise", "--settings", settings, "--model", model, *source, "--out", str(opt)]) == 0
        common = ["--settings", settings, "--model", model, *source, "--selection", str(opt)]
        assert cli.main(["signal-model", *common, "--out", str(fit / "signal_model.json")]) == 0
        assert cli.main(["background-model", *common, "--signal-model", str(fit / "signal_model.json"),
                         "--out", str(fit / "background_model.json")]) == 0
        models = ["--signal-model", str(fit / "signal_model.json"), "--background-model", str(fit / "background_model.json")]
        plots = ["--plots", str(fit)] if model == "bdt" else []  # plots take most of the time: one model
        assert cli.main(["fit-categories", *common, *models, "--out", str(fit / "fit.json"),
                         "--significance", str(fit / "significance.json"), *plots]) == 0
        assert cli.main(["sweights", *common, "--fit", str(fit / "fit.json"), "--out", str(fit / "sweights.parquet")]) == 0
        assert cli.main(["workspace", *common, *models, "--fit", str(fit / "fit.json"),
                         "--out", str(fit / "workspace.json")]) == 0
        assert cli.main(["limit", "--settings", settings, "--workspace", str(fit / "workspace.json"),
                         "--out", str(fit / "limits.json")]) == 0
    assert cli.main(["summary", "--settings", settings, "--fits", str(root / "fit"), "--optimise",
                     str(root / "optimise"), "--out", str(root / "summary.json")]) == 0
    return root


def _read(path):
    return json.loads(path.read_text())


def test_fit_recovers_truth(pipeline):
    for model in ("bdt", "cutbased"):
        fit = _read(pipeline / "fit" / model / "fit.json")
        mu, mass = fit["mu"], fit["mass"]
        assert abs(mu["value"] - 1.0) < 3 * mu["error"], (model, mu)
        assert 0.05 < mu["error"] < 0.6
        assert abs(mass["value"] - 125.0) < 3 * mass["error"], (model, mass)
        assert mass["error"] < 1.0
        lo, hi = mu["interval68"]
        assert lo < mu["value"] < hi
        assert mu["interval95"][0] < lo and hi < mu["interval95"][1]


def test_categories_signal_model_and_yields(pipeline):
    sel = _read(pipeline / "optimise" / "bdt" / "selection.json")
    sig = _read(pipeline / "fit" / "bdt" / "signal_model.json")
    assert [c["name"] for c in sig["categories"]] == [c["name"] for c in sel["categories"]]
    assert len(sig["categories"]) == 2
    # expected yields are for the fitted data's luminosity share (val + test, about half)
    assert sig["data_fraction"] == pytest.approx(0.5, abs=0.03)
    for cat in sig["categories"]:
        assert cat["params"]["mass"] == pytest.approx(125.0, abs=0.3)
        assert cat["params"]["sigma"] == pytest.approx(1.7, rel=0.15)
    cb = _read(pipeline / "fit" / "cutbased" / "signal_model.json")
    assert len(cb["categories"]) == 1
    assert cb["total_yield"] == pytest.approx(TRUE_YIELD * cb["data_fraction"], rel=0.02)
    bkg = _read(pipeline / "fit" / "bdt" / "background_model.json")
    for cat in bkg["categories"]:
        assert cat["choice"] in ("exponential", "bernstein:2")
        assert set(cat["candidates"]) == {"exponential", "bernstein:2"}
        # 60k background MC events cannot test at 20% of the data's error: smooth sideband template
        assert cat["template"] == "sideband_fit" and "too small" in cat["template_reason"]


def test_significance_and_plots(pipeline):
    for model in ("bdt", "cutbased"):
        sig = _read(pipeline / "fit" / model / "significance.json")
        assert sig["Z_observed"] > 2 and sig["Z_expected"] > 2
        assert sig["p0"] == pytest.approx(0.5 * __import__("math").erfc(sig["Z_observed"] / 2**0.5), rel=1e-6)
        scan = sig["p0_scan"]
        assert len(scan["mass"]) == 5 and np.argmin(scan["p0"]) == 2  # the smallest p0 at 125 GeV
    for name in ("mu_scan.png", "mass_scan.png", "p0_scan.png", "mass_cat0.png", "mass_cat1.png"):
        assert (pipeline / "fit" / "bdt" / name).stat().st_size > 0
    # categories beat the inclusive selection in expected significance
    z_bdt = _read(pipeline / "fit" / "bdt" / "significance.json")["Z_expected"]
    z_cb = _read(pipeline / "fit" / "cutbased" / "significance.json")["Z_expected"]
    assert z_bdt > z_cb


def test_workspace_and_limits(pipeline):
    ws = _read(pipeline / "fit" / "bdt" / "workspace.json")
    assert [c["name"] for c in ws["channels"]] == ["cat0", "cat1"]
    assert "provenance" not in ws  # plain HistFactory JSON, readable by pyhf itself
    lim = _read(pipeline / "fit" / "bdt" / "limits.json")
    assert lim["upper_limit"]["observed"] > 1.0  # a signal with mu = 1 is there, so mu = 1 is not excluded
    z_unbinned = _read(pipeline / "fit" / "bdt" / "significance.json")["Z_observed"]
    assert lim["discovery"]["Z"] == pytest.approx(z_unbinned, rel=0.25)


def test_summary(pipeline, capsys):
    summary = _read(pipeline / "summary.json")
    assert set(summary["models"]) == {"bdt", "cutbased"}
    assert summary["baseline"] == "cutbased" and summary["best_model"] == "bdt"
    assert summary["best_beats_baseline"] is True
    assert summary["truth"] == {"mu": 1.0, "mass": 125.0}
    for row in summary["models"].values():
        assert row["signal_truth"] == pytest.approx(row["signal_expected"])  # mu_true = 1
        # mu s plus the spurious-signal nuisance's share, summed over the categories
        assert row["signal_fitted"] == pytest.approx(sum(c["signal_fitted"] for c in row["categories"]))
        assert row["signal_fitted"] == pytest.approx(row["mu"]["value"] * row["signal_expected"], rel=0.05)
        for key in ("mu", "mass", "Z_observed", "Z_expected", "binned", "pulls", "closure", "n_categories"):
            assert key in row
        assert {"value", "error", "errors68", "interval68", "interval95"} <= set(row["mu"])
        assert {"cls_mu1", "upper_limit_observed", "upper_limit_expected"} <= set(row["binned"])
        assert row["pulls"]["mu"] == pytest.approx((row["mu"]["value"] - 1.0) / row["mu"]["error"], rel=0.5)
    assert summary["closure_passed"] is True
    md = (pipeline / "summary.md").read_text()
    assert "Simulated dataset" in md and "| bdt (best) |" in md and "cutbased (baseline)" in md
    assert "| cutbased | cat0 |" in md and "(±3 sigma)" in md  # the peak table
    # summary can be rebuilt from the files, with the model list given
    again = summarise(CFG, "H → γγ", "m_H", {"mu": 1.0, "mass": 125.0}, pipeline / "fit", ["bdt"])
    assert list(again["models"]) == ["bdt"] and "best_beats_baseline" not in again
    assert "bdt" in table(again)


def test_peak_window_and_goodness_of_fit(pipeline):
    for model in ("bdt", "cutbased"):
        fit = _read(pipeline / "fit" / model / "fit.json")
        sig = {c["name"]: c for c in _read(pipeline / "fit" / model / "signal_model.json")["categories"]}
        for name, cat in fit["categories"].items():
            # widths fixed to the MC's; the window is the fitted peak +- 3 of them
            assert cat["sigma"]["value"] == pytest.approx(sig[name]["params"]["sigma"]) and cat["sigma"]["error"] == 0
            peak = fit["model"]["parameters"]["mass"]["value"] + sig[name]["params"]["mass"] - CFG["fit"]["mass_value"]
            assert cat["window"]["lo"] == pytest.approx(peak - 3 * cat["sigma"]["value"])
            assert cat["window"]["hi"] == pytest.approx(peak + 3 * cat["sigma"]["value"])
            # a DSCB with tails keeps most, not all, of its signal within 3 sigma
            assert 0.85 * cat["signal_fitted"] < cat["window"]["signal"] < cat["signal_fitted"]
            assert cat["window"]["s_over_b"] == pytest.approx(cat["window"]["signal"] / cat["window"]["background"])
            # the model describes the data it was fitted to: 55 bins of 1 GeV less the free parameters
            gof = cat["gof"]
            assert gof["bins"] == 55 and gof["ndf"] < 55 and gof["p_value"] > 1e-3, (model, name, gof)


def test_sweights_sum_to_the_yields_and_unfold_the_signal_score(pipeline):
    for model in ("bdt", "cutbased"):
        fit = _read(pipeline / "fit" / model / "fit.json")
        table = pd.read_parquet(pipeline / "fit" / model / "sweights.parquet")
        assert set(table["sample"]) == {"data"}
        for name, rows in table.groupby("category"):
            assert rows["sweight_signal"].sum() == pytest.approx(fit["categories"][name]["signal_fitted"], rel=1e-3)
            assert rows["sweight_background"].sum() == pytest.approx(fit["categories"][name]["background_fitted"],
                                                                     rel=1e-3)
            assert len(rows) == fit["categories"][name]["n_data"]
    # the score does not depend on the mass within signal or background: the sWeighted data's score
    # has the signal MC's mean in each category (Beta(4, 1) cut to the category)
    scores = {k: pd.read_parquet(pipeline / "scores" / "bdt" / f"{k}.parquet") for k in ("data", "ggH")}
    table = pd.read_parquet(pipeline / "fit" / "bdt" / "sweights.parquet").merge(
        scores["data"][["eventNumber", "score"]], on="eventNumber")
    for cat in _read(pipeline / "optimise" / "bdt" / "selection.json")["categories"]:
        rows = table[table["category"] == cat["name"]]
        mc = scores["ggH"]["score"]
        mc = mc[(mc > cat["lo"]) & (mc <= cat["hi"])]
        unfolded = np.sum(rows["sweight_signal"] * rows["score"]) / rows["sweight_signal"].sum()
        assert unfolded == pytest.approx(mc.mean(), abs=0.02), cat["name"]


def test_prepare_uses_only_fit_splits_and_scales_mc():
    frames = synthetic(seed=5)
    frame = pd.concat(frames.values(), ignore_index=True)
    selection = {"categories": [{"name": "inclusive", "lo": -1.0, "hi": 1.0}], "multiclass": None}
    part = prepare(CFG["fit"], OBSERVABLE, frame, selection)
    assert set(part["split"]) == {"val", "test"}
    share = part.attrs["data_fraction"]
    assert share == pytest.approx(0.5, abs=0.02)
    # MC scaled to the full sample and then to the data's share of the luminosity
    signal = part[part["kind"] == "signal"]["weight"].sum()
    in_range = (frames["ggH"]["m_yy"] >= 105) & (frames["ggH"]["m_yy"] < 160)
    assert signal == pytest.approx(frames["ggH"]["weight"][in_range].sum() * share, rel=0.02)
    assert (part[part["kind"] == "data"]["weight"] == 1.0).all()
    assert part.attrs["observable"] == "m_yy" and part["m_yy"].between(105, 160, inclusive="left").all()


def test_fit_json_model_drives_pseudo_experiments(pipeline, tmp_path):
    # fit.json carries the fitted model like `colliderflow fit` does, so validate-fit can use it
    out = tmp_path / "pulls.json"
    assert cli.main(["validate-fit", "--model", str(pipeline / "fit" / "bdt" / "fit.json"), "--toys", "3",
                     "--out", str(out)]) == 0
    pulls = _read(out)
    assert pulls["param"] == "mu" and pulls["n_valid"] >= 2


def test_background_template_choice():
    assert mc_template_usable(25_000, 1_000, 0.2) and not mc_template_usable(24_000, 1_000, 0.2)
    fs = CFG["fit"]
    rng = np.random.default_rng(3)
    data = _background_mass(rng, 2_000)
    big_mc = _background_mass(rng, 60_000)
    template, info = background_template(fs, OBSERVABLE, "c", (big_mc, np.full(big_mc.size, 0.03)), (data, None))
    assert info["template"] == "mc" and info["n_effective"] == pytest.approx(big_mc.size)
    # normalised to the data in the sidebands
    side = (data < 120) | (data > 130)
    t_side = (template.x < 120) | (template.x > 130)
    assert template.w[t_side].sum() == pytest.approx(side.sum(), rel=0.02)
    template, info = background_template(fs, OBSERVABLE, "c", (big_mc[:100], np.ones(100)), (data, None))
    assert info["template"] == "sideband_fit" and info["function"] == fs["sideband_template_function"]
    assert template.w.sum() == pytest.approx(data.size, rel=0.05)
