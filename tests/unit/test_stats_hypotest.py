import math

import numpy as np
import pytest
from stats_models import HI, LO, category_model, counting_model

from colliderflow.stats.fit import fit, profile_scan
from colliderflow.stats.hypotest import asimov_data, discovery, expected_significance, p0_scan
from colliderflow.stats.significance import asimov_z, counting_q0
from colliderflow.stats.toys import generate


@pytest.mark.parametrize("n, b", [(130, 100.0), (60, 50.0), (40, 50.0)])
def test_q0_matches_the_counting_closed_form(n, b):
    model = counting_model(b)
    x = np.random.default_rng(n).uniform(LO, HI, n)
    res = discovery(model, {"c": x})
    assert res["poi_hat"] == pytest.approx(n - b, abs=1e-2)
    expected = 2 * (n * math.log(n / b) - (n - b)) if n > b else 0.0
    assert res["q0"] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert res["q0"] == pytest.approx(float(counting_q0(n, b)), rel=1e-4, abs=1e-6)
    assert res["Z"] == pytest.approx(math.sqrt(expected), abs=1e-3)


def test_asimov_significance_matches_the_closed_form():
    s, b = 25.0, 100.0
    model = counting_model(b)
    res = expected_significance(model, {"mu": s, "nb": b}, bin_width=1.0)
    assert res["Z"] == pytest.approx(float(asimov_z(s, b)), rel=1e-4)
    assert res["poi_hat"] == pytest.approx(s, rel=1e-4)


def test_simultaneous_fit_scan_and_p0():
    model = category_model()
    truth = model.values()
    assert truth["mass"] == 125.0 and model.is_fixed("mass")
    data = generate(model, truth, np.random.default_rng(21))
    best = fit(model, data)
    assert abs(best.values["mu"] - 1.0) < 4 * best.errors["mu"]
    scan = profile_scan(model, data, "mu", np.linspace(best.values["mu"] - 1.5, best.values["mu"] + 1.5, 25), best=best)
    lo68, hi68 = scan["interval68"]
    assert lo68 == pytest.approx(best.values["mu"] - best.errors["mu"], rel=0.1, abs=0.05)
    assert hi68 == pytest.approx(best.values["mu"] + best.errors["mu"], rel=0.1, abs=0.05)
    lo95, hi95 = scan["interval95"]
    assert lo95 < lo68 and hi95 > hi68
    disc = discovery(model, data, best=best)
    assert disc["Z"] > 3 and disc["p0"] == pytest.approx(0.5 * math.erfc(disc["Z"] / math.sqrt(2)))
    p0 = p0_scan(model, data, np.arange(115.0, 136.0, 2.5), expected_values=dict(best.values, mu=1.0))
    imin = int(np.argmin(p0["p0"]))
    assert abs(p0["mass"][imin] - 125.0) <= 2.5
    # at the nominal mass the scan reproduces the discovery fit
    i125 = p0["mass"].index(125.0)
    assert p0["Z"][i125] == pytest.approx(disc["Z"], abs=0.05)
    assert p0["Z_expected"][i125] > 2


def test_floating_mass_and_asimov_closure():
    model = category_model(spurious=5.0, mass_floating=True)
    truth = model.values()
    assert "theta_ss_c0" in truth and model.constraints()["theta_ss_c0"] == (0.0, 1.0)
    asimov = asimov_data(model, dict(truth, mass=125.5))
    r = fit(model, asimov, start=truth)
    assert r.error_method == "hesse"
    assert r.values["mass"] == pytest.approx(125.5, abs=0.01)
    assert r.values["mu"] == pytest.approx(1.0, abs=0.01)
    # a null fit with a spurious nuisance depends on the mass: the p0 scan refits it per mass
    p0 = p0_scan(model, asimov, [124.0, 125.5])
    assert p0["null_per_mass"] is True
    assert p0["Z"][1] > p0["Z"][0]
