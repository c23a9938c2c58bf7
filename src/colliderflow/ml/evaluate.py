"""Metrics of a trained classifier: ROC, signal efficiencies, significance curve, sculpting, the
speedup as a filter (``filter_speedup``).

Everything is evaluated on the test split, with the physics weights, and scaled to the full
expected yields (each sample's test events weighted up by total / test in the same region,
``events.scale_to_full_yield``). With the analysis's observable (range and signal window):

* s(t): signal MC in the window with score > t;
* b(t): ``ml.background = sidebands``: data in the sidebands (the range outside the window)
  with score > t times the transfer factor window/sidebands of an exponential fitted to all
  data sidebands (valid when the score does not sculpt the observable, which
  ``observable_correlation`` checks); ``mc``: background MC in the window with score > t.

Z(t) is the Asimov significance; thresholds where b < ``ml.metrics.min_background`` give 0.
``z_inclusive`` is the same count with no score cut: the Z of the selection, the same for
every model (and the whole Z curve of the ``cutbased`` model, which scores every event 1).
A multiclass model is evaluated on its ``score`` (1 - P(background)) like any, and per class
(``class_metrics``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..events import scale_to_full_yield
from ..stats.significance import asimov_z, sideband_transfer_factor, weight_above, z_curve
from . import data
from .settings import classes

if TYPE_CHECKING:
    from ..analyses.interface import Observable

log = logging.getLogger(__name__)

ROC_GRID = np.unique(np.concatenate([np.logspace(-4, 0, 81), np.linspace(0, 1, 101)]))


def weighted_roc(score, label, weight) -> tuple[np.ndarray, np.ndarray]:
    """(background efficiency, signal efficiency) for every cut on the score, from (0, 0) to (1, 1).

    Weights may be signed; the efficiencies are made monotone so the curve stays a ROC.
    """
    score, label, weight = (np.asarray(a, dtype=float) for a in (score, label, weight))
    order = np.argsort(-score, kind="stable")
    score, signal, weight = score[order], label[order] > 0.5, weight[order]
    last_of_tie = np.r_[score[1:] != score[:-1], True]  # one point per distinct score
    sig = np.cumsum(np.where(signal, weight, 0.0))[last_of_tie]
    bkg = np.cumsum(np.where(signal, 0.0, weight))[last_of_tie]
    sig_eff = np.maximum.accumulate(np.clip(sig / sig[-1], 0, 1))
    bkg_eff = np.maximum.accumulate(np.clip(bkg / bkg[-1], 0, 1))
    return np.r_[0.0, bkg_eff], np.r_[0.0, sig_eff]


def roc_auc(bkg_eff, sig_eff) -> float:
    return float(np.trapezoid(sig_eff, bkg_eff))


def signal_efficiency_at(bkg_eff, sig_eff, targets) -> np.ndarray:
    """Signal efficiency of the best cut whose background efficiency is at most each target.

    Read off the ROC's own points, not interpolated between them: a score with few distinct
    values reaches few efficiencies (a constant score, the cutbased model's, only 0 and 1),
    and interpolation would invent cuts that do not exist. For a continuous score the points
    are dense and the two agree.
    """
    bkg_eff, sig_eff = np.asarray(bkg_eff, dtype=float), np.asarray(sig_eff, dtype=float)
    index = np.searchsorted(bkg_eff, np.asarray(targets, dtype=float), side="right") - 1  # both are monotone
    return sig_eff[np.clip(index, 0, None)]


def background_rejection_at(bkg_eff, sig_eff, targets) -> np.ndarray:
    """Background rejection 1 / eff_b of the first cut whose signal efficiency reaches each
    target, read off the ROC's own points like ``signal_efficiency_at`` (inf where that cut
    keeps no background)."""
    bkg_eff, sig_eff = np.asarray(bkg_eff, dtype=float), np.asarray(sig_eff, dtype=float)
    index = np.minimum(np.searchsorted(sig_eff, np.asarray(targets, dtype=float), side="left"), len(sig_eff) - 1)
    with np.errstate(divide="ignore"):
        return 1.0 / bkg_eff[index]


def thresholds_at_signal_efficiency(score, weight, targets) -> np.ndarray:
    """Score cuts (keep score > cut) whose kept fraction of the signal weight first reaches each
    target: just below the score of the event, from the highest score down, at which the
    cumulative weight gets there. Unlike a fixed threshold this compares models whose scores
    are calibrated differently (a Lovasz-trained score is no probability)."""
    score, weight = np.asarray(score, dtype=float), np.asarray(weight, dtype=float)
    order = np.argsort(-score, kind="stable")
    kept = np.maximum.accumulate(np.cumsum(weight[order]) / weight.sum())  # monotone despite negative weights
    index = np.minimum(np.searchsorted(kept, np.asarray(targets, dtype=float) - 1e-12, side="left"), len(kept) - 1)
    return np.nextafter(score[order][index], -np.inf)


def _test_weights(frame: pd.DataFrame, region: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Weights of the test events in ``region``, each sample's scaled to its full yield in the region.

    A sample whose test events carry no usable weight contributes 0 (``scale_to_full_yield``
    names it in a warning).
    """
    inside = frame.loc[region, ["sample", "weight"]]
    chosen = test[region]
    factor = scale_to_full_yield(inside, chosen)[chosen]
    return np.nan_to_num(inside["weight"].to_numpy(dtype=float)[chosen] * factor, nan=0.0)


