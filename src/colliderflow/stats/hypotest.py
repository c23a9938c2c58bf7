"""Hypothesis tests with the profile likelihood: the discovery test statistic q0 with its p0
and significance, Asimov datasets and the expected (median) significance, and the local p0
against the signal mass.

Asymptotic formulae of Cowan, Cranmer, Gross and Vitells, Eur. Phys. J. C 71 (2011) 1554:
Z = sqrt(q0), p0 = 1 - Phi(Z). Nothing here knows about a particular analysis.
"""

from __future__ import annotations

import logging
import math
from typing import Mapping

import numpy as np
from scipy import stats as _sps

from .fit import FitResult, fit
from .model import ChannelData, Model, as_data

log = logging.getLogger(__name__)


def discovery(model: Model, data, *, best: FitResult | None = None, poi: str | None = None,
              fix: Mapping | list | None = None, errors: str = "auto") -> dict:
    """Discovery test statistic q0 = -2 ln(L(poi=0)/L(poi_hat)) (0 if poi_hat < 0), p0, Z = sqrt(q0).

    Parameters that only shape the signal (e.g. a floating ``mass``) have no meaning at
    poi = 0, so they are held at their best-fit values in the null fit. Returns
    ``{"q0", "p0", "Z", "poi_hat", "poi_error", "best": FitResult, "null": FitResult}``.
    """
    poi = poi or model.poi
    if poi is None:
        raise ValueError("the model has no parameter of interest; name one with poi=")
    data = as_data(model, data)
    if best is None:
        best = fit(model, data, fix=fix, errors=errors)
    fixed = dict(fix) if isinstance(fix, Mapping) else {n: None for n in (fix or [])}
    null_fix = dict(fixed)
    null_fix[poi] = 0.0
    if poi == model.poi and model.signal_vanishes_at_zero_poi():
        for n in model.signal_only_params():
            null_fix.setdefault(n, best.values[n])
    # Two starts: from the best fit (usually closest), and from the model's own starting values.
    # A constrained nuisance can pin the first at its bound far from the minimum (a "valid" fit
    # with a huge NLL, so a huge q0); the lower of the two is the null fit. q0 needs only the
    # minima: no HESSE.
    nulls = [fit(model, data, start=start, fix=null_fix, errors="none") for start in (best.values, None)]
    null = min(nulls, key=lambda result: result.twice_nll if result.valid else math.inf)
    mu_hat = best.values[poi]
    q0 = max(null.twice_nll - best.twice_nll, 0.0) if mu_hat > 0 else 0.0
    z = math.sqrt(q0)
    return {"q0": float(q0), "p0": float(_sps.norm.sf(z)), "Z": float(z),
            "poi_hat": float(mu_hat), "poi_error": float(best.errors.get(poi, 0.0)),
            "best": best, "null": null}


def asimov_data(model: Model, values: Mapping, bin_width: float = 0.05) -> dict:
    """The Asimov dataset of ``model`` at ``values``: per channel, weighted points at the centres
    of bins of ``bin_width`` whose weights are the expected counts (exact bin integrals).

    Fitting it with the weighted likelihood reproduces ``values`` (up to the binning, which
    is negligible for a bin width well below the resolution) and gives the median
    significance of Cowan et al., Eur. Phys. J. C 71 (2011) 1554.
    """
    out = {}
    for name in model.channels:
        lo, hi = model.channel_range(name)
        nb = max(int(math.ceil((hi - lo) / bin_width)), 1)
        edges = np.linspace(lo, hi, nb + 1)
        exp = model.expected_counts(name, edges, values)
        w = exp["signal"] + exp["background"]
        out[name] = ChannelData(0.5 * (edges[1:] + edges[:-1]), np.maximum(w, 0.0), True)
    return out


def expected_significance(model: Model, values: Mapping, *, bin_width: float = 0.05,
                          poi: str | None = None) -> dict:
    """Median discovery significance for the model at ``values`` (e.g. mu = 1 with background
    parameters from a fit to data), from the Asimov dataset: Z_exp = sqrt(q0_A).

    Returns ``{"q0", "p0", "Z", "poi_hat"}``.
    """
    data = asimov_data(model, values, bin_width)
    res = discovery(model, data, poi=poi, best=fit(model, data, start=values, errors="none"))
    return {k: res[k] for k in ("q0", "p0", "Z", "poi_hat")}


def p0_scan(model: Model, data, masses, *, mass_param: str = "mass", poi: str | None = None,
            expected_values: Mapping | None = None, bin_width: float = 0.05) -> dict:
    """Local p0 against the signal mass: at each mass the S+B fit with ``mass_param`` fixed.

    The background-only fit does not depend on the mass, so it is done once. With
    ``expected_values`` (e.g. mu = 1 and the background from the data fit) also the expected
    p0 at each mass, from an Asimov dataset with the signal at that mass. Returns arrays
    ``mass, poi_hat, q0, p0, Z`` (and ``p0_expected, Z_expected``).
    """
    poi = poi or model.poi
    model.check_names([mass_param, poi], "p0_scan")
    data = as_data(model, data)
    masses = np.asarray(masses, dtype=float)
    null_fix = {poi: 0.0}
    # With a spurious-signal nuisance the signal does not vanish at poi = 0, so the null
    # hypothesis depends on the mass and is refitted at each mass; otherwise it is fitted once.
    null_per_mass = not (poi == model.poi and model.signal_vanishes_at_zero_poi())
    if not null_per_mass:
        null_fix.update({n: model.values().get(n) or masses[0] for n in model.signal_only_params()})
        null = fit(model, data, fix=null_fix, errors="none")
        st = dict(null.values)
    else:
        null = fit(model, data, fix={poi: 0.0, mass_param: float(masses[0])}, errors="none")
        st = dict(null.values)
    out = {k: np.zeros(masses.size) for k in ("poi_hat", "q0", "p0", "Z")}
    st[poi] = 0.0
    null_st = dict(null.values)
    for i, mass in enumerate(masses):
        st[mass_param] = float(mass)
        r = fit(model, data, start=st, fix={mass_param: float(mass)}, errors="none", strategy=0)
        mu_hat = r.values[poi]
        t0 = null.twice_nll
        if null_per_mass:
            null_st[mass_param] = float(mass)
            n0 = fit(model, data, start=null_st, fix={poi: 0.0, mass_param: float(mass)}, errors="none",
                     strategy=0)
            t0 = n0.twice_nll
            null_st = dict(n0.values)
        q0 = max(t0 - r.twice_nll, 0.0) if mu_hat > 0 else 0.0
        out["poi_hat"][i] = mu_hat
        out["q0"][i] = q0
        st = dict(r.values)
        if i % 20 == 0:
            log.info("p0 scan: %d/%d masses", i + 1, masses.size)
    out["Z"] = np.sqrt(out["q0"])
    out["p0"] = _sps.norm.sf(out["Z"])
    if expected_values is not None:
        zexp = np.zeros(masses.size)
        for i, mass in enumerate(masses):
            v = dict(expected_values)
            v[mass_param] = float(mass)
            pinned = model.with_values({mass_param: float(mass)}, fixed={mass_param: True})
            zexp[i] = expected_significance(pinned, v, bin_width=bin_width, poi=poi)["Z"]
        out["Z_expected"] = zexp
        out["p0_expected"] = _sps.norm.sf(zexp)
    result = {"mass": masses.tolist(), "null_twice_nll": float(null.twice_nll), "null_per_mass": bool(null_per_mass)}
    result.update({k: np.asarray(v).tolist() for k, v in out.items()})
    return result
