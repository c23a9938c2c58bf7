import dataclasses

import numpy as np
import pandas as pd
import pytest

from colliderflow.analyses.hyy import synthetic
from colliderflow.ml import evaluate
from colliderflow.stats.significance import asimov_z, sideband_transfer_factor

OBSERVABLE = synthetic.observable()
MASS = OBSERVABLE.column


def test_weighted_roc_auc_equals_pairwise_probability():
    rng = np.random.default_rng(0)
    score = rng.random(300)
    label = (rng.random(300) < 0.4).astype(float)
    score[label == 1] += 0.3
    weight = rng.uniform(0.2, 3.0, 300)
    sig, bkg = label == 1, label == 0
    pairs = (score[sig][:, None] > score[bkg][None, :]) * weight[sig][:, None] * weight[bkg][None, :]
    expected = pairs.sum() / (weight[sig].sum() * weight[bkg].sum())
    assert evaluate.roc_auc(*evaluate.weighted_roc(score, label, weight)) == pytest.approx(expected, rel=1e-12)
    assert evaluate.roc_auc(*evaluate.weighted_roc(label, label, weight)) == pytest.approx(1.0)
    assert evaluate.roc_auc(*evaluate.weighted_roc(np.zeros(300), label, weight)) == pytest.approx(0.5)
    bkg_eff, sig_eff = evaluate.weighted_roc(score, label, weight)
    assert evaluate.signal_efficiency_at(bkg_eff, sig_eff, [1.0])[0] == pytest.approx(1.0)


def _frame(rng, n=4000):
    """Signal in two samples, data on a falling spectrum; test fractions differ per sample."""
    sample = rng.choice(["ggH", "VBF", "data"], n, p=[0.2, 0.1, 0.7])
    kind = np.where(sample == "data", "data", "signal")
    mass = np.where(kind == "signal", rng.normal(125, 2, n), 105 + rng.exponential(30, n))
    test_fraction = np.where(sample == "ggH", 0.2, np.where(sample == "VBF", 0.5, 0.3))
    split = np.where(rng.random(n) < test_fraction, "test", "train")
    weight = np.where(sample == "ggH", 0.3, np.where(sample == "VBF", 0.05, 1.0)) * rng.uniform(0.5, 1.5, n)
    score = np.clip(np.where(kind == "signal", rng.normal(0.7, 0.2, n), rng.normal(0.35, 0.2, n)), 1e-6, 1)
    return pd.DataFrame({"sample": sample, "kind": kind, "split": split, "weight": weight, MASS: mass, "score": score})


def test_significance_scales_the_test_split_to_the_full_yield():
    rng = np.random.default_rng(1)
    frame = _frame(rng)
    ml = synthetic.default_config()["ml"]
    inputs = evaluate.significance_inputs(frame, ml, OBSERVABLE)
    window = frame[MASS].between(120, 130, inclusive="left")
    s_all = frame["weight"][window & (frame["kind"] == "signal")].sum()
    assert inputs["s_inclusive"] == pytest.approx(s_all)
    assert inputs["signal"][1].sum() == pytest.approx(s_all)  # test events weighted up, per sample
    data = (frame["kind"] == "data").to_numpy()
    sidebands = data & frame[MASS].between(105, 160, inclusive="left").to_numpy() & ~window.to_numpy()
    transfer = sideband_transfer_factor(frame[MASS][data], frame["weight"][data], (120, 130), (105, 160))
    assert inputs["transfer_factor"] == pytest.approx(transfer)
    assert inputs["b_inclusive"] == pytest.approx(frame["weight"][sidebands].sum() * transfer)
    assert inputs["background"][1].sum() == pytest.approx(inputs["b_inclusive"])
    assert inputs["z_inclusive"] == pytest.approx(float(asimov_z(inputs["s_inclusive"], inputs["b_inclusive"])))


def test_significance_metrics_of_the_z_curve():
    rng = np.random.default_rng(2)
    frame = _frame(rng, 20000)
    ml = synthetic.default_config({"metrics": {"n_thresholds": 101, "min_background": 5.0}})["ml"]
    metrics = evaluate.significance_metrics(frame, ml, OBSERVABLE)
    z = np.array(metrics["z_curve"]["z"])
    assert metrics["z_max"] == pytest.approx(z.max()) and metrics["z_max"] > metrics["z_inclusive"]
    assert z[0] == pytest.approx(metrics["z_inclusive"])  # threshold 0 keeps (almost) everything
    assert set(metrics["z_at_threshold"]) == {"0.3", "0.5", "0.8", "0.95"}
    assert metrics["near_max_fraction"] == pytest.approx(np.mean(z >= 0.9 * z.max()))
    assert metrics["z_curve_area"] == pytest.approx(np.trapezoid(z, np.linspace(0, 1, 101)))
    assert np.all(np.array(metrics["z_curve"]["b"])[z > 0] >= 5.0)  # the min-background rule


