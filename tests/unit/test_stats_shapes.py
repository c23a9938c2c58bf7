import numpy as np
import pytest

from colliderflow.stats.shapes import get_shape

LO, HI = 105.0, 160.0
CASES = {
    "gauss": {"mass": 125.0, "sigma": 1.7},
    "dscb": {"mass": 125.0, "sigma": 1.7, "alpha_lo": 1.5, "n_lo": 5.0, "alpha_hi": 1.8, "n_hi": 10.0},
    "crystalball": {"mass": 125.0, "sigma": 1.7, "alpha": 1.5, "n": 5.0},
    "voigt": {"mass": 125.0, "sigma": 1.5, "width": 0.8},
    "exponential": {"slope": -0.03},
    "powerlaw": {"power": -4.0},
    "bernstein:3": {"b1": 0.5, "b2": 0.3, "b3": 0.2},
    "exppoly:2": {"a1": -2.0, "a2": 0.4},
    "threshold": {"edge": 112.0, "smear": 2.0},
    "exponential+threshold": {"slope": -0.03, "edge": 112.0, "smear": 2.0, "fraction": 0.3},
    "crystalball+gauss": {"mass": 125.0, "sigma": 1.5, "alpha": 1.2, "n": 4.0, "sigma_2": 3.0, "fraction": 0.25},
    "dscb+voigt": {"mass": 125.0, "sigma": 1.5, "alpha_lo": 1.5, "n_lo": 5.0, "alpha_hi": 1.8, "n_hi": 10.0,
                   "sigma_2": 2.0, "width_2": 0.5, "fraction": 0.3},
}


@pytest.mark.parametrize("name", list(CASES))
def test_density_is_normalised_and_consistent(name):
    shape = get_shape(name, LO, HI)
    values = CASES[name]
    assert set(shape.params) == set(values)
    x = np.linspace(LO, HI, 40001)
    dens = shape.density_from(x, values)
    assert np.all(dens >= 0)
    assert np.trapezoid(dens, x) == pytest.approx(1.0, abs=1e-5)
    # cdf: 0 at lo, 1 at hi, matches the integral of the density at the midpoint
    mid = 0.5 * (LO + HI)
    cdf = shape.cdf(np.array([LO, 125.0, mid, HI]), values)
    assert cdf[0] == pytest.approx(0.0, abs=1e-9) and cdf[-1] == pytest.approx(1.0, abs=1e-9)
    sel = x <= mid
    assert cdf[2] == pytest.approx(np.trapezoid(dens[sel], x[sel]), abs=1e-4)
    # the fast evaluator used in fits gives the same numbers
    pts = np.random.default_rng(0).uniform(LO, HI, 1000)
    np.testing.assert_allclose(shape.evaluator(pts)(*shape.values_tuple(values)), shape.density_from(pts, values),
                               rtol=1e-9)
    # zero outside the range
    assert np.all(shape.density_from(np.array([LO - 1, HI + 1]), values) == 0)


@pytest.mark.parametrize("name", ["dscb", "exppoly:2", "voigt", "exponential+threshold", "crystalball+gauss"])
def test_sampling_follows_the_cdf(name):
    shape = get_shape(name, LO, HI)
    values = CASES[name]
    sample = shape.sample(np.random.default_rng(1), 100_000, values)
    assert sample.min() >= LO and sample.max() <= HI
    for cut in (120.0, 125.0, 130.0, 140.0):
        p = float(shape.cdf(np.array([cut]), values)[0])
        assert np.mean(sample < cut) == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / sample.size) + 1e-4)


def test_bin_integrals_sum_to_one():
    shape = get_shape("powerlaw", LO, HI)
    edges = np.linspace(LO, HI, 56)
    assert shape.bin_integrals(edges, CASES["powerlaw"]).sum() == pytest.approx(1.0)


def test_bad_shape_names_and_ranges_name_the_problem():
    with pytest.raises(ValueError, match="unknown shape 'landau'.*dscb.*bernstein:N"):
        get_shape("landau", LO, HI)
    with pytest.raises(ValueError, match="degree must be 1 to 5"):
        get_shape("bernstein:7", LO, HI)
    with pytest.raises(ValueError, match="empty"):
        get_shape("gauss", 160.0, 105.0)
    with pytest.raises(KeyError, match="needs parameter"):
        get_shape("gauss", LO, HI).density_from([125.0], {"mass": 125.0})