def significance_inputs(frame: pd.DataFrame, ml: dict, observable: "Observable") -> dict:
    """Test-split signal and background (mask, expected-yield weight) in the window, and Z with no score cut.

    ``frame`` needs columns sample, kind, split, weight, the observable and (for the curve) score.
    """
    values = frame[observable.column].to_numpy(dtype=float)
    weight = frame["weight"].to_numpy(dtype=float)
    kind = frame["kind"].to_numpy()
    test = (frame["split"] == "test").to_numpy()
    in_window, sidebands = data.window_masks(values, observable)
    sig_region = (kind == "signal") & in_window
    if ml["background"] == "sidebands":
        data_events = kind == "data"
        chosen = observable.in_sidebands(values)
        if not (data_events & chosen).any():
            raise ValueError("ml.background is 'sidebands' but there are no data events in the sidebands "
                             f"{observable.sideband_intervals()} (observable.sideband, observable.sideband_gap)")
        transfer = sideband_transfer_factor(values[data_events], weight[data_events], observable.window,
                                            observable.range, observable.sideband_intervals())
        bkg_region = data_events & chosen
    else:
        transfer = 1.0
        bkg_region = (kind == "background") & in_window
        if not bkg_region.any():
            raise ValueError("ml.background is 'mc' but there are no background MC events in observable.window "
                             f"{list(observable.window)}")
    if not sig_region.any():
        raise ValueError(f"no signal MC events in observable.window {list(observable.window)}")
    s_total = weight[sig_region].sum()
    b_total = weight[bkg_region].sum() * transfer
    return {
        "signal": (sig_region & test, _test_weights(frame, sig_region, test)),
        "background": (bkg_region & test, _test_weights(frame, bkg_region, test) * transfer),
        "transfer_factor": float(transfer) if ml["background"] == "sidebands" else None,
        "s_inclusive": float(s_total), "b_inclusive": float(b_total),
        "z_inclusive": float(asimov_z(s_total, b_total)),
    }


def significance_metrics(frame: pd.DataFrame, ml: dict, observable: "Observable") -> dict:
    """Z curve on a uniform threshold grid, its maximum, Z at fixed thresholds, area, robustness."""
    settings = ml["metrics"]
    inputs = significance_inputs(frame, ml, observable)
    score = frame["score"].to_numpy(dtype=float)
    (pick_s, w_s), (pick_b, w_b) = inputs["signal"], inputs["background"]

    def curve(thresholds):
        return z_curve(score[pick_s], w_s, score[pick_b], w_b, thresholds, min_b=settings["min_background"])

    grid = curve(np.linspace(0.0, 1.0, settings["n_thresholds"]))
    fixed = curve(settings["thresholds"])
    at_efficiency = curve(thresholds_at_signal_efficiency(score[pick_s], w_s, settings["signal_efficiencies"]))
    best = int(np.argmax(grid["z"]))
    z_max = float(grid["z"][best])
    near = grid["z"] >= (1.0 - settings["near_max_tolerance"]) * z_max if z_max > 0 else np.zeros(len(grid["z"]), bool)
    return {
        "z_max": z_max, "threshold_at_z_max": float(grid["threshold"][best]),
        "s_at_z_max": float(grid["s"][best]), "b_at_z_max": float(grid["b"][best]),
        "z_at_threshold": {f"{t:g}": float(z) for t, z in zip(settings["thresholds"], fixed["z"])},
        "z_at_signal_efficiency": {f"{e:g}": float(z) for e, z in zip(settings["signal_efficiencies"],
                                                                        at_efficiency["z"])},
        "z_curve_area": float(np.trapezoid(grid["z"], grid["threshold"])),
        "near_max_fraction": float(near.mean()),
        "z_inclusive": inputs["z_inclusive"], "s_inclusive": inputs["s_inclusive"],
        "b_inclusive": inputs["b_inclusive"], "transfer_factor": inputs["transfer_factor"],
        "min_background": settings["min_background"],
        "z_curve": {k: grid[k].tolist() for k in ("threshold", "s", "b", "z")},
    }


