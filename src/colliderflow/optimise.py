"""Threshold and category optimisation on the validation split (``colliderflow optimise``).

Given the classifier scores of every sample (or, for the cut-based baseline, the features
with no score), this stage finds

* the signal window: the smallest m_yy interval holding a configured fraction of the
  signal MC weight (the width therefore comes from the signal model itself);
* the score threshold that maximises the Asimov discovery significance
  Z = sqrt(2((s+b) ln(1+s/b) - s)) of the events in that window, with at least
  ``min_background`` expected background events so a fluctuation in a near-empty tail
  cannot win;
* up to N categories (contiguous score intervals) maximising sqrt(sum Z_i^2), each with
  at least ``min_background`` expected background, by an exact dynamic-programming search
  over the same threshold grid;
* the inclusive (cut-based) selection, always, as the baseline.

Only the validation split is used; yields are scaled to the full dataset by the ratio of
each sample's total weight to its validation weight, so s and b are full-dataset
expectations. The background is either the data sidebands (outside the window, never
looking at the signal region) scaled into the window by ``sideband_transfer_factor``, or
the background MC in the window.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from . import config
from .io import write_json
from .stats.settings import fit_settings
from .stats.significance import asimov_z, sideband_transfer_factor, z_curve

log = logging.getLogger(__name__)

CUTBASED = "cutbased"

REQUIRED_COLUMNS = ("sample", "kind", "split", "weight", "m_yy")


def settings(cfg: dict) -> dict:
    """The ``optimise`` section (validated, defaults filled), plus ``mass_range``: the fit range
    ``fit.range`` (one definition of the m_yy range for sidebands and fits)."""
    section = config.section(cfg, "optimise")
    section["mass_range"] = list(fit_settings(cfg)["range"])
    if section["background"] not in ("sidebands", "mc"):
        raise ValueError(f"optimise.background must be 'sidebands' or 'mc', not {section['background']!r}")
    if not 0.0 < section["window_fraction"] < 1.0:
        raise ValueError(f"optimise.window_fraction must be in (0, 1), not {section['window_fraction']}")
    if int(section["n_categories"]) < 1:
        raise ValueError("optimise.n_categories must be at least 1")
    return section


# --------------------------------------------------------------------------- building blocks


def signal_window(mass, weight, fraction: float) -> tuple[float, float]:
    """Smallest m_yy interval [lo, hi] holding ``fraction`` of the signal weight.

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


