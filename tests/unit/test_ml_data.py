import dataclasses

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from colliderflow import analyses
from colliderflow.config import ConfigError
from colliderflow.analyses.hyy import synthetic
from colliderflow.ml import data
from colliderflow.ml.settings import baseline, model_settings

OBSERVABLE = synthetic.observable()
LUMI = synthetic.default_config()["lumi_fb"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return synthetic.write_features(tmp_path_factory.mktemp("features"), n_events=600, seed=1, mc_weight_spread=0.8)


def test_observable_and_its_twins_are_refused_as_features():
    ml = synthetic.default_config()["ml"]
    column = analyses.get("hyy").observable_column
    assert OBSERVABLE.column == column
    with pytest.raises(ConfigError, match=f"observable '{column}'"):
        data.check_features({**ml, "features": ["y1_eta", column]}, OBSERVABLE)
    with pytest.raises(ConfigError, match="ratio is the observable"):
        data.check_features({**ml, "features": ["y1_pt", "y1_pt_over_myy"]}, OBSERVABLE)
    assert data.check_features(ml, OBSERVABLE) == ml["features"]
    # an analysis with no observable-scaled columns (empty suffix) has no twins to refuse
    assert data.check_features({**ml, "mass_ratio_suffix": "", "features": ["y1_pt", "y1_eta"]},
                               OBSERVABLE) == ["y1_pt", "y1_eta"]
    # the column refused is the observable's, whatever the analysis calls it
    other = dataclasses.replace(OBSERVABLE, column="m_4l")
    with pytest.raises(ConfigError, match="'m_4l'"):
        data.check_features({**ml, "features": ["m_4l"]}, other)
    assert data.check_features({**ml, "features": [column]}, other) == [column]


def test_model_settings_merge_and_refuse_foreign_keys():
    cfg = synthetic.default_config({"models": {"a": {"type": "mlp", "loss": "focal", "lr": 0.01, "hidden": [7]}},
                                    "mlp": {"activation": "elu"}})
    settings = model_settings(cfg, "a")
    assert settings["loss"] == "focal" and settings["lr"] == 0.01 and settings["hidden"] == [7]
    assert settings["batch_size"] == cfg["ml"]["network"]["batch_size"]  # the shared section ml.network
    assert settings["activation"] == "elu"  # the kind's own section ml.mlp
    # a key of a section the kind does not read is refused by the schema, naming the entry
    with pytest.raises(ConfigError, match=r"ml.models.b: .*'loss' was unexpected"):
        synthetic.default_config({"models": {"b": {"type": "bdt", "loss": "bce"}}})
    with pytest.raises(ConfigError, match=r"ml.models.b: .*'hidden' was unexpected"):
        synthetic.default_config({"models": {"b": {"type": "deepsets", "hidden": [8]}}})
    with pytest.raises(ConfigError, match=r"ml.models.b.type: 'boosted' is not one of \['bdt', 'cnn', 'cutbased'"):
        synthetic.default_config({"models": {"b": {"type": "boosted"}}})
    with pytest.raises(ConfigError, match="not defined"):
        model_settings(cfg, "nope")


def test_seed_and_class_balance_per_model(toy):
    cfg = synthetic.default_config({"seed": 3, "models": {
        "own": {"type": "mlp", "seed": 7, "class_balance": "physics"}, "shared": {"type": "bdt"}}})
    own, shared = model_settings(cfg, "own"), model_settings(cfg, "shared")
    assert (own["seed"], own["class_balance"]) == (7, "physics")
    assert (shared["seed"], shared["class_balance"]) == (3, "equal")  # ml.seed, ml.class_balance
    events = data.load_events(toy, cfg, OBSERVABLE)
    train = data.training_sets(events, cfg["ml"], own, OBSERVABLE, LUMI)["train"]
    ratio = train.weight / train.events.frame["weight"].to_numpy()
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)  # physics balance for this model only
    with pytest.raises(ConfigError, match=r"ml.models.own.seed: -1 is less than the minimum"):
        synthetic.default_config({"models": {"own": {"type": "mlp", "seed": -1}}})


