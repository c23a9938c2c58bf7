"""The likelihood of a ``Model`` for fixed data, built from ``iminuit.cost``.

-2 ln L = 2 sum_c [nu_c - sum_i w_i ln(nu_s f_s(x_i) + nu_b f_b(x_i))] + constraints.

Each channel is one ``iminuit.cost.ExtendedUnbinnedNLL`` (``log=True``: its model returns the
total yield and the log density at the events); a channel with per-event weights w_i (MC, or
an Asimov dataset of weighted points) is a ``WeightedExtendedUnbinnedNLL``, the same cost
with sum_i w_i ln f(x_i). The Gaussian constraints are one ``iminuit.cost.NormalConstraint``;
the channels and constraints add up to one ``iminuit.cost.CostSum``. ``ModelCost`` is what
Minuit minimises.

With weights this is the weighted (pseudo-)likelihood. Its Hessian error is wrong for
weighted events, so fits of weighted data report *sandwich* errors
(``sandwich_covariance``), C = H^-1 D H^-1 with D = sum_i w_i^2 s_i s_i^T (s_i the
per-event score, H the Hessian of -ln L), which is the asymptotically correct covariance of
Langenbruch, Eur. Phys. J. C 82 (2022) 393 (its eq. 18, for weights that do not depend on
the parameters); for an extended likelihood the same estimate holds because the variance of
sum_i w_i s_i over a compound Poisson process is estimated by sum_i w_i^2 s_i s_i^T. Scaling
all weights by a constant leaves these errors unchanged, and unit weights give back the
Hessian errors. Asimov datasets (weighted points at bin centres whose weights are expected
counts) are fitted with plain Hessian errors, which is what the Asimov construction needs.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
from iminuit import Minuit
from iminuit.cost import ExtendedUnbinnedNLL, NormalConstraint
from iminuit.util import describe

from .model import Channel, Model

# Floor of the density under the logarithm: an event where the model density is zero or
# negative (a negative signal yield) costs -ln(1e-300) = 691 instead of an infinite penalty.
_DENSITY_FLOOR = 1e-300
NOT_FINITE = 1e300  # -2 ln L where it is not finite: Minuit steps back from it


class WeightedExtendedUnbinnedNLL(ExtendedUnbinnedNLL):
    """``ExtendedUnbinnedNLL`` with a weight per event: 2 (nu - sum_i w_i ln f(x_i)).

    ``weights`` has one entry per event and follows the cost's ``mask``. Without a model
    gradient (none is given here) Minuit differentiates numerically.
    """

    def __init__(self, data, weights, scaled_pdf: Callable, *, log: bool = False, verbose: int = 0,
                 name: Sequence[str] | None = None):
        self._weights = np.asarray(weights, dtype=float)
        if self._weights.shape != np.shape(data)[-1:]:
            raise ValueError(f"{self._weights.size} weights for {np.shape(data)[-1]} events")
        super().__init__(data, scaled_pdf, verbose=verbose, log=log, name=name)

    @property
    def weights(self) -> np.ndarray:
        return self._weights

    def _update_cache(self):
        super()._update_cache()
        self._masked_weights = self._weights if self._mask is None else self._weights[self._mask]

    def _value(self, args: Sequence[float]) -> float:
        fint, f = self._eval_model(args)
        logf = f if self._log else np.log(np.maximum(f, _DENSITY_FLOOR))
        return 2 * (fint - np.dot(self._masked_weights, logf))


class ChannelDensity:
    """The model of one channel for ``ExtendedUnbinnedNLL(log=True)``: ``(x, *par) -> (nu, ln density at x)``.

    ``par`` are all the model's parameters, in ``Model.names`` order. Minuit moves one
    parameter at a time when it computes gradients, so most calls change one component of
    one channel. Two caches skip what did not change: per component, the shape at its
    last values (most calls move a yield or the other component's shape); per channel, the
    last result, while the channel's yields and shape values stay the same (a parameter of
    another channel moved: with categories, a third of the calls). Shapes are prepared once
    for the events ``x``.
    """

    def __init__(self, channel: Channel, names: list, x: np.ndarray):
        self.name = channel.name
        self._comps = []
        for key, comp in (("s", channel.signal), ("b", channel.background)):
            if comp is None:
                continue
            self._comps.append((key, comp.shape, comp.yield_expr.compiled(names),
                                [comp.param_expr[p].compiled(names) for p in comp.shape.params]))
        self._bind(np.asarray(x, dtype=float))

    def _bind(self, x: np.ndarray) -> None:
        self._x = x
        self._evaluators = {key: shape.evaluator(x) for key, shape, _, _ in self._comps}
        self._cache: dict = {}
        self._last: tuple | None = None

    def __call__(self, x, *par):
        if x is not self._x:
            # The cost holds its own copy of the events: same values, prepared shapes still apply.
            if x.shape == self._x.shape and np.array_equal(x, self._x):
                self._x = x
            else:
                self._bind(np.asarray(x, dtype=float))
        return self.log_density(par)

    def _values(self, par) -> tuple:
        """Per component: (yield, shape values) at ``par``."""
        return tuple((yfn(par), tuple(f(par) for f in pfns)) for _, _, yfn, pfns in self._comps)

    def _density(self, values: tuple) -> tuple[float, np.ndarray]:
        """(total yield, yield-scaled density at each event) for ``_values``, a new array."""
        nu = 0.0
        dens = None
        for (key, *_), (y, vals) in zip(self._comps, values):
            nu += y
            if y == 0.0:
                continue
            hit = self._cache.get(key)
            if hit is not None and hit[0] == vals:
                shape_dens = hit[1]
            else:
                shape_dens = self._evaluators[key](*vals)
                self._cache[key] = (vals, shape_dens)
            if dens is None:
                dens = y * shape_dens
            else:
                dens += y * shape_dens
        if dens is None:
            dens = np.zeros(self._x.size)
        return nu, dens

    def log_density(self, par) -> tuple[float, np.ndarray]:
        """(total yield, ln of the yield-scaled density at each event, floored). The array is
        the cached one while nothing of the channel changes: read it, do not modify it."""
        values = self._values(par)
        if self._last is not None and self._last[0] == values:
            return self._last[1]
        nu, dens = self._density(values)
        result = nu, np.log(np.maximum(dens, _DENSITY_FLOOR, out=dens), out=dens)
        self._last = (values, result)
        return result


class ModelCost:
    """-2 ln L of ``model`` for fixed ``data`` (``{channel: ChannelData}``), as Minuit sees it.

    ``nll`` is the ``iminuit.cost.CostSum`` of the channels' costs and the constraints, a
    function of the model's parameters in ``Model.names`` order. ``ModelCost(par)`` is that
    minus ``offset``, times ``scale``; ``twice_nll`` is neither offset nor scaled. Neither
    moves the minimum.

    ``scale``: Minuit's convergence test (EDM) and step sizes assume a likelihood with the
    curvature of its sample size; MC weights far from 1 break that, so the cost Minuit sees
    is scaled by sum w / sum w^2 of the weighted (non-Asimov) events, which gives it the
    curvature of the effective sample.

    ``offset`` (0 until ``offset_at``): Minuit takes the cost's rounding error to be
    relative to its size and steps its numerical derivatives to change the cost by about
    16 sqrt(eps) (|cost| + 1) ~ 2.4e-7 |cost| (Minuit2's ``Numerical2PGradientCalculator``).
    At -2 ln L ~ -2e6 (1.6e5 events) that is 0.5, steps of half an error: HESSE is coarse
    and MINOS can miss an edge. Offset to 0 at a minimum (RooFit's likelihood offsetting),
    the cost near it is of order 1 and the steps fit the curvature, with the rounding of the
    full sum as the cost's ``precision``. Only at a minimum: offset
    at a point far above it, the cost at the minimum is large and negative while its rounding
    is still that of the full sum, which Minuit then underrates.
    """

    errordef = Minuit.LEAST_SQUARES  # the cost is -2 ln L

    def __init__(self, model: Model, data: dict):
        self.model = model
        self.data = data
        self.names = list(model.names)
        self.constraints = model.constraints()
        self.densities = []
        terms = []
        for name in model.channels:
            d = data[name]
            density = ChannelDensity(model.channel(name), self.names, d.x)
            self.densities.append(density)
            if d.w is None:
                terms.append(ExtendedUnbinnedNLL(d.x, density, log=True, name=self.names))
            else:
                terms.append(WeightedExtendedUnbinnedNLL(d.x, d.w, density, log=True, name=self.names))
        # All constraints in one term: a term per parameter costs a Python call and a numpy
        # reduction each, per evaluation (with a dozen nuisance parameters, a tenth of a fit to
        # the data and a third of a fit to an Asimov dataset of a few thousand points).
        if self.constraints:
            means, sigmas = zip(*self.constraints.values())
            terms.append(NormalConstraint(list(self.constraints), means, sigmas))
        self.nll = sum(terms[1:], terms[0])
        if describe(self.nll) != self.names:  # CostSum merges its terms' parameters by name
            raise RuntimeError(f"cost parameters {describe(self.nll)} differ from the model's {self.names}")
        self.scale = _effective_scale(data.values())
        self.offset = 0.0

    def __call__(self, par) -> float:
        return (self.twice_nll(par) - self.offset) * self.scale

    def offset_at(self, par) -> None:
        """Offset the cost to 0 at ``par`` (a minimum; see the class)."""
        self.offset = 0.0
        total = self.twice_nll(par)
        self.offset = total if total != NOT_FINITE else 0.0

    @property
    def precision(self) -> float:
        """The relative precision of the cost (``Minuit.precision``): the offset takes away the
        size of -2 ln L, not its rounding, eps |offset|; Minuit must know it, or it steps its
        derivatives so finely that the rounding swamps them (HESSE 10 % off at -3e7)."""
        return float(np.finfo(float).eps * max(abs(self.offset) * self.scale, 1.0))

    def twice_nll(self, par) -> float:
        """-2 ln L (unscaled)."""
        total = self.nll(*par)
        return float(total) if np.isfinite(total) else NOT_FINITE

    def log_densities(self, par) -> np.ndarray:
        """ln of the model density at every event, channels in ``Model.channels`` order."""
        return np.concatenate([density.log_density(par)[1] for density in self.densities])

    def weights_squared(self) -> np.ndarray:
        """Per event, w^2 (or the point's sum of squared weights, ``ChannelData.w2``; 1 unweighted)."""
        return np.concatenate([
            np.ones(d.x.size) if d.w is None else (d.w2 if d.w2 is not None else d.w**2)
            for d in (self.data[c] for c in self.model.channels)
        ])


def _effective_scale(channels) -> float:
    """sum w / sum w^2 over the events of the non-Asimov channels (1 for unweighted data)."""
    sw = sw2 = 0.0
    for d in channels:
        if d.asimov:
            continue
        if d.w is None:
            sw += d.x.size
            sw2 += d.x.size
        else:
            sw += float(np.sum(d.w))
            sw2 += float(np.sum(d.w**2) if d.w2 is None else np.sum(d.w2))
    return sw / sw2 if sw > 0 and sw2 > 0 else 1.0


def sandwich_covariance(cost: ModelCost, values: dict, free: list, hesse_cov: np.ndarray) -> np.ndarray:
    """C = V D V with V the Hessian covariance of -ln L and D = sum_i w_i^2 s_i s_i^T.

    ``hesse_cov`` (over ``free``) is the covariance of -2 ln L with errordef 1, i.e. the
    inverse Hessian of -ln L, which is V. Scores are central finite differences of
    ln(density) per event. Gaussian constraints are auxiliary measurements with unit weight:
    they add their Fisher information 1/sigma^2 to D.
    """
    scores = []
    weights2 = cost.weights_squared()
    for i, n in enumerate(free):
        h = 1e-3 * math.sqrt(hesse_cov[i, i]) if hesse_cov[i, i] > 0 else 1e-6 * max(abs(values[n]), 1.0)
        logs = []
        for sign in (+1, -1):
            v = dict(values)
            v[n] = values[n] + sign * h
            logs.append(cost.log_densities(np.array([v[k] for k in cost.names])))
        scores.append((logs[0] - logs[1]) / (2 * h))
    s = np.array(scores)  # (npar, nevents)
    d = (s * weights2) @ s.T
    for i, n in enumerate(free):
        if n in cost.constraints:
            d[i, i] += 1.0 / cost.constraints[n][1] ** 2
    return hesse_cov @ d @ hesse_cov
