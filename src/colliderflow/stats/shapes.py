"""Signal and background shapes by name, each a pdf normalised on a fit range [lo, hi].

Signal shapes (parameter names are the public contract of ``colliderflow fit --set/--fix``):

=============  ======================================================================
``gauss``      ``mass``, ``sigma``
``dscb``       double-sided Crystal Ball: ``mass``, ``sigma``, ``alpha_lo``, ``n_lo``,
               ``alpha_hi``, ``n_hi`` (tails start ``alpha`` sigmas from the peak)
``crystalball``  ``mass``, ``sigma``, ``alpha``, ``n`` (low-side tail)
``voigt``      ``mass``, ``sigma`` (Gaussian resolution), ``width`` (Breit-Wigner full width)
``A+B``        two signal shapes on one peak, e.g. ``crystalball+gauss`` (the core and a
               wider Gaussian): ``mass`` shared, A's other parameters, B's with the
               suffix ``_2`` (``sigma_2``), and ``fraction``, B's share of the whole pdf on
               the real line: (1 - fraction) f_A + fraction f_B with f_A, f_B normalised on
               the real line, so a sum fitted on one range is the same function on another
               (``sigma`` is A's, the core's)
=============  ======================================================================

The signal shapes' ``widths`` are their resolution parameters (``sigma``; ``sigma``,
``sigma_2`` of a sum): those a common width scale multiplies.

Background shapes, with ``t = (x - lo) / (hi - lo)`` in [0, 1]:

==================  =================================================================
``exponential``     exp(``slope`` * x), ``slope`` in 1/unit of x
``powerlaw``        x ** ``power``
``bernstein:N``     sum_k b_k B_{k,N}(t), N = 1..5, b_0 = 1 fixed, ``b1``..``bN`` >= 0
``exppoly:N``       exp(``a1`` t + ... + ``aN`` t^N), N = 1..5
``threshold``       a Gaussian-smeared step falling at ``edge`` with width ``smear``,
                    Phi((edge - x) / smear): the upper edge of a partially
                    reconstructed background (a decay with a particle missed lies below
                    the parent's mass minus that particle's)
``A+B``             two background shapes, e.g. ``exponential+threshold``:
                    (1 - ``fraction``) f_A + ``fraction`` f_B, each normalised on the range
                    (a background is not carried from one range to another)
==================  =================================================================

The pdfs come from numba-stats where it has them (norm, crystalball, voigt, bernstein,
truncexpon-like closed forms; the double-sided Crystal Ball is written here: ``_dscb``); a
shape without a closed-form integral (voigt, exppoly) is normalised by Gauss-Legendre
quadrature on the range, which is exact to ~1e-10 for these smooth functions. Every shape can
give bin integrals and draw samples (inverse CDF on a fine grid), so the same object serves
unbinned fits, binned templates and pseudo-experiments.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.special import ndtr

# Each shape imports its numba-stats module when it is built: importing one loads its
# compiled functions (about a second each), and a job uses few of the shapes.

SIGNAL_SHAPES = ("dscb", "gauss", "voigt", "crystalball", "A+B")
BACKGROUND_SHAPES = ("exponential", "powerlaw", "threshold", "bernstein:N", "exppoly:N", "A+B")
MAX_POLY_DEGREE = 5

# Grid used for numerical CDFs (sampling, bin integrals of shapes with no closed form).
_CDF_GRID_POINTS = 20001


def _gauss_legendre(lo: float, hi: float, panels: int, order: int = 8):
    """Nodes and weights of a composite Gauss-Legendre rule on [lo, hi]."""
    t, wt = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(lo, hi, panels + 1)
    half = 0.5 * np.diff(edges)
    mid = 0.5 * (edges[1:] + edges[:-1])
    nodes = (mid[:, None] + half[:, None] * t[None, :]).ravel()
    weights = (half[:, None] * wt[None, :]).ravel()
    return nodes, weights


@dataclass
class Shape:
    """A named pdf on [lo, hi] with named parameters.

    ``density(x, *values)`` is normalised to 1 on [lo, hi] (0 outside). ``params`` are the
    parameter names in the order ``density`` takes them; ``limits`` maps a name to
    (low, high) bounds (None for unbounded); ``start(x, w)`` guesses values from a sample.
    """

    name: str
    kind: str  # "signal" or "background"
    params: tuple[str, ...]
    lo: float
    hi: float
    _raw: Callable = field(repr=False)  # unnormalised-or-normalised density on the real line
    _norm: Callable = field(repr=False)  # integral of _raw over [lo, hi] for given values
    _cdf: Callable | None = field(default=None, repr=False)  # integral of _raw from lo to x
    limits: dict = field(default_factory=dict)
    _start: Callable | None = field(default=None, repr=False)
    # Optional: given fixed x (all inside the range), precompute what does not depend on the
    # parameters and return f(*values) -> raw density at x (e.g. the Bernstein basis matrix).
    _prepare: Callable | None = field(default=None, repr=False)
    widths: tuple[str, ...] = ()  # the resolution parameters of a signal shape (module docstring)

    # ---- evaluation -------------------------------------------------------------------
    def evaluator(self, x) -> Callable:
        """``f(*values) -> density at x`` for a fixed sample ``x`` inside [lo, hi].

        The same values as ``density(x, *values)`` but faster in fits, which evaluate the pdf
        at the same events hundreds of times: parameter-independent work (the Bernstein basis,
        powers of t, logarithms) is done once here.
        """
        x = np.asarray(x, dtype=float)
        # x is inside the range: no mask of the events outside, as density() needs
        raw = self._prepare(x) if self._prepare is not None else lambda *values: self._raw(x, *values)
        norm_fn = self._norm

        def evaluate(*values):
            norm = norm_fn(*values)
            if not np.isfinite(norm) or norm <= 0:
                return np.full_like(x, np.nan)
            return raw(*values) / norm

        return evaluate

    def density(self, x, *values) -> np.ndarray:
        """The pdf at ``x``, normalised on [lo, hi]; zero outside the range."""
        x = np.asarray(x, dtype=float)
        norm = self._norm(*values)
        if not np.isfinite(norm) or norm <= 0:
            return np.full_like(x, np.nan)
        out = self._raw(x, *values) / norm
        return np.where((x >= self.lo) & (x <= self.hi), out, 0.0)

    def density_from(self, x, values: dict) -> np.ndarray:
        """``density`` with parameters given as a dict by name."""
        return self.density(x, *self.values_tuple(values))

    def values_tuple(self, values: dict) -> tuple:
        missing = [p for p in self.params if p not in values]
        if missing:
            raise KeyError(f"shape {self.name!r} needs parameter(s) {missing}; got {sorted(values)}")
        return tuple(float(values[p]) for p in self.params)

    def cdf(self, x, values: dict) -> np.ndarray:
        """Probability below ``x`` within [lo, hi] (0 at lo, 1 at hi)."""
        vals = self.values_tuple(values)
        x = np.clip(np.asarray(x, dtype=float), self.lo, self.hi)
        if self._cdf is not None:
            return self._cdf(x, *vals) / self._norm(*vals)
        grid, cum = self._cdf_grid(vals)
        return np.interp(x, grid, cum)

    def bin_integrals(self, edges, values: dict) -> np.ndarray:
        """Probability in each bin [edges[i], edges[i+1]] (clipped to the range)."""
        return np.diff(self.cdf(np.asarray(edges, dtype=float), values))

    def _cdf_grid(self, vals: tuple):
        grid = np.linspace(self.lo, self.hi, _CDF_GRID_POINTS)
        dens = self._raw(grid, *vals)
        cum = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
        return grid, cum / cum[-1]

    def sample(self, rng: np.random.Generator, n: int, values: dict) -> np.ndarray:
        """``n`` random values from the pdf, by inverse CDF on a fine grid (vectorised)."""
        vals = self.values_tuple(values)
        grid = np.linspace(self.lo, self.hi, _CDF_GRID_POINTS)
        if self._cdf is not None:
            cum = self._cdf(grid, *vals) / self._norm(*vals)
        else:
            grid, cum = self._cdf_grid(vals)
        cum = np.maximum.accumulate(cum)
        keep = np.concatenate([[True], np.diff(cum) > 0])  # strictly increasing for interp
        return np.interp(rng.random(int(n)), cum[keep], grid[keep])

    def start(self, x, w=None) -> dict:
        """Starting values estimated from a sample (weighted quantiles, log-linear fits)."""
        x = np.asarray(x, dtype=float)
        w = np.ones_like(x) if w is None else np.asarray(w, dtype=float)
        inside = (x >= self.lo) & (x <= self.hi)
        if self._start is None or inside.sum() < 2:
            return {p: _midpoint(self.limits.get(p)) for p in self.params}
        return self._start(x[inside], w[inside])

    @property
    def npar(self) -> int:
        return len(self.params)


def _midpoint(lim) -> float:
    if lim is None or lim[0] is None or lim[1] is None:
        return 1.0
    return 0.5 * (lim[0] + lim[1])


def _weighted_quantiles(x, w, qs):
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    cw = cw / cw[-1]
    return np.interp(qs, cw, x[order])


def _peak_start(lo, hi):
    def start(x, w):
        q16, q50, q84 = _weighted_quantiles(x, w, [0.16, 0.5, 0.84])
        # The core is narrower than the 68% interval when there are tails.
        sigma = max(0.4 * (q84 - q16), 1e-3 * (hi - lo))
        return {"mass": float(q50), "sigma": float(sigma)}

    return start


def _log_hist(x, w, lo, hi, nbins=10):
    counts, edges = np.histogram(x, bins=nbins, range=(lo, hi), weights=w)
    centres = 0.5 * (edges[1:] + edges[:-1])
    ok = counts > 0
    return centres[ok], np.log(counts[ok]), counts


# ---- signal shapes ----------------------------------------------------------------------
def _gauss(lo, hi) -> Shape:
    from numba_stats import norm as _norm

    def raw(x, mass, sigma):
        return _norm.pdf(x, mass, sigma)

    def norm(mass, sigma):
        return float(np.diff(_norm.cdf(np.array([lo, hi]), mass, sigma))[0])

    def cdf(x, mass, sigma):
        return _norm.cdf(x, mass, sigma) - _norm.cdf(np.array([lo]), mass, sigma)[0]

    return Shape("gauss", "signal", ("mass", "sigma"), lo, hi, raw, norm, cdf,
                 _signal_limits(lo, hi), _peak_start(lo, hi), widths=("sigma",))


# The double-sided Crystal Ball in numpy rather than numba_stats.crystalball_ex: importing that
# module compiles its ppf (numba cache=False upstream), about 4 s of CPU in every process that
# builds a dscb, i.e. every inference job; in numpy the pdf is as fast on fit data (mostly tails).
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _tail(alpha, n):
    """B of a power-law tail (n / alpha)^n exp(-alpha^2 / 2) (B + |z|)^-n, joined to exp(-z^2 / 2)
    at |z| = alpha with the same value and slope, and the tail's integral beyond alpha."""
    return n / alpha - alpha, n / (alpha * (n - 1.0)) * math.exp(-0.5 * alpha * alpha)


