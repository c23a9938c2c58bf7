"""The fit stage end to end on a small synthetic dataset with a known truth (mu = 1, m_H = 125)."""

import json

import numpy as np
import pandas as pd
import pytest

from colliderflow import analyses, cli, config
from colliderflow.inference.inputs import fit_splits, prepare
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
        # this sample's cut-based m_H lies 2.1 (MINOS) sigma above the truth; the interval read
        # off the 1 GeV scan grid had been wider and made it 1.99
        "closure_max_pull": 2.5,
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
        # the analysis's systematics are nuisance parameters; the errors split into stat and syst
        assert {"lumi", "photon_id", "photon_energy_scale", "photon_energy_resolution", "theory_ggH"} <= set(
            fit["nuisance_parameters"])
        for value in (mu, mass):
            assert 0 < value["syst"] < value["error"] and 0 < value["stat"] < value["error"]
            assert value["stat"] ** 2 + value["syst"] ** 2 == pytest.approx(value["error"] ** 2)
        # the synthetic signal MC is all ggH: one signal strength, the inclusive one
        assert mass["syst"] == pytest.approx(0.002 * 125.0, rel=0.1)  # the energy scale dominates it
        per_mode = fit["per_mode"]["modes"]
        assert list(per_mode) == ["ggH"] and per_mode["ggH"]["value"] == pytest.approx(mu["value"], abs=0.02)
        # one mode: its strength is the inclusive mu, its MINOS interval mu's
        assert per_mode["ggH"]["interval68_edges"] == ["found", "found"]
        assert per_mode["ggH"]["interval68"] == pytest.approx(mu["interval68"], abs=0.02)
        assert abs(mu["value"] - 1.0) < 3 * mu["error"], (model, mu)
        assert 0.05 < mu["error"] < 0.6
        assert abs(mass["value"] - 125.0) < 3 * mass["error"], (model, mass)
        assert mass["error"] < 1.0
        lo, hi = mu["interval68"]
        assert lo < mu["value"] < hi and mu["interval_method"] == "minos"
        assert mu["interval68_edges"] == mu["interval95_edges"] == ["found", "found"]
        assert mu["errors68"] == pytest.approx([lo - mu["value"], hi - mu["value"]])
        assert mu["interval95"][0] < lo and hi < mu["interval95"][1]
        # mu per category, consistent with the common mu (the same signal everywhere)
        assert fit["category_compatibility"]["ndf"] == len(fit["categories"]) - 1
        for cat in fit["categories"].values():
            assert abs(cat["mu"]["value"] - mu["value"]) < 3 * cat["mu"]["error"]


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
    for name in ("mu_scan.png", "mass_scan.png", "mu_categories.png", "p0_scan.png", "mass_cat0.png", "mass_cat1.png"):
        assert (pipeline / "fit" / "bdt" / name).stat().st_size > 0
    # categories beat the inclusive selection in expected significance
    z_bdt = _read(pipeline / "fit" / "bdt" / "significance.json")["Z_expected"]
    z_cb = _read(pipeline / "fit" / "cutbased" / "significance.json")["Z_expected"]
    assert z_bdt > z_cb


def test_workspace_and_limits(pipeline):
    ws = _read(pipeline / "fit" / "bdt" / "workspace.json")
    assert [c["name"] for c in ws["channels"]] == ["cat0", "cat1"]
    assert "provenance" not in ws  # plain HistFactory JSON, readable by pyhf itself
    # the systematics of the unbinned fit; one signal sample and strength per mode (ggH only here)
    assert [m["name"] for m in ws["measurements"]] == ["measurement", "measurement_per_mode"]
    assert ws["measurements"][1]["config"]["poi"] == "mu_ggH"
    signal = next(s for s in ws["channels"][0]["samples"] if s["name"] == "signal_ggH")
    types = {m["name"]: m["type"] for m in signal["modifiers"]}
    assert types == {"mu": "normfactor", "mu_ggH": "normfactor", "lumi": "normsys", "photon_id": "normsys",
                     "photon_isolation": "normsys", "theory_ggH": "normsys", "photon_energy_scale": "histosys",
                     "photon_energy_resolution": "histosys"}
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
        assert {"value", "error", "errors68", "interval68", "interval95", "stat", "syst"} <= set(row["mu"])
        assert list(row["per_mode"]["modes"]) == ["ggH"] and row["per_mode"]["correlation"]["matrix"] == [[1.0]]
        assert {"cls_mu1", "upper_limit_observed", "upper_limit_expected"} <= set(row["binned"])
        assert row["pulls"]["mu"] == pytest.approx((row["mu"]["value"] - 1.0) / row["mu"]["error"], rel=0.5)
    assert summary["closure_passed"] is True
    md = (pipeline / "summary.md").read_text()
    assert "Simulated dataset" in md and "| bdt (best) |" in md and "cutbased (baseline)" in md
    assert "| cutbased | cat0 |" in md and "(±3 sigma)" in md  # the peak table
    mu = summary["models"]["bdt"]["mu"]
    assert f"| bdt | {mu['value']:.2f} ± {mu['stat']:.2f} ± {mu['syst']:.2f} |" in md  # the stat/syst table
    assert "ggH: " in md
    # summary can be rebuilt from the files, with the model list given
    again = summarise(CFG, "H → γγ", "m_H", {"mu": 1.0, "mass": 125.0}, pipeline / "fit", ["bdt"])
    assert list(again["models"]) == ["bdt"] and "best_beats_baseline" not in again
    assert "bdt" in table(again)


