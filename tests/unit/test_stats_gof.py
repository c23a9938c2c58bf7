"""The binned goodness of fit (Baker-Cousins chi2) against known cases."""

import numpy as np
import pytest
from scipy import stats

from colliderflow.stats.gof import combined_chi2, poisson_chi2


def test_poisson_chi2_follows_its_distribution_for_the_true_model():
    rng = np.random.default_rng(2)
    expected = np.linspace(2.0, 40.0, 50)  # few events per bin at one end: Baker-Cousins stays right
    values = [poisson_chi2(rng.poisson(expected), expected, n_free=0)["chi2"] for _ in range(2000)]
    assert np.mean(values) == pytest.approx(50.0, rel=0.05)
    # a wrong model (30% too few events expected) is seen
    shifted = poisson_chi2(rng.poisson(expected * 1.3), expected, n_free=2)
    assert shifted["chi2_ndf"] > 2 and shifted["p_value"] < 1e-4


def test_poisson_chi2_known_values_and_empty_bins():
    # a bin with no events adds 2 nu; the bin where nothing is expected (and nothing seen) is left out
    result = poisson_chi2([0, 4, 0], [1.0, 4.0, 0.0], n_free=1)
    assert result == {"chi2": pytest.approx(2.0), "ndf": 1, "chi2_ndf": pytest.approx(2.0),
                      "p_value": pytest.approx(stats.chi2.sf(2.0, 1)), "bins": 2}
    with pytest.raises(ValueError, match="expects none"):
        poisson_chi2([1, 0], [0.0, 1.0], n_free=0)
    assert poisson_chi2([1, 2], [1.0, 2.0], n_free=2)["chi2_ndf"] is None


def test_combined_chi2_adds_channels_and_counts_shared_parameters_once():
    first = poisson_chi2([0, 4, 0], [1.0, 4.0, 0.0], n_free=2)
    second = poisson_chi2([3, 5, 7], [3.0, 5.0, 6.0], n_free=2)
    combined = combined_chi2([first, second], n_free=3)  # e.g. a shared mu and one normalisation each
    assert combined["chi2"] == pytest.approx(first["chi2"] + second["chi2"])
    assert combined["bins"] == 5 and combined["ndf"] == 2
    assert combined["p_value"] == pytest.approx(stats.chi2.sf(combined["chi2"], 2))
    with pytest.raises(ValueError, match="no channels"):
        combined_chi2([], n_free=0)
