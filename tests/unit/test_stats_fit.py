import math

import numpy as np
import pytest
from stats_models import HI, LO, TRUTH, sb_model

from colliderflow.stats.fit import crossings, fit, fit_shape, grid
from colliderflow.stats.model import Model, single_channel_spec
from colliderflow.stats.shapes import get_shape
from colliderflow.stats.toys import generate


def test_pulls_of_an_sb_fit_are_centred_with_unit_width():
    model = sb_model(**TRUTH)
    rng = np.random.default_rng(7)
    pulls = {k: [] for k in ("signal_yield", "mass", "sigma", "background_yield")}
    for _ in range(60):
        toy = generate(model, TRUTH, rng)
        r = fit(model, toy, start=TRUTH, strategy=0)
        assert r.valid
        for k in pulls:
            pulls[k].append((r.values[k] - TRUTH[k]) / r.errors[k])
    for k, p in pulls.items():
        p = np.array(p)
        # 60 toys: the mean has an error of 0.13 and the width of 0.09
        assert abs(p.mean()) < 0.45, (k, p.mean())
        assert 0.7 < p.std(ddof=1) < 1.35, (k, p.std(ddof=1))


def test_weighted_shape_fit_errors_follow_the_effective_statistics():
    shape = get_shape("gauss", LO, HI)
    rng = np.random.default_rng(11)
    x = rng.normal(125.0, 1.7, 4000)
    plain = fit_shape(shape, x)
    # constant weights: same shape errors as the unweighted fit, whatever the constant
    for c in (0.003, 1.0, 250.0):
        scaled = fit_shape(shape, x, np.full(x.size, c))
        for p in shape.params:
            assert scaled.values[p] == pytest.approx(plain.values[p], rel=1e-5)
            assert scaled.errors[p] == pytest.approx(plain.errors[p], rel=1e-3)
    # random weights: sandwich errors describe the spread of the fitted values over samples
    fitted, errors = [], []
    for _ in range(40):
        xs = rng.normal(125.0, 1.7, 2000)
        w = rng.exponential(1.0, xs.size) * 0.01
        r = fit_shape(shape, xs, w)
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
    r = fit_shape(shape, x, w)
    assert r.valid
    for p in ("mass", "sigma", "alpha_lo", "alpha_hi"):
        assert abs(r.values[p] - truth[p]) < 4 * r.errors[p], p
    assert r.extra["sum_w"] == pytest.approx(w.sum())


def test_extended_fit_yield_error_with_weights_is_sqrt_sum_w2():
    model = Model(single_channel_spec("gauss", None, LO, HI))
    rng = np.random.default_rng(2)
    x = rng.normal(125, 1.7, 5000)
    w = rng.uniform(0.001, 0.003, x.size)
    r = fit(model, (x, w))
    assert r.values["signal_yield"] == pytest.approx(w.sum(), rel=1e-4)
    assert r.errors["signal_yield"] == pytest.approx(math.sqrt(np.sum(w**2)), rel=0.02)


def test_crossings_of_a_parabola_are_the_one_and_two_sigma_points():
    points = np.linspace(-3.0, 5.0, 17)
    dnll2 = ((points - 1.0) / 0.5) ** 2
    assert crossings(points, dnll2, 1.0, 1.0) == pytest.approx([0.5, 1.5])
    assert crossings(points, dnll2, 1.0, 3.84) == pytest.approx([1.0 - 0.5 * math.sqrt(3.84), 1.0 + 0.5 * math.sqrt(3.84)],
                                                                rel=0.05)
    assert crossings(points[points <= 1.5], dnll2[points <= 1.5], 1.0, 9.0)[1] is None  # not reached inside


def test_grid_includes_the_last_value_on_the_grid():
    assert len(grid({"lo": 110.0, "hi": 150.0, "step": 0.5})) == 81
    assert grid({"lo": -1.0, "hi": 3.0, "step": 0.1})[-1] == pytest.approx(3.0)