def dscb_density(z, alpha_lo, n_lo, alpha_hi, n_hi):
    """The double-sided Crystal Ball of z = (x - mass) / sigma, unnormalised: exp(-z^2 / 2) on
    [-alpha_lo, alpha_hi], the power-law tails (exponents n_lo, n_hi) beyond."""
    # the logarithm of each piece, then one exp: in a fit range many sigmas wide most events
    # are in the tails, which would otherwise pay for two
    out = np.asarray(-0.5 * z * z)
    for side, alpha, n in ((np.flatnonzero(z < -alpha_lo), alpha_lo, n_lo),
                           (np.flatnonzero(z > alpha_hi), alpha_hi, n_hi)):
        if side.size:
            b, _ = _tail(alpha, n)
            out[side] = n * (math.log(n / alpha) - np.log(b + np.abs(z[side]))) - 0.5 * alpha * alpha
    return np.exp(out, out=out)


def dscb_total(alpha_lo, n_lo, alpha_hi, n_hi):
    """The integral of ``dscb_density`` over the real line."""
    return _tail(alpha_lo, n_lo)[1] + _tail(alpha_hi, n_hi)[1] + _SQRT_2PI * (ndtr(alpha_hi) - ndtr(-alpha_lo))


def dscb_integral(z, alpha_lo, n_lo, alpha_hi, n_hi):
    """The integral of ``dscb_density`` from -inf to z; a tail's is its area times
    ((B + alpha) / (B + |z|))^(n - 1)."""
    (b_lo, area_lo), (b_hi, area_hi) = _tail(alpha_lo, n_lo), _tail(alpha_hi, n_hi)
    z = np.asarray(z, dtype=float)
    out = area_lo + _SQRT_2PI * (ndtr(np.clip(z, -alpha_lo, alpha_hi)) - ndtr(-alpha_lo))
    lo, hi = z < -alpha_lo, z > alpha_hi
    out[lo] = area_lo * ((b_lo + alpha_lo) / (b_lo - z[lo])) ** (n_lo - 1.0)
    out[hi] = dscb_total(alpha_lo, n_lo, alpha_hi, n_hi) - area_hi * ((b_hi + alpha_hi) / (b_hi + z[hi])) ** (n_hi - 1.0)
    return out