def test_cutbased_is_a_model_kind_and_the_default_baseline():
    cfg = synthetic.default_config()
    ml = cfg["ml"]
    assert ml["baseline"] == "cutbased" and ml["enabled"][0] == "cutbased"
    assert ml["models"]["cutbased"] == {"type": "cutbased", "multiclass": False}
    assert model_settings(cfg, "cutbased") == {"type": "cutbased", "multiclass": False, "name": "cutbased",
                                               "seed": ml["seed"], "class_balance": ml["class_balance"]}
    assert baseline(ml) == "cutbased"
    with pytest.raises(ConfigError, match="ml.baseline is 'cutbased', which is not in ml.enabled"):
        baseline(synthetic.default_config({"enabled": ["bdt"]})["ml"])
    assert baseline(synthetic.default_config({"enabled": ["bdt"], "baseline": "bdt"})["ml"]) == "bdt"
    with pytest.raises(ConfigError, match=r"ml.models.cuts: .*'lr' was unexpected"):
        synthetic.default_config({"models": {"cuts": {"type": "cutbased", "lr": 0.1}}})


def test_training_background_is_sidebands_or_mc(toy):
    cfg = synthetic.default_config()
    events = data.load_events(toy, cfg, OBSERVABLE)
    frame = events.frame
    sidebands = data.background_mask(frame, cfg["ml"], OBSERVABLE)
    assert set(frame["kind"][sidebands]) == {"data"}
    values = frame[OBSERVABLE.column][sidebands]
    assert not ((values >= 120) & (values < 130)).any()
    mc = data.background_mask(frame, {**cfg["ml"], "background": "mc"}, OBSERVABLE)
    assert set(frame["kind"][mc]) == {"background"}
    assert set(frame["kind"][data.signal_mask(frame, OBSERVABLE)]) == {"signal"}


def test_masks_follow_the_observable_range_and_window():
    """Signal = signal MC in [lo, hi); sidebands = data in the range outside [wlo, whi); half-open."""
    observable = dataclasses.replace(OBSERVABLE, column="x", range=(10.0, 50.0), window=(20.0, 30.0))
    x = np.array([9.99, 10.0, 19.99, 20.0, 25.0, 29.99, 30.0, 49.99, 50.0])
    inside = [False, True, True, True, True, True, True, True, False]
    window = [False, False, False, True, True, True, False, False, False]
    n = len(x)
    frame = pd.DataFrame({"x": np.tile(x, 3), "kind": np.repeat(["signal", "data", "background"], n)})
    in_window, sidebands = data.window_masks(x, observable)
    np.testing.assert_array_equal(in_window, window)
    np.testing.assert_array_equal(sidebands, np.array(inside) & ~np.array(window))
    np.testing.assert_array_equal(data.signal_mask(frame, observable), np.r_[inside, [False] * 2 * n])
    sideband_data = data.background_mask(frame, {"background": "sidebands"}, observable)
    np.testing.assert_array_equal(sideband_data, np.r_[[False] * n, sidebands, [False] * n])
    mc = data.background_mask(frame, {"background": "mc"}, observable)
    np.testing.assert_array_equal(mc, np.r_[[False] * 2 * n, inside])


def test_class_balance_and_weight_signs(toy):
    cfg = synthetic.default_config()
    events = data.load_events(toy, cfg, OBSERVABLE)
    assert (events.frame["weight"] < 0).any()  # the toy has negative MC weights
    for name, expect_negative in (("mlp", True), ("mlp_lovasz", False), ("bdt", False), ("mlp_weighted", False)):
        sets = data.training_sets(events, cfg["ml"], model_settings(cfg, name), OBSERVABLE, LUMI)
        train = sets["train"]
        signal = train.label > 0.5
        assert train.weight[signal].sum() == pytest.approx(train.weight[~signal].sum(), rel=1e-4)
        assert train.weight.mean() == pytest.approx(1.0, rel=1e-4)
        assert (train.weight < 0).any() == expect_negative
        if name == "mlp_weighted":  # one weight per process and class
            per_process = pd.Series(train.weight).groupby([train.events.frame["process"], train.label]).nunique()
            assert (per_process == 1).all()
    physics = synthetic.default_config({"class_balance": "physics"})
    train = data.training_sets(events, physics["ml"], model_settings(physics, "mlp"), OBSERVABLE, LUMI)["train"]
    ratio = train.weight / train.events.frame["weight"].to_numpy()
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)  # one global scale


