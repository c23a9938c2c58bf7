"""Choice of the background function per category: spurious-signal test, F-test as tie-breaker.

Spurious signal (ATLAS H->yy): fit signal + background to a high-statistics
background-only template (the diphoton MC normalised to the data luminosity, or a smooth
function fitted to the data sidebands, see ``template_from_function``), with the signal
shape fixed and its yield free, at a set of Higgs masses around the expected peak. The
largest |fitted signal| over those masses is the spurious signal S_spur of that function.
A function passes when S_spur is below ``max_fraction_of_signal`` of the expected signal
or below ``max_fraction_of_error`` of the signal yield's statistical uncertainty (mode
"or", the ATLAS criterion; "and" requires both). The uncertainty is that of a dataset the
size of the template's sum of weights (the Hessian error of the weighted fit), i.e. the
data's statistical uncertainty when the template is normalised to the data.

Choice: among the passing functions the one with the fewest parameters (ties: smallest
S_spur); then, walking up to passing functions with more parameters, an F-test on binned
data (the data sidebands, or the template) replaces the current choice when the extra
parameters improve chi^2 with p < ``ftest_threshold``. If no function passes, the one
with the smallest S_spur relative to the allowance is chosen and ``passed`` is False.
The returned dict records every number behind the choice.
"""

from __future__ import annotations

import logging
from typing import Mapping

import numpy as np
from iminuit import Minuit
from scipy import stats as _sps

from . import unbinned as ub
from .shapes import get_shape

log = logging.getLogger(__name__)

DEFAULT_CRITERIA = {"max_fraction_of_signal": 0.10, "max_fraction_of_error": 0.20, "mode": "or"}


