"""Goodness of fit of an unbinned fit, judged on its binned projection.

The unbinned likelihood has no absolute scale, so the fit's quality is read from a histogram
of the data against the fitted model's expected counts per bin. The statistic is the Poisson
likelihood-ratio chi2 of Baker and Cousins (Nucl. Instrum. Meth. 221 (1984) 437),

    chi2 = 2 sum_i (nu_i - n_i + n_i ln(n_i / nu_i)),

which, unlike Pearson's or Neyman's, stays right in bins with few events (a bin with no events
adds 2 nu_i); it follows a chi2 distribution of ndf = bins - free parameters for large counts.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def poisson_chi2(counts, expected, n_free: int) -> dict:
    """Baker-Cousins chi2 of observed ``counts`` against ``expected`` counts per bin, with
    ``n_free`` parameters fitted. Bins where the model expects nothing are left out (they
    hold no information, and an event there would make the chi2 infinite: a ValueError).

    Returns ``chi2``, ``ndf`` (bins used - n_free), ``chi2_ndf`` (None when ndf < 1),
    ``p_value`` and ``bins``.
    """
    n = np.asarray(counts, dtype=float)
    nu = np.asarray(expected, dtype=float)
    if n.shape != nu.shape:
        raise ValueError(f"counts {n.shape} and expected {nu.shape} differ in shape")
    used = nu > 0
    if np.any(n[~used] > 0):
        raise ValueError(f"{int(n[~used].sum())} events in bins where the fitted model expects none")
    n, nu = n[used], nu[used]
    log_term = np.where(n > 0, n * np.log(np.where(n > 0, n, 1.0) / nu), 0.0)
    chi2 = float(2.0 * np.sum(nu - n + log_term))
    ndf = int(n.size - n_free)
    return {"chi2": chi2, "ndf": ndf, "chi2_ndf": chi2 / ndf if ndf >= 1 else None,
            "p_value": float(stats.chi2.sf(chi2, ndf)) if ndf >= 1 else None, "bins": int(n.size)}


def combined_chi2(per_channel, n_free: int) -> dict:
    """Goodness of fit of a simultaneous fit of several channels: the sum of the channels'
    ``poisson_chi2`` (independent Poisson bins, so the chi2 add) against ndf = all bins used
    minus the ``n_free`` parameters of the whole fit (a parameter shared by channels, such as a
    common signal strength, is counted once). Same keys as ``poisson_chi2``."""
    per_channel = list(per_channel)
    if not per_channel:
        raise ValueError("no channels to combine")
    chi2 = float(sum(c["chi2"] for c in per_channel))
    bins = int(sum(c["bins"] for c in per_channel))
    ndf = bins - int(n_free)
    return {"chi2": chi2, "ndf": ndf, "chi2_ndf": chi2 / ndf if ndf >= 1 else None,
            "p_value": float(stats.chi2.sf(chi2, ndf)) if ndf >= 1 else None, "bins": bins}
