"""sWeights against a known case: a Gaussian peak on an exponential, with a control variable
whose signal and background distributions are known (exponentials of mean 1 and 3)."""

import numpy as np
import pytest
from scipy import optimize, stats

from colliderflow.stats.sweights import covariance_of_yields, sweights


def test_sweights_unfold_the_signal_of_a_known_mixture():
    rng = np.random.default_rng(1)
    lo, hi, slope, ns, nb = 5200.0, 5800.0, 0.004, 2000, 8000
    m = np.r_[rng.normal(5367.0, 20.0, ns), lo - np.log1p(-rng.uniform(size=nb) * -np.expm1(-slope * (hi - lo))) / slope]
    t = np.r_[rng.exponential(1.0, ns), rng.exponential(3.0, nb)]  # independent of m within each component
    inside = (m >= lo) & (m < hi)
    m, t = m[inside], t[inside]
    signal = stats.norm.pdf(m, 5367.0, 20.0) / (stats.norm.cdf(hi, 5367.0, 20.0) - stats.norm.cdf(lo, 5367.0, 20.0))
    background = slope * np.exp(-slope * (m - lo)) / -np.expm1(-slope * (hi - lo))

    def nll(y):  # extended likelihood in the yields
        return y.sum() - np.sum(np.log(y[0] * signal + y[1] * background))

    yields = optimize.minimize(nll, [1000.0, 1000.0], method="Nelder-Mead",
                               options={"xatol": 1e-6, "fatol": 1e-10, "maxiter": 5000}).x
    weights = sweights([signal, background], yields)
    # each component's sWeights sum to its fitted yield; every event's sWeights sum to 1
    np.testing.assert_allclose(weights.sum(axis=1), yields, rtol=1e-5)
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, atol=1e-6)
    # the sWeighted control variable has the true means of the components (1 and 3)
    assert np.sum(weights[0] * t) / weights[0].sum() == pytest.approx(1.0, abs=0.05)
    assert np.sum(weights[1] * t) / weights[1].sum() == pytest.approx(3.0, abs=0.05)
    # the yields' variance is about the yield (Poisson) plus the cost of the overlap
    variance = np.diag(covariance_of_yields([signal, background], yields))
    assert yields[0] < variance[0] < 2 * yields[0]


def test_sweights_refuse_a_wrong_shape():
    with pytest.raises(ValueError, match="components, events"):
        sweights(np.ones((2, 5)), [1.0, 2.0, 3.0])
