import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from colliderflow import cli
from colliderflow.config import ConfigError
from colliderflow.analyses.hyy import synthetic
from colliderflow.ml import compare, data, deepsets
from colliderflow.ml.apply import apply_model
from colliderflow.ml.losses import make_loss
from colliderflow.ml.network import fit, seed_everything
from colliderflow.ml.settings import model_settings
from colliderflow.ml.train import train_model

OBSERVABLE = synthetic.observable()
FAST = {"threads": 1, "network": {"epochs": 3, "patience": 5, "batch_size": 256}, "bdt": {"n_estimators": 30},
        "metrics": {"importance_events": 300, "n_thresholds": 51, "integrated_gradients": {"events": 300}}}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return synthetic.write_features(tmp_path_factory.mktemp("features"), n_events=1500, seed=2)


@pytest.fixture(scope="module")
def labelled(toy):
    """Train and validation tensors of the toy deepsets inputs, and the settings."""
    cfg = synthetic.default_config(FAST)
    settings = model_settings(cfg, "deepsets")
    events = data.load_events(toy, cfg, OBSERVABLE, with_objects=True)
    sets = data.training_sets(events, cfg["ml"], settings, OBSERVABLE, cfg["lumi_fb"])
    pack = lambda s: (*s.events.inputs(), s.label, s.weight)  # noqa: E731
    return cfg, settings, pack(sets["train"]), pack(sets["val"])


def _train(labelled, checkpoint, on_epoch_end=None, seed=5):
    cfg, settings, train, val = labelled
    seed_everything(seed, 1, torch.device("cpu"))
    model = deepsets.DeepSets(**deepsets.spec(settings, train[:3]), n_outputs=1)
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

    def kill_after_first_epoch(epoch, val_loss):
        if epoch == 0:
            raise KeyboardInterrupt("simulated kill")

    with pytest.raises(KeyboardInterrupt):
        _train(labelled, tmp_path / "ck.pt", on_epoch_end=kill_after_first_epoch)
    assert torch.load(tmp_path / "ck.pt", weights_only=False)["state"]["epoch"] == 1
    epochs_seen = []
    resumed = _train(labelled, tmp_path / "ck.pt", on_epoch_end=lambda epoch, _: epochs_seen.append(epoch), seed=5)
    assert epochs_seen == [1, 2]  # continued after the killed epoch, did not restart
    assert _same(resumed, reference)


def test_checkpoint_of_another_training_is_ignored(labelled, tmp_path):
    cfg, settings, train, val = labelled
    _train(labelled, tmp_path / "ck.pt")
    seed_everything(5, 1, torch.device("cpu"))
    model = deepsets.DeepSets(**deepsets.spec(settings, train[:3]), n_outputs=1)
    epochs = []
    fit(model, make_loss(settings), train, val, settings, device=torch.device("cpu"), seed=5,
        checkpoint=tmp_path / "ck.pt", key="other", on_epoch_end=lambda epoch, _: epochs.append(epoch))
    assert epochs == [0, 1, 2]


def test_early_stopping_keeps_the_best_epoch(labelled, tmp_path):
    cfg, settings, train, val = labelled
    settings = {**settings, "epochs": 30, "patience": 1, "lr": 0.05, "schedule": "none"}
    seed_everything(1, 1, torch.device("cpu"))
    model = deepsets.DeepSets(**deepsets.spec(settings, train[:3]), n_outputs=1)
    history = fit(model, make_loss(settings), train, val, settings, device=torch.device("cpu"), seed=1,
                  checkpoint=tmp_path / "ck.pt")
    assert history["epochs_run"] < 30
    assert history["best_val_loss"] == min(history["val_loss"])
    assert history["best_epoch"] == int(np.argmin(history["val_loss"]))


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    """Every model type trained end to end (a few epochs) into one models folder; the BDT and
    the cut-based baseline by the CLI."""
    ml = {**FAST, "enabled": ["cutbased", "bdt", "deepsets", "mlp_lovasz", "transformer"],
          "transformer": {"embed_dim": 8, "heads": 2, "layers": 1, "feedforward": 16, "head_hidden": [8]}}
    cfg = synthetic.default_config(ml)
    root = tmp_path_factory.mktemp("models")
    settings = json.dumps({"samples": synthetic.SAMPLES, "ml": ml})
    metrics = {}
    for name in ("cutbased", "bdt"):
        assert cli.main(["train", "--model", name, "--settings", settings, "--features", str(toy),
                         "--outdir", str(root / name)]) == 0
        metrics[name] = json.loads((root / name / "metrics.json").read_text())
    metrics.update({name: train_model(name, cfg, toy, root / name, OBSERVABLE)
                    for name in ("deepsets", "mlp_lovasz", "transformer")})
    return cfg, root, metrics, settings


