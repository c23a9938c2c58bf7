"""The simultaneous extended unbinned fit of all categories, its scans and significances.

Common signal strength mu and peak position (the Higgs mass m_H in the H analyses); per
category the signal shape fitted to MC (fixed, except that all peaks move together), its
expected yield times mu (plus
the spurious-signal nuisance theta * S_spur when ``fit.spurious_signal.nuisance``), and the
chosen background function with free parameters and normalisation.

The signal yield of each category is the sum over production modes (``fit.production_modes``),
and the analysis's systematics (``fit.systematics``) are constrained nuisance parameters:
yield uncertainties, each mode's theory uncertainty, the peak position and width.
The errors of mu and the peak position are split into stat (a refit with the nuisance
parameters fixed at their best-fit values) and syst = sqrt(total^2 - stat^2). With production
modes, a second fit has one signal strength per mode (``per_mode`` in fit.json).

Two fits are always made: the peak fixed at ``fit.mass_value`` and floating. The headline
mu and the observed significance are those of the configured one (``fit.mass_floating``);
the measured peak position always comes from the floating fit. The intervals of both are
MINOS's (the profile scans are for the plots). mu is also fitted per category, with the
categories' compatibility. The expected significance is the Asimov one with mu = 1 at
``fit.mass_value`` and the background from the data fit.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..analyses import Observable
from ..stats import binned, plots
from ..stats.gof import combined_chi2, poisson_chi2
from ..stats.fit import LEVEL_68, correlations, fit, grid, profile_scan, stat_syst_split
from ..stats.hypotest import asimov_data, discovery, expected_significance, p0_scan
from ..stats.intervals import EDGE_FOUND, channel_compatibility, minos
from ..stats.model import Model, category_spec
from . import systematics
from .inputs import category_arrays

log = logging.getLogger(__name__)


def category_model(fs: dict, observable: Observable, signal: dict, background: dict, mass_floating: bool,
                   per_mode: bool = False) -> Model:
    """The multi-category model of ``stats.model.category_spec`` from the two model files,
    with the analysis's systematics and the signal by production mode (``fit.production_modes``,
    modes without expected signal left out); ``per_mode``: one signal strength per mode in
    place of the inclusive mu."""
    bkg = {c["name"]: c for c in background["categories"]}
    cats = []
    for sig in signal["categories"]:
        name = sig["name"]
        if name not in bkg:
            raise KeyError(f"category {name!r} is missing from the background model; rerun background-model")
        spurious = bkg[name]["spurious_signal"] if fs["spurious_signal"]["nuisance"] else None
        cats.append({
            "name": name,
            "range": list(observable.range),
            "signal": {"shape": signal["shape"], "params": sig["params"], "yield": systematics.yield_by_mode(fs, sig)},
            "background": {"shape": bkg[name]["choice"]},
            "spurious": spurious,
        })
    declared = systematics.declared(fs)
    if fs["production_modes"]:  # a mode without signal here has nothing to scale (nor to measure)
        for cat in cats:
            cat["signal"]["yield"] = {m: y for m, y in cat["signal"]["yield"].items() if y > 0}
        present = set(expected_by_mode(fs, signal))
        declared = [s for s in declared if not s.get("modes") or set(s["modes"]) & present]
    elif per_mode:
        raise ValueError("a signal strength per production mode needs fit.production_modes")
    spec = category_spec(
        cats, mass_value=fs["mass_value"], mass_floating=mass_floating, mass_limits=fs["mass_limits"],
        reference_mass=signal.get("reference_mass", fs["mass_value"]), mu_limits=fs["mu_limits"],
        width_floating=fs["width_floating"], systematics=declared, poi_per_mode=per_mode,
    )
    return Model(spec)


def expected_by_mode(fs: dict, signal: dict) -> dict:
    """``{mode: expected signal}`` summed over the categories, for the modes that have some
    (a mode without any has no signal strength to measure)."""
    totals = {m: 0.0 for m in fs["production_modes"]}
    for sig in signal["categories"]:
        for mode, value in systematics.yield_by_mode(fs, sig).items():
            totals[mode] += value
    return {m: total for m, total in totals.items() if total > 0}


def _asymmetric(interval, edges, best):
    """The errors of a MINOS interval: none where an edge was not found or is the parameter's limit."""
    return [float(edge - best) if status == EDGE_FOUND else None for edge, status in zip(interval, edges)]


