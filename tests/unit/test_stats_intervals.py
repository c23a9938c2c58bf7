"""MINOS intervals, 2D contours and per-channel POIs against likelihoods solved by hand."""

import math

import numpy as np
import pytest
from scipy import optimize, stats
from stats_models import TRUTH, categories, sb_model

from colliderflow.stats.fit import LEVEL_95, fit, profile_scan
from colliderflow.stats.intervals import channel_compatibility, contour, minos, per_channel_spec
from colliderflow.stats.hypotest import asimov_data
from colliderflow.stats.model import ChannelData, Model, category_spec
from colliderflow.stats.toys import generate

FLAT = {"shape": "exponential", "params": {"slope": 0.0}}


def counting_channels(scales: dict) -> Model:
    """One signal-only channel per entry with a flat shape and yield scale * mu."""
    return Model({
        "poi": "mu",
        "parameters": {"mu": {"value": 1.0, "limits": [0.0, 50.0]}},
        "channels": [{"name": name, "range": [0.0, 1.0], "signal": {**FLAT, "yield": {"scale": s, "factors": ["mu"]}}}
                     for name, s in scales.items()],
    })


def poisson_edges(n: int, level: float, scale: float = 1.0) -> list:
    """Edges of {mu: 2 (nu - n ln nu) - 2 (n - n ln n) = level}, nu = scale * mu (the Poisson likelihood)."""
    def q(mu):
        nu = scale * mu
        return 2 * (nu - n - n * math.log(nu / n)) - level
    mu_hat = n / scale
    return [optimize.brentq(q, 1e-9, mu_hat), optimize.brentq(q, mu_hat, 10 * mu_hat)]


def test_minos_of_a_gaussian_mean_is_the_mean_plus_minus_sigma_over_sqrt_n():
    model = Model({
        "poi": None,
        "parameters": {"m": {"value": 0.0, "limits": [-10.0, 10.0]}},
        "channels": [{"name": "c", "range": [-40.0, 40.0],
                      "signal": {"shape": "gauss", "params": {"mass": "m", "sigma": 2.0}, "yield": 400.0}}],
    })
    x = np.random.default_rng(3).normal(0.3, 2.0, 400)
    best = fit(model, x)
    out = minos(model, x, ["m"], best=best)["m"]
    assert out["valid"] and out["levels"] == [1.0, pytest.approx(3.841, abs=1e-3)]
    for (lo, hi), n_sigma in zip(out["intervals"], (1.0, math.sqrt(LEVEL_95))):
        half = n_sigma * 2.0 / math.sqrt(400)
        assert lo == pytest.approx(x.mean() - half, abs=1e-4)
        assert hi == pytest.approx(x.mean() + half, abs=1e-4)


def test_minos_of_a_poisson_yield_is_asymmetric_as_solved_by_hand():
    model = counting_channels({"c": 1.0})
    x = np.random.default_rng(1).uniform(0, 1, 9)
    best = fit(model, x)
    out = minos(model, x, ["mu"], best=best)["mu"]
    for (lo, hi), level in zip(out["intervals"], out["levels"]):
        assert [lo, hi] == pytest.approx(poisson_edges(9, level), abs=2e-3)


def test_minos_agrees_with_the_scan_interval_on_a_toy():
    model = sb_model(**TRUTH)
    toy = generate(model, TRUTH, np.random.default_rng(5))
    best = fit(model, toy, start=TRUTH)
    out = minos(model, toy, ["signal_yield"], best=best)["signal_yield"]
    err = best.errors["signal_yield"]
    grid = best.values["signal_yield"] + err * np.linspace(-2.5, 2.5, 21)  # a 0.25-sigma grid
    scan = profile_scan(model, toy, "signal_yield", grid, best=best)
    for key, (lo, hi) in zip(("interval68", "interval95"), out["intervals"]):
        # the scan interpolates between its points: agreement to a few % of the error
        assert scan[key] == pytest.approx([lo, hi], abs=0.03 * err), key


