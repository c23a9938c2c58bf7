"""The hyper-parameter search (colliderflow.ml.tune): its config is checked against the model's
kind, a study resumes after a kill and runs only the trials it lacks, the pruner stops trials
on the kinds' per-step validation loss, and train takes the best values."""

from __future__ import annotations

import json

import optuna
import pytest

from colliderflow import cli
from colliderflow.analyses.hyy import synthetic
from colliderflow.config import ConfigError
from colliderflow.ml import bdt, kinds, network, train, tune
from colliderflow.ml.settings import model_settings

OBSERVABLE = synthetic.observable()
FAST = {"threads": 1, "bdt": {"n_estimators": 15}, "network": {"epochs": 3, "batch_size": 256}}
BDT_SPACE = {"learning_rate": {"low": 0.02, "high": 0.3, "log": True}, "max_depth": {"low": 2, "high": 6}}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return synthetic.write_features(tmp_path_factory.mktemp("features"), n_events=800, seed=3)


def _cfg(entry: dict, ml: dict | None = None) -> dict:
    return synthetic.default_config({**FAST, **(ml or {}), "enabled": ["cutbased", "m"],
                                     "models": {"cutbased": {"type": "cutbased"}, "m": entry}})


def _study(outdir) -> optuna.Study:
    (summary,) = optuna.get_all_study_summaries(tune.study_storage(outdir))
    return optuna.load_study(study_name=summary.study_name, storage=tune.study_storage(outdir))


def test_the_space_is_checked_against_the_kind():
    cfg = _cfg({"type": "mlp", "tune": {"trials": 2, "space": {
        "lr": {"low": 1e-4, "high": 1e-2, "log": True}, "hidden": {"choices": [[8], [16, 16]]},
        "activation": {"choices": ["relu", "silu"]}}}})
    assert cfg["ml"]["models"]["m"]["tune"]["startup_trials"] == 5  # defaults filled
    refused = [
        ({"type": "bdt", "tune": {"trials": 2, "space": {"lr": {"low": 0.1, "high": 0.2}}}},
         r"ml.models.m.tune.space: 'lr' is not one of \['n_estimators', 'max_depth'"),
        ({"type": "cutbased", "tune": {"trials": 2, "space": {"max_depth": {"low": 2, "high": 4}}}},
         r"ml.models.m.tune.space: 'max_depth' is not one of \[\]"),
        ({"type": "bdt", "tune": {"trials": 2, "space": {"max_depth": {"low": 2.5, "high": 6}}}},
         r"ml.models.m.tune.space.max_depth.low: 2.5 is not of type 'integer'"),
        ({"type": "mlp", "tune": {"trials": 2, "space": {"activation": {"choices": ["relu", "tanh"]}}}},
         r"ml.models.m.tune.space.activation.choices.1: 'tanh' is not one of"),
        ({"type": "mlp", "tune": {"trials": 2, "space": {"hidden": {"low": 8, "high": 16}}}},
         r"ml.models.m.tune.space.hidden: Additional properties are not allowed"),
        ({"type": "bdt", "tune": {"trials": 2, "space": {"max_depth": {"low": 6, "high": 2}}}},
         r"ml.models.m.tune.space.max_depth \(low, high\): \[6, 2\] is not an interval"),
        ({"type": "mlp", "tune": {"trials": 2, "space": {"weight_decay": {"low": 0, "high": 0.1, "log": True}}}},
         r"ml.models.m.tune.space.weight_decay: log: true needs low > 0"),
        ({"type": "bdt", "tune": {"trials": 2, "space": {"max_depth": {"low": 2, "choices": [3]}}}},
         r"ml.models.m.tune.space.max_depth: give low and high \(and log\) for a range, or choices"),
        ({"type": "bdt", "tune": {"space": BDT_SPACE}}, r"ml.models.m.tune: 'trials' is a required property"),
    ]
    for entry, message in refused:
        with pytest.raises(ConfigError, match=message):
            _cfg(entry)


def test_a_model_without_tune_section_or_with_the_loss_in_its_space_is_refused(toy, tmp_path):
    with pytest.raises(ConfigError, match="ml.models.m has no tune section"):
        tune.tune_model("m", _cfg({"type": "bdt"}), toy, tmp_path, OBSERVABLE)
    losses = {"type": "mlp", "tune": {"trials": 2, "space": {"loss": {"choices": ["bce", "focal"]}}}}
    with pytest.raises(ConfigError, match=r"ml.models.m.tune.space: loss change\(s\) the loss"):
        tune.tune_model("m", _cfg(losses), toy, tmp_path, OBSERVABLE)


def test_the_loss_settings_kept_out_of_a_space_are_the_network_settings_of_the_loss():
    from colliderflow import config

    network_keys = config.load_schema("hyy")["properties"]["ml"]["properties"]["network"]["properties"]
    assert set(tune.LOSS_SETTINGS) <= set(network_keys)
    assert {key for key in network_keys if key.startswith(("loss", "lovasz", "focal", "process_weight"))} \
        <= set(tune.LOSS_SETTINGS)