def fit_data(part) -> dict:
    """The data of the fit: ``{category: (observable values, None)}`` (unweighted events)."""
    return {name: (m, None) for name, (m, _) in category_arrays(part, "data").items()}


def minos_interval(model: Model, data: dict, best, param: str) -> dict:
    """The MINOS 68% and 95% intervals of ``param`` (fit.json's ``interval68``, ``interval95``,
    ``errors68``) and how their edges ended (``interval68_edges``, ``interval95_edges``:
    found, at the parameter's limit (the edge is the limit), or not found (the edge is None);
    ``stats.intervals.minos``)."""
    result = minos(model, data, [param], best=best)[param]
    interval68, interval95 = result["intervals"]
    edges68, edges95 = result["edges"]
    return {"interval68": interval68, "interval95": interval95, "interval68_edges": edges68,
            "interval95_edges": edges95, "errors68": _asymmetric(interval68, edges68, best.values[param]),
            "interval_method": "minos"}


def _expected_values(model: Model, values: dict) -> dict:
    """Parameter values for the expected (Asimov) results: background from the data fit,
    mu = 1, the peak at its nominal value, nuisances at zero."""
    v = dict(values)
    v["mu"] = 1.0
    v["mass"] = model.values()["mass"]
    for n in model.constraints():
        v[n] = model.constraints()[n][0]
    return v