def binned_points(x, weights=None, lo: float = None, hi: float = None, bin_width: float = 0.1) -> ub.ChannelData:
    """A weighted sample as weighted points at the centres of fine bins (sum w, sum w^2 per bin).

    Fitting these instead of the events loses nothing when the bins are much narrower than
    the features of the pdfs, and makes fits to multi-million-event templates fast.
    """
    x = np.asarray(x, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    n = max(int(round((hi - lo) / bin_width)), 1)
    edges = np.linspace(lo, hi, n + 1)
    sw, _ = np.histogram(x, bins=edges, weights=w)
    sw2, _ = np.histogram(x, bins=edges, weights=w**2)
    return ub.ChannelData(0.5 * (edges[1:] + edges[:-1]), sw, False, sw2)


def template_from_function(shape: str, params: Mapping, n_events: float, lo: float, hi: float,
                           bin_width: float = 0.1) -> ub.ChannelData:
    """A smooth background-only template: expected counts of ``shape`` (normalised to
    ``n_events``) as weighted points at bin centres (e.g. from a fit to the data sidebands)."""
    s = get_shape(shape, lo, hi)
    n = max(int(round((hi - lo) / bin_width)), 1)
    edges = np.linspace(lo, hi, n + 1)
    w = float(n_events) * s.bin_integrals(edges, dict(params))
    return ub.ChannelData(0.5 * (edges[1:] + edges[:-1]), w, False, np.zeros_like(w))


def spurious_signal(template: ub.ChannelData, background: str, signal_shape: str, signal_params: Mapping,
                    expected_signal: float, lo: float, hi: float, mass_points, *,
                    reference_mass: float = 125.0) -> dict:
    """Spurious signal of one background function on ``template`` (see the module docstring).

    Returns ``{"background", "npar", "mass_points", "signal": [S(m)], "error": [sigma_S(m)],
    "error_mc": [template-statistics error of S(m)], "max_abs_signal", "max_ratio_to_error",
    "fraction_of_signal", "valid"}``.
    """
    cat = {"name": "ss", "range": [lo, hi],
           "signal": {"shape": signal_shape, "params": dict(signal_params), "yield": float(expected_signal)},
           "background": {"shape": background}}
    spec = ub.category_spec([cat], mass_value=float(np.asarray(mass_points)[0]), reference_mass=reference_mass,
                            mu_limits=None, mu_start=0.0, mass_limits=(lo, hi))
    model = ub.Model(spec)
    # Fit errors as for data of the template's size (Hessian of the weighted fit) ...
    asimov_like = ub.ChannelData(template.x, template.w, True, template.w2)
    bonly = ub.fit(model, {"ss": asimov_like}, fix={"mu": 0.0}, errors="hesse")
    sig, err, err_mc = [], [], []
    start = dict(bonly.values)
    valid = bool(bonly.valid)
    for m in np.asarray(mass_points, dtype=float):
        start["mass"] = m
        r = ub.fit(model, {"ss": asimov_like}, start=start, fix={"mass": m}, errors="hesse", strategy=1)
        valid &= r.valid
        sig.append(r.values["mu"] * expected_signal)
        err.append(r.errors["mu"] * expected_signal)
        # ... and the template's own statistical error of S, by the sandwich with sum w^2.
        if template.w2 is not None and np.any(template.w2 > 0):
            rs = ub.fit(model, {"ss": ub.ChannelData(template.x, template.w, False, template.w2)},
                        start=r.values, fix={"mass": m}, errors="sandwich", strategy=0)
            err_mc.append(rs.errors["mu"] * expected_signal)
        else:
            err_mc.append(0.0)
        start = dict(r.values)
    sig, err = np.array(sig), np.array(err)
    ratio = np.abs(sig) / np.where(err > 0, err, np.inf)
    shape = get_shape(background, lo, hi)
    return {
        "background": shape.name,
        "npar": shape.npar + 1,  # shape parameters + the yield
        "mass_points": np.asarray(mass_points, dtype=float).tolist(),
        "signal": sig.tolist(),
        "error": err.tolist(),
        "error_mc": err_mc,
        "max_abs_signal": float(np.max(np.abs(sig))),
        "max_ratio_to_error": float(np.max(ratio)),
        "fraction_of_signal": float(np.max(np.abs(sig)) / expected_signal) if expected_signal > 0 else float("inf"),
        "valid": bool(valid),
    }


def binned_chi2_fit(x, weights, background: str, lo: float, hi: float, bin_width: float = 1.0,
                    blind=None) -> dict:
    """Background-only binned Poisson fit; returns ``{"chi2", "ndf", "p_value", "params", "nbins"}``.

    chi2 is the Poisson deviance 2 sum(nu - n + n ln(n/nu)) over the bins outside the
    ``blind`` window (the likelihood-ratio chi^2 of Baker and Cousins), ndf = bins - npar - 1.
    """
    shape = get_shape(background, lo, hi)
    n_bins = max(int(round((hi - lo) / bin_width)), 1)
    edges = np.linspace(lo, hi, n_bins + 1)
    x = np.asarray(x, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    counts, _ = np.histogram(x, bins=edges, weights=w)
    keep = np.ones(n_bins, dtype=bool)
    if blind is not None:
        keep = (edges[1:] <= blind[0]) | (edges[:-1] >= blind[1])
    n = counts[keep]

    def deviance(norm, *vals):
        p = shape.bin_integrals(edges, dict(zip(shape.params, vals)))[keep]
        nu = np.maximum(norm * p, 1e-300)
        term = nu - n + np.where(n > 0, n * np.log(np.where(n > 0, n, 1.0) / nu), 0.0)
        return 2.0 * float(np.sum(term))

    start = shape.start(x[(x >= lo) & (x <= hi)], w[(x >= lo) & (x <= hi)])
    names = ["norm", *shape.params]
    m = Minuit(deviance, max(counts.sum(), 1.0), *[start[p] for p in shape.params], name=names)
    m.errordef = Minuit.LEAST_SQUARES
    m.limits["norm"] = (0.0, None)
    for p in shape.params:
        if p in shape.limits:
            m.limits[p] = shape.limits[p]
    m.migrad()
    if not m.valid:
        m.migrad()
    ndf = int(keep.sum()) - len(names)
    chi2 = float(m.fval)
    return {"chi2": chi2, "ndf": ndf, "nbins": int(keep.sum()),
            "p_value": float(_sps.chi2.sf(chi2, ndf)) if ndf > 0 else float("nan"),
            "params": {k: float(m.values[k]) for k in names}, "valid": bool(m.valid)}


def f_test(chi2_simple: float, npar_simple: int, chi2_complex: float, npar_complex: int, nbins: int) -> dict:
    """F-test of nested fits: F = ((chi2_1 - chi2_2)/(p2 - p1)) / (chi2_2/(n - p2)), p = P(F' > F)."""
    d1 = npar_complex - npar_simple
    d2 = nbins - npar_complex
    if d1 <= 0 or d2 <= 0 or chi2_complex <= 0:
        return {"F": float("nan"), "p_value": 1.0, "dof": [d1, d2]}
    f = ((chi2_simple - chi2_complex) / d1) / (chi2_complex / d2)
    return {"F": float(f), "p_value": float(_sps.f.sf(f, d1, d2)) if f > 0 else 1.0, "dof": [d1, d2]}


def choose_background(template: ub.ChannelData, candidates, signal_shape: str, signal_params: Mapping,
                      expected_signal: float, lo: float, hi: float, mass_points, *,
                      criteria: Mapping | None = None, ftest_threshold: float = 0.05,
                      ftest_data=None, ftest_bin_width: float = 1.0, blind=None,
                      reference_mass: float = 125.0) -> dict:
    """Run the spurious-signal test on every candidate and choose one (module docstring).

    ``template``: ChannelData (``binned_points`` of the MC, or ``template_from_function``).
    ``ftest_data``: ``(x, w)`` for the F-test (default: the template's points and weights),
    with bins of ``ftest_bin_width`` outside ``blind`` ([lo, hi] window, e.g. the signal
    region when fitting data sidebands).
    Returns ``{"choice", "passed", "spurious_signal" (S_spur of the choice, events),
    "criteria", "expected_signal", "candidates": {name: spurious_signal(...) + "passed",
    "allowed", "chi2", "ndf", "chi2_p_value"}, "ftest": [steps], "order": [names]}``.
    """
    crit = dict(DEFAULT_CRITERIA)
    crit.update(criteria or {})
    if crit["mode"] not in ("or", "and"):
        raise ValueError(f"spurious-signal criterion mode must be 'or' or 'and'; got {crit['mode']!r}")
    if not candidates:
        raise ValueError("no background candidates to choose from")
    fx, fw = (template.x, template.w) if ftest_data is None else ftest_data
    results = {}
    for name in candidates:
        res = spurious_signal(template, name, signal_shape, signal_params, expected_signal, lo, hi, mass_points,
                              reference_mass=reference_mass)
        ok_signal = res["max_abs_signal"] < crit["max_fraction_of_signal"] * expected_signal
        ok_error = res["max_ratio_to_error"] < crit["max_fraction_of_error"]
        res["passed"] = bool(ok_signal or ok_error) if crit["mode"] == "or" else bool(ok_signal and ok_error)
        # Allowance: S_spur divided by the most lenient threshold the mode allows.
        allowed = [crit["max_fraction_of_signal"] * expected_signal,
                   crit["max_fraction_of_error"] * res["max_abs_signal"] / max(res["max_ratio_to_error"], 1e-300)]
        res["allowed"] = float(max(allowed) if crit["mode"] == "or" else min(allowed))
        chi = binned_chi2_fit(fx, fw, name, lo, hi, ftest_bin_width, blind)
        res.update(chi2=chi["chi2"], ndf=chi["ndf"], nbins=chi["nbins"], chi2_p_value=chi["p_value"])
        results[res["background"]] = res
        log.info("background %-12s S_spur = %8.2f (%.1f%% of S, %.2f sigma_S) %s", res["background"],
                 res["max_abs_signal"], 100 * res["fraction_of_signal"], res["max_ratio_to_error"],
                 "passes" if res["passed"] else "fails")
    passing = [n for n, r in results.items() if r["passed"]]
    steps = []
    if passing:
        order = sorted(passing, key=lambda n: (results[n]["npar"], results[n]["max_abs_signal"]))
        choice = order[0]
        for cand in order[1:]:
            if results[cand]["npar"] <= results[choice]["npar"]:
                continue
            ft = f_test(results[choice]["chi2"], results[choice]["npar"], results[cand]["chi2"],
                        results[cand]["npar"], results[cand]["nbins"])
            switched = ft["p_value"] < ftest_threshold
            steps.append({"from": choice, "to": cand, **ft, "switched": bool(switched)})
            if switched:
                choice = cand
        passed = True
    else:
        order = sorted(results, key=lambda n: (results[n]["max_abs_signal"] / max(results[n]["allowed"], 1e-300),
                                               results[n]["npar"]))
        choice = order[0]
        passed = False
        log.warning("no background function passes the spurious-signal test; taking %s (smallest S_spur "
                    "relative to the allowance)", choice)
    return {
        "choice": choice,
        "passed": passed,
        "spurious_signal": results[choice]["max_abs_signal"],
        "criteria": crit,
        "expected_signal": float(expected_signal),
        "ftest_threshold": float(ftest_threshold),
        "candidates": results,
        "ftest": steps,
        "order": list(order),
    }
