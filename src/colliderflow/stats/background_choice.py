"""Choice of the background function per category: spurious-signal test, F-test as tie-breaker.

Spurious signal (ATLAS H->yy): fit signal + background to a high-statistics
background-only template (the diphoton MC normalised to the data luminosity, or a smooth
function fitted to the data sidebands, see ``template_from_function``), with the signal
shape fixed and its yield free, at a set of signal masses around the expected peak. The
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
with the fewest failed template fits, then the smallest S_spur relative to the allowance,
is chosen and ``passed`` is False.

Failed fits: a template with few events (or empty regions) can make an S+B fit diverge
(a negative signal running to the parameter limit). Such a mass point is marked invalid
(``point_valid``), never reported as a number, and kept out of max|S|; a function with
an invalid point cannot pass. The chosen function's S_spur, which becomes the width of the
spurious-signal nuisance, is always finite and capped at the expected signal, with the
reason in ``warnings``. The returned dict records every number behind the choice.
"""

from __future__ import annotations

import logging
import math
from typing import Mapping

import numpy as np
from iminuit import Minuit
from iminuit.cost import ExtendedBinnedNLL
from scipy import stats as _sps

from .fit import FitResult, fit
from .model import ChannelData, Model, category_spec
from .shapes import get_shape

log = logging.getLogger(__name__)

DEFAULT_CRITERIA = {"max_fraction_of_signal": 0.10, "max_fraction_of_error": 0.20, "mode": "or"}


def binned_points(x, weights=None, lo: float = None, hi: float = None, bin_width: float = 0.1) -> ChannelData:
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
    return ChannelData(0.5 * (edges[1:] + edges[:-1]), sw, False, sw2)


def template_from_function(shape: str, params: Mapping, n_events: float, lo: float, hi: float,
                           bin_width: float = 0.1) -> ChannelData:
    """A smooth background-only template: expected counts of ``shape`` (normalised to
    ``n_events``) as weighted points at bin centres (e.g. from a fit to the data sidebands)."""
    s = get_shape(shape, lo, hi)
    n = max(int(round((hi - lo) / bin_width)), 1)
    edges = np.linspace(lo, hi, n + 1)
    w = float(n_events) * s.bin_integrals(edges, dict(params))
    return ChannelData(0.5 * (edges[1:] + edges[:-1]), w, False, np.zeros_like(w))


def _point_is_valid(result: FitResult, signal: float, error: float, bound: float) -> bool:
    """Whether one S+B template fit gave a usable spurious signal: Minuit converged, S and its
    error are finite, the error is positive, and S is not at the fit's bound (a fit that ran
    into the bound found no minimum, only the edge of the allowed range)."""
    return bool(result.valid and math.isfinite(signal) and math.isfinite(error) and error > 0
                and abs(signal) < 0.999 * bound)


