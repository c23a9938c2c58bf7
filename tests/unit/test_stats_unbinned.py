import math

import numpy as np
import pytest

from colliderflow.stats import unbinned as ub
from colliderflow.stats.shapes import get_shape
from colliderflow.stats.significance import asimov_z, counting_q0

LO, HI = 105.0, 160.0


def _counting_model(b: float) -> ub.Model:
    """Signal and background with the same flat shape: the unbinned likelihood is a counting one."""
    spec = {
        "poi": "mu",
        "parameters": {"mu": {"value": 1.0, "limits": [-50, 50]}, "nb": {"value": b, "fixed": True}},
        "channels": [{"name": "c", "range": [LO, HI],
                      "signal": {"shape": "exponential", "params": {"slope": 0.0}, "yield": {"scale": 1.0, "factors": ["mu"]}},
                      "background": {"shape": "exponential", "params": {"slope": 0.0}, "yield": "nb"}}],
    }
    return ub.Model(spec)


@pytest.mark.parametrize("n, b", [(130, 100.0), (60, 50.0), (40, 50.0)])
def test_q0_matches_the_counting_closed_form(n, b):
    model = _counting_model(b)
    x = np.random.default_rng(n).uniform(LO, HI, n)
    res = ub.discovery(model, {"c": x})
    assert res["poi_hat"] == pytest.approx(n - b, abs=1e-2)
    expected = 2 * (n * math.log(n / b) - (n - b)) if n > b else 0.0
    assert res["q0"] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert res["q0"] == pytest.approx(float(counting_q0(n, b)), rel=1e-4, abs=1e-6)
    assert res["Z"] == pytest.approx(math.sqrt(expected), abs=1e-3)


def test_asimov_significance_matches_the_closed_form():
    s, b = 25.0, 100.0
    model = _counting_model(b)
    res = ub.expected_significance(model, {"mu": s, "nb": b}, bin_width=1.0)
    assert res["Z"] == pytest.approx(float(asimov_z(s, b)), rel=1e-4)
    assert res["poi_hat"] == pytest.approx(s, rel=1e-4)


def _sb_model(**start):
    return ub.Model(ub.single_channel_spec("gauss", "exponential", LO, HI, start=start))


TRUTH = {"signal_yield": 300.0, "mass": 125.0, "sigma": 1.7, "background_yield": 3000.0, "slope": -0.03}


def test_pulls_of_an_sb_fit_are_centred_with_unit_width():
    model = _sb_model(**TRUTH)
    rng = np.random.default_rng(7)
    pulls = {k: [] for k in ("signal_yield", "mass", "sigma", "background_yield")}
    for _ in range(60):
        toy = ub.generate(model, TRUTH, rng)
        r = ub.fit(model, toy, start=TRUTH, strategy=0)
        assert r.valid
        for k in pulls:
            pulls[k].append((r.values[k] - TRUTH[k]) / r.errors[k])
    for k, p in pulls.items():
        p = np.array(p)
        # 60 toys: the mean has an error of 0.13 and the width of 0.09
        assert abs(p.mean()) < 0.45, (k, p.mean())
        assert 0.7 < p.std(ddof=1) < 1.35, (k, p.std(ddof=1))


def test_pull_study_reports_mean_and_width():
    model = _sb_model(**TRUTH)
    res = ub.pull_study(model, TRUTH, 30, seed=3, param="signal_yield")
    assert res["n_valid"] == 30 and len(res["pulls"]) == 30
    assert abs(res["pull_mean"]) < 4 * res["pull_mean_error"]
    assert 0.6 < res["pull_width"] < 1.5


def test_weighted_shape_fit_errors_follow_the_effective_statistics():
    shape = get_shape("gauss", LO, HI)
    rng = np.random.default_rng(11)
    x = rng.normal(125.0, 1.7, 4000)
    plain = ub.fit_shape(shape, x)
    # constant weights: same shape errors as the unweighted fit, whatever the constant
    for c in (0.003, 1.0, 250.0):
        scaled = ub.fit_shape(shape, x, np.full(x.size, c))
        for p in shape.params:
            assert scaled.values[p] == pytest.approx(plain.values[p], rel=1e-5)
            assert scaled.errors[p] == pytest.approx(plain.errors[p], rel=1e-3)
    # random weights: sandwich errors describe the spread of the fitted values over samples
    fitted, errors = [], []
    for _ in range(40):
        xs = rng.normal(125.0, 1.7, 2000)
        w = rng.exponential(1.0, xs.size) * 0.01
        r = ub.fit_shape(shape, xs, w)
        assert r.error_method == "sandwich"
        fitted.append(r.values["mass"])
        errors.append(r.errors["mass"])
    spread = np.std(fitted, ddof=1)
    assert np.mean(errors) == pytest.approx(spread, rel=0.3)
    # ... and equal the unweighted error scaled to the effective sample size (exponential weights: N/2)
    assert np.mean(errors) == pytest.approx(1.7 / math.sqrt(1000), rel=0.1)


def test_dscb_fit_to_weighted_mc_recovers_the_shape():
    shape = get_shape("dscb", LO, HI)
    truth = {"mass": 124.8, "sigma": 1.6, "alpha_lo": 1.4, "n_lo": 6.0, "alpha_hi": 1.7, "n_hi": 8.0}
    rng = np.random.default_rng(5)
    x = shape.sample(rng, 12000, truth)
    w = rng.uniform(0.5, 1.5, x.size) * 1e-3
    r = ub.fit_shape(shape, x, w)
    assert r.valid
    for p in ("mass", "sigma", "alpha_lo", "alpha_hi"):
        assert abs(r.values[p] - truth[p]) < 4 * r.errors[p], p
    assert r.extra["sum_w"] == pytest.approx(w.sum())