def _dscb(lo, hi) -> Shape:
    params = ("mass", "sigma", "alpha_lo", "n_lo", "alpha_hi", "n_hi")

    def raw(x, mass, sigma, alpha_lo, n_lo, alpha_hi, n_hi):
        z = (np.asarray(x, dtype=float) - mass) / sigma
        return dscb_density(z, alpha_lo, n_lo, alpha_hi, n_hi) / (sigma * dscb_total(alpha_lo, n_lo, alpha_hi, n_hi))

    def _c(x, mass, sigma, *tails):
        return dscb_integral((np.asarray(x, dtype=float) - mass) / sigma, *tails) / dscb_total(*tails)

    def norm(*v):
        return float(np.diff(_c(np.array([lo, hi]), *v))[0])

    def cdf(x, *v):
        return _c(x, *v) - _c(np.array([lo]), *v)[0]

    base = _peak_start(lo, hi)

    def start(x, w):
        out = base(x, w)
        out.update(alpha_lo=1.5, n_lo=5.0, alpha_hi=1.5, n_hi=5.0)
        return out

    limits = _signal_limits(lo, hi)
    limits.update(alpha_lo=(0.05, 10.0), n_lo=(1.01, 200.0), alpha_hi=(0.05, 10.0), n_hi=(1.01, 200.0))
    return Shape("dscb", "signal", params, lo, hi, raw, norm, cdf, limits, start, widths=("sigma",))