def spurious_signal(template: ChannelData, background: str, signal_shape: str, signal_params: Mapping,
                    expected_signal: float, lo: float, hi: float, mass_points, *,
                    reference_mass: float | None = None) -> dict:
    """Spurious signal of one background function on ``template`` (see the module docstring).

    The fitted signal is bounded by the template's sum of weights (a "signal" as large as
    the whole template is no spurious signal but a failed fit; unbounded, a template with
    empty regions lets a negative signal run away to -1e308). A mass point whose fit did not
    converge, has no finite positive error or sits on that bound is invalid: its entries in
    ``signal``/``error``/``error_mc`` are None, ``point_valid`` is False there, and it does
    not enter ``max_abs_signal`` / ``max_ratio_to_error``, which are over the valid points.
    With no valid point at all, ``max_abs_signal`` falls back to ``expected_signal`` (100%
    of the signal, ``fallback`` True) and the ratio and fraction are None. ``valid`` is True
    only when the background-only fit and every point are valid; ``choose_background`` lets
    only valid candidates pass.

    Returns ``{"background", "npar", "mass_points", "signal": [S(m)], "error": [sigma_S(m)],
    "error_mc": [template-statistics error of S(m)], "point_valid", "n_invalid",
    "max_abs_signal", "max_ratio_to_error", "fraction_of_signal", "fallback", "valid",
    "signal_bound"}``. ``reference_mass``: the mass the signal shape was fitted at (its
    ``mass`` parameter sits this far from the peak); default ``signal_params["mass"]``, the
    signal peaks at each mass point.
    """
    expected_signal = float(expected_signal)
    if not (math.isfinite(expected_signal) and expected_signal > 0):
        raise ValueError(f"spurious-signal test of {background!r}: the expected signal must be positive and "
                         f"finite; got {expected_signal}")
    masses = np.asarray(mass_points, dtype=float)
    if masses.size == 0:
        raise ValueError(f"spurious-signal test of {background!r}: no mass points")
    bound = max(float(np.sum(template.w)) if template.w is not None else float(np.size(template.x)), 1.0)
    mu_bound = bound / expected_signal
    cat = {"name": "ss", "range": [lo, hi],
           "signal": {"shape": signal_shape, "params": dict(signal_params), "yield": expected_signal},
           "background": {"shape": background}}
    if reference_mass is None:
        reference_mass = float(signal_params["mass"])
    spec = category_spec([cat], mass_value=float(masses[0]), reference_mass=reference_mass,
                            mu_limits=(-mu_bound, mu_bound), mu_start=0.0, mass_limits=(lo, hi))
    model = Model(spec)
    # Fit errors as for data of the template's size (Hessian of the weighted fit) ...
    asimov_like = ChannelData(template.x, template.w, True, template.w2)
    bonly = fit(model, {"ss": asimov_like}, fix={"mu": 0.0}, errors="hesse")
    bonly_start = dict(bonly.values)
    sig, err, err_mc, ok = [], [], [], []
    start = dict(bonly_start)
    for m in masses:
        r = fit(model, {"ss": asimov_like}, start={**start, "mass": m}, fix={"mass": m}, errors="hesse",
                   strategy=1)
        s_m, e_m = r.values["mu"] * expected_signal, r.errors["mu"] * expected_signal
        if not _point_is_valid(r, s_m, e_m, bound) and start != bonly_start:
            # The previous point's minimum can be a poor start; retry from the B-only fit.
            r = fit(model, {"ss": asimov_like}, start={**bonly_start, "mass": m}, fix={"mass": m},
                       errors="hesse", strategy=2)
            s_m, e_m = r.values["mu"] * expected_signal, r.errors["mu"] * expected_signal
        good = _point_is_valid(r, s_m, e_m, bound)
        ok.append(good)
        if not good:
            log.warning("background %s: the S+B template fit at m = %.2f GeV failed (S = %.3g, error %.3g); "
                        "the point is marked invalid", background, m, s_m, e_m)
            sig.append(None), err.append(None), err_mc.append(None)
            continue
        sig.append(float(s_m))
        err.append(float(e_m))
        # ... and the template's own statistical error of S, by the sandwich with sum w^2.
        if template.w2 is not None and np.any(template.w2 > 0):
            rs = fit(model, {"ss": ChannelData(template.x, template.w, False, template.w2)},
                        start=r.values, fix={"mass": m}, errors="sandwich", strategy=0)
            e_mc = rs.errors["mu"] * expected_signal
            err_mc.append(float(e_mc) if math.isfinite(e_mc) else None)
        else:
            err_mc.append(0.0)
        start = dict(r.values)  # only a converged fit seeds the next mass point
    ok = np.array(ok, dtype=bool)
    s_ok = np.abs(np.array([v for v in sig if v is not None], dtype=float))
    e_ok = np.array([v for v in err if v is not None], dtype=float)
    fallback = not ok.any()
    if fallback:
        log.warning("background %s: no valid S+B template fit at any mass point; its spurious signal falls "
                    "back to the expected signal (%.3g events)", background, expected_signal)
    max_abs = expected_signal if fallback else float(np.max(s_ok))
    shape = get_shape(background, lo, hi)
    return {
        "background": shape.name,
        "npar": shape.npar + 1,  # shape parameters + the yield
        "mass_points": masses.tolist(),
        "signal": sig,
        "error": err,
        "error_mc": err_mc,
        "point_valid": ok.tolist(),
        "n_invalid": int((~ok).sum()),
        "max_abs_signal": float(max_abs),
        "max_ratio_to_error": None if fallback else float(np.max(s_ok / e_ok)),
        "fraction_of_signal": None if fallback else float(max_abs / expected_signal),
        "fallback": bool(fallback),
        "valid": bool(bonly.valid and ok.all()),
        "signal_bound": float(bound),
    }


