"""Metrics of a trained classifier: ROC, signal efficiencies, significance curve, mass sculpting.

Everything is evaluated on the test split, with the physics weights, and scaled to the full
expected yields (each sample's test events weighted up by total / test in the same region):

* s(t): signal MC in the mass window with score > t;
* b(t): ``ml.background = sidebands``: data in the sidebands with score > t times the transfer
  factor window/sidebands of an exponential fitted to all data sidebands (valid when the
  score does not sculpt the mass, which ``mass_correlation`` checks); ``mc``: background MC
  in the window with score > t.

Z(t) is the Asimov significance; thresholds where b < ``ml.metrics.min_background`` give 0.
The cut-based baseline is the same count with no score cut (``z_inclusive``).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..stats.significance import asimov_z, sideband_transfer_factor, z_curve
from . import data

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
    """Signal efficiency at given background efficiencies (linear interpolation on the ROC)."""
    return np.interp(targets, bkg_eff, sig_eff)


def _scale_to_total(frame: pd.DataFrame, region: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Per-event factor sum_w(sample, region) / sum_w(sample, region, test): test -> full yield."""
    weight = frame["weight"].to_numpy(dtype=float)
    sample = frame["sample"].to_numpy()
    total = pd.Series(np.where(region, weight, 0.0)).groupby(sample).sum()
    in_test = pd.Series(np.where(region & test, weight, 0.0)).groupby(sample).sum()
    ratio = (total / in_test.where(in_test != 0)).fillna(0.0)
    return ratio.reindex(sample).to_numpy()


def significance_inputs(frame: pd.DataFrame, ml: dict) -> dict:
    """Test-split signal and background (score, expected-yield weight) in the window, and the baseline.

    ``frame`` needs columns sample, kind, split, weight, the mass and (for the curve) score.
    """
    mass = frame[ml["mass_column"]].to_numpy(dtype=float)
    weight = frame["weight"].to_numpy(dtype=float)
    kind = frame["kind"].to_numpy()
    test = (frame["split"] == "test").to_numpy()
    in_window, sidebands = data.window_masks(mass, ml)
    sig_region = (kind == "signal") & in_window
    if ml["background"] == "sidebands":
        data_events = kind == "data"
        if not (data_events & sidebands).any():
            raise ValueError("ml.background is 'sidebands' but there are no data events in the sidebands")
        transfer = sideband_transfer_factor(mass[data_events], weight[data_events], ml["mass_window"], ml["fit_range"])
        bkg_region = data_events & sidebands
    else:
        transfer = 1.0
        bkg_region = (kind == "background") & in_window
        if not bkg_region.any():
            raise ValueError("ml.background is 'mc' but there are no background MC events in the mass window")
    if not sig_region.any():
        raise ValueError("no signal MC events in the mass window")
    scale_s = _scale_to_total(frame, sig_region, test)
    scale_b = _scale_to_total(frame, bkg_region, test) * transfer
    s_total = weight[sig_region].sum()
    b_total = weight[bkg_region].sum() * transfer
    pick_s, pick_b = sig_region & test, bkg_region & test
    return {
        "signal": (pick_s, weight[pick_s] * scale_s[pick_s]),
        "background": (pick_b, weight[pick_b] * scale_b[pick_b]),
        "transfer_factor": float(transfer) if ml["background"] == "sidebands" else None,
        "s_inclusive": float(s_total), "b_inclusive": float(b_total),
        "z_inclusive": float(asimov_z(s_total, b_total)),
    }


def significance_metrics(frame: pd.DataFrame, ml: dict) -> dict:
    """Z curve on a uniform threshold grid, its maximum, Z at fixed thresholds, area, robustness."""
    settings = ml["metrics"]
    inputs = significance_inputs(frame, ml)
    score = frame["score"].to_numpy(dtype=float)
    (pick_s, w_s), (pick_b, w_b) = inputs["signal"], inputs["background"]

    def curve(thresholds):
        return z_curve(score[pick_s], w_s, score[pick_b], w_b, thresholds, min_b=settings["min_background"])

    grid = curve(np.linspace(0.0, 1.0, settings["n_thresholds"]))
    fixed = curve(settings["thresholds"])
    best = int(np.argmax(grid["z"]))
    z_max = float(grid["z"][best])
    near = grid["z"] >= (1.0 - settings["near_max_tolerance"]) * z_max if z_max > 0 else np.zeros(len(grid["z"]), bool)
    return {
        "z_max": z_max, "threshold_at_z_max": float(grid["threshold"][best]),
        "s_at_z_max": float(grid["s"][best]), "b_at_z_max": float(grid["b"][best]),
        "z_at_threshold": {f"{t:g}": float(z) for t, z in zip(settings["thresholds"], fixed["z"])},
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


def mass_correlation(frame: pd.DataFrame, ml: dict) -> dict:
    """Correlation of the score with the mass in background (test split): the sculpting check.

    ``data_sidebands``: data outside the window (the window is blinded); ``background_mc``:
    background MC over the whole fit range, where present. Near 0 means the score does not
    sculpt the background mass spectrum, which the sideband transfer and the fit assume.
    """
    mass = frame[ml["mass_column"]].to_numpy(dtype=float)
    in_window, sidebands = data.window_masks(mass, ml)
    test = (frame["split"] == "test").to_numpy()
    kind = frame["kind"].to_numpy()
    result = {}
    for name, pick in (("data_sidebands", (kind == "data") & sidebands & test),
                       ("background_mc", (kind == "background") & (in_window | sidebands) & test)):
        if pick.sum() >= 2:
            result[name] = weighted_correlation(frame["score"].to_numpy()[pick], mass[pick],
                                                frame["weight"].to_numpy()[pick])
    return result


def training_definition_roc(frame: pd.DataFrame, ml: dict, split: str):
    """ROC of signal against the training background in one split, physics weights."""
    sig, bkg = data.signal_mask(frame, ml), data.background_mask(frame, ml)
    pick = (sig | bkg) & (frame["split"] == split).to_numpy()
    return weighted_roc(frame["score"].to_numpy()[pick], sig[pick], frame["weight"].to_numpy()[pick])


def compute_metrics(frame: pd.DataFrame, ml: dict) -> dict:
    """All metrics of one model from a frame of every event with its score."""
    bkg_eff, sig_eff = training_definition_roc(frame, ml, "test")
    train_bkg_eff, train_sig_eff = training_definition_roc(frame, ml, "train")
    targets = ml["metrics"]["background_efficiencies"]
    metrics = {
        "roc_auc": roc_auc(bkg_eff, sig_eff),
        "roc_auc_train": roc_auc(train_bkg_eff, train_sig_eff),
        "signal_efficiency": {f"{t:g}": float(e) for t, e in zip(targets, signal_efficiency_at(bkg_eff, sig_eff, targets))},
        "background": ml["background"],
        "mass_window": list(ml["mass_window"]),
        "mass_correlation": mass_correlation(frame, ml),
    }
    metrics.update(significance_metrics(frame, ml))
    metrics["roc_curve"] = {"background_efficiency": ROC_GRID.tolist(),
                            "signal_efficiency": np.interp(ROC_GRID, bkg_eff, sig_eff).tolist()}
    return metrics


def permutation_importance(predictor, test_set: data.TrainingSet, ml: dict) -> dict[str, float]:
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
        return roc_auc(*weighted_roc(predictor.predict(tuple(arrays)), label, weight))

    reference = auc(inputs)
    importance = {}
    for j, name in enumerate(data.check_features(ml)):
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