def _crystalball_shape(lo, hi) -> Shape:
    from numba_stats import crystalball as _crystalball

    params = ("mass", "sigma", "alpha", "n")

    def raw(x, mass, sigma, alpha, n):
        return _crystalball.pdf(x, alpha, n, mass, sigma)

    def norm(mass, sigma, alpha, n):
        return float(np.diff(_crystalball.cdf(np.array([lo, hi]), alpha, n, mass, sigma))[0])

    def cdf(x, mass, sigma, alpha, n):
        return _crystalball.cdf(x, alpha, n, mass, sigma) - _crystalball.cdf(np.array([lo]), alpha, n, mass, sigma)[0]

    base = _peak_start(lo, hi)

    def start(x, w):
        out = base(x, w)
        out.update(alpha=1.5, n=5.0)
        return out

    limits = _signal_limits(lo, hi)
    limits.update(alpha=(0.05, 10.0), n=(1.01, 200.0))
    return Shape("crystalball", "signal", params, lo, hi, raw, norm, cdf, limits, start, widths=("sigma",))


def _voigt_shape(lo, hi) -> Shape:
    from numba_stats import voigt as _voigt

    nodes, weights = _gauss_legendre(lo, hi, panels=200)

    def raw(x, mass, sigma, width):
        return _voigt.pdf(x, 0.5 * width, mass, sigma)

    def norm(mass, sigma, width):
        return float(np.dot(weights, raw(nodes, mass, sigma, width)))

    base = _peak_start(lo, hi)

    def start(x, w):
        out = base(x, w)
        out["width"] = out["sigma"]
        out["sigma"] *= 0.7
        return out

    limits = _signal_limits(lo, hi)
    limits["width"] = (1e-6, 0.5 * (hi - lo))
    return Shape("voigt", "signal", ("mass", "sigma", "width"), lo, hi, raw, norm, None, limits, start, widths=("sigma",))