def test_peak_window_and_goodness_of_fit(pipeline):
    for model in ("bdt", "cutbased"):
        fit = _read(pipeline / "fit" / model / "fit.json")
        sig = {c["name"]: c for c in _read(pipeline / "fit" / model / "signal_model.json")["categories"]}
        fitted = {n: p["value"] for n, p in fit["model"]["parameters"].items()}
        resolution = 1 + 0.1 * fitted["photon_energy_resolution"]
        scale = 1 + 0.002 * fitted["photon_energy_scale"]
        for name, cat in fit["categories"].items():
            # widths the MC's, times the resolution nuisance; the window is the fitted peak +- 3 of them
            assert cat["sigma"]["value"] == pytest.approx(sig[name]["params"]["sigma"] * resolution)
            assert cat["sigma"]["error"] == 0
            peak = (fitted["mass"] + sig[name]["params"]["mass"] - CFG["fit"]["mass_value"]) * scale
            assert cat["window"]["lo"] == pytest.approx(peak - 3 * cat["sigma"]["value"])
            assert cat["window"]["hi"] == pytest.approx(peak + 3 * cat["sigma"]["value"])
            # a DSCB with tails keeps most, not all, of its signal within 3 sigma
            assert 0.85 * cat["signal_fitted"] < cat["window"]["signal"] < cat["signal_fitted"]
            assert cat["window"]["s_over_b"] == pytest.approx(cat["window"]["signal"] / cat["window"]["background"])
            # the model describes the data it was fitted to: 55 bins of 1 GeV less the free parameters
            gof = cat["gof"]
            assert gof["bins"] == 55 and gof["ndf"] < 55 and gof["p_value"] > 1e-3, (model, name, gof)
        # all categories together: chi2 and bins add, the shared mu (and the free parameters) count once
        combined, cats = fit["gof"], fit["categories"].values()
        assert combined["chi2"] == pytest.approx(sum(c["gof"]["chi2"] for c in cats))
        assert combined["bins"] == 55 * len(cats)
        assert combined["ndf"] == combined["bins"] - len(fit["model"]["parameters"]) + sum(
            1 for p in fit["model"]["parameters"].values() if p.get("fixed"))
        assert combined["p_value"] > 1e-3
        assert _read(pipeline / "summary.json")["models"][model]["gof"] == combined


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


def test_prepare_with_every_split_fits_the_whole_luminosity():
    """Cross-training: every event enters the fit, so the data hold the whole luminosity
    (data_fraction 1) and the MC keeps its full-dataset weights."""
    frames = synthetic(seed=5)
    frame = pd.concat(frames.values(), ignore_index=True)
    selection = {"categories": [{"name": "inclusive", "lo": -1.0, "hi": 1.0}], "multiclass": None}
    crossed = {**CFG, "features": {**CFG["features"], "folds": 2}}
    part = prepare(fit_splits(crossed), OBSERVABLE, frame, selection)
    assert part.attrs["data_fraction"] == 1.0 and part.attrs["splits"] == ["train", "val", "test"]
    in_range = frame["m_yy"].between(105, 160, inclusive="left")
    assert len(part) == in_range.sum()
    assert part["weight"].to_numpy() == pytest.approx(frame["weight"][in_range].to_numpy(), rel=1e-12)


