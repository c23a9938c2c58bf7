import numpy as np
import pyhf
import pytest

from colliderflow.stats import binned


def _simple_workspace():
    model = pyhf.simplemodels.uncorrelated_background(signal=[5.0, 10.0], bkg=[50.0, 60.0], bkg_uncertainty=[5.0, 12.0])
    data = [62.0, 63.0] + model.config.auxdata
    return pyhf.Workspace.build(model, data), model, data


def test_scanned_limit_agrees_with_pyhf_and_root_finding():
    ws, model, data = _simple_workspace()
    scan = np.linspace(0, 4, 17)
    res = binned.limits(dict(ws), scan=scan)
    obs, exp = pyhf.infer.intervals.upper_limits.upper_limit(data, model, scan=scan)
    assert res["limit_method"] == "scan" and res["scan"]["poi_values"] == pytest.approx(scan.tolist())
    assert res["upper_limit"]["observed"] == pytest.approx(float(obs), rel=1e-6)
    root = binned.limits(dict(ws), scan=None)
    assert root["upper_limit"]["observed"] == pytest.approx(float(obs), rel=0.01)
    # the band plot's curve: the values the root finding tested, sorted, each pyhf's CLs there
    curve = root["scan"]
    assert curve["poi_values"] == sorted(curve["poi_values"]) and len(curve["poi_values"]) >= 6
    assert max(curve["poi_values"]) <= 1.5 * max(root["upper_limit"]["expected"] + [root["upper_limit"]["observed"]])
    mu = curve["poi_values"][len(curve["poi_values"]) // 2]
    cls_obs, cls_exp = pyhf.infer.hypotest(mu, data, model, test_stat="qtilde", return_expected_set=True)
    assert curve["cls_obs"][len(curve["poi_values"]) // 2] == pytest.approx(float(cls_obs), rel=1e-6)


def test_remembered_fits_give_pyhfs_own_limits_from_two_fits_per_test(monkeypatch):
    """The upper limit with its band and the test statistics at the tested POI values are
    exactly pyhf's own (pyhf.infer.intervals.upper_limits.upper_limit, its fits made every
    time), while the fits made are two per hypothesis test plus the three that do not depend
    on the POI; afterwards pyhf's functions are its own again."""
    import pyhf.infer.calculators as calculators
    import pyhf.infer.test_statistics as test_statistics

    ws, model, data = _simple_workspace()
    made = []
    for module, name in ((test_statistics, "fit"), (test_statistics, "fixed_poi_fit"),
                         (calculators, "fixed_poi_fit")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, **k: made.append(1) or _real(*a, **k))
    counted = {m: (getattr(m, "fit", None), m.fixed_poi_fit) for m in (test_statistics, calculators)}
    obs, exp, (tested, results) = pyhf.infer.intervals.upper_limits.upper_limit(data, model, return_results=True)
    plain = len(made)
    made.clear()
    with binned.fits_remembered():
        obs_r, exp_r, (tested_r, results_r) = pyhf.infer.intervals.upper_limits.upper_limit(
            data, model, return_results=True)
    assert float(obs_r) == float(obs) and [float(e) for e in exp_r] == [float(e) for e in exp]
    def floats(cls):
        return [(float(obs), [float(e) for e in expected]) for obs, expected in cls]

    assert np.array_equal(tested_r, tested) and floats(results_r) == floats(results)
    assert plain == 5 * len(tested) and len(made) == 2 * len(tested) + 3
    assert {m: (getattr(m, "fit", None), m.fixed_poi_fit) for m in (test_statistics, calculators)} == counted


def test_build_workspace_has_the_modifiers_and_fits():
    edges = binned.make_edges(105, 160, 5.0)
    centres = 0.5 * (edges[1:] + edges[:-1])
    sig = 40.0 * np.exp(-0.5 * ((centres - 125) / 2.0) ** 2)
    bkg = 500.0 * np.exp(-0.03 * (centres - 105))
    channels = [{"name": "c0", "data": np.round(bkg + sig), "signal": sig, "signal_sumw2": sig * 0.01,
                 "background": bkg, "spurious": 3.0},
                {"name": "c1", "data": np.round(bkg), "signal": sig / 2, "background": bkg}]
    spec = binned.build_workspace(channels, systematics=[{"name": "lumi", "effect": "yield", "size": 0.021},
                                                         {"name": "photon_eff", "effect": "yield", "size": 0.02}])
    ws = pyhf.Workspace(spec)
    model = ws.model()
    pars = set(model.config.parameters)
    assert {"mu", "lumi", "photon_eff", "bkg_norm_c0", "bkg_norm_c1", "spurious_c0"} <= pars
    assert "spurious_c1" not in pars
    # at nominal parameters the expectation is signal + background
    np.testing.assert_allclose(model.expected_actualdata(model.config.suggested_init())[: len(sig)], bkg + sig, rtol=1e-6)
    res = binned.limits(spec)
    assert 0 < res["cls_obs"] <= 1
    assert res["discovery"]["Z"] > 1
    assert len(res["scan"]["cls_exp"]) >= 6 and len(res["scan"]["cls_exp"][0]) == 5


def test_inconsistent_channels_are_rejected():
    with pytest.raises(ValueError, match="same number of bins"):
        binned.build_workspace([{"name": "c", "data": [1, 2], "signal": [1.0], "background": [1.0, 2.0]}])
    with pytest.raises(ValueError, match="not a valid pyhf"):
        binned.limits({"channels": []})


def _channel(scale_bkg=1.0, **extra):
    edges = binned.make_edges(105, 160, 5.0)
    centres = 0.5 * (edges[1:] + edges[:-1])
    sig = 40.0 * np.exp(-0.5 * ((centres - 125) / 2.0) ** 2)
    bkg = 500.0 * np.exp(-0.03 * (centres - 105))
    return {"name": "c0", "data": np.round(bkg + sig), "signal": sig, "background": bkg * scale_bkg, **extra}


@pytest.mark.parametrize("width", [float("inf"), float("nan"), -1.0, 8.99e307 * 10])
def test_build_workspace_refuses_a_bad_spurious_signal_width(width):
    with pytest.raises(ValueError, match="channel 'c0'.*spurious"):
        binned.build_workspace([_channel(spurious=width)])


def test_build_workspace_rejects_non_finite_counts_and_skips_zero_signal_staterror():
    with pytest.raises(ValueError, match="channel 'c0'.*background.*not all finite"):
        bad = _channel()
        bad["background"] = np.where(np.arange(bad["data"].size) == 2, np.nan, bad["background"])
        binned.build_workspace([bad])
    ch = _channel()
    ch["signal"] = np.where(np.arange(ch["data"].size) < 3, 0.0, ch["signal"])
    ch["signal_sumw2"] = np.full(ch["data"].size, 4.0)  # MC error even where the signal is zero
    spec = binned.build_workspace([ch], staterror_threshold=0.0)
    mod = [m for m in spec["channels"][0]["samples"][0]["modifiers"] if m["type"] == "staterror"][0]
    assert mod["data"][:3] == [0.0, 0.0, 0.0] and all(v > 0 for v in mod["data"][3:])


def test_background_normalisation_far_from_the_data_starts_inside_its_bounds():
    spec = binned.build_workspace([_channel(scale_bkg=1000.0)])
    par = {p["name"]: p for p in spec["measurements"][0]["config"]["parameters"]}["bkg_norm_c0"]
    lo, hi = par["bounds"][0]
    assert lo <= par["inits"][0] <= hi and par["inits"][0] == pytest.approx(1e-3, rel=0.1)
    spec = binned.build_workspace([_channel(scale_bkg=1e-3)])  # needs a norm of ~1000, beyond pyhf's 10
    par = {p["name"]: p for p in spec["measurements"][0]["config"]["parameters"]}["bkg_norm_c0"]
    assert par["bounds"][0][1] > 1000 and par["bounds"][0][0] <= par["inits"][0] <= par["bounds"][0][1]
    res = binned.limits(spec)
    assert np.isfinite(res["upper_limit"]["observed"])


def test_failed_minimisation_is_retried_then_reported_as_a_value_error(monkeypatch):
    spec = binned.build_workspace([_channel()])
    real = binned._limits
    calls = []

    def flaky(*args):
        calls.append(type(pyhf.get_backend()[1]).__name__)
        if len(calls) == 1:
            raise pyhf.exceptions.FailedMinimization(type("R", (), {"message": "Inequality constraints incompatible"})())
        return real(*args)

    monkeypatch.setattr(binned, "_limits", flaky)
    res = binned.limits(spec)
    assert len(calls) == 2 and "minuit" in calls[1] and np.isfinite(res["upper_limit"]["observed"])
    assert "scipy" in type(pyhf.get_backend()[1]).__name__  # the default optimiser is restored

    def broken(*args):
        raise pyhf.exceptions.FailedMinimization(type("R", (), {"message": "Inequality constraints incompatible"})())

    monkeypatch.setattr(binned, "_limits", broken)
    with pytest.raises(ValueError, match="limits of my/ws.json failed.*Inequality constraints incompatible"):
        binned.limits(spec, name="my/ws.json")
    assert "scipy" in type(pyhf.get_backend()[1]).__name__


def test_diagnose_names_the_suspicious_parts_of_a_broken_workspace():
    spec = binned.build_workspace([_channel(spurious=10.0)])
    assert binned.diagnose(spec) == []
    ch = spec["channels"][0]
    ch["samples"][1]["data"] = (np.asarray(ch["samples"][1]["data"]) * 1e4).tolist()
    ch["samples"][2]["modifiers"][0]["data"]["hi_data"] = [1e300] * len(ch["samples"][1]["data"])
    hints = " | ".join(binned.diagnose(spec))
    assert "nominal background" in hints and "histosys spurious_c0" in hints