def test_minos_reports_an_interval_that_reaches_the_limit_as_such():
    model = counting_channels({"c": 1.0})
    x = np.random.default_rng(2).uniform(0, 1, 2)  # mu_hat = 2: upper edges 3.77 (68%) and 6.17 (95%)
    full = minos(model, x, ["mu"], best=fit(model, x))["mu"]
    assert full["valid"] and full["edges"] == [["found", "found"]] * 2
    assert [hi for _, hi in full["intervals"]] == pytest.approx([3.765, 6.175], abs=2e-3)
    capped = Model({**model.spec, "parameters": {"mu": {"value": 1.0, "limits": [0.0, 3.0]}}})
    out = minos(capped, x, ["mu"], best=fit(capped, x))["mu"]
    # both intervals reach the limit 3: each says so, its upper edge the limit
    assert out["edges"] == [["found", "at limit"], ["found", "at limit"]]
    assert [hi for _, hi in out["intervals"]] == [3.0, 3.0] and out["valid"]
    assert [lo for lo, _ in out["intervals"]] == pytest.approx([lo for lo, _ in full["intervals"]], abs=2e-3)


def test_minos_finds_both_edges_where_minus_two_ln_l_is_large():
    """-2 ln L of 1.8e5 events of two categories is -3e7; Minuit steps its numerical
    derivatives by the size of the cost: not offset at the minimum (cost.ModelCost), the
    steps were so coarse that MINOS found no edge of mu (the H->yy multiclass fit, -2e6,
    lost its upper edge)."""
    cats = categories(spurious=5.0)
    for cat in cats:
        cat["signal"]["yield"] *= 300
        cat["background"]["yield"] *= 300
    model = Model(category_spec(cats, mass_value=125.0, mass_limits=(110.0, 150.0), mass_floating=True,
                                systematics=[{"name": "lumi", "effect": "yield", "size": 0.02},
                                             {"name": "scale", "effect": "position", "size": 0.002}]))
    data = asimov_data(model, model.values(), 0.05)
    best = fit(model, data, start=model.values())
    assert best.twice_nll < -3e7
    out = minos(model, data, ["mu", "mass"], best=best)
    assert out["mu"]["valid"] and out["mass"]["valid"]
    lo, hi = out["mu"]["intervals"][0]
    for edge in (lo, hi):  # each edge is where the profile likelihood has risen by 1
        profiled = fit(model, data, start=best.values, fix={"mu": edge})
        assert profiled.twice_nll - best.twice_nll == pytest.approx(1.0, abs=0.01)
    # near-parabolic at these yields: HESSE agrees with the MINOS half-width
    assert best.errors["mu"] == pytest.approx((hi - lo) / 2, rel=0.03)


def test_minos_of_a_fixed_parameter_is_an_error():
    model = counting_channels({"c": 1.0})
    x = np.random.default_rng(1).uniform(0, 1, 9)
    with pytest.raises(ValueError, match="fixed"):
        minos(model, x, ["mu"], best=fit(model, x, fix={"mu": 9.0}))


def test_contour_of_a_gaussian_likelihood_is_its_ellipse():
    # Two large Poisson counts of u = a + b and v = a - b: a near-Gaussian likelihood in (a, b)
    # with correlation (n1 - n2) / (n1 + n2) = 0.6.
    n1, n2 = 1.0e6, 2.5e5
    model = Model({
        "poi": None,
        "parameters": {"a": {"value": 6.0e5}, "b": {"value": 4.0e5}},
        "channels": [{"name": name, "range": [0.0, 1.0], "background": {**FLAT, "yield": {"scale": 0.0, "add": add}}}
                     for name, add in (("u", {"a": 1.0, "b": 1.0}), ("v", {"a": 1.0, "b": -1.0}))],
    })
    data = {"u": ChannelData(np.array([0.5]), np.array([n1]), True), "v": ChannelData(np.array([0.5]), np.array([n2]), True)}
    best = fit(model, data)
    out = contour(model, data, "a", "b", best=best, size=24)
    var_a = (n1 + n2) / 4  # of a = (u + v) / 2, and of b
    # MIGRAD's minimum: within a small fraction of the errors (its EDM goal)
    assert out["best"] == pytest.approx([(n1 + n2) / 2, (n1 - n2) / 2], abs=0.01 * math.sqrt(var_a))
    assert [c["level"] for c in out["contours"]] == pytest.approx([2.30, 5.99], abs=5e-3)
    assert [c["cl"] for c in out["contours"]] == pytest.approx([0.6827, 0.95], abs=1e-4)
    for c in out["contours"]:
        points = np.array(c["points"])
        u, v = points.sum(axis=1), points[:, 0] - points[:, 1]
        gaussian = (u - n1) ** 2 / n1 + (v - n2) ** 2 / n2
        assert gaussian == pytest.approx(np.full(u.size, c["level"]), rel=0.01)
        # the contour reaches the ellipse's extent in a, sqrt(level Var a)
        assert np.ptp(points[:, 0]) / 2 == pytest.approx(math.sqrt(c["level"] * var_a), rel=0.02)


