import numpy as np
import pytest

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


def test_choice_records_the_numbers_and_prefers_fewest_parameters():
    res = bc.choose_background(_template(), ["exponential", "bernstein:1", "exppoly:2", "bernstein:4"], "dscb",
                               SIGNAL, 100.0, LO, HI, MASSES)
    assert res["passed"] is True
    assert res["choice"] == "exppoly:2"  # the simplest passing function (exponential and bernstein:1 fail)
    assert res["candidates"]["exponential"]["passed"] is False
    assert res["candidates"]["exppoly:2"]["passed"] is True
    assert res["spurious_signal"] == pytest.approx(res["candidates"]["exppoly:2"]["max_abs_signal"])
    for entry in res["candidates"].values():
        for key in ("signal", "error", "max_abs_signal", "max_ratio_to_error", "fraction_of_signal", "chi2", "ndf"):
            assert key in entry
    # bernstein:4 passes too, has more parameters; the F-test on a smooth template does not prefer it
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


def test_f_test_closed_form():
    out = bc.f_test(120.0, 2, 100.0, 3, 53)
    assert out["F"] == pytest.approx((20.0 / 1) / (100.0 / 50))
    assert out["dof"] == [1, 50]


def test_no_passing_function_is_flagged():
    res = bc.choose_background(_template(), ["exponential", "bernstein:1"], "dscb", SIGNAL, 100.0, LO, HI, MASSES,
                               criteria={"max_fraction_of_signal": 0.0, "max_fraction_of_error": 0.0})
    assert res["passed"] is False and res["choice"] in ("exponential", "bernstein:1")


def test_binned_points_keep_sum_of_weights():
    x = np.random.default_rng(0).uniform(LO, HI, 1000)
    w = np.full(x.size, 0.5)
    pts = bc.binned_points(x, w, LO, HI, 0.5)
    assert pts.w.sum() == pytest.approx(500.0) and pts.w2.sum() == pytest.approx(250.0)
    assert pts.x.size == 110
