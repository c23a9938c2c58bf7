import math

import numpy as np
import pytest
from iminuit.cost import ExtendedUnbinnedNLL
from stats_models import HI, LO, category_model

from colliderflow.stats.cost import ModelCost, WeightedExtendedUnbinnedNLL
from colliderflow.stats.model import ChannelData, as_data
from colliderflow.stats.shapes import get_shape
from colliderflow.stats.toys import generate


def test_model_cost_is_the_extended_likelihood_with_its_constraint():
    """-2 ln L = 2 sum_c [nu_c - sum_i ln(nu_s f_s + nu_b f_b)] + ((theta - 0) / 1)^2, by hand."""
    model = category_model(spurious=5.0)
    values = dict(model.values(), mu=1.3, theta_ss_c0=0.4, theta_ss_c1=-0.7)
    data = as_data(model, generate(model, values, np.random.default_rng(4)))
    expected = 0.4**2 + 0.7**2
    for name in model.channels:
        dens = model.densities(name, data[name].x, values)
        nu = sum(model.yields(values)[name].values())
        expected += 2 * (nu - np.sum(np.log(dens["signal"] + dens["background"])))
    cost = ModelCost(model, data)
    par = np.array([values[n] for n in model.names])
    assert cost.twice_nll(par) == pytest.approx(expected, rel=1e-12)
    assert cost(par) == cost.twice_nll(par) and cost.scale == 1.0  # unweighted: Minuit sees -2 ln L itself
    cost.offset_at(par)  # ... offset to 0 at a minimum
    assert cost.offset == cost.twice_nll(par) and cost(par) == 0.0
    assert cost(par + 0.01) == pytest.approx(cost.twice_nll(par + 0.01) - cost.twice_nll(par), rel=1e-9)
    assert all(type(term) is ExtendedUnbinnedNLL for term in list(cost.nll)[:2])


def test_cached_shapes_and_channels_never_give_a_stale_cost():
    """Move one parameter at a time, as Minuit does, through every kind (a yield, a shape
    shared by the channels, one channel's background, a constraint): each cost equals that of
    a fresh ModelCost, which has nothing cached, and a move back returns the first value."""
    model = category_model(spurious=5.0)
    values = dict(model.values(), mu=1.3, theta_ss_c0=0.4, theta_ss_c1=-0.7)
    data = as_data(model, generate(model, values, np.random.default_rng(4)))
    cost = ModelCost(model, data)
    start = np.array([values[n] for n in model.names])
    first = cost.twice_nll(start)
    par = start.copy()
    for name in model.names:
        i = model.names.index(name)
        for step in (0.01, -0.02):
            par[i] += step * max(abs(par[i]), 1.0)
            assert cost.twice_nll(par) == pytest.approx(ModelCost(model, data).twice_nll(par), rel=1e-13), name
        par[i] = start[i]
        assert cost.twice_nll(par) == pytest.approx(first, rel=1e-13), name


def test_weighted_cost_scales_by_the_effective_sample_and_follows_the_mask():
    shape = get_shape("gauss", LO, HI)
    x = np.random.default_rng(1).normal(125, 2, 50)
    w = np.linspace(0.5, 1.5, x.size)

    def density(xs, n, mu, sigma):
        return n, np.log(n * shape.density(xs, mu, sigma))

    weighted = WeightedExtendedUnbinnedNLL(x, w, density, log=True, name=["n", "mu", "sigma"])
    plain = ExtendedUnbinnedNLL(x, density, log=True, name=["n", "mu", "sigma"])
    args = (40.0, 125.3, 1.9)
    logf = np.log(40.0 * shape.density(x, 125.3, 1.9))
    assert weighted(*args) == pytest.approx(2 * (40.0 - np.dot(w, logf)), rel=1e-12)
    assert WeightedExtendedUnbinnedNLL(x, np.ones(x.size), density, log=True, name=["n", "mu", "sigma"])(*args) \
        == pytest.approx(plain(*args), rel=1e-12)
    weighted.mask = x < 125
    assert weighted(*args) == pytest.approx(2 * (40.0 - np.dot(w[x < 125], logf[x < 125])), rel=1e-12)
    with pytest.raises(ValueError, match="3 weights for 50 events"):
        WeightedExtendedUnbinnedNLL(x, w[:3], density, log=True, name=["n", "mu", "sigma"])
    model = category_model()
    data = {"c0": ChannelData(x, w), "c1": ChannelData(x[:10])}
    cost = ModelCost(model, as_data(model, data))
    assert cost.scale == pytest.approx((w.sum() + 10) / (np.sum(w**2) + 10))
    par = np.array([model.values()[n] or 1.0 for n in model.names])
    assert cost(par) == pytest.approx(cost.scale * cost.twice_nll(par))
    assert math.isfinite(cost.twice_nll(par))