def test_per_channel_spec_splits_the_poi_of_signal_yields_only():
    model = counting_channels({"c0": 2.0, "c1": 3.0})
    spec, names = per_channel_spec(model)
    assert names == {"c0": "mu_c0", "c1": "mu_c1"}
    assert "mu" not in spec["parameters"] and spec["parameters"]["mu_c1"] == {"value": 1.0, "limits": [0.0, 50.0]}
    assert spec["channels"][1]["signal"]["yield"] == {"scale": 3.0, "factors": ["mu_c1"]}
    shaped = Model({**model.spec, "parameters": {"mu": {"value": 1.0}},
                    "channels": [{"name": "c", "range": [0.0, 1.0],
                                  "signal": {"shape": "exponential", "params": {"slope": "mu"}, "yield": 1.0}}]})
    with pytest.raises(ValueError, match="enters a signal shape"):
        per_channel_spec(shaped)


def test_per_channel_spec_renames_the_poi_in_every_term_of_a_yield_by_mode():
    """A yield summed over production modes, each term with its own normsys (category_spec's
    form): the POI is renamed in every term, the other factors and responses are kept; a POI
    inside a term's response is refused."""
    terms = [{"scale": 2.0, "factors": ["mu"], "lognormal": {"theory_ggH": 1.07}},
             {"scale": 0.5, "factors": ["mu"], "lognormal": {"theory_VBF": 1.03}}]
    spec = {"poi": "mu", "parameters": {"mu": {"value": 1.0}, "theory_ggH": {"value": 0.0}, "theory_VBF": {"value": 0.0}},
            "channels": [{"name": "c", "range": [0.0, 1.0], "signal": {**FLAT, "yield": terms}}]}
    split, names = per_channel_spec(Model(spec))
    assert names == {"c": "mu_c"}
    assert split["channels"][0]["signal"]["yield"] == [{**t, "factors": ["mu_c"]} for t in terms]
    assert Model(split).yields({"mu_c": 2.0, "theory_ggH": 0.0, "theory_VBF": 0.0})["c"]["signal"] == pytest.approx(5.0)
    inside = [terms[0], {"scale": 1.0, "factors": ["mu"], "relative": {"mu": 0.1}}]
    with pytest.raises(ValueError, match="other than as a factor"):
        per_channel_spec(Model({**spec, "channels": [{**spec["channels"][0], "signal": {**FLAT, "yield": inside}}]}))


@pytest.mark.parametrize("counts", [(30, 60), (30, 55, 12)])
def test_channel_compatibility_is_the_likelihood_ratio_computed_by_hand(counts):
    scales = [10.0, 20.0, 8.0][: len(counts)]
    model = counting_channels({f"c{i}": s for i, s in enumerate(scales)})
    rng = np.random.default_rng(4)
    data = {f"c{i}": rng.uniform(0, 1, n) for i, n in enumerate(counts)}
    best = fit(model, data)
    out = channel_compatibility(model, data, best=best)
    mu_hat = sum(counts) / sum(scales)
    q = 2 * sum(n * math.log(n / (s * mu_hat)) for n, s in zip(counts, scales))
    assert out["q"] == pytest.approx(q, abs=1e-4)
    assert out["ndf"] == len(counts) - 1
    assert out["p_value"] == pytest.approx(stats.chi2.sf(out["q"], len(counts) - 1))
    for i, (n, s) in enumerate(zip(counts, scales)):
        row = out["channels"][f"c{i}"]
        assert row["value"] == pytest.approx(n / s, rel=1e-4)
        assert row["error"] == pytest.approx(math.sqrt(n) / s, rel=1e-2)
        assert row["interval68"] == pytest.approx(poisson_edges(n, 1.0, s), abs=2e-3)
    if counts == (30, 60):  # the counts in the ratio of the expectations: identical mu, q = 0, p = 1
        assert out["q"] == pytest.approx(0.0, abs=1e-4) and out["p_value"] > 0.99


def test_one_channel_has_no_compatibility_p_value():
    model = counting_channels({"c": 5.0})
    x = np.random.default_rng(6).uniform(0, 1, 20)
    out = channel_compatibility(model, x, best=fit(model, x))
    assert out["ndf"] == 0 and out["p_value"] is None and out["q"] == pytest.approx(0.0, abs=1e-6)
    assert out["channels"]["c"]["value"] == pytest.approx(4.0, rel=1e-4)