def _signal_limits(lo, hi) -> dict:
    return {"mass": (lo, hi), "sigma": (1e-3 * (hi - lo), 0.5 * (hi - lo))}


# ---- background shapes ------------------------------------------------------------------
def _exponential(lo, hi) -> Shape:
    span = hi - lo
    # exp(slope (x - lo)) is exp(slope x) up to a constant; the shift keeps it finite.

    def raw(x, slope):
        return np.exp(slope * (x - lo))

    def _int(x, slope):
        if abs(slope) * span < 1e-8:
            return x - lo
        return np.expm1(slope * (x - lo)) / slope

    def norm(slope):
        return float(_int(np.array(hi), slope))

    def start(x, w):
        c, logn, _ = _log_hist(x, w, lo, hi)
        slope = np.polyfit(c, logn, 1)[0] if len(c) >= 2 else 0.0
        return {"slope": float(slope)}

    def prepare(x):
        dx = x - lo
        return lambda slope: np.exp(slope * dx)

    bound = 50.0 / span
    return Shape("exponential", "background", ("slope",), lo, hi, raw, norm, _int,
                 {"slope": (-bound, bound)}, start, prepare)


def _powerlaw(lo, hi) -> Shape:
    if lo <= 0:
        raise ValueError(f"the powerlaw background needs a positive fit range; got [{lo}, {hi}]")

    def raw(x, power):
        return np.power(np.maximum(x, 1e-300) / lo, power)

    def _int(x, power):
        if abs(power + 1.0) < 1e-9:
            return lo * np.log(x / lo)
        return lo * (np.power(x / lo, power + 1.0) - 1.0) / (power + 1.0)

    def norm(power):
        return float(_int(np.array(hi), power))

    def start(x, w):
        c, logn, _ = _log_hist(x, w, lo, hi)
        power = np.polyfit(np.log(c), logn, 1)[0] if len(c) >= 2 else -1.0
        return {"power": float(power)}

    def prepare(x):
        logx = np.log(np.maximum(x, 1e-300) / lo)
        return lambda power: np.exp(power * logx)

    return Shape("powerlaw", "background", ("power",), lo, hi, raw, norm, _int,
                 {"power": (-100.0, 100.0)}, start, prepare)


def _bernstein(lo, hi, degree) -> Shape:
    from numba_stats import bernstein as _nb_bernstein

    params = tuple(f"b{k}" for k in range(1, degree + 1))

    def raw(x, *b):
        beta = np.array((1.0,) + b)
        return _nb_bernstein.density(x, beta, lo, hi)

    def norm(*b):
        return (1.0 + sum(b)) / (degree + 1) * (hi - lo)

    def cdf(x, *b):
        beta = np.array((1.0,) + b)
        return _nb_bernstein.integral(x, beta, lo, hi)

    def start(x, w):
        counts, _ = np.histogram(x, bins=degree + 1, range=(lo, hi), weights=w)
        first = counts[0] if counts[0] > 0 else max(counts.max(), 1.0)
        return {p: float(max(counts[k + 1] / first, 1e-3)) for k, p in enumerate(params)}

    def prepare(x):
        t = (x - lo) / (hi - lo)
        k = np.arange(degree + 1)
        comb = np.array([math.comb(degree, j) for j in k], dtype=float)
        basis = comb * t[:, None] ** k * (1.0 - t[:, None]) ** (degree - k)  # (n, degree + 1)
        head, tail = basis[:, 0].copy(), np.ascontiguousarray(basis[:, 1:])
        return lambda *b: head + tail @ np.asarray(b)

    limits = {p: (0.0, 1e3) for p in params}
    return Shape(f"bernstein:{degree}", "background", params, lo, hi, raw, norm, cdf, limits, start, prepare)