def test_extended_fit_yield_error_with_weights_is_sqrt_sum_w2():
    model = ub.Model(ub.single_channel_spec("gauss", None, LO, HI))
    rng = np.random.default_rng(2)
    x = rng.normal(125, 1.7, 5000)
    w = rng.uniform(0.001, 0.003, x.size)
    r = ub.fit(model, (x, w))
    assert r.values["signal_yield"] == pytest.approx(w.sum(), rel=1e-4)
    assert r.errors["signal_yield"] == pytest.approx(math.sqrt(np.sum(w**2)), rel=0.02)


def _categories(spurious=None):
    sig = {"mass": 125.0, "sigma": 1.7, "alpha_lo": 1.5, "n_lo": 5.0, "alpha_hi": 1.8, "n_hi": 10.0}
    cats = []
    for i, (s, bkg, shape, params) in enumerate([(250.0, 4000.0, "exponential", {"slope": -0.03}),
                                                  (150.0, 2000.0, "bernstein:2", {"b1": 0.5, "b2": 0.3})]):
        sp = dict(sig, mass=125.0 - 0.2 * i)
        cats.append({"name": f"c{i}", "range": [LO, HI], "signal": {"shape": "dscb", "params": sp, "yield": s},
                     "background": {"shape": shape, "params": params, "yield": bkg}, "spurious": spurious})
    return cats


def test_simultaneous_fit_scan_and_p0():
    model = ub.Model(ub.category_spec(_categories(), mass_value=125.0))
    truth = model.values()
    assert truth["mass"] == 125.0 and model.is_fixed("mass")
    data = ub.generate(model, truth, np.random.default_rng(21))
    best = ub.fit(model, data)
    assert abs(best.values["mu"] - 1.0) < 4 * best.errors["mu"]
    scan = ub.profile_scan(model, data, "mu", np.linspace(best.values["mu"] - 1.5, best.values["mu"] + 1.5, 25), best=best)
    lo68, hi68 = scan["interval68"]
    assert lo68 == pytest.approx(best.values["mu"] - best.errors["mu"], rel=0.1, abs=0.05)
    assert hi68 == pytest.approx(best.values["mu"] + best.errors["mu"], rel=0.1, abs=0.05)
    lo95, hi95 = scan["interval95"]
    assert lo95 < lo68 and hi95 > hi68
    disc = ub.discovery(model, data, best=best)
    assert disc["Z"] > 3 and disc["p0"] == pytest.approx(0.5 * math.erfc(disc["Z"] / math.sqrt(2)))
    p0 = ub.p0_scan(model, data, np.arange(115.0, 136.0, 2.5), expected_values=dict(best.values, mu=1.0))
    imin = int(np.argmin(p0["p0"]))
    assert abs(p0["mass"][imin] - 125.0) <= 2.5
    # at the nominal mass the scan reproduces the discovery fit
    i125 = p0["mass"].index(125.0)
    assert p0["Z"][i125] == pytest.approx(disc["Z"], abs=0.05)
    assert p0["Z_expected"][i125] > 2


def test_floating_mass_and_asimov_closure():
    model = ub.Model(ub.category_spec(_categories(spurious=5.0), mass_value=125.0, mass_floating=True))
    truth = model.values()
    assert "theta_ss_c0" in truth and model.constraints()["theta_ss_c0"] == (0.0, 1.0)
    asimov = ub.asimov_data(model, dict(truth, mass=125.5))
    r = ub.fit(model, asimov, start=truth)
    assert r.error_method == "hesse"
    assert r.values["mass"] == pytest.approx(125.5, abs=0.01)
    assert r.values["mu"] == pytest.approx(1.0, abs=0.01)
    # a null fit with a spurious nuisance depends on the mass: the p0 scan refits it per mass
    p0 = ub.p0_scan(model, asimov, [124.0, 125.5])
    assert p0["null_per_mass"] is True
    assert p0["Z"][1] > p0["Z"][0]


def test_bad_names_are_reported():
    model = _sb_model(**TRUTH)
    with pytest.raises(KeyError, match="unknown parameter.*'bogus'"):
        ub.fit(model, np.array([125.0, 126.0]), fix=["bogus"])
    with pytest.raises(KeyError, match="no data for channel"):
        ub.fit(ub.Model(ub.category_spec(_categories())), {"c0": np.array([125.0])})
    with pytest.raises(KeyError, match="undefined parameter"):
        ub.Model({"poi": None, "parameters": {}, "channels": [
            {"name": "c", "range": [LO, HI], "background": {"shape": "exponential", "params": {"slope": "k"}, "yield": 1.0}}]})
    with pytest.raises(KeyError, match="has no parameter"):
        ub.Model({"poi": None, "parameters": {}, "channels": [
            {"name": "c", "range": [LO, HI], "background": {"shape": "exponential", "params": {"tau": 1.0}, "yield": 1.0}}]})


@pytest.mark.parametrize("width", [float("inf"), float("nan"), -3.0, 8.99e307 * 2])
def test_category_spec_refuses_a_bad_spurious_signal_width(width):
    with pytest.raises(ValueError, match="category 'c0'.*theta_ss_c0"):
        ub.category_spec(_categories(spurious=width), mass_value=125.0)


def test_category_spec_without_spurious_signal_has_no_nuisance():
    for width in (None, 0.0):
        spec = ub.category_spec(_categories(spurious=width), mass_value=125.0)
        assert not any(n.startswith("theta_ss") for n in spec["parameters"])