def test_threshold_is_a_smeared_step_and_a_sum_weighs_its_parts():
    step = get_shape("threshold", LO, HI)
    # far below the edge the density is flat, at the edge half of it, far above nothing
    dens = step.density_from(np.array([106.0, 112.0, 125.0]), CASES["threshold"])
    assert dens[1] == pytest.approx(0.5 * dens[0], rel=2e-3) and dens[2] < 1e-6 * dens[0]
    total = get_shape("exponential+threshold", LO, HI)
    x = np.array([110.0, 130.0])
    values = CASES["exponential+threshold"]
    np.testing.assert_allclose(total.density_from(x, values),
                               0.7 * get_shape("exponential", LO, HI).density_from(x, CASES["exponential"])
                               + 0.3 * step.density_from(x, CASES["threshold"]))
    with pytest.raises(ValueError, match="two background shapes .* or of two signal shapes"):
        get_shape("gauss+threshold", LO, HI)
    with pytest.raises(ValueError, match="both parts"):
        get_shape("exponential+exponential", LO, HI)


def test_a_signal_sum_is_one_function_on_any_range():
    """crystalball+gauss: one peak, the parts normalised on the real line, so the shape fitted on
    one range is the same function (up to its normalisation) on another, and a fit on a narrow
    range finds the parameters of events drawn on a wide one."""
    from colliderflow.stats.fit import fit_shape

    values = CASES["crystalball+gauss"]
    wide, narrow = get_shape("crystalball+gauss", LO, HI), get_shape("crystalball+gauss", 115.0, 135.0)
    assert wide.params == ("mass", "sigma", "alpha", "n", "sigma_2", "fraction")
    assert wide.widths == ("sigma", "sigma_2") and wide.kind == "signal"
    x = np.linspace(115.0, 135.0, 9)
    ratio = wide.density_from(x, values) / narrow.density_from(x, values)
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-10)
    assert ratio[0] == pytest.approx(float(np.diff(wide.cdf(np.array([115.0, 135.0]), values))[0]))
    # the parts on the real line: 3/4 of the Crystal Ball and 1/4 of the Gaussian (which has no tail)
    from numba_stats import crystalball, norm
    expected = 0.75 * crystalball.pdf(x, 1.2, 4.0, 125.0, 1.5) + 0.25 * norm.pdf(x, 125.0, 3.0)
    np.testing.assert_allclose(wide.density_from(x, values) * float(wide._norm(*wide.values_tuple(values))),
                               expected, rtol=1e-10)
    rng = np.random.default_rng(1)
    sample = wide.sample(rng, 40_000, values)
    weights = rng.gamma(4.0, 0.25, sample.size)
    fitted = fit_shape(narrow, sample, weights)
    assert fitted.valid
    for name in ("mass", "sigma", "sigma_2", "fraction"):
        assert abs(fitted.values[name] - values[name]) < 4 * fitted.errors[name], name


@pytest.mark.parametrize("values", [
    {"mass": 125.0, "sigma": 1.7, "alpha_lo": 1.5, "n_lo": 5.0, "alpha_hi": 1.8, "n_hi": 10.0},
    {"mass": 124.2, "sigma": 0.9, "alpha_lo": 0.06, "n_lo": 1.02, "alpha_hi": 9.0, "n_hi": 199.0},
    {"mass": 130.0, "sigma": 4.0, "alpha_lo": 3.0, "n_lo": 50.0, "alpha_hi": 0.5, "n_hi": 1.5},
])
def test_the_double_sided_crystal_ball_is_numba_stats_crystalball_ex(values):
    """Written in numpy (its numba-stats module compiles at every import), it is the same function."""
    from numba_stats import crystalball_ex

    x = np.linspace(LO, HI, 20001)
    m, s = values["mass"], values["sigma"]
    args = (values["alpha_lo"], values["n_lo"], s, values["alpha_hi"], values["n_hi"], s, m)
    inside = np.diff(crystalball_ex.cdf(np.array([LO, HI]), *args))[0]
    reference = crystalball_ex.pdf(x, *args) / inside
    shape = get_shape("dscb", LO, HI)
    assert np.max(np.abs(shape.density_from(x, values) / reference - 1)) < 1e-11
    at = np.array([LO, 110.0, m - 2 * s, m, m + 2 * s, 150.0, HI])
    expected = (crystalball_ex.cdf(at, *args) - crystalball_ex.cdf(np.array([LO]), *args)) / inside
    assert shape.cdf(at, values) == pytest.approx(expected, abs=1e-13)
