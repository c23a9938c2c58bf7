"""Maximum-likelihood fits of a ``Model`` (Minuit on ``cost.ModelCost``), shape fits to
(weighted) MC, and profile-likelihood scans with their intervals.

``fit`` reports Hessian errors, or sandwich errors for weighted data (see ``cost``).
Nothing here knows about a particular analysis.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
from iminuit import Minuit
from scipy import stats as _sps

from .cost import ModelCost, sandwich_covariance
from .model import ChannelData, Model, as_data
from .shapes import Shape

log = logging.getLogger(__name__)

# Delta(-2 ln L) levels for two-sided 68.27% and 95% intervals of one parameter.
LEVEL_68 = 1.0
LEVEL_95 = float(_sps.chi2.ppf(0.95, 1))  # 3.841


@dataclass
class FitResult:
    """Outcome of a fit.

    ``values``/``errors``: by parameter name (fixed parameters have error 0);
    ``covariance``: matrix over ``free`` (in that order); ``twice_nll``: -2 ln L at the
    minimum; ``valid``: Minuit's verdict; ``error_method``: "hesse" or "sandwich".
    """

    values: dict
    errors: dict
    free: list
    covariance: np.ndarray
    twice_nll: float
    valid: bool
    error_method: str = "hesse"
    fixed: list = field(default_factory=list)
    nfcn: int = 0
    extra: dict = field(default_factory=dict)  # e.g. sums of weights of a shape fit

    def params_dict(self) -> dict:
        """``{name: {"value": v, "error": e}}`` (the fit.json format)."""
        return {n: {"value": float(v), "error": float(self.errors.get(n, 0.0))} for n, v in self.values.items()}

    def to_dict(self) -> dict:
        return {
            "params": self.params_dict(),
            "fixed": list(self.fixed),
            "twice_nll": float(self.twice_nll),
            "valid": bool(self.valid),
            "error_method": self.error_method,
            "covariance": {"names": list(self.free), "matrix": np.asarray(self.covariance).tolist()},
        }

    def correlation(self, a: str, b: str) -> float:
        if a not in self.free or b not in self.free:
            return 0.0
        i, j = self.free.index(a), self.free.index(b)
        c = self.covariance
        return float(c[i, j] / math.sqrt(c[i, i] * c[j, j]))


def _start_values(model: Model, data: dict, start: Mapping | None) -> dict:
    """Stored values, overridden by ``start``; values left as None are estimated from data."""
    vals = model.values()
    for n, v in (start or {}).items():
        if n not in vals:
            raise KeyError(f"unknown parameter {n!r}; the model's parameters are {model.names}")
        vals[n] = v
    for name in model.channels:
        ch, d = model.channel(name), data[name]
        for key, comp in (("signal", ch.signal), ("background", ch.background)):
            if comp is None:
                continue
            guess = None
            for p, m in comp.param_map.items():
                if isinstance(m, str) and vals.get(m) is None:
                    if guess is None:
                        guess = comp.shape.start(d.x, d.w)
                    vals[m] = guess.get(p, 0.0)
            ym = comp.yield_map
            if isinstance(ym, str) and vals.get(ym) is None:
                # The background takes the whole sample, or the signal when it is alone;
                # a free signal yield next to a background starts at 0.
                alone = ch.background is None or ch.signal is None
                vals[ym] = max(d.sum_of_weights(), 1e-9) if (key == "background" or alone) else 0.0
    for n, v in vals.items():
        if v is None:
            lo, hi = model.limits(n)
            vals[n] = 0.0 if not (np.isfinite(lo) and np.isfinite(hi)) else 0.5 * (lo + hi)
            if np.isfinite(lo) and vals[n] < lo:
                vals[n] = lo
    return {n: float(v) for n, v in vals.items()}


def _step_hints(model: Model, data: dict) -> dict:
    """Initial step sizes for yield parameters: about their Poisson error, sqrt(sum w)."""
    hints = {}
    for name in model.channels:
        for comp in model.channel(name).components:
            if isinstance(comp.yield_map, str):
                hints[comp.yield_map] = math.sqrt(max(data[name].sum_of_weights(), 1.0))
    return hints


def _minuit(cost, names, start: dict, model: Model, fixed: set, strategy: int, steps: dict | None = None) -> Minuit:
    m = Minuit(cost, [start[n] for n in names], name=names)
    m.strategy = strategy
    m.print_level = 0
    for n in names:
        lo, hi = model.limits(n)
        if np.isfinite(lo) or np.isfinite(hi):
            m.limits[n] = (lo, hi)
        v = start[n]
        if np.isfinite(lo) and v <= lo or np.isfinite(hi) and v >= hi:
            # A start on a bound stalls Minuit; nudge it inside.
            span = (hi - lo) if np.isfinite(hi - lo) else max(abs(v), 1.0)
            m.values[n] = min(max(v, lo + 1e-3 * span), hi - 1e-3 * span)
        step = 0.1 * abs(start[n]) if start[n] != 0 else 0.1
        if steps and n in steps:
            step = steps[n]
        if np.isfinite(lo) and np.isfinite(hi):
            step = min(step, 0.1 * (hi - lo))
        m.errors[n] = step
        if n in fixed:
            m.fixed[n] = True
    return m


def offset_at_minimum(m: Minuit, cost: ModelCost) -> None:
    """Offset ``cost`` to 0 at Minuit's values, a minimum, and tell Minuit the cost's precision:
    second derivatives then see a cost of order 1 (``ModelCost``)."""
    cost.offset_at([float(v) for v in m.values])
    m.precision = cost.precision


def fit(model: Model, data, *, start: Mapping | None = None, fix: Mapping | list | None = None,
        errors: str = "auto", strategy: int = 1) -> FitResult:
    """Maximum-likelihood fit of ``model`` to ``data`` (see ``as_data`` for the data format).

    ``start``: starting values by name (else the spec's values, else estimates from data).
    ``fix``: names to fix at their start values, or ``{name: value}`` to fix at a value;
    parameters fixed in the spec stay fixed. ``errors``: "hesse", "sandwich" (weighted data)
    or "auto" (sandwich when some channel has non-unit weights and is not Asimov), or "none"
    (no HESSE: for scans that need only the minimum; errors are MIGRAD's approximation).
    MINOS intervals and contours of a fit: ``intervals``.
    """
    if errors not in ("auto", "hesse", "sandwich", "none"):
        raise ValueError(f"errors must be 'auto', 'hesse', 'sandwich' or 'none'; got {errors!r}")
    data = as_data(model, data)
    fix_values = dict(fix) if isinstance(fix, Mapping) else {n: None for n in (fix or [])}
    model.check_names(fix_values, "fix")
    st = dict(start or {})
    st.update({n: v for n, v in fix_values.items() if v is not None})
    values0 = _start_values(model, data, st)
    fixed = {n for n in model.names if model.is_fixed(n)} | set(fix_values)
    cost = ModelCost(model, data)
    m = _minuit(cost, model.names, values0, model, fixed, strategy, _step_hints(model, data))
    free = [n for n in model.names if n not in fixed]
    m.migrad()
    if free and errors != "none":
        offset_at_minimum(m, cost)
        m.hesse()
    # HESSE can find the EDM just above tolerance after a quick (strategy 0) MIGRAD; a second
    # MIGRAD from the accurate Hessian fixes that, a third at strategy 2 the stubborn cases.
    for attempt in range(2):
        if m.valid:
            break
        if attempt == 1:
            m.strategy = 2
        m.migrad()
        if free:
            m.hesse()
    values = {n: float(m.values[n]) for n in model.names}
    if free and m.covariance is not None:
        # Covariance of the unscaled -2 ln L (the Hessian estimate).
        cov = cost.scale * np.array([[m.covariance[a, b] for b in free] for a in free])
    else:
        cov = np.zeros((len(free), len(free)))
    method = "hesse"
    weighted = any(d.w is not None and not d.asimov for d in data.values())
    if errors == "sandwich" or (errors == "auto" and weighted):
        if free:
            cov = sandwich_covariance(cost, values, free, cov)
        method = "sandwich"
    elif errors == "none":
        method = "migrad"  # MIGRAD's approximate covariance only (scans need the minimum alone)
    errs = {n: 0.0 for n in model.names}
    for i, n in enumerate(free):
        errs[n] = float(math.sqrt(max(cov[i, i], 0.0)))
    result = FitResult(values, errs, free, cov, cost.twice_nll([values[n] for n in model.names]), bool(m.valid), method, sorted(fixed),
                       int(m.nfcn))
    if not result.valid:
        log.warning("fit did not converge (EDM %.3g); results may be unreliable", m.fmin.edm)
    return result


TIE = 0.01  # relative: a stat-only error above the total by less than this is the same error


def stat_syst_split(model: Model, data, best: FitResult, params: list) -> dict:
    """The errors of ``params`` split into a statistical and a systematic part.

    stat: the error of a refit with every free constrained (nuisance) parameter of ``model``
    fixed at its value in ``best``; syst = sqrt(total^2 - stat^2): 0 where the refit's error
    is larger by less than ``TIE`` (a numerical tie), None where it is larger still (the
    covariance of a degenerate fit, e.g. flat directions, does not split). Returns
    ``{name: {"value", "error", "stat", "syst"}}``."""
    model.check_names(params, "stat_syst_split")
    nuisances = {n: best.values[n] for n in model.constraints() if n in best.free}
    stat = fit(model, data, start=best.values, fix=nuisances) if nuisances else best
    out = {}
    for n in params:
        total, stat_err = best.errors[n], stat.errors[n]
        syst = math.sqrt(max(total**2 - stat_err**2, 0.0)) if stat_err <= total * (1 + TIE) else None
        out[n] = {"value": float(best.values[n]), "error": float(total), "stat": float(stat_err), "syst": syst}
    return out


def correlations(result: FitResult, params: list) -> dict:
    """``{"names": params, "matrix": [[rho]]}``: the correlation matrix of ``params`` in ``result``."""
    return {"names": list(params),
            "matrix": [[1.0 if a == b else result.correlation(a, b) for b in params] for a in params]}


def fit_shape(shape: Shape, x, weights=None, *, start: Mapping | None = None, fix: Mapping | list | None = None,
              errors: str = "auto", limits: Mapping | None = None) -> FitResult:
    """(Weighted) unbinned maximum-likelihood fit of a normalised ``shape`` to a sample.

    Used for the signal model: fit e.g. the double-sided Crystal Ball to weighted signal MC.
    Events outside the shape's range are ignored. With non-unit weights the errors are the
    sandwich estimate (``cost``), so they reflect the MC's effective statistics
    (sum w)^2 / sum w^2 whatever the weights' normalisation. ``fix`` as in ``fit``;
    ``limits`` overrides the shape's parameter bounds by name.

    Returns a FitResult whose values are the shape's parameters; ``result.extra`` holds
    ``sum_w``, ``sum_w2``, ``n_events`` and ``n_effective`` of the events in range.
    """
    spec = {
        "poi": None,
        "parameters": {},
        "channels": [{"name": "shape", "range": [shape.lo, shape.hi],
                      "background": {"shape": shape.name, "params": {p: p for p in shape.params}, "yield": 1.0}}],
    }
    for p in shape.params:
        lim = (limits or {}).get(p, shape.limits.get(p))
        spec["parameters"][p] = {"value": None, "limits": list(lim) if lim is not None else None}
    model = Model(spec)
    d = as_data(model, (np.asarray(x, dtype=float), None if weights is None else np.asarray(weights, dtype=float)))
    ch = d["shape"]
    if ch.x.size < max(shape.npar, 2):
        raise ValueError(f"only {ch.x.size} events in [{shape.lo}, {shape.hi}]: too few to fit {shape.name!r}")
    sw = ch.sum_of_weights()
    if sw <= 0:
        raise ValueError(f"the sum of weights in [{shape.lo}, {shape.hi}] is {sw}; cannot fit a shape")
    st = shape.start(ch.x, ch.w)
    st.update(start or {})
    # Normalise weights to mean 1 for the fit: the minimum is unchanged, Minuit's tolerance
    # behaves, and sandwich errors do not depend on the normalisation.
    w = None if ch.w is None else ch.w * (ch.x.size / sw)
    if w is not None and np.ptp(w) <= 1e-12 * np.max(np.abs(w)):
        w = None  # constant weights only normalise: the fit is the unweighted one
    res = fit(model, {"shape": ChannelData(ch.x, w)}, start=st, fix=fix, errors=errors)
    sw2 = float(ch.x.size if ch.w is None else np.sum(ch.w**2))
    res.extra = {"sum_w": sw, "sum_w2": sw2, "n_events": int(ch.x.size), "n_effective": sw**2 / sw2}
    return res


def profile_scan(model: Model, data, param: str, values, *, best: FitResult | None = None,
                 fix: Mapping | list | None = None, strategy: int = 0) -> dict:
    """Profile -2 ln L of ``param`` over ``values`` (all other free parameters refitted).

    Returns ``{"param", "values", "twice_nll", "dnll2", "best": {"value", "error"},
    "interval68": [lo, hi], "interval95": [lo, hi]}``. ``dnll2`` is relative to the global
    minimum (the unconditional fit, or the scan's lowest point if lower). Interval edges are
    where dnll2 crosses 1 and 3.84, interpolated linearly in the signed root
    r = sign(x - x_hat) sqrt(dnll2) (nearly linear for a near-parabolic profile); an edge
    outside the scanned values is None. Each point starts from its neighbour's fit.
    """
    model.check_names([param], "profile_scan")
    data = as_data(model, data)
    if best is None:
        best = fit(model, data, fix=fix)
    points = np.asarray(values, dtype=float)
    order = np.argsort(np.abs(points - best.values[param]))
    start_idx = int(order[0])
    tnll = np.full(points.size, np.nan)
    fixed = dict(fix) if isinstance(fix, Mapping) else {n: None for n in (fix or [])}
    for direction in (range(start_idx, points.size), range(start_idx - 1, -1, -1)):
        st = dict(best.values)
        for i in direction:
            f = dict(fixed)
            f[param] = float(points[i])
            st[param] = float(points[i])
            r = fit(model, data, start=st, fix=f, errors="none", strategy=strategy)
            tnll[i] = r.twice_nll
            st = dict(r.values)
    tmin = min(best.twice_nll, np.nanmin(tnll))
    dnll2 = tnll - tmin
    xhat = best.values[param]
    out = {
        "param": param,
        "values": points.tolist(),
        "twice_nll": tnll.tolist(),
        "dnll2": dnll2.tolist(),
        "best": {"value": float(xhat), "error": float(best.errors.get(param, 0.0))},
    }
    for label, level in (("interval68", LEVEL_68), ("interval95", LEVEL_95)):
        out[label] = list(crossings(points, dnll2, xhat, level))
    return out


def crossings(points, dnll2, xhat: float, level: float) -> list:
    """Left and right points where a profile ``dnll2`` (at ``points``, minimum at ``xhat``)
    crosses ``level``, interpolated linearly in the signed root; None where it does not
    cross inside the points."""
    points = np.asarray(points, dtype=float)
    dnll2 = np.asarray(dnll2, dtype=float)
    r = np.sign(points - xhat) * np.sqrt(np.maximum(dnll2, 0.0))
    target = math.sqrt(level)
    edges = []
    for side, t in ((-1, -target), (+1, target)):
        mask = (points < xhat) if side < 0 else (points > xhat)
        xs, rs = points[mask], r[mask]
        if side < 0:
            xs, rs = xs[::-1], rs[::-1]  # walk outward from the minimum
        prev_x, prev_r = xhat, 0.0
        found = None
        for xv, rv in zip(xs, rs):
            if (rv - t) * side >= 0:
                found = prev_x + (t - prev_r) * (xv - prev_x) / (rv - prev_r) if rv != prev_r else xv
                break
            prev_x, prev_r = xv, rv
        edges.append(None if found is None else float(found))
    return edges


def grid(spec: Mapping) -> np.ndarray:
    """The values lo, lo + step, ..., hi (hi included when it falls on the grid) of ``{lo, hi, step}``."""
    n = int(round((spec["hi"] - spec["lo"]) / spec["step"]))
    return spec["lo"] + spec["step"] * np.arange(n + 1)
