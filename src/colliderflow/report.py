"""``colliderflow summary`` and ``colliderflow plot-spectrum``: what a reader of the analysis sees.

The summary holds the headline numbers of the run, one row per model (the baseline, by
default the cut-based selection, included), as ``summary.json``, a Markdown table
``summary.md`` and a table printed at the end. The spectrum plot shows the observable in
data with the signal MC stacked by process on a smooth background.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from .io import read_json

log = logging.getLogger(__name__)

FILES = ("fit.json", "significance.json", "limits.json", "signal_model.json", "background_model.json")


def _pull(value, truth, errors68, error):
    """(value - truth) / sigma, with the asymmetric 68% error on the side of the truth if known."""
    sigma = error
    if errors68 and errors68[0] is not None and errors68[1] is not None:
        sigma = -errors68[0] if truth < value else errors68[1]
    return float((value - truth) / sigma) if sigma and sigma > 0 else float("nan")


def _ratio(numerator, denominator):
    return float(numerator / denominator) if denominator and denominator > 0 else None


def selection_table(summary: dict) -> str:
    """Per model: the figure of merit the threshold maximises, before the cut and at its optimum,
    S, B and S/B in the optimisation window before (inclusive) and after the threshold, and the
    figure of merit's curve; empty without optimisation."""
    rows = [(name, r["optimisation"]) for name, r in summary["models"].items() if r.get("optimisation")]
    if not rows:
        return ""
    lines = ["| model | figure of merit: before -> optimum (threshold) | window | S, B before -> after the cut | "
             "S/B before -> after | curve |", "|---|---|---|---|---|---|"]
    for name, o in rows:
        lines.append(f"| {name} | {o['figure_of_merit']}: {_fmt(o['inclusive_fom'])} -> {_fmt(o['threshold_z'])} "
                     f"({_fmt(o['threshold'], '.4g')}) | {o['window'][0]:.5g}-{o['window'][1]:.5g} | "
                     f"{_fmt(o['s_inclusive'], '.4g')}, {_fmt(o['b_inclusive'], '.4g')} -> "
                     f"{_fmt(o['s_threshold'], '.4g')}, {_fmt(o['b_threshold'], '.4g')} | "
                     f"{_fmt(o['s_over_b_inclusive'], '.3g')} -> {_fmt(o['s_over_b_threshold'], '.3g')} | "
                     f"{o['curve']} |")
    return "\n".join(lines)


