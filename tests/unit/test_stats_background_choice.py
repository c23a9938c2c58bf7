import json

import numpy as np
import pytest
from scipy import stats

from colliderflow.stats import background_choice as bc
from colliderflow.stats.shapes import get_shape

LO, HI = 105.0, 160.0
SIGNAL = {"mass": 125.0, "sigma": 1.7, "alpha_lo": 1.5, "n_lo": 5.0, "alpha_hi": 1.8, "n_hi": 10.0}
MASSES = np.arange(121.0, 129.01, 1.0)


def _template(n_events=20000.0):
    """A smooth background-only template with curvature an exponential cannot follow."""
    return bc.template_from_function("exppoly:2", {"a1": -2.2, "a2": 0.8}, n_events, LO, HI, 0.1)


def test_spurious_signal_of_the_true_function_is_zero_and_wrong_ones_are_not():
    tmpl = _template()
    true = bc.spurious_signal(tmpl, "exppoly:2", "dscb", SIGNAL, 100.0, LO, HI, MASSES)
    assert true["max_abs_signal"] < 0.5
    wrong = bc.spurious_signal(tmpl, "exponential", "dscb", SIGNAL, 100.0, LO, HI, MASSES)
    assert wrong["max_abs_signal"] > 5 * true["max_abs_signal"] + 2
    assert wrong["npar"] == 2 and true["npar"] == 3
    # the error is that of a dataset of the template's size: ~sqrt(B under the peak) scale
    assert 10 < wrong["error"][4] < 100


def _data():
    """Data drawn from the template's function, for the F-test (the smooth template has no
    statistical errors to test against)."""
    return get_shape("exppoly:2", LO, HI).sample(np.random.default_rng(5), 20000, {"a1": -2.2, "a2": 0.8}), None


def test_choice_records_the_numbers_and_prefers_fewest_parameters():
    res = bc.choose_background(_template(), ["exponential", "bernstein:1", "exppoly:2", "bernstein:4"], "dscb",
                               SIGNAL, 100.0, LO, HI, MASSES, ftest_data=_data())
    assert res["passed"] is True
    assert res["choice"] == "exppoly:2"  # the simplest passing function (exponential and bernstein:1 fail)
    assert res["candidates"]["exponential"]["passed"] is False
    assert res["candidates"]["exppoly:2"]["passed"] is True
    assert res["spurious_signal"] == pytest.approx(res["candidates"]["exppoly:2"]["max_abs_signal"])
    for entry in res["candidates"].values():
        for key in ("signal", "error", "max_abs_signal", "max_ratio_to_error", "fraction_of_signal", "chi2", "ndf"):
            assert key in entry
    # bernstein:4 passes too, has more parameters; the F-test on data of exppoly:2 does not prefer it
    assert res["ftest"] and res["ftest"][0]["from"] == "exppoly:2" and res["ftest"][0]["switched"] is False


def test_ftest_switches_when_the_extra_parameters_are_needed():
    # F-test data with curvature that bernstein:1 cannot describe; both pass a lenient criterion
    rng = np.random.default_rng(4)
    x = get_shape("exppoly:2", LO, HI).sample(rng, 50000, {"a1": -2.2, "a2": 0.8})
    res = bc.choose_background(_template(), ["bernstein:1", "bernstein:3"], "dscb", SIGNAL, 100.0, LO, HI, MASSES,
                               criteria={"max_fraction_of_signal": 100.0}, ftest_data=(x, None), blind=(120, 130))
    assert res["order"][0] == "bernstein:1"
    assert res["ftest"][0]["p_value"] < 0.05 and res["ftest"][0]["switched"] is True
    assert res["choice"] == "bernstein:3"


def _weighted_toy_fits(n_toys, seed):
    """Minimum deviances of background-only fits to toys of weighted MC drawn from an exponential
    (weights Gamma-distributed, mean 1, sum w^2 / sum w = 1.5, independent of the mass), with
    the sums of squared weights (``binned_chi2_fit``) and, as the F-test used to, with the sums
    of weights taken as Poisson counts (sum w^2 = sum w per event)."""
    shape = get_shape("exponential", LO, HI)
    rng = np.random.default_rng(seed)
    out = {"weighted": [], "as_counts": [], "ftest_p": []}
    for _ in range(n_toys):
        x = shape.sample(rng, 20000, {"slope": -0.03})
        w = rng.gamma(2.0, 0.5, x.size)
        simple = bc.binned_chi2_fit(x, w, "exponential", LO, HI, 1.0)
        nested = bc.binned_chi2_fit(x, w, "exppoly:2", LO, HI, 1.0)
        out["weighted"].append(simple["chi2"])
        out["as_counts"].append(bc.binned_chi2_fit(x, w, "exponential", LO, HI, 1.0, weights_squared=w)["chi2"])
        out["ftest_p"].append(bc.f_test(simple["chi2"], 2, nested["chi2"], 3, simple["nbins"])["p_value"])
    return {k: np.array(v) for k, v in out.items()}, simple["ndf"]


