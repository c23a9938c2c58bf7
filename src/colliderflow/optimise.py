"""Threshold and category optimisation on unbiased scores (``colliderflow optimise``).

Given a model's scores of every sample (the cut-based baseline is a model whose score is 1
for every selected event), this stage finds

* the signal window: the smallest interval of the observable holding a configured fraction
  of the signal MC weight (the width therefore comes from the signal model itself), or
  (``optimise.window: fitted_peak``) the peak +- ``fit.window_n_sigma`` sigma of the signal
  shape (``fit.signal_shape``) fitted to the signal MC, the window the fit reports S/B in;
* the score threshold that maximises the Asimov discovery significance
  Z = sqrt(2((s+b) ln(1+s/b) - s)) of the events in that window, with at least
  ``min_background`` expected background events so a fluctuation in a near-empty tail
  cannot win;
* up to N categories (contiguous score intervals) maximising sqrt(sum Z_i^2), each with
  at least ``min_background`` expected background, by an exact dynamic-programming search
  over the same threshold grid;
* the inclusive selection (every event of the model's input), for reference.

A multiclass model (its scores Parquet has ``score_<class>`` columns, background first:
``ml.apply``) is categorised by class instead (``optimise.multiclass``): each event goes to
the signal class with the largest class score (P(class), or the discriminant P(class) /
(P(class) + P(background))), and each class's events are split into up to N categories on
that score by the same search (s: every signal event of the class's events, so the
categories maximise the inclusive significance). selection.json lists them like any
categories (names ``<class>_cat<k>``, each with its ``class``), so the fit works unchanged;
``assign_categories`` puts events into them. The threshold and Z curve are those of
``score`` = 1 - P(background).

Only events with unbiased scores are used (``features.unbiased_splits``): the split
``optimise.split``, or with cross-training every event (each scored by the model of its fold,
which never saw it). Yields are scaled to the full dataset by the ratio of each sample's total
weight to its weight in the splits used, so s and b are full-dataset expectations. The background is either the data sidebands (outside the window, never
looking at the signal region) scaled into the window by ``sideband_transfer_factor``, or
the background MC in the window.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .analyses import Observable
from .events import empty_samples, read_table, require_finite, scale_to_full_yield
from .features import unbiased_splits
from .stats.significance import asimov_z, figure_of_merit, sideband_transfer_factor, weight_above, z_curve

log = logging.getLogger(__name__)

META_COLUMNS = ("sample", "kind", "split", "weight", "score")
CLASS_SCORE_PREFIX = "score_"  # score_<class>: P(class) of a multiclass model (ml.apply)
BACKGROUND_SCORE = "score_background"


# --------------------------------------------------------------------------- building blocks


def signal_window(mass, weight, fraction: float) -> tuple[float, float]:
    """Smallest interval [lo, hi] of the observable holding ``fraction`` of the signal weight.

    The shortest interval adapts to the (asymmetric, tailed) signal shape without a fit.
    Negative MC weights are clipped to zero here, only for finding the interval, so the
    cumulative sum is monotonic.
    """
    mass = np.asarray(mass, dtype=float)
    weight = np.clip(np.asarray(weight, dtype=float), 0.0, None)
    if mass.size == 0 or weight.sum() <= 0:
        raise ValueError("no signal MC events with positive weight to define the signal window")
    order = np.argsort(mass)
    m = mass[order]
    cum = np.concatenate([[0.0], np.cumsum(weight[order])])
    target = fraction * cum[-1]
    # for each start i, the first end j with cum[j] - cum[i] >= target (window = m[i]..m[j-1])
    ends = np.searchsorted(cum, cum[:-1] + target, side="left")
    valid = ends <= m.size
    starts = np.nonzero(valid)[0]
    widths = m[ends[valid] - 1] - m[starts]
    best = int(np.argmin(widths))
    i, j = starts[best], ends[valid][best]
    return float(m[i]), float(m[j - 1])


def peak_window(mass, weight, shape_name: str, n_sigma: float, fit_range) -> tuple[float, float]:
    """The fitted peak +- ``n_sigma`` sigma: ``shape_name`` (a signal shape of ``stats.shapes``)
    fitted to the weighted signal MC on ``fit_range``, clipped to it."""
    from .stats.fit import fit_shape
    from .stats.shapes import get_shape

    lo, hi = fit_range
    result = fit_shape(get_shape(shape_name, lo, hi), mass, weight)
    if not result.valid:
        log.warning("the %s fit to the signal MC that defines the window did not converge", shape_name)
    peak, sigma = result.values["mass"], result.values["sigma"]
    return float(max(peak - n_sigma * sigma, lo)), float(min(peak + n_sigma * sigma, hi))


def split_weights(frame: pd.DataFrame, splits: list[str]) -> pd.DataFrame:
    """The events of ``splits``, with weights scaled to full-dataset expectations
    (``events.scale_to_full_yield``); samples with no weight in the splits are left out."""
    chosen = frame["split"].isin(splits).to_numpy()
    if not chosen.any():
        raise ValueError(f"no events in splits {splits} (splits present: {sorted(frame['split'].unique())})")
    factor = scale_to_full_yield(frame, chosen)
    keep = chosen & np.isfinite(factor)
    part = frame[keep].copy()
    part["weight"] = part["weight"].to_numpy() * factor[keep]
    part.attrs["split_scale"] = {
        sample: float(f) for sample, f in zip(frame["sample"].to_numpy()[keep], factor[keep])}
    return part


def threshold_grid(score_signal, n: int) -> np.ndarray:
    """Thresholds at the quantiles of the signal score, plus 0 (the inclusive selection).

    Quantiles give steps of equal signal efficiency, so the grid is fine where the signal
    lives (typically scores near 1) and coarse where it does not.
    """
    score_signal = np.asarray(score_signal, dtype=float)
    if score_signal.size == 0:
        return np.array([0.0])
    q = np.quantile(score_signal, np.linspace(0.0, 1.0, int(n), endpoint=False))
    return np.unique(np.concatenate([[0.0], np.clip(q, 0.0, 1.0)]))


def best_categories(score_s, weight_s, score_b, weight_b, grid, n_categories: int, min_b: float,
                    fom=asimov_z) -> dict:
    """Up to ``n_categories`` contiguous score intervals (lo, hi] maximising sum Z_i^2.

    Exact dynamic programming over the threshold ``grid``: with edges e_0 < ... < e_k = top,
    best_k(j) = max_i best_{k-1}(i) + Z^2(i, j). A category with expected background below
    ``min_b`` is not allowed. Since Z^2 is convex and homogeneous in (s, b), splitting a
    category never lowers sum Z^2, so the answer is at least the best single threshold;
    fewer categories are returned when no allowed split adds significance.
    Returns edges (the last one 1.0, the top of the score range), per-category s, b, z.
    """
    grid = np.asarray(grid, dtype=float)
    g = grid.size
    # cumulative "above" yields at each edge; index g is the top (nothing above)
    s_above = np.append(weight_above(score_s, weight_s, grid), 0.0)
    b_above = np.append(weight_above(score_b, weight_b, grid), 0.0)
    s_cat = s_above[:, None] - s_above[None, :]  # [i, j]: lo = edge i, hi = edge j
    b_cat = b_above[:, None] - b_above[None, :]
    z2 = fom(s_cat, b_cat) ** 2
    allowed = (np.arange(g + 1)[:, None] < np.arange(g + 1)[None, :]) & (b_cat >= min_b) & (s_cat > 0)
    z2 = np.where(allowed, z2, -np.inf)

    best = z2.max(axis=0)  # one category ending at j, starting anywhere
    back = [z2.argmax(axis=0)]
    totals = [best[g]]
    for _ in range(1, int(n_categories)):
        candidate = best[:, None] + z2  # previous categories end at i, new one is (i, j]
        back.append(candidate.argmax(axis=0))
        best = candidate.max(axis=0)
        totals.append(best[g])
    totals = np.asarray(totals)
    if not np.isfinite(totals).any():
        return {"edges": [], "s": [], "b": [], "z": [], "combined_z": 0.0}
    # the fewest categories within a relative 1e-9 of the best total
    top = np.nanmax(np.where(np.isfinite(totals), totals, np.nan))
    k = int(np.nonzero(totals >= top * (1 - 1e-9))[0][0]) + 1
    edges_idx = [g]
    j = g
    for level in range(k - 1, -1, -1):
        i = int(back[level][j])
        edges_idx.append(i)
        j = i
    edges_idx = edges_idx[::-1]
    lo, hi = np.array(edges_idx[:-1]), np.array(edges_idx[1:])
    s = s_cat[lo, hi]
    b = b_cat[lo, hi]
    z = fom(s, b)
    edges = [float(grid[i]) if i < g else 1.0 for i in edges_idx]
    return {
        "edges": edges,
        "s": s.tolist(),
        "b": b.tolist(),
        "z": z.tolist(),
        "combined_z": float(np.sqrt(np.sum(z**2))),
    }


def class_score_columns(directory: str | Path) -> list[str]:
    """The ``score_<class>`` columns of the scores Parquet files in ``directory``: those of a
    multiclass model, background first; none for a binary model (or an empty directory, which
    ``events.read_table`` refuses)."""
    import pyarrow.parquet as pq

    files = sorted(Path(directory).glob("*.parquet"))
    names = pq.read_schema(files[0]).names if files else []
    return [name for name in names if name.startswith(CLASS_SCORE_PREFIX)]


def signal_classes(frame: pd.DataFrame) -> list[str]:
    """The signal classes of a multiclass model's scores (none for a binary model's)."""
    return [c[len(CLASS_SCORE_PREFIX):] for c in frame.columns if c.startswith(CLASS_SCORE_PREFIX)
            and c != BACKGROUND_SCORE]


def class_scores(frame: pd.DataFrame, classes: list[str], class_score: str) -> np.ndarray:
    """(events, classes) score of each signal class: P(class) (``probability``) or
    P(class) / (P(class) + P(background)) (``discriminant``; 0 where both are 0)."""
    probability = frame[[f"{CLASS_SCORE_PREFIX}{c}" for c in classes]].to_numpy(dtype=float)
    if class_score == "probability":
        return probability
    total = probability + frame[BACKGROUND_SCORE].to_numpy(dtype=float)[:, None]
    return np.divide(probability, total, out=np.zeros_like(probability), where=total > 0)


def assign_class(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the class with the largest score, that score) per event."""
    index = np.argmax(scores, axis=1)
    return index, scores[np.arange(len(scores)), index]


