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
    for name in ("scan.png", "p0.png", "cls.pdf", "pulls.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert not list(tmp_path.glob(".*tmp"))