def fit_categories(cfg: dict, observable: Observable, peak_label: str, part, signal: dict, background: dict,
                   model_name: str,
                   plot_dir: str | Path | None = None) -> tuple[dict, dict]:
    """Fit the data of every category; return (fit.json payload, significance.json payload).

    With fewer than ``fit.min_data_events`` data events there is no fit to make: the payloads
    say so, with the observed counts and the expected yields (``too_few_events``).
    """
    fs = cfg["fit"]
    simulated = cfg["dataset"]["simulated"]
    data_by_cat = category_arrays(part, "data")
    data = fit_data(part)
    n_data = sum(m.size for m, _ in data.values())
    if n_data < fs["min_data_events"]:
        return too_few_events(cfg, observable, part, signal, model_name, plot_dir)

    fixed_model = category_model(fs, observable, signal, background, mass_floating=False)
    float_model = category_model(fs, observable, signal, background, mass_floating=True)

    log.info("fit: peak position fixed at %.2f %s", fs["mass_value"], observable.unit)
    best_fixed = fit(fixed_model, data)
    log.info("fit: peak position floating")
    best_float = fit(float_model, data, start=best_fixed.values)
    headline_model, headline = (float_model, best_float) if fs["mass_floating"] else (fixed_model, best_fixed)

    log.info("profile scans")
    mu_grid = grid(fs["mu_scan"])
    mu_scan = profile_scan(headline_model, data, "mu", mu_grid, best=headline)
    exp_values = _expected_values(fixed_model, best_fixed.values)
    asimov = asimov_data(fixed_model, exp_values, fs["asimov_bin_width"])
    mu_scan_exp = profile_scan(fixed_model, asimov, "mu", mu_grid)
    mass_scan = profile_scan(float_model, data, "mass", grid(fs["mass_scan"]), best=best_float)

    log.info("discovery significance")
    disc = discovery(headline_model, data, best=headline)
    expected = expected_significance(fixed_model, exp_values, bin_width=fs["asimov_bin_width"])
    log.info("p0 scan over %d masses", len(grid(fs["p0_scan"])))
    p0 = p0_scan(fixed_model, data, grid(fs["p0_scan"]), expected_values=exp_values,
                    bin_width=fs["asimov_bin_width"])

    log.info("MINOS intervals; mu per category")
    mu_minos = minos_interval(headline_model, data, headline, "mu")
    mass_minos = minos_interval(float_model, data, best_float, "mass")
    by_category = channel_compatibility(headline_model, data, best=headline)

    log.info("stat-only refits (nuisance parameters fixed at their best-fit values)")
    mu_split = stat_syst_split(headline_model, data, headline, ["mu"])["mu"]
    mass_split = stat_syst_split(float_model, data, best_float, ["mass"])["mass"]
    per_mode = fit_per_mode(fs, observable, signal, background, data, headline) if fs["production_modes"] else None

    mu_hat = headline.values["mu"]
    mu_err = headline.errors["mu"]
    mh_hat, mh_err = best_float.values["mass"], best_float.errors["mass"]
    per_category = {}
    yields = headline_model.yields(headline.values)
    for name, (m, _) in data_by_cat.items():
        per_category[name] = {
            "n_data": int(m.size),
            "signal_fitted": float(yields[name]["signal"]),
            "background_fitted": float(yields[name]["background"]),
            "signal_expected": next(c["yield"] for c in signal["categories"] if c["name"] == name),
            "background_function": next(c["choice"] for c in background["categories"] if c["name"] == name),
        }
        per_category[name]["mu"] = by_category["channels"][name]
        per_category[name].update(peak_summary(fs, observable, headline_model, headline, name, m))

    fit_payload = {
        "model_name": model_name,
        "fitted": True,
        "n_data": n_data,
        "simulated": simulated,
        "mass_floating": bool(fs["mass_floating"]),
        "splits": part.attrs["splits"],
        "data_fraction": part.attrs["data_fraction"],
        "lumi_fb_fitted": signal.get("lumi_fb_fitted"),
        "categories": per_category,
        # all categories together: the sum of their chi2, the shared parameters counted once
        "gof": {**combined_chi2([c["gof"] for c in per_category.values()], len(headline.free)),
                "bin_width": float(observable.bin_width), "statistic": "Baker-Cousins Poisson chi2"},
        "mu": {"value": float(mu_hat), "error": float(mu_err), **mu_minos,
               "stat": mu_split["stat"], "syst": mu_split["syst"]},
        "mass": {"value": float(mh_hat), "error": float(mh_err), **mass_minos,
                 "stat": mass_split["stat"], "syst": mass_split["syst"],
                 "mu_at_best_mass": float(best_float.values["mu"])},
        # compatibility of the categories' mu: -2 ln(L(common mu) / L(one mu per category)) ~ chi2(ndf)
        "category_compatibility": {k: by_category[k] for k in ("q", "ndf", "p_value", "valid")},
        "nuisance_parameters": sorted(headline_model.constraints()),
        "per_mode": per_mode,
        "width_scale": ({"value": float(headline.values["width_scale"]), "error": float(headline.errors["width_scale"])}
                        if fs["width_floating"] else None),
        "fixed_mass": {"mass": fs["mass_value"], **best_fixed.to_dict()},
        "floating_mass": best_float.to_dict(),
        "scans": {"mu": mu_scan, "mu_expected": mu_scan_exp, "mass": mass_scan},
        # the fitted model under "model", as in the fit.json of `colliderflow fit`, so that
        # `colliderflow validate-fit --model fit.json` throws pseudo-experiments from it
        "model": headline_model.with_values(headline.values).to_spec(),
    }
    significance = {
        "model": model_name,
        "fitted": True,
        "simulated": simulated,
        "mass": float(fs["mass_value"]) if not fs["mass_floating"] else float(mh_hat),
        "q0": disc["q0"],
        "p0": disc["p0"],
        "Z_observed": disc["Z"],
        "Z_expected": expected["Z"],
        "p0_expected": expected["p0"],
        "mu_hat": disc["poi_hat"],
        "p0_scan": p0,
        "note": "local significances (asymptotic formulae); expected: Asimov dataset with mu = 1 at the "
                "nominal mass and the background fitted to the data",
    }
    log.info("%s: mu = %.3f +- %.3f, mass = %.2f +- %.2f, Z = %.2f (expected %.2f)", model_name, mu_hat,
             mu_err, mh_hat, mh_err, disc["Z"], expected["Z"])
    if plot_dir is not None:
        make_plots(observable, peak_label, Path(plot_dir), headline_model, headline.values, data_by_cat,
                   fit_payload, significance, simulated, cfg["lumi_fb"])
    return fit_payload, significance


