"""Extended unbinned maximum-likelihood fits, profile scans, discovery and pseudo-experiments.

The model is described by a JSON-able *spec* (a dict), so that a fitted model can be written
to disk, read back, and re-used for pseudo-experiments (``colliderflow validate-fit``):

.. code-block:: python

    {"poi": "mu",
     "parameters": {"mu":   {"value": 1.0, "limits": [-20, 20], "fixed": False},
                    "mass": {"value": 125.0, "limits": [110, 150], "fixed": True},
                    "nbkg_cat0": {"value": None, "limits": [0, None]},      # None: from data
                    "slope_cat0": {"value": None},
                    "theta_ss_cat0": {"value": 0.0, "constraint": {"mean": 0.0, "sigma": 1.0}}},
     "channels": [{"name": "cat0", "range": [105, 160],
                   "signal": {"shape": "dscb",
                              "params": {"mass": {"param": "mass", "offset": 0.1}, "sigma": 1.7, ...},
                              "yield": {"scale": 120.0, "factors": ["mu"], "add": {"theta_ss_cat0": 4.0}}},
                   "background": {"shape": "exponential", "params": {"slope": "slope_cat0"},
                                  "yield": "nbkg_cat0"}}]}

A shape parameter maps to a number (a constant), a parameter name, or
``{"param": name, "scale": k, "offset": d}`` (k * param + d). A yield is a number, a
parameter name, or ``{"scale": s, "factors": [names], "add": {name: coefficient}}``
(s * product(factors) + sum(coefficient * param)). Parameters with a ``constraint`` get a
Gaussian penalty (used for the spurious-signal nuisance). ``category_spec`` and
``single_channel_spec`` build the two common specs.

Likelihood: -2 ln L = 2 sum_c [nu_c - sum_i w_i ln(nu_s f_s(x_i) + nu_b f_b(x_i))] + constraints.
With per-event weights w_i this is the weighted (pseudo-)likelihood. Its Hessian error is
wrong for weighted events, so by default fits of weighted data report *sandwich* errors,
C = H^-1 D H^-1 with D = sum_i w_i^2 s_i s_i^T (s_i the per-event score, H the Hessian of
-ln L), which is the asymptotically correct covariance of Langenbruch, Eur. Phys. J. C 82
(2022) 393 (its eq. 18, for weights that do not depend on the parameters); for an extended
likelihood the same estimate holds because the variance of sum_i w_i s_i over a compound
Poisson process is estimated by sum_i w_i^2 s_i s_i^T. Scaling all weights by a constant
leaves these errors unchanged, and unit weights give back the Hessian errors. Asimov
datasets (weighted points at bin centres whose weights are expected counts) are fitted with
plain Hessian errors, which is what the Asimov construction needs.

Nothing here knows about a particular analysis.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple

import numpy as np
from iminuit import Minuit
from scipy import stats as _sps

from .shapes import Shape, get_shape

log = logging.getLogger(__name__)

# Delta(-2 ln L) levels for two-sided 68.27% and 95% intervals of one parameter.
LEVEL_68 = 1.0
LEVEL_95 = float(_sps.chi2.ppf(0.95, 1))  # 3.841


class ChannelData(NamedTuple):
    """Events of one channel: values ``x``, weights ``w`` (None: unweighted), Asimov flag.

    ``w2``: for binned weighted points (a histogram of weighted MC given as points at the
    bin centres), the sum of squared weights of each point, used by the sandwich errors in
    place of ``w**2``.
    """

    x: np.ndarray
    w: np.ndarray | None = None
    asimov: bool = False
    w2: np.ndarray | None = None


# =========================================================================================
# Results
# =========================================================================================
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
    minos: dict = field(default_factory=dict)  # {name: (lower, upper)} when asked for
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


# =========================================================================================
# Model
# =========================================================================================
def _param_refs(mapping) -> list[str]:
    """Names of the parameters an expression (number, name, or dict) refers to."""
    if isinstance(mapping, str):
        return [mapping]
    if isinstance(mapping, Mapping):
        refs = []
        if "param" in mapping:
            refs.append(mapping["param"])
        refs += list(mapping.get("factors", []))
        refs += list(mapping.get("add", {}))
        return refs
    return []


def _evaluate(mapping, values: Mapping) -> float:
    """Value of a shape-parameter or yield expression for given parameter values."""
    if isinstance(mapping, str):
        return float(values[mapping])
    if isinstance(mapping, Mapping):
        if "param" in mapping:
            return float(mapping.get("scale", 1.0)) * float(values[mapping["param"]]) + float(mapping.get("offset", 0.0))
        out = float(mapping.get("scale", 1.0))
        for name in mapping.get("factors", []):
            out *= float(values[name])
        for name, coeff in mapping.get("add", {}).items():
            out += float(coeff) * float(values[name])
        return out
    return float(mapping)


class _Component:
    def __init__(self, spec: dict, lo: float, hi: float, where: str):
        self.shape: Shape = get_shape(spec["shape"], lo, hi)
        self.param_map = dict(spec.get("params", {}))
        unknown = [p for p in self.param_map if p not in self.shape.params]
        if unknown:
            raise KeyError(f"{where}: shape {self.shape.name!r} has no parameter(s) {unknown}; "
                           f"its parameters are {list(self.shape.params)}")
        missing = [p for p in self.shape.params if p not in self.param_map]
        if missing:
            raise KeyError(f"{where}: shape {self.shape.name!r} parameter(s) {missing} are not mapped")
        self.yield_map = spec.get("yield", 0.0)

    def shape_values(self, values) -> tuple:
        return tuple(_evaluate(self.param_map[p], values) for p in self.shape.params)

    def shape_dict(self, values) -> dict:
        return dict(zip(self.shape.params, self.shape_values(values)))

    def yield_(self, values) -> float:
        return _evaluate(self.yield_map, values)

    def refs(self) -> set:
        out = set()
        for m in self.param_map.values():
            out.update(_param_refs(m))
        return out


class _Channel:
    def __init__(self, spec: dict):
        self.name = str(spec["name"])
        lo, hi = (float(v) for v in spec["range"])
        self.lo, self.hi = lo, hi
        self.signal = _Component(spec["signal"], lo, hi, f"channel {self.name!r} signal") if spec.get("signal") else None
        self.background = (_Component(spec["background"], lo, hi, f"channel {self.name!r} background")
                           if spec.get("background") else None)
        if self.signal is None and self.background is None:
            raise ValueError(f"channel {self.name!r} has neither a signal nor a background component")

    @property
    def components(self):
        return [c for c in (self.signal, self.background) if c is not None]


class Model:
    """An extended multi-channel S+B model built from a spec (see the module docstring).

    Attributes: ``spec`` (a deep copy), ``poi``, ``names`` (all parameter names, spec order),
    ``channels`` (channel names). The model holds no data: every method takes the data.
    """

    def __init__(self, spec: dict):
        self.spec = copy.deepcopy(spec)
        params = self.spec.get("parameters", {})
        self.names = list(params)
        self.poi = self.spec.get("poi")
        self._channels = [_Channel(c) for c in self.spec.get("channels", [])]
        if not self._channels:
            raise ValueError("model has no channels")
        names = [c.name for c in self._channels]
        if len(set(names)) != len(names):
            raise ValueError(f"channel names must be unique; got {names}")
        used = set()
        for ch in self._channels:
            for comp in ch.components:
                used |= comp.refs() | set(_param_refs(comp.yield_map))
        undefined = sorted(used - set(self.names))
        if undefined:
            raise KeyError(f"model refers to undefined parameter(s) {undefined}")
        if self.poi is not None and self.poi not in self.names:
            raise KeyError(f"parameter of interest {self.poi!r} is not a model parameter")

    # ---- parameters ------------------------------------------------------------------
    @property
    def channels(self) -> list[str]:
        return [c.name for c in self._channels]

    def channel_range(self, name: str) -> tuple[float, float]:
        ch = self._channel(name)
        return ch.lo, ch.hi

    def _channel(self, name):
        for ch in self._channels:
            if ch.name == name:
                return ch
        raise KeyError(f"no channel {name!r}; channels: {self.channels}")

    def _pspec(self, name) -> dict:
        return self.spec["parameters"][name]

    def limits(self, name) -> tuple[float, float]:
        lim = self._pspec(name).get("limits") or [None, None]
        lo = -np.inf if lim[0] is None else float(lim[0])
        hi = np.inf if lim[1] is None else float(lim[1])
        return lo, hi

    def is_fixed(self, name) -> bool:
        return bool(self._pspec(name).get("fixed", False))

    def values(self) -> dict:
        """Parameter values stored in the spec (None where they are to be taken from data)."""
        return {n: self._pspec(n).get("value") for n in self.names}

    def constraints(self) -> dict:
        """``{name: (mean, sigma)}`` for the Gaussian-constrained parameters."""
        out = {}
        for n in self.names:
            c = self._pspec(n).get("constraint")
            if c:
                out[n] = (float(c.get("mean", 0.0)), float(c.get("sigma", 1.0)))
        return out

    def with_constraint_means(self, means: Mapping) -> "Model":
        """A copy whose Gaussian constraints are centred on ``means`` (the global observables:
        pseudo-experiments draw them around the true values)."""
        spec = copy.deepcopy(self.spec)
        for n, v in means.items():
            spec["parameters"][n]["constraint"]["mean"] = float(v)
        return Model(spec)

    def with_values(self, values: Mapping, fixed: Mapping | None = None) -> "Model":
        """A copy whose stored parameter values (and optionally fixed flags) are replaced."""
        spec = copy.deepcopy(self.spec)
        for n, v in values.items():
            if n in spec["parameters"]:
                spec["parameters"][n]["value"] = None if v is None else float(v)
        for n, f in (fixed or {}).items():
            spec["parameters"][n]["fixed"] = bool(f)
        return Model(spec)

    def signal_vanishes_at_zero_poi(self) -> bool:
        """True if every channel's signal yield is proportional to the POI (no additive terms
        such as a spurious-signal nuisance), so that at poi = 0 there is no signal at all."""
        for ch in self._channels:
            if ch.signal is None:
                continue
            ym = ch.signal.yield_map
            if isinstance(ym, Mapping) and "param" not in ym:
                if self.poi not in ym.get("factors", []) or ym.get("add"):
                    return False
            elif ym != self.poi:
                return False
        return True

    def signal_only_params(self) -> list[str]:
        """Parameters that enter only through signal shapes (undefined when the signal vanishes)."""
        sig, other = set(), set()
        for ch in self._channels:
            if ch.signal is not None:
                sig |= ch.signal.refs()
                other |= set(_param_refs(ch.signal.yield_map))
            if ch.background is not None:
                other |= ch.background.refs() | set(_param_refs(ch.background.yield_map))
        return [n for n in self.names if n in sig and n not in other]

    # ---- evaluation ------------------------------------------------------------------
    def yields(self, values: Mapping) -> dict:
        """``{channel: {"signal": nu_s, "background": nu_b}}`` for given parameter values."""
        out = {}
        for ch in self._channels:
            out[ch.name] = {
                "signal": ch.signal.yield_(values) if ch.signal else 0.0,
                "background": ch.background.yield_(values) if ch.background else 0.0,
            }
        return out

    def component_params(self, values: Mapping) -> dict:
        """``{channel: {"signal": {shape params}, "background": {shape params}}}``."""
        out = {}
        for ch in self._channels:
            out[ch.name] = {
                "signal": ch.signal.shape_dict(values) if ch.signal else None,
                "background": ch.background.shape_dict(values) if ch.background else None,
            }
        return out

    def densities(self, channel: str, x, values: Mapping) -> dict:
        """Yield-scaled densities ``{"signal": nu_s f_s(x), "background": nu_b f_b(x)}`` (events / unit x)."""
        ch = self._channel(channel)
        x = np.asarray(x, dtype=float)
        out = {}
        for key, comp in (("signal", ch.signal), ("background", ch.background)):
            out[key] = (comp.yield_(values) * comp.shape.density(x, *comp.shape_values(values))
                        if comp is not None else np.zeros_like(x))
        return out

    def expected_counts(self, channel: str, edges, values: Mapping) -> dict:
        """Expected events per bin, ``{"signal": ..., "background": ...}``, by exact bin integrals."""
        ch = self._channel(channel)
        edges = np.asarray(edges, dtype=float)
        out = {}
        for key, comp in (("signal", ch.signal), ("background", ch.background)):
            out[key] = (comp.yield_(values) * comp.shape.bin_integrals(edges, comp.shape_dict(values))
                        if comp is not None else np.zeros(len(edges) - 1))
        return out

    def to_spec(self) -> dict:
        return copy.deepcopy(self.spec)


# =========================================================================================
# Data handling and the cost function
# =========================================================================================
def as_data(model: Model, data) -> dict:
    """Normalise ``data`` to ``{channel: ChannelData}`` keeping only events inside each range.

    ``data`` maps a channel name to an array of values, an ``(x, w)`` pair or a ChannelData;
    a bare array or pair is accepted for a one-channel model.
    """
    if not isinstance(data, Mapping):
        if len(model.channels) != 1:
            raise ValueError(f"data for a {len(model.channels)}-channel model must be a dict by channel name")
        data = {model.channels[0]: data}
    missing = [c for c in model.channels if c not in data]
    if missing:
        raise KeyError(f"no data for channel(s) {missing}")
    out = {}
    for name in model.channels:
        item = data[name]
        w2 = None
        if isinstance(item, ChannelData):
            x, w, asimov, w2 = item
        elif isinstance(item, tuple):
            x, w = item
            asimov = False
        else:
            x, w, asimov = item, None, False
        x = np.asarray(x, dtype=float)
        lo, hi = model.channel_range(name)
        if w is not None:
            w = np.asarray(w, dtype=float)
            if w.shape != x.shape:
                raise ValueError(f"channel {name!r}: {w.size} weights for {x.size} events")
        inside = (x >= lo) & (x <= hi) & np.isfinite(x)
        if w is not None:
            inside &= np.isfinite(w)
            w = w[inside]
            if w2 is not None:
                w2 = np.asarray(w2, dtype=float)[inside]
            elif not asimov and np.all(w == 1.0):
                w = None
        out[name] = ChannelData(x[inside], w, asimov, w2)
    return out


def _weighted_sum(d: ChannelData) -> float:
    return float(d.x.size if d.w is None else d.w.sum())


def _compile(mapping, names: list) -> Callable:
    """A fast ``f(par array) -> float`` for a shape-parameter or yield expression."""
    if isinstance(mapping, str):
        i = names.index(mapping)
        return lambda p: p[i]
    if isinstance(mapping, Mapping):
        if "param" in mapping:
            i = names.index(mapping["param"])
            k, d = float(mapping.get("scale", 1.0)), float(mapping.get("offset", 0.0))
            return lambda p: k * p[i] + d
        scale = float(mapping.get("scale", 1.0))
        factors = [names.index(n) for n in mapping.get("factors", [])]
        adds = [(names.index(n), float(c)) for n, c in mapping.get("add", {}).items()]

        def expr(p):
            out = scale
            for i in factors:
                out *= p[i]
            for i, c in adds:
                out += c * p[i]
            return out

        return expr
    const = float(mapping)
    return lambda p: const


class _Cost:
    """-2 ln L of the extended model for fixed data; caches each component's density.

    Minuit moves one parameter at a time when it computes gradients, so most calls change
    only one component; the cache (keyed by that component's shape values) avoids
    re-evaluating the others, which matters when the signal shape is fixed.
    """

    errordef = Minuit.LEAST_SQUARES  # the cost is -2 ln L

    def __init__(self, model: Model, data: dict):
        self.model = model
        self.data = data
        self.names = model.names
        self._cache: dict = {}
        self.constraints = model.constraints()
        self._cidx = [(self.names.index(n), m, s) for n, (m, s) in self.constraints.items()]
        # Minuit's convergence test (EDM) and step sizes assume a likelihood with the curvature of
        # its sample size; MC weights far from 1 break that. So the cost Minuit sees is scaled by
        # scale = sum w / sum w^2 of the weighted (non-Asimov) events, which gives it the
        # curvature of the effective sample; the minimum does not move, and results are unscaled.
        sw = sw2 = 0.0
        for d in data.values():
            if d.asimov:
                continue
            if d.w is None:
                sw += d.x.size
                sw2 += d.x.size
            else:
                sw += float(np.sum(d.w))
                sw2 += float(np.sum(d.w**2) if d.w2 is None else np.sum(d.w2))
        self.scale = sw / sw2 if sw > 0 and sw2 > 0 else 1.0
        # Per channel and component: compiled yield and shape-parameter expressions, and the
        # shape's evaluator at this channel's events.
        self._plan = []
        for ch in model._channels:
            d = data[ch.name]
            comps = []
            for key, comp in (("s", ch.signal), ("b", ch.background)):
                if comp is None:
                    continue
                comps.append((key, _compile(comp.yield_map, self.names),
                              [_compile(comp.param_map[p], self.names) for p in comp.shape.params],
                              comp.shape.evaluator(d.x)))
            logw = None if d.w is None else d.w
            self._plan.append((ch.name, comps, logw))

    def __call__(self, par) -> float:
        return self.twice_nll(par) * self.scale

    def fast_density(self, par) -> dict:
        """Per channel: (total yield, density at each event) from a parameter array."""
        out = {}
        for name, comps, _ in self._plan:
            nu = 0.0
            dens = None
            for key, yfn, pfns, evaluate in comps:
                y = yfn(par)
                nu += y
                if y == 0.0:
                    continue
                vals = tuple(f(par) for f in pfns)
                hit = self._cache.get((name, key))
                if hit is not None and hit[0] == vals:
                    shape_dens = hit[1]
                else:
                    shape_dens = evaluate(*vals)
                    self._cache[(name, key)] = (vals, shape_dens)
                dens = y * shape_dens if dens is None else dens + y * shape_dens
            if dens is None:
                dens = np.zeros(self.data[name].x.size)
            out[name] = (nu, dens)
        return out

    def twice_nll(self, par) -> float:
        """-2 ln L (unscaled)."""
        total = 0.0
        dens_by = self.fast_density(par)
        for name, _, w in self._plan:
            nu, dens = dens_by[name]
            logd = np.log(np.maximum(dens, 1e-300))
            total += nu - (logd.sum() if w is None else np.dot(w, logd))
        total *= 2.0
        for i, mean, sigma in self._cidx:
            total += ((par[i] - mean) / sigma) ** 2
        return float(total) if np.isfinite(total) else 1e300


def _start_values(model: Model, data: dict, start: Mapping | None) -> dict:
    """Stored values, overridden by ``start``; values left as None are estimated from data."""
    vals = model.values()
    for n, v in (start or {}).items():
        if n not in vals:
            raise KeyError(f"unknown parameter {n!r}; the model's parameters are {model.names}")
        vals[n] = v
    for ch in model._channels:
        d = data[ch.name]
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
                vals[ym] = max(_weighted_sum(d), 1e-9) if (key == "background" or alone) else 0.0
    for n, v in vals.items():
        if v is None:
            lo, hi = model.limits(n)
            vals[n] = 0.0 if not (np.isfinite(lo) and np.isfinite(hi)) else 0.5 * (lo + hi)
            if np.isfinite(lo) and vals[n] < lo:
                vals[n] = lo
    return {n: float(v) for n, v in vals.items()}


def _check_names(model: Model, names, what: str):
    unknown = [n for n in names if n not in model.names]
    if unknown:
        raise KeyError(f"{what}: unknown parameter(s) {unknown}; the model's parameters are {model.names}")


def _step_hints(model: Model, data: dict) -> dict:
    """Initial step sizes for yield parameters: about their Poisson error, sqrt(sum w)."""
    hints = {}
    for ch in model._channels:
        for comp in ch.components:
            if isinstance(comp.yield_map, str):
                hints[comp.yield_map] = math.sqrt(max(_weighted_sum(data[ch.name]), 1.0))
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


def fit(model: Model, data, *, start: Mapping | None = None, fix: Mapping | list | None = None,
        errors: str = "auto", strategy: int = 1, minos: list | None = None) -> FitResult:
    """Maximum-likelihood fit of ``model`` to ``data`` (see ``as_data`` for the data format).

    ``start``: starting values by name (else the spec's values, else estimates from data).
    ``fix``: names to fix at their start values, or ``{name: value}`` to fix at a value;
    parameters fixed in the spec stay fixed. ``errors``: "hesse", "sandwich" (weighted data)
    or "auto" (sandwich when some channel has non-unit weights and is not Asimov), or "none"
    (no HESSE: for scans that need only the minimum; errors are MIGRAD's approximation).
    ``minos``: names whose asymmetric MINOS errors are added as ``result.minos``.
    """
    if errors not in ("auto", "hesse", "sandwich", "none"):
        raise ValueError(f"errors must be 'auto', 'hesse', 'sandwich' or 'none'; got {errors!r}")
    data = as_data(model, data)
    fix_values = dict(fix) if isinstance(fix, Mapping) else {n: None for n in (fix or [])}
    _check_names(model, fix_values, "fix")
    st = dict(start or {})
    st.update({n: v for n, v in fix_values.items() if v is not None})
    values0 = _start_values(model, data, st)
    fixed = {n for n in model.names if model.is_fixed(n)} | set(fix_values)
    cost = _Cost(model, data)
    m = _minuit(cost, model.names, values0, model, fixed, strategy, _step_hints(model, data))
    free = [n for n in model.names if n not in fixed]
    m.migrad()
    if free and errors != "none":
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
            cov = _sandwich(cost, model, values, free, cov)
        method = "sandwich"
    elif errors == "none":
        method = "migrad"  # MIGRAD's approximate covariance only (scans need the minimum alone)
    errs = {n: 0.0 for n in model.names}
    for i, n in enumerate(free):
        errs[n] = float(math.sqrt(max(cov[i, i], 0.0)))
    result = FitResult(values, errs, free, cov, float(m.fval) / cost.scale, bool(m.valid), method, sorted(fixed),
                       int(m.nfcn))
    if minos:
        _check_names(model, minos, "minos")
        m.minos(*[n for n in minos if n in free])
        # MINOS errors are for the scaled cost: for weighted data they follow the effective sample.
        result.minos = {n: (float(m.merrors[n].lower), float(m.merrors[n].upper)) for n in minos if n in free}
    if not result.valid:
        log.warning("fit did not converge (EDM %.3g); results may be unreliable", m.fmin.edm)
    return result


def _sandwich(cost: _Cost, model: Model, values: dict, free: list, hesse_cov: np.ndarray) -> np.ndarray:
    """C = V D V with V the Hessian covariance of -ln L and D = sum_i w_i^2 s_i s_i^T.

    Minuit's covariance here is that of -2 ln L with errordef 1, i.e. the inverse Hessian of
    -ln L, which is V. Scores are central finite differences of ln(density) per event.
    Gaussian constraints are auxiliary measurements with unit weight: they add their Fisher
    information 1/sigma^2 to D.
    """
    scores = []
    weights2 = np.concatenate([
        (np.ones(d.x.size) if d.w is None else (d.w2 if d.w2 is not None else d.w**2))
        for d in (cost.data[c] for c in model.channels)
    ])
    for i, n in enumerate(free):
        h = 1e-3 * math.sqrt(hesse_cov[i, i]) if hesse_cov[i, i] > 0 else 1e-6 * max(abs(values[n]), 1.0)
        logs = []
        for sign in (+1, -1):
            v = dict(values)
            v[n] = values[n] + sign * h
            ev = cost.fast_density(np.array([v[k] for k in cost.names]))
            logs.append(np.concatenate([np.log(np.maximum(ev[c][1], 1e-300)) for c in model.channels]))
        scores.append((logs[0] - logs[1]) / (2 * h))
    s = np.array(scores)  # (npar, nevents)
    d = (s * weights2) @ s.T
    cons = cost.constraints
    for i, n in enumerate(free):
        if n in cons:
            d[i, i] += 1.0 / cons[n][1] ** 2
    return hesse_cov @ d @ hesse_cov


# =========================================================================================
# Shape-only fits (signal MC)
# =========================================================================================
def fit_shape(shape: Shape, x, weights=None, *, start: Mapping | None = None, fix: Mapping | list | None = None,
              errors: str = "auto", limits: Mapping | None = None) -> FitResult:
    """(Weighted) unbinned maximum-likelihood fit of a normalised ``shape`` to a sample.

    Used for the signal model: fit e.g. the double-sided Crystal Ball to weighted signal MC.
    Events outside the shape's range are ignored. With non-unit weights the errors are the
    sandwich estimate (module docstring), so they reflect the MC's effective statistics
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
    sw = _weighted_sum(ch)
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


# =========================================================================================
# Spec builders
# =========================================================================================
def single_channel_spec(signal: str | None, background: str | None, lo: float, hi: float, *,
                        start: Mapping | None = None, fixed: list | None = None,
                        poi: str = "signal_yield", limits: Mapping | None = None) -> dict:
    """Spec of a one-channel S+B fit with the public names of ``colliderflow fit``.

    Parameters: ``signal_yield`` (the POI, unbounded so it can go negative),
    ``background_yield`` (>= 0), the signal shape's parameters (``mass``, ``sigma``, ...)
    and the background shape's (``slope``, ``power``, ``b1``.., ``a1``..). ``start`` gives
    starting values (others come from the data), ``fixed`` names fixed parameters.
    """
    params: dict = {}
    channel = {"name": "fit", "range": [float(lo), float(hi)]}
    if signal is not None:
        s = get_shape(signal, lo, hi)
        channel["signal"] = {"shape": s.name, "params": {p: p for p in s.params}, "yield": poi}
        params[poi] = {"value": None, "limits": [None, None]}
        for p in s.params:
            params[p] = {"value": None, "limits": list(s.limits[p]) if p in s.limits else None}
    if background is not None:
        b = get_shape(background, lo, hi)
        channel["background"] = {"shape": b.name, "params": {p: p for p in b.params}, "yield": "background_yield"}
        params["background_yield"] = {"value": None, "limits": [0.0, None]}
        for p in b.params:
            if p in params:
                raise ValueError(f"signal and background shapes share the parameter name {p!r}")
            params[p] = {"value": None, "limits": list(b.limits[p]) if p in b.limits else None}
    spec = {"poi": poi if signal is not None else None, "parameters": params, "channels": [channel]}
    for n, v in (start or {}).items():
        if n not in params:
            raise KeyError(f"unknown parameter {n!r}; this fit's parameters are {list(params)}")
        params[n]["value"] = float(v)
    for n, lim in (limits or {}).items():
        if n not in params:
            raise KeyError(f"unknown parameter {n!r}; this fit's parameters are {list(params)}")
        params[n]["limits"] = list(lim)
    for n in fixed or []:
        if n not in params:
            raise KeyError(f"cannot fix {n!r}: this fit's parameters are {list(params)}")
        params[n]["fixed"] = True
    return spec


def category_spec(categories: list[dict], *, poi: str = "mu", mass_param: str = "mass",
                  mass_value: float = 125.0, mass_floating: bool = False,
                  mass_limits=(110.0, 150.0), reference_mass: float | None = None,
                  mu_limits=(-20.0, 20.0), mu_start: float = 1.0) -> dict:
    """Spec of the simultaneous multi-category fit: common ``mu`` and ``mass``, per-category background.

    Each category is a dict:
      ``name``, ``range`` [lo, hi],
      ``signal``: ``{"shape": "dscb", "params": {fitted shape values incl. "mass"}, "yield": s}``
        with ``s`` the expected signal yield at mu = 1,
      ``background``: ``{"shape": "bernstein:3", "params": {optional start values},
        "yield": optional start}``,
      ``spurious`` (optional): spurious-signal yield S_spur; adds a nuisance
        ``theta_ss_<name>`` with a unit Gaussian constraint and signal yield
        mu s + theta S_spur (the ATLAS treatment); None or 0: no nuisance; a negative or
        non-finite value raises ValueError naming the category.

    Signal shapes are fixed to the given values except their position: the peak of category
    c sits at ``mass + (params["mass"] - reference_mass)`` so each category keeps its fitted
    offset from the generated mass (``reference_mass``, default ``mass_value``) while the
    common ``mass`` moves all peaks together (fixed unless ``mass_floating``). The expected
    yield does not change with ``mass``.

    Parameter names: ``mu``, ``mass``, and per category ``nbkg_<name>``, ``<bkgparam>_<name>``
    (e.g. ``slope_cat0``, ``b2_cat1``), ``theta_ss_<name>``.
    """
    ref = float(mass_value if reference_mass is None else reference_mass)
    params: dict = {
        poi: {"value": float(mu_start), "limits": list(mu_limits) if mu_limits else None},
        mass_param: {"value": float(mass_value), "limits": list(mass_limits), "fixed": not mass_floating},
    }
    channels = []
    for cat in categories:
        name = str(cat["name"])
        lo, hi = (float(v) for v in cat["range"])
        sig = cat["signal"]
        sshape = get_shape(sig["shape"], lo, hi)
        missing = [p for p in sshape.params if p not in sig.get("params", {})]
        if missing:
            raise KeyError(f"category {name!r}: signal shape {sshape.name!r} needs parameter(s) {missing}")
        smap = {p: float(sig["params"][p]) for p in sshape.params}
        smap["mass"] = {"param": mass_param, "offset": float(sig["params"]["mass"]) - ref}
        syield: dict = {"scale": float(sig["yield"]), "factors": [poi]}
        if cat.get("spurious") not in (None, 0, 0.0):
            width = float(cat["spurious"])
            if not (math.isfinite(width) and width > 0):
                raise ValueError(f"category {name!r}: the spurious-signal nuisance theta_ss_{name} needs a positive, "
                                 f"finite width (S_spur in events); got {cat['spurious']!r}. A failed spurious-signal "
                                 f"test must not set it; give None or 0 to leave the nuisance out")
            theta = f"theta_ss_{name}"
            params[theta] = {"value": 0.0, "limits": [-5.0, 5.0], "constraint": {"mean": 0.0, "sigma": 1.0}}
            syield["add"] = {theta: float(cat["spurious"])}
        bkg = cat["background"]
        bshape = get_shape(bkg["shape"], lo, hi)
        bmap = {}
        for p in bshape.params:
            pname = f"{p}_{name}"
            start = (bkg.get("params") or {}).get(p)
            params[pname] = {"value": None if start is None else float(start),
                             "limits": list(bshape.limits[p]) if p in bshape.limits else None}
            bmap[p] = pname
        nb = f"nbkg_{name}"
        params[nb] = {"value": None if bkg.get("yield") is None else float(bkg["yield"]), "limits": [0.0, None]}
        channels.append({
            "name": name, "range": [lo, hi],
            "signal": {"shape": sshape.name, "params": smap, "yield": syield},
            "background": {"shape": bshape.name, "params": bmap, "yield": nb},
        })
    return {"poi": poi, "parameters": params, "channels": channels}


# =========================================================================================
# Profile likelihood, discovery, Asimov
# =========================================================================================
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
    _check_names(model, [param], "profile_scan")
    data = as_data(model, data)
    if best is None:
        best = fit(model, data, fix=fix)
    grid = np.asarray(values, dtype=float)
    order = np.argsort(np.abs(grid - best.values[param]))
    start_idx = int(order[0])
    tnll = np.full(grid.size, np.nan)
    fixed = dict(fix) if isinstance(fix, Mapping) else {n: None for n in (fix or [])}
    for direction in (range(start_idx, grid.size), range(start_idx - 1, -1, -1)):
        st = dict(best.values)
        for i in direction:
            f = dict(fixed)
            f[param] = float(grid[i])
            st[param] = float(grid[i])
            r = fit(model, data, start=st, fix=f, errors="none", strategy=strategy)
            tnll[i] = r.twice_nll
            st = dict(r.values)
    tmin = min(best.twice_nll, np.nanmin(tnll))
    dnll2 = tnll - tmin
    xhat = best.values[param]
    out = {
        "param": param,
        "values": grid.tolist(),
        "twice_nll": tnll.tolist(),
        "dnll2": dnll2.tolist(),
        "best": {"value": float(xhat), "error": float(best.errors.get(param, 0.0))},
    }
    for label, level in (("interval68", LEVEL_68), ("interval95", LEVEL_95)):
        out[label] = list(_crossings(grid, dnll2, xhat, level))
    return out


def _crossings(grid, dnll2, xhat, level):
    """Left and right points where the profile crosses ``level`` (None if not in the grid)."""
    r = np.sign(grid - xhat) * np.sqrt(np.maximum(dnll2, 0.0))
    target = math.sqrt(level)
    edges = []
    for side, t in ((-1, -target), (+1, target)):
        mask = (grid < xhat) if side < 0 else (grid > xhat)
        xs, rs = grid[mask], r[mask]
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
    null = fit(model, data, start=best.values, fix=null_fix, errors="hesse")
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
    res = discovery(model, data, poi=poi, best=fit(model, data, start=values, errors="hesse"))
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
    _check_names(model, [mass_param, poi], "p0_scan")
    data = as_data(model, data)
    masses = np.asarray(masses, dtype=float)
    null_fix = {poi: 0.0}
    # With a spurious-signal nuisance the signal does not vanish at poi = 0, so the null
    # hypothesis depends on the mass and is refitted at each mass; otherwise it is fitted once.
    null_per_mass = not (poi == model.poi and model.signal_vanishes_at_zero_poi())
    if not null_per_mass:
        null_fix.update({n: model.values().get(n) or masses[0] for n in model.signal_only_params()})
        null = fit(model, data, fix=null_fix, errors="hesse")
        st = dict(null.values)
    else:
        null = fit(model, data, fix={poi: 0.0, mass_param: float(masses[0])}, errors="hesse")
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


# =========================================================================================
# Pseudo-experiments
# =========================================================================================
def generate(model: Model, values: Mapping, rng: np.random.Generator) -> dict:
    """One pseudo-experiment: per channel, Poisson numbers of signal and background events drawn
    from their pdfs (inverse CDF on a fine grid). Returns ``{channel: ChannelData}``
    (unweighted). Negative expected yields count as zero."""
    out = {}
    yields = model.yields(values)
    shapes = model.component_params(values)
    for ch in model._channels:
        parts = []
        for key, comp in (("signal", ch.signal), ("background", ch.background)):
            if comp is None:
                continue
            n = rng.poisson(max(yields[ch.name][key], 0.0))
            parts.append(comp.shape.sample(rng, n, shapes[ch.name][key]))
        out[ch.name] = ChannelData(np.concatenate(parts) if parts else np.zeros(0))
    return out


def pull_study(model: Model, values: Mapping, n_toys: int, *, seed: int = 1, param: str | None = None,
               strategy: int = 0, progress_every: int = 50) -> dict:
    """Throw ``n_toys`` pseudo-experiments from ``model`` at ``values`` and fit each.

    Pull of ``param`` (default the POI) = (fitted - true) / HESSE error. For a frequentist
    ensemble the global observables of Gaussian-constrained parameters (the spurious-signal
    nuisances) are drawn too, around the true values, and each toy is fitted with its own
    constraint centres. Returns
    ``{"param", "truth", "n_toys", "n_valid", "fitted": [...], "errors": [...], "pulls": [...],
    "pull_mean", "pull_mean_error", "pull_width", "pull_width_error", "mean_fitted", "std_fitted",
    "mean_error"}``; only converged fits count.
    """
    param = param or model.poi
    _check_names(model, [param], "pull_study")
    rng = np.random.default_rng(seed)
    truth = float(values[param])
    fitted, errs = [], []
    n_valid = 0
    constraints = model.constraints()
    for i in range(int(n_toys)):
        toy = generate(model, values, rng)
        toy_model = model
        if constraints:
            toy_model = model.with_constraint_means(
                {n: float(values[n]) + sigma * rng.normal() for n, (_, sigma) in constraints.items()})
        r = fit(toy_model, toy, start=values, errors="hesse", strategy=strategy)
        if r.valid and r.errors[param] > 0:
            n_valid += 1
            fitted.append(r.values[param])
            errs.append(r.errors[param])
        if progress_every and (i + 1) % progress_every == 0:
            log.info("pseudo-experiments: %d/%d", i + 1, n_toys)
    fitted, errs = np.array(fitted), np.array(errs)
    pulls = (fitted - truth) / errs if n_valid else np.zeros(0)
    n = max(pulls.size, 1)
    width = float(np.std(pulls, ddof=1)) if pulls.size > 1 else float("nan")
    return {
        "param": param, "truth": truth, "n_toys": int(n_toys), "n_valid": int(n_valid),
        "fitted": fitted.tolist(), "errors": errs.tolist(), "pulls": pulls.tolist(),
        "pull_mean": float(np.mean(pulls)) if pulls.size else float("nan"),
        "pull_mean_error": width / math.sqrt(n),
        "pull_width": width,
        "pull_width_error": width / math.sqrt(2 * (n - 1)) if n > 1 else float("nan"),
        "mean_fitted": float(np.mean(fitted)) if fitted.size else float("nan"),
        "std_fitted": float(np.std(fitted, ddof=1)) if fitted.size > 1 else float("nan"),
        "mean_error": float(np.mean(errs)) if errs.size else float("nan"),
    }