def assign_categories(frame: pd.DataFrame, selection: dict) -> np.ndarray:
    """Category index of each event (-1: in none), from the ``categories`` of selection.json.

    A category holds lo < score <= hi; with ``selection["multiclass"]``, the events of its
    ``class`` (``assign_class``) with lo < class score <= hi. ``frame``: the scores Parquet
    columns (``score``, and ``score_<class>`` for a multiclass selection).
    """
    multiclass = selection["multiclass"]
    if multiclass is None:
        score = frame["score"].to_numpy(dtype=float)
        in_class = {None: np.ones(len(score), dtype=bool)}
    else:
        assigned, score = assign_class(class_scores(frame, multiclass["classes"], multiclass["class_score"]))
        in_class = {name: assigned == k for k, name in enumerate(multiclass["classes"])}
    index = np.full(score.size, -1, dtype=int)
    for k, cat in enumerate(selection["categories"]):
        index[in_class[cat.get("class")] & (score > cat["lo"]) & (score <= cat["hi"]) & (index < 0)] = k
    return index


# --------------------------------------------------------------------------- the stage


def optimisation_inputs(opt: dict, observable: Observable, frame: pd.DataFrame, splits: list[str],
                        fit_settings: dict | None = None) -> dict:
    """Signal and background (score, weight) in the window, from the events of ``splits``;
    ``fit_settings`` (the ``fit`` section) give the shape and width of a ``fitted_peak`` window."""
    part = split_weights(frame, splits)
    kind = part["kind"].to_numpy()
    mass = part[observable.column].to_numpy(dtype=float)
    weight = part["weight"].to_numpy(dtype=float)
    score = part["score"].to_numpy(dtype=float)
    classes = signal_classes(part)
    by_class = class_scores(part, classes, opt["multiclass"]["class_score"]) if classes else None
    is_sig = kind == "signal"
    if not is_sig.any():
        raise ValueError(f"no signal events (kind 'signal') in splits {splits}: cannot optimise")
    if opt["window"] == "fitted_peak":
        if fit_settings is None:
            raise ValueError("optimise.window is fitted_peak: the fit settings (fit.signal_shape, fit.window_n_sigma) "
                             "must be given")
        window = peak_window(mass[is_sig], weight[is_sig], fit_settings["signal_shape"],
                             fit_settings["window_n_sigma"], observable.range)
    else:
        window = signal_window(mass[is_sig], weight[is_sig], opt["window_fraction"])
    in_window = (mass >= window[0]) & (mass <= window[1])
    out = {
        "window": window,
        "split_scale": part.attrs.get("split_scale", {}),
        "score_s": score[is_sig & in_window],
        "weight_s": weight[is_sig & in_window],
        "classes": classes,
        "class_s": None if by_class is None else by_class[is_sig & in_window],
    }
    if opt["background"] == "mc":
        is_bkg = (kind == "background") & in_window
        if not is_bkg.any():
            raise ValueError(
                "optimise.background is 'mc' but there is no background MC (kind 'background') in the "
                "window; use optimise.background: sidebands"
            )
        out.update(score_b=score[is_bkg], weight_b=weight[is_bkg], b_scale=1.0, transfer_factor=None,
                   class_b=None if by_class is None else by_class[is_bkg])
    else:
        lo, hi = observable.range
        is_data = kind == "data"
        intervals = observable.sideband_intervals(window)
        side = np.zeros(len(mass), dtype=bool)
        for a, b in intervals:
            side |= is_data & (mass >= a) & (mass < b) & ~in_window
        if not side.any():
            raise ValueError(
                f"optimise.background is 'sidebands' but there are no data events in the sidebands {intervals} "
                f"{observable.unit} of {lo}-{hi} outside the window {window[0]:.2f}-{window[1]:.2f} "
                f"{observable.unit} (observable.sideband, observable.sideband_gap)"
            )
        # The transfer factor is fitted inclusively: it assumes the sideband shape does not
        # depend on the score, which holds when the observable is not a classifier input.
        tf = sideband_transfer_factor(mass[is_data], weight[is_data], window, (lo, hi), intervals)
        out.update(score_b=score[side], weight_b=weight[side], b_scale=tf, transfer_factor=tf,
                   class_b=None if by_class is None else by_class[side])
    return out


