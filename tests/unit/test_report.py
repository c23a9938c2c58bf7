import numpy as np
import pandas as pd
import pytest

from colliderflow import analyses, config
from colliderflow.report import spectrum_from_features, spectrum_plot


def test_spectrum_counts_and_signal(tmp_path):
    cfg = config.validate({})
    analysis = analyses.get("hyy")
    observable = analysis.observable(cfg)
    rng = np.random.default_rng(3)
    data = 105 + rng.exponential(30, 20_000)
    data = data[data < 160]
    sig_m = rng.normal(125, 1.7, 1000)
    numbers = spectrum_plot(analysis, observable, data, {"ggH": (sig_m, np.full(1000, 0.5))}, {}, True, 36.1,
                            tmp_path / "spectrum.png")
    assert (tmp_path / "spectrum.png").stat().st_size > 5000
    assert numbers["data"].sum() == len(data)
    assert numbers["expected_signal_total"] == pytest.approx(0.5 * np.sum((sig_m >= 105) & (sig_m < 160)))
    assert len(numbers["bin_edges"]) == 56
    assert numbers["background_source"].startswith("poly4")


def test_spectrum_with_a_background_mc_stack(tmp_path):
    cfg = config.validate({"analysis": "hzz4l"})
    analysis = analyses.get("hzz4l")
    observable = analysis.observable(cfg)
    rng = np.random.default_rng(4)
    zz = rng.uniform(105, 160, 4000)
    numbers = spectrum_plot(analysis, observable, rng.uniform(105, 160, 50), {"ggH": (rng.normal(125, 2, 500),
                            np.full(500, 0.05))}, {"ZZ": (zz, np.full(4000, 0.01))}, True, 36.1, tmp_path / "s.png")
    assert numbers["background_source"] == "mc"
    assert numbers["background"].sum() == pytest.approx(40.0)
    assert (tmp_path / "s.png").stat().st_size > 5000


def test_spectrum_needs_a_data_sample(tmp_path):
    frame = pd.DataFrame({"m_yy": [125.0], "weight": [1.0], "kind": ["signal"], "process": ["ggH"]})
    frame.to_parquet(tmp_path / "ggH.parquet")
    cfg = config.validate({"samples": {"ggH": {"kind": "signal", "files": [{"name": "f"}]}}})
    with pytest.raises(ValueError, match="no data sample"):
        spectrum_from_features(cfg, analyses.get("hyy"), [tmp_path / "ggH.parquet"], tmp_path / "o.png",
                               tmp_path / "o.json")


def test_selection_table_gives_the_figure_of_merit_and_s_over_b():
    from colliderflow.report import selection_table

    optimisation = {"figure_of_merit": "s_over_sqrt_s_plus_b", "threshold": 0.97, "threshold_z": 22.5,
                    "inclusive_fom": 10.97, "window": [5345.2, 5388.4], "s_inclusive": 559.0, "b_inclusive": 2086.0,
                    "s_threshold": 553.0, "b_threshold": 49.5, "s_over_b_inclusive": 559.0 / 2086.0,
                    "s_over_b_threshold": 553.0 / 49.5, "curve": "results/x/optimise/bdt/zcurve.png"}
    text = selection_table({"models": {"bdt": {"optimisation": optimisation}, "other": {}}})
    assert text.splitlines()[2] == ("| bdt | s_over_sqrt_s_plus_b: 10.97 -> 22.50 (0.97) | 5345.2-5388.4 | "
                                    "559, 2086 -> 553, 49.5 | 0.268 -> 11.2 | results/x/optimise/bdt/zcurve.png |")
    assert selection_table({"models": {"other": {}}}) == ""
