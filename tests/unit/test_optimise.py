import itertools
import json

import numpy as np
import pandas as pd
import pytest

from colliderflow import analyses, cli, config
from colliderflow.optimise import (
    assign_categories,
    best_categories,
    class_scores,
    signal_window,
    threshold_grid,
)
from colliderflow.optimise import optimise as optimise_selection
from colliderflow.stats.significance import asimov_z


def _frame(kind, m, score, weight, sample, split="val"):
    n = len(m)
    return pd.DataFrame(
        {
            "eventNumber": np.arange(n, dtype=np.uint64),
            "sample": sample,
            "process": sample,
            "kind": kind,
            "label": np.int8(kind == "signal"),
            "split": split,
            "weight": np.broadcast_to(np.asarray(weight, dtype=float), (n,)).copy(),
            "m_yy": np.asarray(m, dtype=float),
            "score": np.asarray(score, dtype=float),
        }
    )


def _synthetic(seed=0, n_bkg=60_000, n_mc=8_000, yield_=400.0):
    """Data = exponential continuum (score ~ Beta(1,3)) + injected signal (score ~ Beta(3,1))."""
    rng = np.random.default_rng(seed)
    mb = 105 + rng.exponential(30, 3 * n_bkg)
    mb = mb[mb < 160][:n_bkg]
    ms = rng.normal(125, 1.7, rng.poisson(yield_))
    data = _frame("data", np.r_[mb, ms], np.r_[rng.beta(1, 3, mb.size), rng.beta(3, 1, ms.size)], 1.0, "data")
    sig = _frame("signal", rng.normal(125, 1.7, n_mc), rng.beta(3, 1, n_mc), yield_ / n_mc, "ggH")
    bkg = _frame("background", mb, rng.beta(1, 3, mb.size), 1.0, "yy")
    frame = pd.concat([data, sig, bkg], ignore_index=True)
    frame["split"] = rng.choice(["train", "val", "test"], len(frame), p=[0.5, 0.25, 0.25])
    return frame


CFG = {"dataset": {"simulated": True}, "lumi_fb": 36.1}
OBSERVABLE = analyses.get("hyy").observable(config.validate({}))


def optimise(cfg, frame, model):
    """The stage function with the settings resolved as its command resolves them."""
    opt = config.section(cfg, "optimise")
    return optimise_selection(opt, OBSERVABLE, frame, model, True, splits=[opt["split"]])


def test_signal_window_is_smallest_interval_with_fraction():
    rng = np.random.default_rng(3)
    m = rng.normal(125.0, 2.0, 200_000)
    w = np.full(m.size, 0.5)
    lo, hi = signal_window(m, w, 0.683)
    inside = w[(m >= lo) & (m <= hi)].sum() / w.sum()
    assert inside == pytest.approx(0.683, abs=1e-3)
    # for a Gaussian the shortest 68.3% interval is mean +- 1 sigma
    assert lo == pytest.approx(123.0, abs=0.05) and hi == pytest.approx(127.0, abs=0.05)
    # a wider fraction gives a wider window
    lo9, hi9 = signal_window(m, w, 0.9)
    assert hi9 - lo9 == pytest.approx(2 * 1.645 * 2.0, rel=0.02)
    # asymmetric shape: the interval moves to the dense side, not mean +- k sigma
    skew = np.r_[rng.normal(125.0, 1.0, 100_000), rng.uniform(110.0, 125.0, 20_000)]
    lo_s, hi_s = signal_window(skew, np.ones(skew.size), 0.683)
    assert hi_s - lo_s < 2.6 and 123.0 < lo_s < hi_s < 127.0


def test_known_optimal_threshold_and_min_background():
    # Everything at m = 125 (inside the window); background from MC. Three score bins.
    scores_s, yields_s = [0.2, 0.5, 0.8], [50.0, 50.0, 50.0]
    scores_b, yields_b = [0.2, 0.5, 0.8], [1000.0, 100.0, 20.0]
    frames = [
        _frame("signal", [125.0], [sc], [y], "ggH") for sc, y in zip(scores_s, yields_s)
    ] + [_frame("background", [125.0], [sc], [y], "yy") for sc, y in zip(scores_b, yields_b)]
    frame = pd.concat(frames, ignore_index=True)
    cfg = {**CFG, "optimise": {"background": "mc", "min_background": 10.0, "n_categories": 1,
                               "window_fraction": 0.5}}
    sel = optimise(cfg, frame, "toy")
    z_expected = {t: asimov_z(sum(y for s, y in zip(scores_s, yields_s) if s > t),
                              sum(y for s, y in zip(scores_b, yields_b) if s > t)) for t in (0.0, 0.2, 0.5)}
    best_t = max(z_expected, key=z_expected.get)
    assert best_t == 0.5  # only the purest bin: s = 50, b = 20
    assert sel["threshold"]["value"] >= 0.5 and sel["threshold"]["value"] < 0.8
    assert sel["threshold"]["z"] == pytest.approx(z_expected[0.5])
    assert sel["inclusive"]["z"] == pytest.approx(asimov_z(150.0, 1120.0))
    # with min_b above 20 the purest bin alone is not allowed: the threshold moves down
    cfg["optimise"]["min_background"] = 50.0
    sel = optimise(cfg, frame, "toy")
    assert sel["threshold"]["b"] >= 50.0
    assert sel["threshold"]["z"] == pytest.approx(z_expected[0.2])