def test_binned_fit_of_weighted_mc_is_calibrated():
    """On weighted toys from the true function the minimum of the weighted ExtendedBinnedNLL is
    chi^2(ndf)-distributed and the F-test's p-value under the null is uniform; with the sums of
    weights taken as counts the statistic is 1.5 times too large (sum w^2 / sum w), so its
    p-values (the candidates' chi2_p_value) were wrong."""
    fits, ndf = _weighted_toy_fits(60, seed=11)
    weighted = fits["weighted"]
    assert abs(weighted.mean() - ndf) < 4 * np.sqrt(2 * ndf / weighted.size)
    assert stats.kstest(stats.chi2.sf(weighted, ndf), "uniform").pvalue > 1e-3
    assert fits["as_counts"].mean() == pytest.approx(1.5 * ndf, rel=0.12)
    assert stats.kstest(stats.chi2.sf(fits["as_counts"], ndf), "uniform").pvalue < 1e-6
    assert stats.kstest(fits["ftest_p"], "uniform").pvalue > 1e-3


def test_binned_fit_refuses_a_template_without_errors():
    with pytest.raises(ValueError, match="no sum of squared weights"):
        bc.binned_chi2_fit(_template().x, _template().w, "exponential", LO, HI, 1.0, weights_squared=_template().w2)


def test_f_test_closed_form():
    out = bc.f_test(120.0, 2, 100.0, 3, 53)
    assert out["F"] == pytest.approx((20.0 / 1) / (100.0 / 50))
    assert out["dof"] == [1, 50]


def test_no_passing_function_is_flagged():
    res = bc.choose_background(_template(), ["exponential", "bernstein:1"], "dscb", SIGNAL, 100.0, LO, HI, MASSES,
                               criteria={"max_fraction_of_signal": 0.0, "max_fraction_of_error": 0.0},
                               ftest_data=_data())
    assert res["passed"] is False and res["choice"] in ("exponential", "bernstein:1")


def test_binned_points_keep_sum_of_weights():
    x = np.random.default_rng(0).uniform(LO, HI, 1000)
    w = np.full(x.size, 0.5)
    pts = bc.binned_points(x, w, LO, HI, 0.5)
    assert pts.w.sum() == pytest.approx(500.0) and pts.w2.sum() == pytest.approx(250.0)
    assert pts.x.size == 110


def _tiny_template_with_a_gap(seed=0):
    """64 weighted MC events (w = 2) with none in 122-130 GeV: the shape of the small-MC
    category that made S+B template fits run away to a -9e307 signal at the limit."""
    rng = np.random.default_rng(seed)
    x = LO + rng.exponential(30.0, 400)
    x = x[(x < HI) & ((x < 122.0) | (x > 130.0))][:64]
    return bc.binned_points(x, np.full(x.size, 2.0), LO, HI, 0.1)


def test_failed_template_fits_are_marked_invalid_not_reported():
    res = bc.spurious_signal(_tiny_template_with_a_gap(), "exponential", "dscb", SIGNAL, 97.0, LO, HI, MASSES)
    assert res["n_invalid"] > 0 and res["valid"] is False
    assert len(res["point_valid"]) == len(MASSES) == len(res["signal"])
    for ok, s, e in zip(res["point_valid"], res["signal"], res["error"]):
        if ok:
            assert np.isfinite(s) and np.isfinite(e) and e > 0 and abs(s) < res["signal_bound"]
        else:
            assert s is None and e is None  # no number that looks like a result
    valid_s = [abs(s) for s in res["signal"] if s is not None]
    assert res["max_abs_signal"] == pytest.approx(max(valid_s))
    assert np.isfinite(res["max_ratio_to_error"]) and res["max_abs_signal"] < 1e4


def test_no_valid_candidate_gives_a_finite_capped_spurious_signal():
    res = bc.choose_background(_tiny_template_with_a_gap(), ["exponential", "bernstein:1"], "dscb", SIGNAL, 97.0,
                               LO, HI, MASSES)
    assert res["passed"] is False
    assert not any(c["passed"] for c in res["candidates"].values())  # invalid points cannot pass
    assert np.isfinite(res["spurious_signal"]) and 0 < res["spurious_signal"] <= 97.0
    assert res["warnings"] and any("no background function passes" in w for w in res["warnings"])
    json.dumps(res, allow_nan=False)  # every number in the record is finite (invalid points are null)


def test_spurious_signal_is_capped_at_the_expected_signal():
    # a wrong function on a large smooth template with a tiny expected signal: S_spur >> S
    res = bc.choose_background(_template(), ["exponential"], "dscb", SIGNAL, 1.0, LO, HI, MASSES,
                               criteria={"max_fraction_of_signal": 0.0, "max_fraction_of_error": 0.0},
                               ftest_data=_data())
    assert res["candidates"]["exponential"]["max_abs_signal"] > 1.0
    assert res["spurious_signal"] == pytest.approx(1.0) and res["spurious_signal_capped"] is True
    assert any("capped" in w for w in res["warnings"])


def test_expected_signal_must_be_positive():
    with pytest.raises(ValueError, match="expected signal"):
        bc.choose_background(_template(), ["exponential"], "dscb", SIGNAL, 0.0, LO, HI, MASSES)