def optimise(opt: dict, observable: Observable, scores: pd.DataFrame, model_name: str,
             simulated: bool, fit_settings: dict | None = None, *, splits: list[str]) -> dict:
    """The selection of one model: window, Z curve, best threshold, categories, inclusive Z.

    ``opt`` is the resolved ``optimise`` section; ``scores`` holds every sample of the model
    (columns as the scores Parquet); ``splits``: the splits it uses (``features.unbiased_splits``);
    ``fit_settings``, the ``fit`` section, only for
    ``optimise.window: fitted_peak``. A NaN or inf weight, observable or score is refused with
    the sample and column named.
    """
    require_finite(scores, ["weight", observable.column, "score"], f"optimise inputs of model {model_name}",
                   advice="the weight, the observable and the score must be finite: rerun the features stage "
                          "(it refuses non-finite weights and observables) and the model's apply")
    inputs = optimisation_inputs(opt, observable, scores, splits, fit_settings)
    min_b = float(opt["min_background"])
    fom_name = opt.get("figure_of_merit", "asimov")
    fom = figure_of_merit(fom_name)
    s_score, s_w = inputs["score_s"], inputs["weight_s"]
    b_score, b_w, b_scale = inputs["score_b"], inputs["weight_b"], inputs["b_scale"]

    inclusive_s = float(s_w.sum())
    inclusive_b = float(b_w.sum() * b_scale)
    inclusive = {"s": inclusive_s, "b": inclusive_b, "z": float(asimov_z(inclusive_s, inclusive_b)),
                 "fom": float(fom(inclusive_s, inclusive_b))}

    grid = threshold_grid(s_score, opt["n_thresholds"])
    curve = z_curve(s_score, s_w, b_score, b_w, grid, b_scale=b_scale, min_b=min_b, fom=fom)
    best = int(np.argmax(curve["z"]))
    threshold = {k: float(curve[k][best]) for k in ("s", "b", "z")}
    threshold["value"] = float(grid[best])
    if inputs["classes"]:
        categories, multiclass = class_categories(opt, inputs, min_b, fom), {
            "classes": inputs["classes"], "class_score": opt["multiclass"]["class_score"]}
    else:
        cats = best_categories(s_score, s_w, b_score, b_w * b_scale, grid, opt["n_categories"], min_b, fom=fom)
        categories, multiclass = named_categories(cats, ""), None
    if not categories:
        raise ValueError(
            f"no score threshold keeps at least optimise.min_background = {min_b} expected background "
            f"events (inclusive: {inclusive_b:.1f}); lower optimise.min_background"
        )
    combined_z = float(np.sqrt(sum(cat["z"] ** 2 for cat in categories)))

    log.info(
        "%s: window %.2f-%.2f %s, inclusive Z=%.3f, best threshold Z=%.3f, %d categories Z=%.3f",
        model_name, *inputs["window"], observable.unit, inclusive["z"], threshold["z"], len(categories), combined_z,
    )
    return {
        "model": model_name,
        "simulated": simulated,
        "observable": observable.column,
        "splits": list(splits),
        "split_scale": inputs["split_scale"],
        "background_source": opt["background"],
        "window": {"lo": inputs["window"][0], "hi": inputs["window"][1], **window_method(opt, fit_settings)},
        "mass_range": list(observable.range),
        "transfer_factor": inputs["transfer_factor"],
        "min_background": min_b,
        "figure_of_merit": fom_name,
        "zcurve": {k: np.asarray(curve[k]).tolist() for k in ("threshold", "s", "b", "z")},
        "threshold": threshold,
        "n_categories_requested": int(opt["n_categories"]),
        "multiclass": multiclass,
        "categories": categories,
        "combined_z": combined_z,
        "inclusive": inclusive,
    }


