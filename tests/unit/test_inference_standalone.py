"""``colliderflow fit``, ``limit`` and ``validate-fit`` (``colliderflow.inference.standalone``) on files."""

import json

import numpy as np
import pandas as pd
import pyhf
import pytest

from colliderflow.cli import main
from colliderflow.stats.shapes import get_shape

SIGNAL = {"mass": 125.0, "sigma": 1.7, "alpha_lo": 1.5, "n_lo": 5.0, "alpha_hi": 1.8, "n_hi": 10.0}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fitcli")
    rng = np.random.default_rng(8)
    bkg = get_shape("exponential", 100, 170).sample(rng, 8000, {"slope": -0.03})
    sig = get_shape("dscb", 100, 170).sample(rng, 400, SIGNAL)
    pd.DataFrame({"m_yy": np.concatenate([bkg, sig]), "w": 1.0}).to_parquet(d / "data.parquet")
    mc = get_shape("dscb", 100, 170).sample(rng, 8000, SIGNAL)
    pd.DataFrame({"m_yy": mc, "weight": rng.uniform(0.5, 1.5, mc.size) * 2e-3}).to_parquet(d / "mc.parquet")
    return d


def _run(args, capsys):
    code = main(args)
    return code, capsys.readouterr().err


def test_fit_recovers_the_injected_signal(files, capsys):
    out = files / "fit.json"
    code, _ = _run(["fit", "--data", str(files / "data.parquet"), "--observable", "m_yy", "--range", "105", "160",
                    "--signal", "gauss", "--background", "exponential", "--out", str(out),
                    "--plot", str(files / "fit.png")], capsys)
    assert code == 0
    res = json.loads(out.read_text())
    for key in ("signal_yield", "signal_yield_error", "background_yield", "params", "discovery", "model"):
        assert key in res
    assert abs(res["signal_yield"] - 400) < 3 * res["signal_yield_error"]
    assert abs(res["params"]["mass"]["value"] - 125.0) < 0.5
    assert set(res["discovery"]) == {"q0", "p0", "Z"} and res["discovery"]["Z"] > 4
    assert res["params"]["slope"]["value"] == pytest.approx(-0.03, abs=0.003)
    assert (files / "fit.png").is_file()


def test_signal_model_then_sb_fit_then_validate(files, capsys):
    sig_out = files / "signal_model.json"
    code, _ = _run(["fit", "--data", str(files / "mc.parquet"), "--observable", "m_yy", "--weight", "weight",
                    "--range", "105", "160", "--signal", "dscb", "--background", "none", "--out", str(sig_out)], capsys)
    assert code == 0
    sm = json.loads(sig_out.read_text())
    assert sm["error_method"] == "sandwich" and sm["signal"] == "dscb"
    assert abs(sm["params"]["sigma"]["value"] - 1.7) < 4 * sm["params"]["sigma"]["error"]
    out = files / "fit_sm.json"
    code, _ = _run(["fit", "--data", str(files / "data.parquet"), "--observable", "m_yy", "--range", "105", "160",
                    "--signal-model", str(sig_out), "--background", "exponential", "--set", "mass=124",
                    "--out", str(out)], capsys)
    assert code == 0
    res = json.loads(out.read_text())
    assert res["signal"] == "dscb"
    # shape parameters fixed from the model, mass floats
    assert {"sigma", "alpha_lo", "n_lo", "alpha_hi", "n_hi"} <= set(res["fixed"]) and "mass" not in res["fixed"]
    assert res["params"]["sigma"]["value"] == pytest.approx(sm["params"]["sigma"]["value"])
    assert abs(res["params"]["mass"]["value"] - 125.0) < 0.5
    val = files / "val.json"
    code, _ = _run(["validate-fit", "--model", str(out), "--toys", "5", "--seed", "3", "--out", str(val)], capsys)
    assert code == 0
    v = json.loads(val.read_text())
    assert list(v["params"]) == ["signal_yield"] and v["n_valid"] == 5 and len(v["params"]["signal_yield"]["pulls"]) == 5


