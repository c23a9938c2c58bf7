import re

import pytest

from colliderflow.config import ConfigError
from colliderflow.stats.settings import fit_settings, grid


def test_defaults_fill_every_key():
    fs = fit_settings({})
    assert fs["range"] == [105.0, 160.0]
    assert fs["spurious_signal"]["max_fraction_of_signal"] == 0.10
    assert fs["limit"]["cl"] == 0.95 and fs["limit"]["scan"] is None
    assert len(grid(fs["p0_scan"])) == 81
    assert grid(fs["mu_scan"])[-1] == pytest.approx(3.0)
    # user values win, nested defaults still filled
    fs = fit_settings({"fit": {"mass_floating": True, "spurious_signal": {"mode": "and"}}})
    assert fs["mass_floating"] is True and fs["spurious_signal"]["mode"] == "and"
    assert fs["spurious_signal"]["max_fraction_of_error"] == 0.20


@pytest.mark.parametrize("bad, key", [
    ({"background_candidates": ["bernstein:7"]}, "fit.background_candidates.0"),
    ({"range": [160, 105]}, "fit.range"),
    ({"bogus": 1}, "'bogus' was unexpected"),
    ({"limit": {"cl": 1.5}}, "fit.limit.cl"),
])
def test_bad_values_name_the_key(bad, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        fit_settings({"fit": bad})