def test_categories_beat_single_threshold_beat_baseline_and_respect_min_b():
    frame = _synthetic()
    for background in ("sidebands", "mc"):
        cfg = {**CFG, "optimise": {"background": background, "n_categories": 3, "min_background": 10.0}}
        sel = optimise(cfg, frame, "bdt")
        assert sel["combined_z"] >= sel["threshold"]["z"] - 1e-12
        assert sel["threshold"]["z"] > sel["inclusive"]["z"]
        assert 1 <= len(sel["categories"]) <= 3
        for cat in sel["categories"]:
            assert cat["b"] >= 10.0
        # boundaries contiguous, purest first
        for upper, lower in zip(sel["categories"], sel["categories"][1:]):
            assert upper["lo"] == lower["hi"]
        assert sel["categories"][0]["hi"] == 1.0
        assert sel["combined_z"] == pytest.approx(np.sqrt(sum(c["z"] ** 2 for c in sel["categories"])))
        # yields are full-dataset expectations: the inclusive signal in a 68.3% window of 400 events
        assert sel["inclusive"]["s"] == pytest.approx(0.683 * 400.0, rel=0.05)
    # a larger min_b gives categories that all satisfy it
    cfg = {**CFG, "optimise": {"min_background": 200.0}}
    sel = optimise(cfg, frame, "bdt")
    assert all(c["b"] >= 200.0 for c in sel["categories"]) and sel["threshold"]["b"] >= 200.0


def test_dynamic_programming_matches_brute_force():
    rng = np.random.default_rng(7)
    ss, ws = rng.beta(4, 1, 3000), rng.uniform(0.01, 0.05, 3000)
    sb, wb = rng.beta(1, 2, 20000), rng.uniform(0.5, 1.5, 20000)
    grid = threshold_grid(ss, 12)
    min_b = 30.0
    res = best_categories(ss, ws, sb, wb, grid, 3, min_b)
    edges = np.append(grid, np.inf)

    def yields(lo, hi):
        return ws[(ss > lo) & (ss <= hi)].sum(), wb[(sb > lo) & (sb <= hi)].sum()

    best = 0.0
    for k in (1, 2, 3):
        for combo in itertools.combinations(range(len(edges)), k + 1):
            if combo[-1] != len(edges) - 1:
                continue
            z2, ok = 0.0, True
            for lo, hi in zip(combo[:-1], combo[1:]):
                s, b = yields(edges[lo], edges[hi])
                if b < min_b or s <= 0:
                    ok = False
                    break
                z2 += asimov_z(s, b) ** 2
            if ok:
                best = max(best, np.sqrt(z2))
    assert res["combined_z"] == pytest.approx(best, rel=1e-9)


def test_assign_categories():
    cats = [{"lo": 0.8, "hi": 1.0}, {"lo": 0.5, "hi": 0.8}]
    frame = pd.DataFrame({"score": [0.1, 0.5, 0.6, 0.8, 0.95, 1.0]})
    np.testing.assert_array_equal(assign_categories(frame, {"categories": cats, "multiclass": None}), [-1, -1, 1, 1, 0, 0])


def test_assign_categories_of_a_multiclass_selection():
    """Class by the largest discriminant P(c) / (P(c) + P(background)), then the class's score interval."""
    frame = pd.DataFrame({"score_background": [0.5, 0.1, 0.6, 0.2], "score_ggH": [0.3, 0.3, 0.1, 0.1],
                          "score_VBF": [0.2, 0.6, 0.3, 0.7]})
    np.testing.assert_allclose(class_scores(frame, ["ggH", "VBF"], "discriminant"),
                               [[0.3 / 0.8, 0.2 / 0.7], [0.75, 6 / 7], [0.1 / 0.7, 1 / 3], [1 / 3, 0.7 / 0.9]])
    selection = {"multiclass": {"classes": ["ggH", "VBF"], "class_score": "discriminant"},
                 "categories": [{"class": "ggH", "lo": 0.25, "hi": 1.0}, {"class": "VBF", "lo": 0.8, "hi": 1.0},
                                {"class": "VBF", "lo": 0.5, "hi": 0.8}]}
    np.testing.assert_array_equal(assign_categories(frame, selection), [0, 1, -1, 2])
    # by probability: event 1 is VBF's with score 0.6, event 2 VBF's with 0.3 (below every VBF category)
    selection["multiclass"]["class_score"] = "probability"
    np.testing.assert_array_equal(assign_categories(frame, selection), [0, 2, -1, 2])