def named_categories(cats: dict, prefix: str) -> list[dict]:
    """The categories of ``best_categories`` as selection.json lists them, highest score first
    (it reads naturally: <prefix>cat0 is the purest)."""
    return [{"name": f"{prefix}cat{n}", "lo": cats["edges"][k], "hi": cats["edges"][k + 1], "s": cats["s"][k],
             "b": cats["b"][k], "z": cats["z"][k]} for n, k in enumerate(reversed(range(len(cats["s"]))))]


def class_categories(opt: dict, inputs: dict, min_b: float, fom) -> list[dict]:
    """The categories of a multiclass model: per signal class, up to its number of categories
    (``optimise.multiclass.n_categories``, else ``optimise.n_categories``) on the class score
    of the events assigned to the class. A class whose events reach no allowed category gets none."""
    counts = opt["multiclass"]["n_categories"]
    unknown = sorted(set(counts) - set(inputs["classes"]))
    if unknown:
        raise ValueError(f"optimise.multiclass.n_categories names {', '.join(unknown)}, not a signal class of the "
                         f"model (classes: {', '.join(inputs['classes'])}; ml.classes)")
    class_s, score_s = assign_class(inputs["class_s"])
    class_b, score_b = assign_class(inputs["class_b"])
    categories = []
    for k, name in enumerate(inputs["classes"]):
        pick_s, pick_b = class_s == k, class_b == k
        cats = best_categories(score_s[pick_s], inputs["weight_s"][pick_s], score_b[pick_b],
                               inputs["weight_b"][pick_b] * inputs["b_scale"],
                               threshold_grid(score_s[pick_s], opt["n_thresholds"]),
                               counts.get(name, opt["n_categories"]), min_b, fom=fom)
        if not cats["edges"]:
            log.warning("class %s: no category keeps optimise.min_background = %g expected background events; its "
                        "events are in no category", name, min_b)
        categories += [{**cat, "class": name} for cat in named_categories(cats, f"{name}_")]
    return categories