def binned_chi2_fit(x, weights, background: str, lo: float, hi: float, bin_width: float = 1.0,
                    blind=None, weights_squared=None) -> dict:
    """Background-only binned Poisson fit; returns ``{"chi2", "ndf", "p_value", "params", "nbins", "valid"}``.

    The cost is ``iminuit.cost.ExtendedBinnedNLL``, whose minimum is the Poisson deviance
    2 sum(nu - n + n ln(n/nu)) (the likelihood-ratio chi^2 of Baker and Cousins) over the bins
    outside the ``blind`` window (masked); ndf = bins - npar - 1. Unweighted events
    (``weights`` None) are counts. Weighted events are given to it as sums of weights and sums
    of squared weights per bin: it then scales each bin to the equivalent Poisson counts
    (sum w)^2 / sum w^2 (Bohm and Zech), so the minimum stays chi^2-distributed whatever the
    weights; sums of weights taken as counts would scale the deviance by about
    sum w^2 / sum w. ``weights_squared``: the sum of squared weights of each point when the
    points are themselves sums (the fine bins of ``binned_points``); default ``weights**2``.
    A weighted sample with no sum of squared weights anywhere (an exact template such as
    ``template_from_function``) has no statistical error to test against: ValueError.
    """
    shape = get_shape(background, lo, hi)
    n_bins = max(int(round((hi - lo) / bin_width)), 1)
    edges = np.linspace(lo, hi, n_bins + 1)
    x = np.asarray(x, dtype=float)
    w = None if weights is None else np.asarray(weights, dtype=float)
    counts, _ = np.histogram(x, bins=edges, weights=w)
    n = counts
    if w is not None:
        w2 = w**2 if weights_squared is None else np.asarray(weights_squared, dtype=float)
        sum_w2, _ = np.histogram(x, bins=edges, weights=w2)
        if not np.any(sum_w2 > 0):
            raise ValueError(f"binned fit of {shape.name}: the weighted sample has no sum of squared weights in "
                             f"any bin (an exact template): there is no statistical error to fit against; fit "
                             f"the data or the MC itself")
        n = np.stack([counts, sum_w2], axis=-1)

    def expected_below(xe, *par):  # par: norm, then the shape's parameters
        return par[0] * shape.cdf(xe, dict(zip(shape.params, par[1:])))

    names = ["norm", *shape.params]
    cost = ExtendedBinnedNLL(n, edges, expected_below, name=names)
    if blind is not None:
        cost.mask = (edges[1:] <= blind[0]) | (edges[:-1] >= blind[1])
    inside = (x >= lo) & (x <= hi)
    start = shape.start(x[inside], None if w is None else w[inside])
    m = Minuit(cost, max(counts.sum(), 1.0), *[start[p] for p in shape.params])
    m.limits["norm"] = (0.0, None)
    for p in shape.params:
        if p in shape.limits:
            m.limits[p] = shape.limits[p]
    m.migrad()
    if not m.valid:
        m.migrad()
    nbins = int(cost.ndata)
    ndf = nbins - len(names)
    chi2 = float(m.fval)
    return {"chi2": chi2, "ndf": ndf, "nbins": nbins,
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


def choose_background(template: ChannelData, candidates, signal_shape: str, signal_params: Mapping,
                      expected_signal: float, lo: float, hi: float, mass_points, *,
                      criteria: Mapping | None = None, ftest_threshold: float = 0.05,
                      ftest_data=None, ftest_bin_width: float = 1.0, blind=None,
                      reference_mass: float | None = None) -> dict:
    """Run the spurious-signal test on every candidate and choose one (module docstring).

    ``template``: ChannelData (``binned_points`` of the MC, or ``template_from_function``).
    ``ftest_data``: ``(x, w)`` for the F-test (default: the template's points with their
    sums of weights and of squared weights, see ``binned_chi2_fit``), with bins of
    ``ftest_bin_width`` outside ``blind`` ([lo, hi] window, e.g. the signal region when
    fitting data sidebands).
    Only candidates whose template fits are valid at every mass point can pass. The
    returned ``spurious_signal`` is always finite and at most ``expected_signal`` (capped,
    with ``spurious_signal_capped`` True and a line in ``warnings``, when the choice's
    S_spur is larger, e.g. when no candidate passes).
    Returns ``{"choice", "passed", "spurious_signal" (S_spur of the choice, events),
    "spurious_signal_capped", "warnings": [str], "criteria", "expected_signal",
    "candidates": {name: spurious_signal(...) + "passed", "allowed", "chi2", "ndf", "chi2_p_value"}, "ftest": [steps], "order": [names]}``.
    """
    crit = dict(DEFAULT_CRITERIA)
    crit.update(criteria or {})
    if crit["mode"] not in ("or", "and"):
        raise ValueError(f"spurious-signal criterion mode must be 'or' or 'and'; got {crit['mode']!r}")
    if not candidates:
        raise ValueError("no background candidates to choose from")
    expected_signal = float(expected_signal)
    if not (math.isfinite(expected_signal) and expected_signal > 0):
        raise ValueError(f"the spurious-signal test needs a positive, finite expected signal; got {expected_signal}")
    fx, fw, fw2 = (template.x, template.w, template.w2) if ftest_data is None else (*ftest_data, None)
    results = {}
    warnings: list[str] = []
    for name in candidates:
        res = spurious_signal(template, name, signal_shape, signal_params, expected_signal, lo, hi, mass_points,
                              reference_mass=reference_mass)
        ratio = res["max_ratio_to_error"] if res["max_ratio_to_error"] is not None else math.inf
        ok_signal = res["max_abs_signal"] < crit["max_fraction_of_signal"] * expected_signal
        ok_error = ratio < crit["max_fraction_of_error"]
        ok = bool(ok_signal or ok_error) if crit["mode"] == "or" else bool(ok_signal and ok_error)
        # A failed template fit at any mass point hides the spurious signal there: no pass.
        res["passed"] = bool(ok and res["valid"])
        if res["n_invalid"]:
            warnings.append(f"{res['background']}: the S+B template fit failed at {res['n_invalid']} of "
                            f"{len(res['mass_points'])} mass points; the function cannot pass")
        # Allowance: S_spur divided by the most lenient threshold the mode allows.
        allowed = [crit["max_fraction_of_signal"] * expected_signal,
                   crit["max_fraction_of_error"] * res["max_abs_signal"] / max(ratio, 1e-300)]
        res["allowed"] = float(max(allowed) if crit["mode"] == "or" else min(allowed))
        chi = binned_chi2_fit(fx, fw, name, lo, hi, ftest_bin_width, blind, weights_squared=fw2)
        res.update(chi2=chi["chi2"], ndf=chi["ndf"], nbins=chi["nbins"], chi2_p_value=chi["p_value"])
        results[res["background"]] = res
        log.info("background %-12s S_spur = %8.2f (%.1f%% of S, %.2f sigma_S, %d invalid points) %s",
                 res["background"], res["max_abs_signal"], 100 * res["max_abs_signal"] / expected_signal, ratio,
                 res["n_invalid"], "passes" if res["passed"] else "fails")
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
        # Fully valid candidates first (then fewest failed points), then the smallest S_spur
        # relative to the allowance; a candidate without any valid point comes last.
        order = sorted(results, key=lambda n: (results[n]["fallback"], results[n]["n_invalid"],
                                               results[n]["max_abs_signal"] / max(results[n]["allowed"], 1e-300),
                                               results[n]["npar"]))
        choice = order[0]
        passed = False
        warnings.append(f"no background function passes the spurious-signal test; taking {choice} (fewest failed "
                        f"template fits, then smallest S_spur relative to the allowance)")
    # The spurious-signal nuisance's width must be a finite, sensible number: never more than
    # the expected signal itself (a failed or hopeless template test says "as large as the
    # signal", not "infinite").
    spur = results[choice]["max_abs_signal"]
    capped = not (math.isfinite(spur) and spur <= expected_signal)
    if capped:
        warnings.append(f"spurious signal of {choice} ({spur:.3g} events) capped at the expected signal "
                        f"({expected_signal:.3g} events)")
        spur = expected_signal
    if results[choice]["fallback"]:
        warnings.append(f"{choice}: no valid template fit at any mass point; its spurious signal is the fallback "
                        f"value, the expected signal ({expected_signal:.3g} events)")
    for w in warnings:
        log.warning("spurious-signal test: %s", w)
    return {
        "choice": choice,
        "passed": passed,
        "spurious_signal": float(spur),
        "spurious_signal_capped": bool(capped),
        "warnings": warnings,
        "criteria": crit,
        "expected_signal": float(expected_signal),
        "ftest_threshold": float(ftest_threshold),
        "candidates": results,
        "ftest": steps,
        "order": list(order),
    }