UNDETERMINED = "not computed: fewer categories than modes"  # a per-mode MINOS edge


def fit_per_mode(fs: dict, observable: Observable, signal: dict, background: dict, data: dict, headline) -> dict:
    """One signal strength per production mode, fitted simultaneously (peak position fixed or
    floating as the headline fit): values, errors split into stat and syst, MINOS 68% intervals
    (a mode with a few signal events has an asymmetric one; none where there are fewer
    categories than modes, edges ``UNDETERMINED``), their correlations."""
    model = category_model(fs, observable, signal, background, mass_floating=fs["mass_floating"], per_mode=True)
    log.info("fit: one signal strength per production mode")
    start = {n: v for n, v in headline.values.items() if n in model.names}
    best = fit(model, data, start=start)
    expected = expected_by_mode(fs, signal)
    modes = list(expected)
    pois = [f"mu_{m}" for m in modes]
    split = stat_syst_split(model, data, best, pois)
    n_cats = len(signal["categories"])
    underdetermined = n_cats < len(modes)
    if underdetermined:  # MINOS of undetermined strengths runs into their limits: costly and says nothing more
        skipped = {"intervals": [None], "edges": [[UNDETERMINED] * 2]}
        intervals = {p: skipped for p in pois}
    else:
        intervals = minos(model, data, pois, best=best, levels=(LEVEL_68,))
    return {
        "underdetermined": underdetermined,
        "note": (f"{n_cats} categor{'y' if n_cats == 1 else 'ies'} for {len(modes)} production modes: the data "
                 f"measure at most {n_cats} combination(s) of the mode strengths; the others are not determined "
                 "(large, unreliable errors, strong correlations, no stat/syst split); categories that separate "
                 "the modes constrain them" if n_cats < len(modes) else None),
        "modes": {m: {"poi": p, **split[p], "interval68": intervals[p]["intervals"][0],
                      "interval68_edges": intervals[p]["edges"][0], "signal_expected": expected[m]}
                  for m, p in zip(modes, pois)},
        "correlation": correlations(best, pois),
        "valid": bool(best.valid),
        "twice_nll": float(best.twice_nll),
        "mass_floating": bool(fs["mass_floating"]),
        "fit": best.to_dict(),
    }


