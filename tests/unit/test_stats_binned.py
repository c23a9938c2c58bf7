import json

import numpy as np
import pyhf
import pytest

from colliderflow.cli import main
from colliderflow.stats import binned


def _simple_workspace():
    model = pyhf.simplemodels.uncorrelated_background(signal=[5.0, 10.0], bkg=[50.0, 60.0], bkg_uncertainty=[5.0, 12.0])
    data = [62.0, 63.0] + model.config.auxdata
    return pyhf.Workspace.build(model, data), model, data


def test_limit_command_agrees_with_pyhf(tmp_path):
    ws, model, data = _simple_workspace()
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(dict(ws)))
    out = tmp_path / "limits.json"
    assert main(["limit", "--workspace", str(path), "--out", str(out), "--poi-value", "1",
                 "--settings", json.dumps({"fit": {"limit": {"curve_points": 4}}}), "--plot", str(tmp_path / "band.png")]) == 0
    res = json.loads(out.read_text())
    cls_obs, cls_exp = pyhf.infer.hypotest(1.0, data, model, test_stat="qtilde", return_expected_set=True)
    assert res["cls_obs"] == pytest.approx(float(cls_obs), rel=1e-6)
    np.testing.assert_allclose(res["cls_exp"], [float(v) for v in cls_exp], rtol=1e-6)
    obs, exp = pyhf.infer.intervals.upper_limits.upper_limit(data, model)
    assert res["upper_limit"]["observed"] == pytest.approx(float(obs), rel=1e-6)
    np.testing.assert_allclose(res["upper_limit"]["expected"], [float(v) for v in exp], rtol=1e-6)
    p0 = pyhf.infer.hypotest(0.0, data, model, test_stat="q0")
    assert res["discovery"]["p0"] == pytest.approx(float(p0), rel=1e-6)
    assert len(res["cls_exp"]) == 5 and len(res["upper_limit"]["expected"]) == 5
    assert "provenance" in res and (tmp_path / "band.png").is_file()


def test_scanned_limit_agrees_with_pyhf_and_root_finding():
    ws, model, data = _simple_workspace()
    scan = np.linspace(0, 4, 17)
    res = binned.limits(dict(ws), scan=scan)
    obs, exp = pyhf.infer.intervals.upper_limits.upper_limit(data, model, scan=scan)
    assert res["limit_method"] == "scan" and res["scan"]["poi_values"] == pytest.approx(scan.tolist())
    assert res["upper_limit"]["observed"] == pytest.approx(float(obs), rel=1e-6)
    root = binned.limits(dict(ws), scan=None, curve_points=0)
    assert root["upper_limit"]["observed"] == pytest.approx(float(obs), rel=0.01)
    assert root["scan"]["poi_values"] == []


def test_build_workspace_has_the_modifiers_and_fits():
    edges = binned.make_edges(105, 160, 5.0)
    centres = 0.5 * (edges[1:] + edges[:-1])
    sig = 40.0 * np.exp(-0.5 * ((centres - 125) / 2.0) ** 2)
    bkg = 500.0 * np.exp(-0.03 * (centres - 105))
    channels = [{"name": "c0", "data": np.round(bkg + sig), "signal": sig, "signal_sumw2": sig * 0.01,
                 "background": bkg, "spurious": 3.0},
                {"name": "c1", "data": np.round(bkg), "signal": sig / 2, "background": bkg}]
    spec = binned.build_workspace(channels, signal_normsys={"lumi": 0.021, "photon_eff": 0.02})
    ws = pyhf.Workspace(spec)
    model = ws.model()
    pars = set(model.config.parameters)
    assert {"mu", "lumi", "photon_eff", "bkg_norm_c0", "bkg_norm_c1", "spurious_c0"} <= pars
    assert "spurious_c1" not in pars
    # at nominal parameters the expectation is signal + background
    np.testing.assert_allclose(model.expected_actualdata(model.config.suggested_init())[: len(sig)], bkg + sig, rtol=1e-6)
    res = binned.limits(spec, curve_points=5)
    assert 0 < res["cls_obs"] <= 1
    assert res["discovery"]["Z"] > 1
    assert len(res["scan"]["cls_exp"]) == 5 and len(res["scan"]["cls_exp"][0]) == 5


def test_inconsistent_channels_are_rejected():
    with pytest.raises(ValueError, match="same number of bins"):
        binned.build_workspace([{"name": "c", "data": [1, 2], "signal": [1.0], "background": [1.0, 2.0]}])
    with pytest.raises(ValueError, match="not a valid pyhf"):
        binned.limits({"channels": []})


def test_limit_command_bad_inputs(tmp_path, capsys):
    assert main(["limit", "--workspace", str(tmp_path / "nope.json"), "--out", str(tmp_path / "l.json")]) == 2
    assert "nope.json" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["limit", "--workspace", str(bad), "--out", str(tmp_path / "l.json")]) == 2
    assert "not JSON" in capsys.readouterr().err