def peak_table(summary: dict) -> str:
    """Per model and category, what the fit says of the peak: the width (against the truth
    where simulated), the fitted signal (against the truth), S, B and S/B in the window of
    fit.window_n_sigma widths around the fitted peak, and chi2/ndf of the binned projection."""
    truth = summary.get("truth") or {}
    lines = ["| model | category | sigma | N_S fitted | N_S truth | window | S, B in window | S/B | chi2/ndf (p) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in sorted(summary["models"], key=lambda n: (n != summary.get("baseline"), n)):
        r = summary["models"][name]
        if not r["fitted"]:
            continue
        for c in r["categories"]:
            sigma, w, gof = c["sigma"], c["window"], c["gof"]
            sigma_txt = f"{sigma['value']:.3g} ± {sigma['error']:.2g}" if sigma["error"] else f"{sigma['value']:.3g} (MC)"
            lines.append(
                f"| {name} | {c['name']} | {sigma_txt}{' (truth %g)' % truth['width'] if 'width' in truth else ''} | "
                f"{c['signal_fitted']:.1f} | {_fmt(c.get('signal_truth'), '.1f')} | "
                f"{w['lo']:.5g}-{w['hi']:.5g} (±{w['n_sigma']:g} sigma) | {w['signal']:.1f}, {w['background']:.1f} | "
                f"{_fmt(w['s_over_b'], '.3g')} | {gof['chi2']:.1f}/{gof['ndf']} ({_fmt(gof['p_value'], '.2g')}) |")
    return "\n".join(lines) if len(lines) > 2 else ""


def sweights_check(path: Path, signal_fitted: float | None) -> dict:
    """The sums of a model's sWeights (they must equal the fitted yields) and their event count."""
    import pandas as pd

    table = pd.read_parquet(path, columns=["sweight_signal", "sweight_background"])
    return {"file": str(path), "n_events": int(len(table)), "sum_signal": float(table["sweight_signal"].sum()),
            "sum_background": float(table["sweight_background"].sum()), "signal_fitted": signal_fitted}


def model_summary(directory: Path, optimise_dir: Path | None, truth: dict | None, max_pull: float) -> dict:
    name = directory.name
    missing = [f for f in FILES if not (directory / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{directory} lacks {missing}; run the fit stage for model {name!r} first")
    fit = read_json(directory / "fit.json")
    sig = read_json(directory / "significance.json")
    lim = read_json(directory / "limits.json")
    smod = read_json(directory / "signal_model.json")
    bmod = read_json(directory / "background_model.json")
    row = {
        "n_categories": len(smod["categories"]),
        "categories": [
            {"name": s["name"], "signal_expected": s["yield"], "sigma_68": s.get("sigma_68"),
             "background_function": b["choice"], "spurious_signal": b["spurious_signal"],
             "spurious_test_passed": b["passed"], **fit["categories"].get(s["name"], {})}
            for s, b in zip(smod["categories"], bmod["categories"])
        ],
        "splits": fit.get("splits"),
        "data_fraction": fit.get("data_fraction"),
        "lumi_fb_fitted": fit.get("lumi_fb_fitted"),
        "signal_expected": smod["total_yield"],
        "fitted": fit["fitted"],
        "n_data": fit["n_data"],
        "not_fitted_reason": fit.get("reason"),
        "mu": fit.get("mu"),
        "mass": fit.get("mass"),
        "mass_floating": fit.get("mass_floating"),
        "gof": fit.get("gof"),
        "Z_observed": sig["Z_observed"],
        "Z_expected": sig["Z_expected"],
        "p0": sig["p0"],
        "binned": {
            "cls_mu1": lim.get("cls_obs"),
            "cls_mu1_expected": (lim.get("cls_exp") or [None] * 5)[2],
            "poi_value": lim.get("poi_value"),
            "upper_limit_observed": lim.get("upper_limit", {}).get("observed"),
            "upper_limit_expected": lim.get("upper_limit", {}).get("expected"),
            "cl": lim.get("cl"),
            "p0": lim.get("discovery", {}).get("p0"),
            "Z_observed": lim.get("discovery", {}).get("Z"),
            "Z_expected": lim.get("discovery", {}).get("Z_expected"),
        },
    }
    if fit["fitted"]:
        row["signal_fitted"] = float(sum(c["signal_fitted"] for c in fit["categories"].values()))
        row["width_scale"] = fit.get("width_scale")
        per_mode = fit.get("per_mode")
        row["per_mode"] = {k: per_mode[k] for k in ("modes", "correlation", "note")} if per_mode else None
    if (directory / "sweights.parquet").is_file():
        row["sweights"] = sweights_check(directory / "sweights.parquet", row.get("signal_fitted"))
    if optimise_dir is not None and (optimise_dir / name / "selection.json").is_file():
        sel = read_json(optimise_dir / name / "selection.json")
        row["optimisation"] = {"splits": sel["splits"], "combined_z": sel["combined_z"],
                               "threshold_z": sel["threshold"]["z"], "inclusive_z": sel["inclusive"]["z"],
                               "inclusive_fom": sel["inclusive"]["fom"],
                               "window": [sel["window"]["lo"], sel["window"]["hi"]],
                               "window_method": sel["window"]["method"],
                               "figure_of_merit": sel["figure_of_merit"],
                               "threshold": sel["threshold"]["value"],
                               "s_inclusive": sel["inclusive"]["s"], "b_inclusive": sel["inclusive"]["b"],
                               "s_threshold": sel["threshold"]["s"], "b_threshold": sel["threshold"]["b"],
                               "s_over_b_inclusive": _ratio(sel["inclusive"]["s"], sel["inclusive"]["b"]),
                               "s_over_b_threshold": _ratio(sel["threshold"]["s"], sel["threshold"]["b"]),
                               "curve": str(optimise_dir / name / "zcurve.png")}
    if truth is not None:
        # the true signal after this model's selection: mu_true times the MC's expectation (Simulation.truth)
        row["signal_truth"] = float(truth["mu"] * row["signal_expected"])
        for cat in row["categories"]:
            cat["signal_truth"] = float(truth["mu"] * cat["signal_expected"])
    if truth is not None and fit["fitted"]:
        mu_pull = _pull(fit["mu"]["value"], truth["mu"], fit["mu"].get("errors68"), fit["mu"]["error"])
        mass_pull = _pull(fit["mass"]["value"], truth["mass"], fit["mass"].get("errors68"), fit["mass"]["error"])
        row["pulls"] = {"mu": mu_pull, "mass": mass_pull}
        row["closure"] = {
            "max_pull": max_pull,
            "mu_consistent": bool(abs(mu_pull) <= max_pull),
            "mass_consistent": bool(abs(mass_pull) <= max_pull),
        }
    return row


def summarise(cfg: dict, title: str, peak: str, truth: dict | None, fits_dir: str | Path,
              models: list[str] | None = None, optimise_dir: str | Path | None = None) -> dict:
    """The summary of the models' inference results under ``fits_dir``; ``title`` is the
    analysis's, ``peak`` names the fitted peak position in tables (e.g. m_H), ``truth`` is what
    the embedded simulation injected (``{"mu", "mass"}``; None for real data)."""
    fs = cfg["fit"]
    fits_dir = Path(fits_dir)
    if models:
        names = list(models)
    else:
        names = sorted(p.name for p in fits_dir.iterdir() if p.is_dir() and (p / "fit.json").is_file()) \
            if fits_dir.is_dir() else []
    if not names:
        raise FileNotFoundError(f"no model results (<model>/fit.json) under {fits_dir}; run the inference stage first")
    simulated = cfg["dataset"]["simulated"]
    baseline = cfg["ml"]["baseline"]
    rows = {n: model_summary(fits_dir / n, Path(optimise_dir) if optimise_dir else None, truth,
                             fs["closure_max_pull"]) for n in names}
    classifiers = [n for n in names if n != baseline and rows[n]["fitted"]]
    best = max(classifiers, key=lambda n: rows[n]["Z_expected"]) if classifiers else None
    out = {
        "analysis": cfg["analysis"],
        "dataset": cfg["dataset"]["name"],
        "simulated": simulated,
        "lumi_fb": cfg["lumi_fb"],
        "title": title,
        "peak": peak,
        "baseline": baseline if baseline in rows else None,
        "best_model": best,
        "models": rows,
    }
    if best is not None and baseline in rows and rows[baseline]["fitted"]:
        out["best_beats_baseline"] = bool(rows[best]["Z_expected"] > rows[baseline]["Z_expected"])
    if truth is not None:
        out["truth"] = truth
        out["closure_passed"] = bool(all(r["fitted"] and r["closure"]["mu_consistent"]
                                         and r["closure"]["mass_consistent"] for r in rows.values()))
    return out


def _fmt(v, spec=".2f"):
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def table(summary: dict) -> str:
    """A Markdown table of the headline numbers (readable as plain text too).

    Z columns: unbinned fit / binned pyhf model, so the two can be compared at a glance.
    """
    head = ["model", "cats", "mu_hat (68% CL)", summary.get("peak", "peak"), "Z obs (unb. / binned)", "Z exp (unb. / binned)",
            "CLs(mu=1)", "mu 95% UL obs (exp)"]
    if summary.get("truth"):
        head += ["pull mu", f"pull {summary.get('peak', 'peak')}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    order = sorted(summary["models"], key=lambda n: (n == summary.get("baseline"), n))
    for name in order:
        r = summary["models"][name]
        mu, m, b = r["mu"], r["mass"], r["binned"]
        if r["fitted"]:
            e = mu.get("errors68") or [None, None]
            mu_txt = (f"{mu['value']:.2f} -{abs(e[0]):.2f} +{e[1]:.2f}" if None not in e
                      else f"{mu['value']:.2f} ± {mu['error']:.2f}")
            mass_txt = f"{m['value']:.2f} ± {m['error']:.2f}"
        else:
            mu_txt, mass_txt = f"not fitted: {r['n_data']} data events", "-"
        exp_ul = (b.get("upper_limit_expected") or [None] * 5)[2]
        label = name + (" (baseline)" if name == summary.get("baseline") else "") + \
            (" (best)" if name == summary.get("best_model") else "")
        cells = [label, str(r["n_categories"]), mu_txt, mass_txt,
                 f"{_fmt(r['Z_observed'])} / {_fmt(b.get('Z_observed'))}",
                 f"{_fmt(r['Z_expected'])} / {_fmt(b.get('Z_expected'))}",
                 _fmt(b.get("cls_mu1"), ".3g"), f"{_fmt(b.get('upper_limit_observed'))} ({_fmt(exp_ul)})"]
        if summary.get("truth"):
            pulls = r.get("pulls", {})
            cells += [_fmt(pulls.get("mu")), _fmt(pulls.get("mass"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def uncertainty_table(summary: dict) -> str:
    """mu and the peak position with stat and syst errors, and mu per production mode, per
    fitted model (empty when no model has them)."""
    rows = {n: r for n, r in summary["models"].items() if r["fitted"] and "stat" in (r.get("mu") or {})}
    if not rows:
        return ""
    peak = summary.get("peak", "peak")
    lines = [f"| model | mu ± stat ± syst | {peak} ± stat ± syst | mu per production mode ± stat ± syst |",
             "|---|---|---|---|"]
    for name, r in rows.items():
        modes = (r.get("per_mode") or {}).get("modes") or {}
        per_mode = "; ".join(f"{m}: {v['value']:.2f} ± {v['stat']:.2f} ± {_fmt(v['syst'])}" for m, v in modes.items())
        lines.append(f"| {name} | {r['mu']['value']:.2f} ± {r['mu']['stat']:.2f} ± {_fmt(r['mu']['syst'])} | "
                     f"{r['mass']['value']:.2f} ± {r['mass']['stat']:.2f} ± {_fmt(r['mass']['syst'])} | "
                     f"{per_mode or '-'} |")
    return "\n".join(lines)


def markdown(summary: dict) -> str:
    parts = [f"# {summary.get('title') or summary.get('analysis')}: summary", ""]
    if summary["simulated"]:
        t = summary["truth"]
        parts += [f"**Simulated dataset** (embedded pseudo-data): truth mu = {t['mu']:.4g}, "
                  f"{summary.get('peak', 'peak')} = {t['mass']:g}"
                  f"{', width = %g' % t['width'] if 'width' in t else ''}; pulls are (fitted - truth) / sigma.", ""]
    any_row = next(iter(summary["models"].values()))
    share = any_row.get("data_fraction")
    if share is not None:
        parts += [f"Fitted data: splits {', '.join(any_row.get('splits') or [])} "
                  f"({100 * share:.1f}% of the data, {any_row.get('lumi_fb_fitted') or 0:.1f} fb^-1 of "
                  f"{summary.get('lumi_fb')} fb^-1); significances are local.", ""]
    parts += [table(summary), ""]
    uncertainties = uncertainty_table(summary)
    if uncertainties:
        parts += ["Errors split into stat (nuisance parameters fixed at their best-fit values) and syst "
                  "(the systematic uncertainties; the per-mode correlations are in summary.json):", "",
                  uncertainties, ""]
        notes = [f"{name}, mu per mode: {row['per_mode']['note']}." for name, row in summary["models"].items()
                 if (row.get("per_mode") or {}).get("note")]
        parts += [*notes, ""] if notes else []
    peaks = peak_table(summary)
    if peaks:
        parts += [f"The peak in the fitted data (the baseline's fit is the selection before any classifier cut"
                  f"{'; N_S truth: the true signal mu_true x the signal MC yield' if summary.get('truth') else ''}):",
                  "", peaks, ""]
    selections = selection_table(summary)
    if selections:
        parts += ["Selection (optimisation split, expected yields in the signal window; the curve is the figure "
                  "of merit against the threshold):", "", selections, ""]
    checks = [(n, r["sweights"]) for n, r in summary["models"].items() if r.get("sweights")]
    if checks:
        parts += ["sWeights (sum of the signal sWeights against the fitted signal yield): " + "; ".join(
            f"{n}: {c['sum_signal']:.1f} vs {_fmt(c['signal_fitted'], '.1f')} ({c['n_events']} events)"
            for n, c in checks), ""]
    for name, row in summary["models"].items():
        if not row["fitted"]:
            parts.append(f"**{name}: {row['not_fitted_reason']}.** The limit comes from the binned model "
                         "with the background MC.")
    if summary.get("best_model") and "best_beats_baseline" in summary:
        verdict = "higher" if summary.get("best_beats_baseline") else "NOT higher"
        parts.append(f"Best classifier: **{summary['best_model']}**; its expected Z is {verdict} than the "
                     f"baseline's ({summary['baseline']}).")
    if "closure_passed" in summary:
        parts.append(f"Closure (|pull| <= {any_row['closure']['max_pull']:g} for mu and "
                     f"{summary.get('peak', 'the peak')}, every model): "
                     f"**{'passed' if summary['closure_passed'] else 'FAILED'}**.")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- the spectrum


def spectrum_plot(analysis, observable, data: np.ndarray, signal: dict[str, tuple[np.ndarray, np.ndarray]],
                  background_mc: dict[str, tuple[np.ndarray, np.ndarray]], simulated: bool, lumi_fb: float | None,
                  out: str | Path, note: str | None = None) -> dict:
    """Data points with the signal MC stacked by process on the background.

    The background is the background MC stacked by process when ``background_mc`` holds any
    (``report.spectrum_background: mc``, for analyses whose MC describes the background, e.g.
    H->ZZ*->4l), else a 4th-order polynomial fitted to the data counts (Poisson-like weights)
    outside the observable's window, as in the public ATLAS H->yy examples. A lower panel shows
    data minus the background with the signal stack. ``note``: a line written on the plot
    (e.g. that the luminosity is unknown). Returns the numbers drawn.
    """
    import hist
    import matplotlib.pyplot as plt

    from .plotting import experiment_label, save, use_style

    use_style()
    lo, hi = observable.range
    axis = hist.axis.Regular(int(round((hi - lo) / observable.bin_width)), lo, hi, name=observable.column,
                             label=observable.axis_label)
    edges, centres = axis.edges, axis.centers
    counts = hist.Hist(axis, storage=hist.storage.Int64()).fill(data).values().astype(float)

    def stack(samples):
        return {p: hist.Hist(axis, storage=hist.storage.Weight()).fill(m, weight=w).values()
                for p, (m, w) in samples.items()}

    backgrounds = stack(background_mc)
    if backgrounds:
        background = sum(backgrounds.values())
        background_label = None
    else:
        sideband = ~observable.in_window(centres)
        fit_weight = np.where(sideband, 1.0 / np.sqrt(np.maximum(counts, 1.0)), 0.0)
        centre = 0.5 * sum(observable.window)
        background = np.polyval(np.polyfit(centres - centre, counts, deg=4, w=fit_weight), centres - centre)
        background_label = "Background (poly4 fit to sidebands)"
    stacks = stack(signal)

    fig, (ax, rax) = plt.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]}, figsize=(8, 8))
    bottom = np.zeros_like(counts) if backgrounds else background.copy()
    for name, values in [*backgrounds.items(), *stacks.items()]:  # signal on top, where the data see it
        process = analysis.process(name)
        ax.stairs(bottom + values, edges, baseline=bottom, fill=True, color=process.colour,
                  label=f"{process.label} (MC)")
        bottom = bottom + values
    if background_label:
        ax.plot(centres, background, "--", color="tab:blue", label=background_label)
    ax.errorbar(centres, counts, yerr=np.sqrt(counts), fmt="ko", markersize=3,
                label="Pseudo-data (simulated)" if simulated else "Data")
    ax.set_ylabel(f"Events / {observable.bin_width:g} {observable.unit}")
    top = max(counts.max(initial=0.0), bottom.max(initial=0.0))
    ax.set_ylim(0, top * 1.5 if top > 0 else 1)
    ax.legend(loc="upper right", fontsize="small")
    experiment_label(ax, simulated, lumi_fb)
    if note:
        ax.text(0.03, 0.83, note, transform=ax.transAxes, fontsize="x-small")
    total_signal = sum(stacks.values()) if stacks else np.zeros_like(counts)
    rax.stairs(total_signal, edges, color="tab:red", label="Signal MC")
    rax.errorbar(centres, counts - background, yerr=np.sqrt(counts), fmt="ko", markersize=3)
    rax.axhline(0, color="grey", lw=1)
    rax.set_ylabel("Data − Bkg")
    rax.set_xlabel(observable.axis_label)
    rax.set_xlim(lo, hi)
    save(fig, out)
    return {
        "observable": observable.column,
        "bin_edges": edges,
        "data": counts,
        "background": background,
        "background_source": "mc" if backgrounds else "poly4 fit to the data sidebands",
        "background_mc": backgrounds,
        "signal": stacks,
        "expected_signal_total": float(sum(v.sum() for v in stacks.values())),
    }


def spectrum_from_features(cfg: dict, analysis, features: list[str | Path], out: str | Path,
                           out_json: str | Path) -> None:
    """Read every sample's features and draw the observable spectrum (data, signal and, with
    ``report.spectrum_background: mc``, background MC)."""
    import pandas as pd

    from .io import write_json

    observable = analysis.observable(cfg)
    with_mc_background = cfg["report"]["spectrum_background"] == "mc"
    data, by_kind = [], {"signal": {}, "background": {}}
    for path in features:
        frame = pd.read_parquet(path, columns=[observable.column, "weight", "kind", "process"])
        frame = frame[observable.in_range(frame[observable.column].to_numpy())]
        data.append(frame.loc[frame["kind"] == "data", observable.column].to_numpy())
        for kind, stacks in by_kind.items():
            for process, part in frame[frame["kind"] == kind].groupby("process"):
                m, w = stacks.get(process, (np.empty(0), np.empty(0)))
                stacks[process] = (np.concatenate([m, part[observable.column]]), np.concatenate([w, part["weight"]]))
    if not any(cfg["samples"][s]["kind"] == "data" for s in cfg["samples"]):
        raise ValueError("no data sample among the features inputs: the spectrum plot needs pseudo-data or data")
    if not any(len(d) for d in data):
        log.warning("data sample(s) %s have no events in observable.range after the selection: the spectrum "
                    "shows no data points",
                    ", ".join(name for name, spec in cfg["samples"].items() if spec["kind"] == "data"))
    if with_mc_background and not by_kind["background"]:
        raise ValueError("report.spectrum_background is mc but there is no background MC sample; "
                         "use report.spectrum_background: sideband_fit")
    lumi_known = cfg["dataset"]["lumi_known"]
    numbers = spectrum_plot(analysis, observable, np.concatenate(data), by_kind["signal"],
                            by_kind["background"] if with_mc_background else {}, cfg["dataset"]["simulated"],
                            cfg["lumi_fb"] if lumi_known else None, out,
                            note=None if lumi_known else f"data luminosity unknown; MC for {cfg['lumi_fb']:g} fb$^{{-1}}$")
    numbers["simulated"] = cfg["dataset"]["simulated"]
    write_json(out_json, numbers, cfg, inputs=features)


# --------------------------------------------------------------------------- CLI


def register(sub) -> None:
    from . import config

    p = sub.add_parser("summary")
    config.add_arguments(p)
    p.add_argument("--fits", required=True, help="directory holding <model>/ with the inference stage's files")
    p.add_argument("--models", nargs="+", help="models to include (default: every <model>/ with a fit.json)")
    p.add_argument("--optimise", help="directory holding <model>/selection.json (adds the optimisation Z)")
    p.add_argument("--out", required=True, help="summary.json to write")
    p.add_argument("--markdown", help="summary.md to write (default: next to --out)")
    p.add_argument("--html", help="the same tables as an HTML page (what the Snakemake report shows)")
    p.set_defaults(func=run_summary)

    p = sub.add_parser("plot-spectrum")
    config.add_arguments(p)
    p.add_argument("--features", nargs="+", required=True, help="features Parquet files of all samples")
    p.add_argument("--out", required=True, help="output figure (png/pdf)")
    p.add_argument("--out-json", required=True, help="the numbers drawn, as JSON")
    p.set_defaults(func=run_spectrum)


def run_summary(args) -> int:
    from . import analyses, config
    from .document import write_markdown_and_html
    from .io import write_json

    cfg = config.load(args.configfile, args.settings)
    analysis = analyses.get(cfg["analysis"])
    peak = analysis.peak_label.strip("$").replace("\\", "")
    truth = analysis.simulation.truth(cfg) if cfg["dataset"]["simulated"] else None
    result = summarise(cfg, analysis.title, peak, truth, args.fits, args.models, args.optimise)
    # the files read, not every JSON beside them: contour.json and impacts.json may or may not
    # exist yet when the summary runs, which made its provenance differ from run to run
    inputs = sorted(str(Path(args.fits) / n / name) for n in result["models"] for name in FILES)
    write_json(args.out, result, cfg, inputs=inputs)
    text = markdown(result)
    write_markdown_and_html(args.markdown or Path(args.out).with_name("summary.md"), args.html, text)
    print(text)
    return 0


def run_spectrum(args) -> int:
    from . import analyses, config

    cfg = config.load(args.configfile, args.settings)
    spectrum_from_features(cfg, analyses.get(cfg["analysis"]), args.features, args.out, args.out_json)
    return 0