def _exppoly(lo, hi, degree) -> Shape:
    params = tuple(f"a{k}" for k in range(1, degree + 1))
    span = hi - lo
    nodes, weights = _gauss_legendre(lo, hi, panels=4, order=16)

    def raw(x, *a):
        t = (np.asarray(x, dtype=float) - lo) / span
        return np.exp(np.polynomial.polynomial.polyval(t, (0.0,) + a))

    def norm(*a):
        return float(np.dot(weights, raw(nodes, *a)))

    def start(x, w):
        c, logn, _ = _log_hist(x, w, lo, hi)
        slope = np.polyfit((c - lo) / span, logn, 1)[0] if len(c) >= 2 else 0.0
        out = {p: 0.0 for p in params}
        out["a1"] = float(slope)
        return out

    def prepare(x):
        t = (x - lo) / span
        # (degree, n): a row-vector product over it is twice as fast as (n, degree) @ a
        powers = np.ascontiguousarray(t[None, :] ** np.arange(1, degree + 1)[:, None])
        return lambda *a: np.exp(np.asarray(a) @ powers)

    limits = {p: (-100.0, 100.0) for p in params}
    return Shape(f"exppoly:{degree}", "background", params, lo, hi, raw, norm, None, limits, start, prepare)


def _threshold(lo, hi) -> Shape:
    span = hi - lo
    root_two_pi = math.sqrt(2.0 * math.pi)

    def raw(x, edge, smear):
        return ndtr((edge - x) / smear)

    def _antiderivative(u):  # G(u) = u Phi(u) + phi(u), so d/dx [-smear G((edge - x) / smear)] = Phi
        return u * ndtr(u) + np.exp(-0.5 * u * u) / root_two_pi

    def _int(x, edge, smear):
        return smear * (_antiderivative((edge - lo) / smear) - _antiderivative((edge - np.asarray(x, float)) / smear))

    def norm(edge, smear):
        return float(_int(hi, edge, smear))

    def start(x, w):
        return {"edge": lo + 0.05 * span, "smear": 0.05 * span}

    limits = {"edge": (lo - 0.5 * span, lo + 0.5 * span), "smear": (1e-3 * span, 0.2 * span)}
    return Shape("threshold", "background", ("edge", "smear"), lo, hi, raw, norm, _int, limits, start)


def _sum(first: Shape, second: Shape) -> Shape:
    """(1 - fraction) first + fraction second, each normalised on the range."""
    shared = set(first.params) & set(second.params)
    if shared:
        raise ValueError(f"shape {first.name}+{second.name}: both parts have the parameter(s) {sorted(shared)}")
    k = first.npar
    params = (*first.params, *second.params, "fraction")

    def raw(x, *v):
        return (1.0 - v[-1]) * first.density(x, *v[:k]) + v[-1] * second.density(x, *v[k:-1])

    def cdf(x, *v):
        return ((1.0 - v[-1]) * first.cdf(x, dict(zip(first.params, v[:k])))
                + v[-1] * second.cdf(x, dict(zip(second.params, v[k:-1]))))

    def start(x, w):
        return {**first.start(x, w), **second.start(x, w), "fraction": 0.1}

    limits = {**first.limits, **second.limits, "fraction": (0.0, 1.0)}
    return Shape(f"{first.name}+{second.name}", "background", params, first.lo, first.hi, raw, lambda *v: 1.0, cdf,
                 limits, start)