def test_filter_speedup_by_hand():
    # c = t_s/t_g = 10, r = 0.1, f1 = 0.9, f0 = 0.05: 0.9 * 11 / (1 + 10 (0.1 * 0.9 + 0.9 * 0.05)) = 9.9 / 2.35
    assert evaluate.filter_speedup(0.9, 0.05, 0.1, 10.0) == pytest.approx(9.9 / 2.35, rel=1e-12)
    assert evaluate.filter_speedup(1.0, 1.0, 0.1, 10.0) == pytest.approx(1.0)  # passes everything: no gain
    assert evaluate.filter_speedup(1.0, 0.0, 0.1, 10.0) == pytest.approx(11 / 2)  # perfect: (1 + c) / (1 + c r)
    assert evaluate.filter_speedup(0.0, 0.0, 0.1, 10.0) == 0.0  # keeps nothing


def test_speedup_metrics_on_a_two_valued_score():
    """Test split: signal (weight 1 each) scores 0.9 (3 events) or 0.2 (1), sideband data (weight 1)
    scores 0.9 (2 events) or 0.2 (18): above 0.5, f1 = 3/4 and f0 = 2/20, r = 4/24."""
    signal = pd.DataFrame({"kind": "signal", MASS: 125.0, "score": [0.9, 0.9, 0.9, 0.2]})
    data = pd.DataFrame({"kind": "data", MASS: 110.0, "score": [0.9] * 2 + [0.2] * 18})
    frame = pd.concat([signal, data], ignore_index=True).assign(split="test", weight=1.0, sample="s")
    ml = synthetic.default_config({"metrics": {"n_thresholds": 3, "filter": {"cost_ratio": 4.0}}})["ml"]
    result = evaluate.speedup_metrics(frame, ml, OBSERVABLE)
    r = 4 / 24
    expected = [1.0, 0.75 * 5 / (1 + 4 * (r * 0.75 + (1 - r) * 0.1)), 0.0]  # thresholds 0, 0.5, 1
    np.testing.assert_allclose(result["curve"]["speedup"], expected, rtol=1e-12)
    assert (result["pass_rate"], result["pass_rate_from"]) == (pytest.approx(r), "test events")
    assert (result["threshold_at_max"], result["tpr_at_max"], result["fpr_at_max"]) == (0.5, 0.75, pytest.approx(0.1))
    given = synthetic.default_config({"metrics": {"filter": {"cost_ratio": 4.0, "pass_rate": 0.01}}})["ml"]
    assert evaluate.speedup_metrics(frame, given, OBSERVABLE)["pass_rate_from"] == "ml.metrics.filter.pass_rate"


def test_mc_background_uses_the_window_of_the_background_mc():
    rng = np.random.default_rng(3)
    frame = _frame(rng)
    frame.loc[frame["kind"] == "data", ["sample", "kind"]] = ["yy", "background"]
    ml = synthetic.default_config({"background": "mc"})["ml"]
    inputs = evaluate.significance_inputs(frame, ml, OBSERVABLE)
    window = frame[MASS].between(120, 130, inclusive="left") & (frame["kind"] == "background")
    assert inputs["transfer_factor"] is None
    assert inputs["b_inclusive"] == pytest.approx(frame["weight"][window].sum())


def test_observable_correlation_flags_a_score_that_follows_the_observable():
    rng = np.random.default_rng(4)
    frame = _frame(rng)
    frame["score"] = (frame[MASS] - 105) / 55
    assert evaluate.observable_correlation(frame, OBSERVABLE)["data_sidebands"] == pytest.approx(1.0)
    frame["score"] = rng.random(len(frame))
    assert abs(evaluate.observable_correlation(frame, OBSERVABLE)["data_sidebands"]) < 0.1
    frame["score"] = 1.0  # a constant score (the cutbased model) cannot sculpt
    assert evaluate.observable_correlation(frame, OBSERVABLE)["data_sidebands"] == 0.0


def test_the_observable_window_decides_what_is_counted():
    """Moving the window moves s and b: the counts follow the Observable passed in, nothing else."""
    rng = np.random.default_rng(5)
    frame = _frame(rng)
    ml = synthetic.default_config()["ml"]
    narrow = dataclasses.replace(OBSERVABLE, window=(123.0, 127.0))
    inputs = evaluate.significance_inputs(frame, ml, narrow)
    in_narrow = frame[MASS].between(123, 127, inclusive="left") & (frame["kind"] == "signal")
    assert inputs["s_inclusive"] == pytest.approx(frame["weight"][in_narrow].sum())
    assert inputs["signal"][1].sum() == pytest.approx(inputs["s_inclusive"])