def window_method(opt: dict, fit_settings: dict | None) -> dict:
    """How the window was made, as selection.json records it."""
    if opt["window"] == "fitted_peak":
        return {"n_sigma": fit_settings["window_n_sigma"],
                "method": f"fitted peak +- n_sigma sigma of {fit_settings['signal_shape']} fitted to the signal MC"}
    return {"fraction": opt["window_fraction"],
            "method": "smallest interval of the observable holding the fraction of the signal MC weight"}


def plot_zcurve(selection: dict, out: str | Path, lumi_fb: float | None = None) -> None:
    """Z versus threshold (top) and s, b (bottom), with the chosen threshold and categories."""
    import matplotlib.pyplot as plt

    from .plotting import experiment_label, save, use_style

    use_style()
    zc = selection["zcurve"]
    fig, (ax, rax) = plt.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]}, figsize=(8, 8))
    t = np.asarray(zc["threshold"])
    fom = {"asimov": "Asimov Z", "s_over_sqrt_s_plus_b": "S/sqrt(S+B)",
           "s_over_sqrt_b": "S/sqrt(B)"}.get(selection.get("figure_of_merit", "asimov"), "FOM")
    inclusive = selection["inclusive"].get("fom", selection["inclusive"]["z"])
    # markers at the scanned thresholds (quantiles of the signal score: dense where the signal is)
    ax.plot(t, zc["z"], ".-", color="tab:blue", markersize=3, label=f"{fom}, score > threshold")
    ax.axhline(inclusive, color="grey", ls="--", label=f"inclusive {fom} = {inclusive:.2f}")
    ax.axvline(selection["threshold"]["value"], color="tab:red", ls=":",
               label=f"best threshold {selection['threshold']['value']:.3f}, Z = {selection['threshold']['z']:.2f}")
    if selection["multiclass"] is None:  # a multiclass model's boundaries are on its class scores, not on this axis
        for cat in selection["categories"]:
            ax.axvline(cat["lo"], color="tab:green", lw=1, alpha=0.7)
    classes = "" if selection["multiclass"] is None else f" of {len(selection['multiclass']['classes'])} classes"
    ax.plot([], [], color="tab:green", lw=1,
            label=f"{len(selection['categories'])} categories{classes}, combined Z = {selection['combined_z']:.2f}")
    ax.set_ylabel(f"Expected {fom}")
    ax.set_ylim(0, max(np.max(zc["z"]), selection["combined_z"]) * 1.5 + 1e-9)
    ax.legend(loc="upper left", fontsize="small")
    experiment_label(ax, selection["simulated"], lumi_fb)
    rax.plot(t, zc["s"], color="tab:red", label="s (window)")
    rax.plot(t, zc["b"], color="tab:blue", label="b (window)")
    rax.axhline(selection["min_background"], color="grey", ls=":", lw=1, label="min b")
    rax.set_yscale("log")
    # a threshold with no background estimate left (b = 0) would stretch the log axis to nothing
    positive = [v for v in (*zc["s"], *zc["b"]) if v > 0]
    if positive:
        rax.set_ylim(bottom=0.3 * min(positive))
    rax.set_ylabel("Events")
    rax.set_xlabel(f"{selection['model']} score threshold")
    rax.legend(loc="lower left", fontsize="x-small")
    save(fig, out)