def test_multiclass_categories_per_class():
    """Two signal classes, each with its own score; background MC. The categories are per class,
    as many as optimise.multiclass.n_categories allows, and assign_categories puts exactly
    their s into each."""
    rng = np.random.default_rng(5)
    parts = []
    for sample, kind, n, weight, peak in (("ggH", "signal", 4000, 0.02, 1), ("VBF", "signal", 2000, 0.01, 2),
                                          ("yy", "background", 20000, 0.2, 0)):
        logits = rng.normal(0, 1, (n, 3))
        logits[:, peak] += 1.5
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        m = rng.normal(125, 1.5, n) if kind == "signal" else rng.uniform(105, 160, n)
        frame = _frame(kind, m, 1 - p[:, 0], weight, sample)
        parts.append(frame.assign(score_background=p[:, 0], score_ggH=p[:, 1], score_VBF=p[:, 2]))
    frame = pd.concat(parts, ignore_index=True)
    cfg = {**CFG, "optimise": {"background": "mc", "min_background": 2.0, "n_categories": 3,
                               "multiclass": {"n_categories": {"VBF": 1}}}}
    sel = optimise(cfg, frame, "mc")
    assert sel["multiclass"] == {"classes": ["ggH", "VBF"], "class_score": "discriminant"}
    classes = [c["class"] for c in sel["categories"]]
    assert classes.count("VBF") == 1 and 2 <= classes.count("ggH") <= 3
    assert [c["name"] for c in sel["categories"] if c["class"] == "ggH"][:2] == ["ggH_cat0", "ggH_cat1"]
    assert sel["combined_z"] == pytest.approx(np.sqrt(sum(c["z"] ** 2 for c in sel["categories"])))
    index = assign_categories(frame, sel)
    in_window = frame["m_yy"].between(sel["window"]["lo"], sel["window"]["hi"]).to_numpy()
    signal = (frame["kind"] == "signal").to_numpy() & in_window
    for k, cat in enumerate(sel["categories"]):
        assert frame["weight"][signal & (index == k)].sum() == pytest.approx(cat["s"], rel=1e-9)
    with pytest.raises(ValueError, match="optimise.multiclass.n_categories names ttH"):
        optimise({**cfg, "optimise": {**cfg["optimise"], "multiclass": {"n_categories": {"ttH": 1}}}}, frame, "mc")


def test_cli_model_and_cutbased(tmp_path):
    frame = _synthetic(n_bkg=20_000, n_mc=3_000)
    scores = tmp_path / "scores"
    cutbased = tmp_path / "cutbased"
    scores.mkdir()
    cutbased.mkdir()
    for sample, part in frame.groupby("sample"):
        part.to_parquet(scores / f"{sample}.parquet")
        part.assign(score=1.0).to_parquet(cutbased / f"{sample}.parquet")  # the cut-based scorer
    out = tmp_path / "sel.json"
    rc = cli.main(["optimise", "--model", "bdt", "--scores", str(scores), "--out", str(out),
                   "--plot", str(tmp_path / "z.png")])
    assert rc == 0
    sel = json.loads(out.read_text())
    assert "provenance" in sel and (tmp_path / "z.png").stat().st_size > 0
    assert sel["combined_z"] >= sel["threshold"]["z"] > sel["inclusive"]["z"]
    out_cb = tmp_path / "cb.json"
    assert cli.main(["optimise", "--model", "cutbased", "--scores", str(cutbased), "--out", str(out_cb)]) == 0
    cb = json.loads(out_cb.read_text())
    # a constant score is one inclusive category: every event, the same Z as the inclusive selection
    assert len(cb["categories"]) == 1 and cb["combined_z"] == pytest.approx(sel["inclusive"]["z"])
    # a missing input directory is a one-line user error
    assert cli.main(["optimise", "--model", "bdt", "--scores", str(tmp_path / "nope"), "--out", str(out)]) == 2


def test_fitted_peak_window_is_the_peak_plus_minus_n_sigma():
    frame = _synthetic()
    cfg = {**CFG, "optimise": {"window": "fitted_peak", "n_categories": 1}}
    fit_settings = config.section({"fit": {"signal_shape": "gauss", "window_n_sigma": 2.0}}, "fit")
    sel = optimise_selection(config.section(cfg, "optimise"), OBSERVABLE, frame, "bdt", True, fit_settings, splits=["val"])
    # the signal MC is a Gaussian at 125 of width 1.7
    assert sel["window"]["lo"] == pytest.approx(125.0 - 2 * 1.7, abs=0.1)
    assert sel["window"]["hi"] == pytest.approx(125.0 + 2 * 1.7, abs=0.1)
    assert sel["window"]["n_sigma"] == 2.0 and "gauss" in sel["window"]["method"]
    # 95.4% of the 400 signal events inside (the inclusive selection)
    assert sel["inclusive"]["s"] == pytest.approx(0.954 * 400.0, rel=0.05)
    with pytest.raises(ValueError, match="fit settings"):
        optimise_selection(config.section(cfg, "optimise"), OBSERVABLE, frame, "bdt", True, splits=["val"])
