"""Intervals and correlations of a fitted ``Model``: MINOS intervals of single parameters, the
likelihood contour of two parameters, and the parameter of interest measured per channel with
the channels' compatibility.

All take the model, the data and the fit to them (``fit.fit``); MINOS and the contour run on a
Minuit started at that fit's minimum with the same free parameters. Levels are in
Delta(-2 ln L): 1 and 3.84 for one parameter (68.27 % and 95 %), 2.30 and 5.99 for two (68.27 %
and 95 %, Wilks' theorem). For weighted data Minuit minimises the cost scaled to the effective
sample (``cost.ModelCost``), so the intervals follow the effective statistics. Nothing here
knows about a particular analysis.
"""

from __future__ import annotations

import copy
import logging
from typing import Mapping

import numpy as np
from iminuit import Minuit
from scipy import stats as _sps

from .cost import ModelCost
from .fit import LEVEL_68, LEVEL_95, FitResult, _minuit, fit, offset_at_minimum
from .model import Expression, Model, as_data

log = logging.getLogger(__name__)

# Delta(-2 ln L) of the 68.27 % and 95 % regions of two parameters.
LEVEL_2D_68 = float(_sps.chi2.ppf(_sps.chi2.cdf(1.0, 1), 2))  # 2.30
LEVEL_2D_95 = float(_sps.chi2.ppf(0.95, 2))  # 5.99


def minimum(model: Model, data, best: FitResult) -> Minuit:
    """Minuit at the minimum of ``best`` (its free parameters, started at its values), after
    a MIGRAD that only confirms the minimum (``Minuit.valid`` says whether it did) and a HESSE:
    MINOS steps from the covariance, and MIGRAD's approximate one can leave it without a crossing."""
    data = as_data(model, data)
    cost = ModelCost(model, data)
    steps = {n: best.errors[n] for n in best.free if best.errors.get(n, 0.0) > 0}
    m = _minuit(cost, model.names, best.values, model, set(model.names) - set(best.free), 1, steps)
    offset_at_minimum(m, cost)
    m.migrad()
    m.hesse()
    return m


# How MINOS ended at an interval edge (``minos``'s ``edges``).
EDGE_FOUND = "found"
EDGE_AT_LIMIT = "at limit"  # -2 ln L does not rise by the level before the parameter's limit


def minos(model: Model, data, params, *, best: FitResult, levels=(LEVEL_68, LEVEL_95)) -> dict:
    """MINOS intervals of each of ``params`` at each Delta(-2 ln L) of ``levels``.

    Returns ``{param: {"value", "intervals": [[lo, hi] per level], "edges": [[lo, hi] per
    level], "levels", "valid"}}``. ``edges`` says how each edge ended: ``EDGE_FOUND``;
    ``EDGE_AT_LIMIT`` where -2 ln L has not risen by the level at the parameter's limit, the
    interval reaching it (its edge is the limit); or ``not found: <why>`` (MINOS's call limit,
    a new minimum, no convergence, or a fit minimum that is not valid), the edge None and
    ``valid`` False.
    """
    params = list(params)
    model.check_names(params, "minos")
    fixed = [p for p in params if p not in best.free]
    if fixed:
        raise ValueError(f"minos: parameter(s) {fixed} are fixed in the fit; MINOS needs free parameters")
    m = minimum(model, data, best)
    out = {p: {"value": float(m.values[p]), "levels": [float(v) for v in levels], "intervals": [], "edges": [],
               "valid": m.valid} for p in params}
    if not m.valid:  # MINOS needs a valid minimum: no intervals, said plainly
        log.warning("MINOS of %s: the fit's minimum is not valid (EDM %.3g); no intervals", params, m.fmin.edm)
        for p in params:
            out[p]["intervals"] = [[None, None] for _ in levels]
            out[p]["edges"] = [["not found: the fit's minimum is not valid"] * 2 for _ in levels]
        return out
    for level in levels:
        m.minos(*params, cl=float(_sps.chi2.cdf(level, 1)))
        for p in params:
            edges = [_edge(model, p, m.values[p], m.merrors[p], side) for side in ("lower", "upper")]
            for side, (_, status) in zip(("lower", "upper"), edges):
                if status != EDGE_FOUND:
                    log.warning("MINOS of %s at Delta(-2 ln L) = %.3g: %s edge %s", p, level, side, status)
                    out[p]["valid"] &= status == EDGE_AT_LIMIT
            out[p]["intervals"].append([value for value, _ in edges])
            out[p]["edges"].append([status for _, status in edges])
    return out


def _edge(model: Model, param: str, value: float, error, side: str) -> tuple:
    """(edge, status) of one side of a MINOS error (``iminuit.util.MError``)."""
    if getattr(error, f"at_{side}_limit"):
        return model.limits(param)[0 if side == "lower" else 1], EDGE_AT_LIMIT
    if getattr(error, f"{side}_valid"):
        return float(value + getattr(error, side)), EDGE_FOUND
    why = ("MINOS's call limit" if getattr(error, f"at_{side}_max_fcn") else
           "a new minimum on the way" if getattr(error, f"{side}_new_min") else "no convergence")
    return None, f"not found: {why}"