# --------------------------------------------------------------------------- CLI


def register(sub) -> None:
    from . import config

    parser = sub.add_parser("optimise")
    config.add_arguments(parser)
    parser.add_argument("--model", required=True, help="model name (a key of ml.models)")
    parser.add_argument("--scores", required=True, help="directory holding the model's <sample>.parquet scores")
    parser.add_argument("--out", required=True, help="selection.json to write")
    parser.add_argument("--plot", help="Z-curve figure to write (png/pdf)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from . import analyses, config
    from .io import write_json

    cfg = config.load(args.configfile, args.settings)
    observable = analyses.get(cfg["analysis"]).observable(cfg)
    frame, files = read_table(args.scores, columns=[*META_COLUMNS, observable.column,
                                                    *class_score_columns(args.scores)])
    empty = empty_samples(frame, cfg["samples"])  # read_table has warned about each
    data_samples = [name for name, spec in cfg["samples"].items() if spec["kind"] == "data"]
    if cfg["optimise"]["background"] == "sidebands" and data_samples and set(data_samples) <= set(empty):
        raise ValueError(f"data sample(s) {', '.join(data_samples)} have no events after the selection, and "
                         "optimise.background 'sidebands' takes the background from data: check the data files "
                         "and the selection (the cutflow table shows where the events go)")
    splits = unbiased_splits(cfg["features"], [cfg["optimise"]["split"]])
    selection = optimise(cfg["optimise"], observable, frame, args.model, cfg["dataset"]["simulated"], cfg["fit"],
                         splits=splits)
    write_json(args.out, selection, cfg, inputs=files)
    if args.plot:
        plot_zcurve(selection, args.plot, cfg["lumi_fb"])
    return 0