def test_the_study_resumes_after_a_kill_and_runs_only_the_missing_trials(toy, tmp_path, monkeypatch):
    trained = []
    real_train = bdt.train

    def counted(*args, **kwargs):
        trained.append(args[0]["max_depth"])
        return real_train(*args, **kwargs)

    monkeypatch.setattr(kinds.load("bdt"), "train", counted)
    entry = {"type": "bdt", "tune": {"trials": 2, "space": BDT_SPACE}}
    first = tune.tune_model("m", _cfg(entry), toy, tmp_path, OBSERVABLE)
    assert len(trained) == 2 and first["trials"] == {"complete": 2, "pruned": 0, "fail": 0}
    # the first trial trains with the configured values
    assert first["configured"]["parameters"] == {"learning_rate": 0.1, "max_depth": 5} and trained[0] == 5

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("simulated kill")

    entry["tune"]["trials"] = 5
    monkeypatch.setattr(kinds.load("bdt"), "train", killed)
    with pytest.raises(KeyboardInterrupt):
        tune.tune_model("m", _cfg(entry), toy, tmp_path, OBSERVABLE)
    _study(tmp_path).ask()  # a SIGKILL leaves its trial running in the study
    monkeypatch.setattr(kinds.load("bdt"), "train", counted)
    trained.clear()
    resumed = tune.tune_model("m", _cfg(entry), toy, tmp_path, OBSERVABLE)
    assert len(trained) == 3  # 5 asked, 2 held
    assert resumed["trials"] == {"complete": 5, "pruned": 0, "fail": 2}  # the interrupted and the killed trial
    assert resumed["value"] <= resumed["configured"]["value"] == first["configured"]["value"]
    assert set(resumed["parameters"]) == {"learning_rate", "max_depth"}
    assert json.loads((tmp_path / tune.BEST_FILE).read_text())["parameters"] == resumed["parameters"]
    trained.clear()
    again = tune.tune_model("m", _cfg(entry), toy, tmp_path, OBSERVABLE)
    assert not trained and again["value"] == resumed["value"]
    # another space is another study (its trials are not comparable) in the same file
    entry["tune"]["space"] = {"max_depth": {"low": 2, "high": 3}}
    entry["tune"]["trials"] = 1
    tune.tune_model("m", _cfg(entry), toy, tmp_path, OBSERVABLE)
    assert len(trained) == 1
    assert len(optuna.get_all_study_summaries(tune.study_storage(tmp_path))) == 2


@pytest.mark.parametrize("kind, space", [
    ("bdt", {"learning_rate": {"low": 1e-4, "high": 0.1, "log": True}}),
    ("mlp", {"lr": {"low": 1e-6, "high": 0.002, "log": True}, "hidden": {"choices": [[64, 64], [4]]}}),
])
def test_trials_worse_than_the_median_at_a_step_are_pruned(toy, tmp_path, monkeypatch, kind, space):
    """The configured values (learning rate 0.1, lr 0.002) learn fastest: with one startup trial
    and no warm-up, every later trial, slower from its first step, is pruned there."""
    monkeypatch.setattr(network, "export_checked", lambda *args: 0.0)  # seconds per trial, not checked here
    entry = {"type": kind, "tune": {"trials": 3, "startup_trials": 1, "warmup_steps": 0, "space": space}}
    best = tune.tune_model("m", _cfg(entry), toy, tmp_path, OBSERVABLE)
    assert best["trials"] == {"complete": 1, "pruned": 2, "fail": 0} and best["trial"] == 0
    pruned = _study(tmp_path).get_trials(states=(optuna.trial.TrialState.PRUNED,))
    assert all(list(trial.intermediate_values) == [0] for trial in pruned)  # stopped at its first step
    if kind == "mlp":
        assert best["parameters"]["hidden"] == [64, 64]  # a list, through its JSON text


def test_train_takes_the_best_values(toy, tmp_path, monkeypatch, capsys):
    trained = {}
    monkeypatch.setattr(train, "train_model", lambda name, cfg, *args, **kwargs: trained.update(model_settings(cfg, name)) or {
        "model": name})
    settings = json.dumps({"samples": synthetic.SAMPLES, "ml": {**FAST, "enabled": ["cutbased", "bdt"]}})
    best = tmp_path / "best.json"
    best.write_text(json.dumps({"model": "bdt", "parameters": {"max_depth": 2, "learning_rate": 0.2}}))
    command = ["--settings", settings, "--features", str(toy), "--outdir", str(tmp_path / "out")]
    assert cli.main(["train", "--model", "bdt", "--tuned", *command]) == 0  # the rule's form without tuning
    assert (trained["max_depth"], trained["learning_rate"]) == (5, 0.1)
    assert cli.main(["train", "--model", "bdt", "--tuned", str(best), *command]) == 0
    assert (trained["max_depth"], trained["learning_rate"], trained["subsample"]) == (2, 0.2, 0.8)
    assert cli.main(["train", "--model", "mlp", "--tuned", str(best), *command]) == 2
    assert "holds the search of model 'bdt', not 'mlp'" in capsys.readouterr().err