def test_a_constant_score_has_the_one_point_roc_and_a_flat_z_curve():
    rng = np.random.default_rng(6)
    frame = _frame(rng)
    frame["score"] = 1.0
    ml = synthetic.default_config({"metrics": {"min_background": 0.0}})["ml"]
    metrics = evaluate.compute_metrics(frame, ml, OBSERVABLE)
    roc = metrics["roc_curve"]
    assert roc == {"background_efficiency": [0.0, 1.0], "signal_efficiency": [0.0, 1.0]}  # (1, 1) after the origin
    z = np.array(metrics["z_curve"]["z"])
    np.testing.assert_allclose(z[:-1], metrics["z_inclusive"])  # every cut below 1 keeps every event
    assert z[-1] == 0.0 and metrics["z_max"] == pytest.approx(metrics["z_inclusive"])


def test_confusion_matrix_and_f1_by_hand():
    truth, predicted = [0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 1, 2, 0, 1]
    weight = [1.0, 2.0, 0.5, 0.5, 3.0, 1.0, 1.0]
    matrix = evaluate.confusion_matrix(truth, predicted, weight, 3)
    np.testing.assert_allclose(matrix, [[1, 2, 0], [0, 1, 0], [1, 1, 3]])
    # class 0: precision 1/2, recall 1/3; class 1: 1/4, 1; class 2: 1, 3/5
    f1 = lambda p, r: 2 * p * r / (p + r)  # noqa: E731
    np.testing.assert_allclose(evaluate.f1_scores(matrix), [f1(1 / 2, 1 / 3), f1(1 / 4, 1), f1(1, 3 / 5)])
    assert evaluate.f1_scores(np.array([[1.0, 0.0], [1.0, 0.0]]))[1] == 0.0  # never predicted: 0, not NaN


def test_class_metrics_of_a_multiclass_score():
    """Test-split events of background (sidebands data) and two signal classes; the metrics by hand."""
    rng = np.random.default_rng(4)
    n = 3000
    sample = rng.choice(["data", "ggH", "VBF"], n, p=[0.6, 0.25, 0.15])
    kind = np.where(sample == "data", "data", "signal")
    mass = np.where(kind == "signal", rng.normal(125, 2, n), rng.choice([112.0, 140.0], n))
    truth = np.select([sample == "VBF", sample == "ggH"], [1, 2], 0)  # background, then classes sorted by name
    logits = rng.normal(0, 1, (n, 3)) + 1.5 * np.eye(3)[truth]
    probability = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    weight = np.where(kind == "data", 1.0, rng.uniform(0.01, 0.03, n))
    split = np.where(rng.random(n) < 0.5, "test", "train")
    frame = pd.DataFrame({"sample": sample, "process": sample, "kind": kind, "split": split, "weight": weight,
                          MASS: mass, **{f"score_{c}": probability[:, k] for k, c in enumerate(["background", "VBF", "ggH"])}})
    ml = synthetic.default_config({"classes": {"ggH": ["ggH"], "VBF": ["VBF"]}})["ml"]
    metrics = evaluate.class_metrics(frame, ml, OBSERVABLE)
    test = split == "test"
    t, p, w = truth[test], probability[test].argmax(axis=1), weight[test]
    expected = evaluate.confusion_matrix(t, p, w, 3)
    assert metrics["names"] == ["background", "VBF", "ggH"]
    np.testing.assert_allclose(metrics["confusion"]["weighted"], expected)
    assert np.sum(metrics["confusion"]["counts"]) == test.sum()
    assert metrics["confusion"]["counts"][1][1] == np.sum((t == 1) & (p == 1))
    np.testing.assert_allclose(np.sum(metrics["confusion"]["normalised"], axis=1), 1.0)
    assert metrics["accuracy"] == pytest.approx(w[t == p].sum() / w.sum())
    assert metrics["balanced_accuracy"] == pytest.approx(np.mean([w[(t == k) & (p == k)].sum() / w[t == k].sum()
                                                                  for k in range(3)]))
    for k, name in enumerate(metrics["names"]):
        score = probability[test, k]
        pos, neg = t == k, t != k
        pairs = (score[pos][:, None] > score[neg][None, :]) * w[pos][:, None] * w[neg][None, :]
        assert metrics["roc_auc"][name] == pytest.approx(pairs.sum() / (w[pos].sum() * w[neg].sum()), rel=1e-9)
    assert metrics["roc_auc"]["VBF"] > 0.75 and metrics["f1"]["background"] > 0.5
