"""k-fold cross-training (features.folds): the fold function, the trainings' roles, apply's
out-of-fold scores, and the splits optimisation and fit use."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from colliderflow import features
from colliderflow.analyses.hyy import synthetic
from colliderflow.inference.inputs import fit_splits
from colliderflow.ml.apply import Predictor, apply_model, load_predictor, out_of_fold_scores
from colliderflow.ml.data import Events, background_mask, load_events, signal_mask
from colliderflow.ml.train import train_model
from colliderflow.optimise import split_weights

OBSERVABLE = synthetic.observable()
FOLDS = {"folds": 3, "fold_validation": 0.25, "salt": 11}


def test_fold_is_a_pure_function_of_the_event_number_with_k_equal_shares():
    n = 300_000
    numbers = np.random.default_rng(3).integers(0, 2**63, n, dtype=np.uint64)
    fold, position = features.assign_fold(numbers, FOLDS)
    permutation = np.random.default_rng(4).permutation(n)
    assert (features.assign_fold(numbers[permutation], FOLDS)[0] == fold[permutation]).all()
    assert (np.concatenate([features.assign_fold(c, FOLDS)[0] for c in np.array_split(numbers, 7)]) == fold).all()
    assert set(np.unique(fold)) == {0, 1, 2}
    for k in range(3):
        share = np.mean(fold == k)
        assert abs(share - 1 / 3) < 5 * np.sqrt(2 / 9 / n), k
        # the position inside a fold is uniform whatever the fold: it picks the validation part
        assert abs(np.mean(position[fold == k] < 0.25) - 0.25) < 0.01, k
    assert (features.assign_fold(numbers, {**FOLDS, "salt": 12})[0] != fold).mean() > 0.5


def test_each_event_is_held_out_by_exactly_one_training():
    numbers = np.arange(60_000, dtype=np.uint64)
    fold, _ = features.assign_fold(numbers, FOLDS)
    roles = np.stack([features.training_roles(numbers, FOLDS, k) for k in range(3)])
    assert ((roles == "test").sum(axis=0) == 1).all()
    for k in range(3):
        assert ((roles[k] == "test") == (fold == k)).all()
        seen = roles[k] != "test"
        assert abs(np.mean(roles[k][seen] == "val") - 0.25) < 0.01
    with pytest.raises(ValueError, match="fold 3 does not exist with features.folds = 3"):
        features.training_roles(numbers, FOLDS, 3)


def test_optimisation_and_fit_use_every_split_with_cross_training():
    cfg = synthetic.default_config()
    assert fit_splits(cfg) == ["val", "test"]
    assert features.unbiased_splits(cfg["features"], ["val"]) == ["val"]
    crossed = {**cfg, "features": {**cfg["features"], "folds": 2}}
    assert fit_splits(crossed) == ["train", "val", "test"]
    assert features.unbiased_splits(crossed["features"], ["val"]) == ["train", "val", "test"]
    # every event used: the weights stay the full-dataset expectation (scale 1)
    frame = pd.DataFrame({"sample": ["a", "a", "b"], "split": ["train", "val", "test"], "weight": [1.0, 2.0, 3.0]})
    part = split_weights(frame, list(features.SPLITS))
    assert part["weight"].tolist() == [1.0, 2.0, 3.0] and part.attrs["split_scale"] == {"a": 1.0, "b": 1.0}


def _constant(value):
    return Predictor({"classes": None}, lambda inputs: np.full(len(inputs[0]), value, dtype=np.float32))


def test_out_of_fold_scores_take_each_event_from_its_folds_model():
    events = Events(pd.DataFrame({"x": np.arange(7)}), np.zeros((7, 2), np.float32))
    fold = np.array([2, 0, 1, 1, 2, 0, 0])
    scores = out_of_fold_scores([_constant(0.1), _constant(0.5), _constant(0.9)], events, fold)
    assert scores["score"].tolist() == pytest.approx([0.9, 0.1, 0.5, 0.5, 0.9, 0.1, 0.1])


@pytest.fixture(scope="module")
def fold_trainings(tmp_path_factory):
    """The toy BDT cross-trained in two folds."""
    toy = synthetic.write_features(tmp_path_factory.mktemp("features"), n_events=1500, seed=2)
    cfg = synthetic.default_config({"threads": 1, "enabled": ["bdt"], "bdt": {"n_estimators": 20},
                                    "metrics": {"importance_events": 300, "n_thresholds": 51}})
    cfg["features"] = {**cfg["features"], "folds": 2}
    root = tmp_path_factory.mktemp("models")
    metrics = [train_model("bdt", cfg, toy, root / f"fold{k}", OBSERVABLE, fold=k) for k in range(2)]
    return cfg, toy, root, metrics


def test_apply_scores_each_event_with_the_model_that_never_saw_it(fold_trainings, tmp_path):
    cfg, toy, root, metrics = fold_trainings
    modeldirs = [root / f"fold{k}" / "model" for k in range(2)]
    predictors = [load_predictor(d) for d in modeldirs]
    assert [p.info["fold"] for p in predictors] == [{"index": k, "of": 2, "salt": 0} for k in range(2)]
    out = tmp_path / "data.parquet"
    apply_model(modeldirs, toy, "data", out, OBSERVABLE, name="bdt")
    table = pq.read_table(out).to_pandas()
    events = load_events(toy, cfg, OBSERVABLE, samples=["data"])
    assert (table["eventNumber"].to_numpy() == events.frame["eventNumber"].to_numpy()).all()
    fold, _ = features.assign_fold(events.frame["eventNumber"].to_numpy(), cfg["features"])
    assert set(np.unique(fold)) == {0, 1}
    by_model = np.stack([p.score(events.inputs()) for p in predictors])
    expected = by_model[fold, np.arange(len(fold))]
    assert table["score"].to_numpy() == pytest.approx(expected, abs=1e-6)
    # the two models differ, so the choice shows
    assert np.abs(by_model[0] - by_model[1]).max() > 1e-3
    with pytest.raises(ValueError, match="k fold trainings in fold order"):
        apply_model(modeldirs[::-1], toy, "data", tmp_path / "x.parquet", OBSERVABLE)
    with pytest.raises(ValueError, match="k fold trainings in fold order"):
        apply_model(modeldirs[:1], toy, "data", tmp_path / "x.parquet", OBSERVABLE)


def test_a_fold_training_learns_on_the_other_folds_and_is_evaluated_on_its_own(fold_trainings):
    cfg, toy, root, metrics = fold_trainings
    events = load_events(toy, cfg, OBSERVABLE)
    fold, position = features.assign_fold(events.frame["eventNumber"].to_numpy(), cfg["features"])
    used = signal_mask(events.frame, OBSERVABLE) | background_mask(events.frame, cfg["ml"], OBSERVABLE)
    for k, m in enumerate(metrics):
        learnt = used & (fold != k) & (position >= cfg["features"]["fold_validation"])
        assert m["training"]["training_events"] == learnt.sum()
        assert m["roc_auc"] > 0.6
    with pytest.raises(ValueError, match="a fold to train is needed exactly when features.folds >= 2"):
        train_model("bdt", cfg, toy, root / "nofold", OBSERVABLE)
    with pytest.raises(ValueError, match="a fold to train is needed exactly when features.folds >= 2"):
        train_model("bdt", synthetic.default_config({"enabled": ["bdt"]}), toy, root / "nofold", OBSERVABLE, fold=0)
    assert not (root / "nofold").exists()
