import numpy as np
import pytest

from colliderflow.stats.significance import asimov_z, sideband_transfer_factor, z_curve


def test_asimov_z_closed_form_and_limit():
    s, b = 10.0, 100.0
    expected = np.sqrt(2 * ((s + b) * np.log(1 + s / b) - s))
    assert asimov_z(s, b) == pytest.approx(expected)
    # s << b: reduces to s/sqrt(b)
    assert asimov_z(1.0, 1e6) == pytest.approx(1.0 / 1e3, rel=1e-3)
    # s >> b is not s/sqrt(b): the Asimov formula is smaller
    assert asimov_z(50.0, 1.0) < 50.0
    assert np.all(asimov_z([0.0, 5.0], [10.0, 0.0]) == 0.0)


def test_z_curve_counts_weights_above_threshold():
    curve = z_curve([0.1, 0.6, 0.9], [1.0, 2.0, 3.0], [0.2, 0.7], [10.0, 20.0], [0.0, 0.5, 0.8], min_b=15.0)
    np.testing.assert_allclose(curve["s"], [6.0, 5.0, 3.0])
    np.testing.assert_allclose(curve["b"], [30.0, 20.0, 0.0])
    assert curve["z"][2] == 0.0  # background below min_b
    assert curve["z"][1] == pytest.approx(asimov_z(5.0, 20.0))


def test_transfer_factor_recovers_exponential():
    rng = np.random.default_rng(1)
    lam = 0.03
    m = 105 + rng.exponential(1 / lam, 400_000)
    m = m[m < 160]
    window = (120.0, 130.0)
    true = (np.exp(-lam * 15) - np.exp(-lam * 25)) / ((1 - np.exp(-lam * 15)) + (np.exp(-lam * 25) - np.exp(-lam * 55)))
    got = sideband_transfer_factor(m, np.ones_like(m), window, (105.0, 160.0))
    assert got == pytest.approx(true, rel=0.01)
    with pytest.raises(ValueError, match="sidebands"):
        sideband_transfer_factor([125.0], [1.0], window, (105.0, 160.0))