def test_validate_fit_floats_a_fixed_parameter_and_pulls_several(files, capsys):
    """The category fit's fit.json fixes the peak position unless fit.mass_floating: --float mass
    frees it in the toys' fits, and --param gives the pulls of mu and mass from the same toys."""
    from colliderflow.stats.model import Model, category_spec

    cat = {"name": "c0", "range": [105.0, 160.0],
           "signal": {"shape": "gauss", "params": {"mass": 124.8, "sigma": 1.7}, "yield": 300.0},
           "background": {"shape": "exponential", "params": {"slope": -0.03}, "yield": 3000.0}}
    spec = category_spec([cat], mass_value=125.0, mass_limits=(115.0, 135.0))
    assert Model(spec).is_fixed("mass")
    model_file = files / "fixed_mass_model.json"
    model_file.write_text(json.dumps({"model": spec}))
    val = files / "val_mass.json"
    code, err = _run(["validate-fit", "--model", str(model_file), "--toys", "4", "--param", "mass",
                      "--out", str(val)], capsys)
    assert code == 2 and "let them float with --float" in err
    code, _ = _run(["validate-fit", "--model", str(model_file), "--toys", "4", "--seed", "2", "--float", "mass",
                    "--param", "mu", "--param", "mass", "--out", str(val), "--plot", str(files / "pulls.png")], capsys)
    assert code == 0
    v = json.loads(val.read_text())
    assert v["floated"] == ["mass"] and v["n_valid"] == 4
    assert v["params"]["mass"]["truth"] == 125.0 and len(v["params"]["mass"]["pulls"]) == 4
    assert len(set(v["params"]["mass"]["fitted"])) == 4  # the peak really floats
    assert (files / "mu_pulls.png").is_file() and (files / "mass_pulls.png").is_file()


@pytest.mark.parametrize("override, extra, message", [
    ({"--observable": "mgg"}, [], "column(s) ['mgg'] not in"),
    ({}, ["--weight", "wt"], "column(s) ['wt'] not in"),
    ({}, ["--range", "160", "105"], "is empty"),
    ({}, ["--range", "300", "400"], "no events of 'm_yy'"),
    ({}, ["--set", "massx=125"], "unknown parameter 'massx'"),
    ({}, ["--set", "mass=abc"], "not a number"),
    ({}, ["--fix", "alpha"], "cannot fix 'alpha'"),
    ({"--signal": "landau"}, [], "unknown shape 'landau'"),
    ({"--background": "bernstein:9"}, [], "degree must be 1 to 5"),
    ({"--background": "gauss"}, [], "is a signal shape"),
    ({"--data": "/nonexistent/x.parquet"}, [], "does not exist"),
])
def test_fit_bad_inputs_exit_2_naming_the_problem(files, capsys, override, extra, message):
    args = {"--data": str(files / "data.parquet"), "--observable": "m_yy", "--signal": "gauss",
            "--background": "exponential", "--out": str(files / "bad.json")}
    args.update(override)
    flags = [item for pair in args.items() for item in pair]
    code, err = _run(["fit", *flags, *extra], capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_validate_fit_bad_inputs(files, capsys):
    code, err = _run(["validate-fit", "--model", str(files / "data.parquet.json"), "--out", str(files / "v.json")], capsys)
    assert code == 2 and "does not exist" in err
    (files / "notmodel.json").write_text(json.dumps({"a": 1}))
    code, err = _run(["validate-fit", "--model", str(files / "notmodel.json"), "--out", str(files / "v.json")], capsys)
    assert code == 2 and "neither a model spec" in err


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
                 "--plot", str(tmp_path / "band.png")]) == 0
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


def test_limit_command_bad_inputs(tmp_path, capsys):
    assert main(["limit", "--workspace", str(tmp_path / "nope.json"), "--out", str(tmp_path / "l.json")]) == 2
    assert "nope.json" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["limit", "--workspace", str(bad), "--out", str(tmp_path / "l.json")]) == 2
    assert "not JSON" in capsys.readouterr().err


def test_fit_range_defaults_to_the_observable_range(files, capsys):
    out = files / "fit_default_range.json"
    settings = {"observable": {"range": [110.0, 150.0], "window": [120.0, 130.0], "bin_width": 2.0}}
    code, _ = _run(["fit", "--data", str(files / "data.parquet"), "--observable", "m_yy", "--signal", "gauss",
                    "--settings", json.dumps(settings), "--out", str(out), "--plot", str(files / "fit2.png")], capsys)
    assert code == 0
    assert json.loads(out.read_text())["range"] == [110.0, 150.0]
