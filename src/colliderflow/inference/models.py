"""Per-category signal model (a shape fitted to weighted signal MC, and the expected yield)
and per-category background model (function chosen by the spurious-signal test + F-test).

Both call the generic statistics library (``colliderflow.stats``); this module only decides
which events go in and writes down what came out.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..stats import background_choice as bc
from ..stats.fit import fit_shape, grid
from ..stats.shapes import get_shape
from ..analyses import Observable
from .inputs import category_arrays

log = logging.getLogger(__name__)


def signal_model(cfg: dict, observable: Observable, part: pd.DataFrame, model_name: str) -> dict:
    """Shape fit (``fit.signal_shape``) to the weighted signal MC of each category on
    ``fit.signal_fit_range`` (default the observable's range), and the expected signal yield
    there (sum of weights in the observable's range, for the luminosity share of the fitted data).

    The shape's parameters do not depend on the range it is normalised on (a sum's fraction
    included, ``stats.shapes``), so the data fit takes them and normalises the shape on the
    observable's range. Weighted fit errors are the sandwich estimate, so they reflect the
    MC's effective size.
    """
    fs = cfg["fit"]
    lo, hi = observable.range
    fit_range = tuple(fs["signal_fit_range"] or (lo, hi))  # inside the range: config.relation_errors
    shape = get_shape(fs["signal_shape"], *fit_range)
    data_range_shape = get_shape(fs["signal_shape"], lo, hi)
    signal = category_arrays(part, "signal")
    sig_rows = part[part["kind"] == "signal"]
    categories = []
    for k, name in enumerate(part.attrs["categories"]):
        m, w = signal[name]
        if m.size < 10 or w.sum() <= 0:
            raise ValueError(
                f"category {name!r} of model {model_name!r} has {m.size} signal MC events (sum of weights "
                f"{w.sum():.3g}): too few to fit the signal shape; use fewer categories (optimise.n_categories) "
                "or a larger optimise.min_background"
            )
        res = fit_shape(shape, m, w)
        by_process = sig_rows[sig_rows["category"] == k].groupby("process")["weight"].sum()
        params = {p: res.values[p] for p in shape.params}
        categories.append({
            "name": name,
            "params": params,
            "errors": {p: res.errors[p] for p in shape.params},
            "valid": bool(res.valid),
            "yield": float(w.sum()),
            "yield_by_process": {str(p): float(v) for p, v in by_process.items()},
            "n_mc": int(m.size),
            "n_effective": float(res.extra["n_effective"]),
            "sigma_68": _interval_width(data_range_shape, params, 0.683),
        })
        log.info("signal %s: mass = %.3f %s, sigma = %.3f %s, yield %.2f (%d MC events)", name,
                 params["mass"], observable.unit, params["sigma"], observable.unit, w.sum(), m.size)
    return {
        "model": model_name,
        "shape": shape.name,
        "range": [lo, hi],
        "fit_range": list(fit_range),
        "reference_mass": fs["mass_value"],
        "splits": part.attrs["splits"],
        "data_fraction": part.attrs["data_fraction"],
        "lumi_fb": cfg["lumi_fb"],
        "lumi_fb_fitted": cfg["lumi_fb"] * part.attrs["data_fraction"],
        "simulated": cfg["dataset"]["simulated"],
        "categories": categories,
        "total_yield": float(sum(c["yield"] for c in categories)),
    }


def _interval_width(shape, params: dict, fraction: float) -> float:
    """Half-width of the smallest interval holding ``fraction`` of the fitted shape."""
    x = np.linspace(shape.lo, shape.hi, 5501)
    cdf = shape.cdf(x, params)
    ends = np.interp(cdf + fraction, cdf, x, right=np.inf)
    return float(0.5 * np.min(ends - x))


def _blind_mask(m, blind):
    if blind is None:
        return np.ones(m.size, dtype=bool)
    return (m < blind[0]) | (m >= blind[1])


def blinded_window(observable: Observable):
    """The window left out of data sideband fits, or None when the observable is not blinded."""
    return tuple(observable.window) if observable.blind else None


def mc_template_usable(n_effective_mc: float, n_data: float, max_fraction_of_error: float) -> bool:
    """Whether the background MC is large enough for a spurious-signal test on it.

    The test compares the spurious signal with ``max_fraction_of_error`` (e.g. 0.2) of the
    data's statistical error on the signal; the template's own statistical fluctuation of S
    scales like that error times sqrt(n_data / n_eff_MC). It is below the threshold only if
    n_eff_MC >= n_data / max_fraction_of_error^2 (25 times the data for 0.2). A smaller MC
    would make the test measure MC noise (and can leave a category with a handful of MC
    events, where the fits are meaningless), so the smooth sideband template is used instead.
    """
    if max_fraction_of_error <= 0:
        return n_effective_mc > 0
    return n_effective_mc >= n_data / max_fraction_of_error**2


def background_template(fs: dict, observable: Observable, name: str, mc: tuple, data: tuple) -> tuple[object, dict]:
    """The background-only template of one category for the spurious-signal test.

    ``fit.spurious_signal.template``: ``mc``: the background MC, normalised to the data in
    the sidebands outside the observable's window, when it is large enough (``mc_template_usable``);
    otherwise, or with ``sideband_fit``, the smooth ``fit.sideband_template_function`` fitted
    to the data sidebands (binned Poisson fit with the signal region left out). The returned
    info says which template was used and why.
    """
    lo, hi = observable.range
    ss = fs["spurious_signal"]
    blind = blinded_window(observable)
    dm, dw = data
    mm, mw = mc
    data_side = float(_blind_mask(dm, blind).sum())
    reason = None
    if ss["template"] == "mc":
        side_w = mw[_blind_mask(mm, blind)].sum() if mm.size else 0.0
        n_eff = float(mw.sum() ** 2 / np.sum(mw**2)) if mm.size and np.sum(mw**2) > 0 else 0.0
        if side_w <= 0:
            reason = "no background MC in the category"
        elif not mc_template_usable(n_eff, dm.size, ss["max_fraction_of_error"]) and dm.size >= fs["min_data_events"]:
            reason = (f"background MC too small: effective {n_eff:.0f} events for {dm.size} data events "
                      f"(needs {dm.size / max(ss['max_fraction_of_error'], 1e-12) ** 2:.0f})")
        else:
            if not mc_template_usable(n_eff, dm.size, ss["max_fraction_of_error"]):
                # the MC is small, but the data are too few for a sideband fit: the larger source wins
                log.warning("category %s: background MC small (effective %.0f events) but only %d data events: "
                            "the spurious-signal template is the MC all the same", name, n_eff, dm.size)
            scale = data_side / side_w if data_side > 0 else 1.0
            template = bc.binned_points(mm, mw * scale, lo, hi, ss["template_bin_width"])
            return template, {"template": "mc", "n_mc": int(mm.size), "normalisation": float(scale),
                              "n_effective": n_eff}
        log.warning("category %s: %s; the spurious-signal template is a sideband fit of the data", name, reason)
    func = fs["sideband_template_function"]
    if dm.size < fs["min_data_events"]:
        raise ValueError(f"category {name!r}: {dm.size} data events, too few for a sideband-fit background template "
                         f"({reason or 'fit.spurious_signal.template is sideband_fit'}); give the analysis background "
                         "MC and set fit.spurious_signal.template: mc")
    fitres = bc.binned_chi2_fit(dm, dw, func, lo, hi, fs["ftest_bin_width"], blind)
    params = {k: v for k, v in fitres["params"].items() if k != "norm"}
    template = bc.template_from_function(func, params, fitres["params"]["norm"], lo, hi, ss["template_bin_width"])
    return template, {"template": "sideband_fit", "template_reason": reason or "fit.spurious_signal.template",
                      "function": get_shape(func, lo, hi).name, "params": params,
                      "n_events": float(fitres["params"]["norm"]), "chi2": fitres["chi2"], "ndf": fitres["ndf"]}


def background_model(cfg: dict, observable: Observable, part: pd.DataFrame, signal: dict, model_name: str) -> dict:
    """Per category: the background function chosen by the spurious-signal test and F-test,
    with every number behind the choice (``stats.background_choice.choose_background``)."""
    fs = cfg["fit"]
    lo, hi = observable.range
    ss = fs["spurious_signal"]
    mc = category_arrays(part, "background")
    data = category_arrays(part, "data")
    sig_by_name = {c["name"]: c for c in signal["categories"]}
    out = []
    for name in part.attrs["categories"]:
        if name not in sig_by_name:
            raise KeyError(f"category {name!r} is missing from the signal model; rerun signal-model")
        sig = sig_by_name[name]
        dm, _ = data[name]
        template, info = background_template(fs, observable, name, mc[name], data[name])
        log.info("category %s: spurious-signal test on a %s template", name, info["template"])
        choice = bc.choose_background(
            template, fs["background_candidates"], signal["shape"], sig["params"], sig["yield"], lo, hi,
            grid(ss["mass_points"]),
            criteria={k: ss[k] for k in ("max_fraction_of_signal", "max_fraction_of_error", "mode")},
            ftest_threshold=fs["ftest_threshold"], ftest_bin_width=fs["ftest_bin_width"],
            # the F-test on the data where there are enough, else on the template itself
            ftest_data=(dm, None) if dm.size >= fs["min_data_events"] else None,
            blind=blinded_window(observable), reference_mass=fs["mass_value"],
        )
        if not np.isfinite(choice["spurious_signal"]) or abs(choice["spurious_signal"]) > max(dm.size, template.w.sum()):
            # a failed fit, not a measurement: as a nuisance it would wreck the fit downstream
            raise ValueError(
                f"category {name!r} of model {model_name!r}: the spurious-signal test of {choice['choice']} gave "
                f"{choice['spurious_signal']:.3g} events for {dm.size} data events (a failed fit); check the "
                f"{info['template']} template, or set fit.spurious_signal.template to sideband_fit"
            )
        log.info("category %s: background %s (spurious signal %.2f events, %s)", name, choice["choice"],
                 choice["spurious_signal"], "passes" if choice["passed"] else "NO function passes")
        out.append({"name": name, "n_data": int(dm.size), **info, **choice})
    return {
        "model": model_name,
        "range": [lo, hi],
        "simulated": cfg["dataset"]["simulated"],
        "candidates": list(fs["background_candidates"]),
        "categories": out,
    }