def weighted_correlation(x, y, weight) -> float:
    """Weighted Pearson correlation (|w|, so a few negative MC weights cannot flip it)."""
    x, y, w = (np.asarray(a, dtype=float) for a in (x, y, weight))
    w = np.abs(w)
    if len(x) < 2 or w.sum() <= 0:
        return float("nan")
    mx, my = np.average(x, weights=w), np.average(y, weights=w)
    cov = np.average((x - mx) * (y - my), weights=w)
    var = np.average((x - mx) ** 2, weights=w) * np.average((y - my) ** 2, weights=w)
    return float(cov / np.sqrt(var)) if var > 0 else 0.0


def observable_correlation(frame: pd.DataFrame, observable: "Observable") -> dict:
    """Correlation of the score with the observable in background (test split): the sculpting check.

    ``data_sidebands``: data outside the window (the window is blinded); ``background_mc``:
    background MC over the whole range, where present. Near 0 means the score does not
    sculpt the background spectrum of the observable, which the sideband transfer and the fit
    assume. A constant score (the cutbased model) has no correlation: 0.
    """
    values = frame[observable.column].to_numpy(dtype=float)
    in_window, sidebands = data.window_masks(values, observable)
    test = (frame["split"] == "test").to_numpy()
    kind = frame["kind"].to_numpy()
    result = {}
    for name, pick in (("data_sidebands", (kind == "data") & sidebands & test),
                       ("background_mc", (kind == "background") & (in_window | sidebands) & test)):
        if pick.sum() >= 2:
            result[name] = weighted_correlation(frame["score"].to_numpy()[pick], values[pick],
                                                frame["weight"].to_numpy()[pick])
    return result


def training_definition_roc(frame: pd.DataFrame, ml: dict, observable: "Observable", split: str):
    """ROC of signal against the training background in one split, physics weights."""
    sig, bkg = data.signal_mask(frame, observable), data.background_mask(frame, ml, observable)
    pick = (sig | bkg) & (frame["split"] == split).to_numpy()
    return weighted_roc(frame["score"].to_numpy()[pick], sig[pick], frame["weight"].to_numpy()[pick])


def roc_points(bkg_eff, sig_eff) -> dict:
    """The ROC as stored in metrics.json: on ``ROC_GRID`` when the score has more distinct
    values than the grid has points, else its own points (a score with one value, like the
    cutbased model's, has the single point (1, 1) after the origin; interpolating would
    invent efficiencies no cut reaches)."""
    if len(bkg_eff) <= len(ROC_GRID):
        return {"background_efficiency": [float(x) for x in bkg_eff], "signal_efficiency": [float(x) for x in sig_eff]}
    return {"background_efficiency": ROC_GRID.tolist(), "signal_efficiency": np.interp(ROC_GRID, bkg_eff, sig_eff).tolist()}


