import numpy as np
import pytest
from stats_models import HI, LO, TRUTH, categories, sb_model

from colliderflow.stats.fit import fit
from colliderflow.stats.model import ChannelData, Model, as_data, category_spec


def test_bad_names_are_reported():
    model = sb_model(**TRUTH)
    with pytest.raises(KeyError, match="unknown parameter.*'bogus'"):
        fit(model, np.array([125.0, 126.0]), fix=["bogus"])
    with pytest.raises(KeyError, match="no data for channel"):
        fit(Model(category_spec(categories(), mass_value=125.0)), {"c0": np.array([125.0])})
    with pytest.raises(KeyError, match="undefined parameter"):
        Model({"poi": None, "parameters": {}, "channels": [
            {"name": "c", "range": [LO, HI], "background": {"shape": "exponential", "params": {"slope": "k"}, "yield": 1.0}}]})
    with pytest.raises(KeyError, match="has no parameter"):
        Model({"poi": None, "parameters": {}, "channels": [
            {"name": "c", "range": [LO, HI], "background": {"shape": "exponential", "params": {"tau": 1.0}, "yield": 1.0}}]})


@pytest.mark.parametrize("width", [float("inf"), float("nan"), -3.0, 8.99e307 * 2])
def test_category_spec_refuses_a_bad_spurious_signal_width(width):
    with pytest.raises(ValueError, match="category 'c0'.*theta_ss_c0"):
        category_spec(categories(spurious=width), mass_value=125.0)


def test_category_spec_without_spurious_signal_has_no_nuisance():
    for width in (None, 0.0):
        spec = category_spec(categories(spurious=width), mass_value=125.0)
        assert not any(n.startswith("theta_ss") for n in spec["parameters"])


def test_category_spec_defaults_follow_the_categories():
    spec = category_spec(categories(), mass_value=125.0)
    assert spec["parameters"]["mass"]["limits"] == [LO, HI]  # the peak may move over the categories' range
    assert spec["channels"][1]["signal"]["params"]["mass"] == {"param": "mass", "offset": pytest.approx(-0.2)}


def test_as_data_keeps_the_range_and_drops_unit_weights():
    model = sb_model()
    x = np.array([100.0, 110.0, 125.0, np.nan, 170.0])
    d = as_data(model, (x, np.ones(x.size)))["fit"]
    assert d.x.tolist() == [110.0, 125.0] and d.w is None  # unit weights: the unweighted likelihood
    d = as_data(model, (x, np.array([1.0, 2.0, 0.5, 1.0, 1.0])))["fit"]
    assert d.w.tolist() == [2.0, 0.5] and d.sum_of_weights() == 2.5
    assert as_data(model, ChannelData(x[1:3], np.ones(2), True))["fit"].w is not None  # Asimov weights stay


def test_a_floating_width_scale_measures_the_resolution_of_the_data():
    # the data's peaks are 20% wider than the MC's: width_scale finds 1.2, and the channel depends on it
    model = Model(category_spec(categories(), mass_value=125.0, mass_floating=True, width_floating=True))
    truth = dict(model.values(), width_scale=1.2, mass=125.0, mu=1.0, nbkg_c0=4000.0, nbkg_c1=2000.0,
                 slope_c0=-0.03, b1_c1=0.5, b2_c1=0.3)
    rng = np.random.default_rng(5)
    data = {}
    for name in model.channels:
        channel = model.channel(name)
        yields = model.yields(truth)[name]
        data[name] = np.concatenate([c.shape.sample(rng, rng.poisson(yields[key]), c.shape_dict(truth))
                                     for key, c in (("signal", channel.signal), ("background", channel.background))])
    result = fit(model, data)
    assert result.values["width_scale"] == pytest.approx(1.2, abs=3 * result.errors["width_scale"])
    assert 0.02 < result.errors["width_scale"] < 0.15
    assert model.component_params(result.values)["c0"]["signal"]["sigma"] == pytest.approx(
        1.7 * result.values["width_scale"])
    assert {"width_scale", "mass", "mu", "nbkg_c0", "slope_c0"} == model.channel_params("c0")
    assert "width_scale" not in category_spec(categories(), mass_value=125.0)["parameters"]  # fixed widths: no parameter