def test_prepare_uses_only_fit_splits_and_scales_mc():
    frames = synthetic(seed=5)
    frame = pd.concat(frames.values(), ignore_index=True)
    selection = {"categories": [{"name": "inclusive", "lo": -1.0, "hi": 1.0}], "multiclass": None}
    part = prepare(CFG["fit"]["splits"], OBSERVABLE, frame, selection)
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
                     "--float", "mass", "--param", "mu", "--param", "mass", "--out", str(out)]) == 0
    pulls = _read(out)
    assert set(pulls["params"]) == {"mu", "mass"} and pulls["n_valid"] >= 2
    assert pulls["params"]["mass"]["truth"] == CFG["fit"]["mass_value"]


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


def test_signal_sum_fitted_on_its_own_range_drives_the_category_fit_and_workspace():
    """fit.signal_shape crystalball+gauss fitted on fit.signal_fit_range [115, 135]: the yield is
    the MC's in the observable range, the shape is normalised there in the data fit (which finds
    mu ~ 1 at m_H ~ 125 with a common width scale on both widths), and the workspace takes it."""
    from colliderflow.inference import workspace
    from colliderflow.inference.fit import category_model
    from colliderflow.inference.models import signal_model
    from colliderflow.stats.fit import fit

    settings = json.loads(json.dumps(SETTINGS))
    settings["fit"].update(signal_shape="crystalball+gauss", signal_fit_range=[115.0, 135.0], width_floating=True)
    cfg = config.validate(settings)
    frames = synthetic(seed=8)
    mc = frames["ggH"][:10_000].assign(weight=TRUE_YIELD / 10_000)  # a third of the MC; no background MC
    part = pd.concat([frames["data"], mc], ignore_index=True)
    part = part[OBSERVABLE.in_range(part["m_yy"].to_numpy())].assign(category=0).reset_index(drop=True)
    part.attrs.update(categories=["all"], observable="m_yy", splits=["train", "val", "test"], data_fraction=1.0)
    signal = signal_model(cfg, OBSERVABLE, part, "bdt")
    cat = signal["categories"][0]
    assert signal["shape"] == "crystalball+gauss" and signal["fit_range"] == [115.0, 135.0]
    assert signal["range"] == list(OBSERVABLE.range)
    mc = part[part["kind"] == "signal"]
    assert cat["yield"] == pytest.approx(mc["weight"].sum())  # the whole observable range, not the fit range
    assert abs(cat["params"]["mass"] - 125.0) < 0.1 and {"sigma_2", "fraction"} <= set(cat["params"])
    background = {"categories": [{"name": "all", "choice": "exponential", "spurious_signal": 0.0}]}
    model = category_model(cfg["fit"], OBSERVABLE, signal, background, mass_floating=True)
    shapes = model.spec["channels"][0]["signal"]["params"]
    assert shapes["sigma"]["factors"] == shapes["sigma_2"]["factors"] == ["width_scale"]
    data = part[part["kind"] == "data"]["m_yy"].to_numpy()
    best = fit(model, {"all": data})
    assert best.valid
    assert abs(best.values["mu"] - 1.0) < 3 * best.errors["mu"]
    assert abs(best.values["mass"] - 125.0) < 3 * best.errors["mass"]
    # normalised on the observable range: the fitted signal density integrates to the signal yield there
    x = np.linspace(*OBSERVABLE.range, 20001)
    density = model.densities("all", x, best.values)["signal"]
    assert np.trapezoid(density, x) == pytest.approx(model.yields(best.values)["all"]["signal"], rel=1e-4)
    payload = {"fitted": True, "model": model.with_values(best.values).to_spec()}
    ws = workspace.build(cfg["fit"], OBSERVABLE, part, signal, background, payload)
    assert [c["name"] for c in ws["channels"]] == ["all"]


def _hepdata(pipeline, out_dir, settings=SETTINGS):
    return cli.main(["hepdata", "--settings", json.dumps(settings), "--fits", str(pipeline / "fit"),
                     "--scores", str(pipeline / "scores"), "--optimise", str(pipeline / "optimise"),
                     "--models", "bdt", "cutbased", "--out", str(out_dir / "hepdata"),
                     "--archive", str(out_dir / "hepdata.tar.gz")])


