"""Counting-experiment significance and the significance-versus-threshold curve.

Formulae from Cowan, Cranmer, Gross, Vitells, Eur. Phys. J. C 71 (2011) 1554.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize


def asimov_z(s, b):
    """Median discovery significance of a counting experiment, Z = sqrt(2((s+b)ln(1+s/b) - s)).

    Vectorised; Z = 0 where s <= 0 or b <= 0 (no expected signal, or no background estimate).
    Reduces to s/sqrt(b) for s << b.
    """
    s = np.asarray(s, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = (s > 0) & (b > 0)
    safe_b = np.where(ok, b, 1.0)
    safe_s = np.where(ok, s, 0.0)
    q = 2.0 * ((safe_s + safe_b) * np.log1p(safe_s / safe_b) - safe_s)
    return np.where(ok, np.sqrt(np.maximum(q, 0.0)), 0.0)


def s_over_sqrt_s_plus_b(s, b):
    """The figure of merit S / sqrt(S + B) (the expected relative precision of a signal yield
    measured by counting, as LHCb selections often maximise). Vectorised; 0 where s <= 0 or b < 0."""
    s = np.asarray(s, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = (s > 0) & (b >= 0)
    return np.where(ok, np.where(ok, s, 0.0) / np.sqrt(np.where(ok, s + b, 1.0)), 0.0)


def s_over_sqrt_b(s, b):
    """The figure of merit S / sqrt(B) (small-signal limit of the Asimov Z). Vectorised; 0 where
    s <= 0 or b <= 0."""
    s = np.asarray(s, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = (s > 0) & (b > 0)
    return np.where(ok, np.where(ok, s, 0.0) / np.sqrt(np.where(ok, b, 1.0)), 0.0)


FIGURES_OF_MERIT = {"asimov": asimov_z, "s_over_sqrt_s_plus_b": s_over_sqrt_s_plus_b, "s_over_sqrt_b": s_over_sqrt_b}


def figure_of_merit(name: str):
    """The function (s, b) -> figure of merit called ``name`` (``FIGURES_OF_MERIT``)."""
    if name not in FIGURES_OF_MERIT:
        raise ValueError(f"unknown figure of merit {name!r}: choose one of {', '.join(FIGURES_OF_MERIT)} "
                         "(config key optimise.figure_of_merit)")
    return FIGURES_OF_MERIT[name]


def sideband_transfer_factor(mass, weight, window, fit_range, sidebands=None) -> float:
    """Ratio (expected background in the window) / (background in the sidebands).

    Fits an exponential exp(-lambda m) by weighted maximum likelihood to the events in the
    ``sidebands`` ([lo, hi) intervals; by default ``fit_range`` outside ``window``, the blinded
    region), then integrates it. Multiplying the sideband yield above a score threshold by this
    factor estimates the background under the peak without looking at the signal region; a
    one-sided sideband (e.g. the upper one only) extrapolates the exponential into the window.
    """
    lo, hi = fit_range
    wlo, whi = window
    if sidebands is None:
        sidebands = [(lo, wlo), (whi, hi)]
    sidebands = [(float(a), float(b)) for a, b in sidebands]
    mass = np.asarray(mass, dtype=float)
    weight = np.asarray(weight, dtype=float)
    side = np.zeros(mass.shape, dtype=bool)
    for a, b in sidebands:
        side |= (mass >= a) & (mass < b)
    if not np.any(side) or weight[side].sum() <= 0:
        raise ValueError(f"no events in the sidebands {sidebands} to estimate the background")
    m, w = mass[side], weight[side]
    span = hi - lo

    def integral(lam, a, c):
        # integral of exp(-lam (x - lo) / span) over [a, c], stable near lam = 0
        x0, x1 = (a - lo) / span, (c - lo) / span
        if abs(lam) < 1e-9:
            return (x1 - x0) * span
        return span * (np.exp(-lam * x0) - np.exp(-lam * x1)) / lam

    def sideband_norm(lam):
        return sum(integral(lam, a, b) for a, b in sidebands)

    def nll(lam):
        return np.sum(w * lam * (m - lo) / span) + w.sum() * np.log(sideband_norm(lam))

    lam = optimize.minimize_scalar(nll, bounds=(-50.0, 50.0), method="bounded").x
    return float(integral(lam, wlo, whi) / sideband_norm(lam))


def z_curve(score_s, weight_s, score_b, weight_b, thresholds, b_scale: float = 1.0, min_b: float = 0.0,
            fom=asimov_z):
    """The figure of merit ``fom(s, b)`` (default the Asimov Z) of the events with score > t,
    for each threshold t.

    ``score_s, weight_s``: signal events in the mass window (weights give expected yields).
    ``score_b, weight_b``: background events (in the window, or sidebands with ``b_scale`` the
    transfer factor to the window). Thresholds where the expected background is below
    ``min_b`` get Z = 0, so a fluctuation in a near-empty tail cannot win.
    Returns dict with arrays ``threshold, s, b, z``.
    """
    thresholds = np.asarray(thresholds, dtype=float)
    s = weight_above(score_s, weight_s, thresholds)
    b = weight_above(score_b, weight_b, thresholds) * b_scale
    z = fom(s, b)
    z = np.where(b >= min_b, z, 0.0)
    return {"threshold": thresholds, "s": s, "b": b, "z": z}


def weight_above(score, weight, thresholds):
    """Sum of weights with score > t for each t, by one sort and a cumulative sum (no loop)."""
    score = np.asarray(score, dtype=float)
    weight = np.asarray(weight, dtype=float)
    order = np.argsort(score)
    cum = np.concatenate([[0.0], np.cumsum(weight[order])])
    idx = np.searchsorted(score[order], thresholds, side="right")
    return cum[-1] - cum[idx]


def counting_q0(n, b):
    """Discovery test statistic of a counting experiment n ~ Poisson(s + b) with b known.

    q0 = 2 (n ln(n/b) - (n - b)) for n > b, else 0 (Cowan et al. eq. 12 with s_hat = n - b);
    Z = sqrt(q0). With n = s + b (the Asimov value) sqrt(q0) equals ``asimov_z(s, b)``.
    Vectorised.
    """
    n = np.asarray(n, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = (n > b) & (b > 0)
    safe_n = np.where(ok, n, 1.0)
    safe_b = np.where(ok, b, 1.0)
    return np.where(ok, 2.0 * (safe_n * np.log(safe_n / safe_b) - (safe_n - safe_b)), 0.0)