MODEL_FILES = {"cutbased": [], "bdt": ["model.json"], "deepsets": ["model.pt", "model.onnx"],
               "mlp_lovasz": ["model.pt", "model.onnx"], "transformer": ["model.pt", "model.onnx"]}


def test_train_writes_every_output(trained):
    cfg, root, metrics, _ = trained
    common = ["history.json", "metrics.json", "loss.png", "roc.png", "scores.png", "importance.png", "zcurve.png",
              "speedup.png", "confusion.png", "roc_classes.png"]
    for name, m in metrics.items():
        # everything apply reads is in model/ (the rule's declared directory), nothing else
        assert sorted(p.name for p in (root / name / "model").iterdir()) == sorted(["model_info.json",
                                                                                  *MODEL_FILES[name]]), name
        assert sorted(p.name for p in (root / name).iterdir()) == sorted([*common, "model"]), name
    # rules train and train_repeat declare every one of these files (Snakemake tracks, cleans, moves them)
    rules = Path(__file__).parents[2] / "workflow" / "rules"
    for rule_file in ("train.smk", "repeats.smk"):
        declared = set(re.findall(r'"([a-z_]+\.(?:png|json))"', (rules / rule_file).read_text()))
        assert set(common) - {"history.json", "metrics.json"} <= declared, rule_file
        if MODEL_FILES[name][1:] == ["model.onnx"]:
            assert m["training"]["onnx_max_abs_diff"] < 1e-5, name
        saved = json.loads((root / name / "metrics.json").read_text())
        assert "provenance" in saved
        for key in ("roc_auc", "z_max", "z_curve_area", "near_max_fraction", "z_inclusive"):
            assert np.isfinite(saved[key]), (name, key)
        assert set(saved["signal_efficiency"]) == {"0.01", "0.1"}
        assert set(saved["z_at_threshold"]) == {"0.3", "0.5", "0.8", "0.95"}
        assert set(saved["observable_correlation"]) == {"data_sidebands", "background_mc"}
        assert saved["observable"] == OBSERVABLE.column and saved["window"] == list(OBSERVABLE.window)
        info = json.loads((root / name / "model" / "model_info.json").read_text())
        assert info["observable"]["column"] == OBSERVABLE.column
        if name == "cutbased":
            continue
        assert 0.5 < saved["roc_auc"] <= 1.0
        assert saved["z_max"] > saved["z_inclusive"], name  # the toy separates signal well
    # every model is evaluated on the same events: the same Z without a score cut
    assert len({round(m["z_inclusive"], 9) for m in metrics.values()}) == 1


def test_cutbased_is_scored_like_a_model_and_says_it_trains_nothing(trained):
    cfg, root, metrics, _ = trained
    m = metrics["cutbased"]
    assert m["type"] == "cutbased" and m["loss"] is None
    assert m["roc_curve"] == {"background_efficiency": [0.0, 1.0], "signal_efficiency": [0.0, 1.0]}
    assert m["z_max"] == pytest.approx(m["z_inclusive"]) and m["threshold_at_z_max"] == 0.0
    assert m["observable_correlation"] == {"data_sidebands": 0.0, "background_mc": 0.0}
    assert m["importance"]["values"] == {} and "no classifier input" in m["importance"]["kind"]
    assert m["training"]["epochs_run"] == 0 and "no training" in m["training"]["note"]
    history = json.loads((root / "cutbased" / "history.json").read_text())
    assert history["train_loss"] == [] and "no training" in history["note"]
    info = json.loads((root / "cutbased" / "model" / "model_info.json").read_text())
    assert info["inputs"] == [] and info["features"] == []