def test_hepdata_record_holds_the_fit_results_and_validates(pipeline, tmp_path):
    import yaml
    from hepdata_validator.full_submission_validator import FullSubmissionValidator

    assert _hepdata(pipeline, tmp_path / "a") == 0
    record = tmp_path / "a" / "hepdata"
    validator = FullSubmissionValidator()
    assert validator.validate(archive=str(tmp_path / "a" / "hepdata.tar.gz")), validator.get_messages()
    docs = [d for d in yaml.safe_load_all((record / "submission.yaml").read_text()) if d]
    tables = {d["name"]: yaml.safe_load((record / d["data_file"]).read_text()) for d in docs if "data_file" in d}
    per_model = ["mu scan", "peak scan", "p0 scan", "CLs scan", "cat0 spectrum", "cat1 spectrum"]
    assert set(tables) == {f"{m} {t}" for m in ("bdt", "cutbased") for t in per_model
                           if t != "cat1 spectrum" or m == "bdt"} | {"Results per model", "Upper limits on mu"}
    # each model's workspace rides along, byte for byte
    for model in ("bdt", "cutbased"):
        assert (record / f"{model}_workspace.json").read_bytes() == (pipeline / "fit" / model / "workspace.json").read_bytes()
    resources = [r for r in docs[0]["additional_resources"] if r.get("type") == "HistFactory"]
    assert [r["location"] for r in resources] == ["bdt_workspace.json", "cutbased_workspace.json"]

    def column(table, name):
        variable = next(v for v in table["dependent_variables"] if v["header"]["name"] == name)
        return variable, [v["value"] for v in variable["values"]]

    fit = _read(pipeline / "fit" / "bdt" / "fit.json")
    spectrum = tables["bdt cat0 spectrum"]
    data, counts = column(spectrum, "Data")
    assert sum(counts) == fit["categories"]["cat0"]["n_data"]
    _, total = column(spectrum, "Signal + background fit")
    cat = fit["categories"]["cat0"]
    assert sum(total) == pytest.approx(cat["signal_fitted"] + cat["background_fitted"], rel=1e-3)
    assert spectrum["independent_variables"][0]["header"] == {"name": "$m_{\\gamma\\gamma}$", "units": "GeV"}
    qualifiers = {q["name"]: q["value"] for q in data["qualifiers"]}
    assert qualifiers["SQRT(S)"] == 13000.0 and qualifiers["Category"] == "cat0" and qualifiers["Model"] == "bdt"
    assert qualifiers["LUMINOSITY"] == pytest.approx(fit["lumi_fb_fitted"], rel=1e-3)
    _, scan = column(tables["bdt mu scan"], r"$-2\Delta\ln L$ observed")
    assert scan == pytest.approx(fit["scans"]["mu"]["dnll2"], rel=1e-4, abs=1e-6)
    results = tables["Results per model"]
    assert [v["value"] for v in results["independent_variables"][0]["values"]] == ["bdt", "cutbased"]
    mu, values = column(results, r"$\mu$")
    assert values[0] == pytest.approx(fit["mu"]["value"], rel=1e-4)
    assert mu["values"][0]["errors"][0]["asymerror"] == pytest.approx(
        {"minus": fit["mu"]["errors68"][0], "plus": fit["mu"]["errors68"][1]}, rel=1e-3)
    _, z = column(results, "Z observed")
    assert z[1] == pytest.approx(_read(pipeline / "fit" / "cutbased" / "significance.json")["Z_observed"], rel=1e-4)
    limits = _read(pipeline / "fit" / "bdt" / "limits.json")["upper_limit"]
    expected, medians = column(tables["Upper limits on mu"], "95% CL upper limit on $\\mu$ expected")
    assert medians[0] == pytest.approx(limits["expected"][2], rel=1e-4)
    assert expected["values"][0]["errors"][1]["asymerror"]["plus"] == pytest.approx(
        limits["expected"][4] - limits["expected"][2], rel=1e-3)
    # the same inputs give the same bytes (no time in the archive)
    assert _hepdata(pipeline, tmp_path / "b") == 0
    assert (tmp_path / "a" / "hepdata.tar.gz").read_bytes() == (tmp_path / "b" / "hepdata.tar.gz").read_bytes()


def test_hepdata_needs_the_centre_of_mass_energy():
    from colliderflow.hepdata import make_record

    cfg = json.loads(json.dumps(CFG))
    del cfg["dataset"]["sqrt_s_tev"]
    with pytest.raises(ValueError, match="dataset.sqrt_s_tev is not set"):
        make_record(cfg, analyses.get("hyy"), {})