def filter_speedup(tpr, fpr, pass_rate: float, cost_ratio: float):
    """Speedup of a chain (generate, then an expensive step such as detector simulation, then a
    selection that keeps the fraction ``pass_rate`` = r of the events) when a classifier placed
    before the expensive step passes the fraction ``tpr`` = f1 of the events that the selection
    keeps and ``fpr`` = f0 of the others; ``cost_ratio`` = t_s / t_g, the expensive step's cost
    per event over the generation's.

    Without the filter, each kept event costs (t_g + t_s) / r; with it, r f1 of the generated
    events are kept and r f1 + (1 - r) f0 go through the expensive step, so each kept event costs
    (t_g + t_s (r f1 + (1 - r) f0)) / (r f1). Their ratio, with c = t_s / t_g:

        speedup = f1 (1 + c) / (1 + c (r f1 + (1 - r) f0)),

    1 for a filter that passes everything, (1 + c) / (1 + c r) for a perfect one. Vectorised.
    """
    tpr, fpr = np.asarray(tpr, dtype=float), np.asarray(fpr, dtype=float)
    return tpr * (1.0 + cost_ratio) / (1.0 + cost_ratio * (pass_rate * tpr + (1.0 - pass_rate) * fpr))


def speedup_metrics(frame: pd.DataFrame, ml: dict, observable: "Observable") -> dict:
    """The model as a filter (``filter_speedup``) on the test split's training events: positive =
    signal, negative = the ``ml.background`` events, physics weights; f1 and f0 the efficiencies of
    score > t on the Z curve's threshold grid, r = ``ml.metrics.filter.pass_rate`` or (null) the
    signal's share of the weight; the speedup curve and its maximum."""
    settings = ml["metrics"]
    sig, bkg = data.signal_mask(frame, observable), data.background_mask(frame, ml, observable)
    test = (frame["split"] == "test").to_numpy()
    score, weight = frame["score"].to_numpy(dtype=float), frame["weight"].to_numpy(dtype=float)
    thresholds = np.linspace(0.0, 1.0, settings["n_thresholds"])
    totals, rates = [], []
    for pick in (sig & test, bkg & test):
        total = weight[pick].sum()
        totals.append(total)
        rates.append(np.clip(weight_above(score[pick], weight[pick], thresholds) / total, 0.0, 1.0))
    tpr, fpr = rates
    given = settings["filter"]["pass_rate"]
    pass_rate = totals[0] / sum(totals) if given is None else given
    cost_ratio = settings["filter"]["cost_ratio"]
    speedup = filter_speedup(tpr, fpr, pass_rate, cost_ratio)
    best = int(np.argmax(speedup))
    return {
        "cost_ratio": cost_ratio, "pass_rate": float(pass_rate),
        "pass_rate_from": "test events" if given is None else "ml.metrics.filter.pass_rate",
        "speedup_max": float(speedup[best]), "threshold_at_max": float(thresholds[best]),
        "tpr_at_max": float(tpr[best]), "fpr_at_max": float(fpr[best]),
        "curve": {"threshold": thresholds.tolist(), "tpr": tpr.tolist(), "fpr": fpr.tolist(),
                  "speedup": speedup.tolist()},
    }


def compute_metrics(frame: pd.DataFrame, ml: dict, observable: "Observable") -> dict:
    """All metrics of one model from a frame of every event with its score."""
    bkg_eff, sig_eff = training_definition_roc(frame, ml, observable, "test")
    train_bkg_eff, train_sig_eff = training_definition_roc(frame, ml, observable, "train")
    targets = ml["metrics"]["background_efficiencies"]
    rejected = ml["metrics"]["rejection_signal_efficiencies"]
    metrics = {
        "roc_auc": roc_auc(bkg_eff, sig_eff),
        "roc_auc_train": roc_auc(train_bkg_eff, train_sig_eff),
        "signal_efficiency": {f"{t:g}": float(e) for t, e in zip(targets, signal_efficiency_at(bkg_eff, sig_eff, targets))},
        "background_rejection": {f"{e:g}": float(r) for e, r in zip(
            rejected, background_rejection_at(bkg_eff, sig_eff, rejected))},
        "background": ml["background"],
        "observable": observable.column,
        "range": list(observable.range),
        "window": list(observable.window),
        "observable_correlation": observable_correlation(frame, observable),
    }
    metrics.update(significance_metrics(frame, ml, observable))
    metrics["filter"] = speedup_metrics(frame, ml, observable)
    metrics["roc_curve"] = roc_points(bkg_eff, sig_eff)
    return metrics


