import numpy as np
import pandas as pd
import pytest

from colliderflow.plotting import myy_spectrum, plot_myy_from_features


def test_myy_spectrum_counts_and_signal(tmp_path):
    rng = np.random.default_rng(3)
    data = 105 + rng.exponential(30, 20_000)
    data = data[data < 160]
    sig_m = rng.normal(125, 1.7, 1000)
    numbers = myy_spectrum(data, {"ggH": (sig_m, np.full(1000, 0.5))}, (105, 160), 1.0, True, 36.1,
                           tmp_path / "myy.png")
    assert (tmp_path / "myy.png").stat().st_size > 5000
    assert numbers["data"].sum() == len(data)
    assert numbers["expected_signal_total"] == pytest.approx(0.5 * np.sum((sig_m >= 105) & (sig_m < 160)))
    assert len(numbers["bin_edges"]) == 56


def test_plot_needs_data(tmp_path):
    frame = pd.DataFrame({"m_yy": [125.0], "weight": [1.0], "kind": ["signal"], "process": ["ggH"]})
    frame.to_parquet(tmp_path / "ggH.parquet")
    cfg = {"plots": {"myy_bin_width": 1.0}, "skim": {"selection": {"myy_range": [105, 160]}},
           "dataset": {"simulated": True}, "lumi_fb": 36.1}
    with pytest.raises(ValueError, match="no data sample"):
        plot_myy_from_features(cfg, [tmp_path / "ggH.parquet"], tmp_path / "o.png", tmp_path / "o.json")
