"""Systematics as constrained nuisance parameters, the stat/syst split and one signal strength
per production mode, on small synthetic models (unbinned, and against the pyhf workspace)."""

import dataclasses

import numpy as np
import pyhf
import pytest

from colliderflow.stats import binned
from colliderflow.stats.fit import correlations, fit, stat_syst_split
from colliderflow.stats.model import Expression, Model, category_spec
from colliderflow.stats.toys import generate

LO, HI = 110.0, 140.0
GAUSS = {"mass": 125.0, "sigma": 1.5}


def _categories(yields, background=(2000.0, 1500.0)):
    """Gaussian signal on an exponential background per category; ``yields`` per category."""
    return [{"name": f"c{i}", "range": [LO, HI], "signal": {"shape": "gauss", "params": GAUSS, "yield": y},
             "background": {"shape": "exponential", "params": {"slope": -0.03}, "yield": b}}
            for i, (y, b) in enumerate(zip(yields, background))]


def _truth(model, **values):
    v = {n: (0.0 if x is None else x) for n, x in model.values().items()}
    v.update({f"slope_c{i}": -0.03 for i in range(2)}, nbkg_c0=2000.0, nbkg_c1=1500.0, **values)
    return v


def test_expressions_sum_terms_and_apply_relative_and_lognormal_responses():
    expr = Expression([{"scale": 10.0, "factors": ["mu"], "lognormal": {"lumi": 1.05}},
                       {"param": "m", "offset": 1.0, "relative": {"scale": 0.01}}])
    assert expr.refs() == {"mu", "lumi", "m", "scale"}
    values = {"mu": 2.0, "lumi": -1.0, "m": 124.0, "scale": 2.0}
    assert expr.evaluate(values) == pytest.approx(20.0 / 1.05 + 125.0 * 1.02)
    assert expr.compiled(list(values))(list(values.values())) == pytest.approx(expr.evaluate(values))
    with pytest.raises(ValueError, match="lognormal needs finite positive"):
        Expression({"lognormal": {"lumi": -1.0}})
    with pytest.raises(KeyError, match="unknown key.*'bogus'"):
        Expression({"bogus": 1})


def test_a_peak_position_nuisance_moves_the_fitted_mass_and_widens_its_error():
    spec = dict(mass_value=125.0, mass_floating=True, mass_limits=(120.0, 130.0))
    plain = Model(category_spec(_categories([400.0, 300.0]), **spec))
    scale = [{"name": "energy_scale", "effect": "position", "size": 0.004}]
    model = Model(category_spec(_categories([400.0, 300.0]), systematics=scale, **spec))
    assert model.constraints() == {"energy_scale": (0.0, 1.0)}
    data = generate(plain, _truth(plain), np.random.default_rng(3))
    base, nominal = fit(plain, data), fit(model, data)
    assert nominal.values["mass"] == pytest.approx(base.values["mass"], abs=0.02)
    # the total error adds the scale's 0.004 x 125 GeV = 0.5 GeV in quadrature
    assert nominal.errors["mass"] == pytest.approx(np.hypot(base.errors["mass"], 0.5), rel=0.1)
    # a calibration that measured the peak 1 sigma high (global observable at +1) moves m_H down
    shifted = fit(model.with_constraint_means({"energy_scale": 1.0}), data)
    assert shifted.values["mass"] - base.values["mass"] == pytest.approx(-0.5, abs=0.05)
    split = stat_syst_split(model, data, nominal, ["mass", "mu"])["mass"]
    assert split["stat"] == pytest.approx(base.errors["mass"], rel=0.05)
    assert split["stat"] ** 2 + split["syst"] ** 2 == pytest.approx(split["error"] ** 2, rel=1e-9)
    assert split["syst"] == pytest.approx(0.5, rel=0.1)


def test_stat_syst_split_of_yield_and_width_systematics():
    systs = [{"name": "lumi", "effect": "yield", "size": 0.1}, {"name": "resolution", "effect": "width", "size": 0.1}]
    model = Model(category_spec(_categories([400.0, 300.0]), mass_value=125.0, systematics=systs))
    sigma = model.component_params(dict(_truth(model), resolution=1.0))["c0"]["signal"]["sigma"]
    assert sigma == pytest.approx(1.5 * 1.1)
    data = generate(model, _truth(model), np.random.default_rng(4))
    best = fit(model, data)
    mu = stat_syst_split(model, data, best, ["mu"])["mu"]
    assert mu["stat"] < mu["error"] and mu["stat"] ** 2 + mu["syst"] ** 2 == pytest.approx(mu["error"] ** 2)
    assert mu["syst"] > np.log(1.1) * mu["value"]  # at least the yield's: d(1.1 ** theta) / d(theta) = ln 1.1
    # a total error below the stat-only one (a degenerate fit's covariance) does not split
    degenerate = dataclasses.replace(best, errors=dict(best.errors, mu=0.5 * mu["stat"]))
    assert stat_syst_split(model, data, degenerate, ["mu"])["mu"]["syst"] is None
    # without nuisance parameters there is no syst
    plain = Model(category_spec(_categories([400.0, 300.0]), mass_value=125.0))
    assert stat_syst_split(plain, data, fit(plain, data), ["mu"])["mu"]["syst"] == 0.0