def confusion_matrix(truth, predicted, weight, n_classes: int) -> np.ndarray:
    """Summed ``weight`` of the events of true class i (row) predicted as class j (column)."""
    matrix = np.zeros((n_classes, n_classes))
    np.add.at(matrix, (np.asarray(truth), np.asarray(predicted)), np.asarray(weight, dtype=float))
    return matrix


def f1_scores(matrix: np.ndarray) -> np.ndarray:
    """F1 = 2 precision recall / (precision + recall) per class from a confusion matrix (0 where undefined)."""
    diagonal = np.diag(matrix)
    precision = np.divide(diagonal, matrix.sum(axis=0), out=np.zeros_like(diagonal), where=matrix.sum(axis=0) != 0)
    recall = np.divide(diagonal, matrix.sum(axis=1), out=np.zeros_like(diagonal), where=matrix.sum(axis=1) != 0)
    total = precision + recall
    return np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total != 0)


def class_metrics(frame: pd.DataFrame, ml: dict, observable: "Observable") -> dict:
    """Metrics of a multiclass model on the test split's training events (signal and the
    ``ml.background`` events) with their physics weights: the class predicted is the most
    probable (``score_<class>`` columns); confusion matrix (rows: true class, columns:
    predicted) in events, in weight and normalised per true class, accuracy (weighted, and
    balanced: the mean of the normalised diagonal), F1 per class, one-vs-rest ROC and AUC."""
    names = classes(ml)
    sig, bkg = data.signal_mask(frame, observable), data.background_mask(frame, ml, observable)
    pick = (sig | bkg) & (frame["split"] == "test").to_numpy()
    part = frame[pick]
    truth = data.class_index(part, sig[pick], ml)
    probability = part[[f"score_{name}" for name in names]].to_numpy(dtype=float)
    predicted = probability.argmax(axis=1)
    weight = part["weight"].to_numpy(dtype=float)
    counts = confusion_matrix(truth, predicted, np.ones(len(truth)), len(names))
    weighted = confusion_matrix(truth, predicted, weight, len(names))
    rows = weighted.sum(axis=1, keepdims=True)
    normalised = np.divide(weighted, rows, out=np.zeros_like(weighted), where=rows != 0)
    curves = {name: weighted_roc(probability[:, k], truth == k, weight) for k, name in enumerate(names)}
    return {
        "names": names,
        "accuracy": float(np.trace(weighted) / weighted.sum()),
        "balanced_accuracy": float(np.mean(np.diag(normalised))),
        "confusion": {"counts": counts.astype(int).tolist(), "weighted": weighted.tolist(),
                      "normalised": normalised.tolist()},
        "f1": dict(zip(names, f1_scores(weighted).tolist())),
        "roc_auc": {name: roc_auc(*curve) for name, curve in curves.items()},
        "roc_curve": {name: roc_points(*curve) for name, curve in curves.items()},
    }


def permutation_importance(predict, test_set: data.TrainingSet, ml: dict) -> dict[str, float]:
    """Drop of the test ROC AUC when one input is shuffled across events (networks).

    Event-level features one by one; object collections as a whole (their slots and mask
    together), since a single object field is not an input on its own.
    """
    rng = np.random.default_rng(ml["seed"])
    n = min(len(test_set.label), ml["metrics"]["importance_events"])
    rows = np.sort(rng.choice(len(test_set.label), n, replace=False))
    inputs = [a[rows] for a in test_set.events.inputs()]
    label, weight = test_set.label[rows], test_set.events.frame["weight"].to_numpy()[rows]

    def auc(arrays) -> float:
        return roc_auc(*weighted_roc(predict(tuple(arrays)), label, weight))

    reference = auc(inputs)
    importance = {}
    for j, name in enumerate(test_set.events.feature_names):
        shuffled = inputs[0].copy()
        shuffled[:, j] = shuffled[rng.permutation(n), j]
        importance[name] = reference - auc([shuffled, *inputs[1:]])
    if len(inputs) == 3:
        start = 0
        for prefix, size in ml["objects"].items():
            objects, mask = inputs[1].copy(), inputs[2].copy()
            perm = rng.permutation(n)
            objects[:, start:start + size] = objects[perm, start:start + size]
            mask[:, start:start + size] = mask[perm, start:start + size]
            importance[f"objects:{prefix}"] = reference - auc([inputs[0], objects, mask])
            start += size
    return {k: float(v) for k, v in importance.items()}