def contour(model: Model, data, x: str, y: str, *, best: FitResult, levels=(LEVEL_2D_68, LEVEL_2D_95),
            size: int = 40) -> dict:
    """The profile-likelihood contours of ``x`` and ``y`` (iminuit's ``mncontour``, all other free
    parameters refitted at each point) at each Delta(-2 ln L) of ``levels``, ``size`` points each.

    Returns ``{"x", "y", "best": [x_hat, y_hat], "contours": [{"level", "cl", "points": [[x, y], ...]}]}``
    (each contour closed: its last point repeats the first).
    """
    model.check_names([x, y], "contour")
    fixed = [p for p in (x, y) if p not in best.free]
    if fixed:
        raise ValueError(f"contour: parameter(s) {fixed} are fixed in the fit; the contour needs free parameters")
    m = minimum(model, data, best)
    if not m.valid:
        raise RuntimeError(f"the {x}-{y} contour needs a valid minimum; the fit's is not (EDM {m.fmin.edm:.3g})")
    contours = []
    for level in levels:
        cl = float(_sps.chi2.cdf(level, 2))
        points = np.asarray(m.mncontour(x, y, cl=cl, size=size), dtype=float)
        if not np.all(np.isfinite(points)):
            raise RuntimeError(f"the {x}-{y} contour at Delta(-2 ln L) = {level:.3g} has non-finite points")
        contours.append({"level": float(level), "cl": cl, "points": points.tolist()})
    return {"x": x, "y": y, "best": [float(m.values[x]), float(m.values[y])], "contours": contours}


def per_channel_spec(model: Model, poi: str | None = None) -> tuple[dict, dict]:
    """The spec of ``model`` with one parameter of interest per channel (``<poi>_<channel>``,
    each a copy of the POI's settings) in place of the common one; everything else shared.

    Returns ``(spec, {channel: its POI name})``; channels whose signal yield does not scale
    with the POI keep their yield. ValueError if the POI enters anything but signal yields.
    """
    poi = poi or model.poi
    if poi is None:
        raise ValueError("the model has no parameter of interest; name one with poi=")
    spec = copy.deepcopy(model.spec)
    names = {}
    for ch in spec["channels"]:
        for key in ("signal", "background"):
            comp = ch.get(key)
            if not comp:
                continue
            if any(poi in Expression(m).refs() for m in comp["params"].values()):
                raise ValueError(f"channel {ch['name']!r}: the POI {poi!r} enters a {key} shape; "
                                 "only a POI that scales signal yields can be split by channel")
            ym = comp.get("yield", 0.0)
            if poi not in Expression(ym).refs():
                continue
            own = f"{poi}_{ch['name']}"
            if key == "background" or not _only_a_factor(ym, poi):
                raise ValueError(f"channel {ch['name']!r}: the POI {poi!r} enters the {key} yield other than as a "
                                 "factor of the signal; only a POI that scales signal yields can be split by channel")
            if own in spec["parameters"]:
                raise ValueError(f"cannot split {poi!r} by channel: the model already has a parameter {own!r}")
            comp["yield"] = _renamed_factor(ym, poi, own)
            names[ch["name"]] = own
    common = spec["parameters"].pop(poi)
    spec["parameters"].update({own: copy.deepcopy(common) for own in names.values()})
    spec["poi"] = None
    return spec, names


def _terms(expression) -> list:
    """The terms of a yield expression (stats.model.Expression: a term or a list of terms)."""
    return expression if isinstance(expression, list) else [expression]


def _only_a_factor(expression, name: str) -> bool:
    """Whether ``name`` enters ``expression`` only as a factor of its terms."""
    return all(not isinstance(t, Mapping) or not any(name in t.get(k, {}) for k in ("add", "relative", "lognormal"))
               for t in _terms(expression))


def _renamed_factor(expression, old: str, new: str):
    """``expression`` with the factor ``old`` renamed ``new`` in every term."""
    def rename(term):
        if term == old:
            return new
        if not isinstance(term, Mapping):
            return term
        out = dict(term, factors=[new if f == old else f for f in term.get("factors", [])])
        if term.get("param") == old:
            out["param"] = new
        return out

    renamed = [rename(t) for t in _terms(expression)]
    return renamed if isinstance(expression, list) else renamed[0]


def channel_compatibility(model: Model, data, *, best: FitResult, poi: str | None = None) -> dict:
    """The POI fitted per channel (``per_channel_spec``) and the compatibility of the channels:
    the likelihood ratio q = -2 ln(L(common POI) / L(one POI per channel)), asymptotically
    chi2 with (channels with a POI - 1) degrees of freedom.

    ``best`` is the fit of ``model`` with the common POI. Returns ``{"channels": {channel:
    {"param", "value", "error", "interval68", "interval68_edges"}}, "q", "ndf", "p_value", "valid"}``
    (``interval68``: MINOS, with how its edges ended, ``minos``; ``p_value`` None for a single channel).
    """
    poi = poi or model.poi
    spec, names = per_channel_spec(model, poi)
    split = Model(spec)
    data = as_data(model, data)
    start = {n: v for n, v in best.values.items() if n != poi}
    start.update({own: best.values[poi] for own in names.values()})
    fixed = [n for n in best.fixed if n in split.names]
    result = fit(split, data, start=start, fix=fixed)
    intervals = minos(split, data, list(names.values()), best=result, levels=(LEVEL_68,))
    channels = {
        ch: {"param": own, "value": float(result.values[own]), "error": float(result.errors[own]),
             "interval68": intervals[own]["intervals"][0], "interval68_edges": intervals[own]["edges"][0]}
        for ch, own in names.items()
    }
    q = max(best.twice_nll - result.twice_nll, 0.0)
    ndf = len(names) - 1
    return {"channels": channels, "q": float(q), "ndf": ndf,
            "p_value": float(_sps.chi2.sf(q, ndf)) if ndf > 0 else None,
            "valid": bool(result.valid and best.valid)}