def split_weights(frame: pd.DataFrame, split: str) -> pd.DataFrame:
    """The events of ``split``, with weights scaled to full-dataset expectations.

    Each sample's weight is multiplied by (total weight) / (weight in the split), so the
    split's yields are those expected in the whole dataset; for data (weight 1) this is the
    ratio of event counts. Samples with no weight in the split are dropped with a warning.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise KeyError(f"scores/features table lacks column(s) {missing}; rerun the stage that writes it")
    if not (frame["split"] == split).any():
        raise ValueError(f"no events in split {split!r} (splits present: {sorted(frame['split'].unique())})")
    total = frame.groupby("sample")["weight"].sum()
    part = frame[frame["split"] == split]
    in_split = part.groupby("sample")["weight"].sum()
    scale = (total / in_split).reindex(total.index)
    bad = scale[~np.isfinite(scale) | (scale <= 0)].index.tolist()
    if bad:
        log.warning("samples %s have no usable weight in split %r and are left out", bad, split)
        part = part[~part["sample"].isin(bad)]
    part = part.copy()
    part["weight"] = part["weight"] * part["sample"].map(scale).to_numpy()
    part.attrs["split_scale"] = {k: float(v) for k, v in scale.items() if k not in bad}
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


def _weight_above(score, weight, thresholds) -> np.ndarray:
    """Sum of weights with score > t, for each t (one sort, one cumulative sum)."""
    score = np.asarray(score, dtype=float)
    order = np.argsort(score)
    cum = np.concatenate([[0.0], np.cumsum(np.asarray(weight, dtype=float)[order])])
    return cum[-1] - cum[np.searchsorted(score[order], thresholds, side="right")]


def best_categories(score_s, weight_s, score_b, weight_b, grid, n_categories: int, min_b: float) -> dict:
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
    s_above = np.append(_weight_above(score_s, weight_s, grid), 0.0)
    b_above = np.append(_weight_above(score_b, weight_b, grid), 0.0)
    s_cat = s_above[:, None] - s_above[None, :]  # [i, j]: lo = edge i, hi = edge j
    b_cat = b_above[:, None] - b_above[None, :]
    z2 = asimov_z(s_cat, b_cat) ** 2
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
    z = asimov_z(s, b)
    edges = [float(grid[i]) if i < g else 1.0 for i in edges_idx]
    return {
        "edges": edges,
        "s": s.tolist(),
        "b": b.tolist(),
        "z": z.tolist(),
        "combined_z": float(np.sqrt(np.sum(z**2))),
    }


def assign_categories(score, categories: list[dict]) -> np.ndarray:
    """Category index of each event (-1: in none), from the ``categories`` of selection.json.

    A category holds lo < score <= hi; ``lo``/``hi`` null means unbounded (the cut-based
    baseline's single inclusive category has both null).
    """
    score = np.asarray(score, dtype=float) if score is not None else None
    n = score.size if score is not None else 0
    index = np.full(n, -1, dtype=int)
    for k, cat in enumerate(categories):
        lo = -np.inf if cat.get("lo") is None else cat["lo"]
        hi = np.inf if cat.get("hi") is None else cat["hi"]
        index[(score > lo) & (score <= hi) & (index < 0)] = k
    return index


# --------------------------------------------------------------------------- the stage


def optimisation_inputs(cfg: dict, frame: pd.DataFrame) -> dict:
    """Signal and background (score, weight) in the window, from the optimisation split."""
    opt = settings(cfg)
    part = split_weights(frame, opt["split"])
    kind = part["kind"].to_numpy()
    mass = part["m_yy"].to_numpy(dtype=float)
    weight = part["weight"].to_numpy(dtype=float)
    score = part["score"].to_numpy(dtype=float) if "score" in part else np.ones(len(part))
    is_sig = kind == "signal"
    if not is_sig.any():
        raise ValueError(f"no signal events (kind 'signal') in split {opt['split']!r}: cannot optimise")
    window = signal_window(mass[is_sig], weight[is_sig], opt["window_fraction"])
    in_window = (mass >= window[0]) & (mass <= window[1])
    out = {
        "settings": opt,
        "window": window,
        "split_scale": part.attrs.get("split_scale", {}),
        "score_s": score[is_sig & in_window],
        "weight_s": weight[is_sig & in_window],
    }
    if opt["background"] == "mc":
        is_bkg = (kind == "background") & in_window
        if not is_bkg.any():
            raise ValueError(
                "optimise.background is 'mc' but there is no background MC (kind 'background') in the "
                "window; use optimise.background: sidebands"
            )
        out.update(score_b=score[is_bkg], weight_b=weight[is_bkg], b_scale=1.0, transfer_factor=None)
    else:
        lo, hi = opt["mass_range"]
        is_data = kind == "data"
        side = is_data & ~in_window & (mass >= lo) & (mass < hi)
        if not side.any():
            raise ValueError(
                f"optimise.background is 'sidebands' but there are no data events in the sidebands of "
                f"{lo}-{hi} GeV outside the window {window[0]:.2f}-{window[1]:.2f} GeV"
            )
        # The transfer factor is fitted inclusively: it assumes the sideband shape does not
        # depend on the score, which holds when m_yy is not a classifier input.
        tf = sideband_transfer_factor(mass[is_data], weight[is_data], window, (lo, hi))
        out.update(score_b=score[side], weight_b=weight[side], b_scale=tf, transfer_factor=tf)
    return out


def optimise(cfg: dict, scores: pd.DataFrame, model_name: str) -> dict:
    """The selection of one model: window, Z curve, best threshold, categories, baseline.

    ``scores`` holds every sample of the model (columns as the scores Parquet); without a
    ``score`` column (the cut-based baseline) there is one inclusive category.
    """
    inputs = optimisation_inputs(cfg, scores)
    opt = inputs["settings"]
    min_b = float(opt["min_background"])
    s_score, s_w = inputs["score_s"], inputs["weight_s"]
    b_score, b_w, b_scale = inputs["score_b"], inputs["weight_b"], inputs["b_scale"]

    baseline_s = float(s_w.sum())
    baseline_b = float(b_w.sum() * b_scale)
    baseline = {"s": baseline_s, "b": baseline_b, "z": float(asimov_z(baseline_s, baseline_b))}
    has_score = model_name != CUTBASED and "score" in scores.columns

    if has_score:
        grid = threshold_grid(s_score, opt["n_thresholds"])
        curve = z_curve(s_score, s_w, b_score, b_w, grid, b_scale=b_scale, min_b=min_b)
        best = int(np.argmax(curve["z"]))
        threshold = {k: float(curve[k][best]) for k in ("s", "b", "z")}
        threshold["value"] = float(grid[best])
        cats = best_categories(s_score, s_w, b_score, b_w * b_scale, grid, opt["n_categories"], min_b)
        if not cats["edges"]:
            raise ValueError(
                f"no score threshold keeps at least optimise.min_background = {min_b} expected background "
                f"events (inclusive: {baseline_b:.1f}); lower optimise.min_background"
            )
        categories = [
            {"name": f"cat{k}", "lo": cats["edges"][k], "hi": cats["edges"][k + 1], "s": cats["s"][k],
             "b": cats["b"][k], "z": cats["z"][k]}
            for k in range(len(cats["s"]))
        ]
        # highest score first reads naturally: cat0 is the purest
        categories = categories[::-1]
        for k, cat in enumerate(categories):
            cat["name"] = f"cat{k}"
        combined = cats["combined_z"]
        zc = {k: np.asarray(curve[k]).tolist() for k in ("threshold", "s", "b", "z")}
    else:
        threshold = {"value": None, **baseline}
        categories = [{"name": "inclusive", "lo": None, "hi": None, **baseline}]
        combined = baseline["z"]
        zc = {"threshold": [0.0], "s": [baseline_s], "b": [baseline_b], "z": [baseline["z"]]}

    log.info(
        "%s: window %.2f-%.2f GeV, baseline Z=%.3f, best threshold Z=%.3f, %d categories Z=%.3f",
        model_name, *inputs["window"], baseline["z"], threshold["z"], len(categories), combined,
    )
    return {
        "model": model_name,
        "simulated": bool(cfg.get("dataset", {}).get("simulated", False)),
        "split": opt["split"],
        "split_scale": inputs["split_scale"],
        "background_source": opt["background"],
        "window": {"lo": inputs["window"][0], "hi": inputs["window"][1], "fraction": opt["window_fraction"],
                   "method": "smallest m_yy interval holding the fraction of the signal MC weight"},
        "mass_range": list(opt["mass_range"]),
        "transfer_factor": inputs["transfer_factor"],
        "min_background": min_b,
        "zcurve": zc,
        "threshold": threshold,
        "n_categories_requested": int(opt["n_categories"]) if has_score else 1,
        "categories": categories,
        "combined_z": float(combined),
        "baseline": baseline,
    }


def plot_zcurve(selection: dict, out: str | Path, lumi_fb: float | None = None) -> None:
    """Z versus threshold (top) and s, b (bottom), with the chosen threshold and categories."""
    import matplotlib.pyplot as plt

    from .plotting import experiment_label, save, use_style

    use_style()
    zc = selection["zcurve"]
    fig, (ax, rax) = plt.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]}, figsize=(8, 8))
    t = np.asarray(zc["threshold"])
    ax.plot(t, zc["z"], "-", color="tab:blue", label="Asimov Z, score > threshold")
    ax.axhline(selection["baseline"]["z"], color="grey", ls="--", label=f"inclusive (cut-based) Z = {selection['baseline']['z']:.2f}")
    if selection["threshold"]["value"] is not None:
        ax.axvline(selection["threshold"]["value"], color="tab:red", ls=":",
                   label=f"best threshold {selection['threshold']['value']:.3f}, Z = {selection['threshold']['z']:.2f}")
    for cat in selection["categories"]:
        if cat["lo"] is not None:
            ax.axvline(cat["lo"], color="tab:green", lw=1, alpha=0.7)
    ax.plot([], [], color="tab:green", lw=1,
            label=f"{len(selection['categories'])} categories, combined Z = {selection['combined_z']:.2f}")
    ax.set_ylabel("Expected Z")
    ax.set_ylim(0, max(np.max(zc["z"]), selection["combined_z"]) * 1.5 + 1e-9)
    ax.legend(loc="upper left", fontsize="small")
    experiment_label(ax, selection["simulated"], lumi_fb)
    rax.plot(t, zc["s"], color="tab:red", label="s (window)")
    rax.plot(t, zc["b"], color="tab:blue", label="b (window)")
    rax.axhline(selection["min_background"], color="grey", ls=":", lw=1, label="min b")
    rax.set_yscale("log")
    rax.set_ylabel("Events")
    rax.set_xlabel(f"{selection['model']} score threshold")
    rax.legend(loc="lower left", fontsize="x-small")
    save(fig, out)


# --------------------------------------------------------------------------- CLI


def read_table(directory: str | Path, columns=None) -> pd.DataFrame:
    """All ``<sample>.parquet`` files of a directory as one table."""
    directory = Path(directory)
    files = sorted(directory.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no <sample>.parquet files in {directory}; run the stage that writes them first")
    return pd.concat([pd.read_parquet(f, columns=columns) for f in files], ignore_index=True), files


def register(sub) -> None:
    from .cli import add_config_arguments

    parser = sub.add_parser("optimise", help="score threshold and categories maximising the expected Z (validation split)")
    add_config_arguments(parser)
    parser.add_argument("--model", required=True, help=f"model name; '{CUTBASED}' for the inclusive baseline")
    parser.add_argument("--scores", help="directory holding the model's <sample>.parquet scores")
    parser.add_argument("--features", help=f"directory of features <sample>.parquet (only with --model {CUTBASED})")
    parser.add_argument("--out", required=True, help="selection.json to write")
    parser.add_argument("--plot", help="Z-curve figure to write (png/pdf)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from . import config

    cfg = config.load(args.configfile, args.settings)
    if args.model == CUTBASED:
        if not args.features:
            raise ValueError(f"--model {CUTBASED} needs --features DIR (the features Parquet files)")
        frame, files = read_table(args.features, columns=list(REQUIRED_COLUMNS))
    else:
        if not args.scores:
            raise ValueError(f"--model {args.model} needs --scores DIR (the model's scores Parquet files)")
        frame, files = read_table(args.scores, columns=list(REQUIRED_COLUMNS) + ["score"])
    selection = optimise(cfg, frame, args.model)
    write_json(args.out, selection, cfg, inputs=files)
    if args.plot:
        plot_zcurve(selection, args.plot, cfg.get("lumi_fb"))
    return 0
