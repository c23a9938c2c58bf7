import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from colliderflow.config import ConfigError
from colliderflow.ml import data, synthetic
from colliderflow.ml.settings import model_settings


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return synthetic.write_features(tmp_path_factory.mktemp("features"), n_events=600, seed=1, mc_weight_spread=0.8)


def test_mass_and_its_twins_are_refused_as_features():
    ml = synthetic.default_config()["ml"]
    with pytest.raises(ConfigError, match="m_yy"):
        data.check_features({**ml, "features": ["y1_eta", "m_yy"]})
    with pytest.raises(ConfigError, match="ratio is the diphoton mass"):
        data.check_features({**ml, "features": ["y1_pt", "y1_pt_over_myy"]})
    assert data.check_features(ml) == ml["features"]


def test_model_settings_merge_and_refuse_foreign_keys():
    cfg = synthetic.default_config({"models": {"a": {"type": "mlp", "loss": "focal", "lr": 0.01},
                                               "b": {"type": "bdt", "loss": "bce"}}})
    settings = model_settings(cfg, "a")
    assert settings["loss"] == "focal" and settings["lr"] == 0.01
    assert settings["batch_size"] == cfg["ml"]["network"]["batch_size"]
    with pytest.raises(ConfigError, match="loss"):
        model_settings(cfg, "b")
    with pytest.raises(ConfigError, match="not defined"):
        model_settings(cfg, "nope")


def test_training_background_is_sidebands_or_mc(toy):
    cfg = synthetic.default_config()
    events = data.load_events(toy, cfg)
    frame = events.frame
    sidebands = data.background_mask(frame, cfg["ml"])
    assert set(frame["kind"][sidebands]) == {"data"}
    mass = frame["m_yy"][sidebands]
    assert not ((mass >= 120) & (mass < 130)).any()
    mc = data.background_mask(frame, {**cfg["ml"], "background": "mc"})
    assert set(frame["kind"][mc]) == {"background"}
    assert set(frame["kind"][data.signal_mask(frame, cfg["ml"])]) == {"signal"}


def test_class_balance_and_weight_signs(toy):
    cfg = synthetic.default_config()
    events = data.load_events(toy, cfg)
    assert (events.frame["weight"] < 0).any()  # the toy has negative MC weights
    for name, expect_negative in (("mlp", True), ("mlp_lovasz", False), ("bdt", False)):
        sets = data.training_sets(events, cfg["ml"], model_settings(cfg, name))
        train = sets["train"]
        signal = train.label > 0.5
        assert train.weight[signal].sum() == pytest.approx(train.weight[~signal].sum(), rel=1e-4)
        assert train.weight.mean() == pytest.approx(1.0, rel=1e-4)
        assert (train.weight < 0).any() == expect_negative
    physics = synthetic.default_config({"class_balance": "physics"})
    train = data.training_sets(events, physics["ml"], model_settings(physics, "mlp"))["train"]
    ratio = train.weight / train.events.frame["weight"].to_numpy()
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)  # one global scale


def test_object_tensor_padding_mask_and_mass_scaling(toy):
    cfg = synthetic.default_config()
    events = data.load_events(toy, cfg, with_objects=True)
    n_photon, n_jet = cfg["ml"]["objects"]["photon"], cfg["ml"]["objects"]["jet"]
    assert events.objects.shape[1:] == (sum(cfg["ml"]["objects"].values()), data.n_object_fields(cfg["ml"]))
    table = pq.read_table(toy / "data.parquet", columns=["jet_pt", "photon_pt", "m_yy"]).to_pandas()
    rows = events.frame["sample"].to_numpy() == "data"
    n_jets = table["jet_pt"].map(len).to_numpy()
    np.testing.assert_array_equal(events.mask[rows][:, n_photon:n_photon + n_jet].sum(1), np.minimum(n_jets, n_jet))
    assert np.all(events.objects[events.mask == 0] == 0)  # padding is exactly zero
    leading_photon = np.array([v[0] for v in table["photon_pt"]]) / table["m_yy"].to_numpy()
    np.testing.assert_allclose(np.exp(events.objects[rows][:, 0, 0]), leading_photon, rtol=1e-5)
    assert np.allclose(events.objects[rows][:, 0, 2:4], [1.0, 0.0], atol=1e-6)  # phi relative to leading photon


def test_missing_file_and_column_errors(toy, tmp_path):
    cfg = synthetic.default_config()
    with pytest.raises(FileNotFoundError, match="features file"):
        data.load_events(tmp_path, cfg)
    bad = synthetic.default_config({"features": ["y1_eta", "no_such_column"]})
    with pytest.raises(KeyError, match="no_such_column"):
        data.load_events(toy, bad)


def test_window_inside_fit_range():
    ml = synthetic.default_config({"mass_window": [100.0, 130.0]})["ml"]
    with pytest.raises(ConfigError, match="inside"):
        data.window_masks(np.array([125.0]), ml)


def test_process_weights_refuse_non_positive_yield():
    frame = pd.DataFrame({"process": ["a", "a"], "weight": [1.0, -2.0]})
    with pytest.raises(ValueError, match="non-positive"):
        data.process_weights(frame, 0.5)
