import numpy as np
from scipy import stats

from colliderflow.stats import plots


def test_every_plot_writes_a_file(tmp_path):
    mu = np.linspace(-1, 3, 41)
    plots.likelihood_scan_plot(tmp_path / "scan.png", mu, ((mu - 1.0) / 0.4) ** 2, interval68=[0.6, 1.4],
                               interval95=[0.2, 1.8], expected=(mu, ((mu - 1.0) / 0.5) ** 2), label="Simulation")
    mass = np.arange(110, 150.01, 0.5)
    z = 5.5 * np.exp(-0.5 * ((mass - 125) / 2) ** 2)
    plots.p0_plot(tmp_path / "p0.png", mass, stats.norm.sf(z), p0_expected=stats.norm.sf(0.9 * z), label="Simulation")
    cls_exp = np.column_stack([np.exp(-mu.clip(0) * k) for k in (3, 2.5, 2, 1.5, 1)])
    plots.limit_band_plot(tmp_path / "cls.pdf", mu.clip(0), np.exp(-1.8 * mu.clip(0)), cls_exp, upper_limit=1.7)
    plots.pull_plot(tmp_path / "pulls.png", np.random.default_rng(1).normal(size=200))
    t = np.linspace(0, 2 * np.pi, 30)
    contours = [{"cl": cl, "points": np.column_stack([1 + r * np.cos(t), 125 + r * np.sin(t + 0.5)]).tolist()}
                for cl, r in ((0.68, 0.3), (0.95, 0.5))]
    plots.contour_plot(tmp_path / "contour.png", contours, (1.0, 125.0), reference=(1.0, 125.1))
    plots.channel_poi_plot(tmp_path / "mu_categories.png", ["cat0", "cat1"], [0.8, 1.3], [[0.5, 1.1], [0.9, None]],
                           (1.0, 0.8, 1.2), p_value=0.31)
    rows = [{"param": f"theta_{i}", "pull": 0.3 * i - 0.5, "constraint": 0.9, "impact_prefit": [0.05 * i, -0.04 * i],
             "impact_postfit": [0.04 * i, -0.03 * i]} for i in range(3)]
    plots.impact_plot(tmp_path / "impacts.png", rows)
    plots.impact_plot(tmp_path / "no_impacts.png", [])
    plots.note_plot(tmp_path / "note.png", "no fit: 3 data events")
    for name in ("scan.png", "p0.png", "cls.pdf", "pulls.png", "contour.png", "mu_categories.png", "impacts.png",
                 "no_impacts.png", "note.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert not list(tmp_path.glob(".*tmp"))