def peak_summary(fs: dict, observable: Observable, model: Model, result, name: str, data) -> dict:
    """Of one category of the fitted ``model``: the signal width (the shape's ``sigma``, with
    its error when ``fit.width_floating``), the fitted signal and background in the window of
    ``fit.window_n_sigma`` widths around the fitted peak (with the data there), and the
    goodness of fit of the binned projection (``stats.gof.poisson_chi2``, bins of
    ``observable.bin_width``; ndf counts the free parameters the category depends on)."""
    shape = model.component_params(result.values)[name]["signal"]
    sigma_error = (shape["sigma"] * result.errors["width_scale"] / result.values["width_scale"]
                   if fs["width_floating"] else 0.0)
    n = fs["window_n_sigma"]
    lo, hi = observable.range
    window = (max(shape["mass"] - n * shape["sigma"], lo), min(shape["mass"] + n * shape["sigma"], hi))
    inside = model.expected_counts(name, list(window), result.values)
    s, b = float(inside["signal"][0]), float(inside["background"][0])
    edges = binned.make_edges(lo, hi, observable.bin_width)
    expected = model.expected_counts(name, edges, result.values)
    counts, _ = np.histogram(data, bins=edges)
    n_free = len(model.channel_params(name) & set(result.free))
    return {
        "sigma": {"value": float(shape["sigma"]), "error": float(sigma_error),
                  "source": "data fit (signal MC width times width_scale)" if fs["width_floating"]
                  else "signal MC fit times the fitted resolution nuisance parameters"
                  if fs["systematics"]["peak_width"] else "signal MC fit (fixed in the data fit)"},
        "window": {"lo": float(window[0]), "hi": float(window[1]), "n_sigma": float(n), "signal": s,
                   "background": b, "s_over_b": s / b if b > 0 else None,
                   "n_data": int(np.count_nonzero((data >= window[0]) & (data < window[1])))},
        "gof": {**poisson_chi2(counts, expected["signal"] + expected["background"], n_free),
                "bin_width": float(observable.bin_width), "statistic": "Baker-Cousins Poisson chi2"},
    }


def too_few_events(cfg: dict, observable: Observable, part, signal: dict, model_name: str,
                   plot_dir: str | Path | None) -> tuple[dict, dict]:
    """The result when the data are too few to fit: per category the observed events and the
    expected signal (mu = 1) and background from the MC, said plainly, and the spectrum."""
    data, sig, bkg = (category_arrays(part, kind) for kind in ("data", "signal", "background"))
    lo, hi = observable.range
    categories = {
        name: {"n_data": int(data[name][0].size), "signal_expected": float(sig[name][1].sum()),
               "background_expected_mc": float(bkg[name][1].sum())}
        for name in part.attrs["categories"]
    }
    n_data = sum(c["n_data"] for c in categories.values())
    reason = (f"{n_data} data event(s) in [{lo:g}, {hi:g}) {observable.unit} across {len(categories)} "
              f"categor{'y' if len(categories) == 1 else 'ies'}, fewer than fit.min_data_events = "
              f"{cfg['fit']['min_data_events']}: no unbinned fit is made; expected signal "
              f"{sum(c['signal_expected'] for c in categories.values()):.2f} and background "
              f"{sum(c['background_expected_mc'] for c in categories.values()):.2f} events (MC for "
              f"{cfg['lumi_fb']:g} fb^-1{'' if cfg['dataset']['lumi_known'] else '; the data luminosity is unknown'})")
    log.warning("%s: %s", model_name, reason)
    common = {"fitted": False, "reason": reason, "n_data": n_data, "simulated": cfg["dataset"]["simulated"]}
    fit_payload = {"model_name": model_name, **common, "splits": part.attrs["splits"],
                   "data_fraction": part.attrs["data_fraction"], "lumi_fb_fitted": signal.get("lumi_fb_fitted"),
                   "categories": categories}
    significance = {"model": model_name, **common, "Z_observed": None, "Z_expected": None, "p0": None}
    if plot_dir is not None:
        plot_dir = Path(plot_dir)
        plot_dir.mkdir(parents=True, exist_ok=True)
        edges = binned.make_edges(lo, hi, observable.bin_width)
        centres = 0.5 * (edges[1:] + edges[:-1])
        for name in categories:
            counts, _ = np.histogram(data[name][0], bins=edges)
            s, _ = binned.histogram(*sig[name], edges=edges)
            b, _ = binned.histogram(*bkg[name], edges=edges)
            plots.fit_plot(plot_dir / f"mass_{name}.png", edges, counts, np.sqrt(counts), centres, s + b, b,
                           curve_signal=s, bkg_in_bins=b, xlabel=observable.axis_label, unit=observable.unit,
                           label=plot_label(cfg["dataset"]["simulated"]),
                           lumi_fb=cfg["lumi_fb"] if cfg["dataset"]["lumi_known"] else None,
                           text_lines=[f"{name}: not fitted, {categories[name]['n_data']} data events",
                                       f"curves: expected S (mu = 1) and B from MC, {cfg['lumi_fb']:g} fb$^{{-1}}$"
                                       + ("" if cfg["dataset"]["lumi_known"] else " (data luminosity unknown)")])
    return fit_payload, significance