def test_object_tensor_padding_mask_and_observable_scaling(toy):
    cfg = synthetic.default_config()
    events = data.load_events(toy, cfg, OBSERVABLE, with_objects=True)
    n_photon, n_jet = cfg["ml"]["objects"]["photon"], cfg["ml"]["objects"]["jet"]
    assert events.objects.shape[1:] == (sum(cfg["ml"]["objects"].values()), data.n_object_fields(cfg["ml"]))
    table = pq.read_table(toy / "data.parquet", columns=["jet_pt", "photon_pt", OBSERVABLE.column]).to_pandas()
    rows = events.frame["sample"].to_numpy() == "data"
    n_jets = table["jet_pt"].map(len).to_numpy()
    np.testing.assert_array_equal(events.mask[rows][:, n_photon:n_photon + n_jet].sum(1), np.minimum(n_jets, n_jet))
    assert np.all(events.objects[events.mask == 0] == 0)  # padding is exactly zero
    leading_photon = np.array([v[0] for v in table["photon_pt"]]) / table[OBSERVABLE.column].to_numpy()
    np.testing.assert_allclose(np.exp(events.objects[rows][:, 0, 0]), leading_photon, rtol=1e-5)
    assert np.allclose(events.objects[rows][:, 0, 2:4], [1.0, 0.0], atol=1e-6)  # phi relative to leading photon


def test_missing_file_and_column_errors(toy, tmp_path):
    cfg = synthetic.default_config()
    with pytest.raises(FileNotFoundError, match="features file"):
        data.load_events(tmp_path, cfg, OBSERVABLE)
    bad = synthetic.default_config({"features": ["y1_eta", "no_such_column"]})
    with pytest.raises(KeyError, match="no_such_column"):
        data.load_events(toy, bad, OBSERVABLE)


def test_window_inside_the_range():
    # the config refuses it (config.relation_errors), and so does the ML stage given such an observable
    with pytest.raises(ConfigError, match="observable.window .* inside observable.range"):
        synthetic.default_config(observable={"range": [105.0, 160.0], "window": [100.0, 130.0]})
    observable = dataclasses.replace(synthetic.observable(synthetic.default_config()), window=(100.0, 130.0))
    with pytest.raises(ConfigError, match="observable.window .* inside observable.range"):
        data.window_masks(np.array([125.0]), observable)


CLASSES = {"ggH": ["ggH"], "VBF": ["VBF"]}


def test_multiclass_targets_and_class_balance(toy):
    cfg = synthetic.default_config({"classes": CLASSES, "models": {"m": {"type": "mlp", "multiclass": True}}})
    events = data.load_events(toy, cfg, OBSERVABLE)
    train = data.training_sets(events, cfg["ml"], model_settings(cfg, "m"), OBSERVABLE, LUMI)["train"]
    process = train.events.frame["process"].to_numpy()
    # background first, then the classes sorted by name, whatever the order in the config
    expected = np.select([train.label < 0.5, process == "VBF", process == "ggH"], [0, 1, 2], -1)
    np.testing.assert_array_equal(train.target, expected)
    assert train.target.dtype == np.int64
    totals = np.bincount(train.target, weights=train.weight)
    np.testing.assert_allclose(totals, totals[0], rtol=1e-4)  # ml.class_balance equal: every class the same
    assert train.weight.mean() == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize("ml, message", [
    ({"classes": CLASSES, "models": {"m": {"type": "cutbased", "multiclass": True}}},
     "ml.models.m.multiclass is true, but kind cutbased"),
    ({"classes": CLASSES, "models": {"m": {"type": "mlp", "multiclass": True, "loss": "lovasz"}}},
     "ml.models.m: loss lovasz"),
    ({"classes": {"ggH": ["ggH", "VBF"]}, "models": {"m": {"type": "bdt", "multiclass": True}}},
     "ml.classes has 1 class"),
    ({"classes": {"ggH": ["ggH", "VBF"], "VBF": ["VBF"]}, "models": {"m": {"type": "bdt", "multiclass": True}}},
     "VBF is in more than one class"),
    ({"classes": {"ggH": ["ggH"], "ttH": ["ttH"]}, "models": {"m": {"type": "bdt", "multiclass": True}}},
     "ttH is not the process of a signal sample; signal process VBF is in no class"),
])
def test_multiclass_config_errors_name_the_key(ml, message):
    cfg = synthetic.default_config(ml)
    with pytest.raises(ConfigError, match=message):
        model_settings(cfg, "m")


def test_background_is_not_a_class_name():
    with pytest.raises(ConfigError, match="ml.classes"):
        synthetic.default_config({"classes": {"background": ["ggH"], "VBF": ["VBF"]}})
