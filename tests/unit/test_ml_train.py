import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from colliderflow import cli
from colliderflow.ml import compare, data, models, synthetic
from colliderflow.ml.apply import apply_model
from colliderflow.ml.losses import make_loss
from colliderflow.ml.settings import model_settings
from colliderflow.ml.train import fit, seed_everything, train_model

FAST = {"threads": 1, "network": {"epochs": 3, "patience": 5, "batch_size": 256}, "bdt": {"n_estimators": 30},
        "metrics": {"importance_events": 300, "n_thresholds": 51}}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return synthetic.write_features(tmp_path_factory.mktemp("features"), n_events=1500, seed=2)


@pytest.fixture(scope="module")
def labelled(toy):
    """Train and validation tensors of the toy deepsets inputs, and the settings."""
    cfg = synthetic.default_config(FAST)
    settings = model_settings(cfg, "deepsets")
    sets = data.training_sets(data.load_events(toy, cfg, with_objects=True), cfg["ml"], settings)
    pack = lambda s: (*s.events.inputs(), s.label, s.weight)  # noqa: E731
    return cfg, settings, pack(sets["train"]), pack(sets["val"])


def _train(labelled, checkpoint, on_epoch_end=None, seed=5):
    cfg, settings, train, val = labelled
    seed_everything(seed, 1, torch.device("cpu"))
    model = models.build(models.make_spec(settings, train[:3]))
    fit(model, make_loss(settings), train, val, settings, device=torch.device("cpu"), seed=seed,
        checkpoint=checkpoint, key="k", on_epoch_end=on_epoch_end)
    return model.state_dict()


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_gives_the_same_model(labelled, tmp_path):
    first = _train(labelled, tmp_path / "a.pt")
    second = _train(labelled, tmp_path / "b.pt")
    other = _train(labelled, tmp_path / "c.pt", seed=6)
    assert _same(first, second)
    assert not _same(first, other)


def test_killed_training_resumes_to_the_same_model(labelled, tmp_path):
    reference = _train(labelled, tmp_path / "ref.pt")

    def kill_after_first_epoch(epoch):
        if epoch == 0:
            raise KeyboardInterrupt("simulated kill")

    with pytest.raises(KeyboardInterrupt):
        _train(labelled, tmp_path / "ck.pt", on_epoch_end=kill_after_first_epoch)
    assert torch.load(tmp_path / "ck.pt", weights_only=False)["state"]["epoch"] == 1
    epochs_seen = []
    resumed = _train(labelled, tmp_path / "ck.pt", on_epoch_end=epochs_seen.append, seed=5)
    assert epochs_seen == [1, 2]  # continued after the killed epoch, did not restart
    assert _same(resumed, reference)


def test_checkpoint_of_another_training_is_ignored(labelled, tmp_path):
    cfg, settings, train, val = labelled
    _train(labelled, tmp_path / "ck.pt")
    seed_everything(5, 1, torch.device("cpu"))
    model = models.build(models.make_spec(settings, train[:3]))
    epochs = []
    fit(model, make_loss(settings), train, val, settings, device=torch.device("cpu"), seed=5,
        checkpoint=tmp_path / "ck.pt", key="other", on_epoch_end=epochs.append)
    assert epochs == [0, 1, 2]


def test_early_stopping_keeps_the_best_epoch(labelled, tmp_path):
    cfg, settings, train, val = labelled
    settings = {**settings, "epochs": 30, "patience": 1, "lr": 0.05, "schedule": "none"}
    seed_everything(1, 1, torch.device("cpu"))
    model = models.build(models.make_spec(settings, train[:3]))
    history = fit(model, make_loss(settings), train, val, settings, device=torch.device("cpu"), seed=1,
                  checkpoint=tmp_path / "ck.pt")
    assert history["epochs_run"] < 30
    assert history["best_val_loss"] == min(history["val_loss"])
    assert history["best_epoch"] == int(np.argmin(history["val_loss"]))


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    """Every model type trained end to end (a few epochs) into one models folder; the BDT by the CLI."""
    ml = {**FAST, "enabled": ["bdt", "deepsets", "mlp_lovasz"]}
    cfg = synthetic.default_config(ml)
    root = tmp_path_factory.mktemp("models")
    settings = json.dumps({"samples": synthetic.SAMPLES, "ml": ml})
    assert cli.main(["train", "--model", "bdt", "--settings", settings, "--features", str(toy),
                     "--outdir", str(root / "bdt")]) == 0
    metrics = {"bdt": json.loads((root / "bdt" / "metrics.json").read_text())}
    metrics.update({name: train_model(name, cfg, toy, root / name) for name in ("deepsets", "mlp_lovasz")})
    return cfg, root, metrics, settings