def test_apply_scores_match_training_evaluation(trained, toy, tmp_path):
    cfg, root, metrics, _ = trained
    for name in ("cutbased", "bdt", "deepsets", "transformer"):
        out = tmp_path / name / "ggH.parquet"
        apply_model([root / name / "model"], toy, "ggH", out, OBSERVABLE)
        table = pq.read_table(out).to_pandas()
        assert list(table.columns) == ["eventNumber", "sample", "process", "kind", "label", "split", "weight",
                                       OBSERVABLE.column, "score"]
        assert len(table) == 1500 and set(table["split"]) == {"train", "val", "test"}
        assert table["score"].between(0, 1).all()
        if name == "cutbased":
            assert (table["score"] == 1.0).all()
    other = dataclasses.replace(OBSERVABLE, column="m_4l")
    with pytest.raises(ValueError, match="trained with the observable"):
        apply_model([root / "bdt" / "model"], toy, "ggH", tmp_path / "x.parquet", other)


def test_compare_table_has_baseline_and_every_model(trained, toy, tmp_path):
    cfg, root, metrics, _ = trained
    table = compare.compare(root, cfg, OBSERVABLE, tmp_path / "c.md", tmp_path / "c.json", tmp_path / "plots")
    assert table[0]["model"] == "cutbased (baseline)" and table[0]["beats_baseline"] is None
    assert [r["model"] for r in table[1:]] == cfg["ml"]["enabled"][1:]
    assert table[0]["z_max"] == pytest.approx(metrics["cutbased"]["z_max"])
    assert table[0]["z@none"] == pytest.approx(metrics["deepsets"]["z_inclusive"])
    assert all(row["beats_baseline"] for row in table[1:])
    text = (tmp_path / "c.md").read_text()
    assert "cutbased (baseline)" in text and "deepsets" in text and OBSERVABLE.column in text
    assert (tmp_path / "plots" / "roc.png").is_file() and (tmp_path / "plots" / "zcurve.png").is_file()
    saved = json.loads((tmp_path / "c.json").read_text())
    assert saved["baseline"] == "cutbased" and saved["models"][0]["z_max"] == pytest.approx(table[0]["z_max"])
    # another baseline: the others are compared with its best Z
    bdt_base = synthetic.default_config({**FAST, "enabled": ["bdt", "deepsets"], "baseline": "bdt"})
    table = compare.compare(root, bdt_base, OBSERVABLE, tmp_path / "b.md", tmp_path / "b.json", tmp_path / "plots")
    assert [r["model"] for r in table] == ["bdt (baseline)", "deepsets"]
    assert table[1]["beats_baseline"] == (metrics["deepsets"]["z_max"] > metrics["bdt"]["z_max"] * (1 + 1e-6))
    with pytest.raises(ConfigError, match="not in ml.enabled"):
        compare.compare(root, synthetic.default_config({"enabled": ["bdt"]}), OBSERVABLE, tmp_path / "x.md",
                        tmp_path / "x.json", tmp_path / "plots")


def test_cli_apply_compare_and_errors(trained, toy, tmp_path, capsys):
    cfg, root, metrics, settings = trained
    assert cli.main(["apply", "--model", "bdt", "--modeldir", str(root / "bdt" / "model"), "--settings", settings, "--features",
                     str(toy), "--sample", "data", "--out", str(tmp_path / "scores.parquet")]) == 0
    assert pq.read_table(tmp_path / "scores.parquet").num_rows == 1500
    assert cli.main(["compare", "--models-dir", str(root), "--models", "bdt", "--settings", settings,
                     "--out-md", str(tmp_path / "c.md"), "--out-json", str(tmp_path / "c.json"),
                     "--plots", str(tmp_path / "plots")]) == 0
    assert [r["model"] for r in json.loads((tmp_path / "c.json").read_text())["models"]] == ["cutbased (baseline)",
                                                                                            "bdt"]
    assert cli.main(["apply", "--model", "mlp", "--modeldir", str(root / "bdt" / "model"), "--settings", settings, "--features",
                     str(toy), "--sample", "data", "--out", str(tmp_path / "x.parquet")]) == 2
    assert "holds model 'bdt'" in capsys.readouterr().err
    bad = json.dumps({"samples": synthetic.SAMPLES, "ml": {"features": [OBSERVABLE.column]}})
    assert cli.main(["train", "--model", "bdt", "--settings", bad, "--features", str(toy),
                     "--outdir", str(tmp_path / "m")]) == 2
    assert "never a classifier input" in capsys.readouterr().err