def _signal_sum(first: Shape, second: Shape) -> Shape:
    """(1 - fraction) first + fraction second on one peak (the module docstring): the parts'
    pdfs on the real line (every signal shape's ``_raw`` is one), normalised together on the
    range, so ``fraction`` and the parts' parameters do not depend on the range."""
    own = tuple(p for p in second.params if p != "mass")
    renamed = {p: f"{p}_2" for p in own}
    k = first.npar
    params = (*first.params, *renamed.values(), "fraction")

    def split(v):
        named_first = dict(zip(first.params, v[:k]))
        named_second = {"mass": named_first["mass"], **dict(zip(own, v[k:-1]))}
        return tuple(named_first[p] for p in first.params), tuple(named_second[p] for p in second.params), v[-1]

    def raw(x, *v):
        a, b, fraction = split(v)
        return (1.0 - fraction) * first._raw(x, *a) + fraction * second._raw(x, *b)

    def norm(*v):
        a, b, fraction = split(v)
        return (1.0 - fraction) * first._norm(*a) + fraction * second._norm(*b)

    cdf = None
    if first._cdf is not None and second._cdf is not None:
        def cdf(x, *v):
            a, b, fraction = split(v)
            return (1.0 - fraction) * first._cdf(x, *a) + fraction * second._cdf(x, *b)

    def start(x, w):
        out = first.start(x, w)
        # the second part starts twice as wide, so that the two are not the same function
        wide = {**second.start(x, w), "sigma": 2.0 * out["sigma"]}
        out.update({renamed[p]: wide[p] for p in own}, fraction=0.2)
        return out

    limits = {**first.limits, **{renamed[p]: second.limits[p] for p in own if p in second.limits},
              "fraction": (0.0, 1.0)}
    widths = (*first.widths, *(renamed[p] for p in second.widths if p in renamed))
    return Shape(f"{first.name}+{second.name}", "signal", params, first.lo, first.hi, raw, norm, cdf, limits, start,
                 widths=widths)


_SIGNAL_FACTORIES = {"gauss": _gauss, "dscb": _dscb, "crystalball": _crystalball_shape, "voigt": _voigt_shape}
_BACKGROUND_FACTORIES = {"exponential": _exponential, "powerlaw": _powerlaw, "threshold": _threshold}
_POLY_FACTORIES = {"bernstein": _bernstein, "exppoly": _exppoly}


def get_shape(name: str, lo: float, hi: float) -> Shape:
    """The shape called ``name`` (e.g. ``"dscb"``, ``"bernstein:3"``) normalised on [lo, hi].

    Raises ValueError naming the known shapes if ``name`` is not one of them, or if the
    range is empty.
    """
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError(f"fit range [{lo}, {hi}] is empty: the upper edge must be above the lower edge")
    key = str(name).strip().lower()
    if "+" in key:
        parts = [get_shape(part, lo, hi) for part in key.split("+")]
        kinds = {part.kind for part in parts}
        if len(parts) != 2 or len(kinds) != 1:
            raise ValueError(f"shape {name!r}: a sum is of two background shapes (e.g. exponential+threshold) or "
                             f"of two signal shapes (e.g. crystalball+gauss)")
        return _signal_sum(*parts) if kinds == {"signal"} else _sum(*parts)
    if key in _SIGNAL_FACTORIES:
        return _SIGNAL_FACTORIES[key](lo, hi)
    if key in _BACKGROUND_FACTORIES:
        return _BACKGROUND_FACTORIES[key](lo, hi)
    match = re.fullmatch(r"(bernstein|exppoly):(\d+)", key)
    if match:
        degree = int(match.group(2))
        if not 1 <= degree <= MAX_POLY_DEGREE:
            raise ValueError(f"shape {name!r}: the degree must be 1 to {MAX_POLY_DEGREE}")
        return _POLY_FACTORIES[match.group(1)](lo, hi, degree)
    raise ValueError(
        f"unknown shape {name!r}; signal shapes: {', '.join(SIGNAL_SHAPES)}; "
        f"background shapes: {', '.join(BACKGROUND_SHAPES)} (N = 1..{MAX_POLY_DEGREE}; A+B: two of the same kind)"
    )


def is_signal_shape(name: str) -> bool:
    """Whether ``name`` is a signal shape or a sum of two (the name is not checked further)."""
    return all(part.strip() in _SIGNAL_FACTORIES for part in str(name).strip().lower().split("+"))
