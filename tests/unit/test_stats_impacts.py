"""Pulls and impacts of constrained parameters on a model whose fits are solved by hand."""

import math

import numpy as np
import pytest

from colliderflow.stats.fit import fit
from colliderflow.stats.impacts import impacts
from colliderflow.stats.model import Model

N_SIGNAL, SCALE, SPURIOUS = 200, 100.0, 15.0
PRIOR_SHIFT, N_CONTROL, TRUE_SHIFT = 0.2, 100, 0.3


def model() -> Model:
    """A signal-only channel with yield SCALE * mu * eff + SPURIOUS * theta_ss (eff ~ N(1, 0.1),
    theta_ss ~ N(0, 1)), and a control channel measuring a peak position shift ~ N(0, 0.2)
    that nothing in the signal channel depends on."""
    return Model({
        "poi": "mu",
        "parameters": {
            "mu": {"value": 1.0, "limits": [-5.0, 10.0]},
            "eff": {"value": 1.0, "limits": [0.5, 1.5], "constraint": {"mean": 1.0, "sigma": 0.1}},
            "theta_ss": {"value": 0.0, "limits": [-5.0, 5.0], "constraint": {"mean": 0.0, "sigma": 1.0}},
            "shift": {"value": 0.0, "limits": [-3.0, 3.0], "constraint": {"mean": 0.0, "sigma": PRIOR_SHIFT}},
        },
        "channels": [
            {"name": "signal", "range": [0.0, 1.0],
             "signal": {"shape": "exponential", "params": {"slope": 0.0},
                        "yield": {"scale": SCALE, "factors": ["mu", "eff"], "add": {"theta_ss": SPURIOUS}}}},
            {"name": "control", "range": [-10.0, 10.0],
             "background": {"shape": "gauss", "params": {"mass": "shift", "sigma": 1.0}, "yield": float(N_CONTROL)}},
        ],
    })


def test_pulls_constraints_and_impacts_are_the_analytic_ones():
    rng = np.random.default_rng(9)
    control = rng.normal(TRUE_SHIFT, 1.0, N_CONTROL)
    data = {"signal": rng.uniform(0, 1, N_SIGNAL), "control": control}
    m = model()
    best = fit(m, data)
    out = impacts(m, data, best=best)
    mu_hat = N_SIGNAL / SCALE  # mu absorbs the signal count; eff and theta_ss stay at their means
    assert out["poi"] == "mu" and out["poi_value"] == pytest.approx(mu_hat, rel=1e-4)
    rows = {r["param"]: r for r in out["parameters"]}
    assert [r["param"] for r in out["parameters"]] == ["eff", "theta_ss", "shift"]  # ranked by impact

    # theta_ss fixed at +-1: mu = (N - +-SPURIOUS) / SCALE, before and after the fit (not constrained)
    ss = rows["theta_ss"]
    assert ss["pull"] == pytest.approx(0.0, abs=1e-3) and ss["constraint"] == pytest.approx(1.0, rel=1e-2)
    assert ss["impact_prefit"] == pytest.approx([-SPURIOUS / SCALE, SPURIOUS / SCALE], rel=1e-3)
    assert ss["impact_postfit"] == pytest.approx([-ss["error"] * SPURIOUS / SCALE, ss["error"] * SPURIOUS / SCALE],
                                                 rel=1e-3)
    # eff fixed at 1 +- 0.1: mu = N / (SCALE (1 +- 0.1))
    eff = rows["eff"]
    assert eff["prior"] == [1.0, 0.1] and eff["pull"] == pytest.approx(0.0, abs=1e-3)
    assert eff["impact_prefit"] == pytest.approx([mu_hat / 1.1 - mu_hat, mu_hat / 0.9 - mu_hat], rel=1e-3)

    # the control channel: a Gaussian mean combined with its constraint; no impact on mu
    information = 1 / PRIOR_SHIFT**2 + N_CONTROL
    shift_hat = control.mean() * N_CONTROL / information
    sh = rows["shift"]
    assert sh["value"] == pytest.approx(shift_hat, abs=1e-4)
    assert sh["pull"] == pytest.approx(shift_hat / PRIOR_SHIFT, abs=1e-3)
    assert sh["constraint"] == pytest.approx(1 / math.sqrt(information) / PRIOR_SHIFT, rel=1e-2)
    assert sh["impact_prefit"] == pytest.approx([0.0, 0.0], abs=1e-4)
    assert sh["impact_postfit"] == pytest.approx([0.0, 0.0], abs=1e-4)


def test_parameters_fixed_in_the_fit_have_no_impact_row():
    rng = np.random.default_rng(2)
    data = {"signal": rng.uniform(0, 1, N_SIGNAL), "control": rng.normal(0.0, 1.0, N_CONTROL)}
    m = model()
    out = impacts(m, data, best=fit(m, data, fix=["eff"]))
    assert [r["param"] for r in out["parameters"]] == ["theta_ss", "shift"]