def plot_label(simulated: bool) -> str:
    return "Open Data Simulation" if simulated else "Open Data"


def make_plots(observable: Observable, peak_label: str, plot_dir: Path, model, values, data_by_cat, fit_payload,
               significance, simulated, lumi_fb):
    """The observable per category (S+B fit, background, residuals), the mu and peak scans, mu per
    category, the p0 scan."""
    plot_dir.mkdir(parents=True, exist_ok=True)
    label = plot_label(simulated)
    lumi = fit_payload.get("lumi_fb_fitted") or lumi_fb
    lumi = None if lumi is None else round(float(lumi), 1)
    lo, hi = observable.range
    edges = binned.make_edges(lo, hi, observable.bin_width)
    peak_axis = f"{peak_label} [{observable.unit}]"
    width = float(np.mean(np.diff(edges)))
    cx = np.linspace(lo, hi, 600)
    mu = fit_payload["mu"]
    for name, (m, _) in data_by_cat.items():
        counts, _ = np.histogram(m, bins=edges)
        dens = model.densities(name, cx, values)
        bkg_bins = model.expected_counts(name, edges, values)["background"]
        cat = fit_payload["categories"][name]
        lines = [
            f"{name}: {cat['background_function']} background",
            f"$\\hat\\mu$ = {mu['value']:.2f} $\\pm$ {mu['error']:.2f} (all categories)",
            f"$N_S$ = {cat['signal_fitted']:.1f} (expected {cat['signal_expected']:.1f})",
            f"$\\sigma$ = {cat['sigma']['value']:.3g} {observable.unit}, "
            f"$\\chi^2$/ndf = {cat['gof']['chi2']:.1f}/{cat['gof']['ndf']}",
        ]
        plots.fit_plot(plot_dir / f"mass_{name}.png", edges, counts, np.sqrt(counts), cx,
                       (dens["signal"] + dens["background"]) * width, dens["background"] * width,
                       curve_signal=dens["signal"] * width, bkg_in_bins=bkg_bins, xlabel=observable.axis_label,
                       unit=observable.unit, label=label, lumi_fb=lumi, text_lines=lines)
    scans = fit_payload["scans"]
    plots.likelihood_scan_plot(plot_dir / "mu_scan.png", scans["mu"]["values"], scans["mu"]["dnll2"],
                               expected=(scans["mu_expected"]["values"], scans["mu_expected"]["dnll2"]),
                               interval68=mu["interval68"], interval95=mu["interval95"],
                               label=label, lumi_fb=lumi)
    plots.likelihood_scan_plot(plot_dir / "mass_scan.png", scans["mass"]["values"], scans["mass"]["dnll2"],
                               xlabel=peak_axis, interval68=fit_payload["mass"]["interval68"],
                               interval95=fit_payload["mass"]["interval95"], label=label, lumi_fb=lumi)
    cats = fit_payload["categories"]
    plots.channel_poi_plot(plot_dir / "mu_categories.png", list(cats), [c["mu"]["value"] for c in cats.values()],
                           [c["mu"]["interval68"] for c in cats.values()], (mu["value"], *mu["interval68"]),
                           p_value=fit_payload["category_compatibility"]["p_value"], label=label, lumi_fb=lumi)
    p0 = significance["p0_scan"]
    plots.p0_plot(plot_dir / "p0_scan.png", p0["mass"], p0["p0"], p0_expected=p0.get("p0_expected"),
                  xlabel=peak_axis, label=label, lumi_fb=lumi)