def test_train_writes_every_output(trained):
    cfg, root, metrics, _ = trained
    common = ["history.json", "metrics.json", "model_info.json", "loss.png", "roc.png", "scores.png",
              "importance.png", "zcurve.png"]
    for name, m in metrics.items():
        files = common + (["model.json"] if name == "bdt" else ["model.pt", "model.onnx"])
        assert all((root / name / f).is_file() for f in files), name
        assert not (root / name / "checkpoint.pt").exists()
        saved = json.loads((root / name / "metrics.json").read_text())
        assert "provenance" in saved
        for key in ("roc_auc", "z_max", "z_curve_area", "near_max_fraction", "z_inclusive"):
            assert np.isfinite(saved[key]), (name, key)
        assert set(saved["signal_efficiency"]) == {"0.01", "0.1"}
        assert set(saved["z_at_threshold"]) == {"0.3", "0.5", "0.8", "0.95"}
        assert set(saved["mass_correlation"]) == {"data_sidebands", "background_mc"}
        assert 0.5 < saved["roc_auc"] <= 1.0
        assert saved["z_max"] > saved["z_inclusive"], name  # the toy separates signal well


def test_apply_scores_match_training_evaluation(trained, toy, tmp_path):
    cfg, root, metrics, _ = trained
    for name in ("bdt", "deepsets"):
        out = tmp_path / name / "ggH.parquet"
        apply_model(root / name, toy, "ggH", out)
        table = pq.read_table(out).to_pandas()
        assert list(table.columns) == ["eventNumber", "sample", "process", "kind", "label", "split", "weight",
                                       "m_yy", "score"]
        assert len(table) == 1500 and set(table["split"]) == {"train", "val", "test"}
        assert table["score"].between(0, 1).all()


def test_compare_table_has_baseline_and_every_model(trained, toy, tmp_path):
    cfg, root, metrics, _ = trained
    table = compare.compare(root, toy, cfg, tmp_path / "c.md", tmp_path / "c.json", tmp_path / "plots")
    assert table[0]["model"].startswith("cut-based") and [r["model"] for r in table[1:]] == cfg["ml"]["enabled"]
    assert table[0]["z@none"] == pytest.approx(metrics["deepsets"]["z_inclusive"])
    assert all(row["beats_baseline"] for row in table[1:])
    text = (tmp_path / "c.md").read_text()
    assert "cut-based (inclusive)" in text and "deepsets" in text
    assert (tmp_path / "plots" / "roc.png").is_file() and (tmp_path / "plots" / "zcurve.png").is_file()
    assert json.loads((tmp_path / "c.json").read_text())["baseline"]["z_inclusive"] == pytest.approx(table[0]["z_max"])


def test_cli_apply_compare_and_errors(trained, toy, tmp_path, capsys):
    cfg, root, metrics, settings = trained
    assert cli.main(["apply", "--model", "bdt", "--modeldir", str(root / "bdt"), "--settings", settings, "--features",
                     str(toy), "--sample", "data", "--out", str(tmp_path / "scores.parquet")]) == 0
    assert pq.read_table(tmp_path / "scores.parquet").num_rows == 1500
    assert cli.main(["compare", "--models-dir", str(root), "--models", "bdt", "--settings", settings, "--features",
                     str(toy), "--out-md", str(tmp_path / "c.md"), "--out-json", str(tmp_path / "c.json"),
                     "--plots", str(tmp_path / "plots")]) == 0
    assert cli.main(["apply", "--model", "mlp", "--modeldir", str(root / "bdt"), "--settings", settings, "--features",
                     str(toy), "--sample", "data", "--out", str(tmp_path / "x.parquet")]) == 2
    assert "holds model 'bdt'" in capsys.readouterr().err
    bad = json.dumps({"samples": synthetic.SAMPLES, "ml": {"features": ["m_yy"]}})
    assert cli.main(["train", "--model", "bdt", "--settings", bad, "--features", str(toy),
                     "--outdir", str(tmp_path / "m")]) == 2
    assert "never a classifier input" in capsys.readouterr().err
