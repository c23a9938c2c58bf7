import numpy as np
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
    res = pull_study(model, TRUTH, 30, seed=3, param="signal_yield")
    assert res["n_valid"] == 30 and len(res["pulls"]) == 30
    assert abs(res["pull_mean"]) < 4 * res["pull_mean_error"]
    assert 0.6 < res["pull_width"] < 1.5