def test_same_seed_gives_byte_identical_files(toy, tmp_path):
    """Content files hold no timings, and model.pt names no temporary file: two trainings
    with the same seed write the same bytes."""
    cfg = synthetic.default_config({**FAST, "network": {**FAST["network"], "epochs": 2}})
    for name in ("mlp", "bdt"):
        for run in ("a", "b"):
            train_model(name, cfg, toy, tmp_path / run / name, OBSERVABLE)
        model_file = "model.pt" if name == "mlp" else "model.json"
        for path in ("history.json", "metrics.json", f"model/{model_file}", "model/model_info.json"):
            first, second = ((tmp_path / run / name / path).read_bytes() for run in ("a", "b"))
            assert first == second, f"{name}: {path} differs between two runs with the same seed"
        history = json.loads((tmp_path / "a" / name / "history.json").read_text())
        assert not any("second" in key for key in history), sorted(history)


def test_multiclass_bdt_metrics_scores_and_comparison(trained, toy, tmp_path):
    """A multiclass BDT (xgboost multi:softprob) end to end: per-class metrics, the scores
    Parquet's score = 1 - P(background) and score_<class>, the comparison's class columns."""
    cfg, root, metrics, _ = trained
    ml = {**FAST, "classes": {"ggH": ["ggH"], "VBF": ["VBF"]}, "enabled": ["cutbased", "bdt", "bdt_mc"],
          "models": {"cutbased": {"type": "cutbased"}, "bdt": {"type": "bdt"},
                     "bdt_mc": {"type": "bdt", "multiclass": True}}}
    cfg = synthetic.default_config(ml)
    m = train_model("bdt_mc", cfg, toy, root / "bdt_mc", OBSERVABLE)
    per_class = m["classes"]
    assert per_class["names"] == ["background", "VBF", "ggH"]
    assert np.array(per_class["confusion"]["counts"]).shape == (3, 3)
    assert set(per_class["roc_auc"]) == set(per_class["f1"]) == {"background", "ggH", "VBF"}
    assert per_class["roc_auc"]["VBF"] > 0.7 and 0.5 < m["roc_auc"] <= 1.0  # the toy's VBF has many forward jets
    assert per_class["roc_auc"]["background"] == pytest.approx(m["roc_auc"])  # 1 - P(bkg) is the binary score
    assert json.loads((root / "bdt_mc" / "history.json").read_text())["loss"] == "mlogloss (xgboost)"
    out = tmp_path / "VBF.parquet"
    apply_model([root / "bdt_mc" / "model"], toy, "VBF", out, OBSERVABLE)
    table = pq.read_table(out).to_pandas()
    assert list(table.columns)[-4:] == ["score", "score_background", "score_VBF", "score_ggH"]
    np.testing.assert_allclose(table[["score_background", "score_ggH", "score_VBF"]].sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(table["score"], 1.0 - table["score_background"], atol=1e-6)
    rows = compare.compare(root, cfg, OBSERVABLE, tmp_path / "c.md", tmp_path / "c.json", tmp_path / "plots")
    assert rows[2]["auc_VBF"] == pytest.approx(per_class["roc_auc"]["VBF"]) and rows[1]["auc_VBF"] is None
    text = (tmp_path / "c.md").read_text()
    assert "## Confusion matrix of bdt_mc" in text and "| true \\ predicted | background | VBF | ggH |" in text


def test_repeated_trainings_by_the_cli_and_their_table_in_the_comparison(trained, toy, tmp_path, capsys):
    """Trainings with other seeds and with a reduced train split (what rule train_repeat runs),
    aggregated and shown by compare as mean +- std; the evaluation is the same."""
    cfg, root, _, settings = trained

    def train(out, *options):
        return cli.main(["train", "--model", "bdt", "--settings", settings, "--features", str(toy),
                         "--outdir", str(tmp_path / out), *options])

    assert train("seed3", "--seed", "3") == 0 and train("seed4", "--seed", "4") == 0
    assert train("bkg50", "--seed", "3", "--training-fraction", "background=0.5") == 0
    full, reduced = (json.loads((tmp_path / out / "metrics.json").read_text()) for out in ("seed3", "bkg50"))
    assert (full["seed"], full["training_fractions"]) == (3, {})
    assert reduced["training_fractions"] == {"background": 0.5}
    assert reduced["training"]["training_events"] < full["training"]["training_events"]
    assert reduced["z_inclusive"] == full["z_inclusive"]  # the same test events and yields
    summary = tmp_path / "bdt.json"
    assert cli.main(["aggregate-repeats", "--scenario", "full", str(tmp_path / "seed3" / "metrics.json"),
                     str(tmp_path / "seed4" / "metrics.json"), "--out", str(summary)]) == 0
    compare.compare(root, cfg, OBSERVABLE, tmp_path / "c.md", tmp_path / "c.json", tmp_path / "plots",
                    repeated=[summary])
    text = (tmp_path / "c.md").read_text()
    assert "## Repeated trainings" in text and " +- " in text.split("| bdt | full | ")[1].split("\n")[0]
    assert json.loads((tmp_path / "c.json").read_text())["repeats"][0]["scenarios"]["full"]["seeds"] == [3, 4]
    assert train("x", "--training-fraction", "bkg=0.1") == 2
    assert "training fractions {'bkg': 0.1}" in capsys.readouterr().err


def test_the_comparison_shows_the_training_times_from_snakemakes_benchmarks(trained, tmp_path):
    """Rule train's benchmark files give the time columns: a plain training's file, the folds of a
    cross-trained model summed, each file's repeats averaged; a model without a file shows none."""
    cfg, root, _, _ = trained
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    files = {"train/bdt.tsv": ["12.5\t0:00:12\t1\t1\t1\t1\t0\t0\t90\t11.0"],
             "train/deepsets/fold0.tsv": ["30.0\t0:00:30\t1\t1\t1\t1\t0\t0\t90\t20.0",
                                          "34.0\t0:00:34\t1\t1\t1\t1\t0\t0\t90\t22.0"],
             "train/deepsets/fold1.tsv": ["8.0\t0:00:08\t1\t1\t1\t1\t0\t0\t90\t7.0"]}
    for name, rows in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(header + "\n".join(rows) + "\n")
    table = compare.compare(root, cfg, OBSERVABLE, tmp_path / "c.md", tmp_path / "c.json", tmp_path / "plots",
                            train_benchmarks=[tmp_path / name for name in files])
    times = {row["model"]: (row["train_s"], row["train_cpu_s"]) for row in table}
    assert times["bdt"] == (12.5, 11.0)
    assert times["deepsets"] == (32.0 + 8.0, 21.0 + 7.0)
    assert times["cutbased (baseline)"] == (None, None)
    assert "train_cpu_s" in (tmp_path / "c.md").read_text()
    (tmp_path / "bad.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="bad.tsv is not a Snakemake benchmark file"):
        compare.training_times([tmp_path / "bad.tsv"])


def test_a_torch_model_without_its_onnx_export_is_refused_by_name(trained, tmp_path):
    """A torch kind is scored through model.onnx (it has no ``load``): a model folder that lost
    the file fails naming it, not with an AttributeError."""
    import shutil

    from colliderflow.ml.apply import ONNX_FILE, load_predictor

    _, root, _, _ = trained
    broken = tmp_path / "model"
    shutil.copytree(root / "deepsets" / "model", broken)
    assert load_predictor(broken).info["type"] == "deepsets"
    (broken / ONNX_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=r"model\.onnx missing: model kind 'deepsets' is scored through"):
        load_predictor(broken)
