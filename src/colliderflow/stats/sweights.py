"""sWeights (sPlot): per-event weights that unfold the signal component of an extended
maximum-likelihood fit of a discriminating variable, so that other variables (uncorrelated with
it) can be studied for signal alone.

Pivk and Le Diberder, Nucl. Instrum. Meth. A 555 (2005) 356, eq. 14-15: with component
densities f_k(x) (normalised over the fit range), fitted yields N_k and

    (V^-1)_jk = sum_e f_j(x_e) f_k(x_e) / (sum_i N_i f_i(x_e))^2,

the sWeight of component n for event e is

    w_n(x_e) = sum_j V_nj f_j(x_e) / sum_k N_k f_k(x_e).

The sum of the sWeights of a component over the fitted events equals its fitted yield
(when the yields are those that maximise the likelihood), and sum_n w_n(x_e) = 1 for every event.
"""

from __future__ import annotations

import numpy as np


def sweights(densities, yields) -> np.ndarray:
    """sWeights of every component for every event: an (n_components, n_events) array.

    ``densities``: (n_components, n_events) component pdfs evaluated at each event's x (each
    normalised over the fit range); ``yields``: the fitted yields (n_components,). The yields
    must be the maximum-likelihood ones of these densities on these events, or the weights
    will not sum to them.
    """
    f = np.asarray(densities, dtype=float)
    n = np.asarray(yields, dtype=float)
    if f.ndim != 2 or f.shape[0] != n.shape[0]:
        raise ValueError(f"densities must be (components, events) and yields (components,): got {f.shape} and {n.shape}")
    total = n @ f
    if np.any(total <= 0):
        raise ValueError("the fitted model density is <= 0 at some events; they lie outside the fit range or a "
                         "yield is negative where it matters")
    inverse = (f / total) @ (f / total).T
    covariance = np.linalg.inv(inverse)
    return covariance @ f / total


def covariance_of_yields(densities, yields) -> np.ndarray:
    """The yields' covariance V of the sPlot formula (the inverse of (V^-1)_jk above)."""
    f = np.asarray(densities, dtype=float)
    total = np.asarray(yields, dtype=float) @ f
    return np.linalg.inv((f / total) @ (f / total).T)
