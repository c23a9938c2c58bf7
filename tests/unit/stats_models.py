"""Shared models for the statistics tests (test_stats_model/cost/fit/hypotest/toys)."""

from __future__ import annotations

from colliderflow.stats.model import Model, category_spec, single_channel_spec

LO, HI = 105.0, 160.0

# True values of the one-channel Gaussian-on-exponential model of ``sb_model``.
TRUTH = {"signal_yield": 300.0, "mass": 125.0, "sigma": 1.7, "background_yield": 3000.0, "slope": -0.03}


def counting_model(b: float) -> Model:
    """Signal and background with the same flat shape: the unbinned likelihood is a counting one."""
    spec = {
        "poi": "mu",
        "parameters": {"mu": {"value": 1.0, "limits": [-50, 50]}, "nb": {"value": b, "fixed": True}},
        "channels": [{"name": "c", "range": [LO, HI],
                      "signal": {"shape": "exponential", "params": {"slope": 0.0}, "yield": {"scale": 1.0, "factors": ["mu"]}},
                      "background": {"shape": "exponential", "params": {"slope": 0.0}, "yield": "nb"}}],
    }
    return Model(spec)


def sb_model(**start) -> Model:
    return Model(single_channel_spec("gauss", "exponential", LO, HI, start=start))


def categories(spurious=None) -> list[dict]:
    """Two categories (DSCB signal at 125 and 124.8; exponential and Bernstein backgrounds)."""
    sig = {"mass": 125.0, "sigma": 1.7, "alpha_lo": 1.5, "n_lo": 5.0, "alpha_hi": 1.8, "n_hi": 10.0}
    cats = []
    for i, (s, bkg, shape, params) in enumerate([(250.0, 4000.0, "exponential", {"slope": -0.03}),
                                                  (150.0, 2000.0, "bernstein:2", {"b1": 0.5, "b2": 0.3})]):
        sp = dict(sig, mass=125.0 - 0.2 * i)
        cats.append({"name": f"c{i}", "range": [LO, HI], "signal": {"shape": "dscb", "params": sp, "yield": s},
                     "background": {"shape": shape, "params": params, "yield": bkg}, "spurious": spurious})
    return cats


def category_model(**kwargs) -> Model:
    spurious = kwargs.pop("spurious", None)
    return Model(category_spec(categories(spurious), mass_value=125.0, mass_limits=(110.0, 150.0), **kwargs))
