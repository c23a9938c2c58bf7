import numpy as np
import pytest
from stats_models import TRUTH, sb_model

from colliderflow.stats.toys import generate, pull_study


def test_generate_draws_poisson_yields_inside_each_range():
    model = sb_model(**TRUTH)
    sizes = [generate(model, TRUTH, np.random.default_rng(seed))["fit"].x.size for seed in range(20)]
    assert abs(np.mean(sizes) - 3300.0) < 4 * np.sqrt(3300.0 / 20)
    toy = generate(model, TRUTH, np.random.default_rng(0))["fit"]
    assert toy.w is None and toy.x.min() >= 105.0 and toy.x.max() <= 160.0


def test_pull_study_reports_mean_and_width():
    model = sb_model(**TRUTH)
    res = pull_study(model, TRUTH, 30, seed=3, params=["signal_yield", "mass"])
    assert res["n_valid"] == 30
    for name in ("signal_yield", "mass"):
        pull = res["params"][name]
        assert len(pull["pulls"]) == 30 and pull["truth"] == TRUTH[name]
        assert abs(pull["pull_mean"]) < 4 * pull["pull_mean_error"]
        assert 0.6 < pull["pull_width"] < 1.5
        assert pull["pull_width_error"] == pytest.approx(pull["pull_width"] / np.sqrt(58))