def _two_mode_model(**kwargs):
    # category c0 is rich in mode A, c1 in mode B: together they separate the two strengths
    return Model(category_spec(_categories([{"A": 500.0, "B": 60.0}, {"A": 80.0, "B": 400.0}]), mass_value=125.0,
                               poi_per_mode=True, **kwargs))


def test_per_mode_signal_strengths_recover_the_injected_ones():
    systs = [{"name": "theory_A", "effect": "yield", "size": 0.05, "modes": ["A"]}]
    model = _two_mode_model(systematics=systs)
    assert model.poi == "mu_A" and {"mu_A", "mu_B"} <= set(model.names) and "mu" not in model.names
    assert model.yields(_truth(model, mu_A=1.0, mu_B=1.0, theory_A=1.0))["c0"]["signal"] == pytest.approx(525 + 60)
    truth = _truth(model, mu_A=0.6, mu_B=1.8)
    data = generate(model, truth, np.random.default_rng(7))
    best = fit(model, data)
    for poi in ("mu_A", "mu_B"):
        assert best.values[poi] == pytest.approx(truth[poi], abs=3 * best.errors[poi])
        assert 0.05 < best.errors[poi] < 0.5
    rho = correlations(best, ["mu_A", "mu_B"])
    assert rho["matrix"][0][0] == 1.0 and -0.8 < rho["matrix"][0][1] < 0.0  # the modes share events
    with pytest.raises(ValueError, match="needs the signal yield by mode"):
        category_spec(_categories([1.0, 1.0]), mass_value=125.0, poi_per_mode=True)
    with pytest.raises(ValueError, match=r"mode\(s\) \['C'\]"):
        _two_mode_model(systematics=[{"name": "theory_C", "effect": "yield", "size": 0.1, "modes": ["C"]}])


def test_the_workspace_per_mode_fit_agrees_with_the_unbinned_one():
    """The same two-mode model binned into a pyhf workspace (background shapes fixed, as the
    workspace fixes them): the yield systematic means the same in both, and the per-mode
    measurement finds the unbinned strengths."""
    systs = [{"name": "lumi", "effect": "yield", "size": 0.05}]
    model = _two_mode_model(systematics=systs)
    truth = _truth(model, mu_A=1.0, mu_B=1.0)
    data = generate(model, truth, np.random.default_rng(11))
    unbinned = fit(model, data, fix={"slope_c0": -0.03, "slope_c1": -0.03})
    edges = binned.make_edges(LO, HI, 0.5)
    channels = []
    for name in model.channels:
        ch = model.channel(name)
        density = ch.signal.shape.bin_integrals(edges, GAUSS)
        channels.append({"name": name, "data": np.histogram(data[name].x, bins=edges)[0],
                         "signal": {m: term.scale * density for m, term in
                                    zip(("A", "B"), ch.signal.yield_expr.terms)},
                         "background": model.expected_counts(name, edges, truth)["background"]})
    spec = binned.build_workspace(channels, systematics=systs, mode_pois=True, poi_bounds=(-5.0, 10.0))
    assert [m["name"] for m in spec["measurements"]] == ["measurement", "measurement_per_mode"]
    ws = pyhf.Workspace(spec)
    pdf = ws.model(measurement_name="measurement_per_mode")
    assert pdf.config.poi_name == "mu_A" and pdf.config.param_set("mu").suggested_fixed == [True]
    # at lumi = +1 both models expect (1.05) x the signal
    pars = pdf.config.suggested_init()
    pars[pdf.config.par_slice("lumi")] = [1.0]
    nbins = edges.size - 1
    binned_c0 = pdf.expected_actualdata(pars)[:nbins]
    unbinned_c0 = model.expected_counts("c0", edges, dict(truth, lumi=1.0))
    np.testing.assert_allclose(binned_c0, unbinned_c0["signal"] + unbinned_c0["background"], rtol=1e-6)
    best = pyhf.infer.mle.fit(ws.data(pdf), pdf)
    for poi in ("mu_A", "mu_B"):
        assert float(best[pdf.config.par_slice(poi)][0]) == pytest.approx(unbinned.values[poi],
                                                                          abs=0.15 * unbinned.errors[poi])
    inclusive = ws.model()
    assert inclusive.config.poi_name == "mu" and inclusive.config.param_set("mu_A").suggested_fixed == [True]
