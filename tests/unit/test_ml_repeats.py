"""Repeated trainings (ml.repeats): aggregation over seeds, the reduced training sets, the config,
and the figures they compare (Z at a signal efficiency, background rejection)."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from colliderflow import cli
from colliderflow.analyses.hyy import synthetic
from colliderflow.config import ConfigError
from colliderflow.ml import data, evaluate, repeats
from colliderflow.ml.settings import model_settings


def _metrics(seed, z_max, auc, z_eff, area, rejection, fractions=None):
    return {"model": "mlp", "seed": seed, "training_fractions": fractions or {}, "roc_auc": auc, "z_max": z_max,
            "z_at_signal_efficiency": {"0.3": z_eff[0], "0.5": z_eff[1], "0.8": z_eff[2], "0.95": z_eff[3]},
            "z_curve_area": area, "background_rejection": {"0.1": rejection}}


FULL = [_metrics(1, 2.0, 0.80, [1.0, 1.5, 1.2, 0.9], 1.0, 40.0),
        _metrics(2, 2.3, 0.82, [1.3, 1.6, 1.1, 0.9], 1.2, 50.0),
        _metrics(3, 2.6, 0.84, [1.6, 1.7, 1.0, 0.9], 1.4, None)]


def test_aggregate_gives_mean_and_std_of_three_metrics_files(tmp_path):
    paths = []
    for m in FULL:
        paths.append(tmp_path / f"seed{m['seed']}.json")
        paths[-1].write_text(json.dumps(m))
    reduced = [tmp_path / f"bkg10_{k}.json" for k in (1, 2)]
    for k, path in enumerate(reduced, start=1):
        path.write_text(json.dumps(_metrics(k, 1.0 + k, 0.7, [1, 1, 1, 1], 1.0, 10.0 * k, {"background": 0.1})))
    out = tmp_path / "mlp.json"
    cli.main(["aggregate-repeats", "--scenario", "full", *map(str, paths),
              "--scenario", "bkg10", *map(str, reduced), "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["model"] == "mlp" and list(result["scenarios"]) == ["full", "bkg10"]
    full = result["scenarios"]["full"]
    assert full["seeds"] == [1, 2, 3] and full["training_fractions"] == {}
    # by hand: mean (2.0 + 2.3 + 2.6) / 3 = 2.3; std sqrt((0.3^2 + 0 + 0.3^2) / (3 - 1)) = 0.3
    assert full["figures"]["z_max"] == {"values": [2.0, 2.3, 2.6], "mean": pytest.approx(2.3),
                                        "std": pytest.approx(0.3)}
    assert full["figures"]["roc_auc"]["std"] == pytest.approx(0.02)
    assert full["figures"]["z@eff_s=0.3"]["mean"] == pytest.approx(1.3)
    assert full["figures"]["z@eff_s=0.95"]["std"] == 0.0
    assert full["figures"]["z_curve_area"]["mean"] == pytest.approx(1.2)
    assert full["figures"]["R10%"] == {"values": [40.0, 50.0, None], "mean": None, "std": None}  # one infinite
    bkg10 = result["scenarios"]["bkg10"]
    assert bkg10["training_fractions"] == {"background": 0.1}
    assert bkg10["figures"]["R10%"]["mean"] == pytest.approx(15.0)
    assert bkg10["figures"]["R10%"]["std"] == pytest.approx(math.sqrt(50.0))
    assert list(result["scenarios"]["full"]["figures"]) == ["roc_auc", "z_max", "z@eff_s=0.3", "z@eff_s=0.5",
                                                            "z@eff_s=0.8", "z@eff_s=0.95", "z_curve_area", "R10%"]


@pytest.mark.parametrize("trainings, problem", [
    ([FULL[0], FULL[0]], "seeds [1, 1]"),
    ([FULL[0]], "1 trainings"),
    ([FULL[0], _metrics(2, 1, 1, [1] * 4, 1, 1, {"all": 0.1})], "fractions"),
])
def test_aggregate_refuses_trainings_that_are_no_repeats(trainings, problem):
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        repeats.aggregate({"full": trainings})
    with pytest.raises(ValueError, match="one model at a time"):
        repeats.aggregate({"full": [FULL[0], {**FULL[1], "model": "bdt"}]})


def test_cells_show_mean_and_std_to_two_digits_of_the_std():
    assert repeats.cell({"mean": 2.3123, "std": 0.0512}) == "2.312 +- 0.051"
    assert repeats.cell({"mean": 0.81234, "std": 0.0123}) == "0.812 +- 0.012"
    assert repeats.cell({"mean": 41.7, "std": 3.2}) == "41.7 +- 3.2"
    assert repeats.cell({"mean": 1.5, "std": 0.0}) == "1.5 +- 0"
    assert repeats.cell({"mean": 17.243440274051366, "std": 2.3e-14}) == "17.24 +- 0"
    assert repeats.cell({"mean": None, "std": None}) == "-"
    reduced = [{**m, "training_fractions": {"background": 0.1}} for m in FULL]
    lines = repeats.table([repeats.aggregate({"full": FULL, "bkg10": reduced})])
    assert lines[-2].startswith("| mlp | full | 0.820 +- 0.020 | 2.30 +- 0.30 | 1.30 +- 0.30 |")
    assert lines[-1].startswith("| mlp | bkg10 (background=0.1) | 0.820 +- 0.020 |")


# ------------------------------------------------------------------ reduced training sets


@pytest.fixture(scope="module")
def train_split(tmp_path_factory):
    """A function: training fractions (and seed) -> the train set of that scenario; and the full one."""
    features = synthetic.write_features(tmp_path_factory.mktemp("features"), n_events=3000, seed=4)
    cfg = synthetic.default_config({"threads": 1})
    observable = synthetic.observable(cfg)
    events = data.load_events(features, cfg, observable)

    def train(fractions=None, seed=None):
        settings = model_settings(cfg, "mlp")
        if seed is not None:
            settings["seed"] = seed
        return data.training_sets(events, cfg["ml"], settings, observable, cfg["lumi_fb"], fractions)["train"]

    return train, train()


@pytest.mark.parametrize("fractions", [{"background": 0.1}, {"all": 0.1}, {"signal": 0.5, "background": 0.25}])
def test_reduced_training_set_keeps_the_fraction_of_each_class_and_its_yield(train_split, fractions):
    train, full = train_split
    reduced = train(fractions)
    for name, label in (("signal", 1), ("background", 0)):
        fraction = fractions.get(name, fractions.get("all", 1.0))
        before, after = full.label == label, reduced.label == label
        assert after.sum() == round(fraction * before.sum())
        # the kept events stand for all of their class: the physics yield is kept on average
        kept_weight = reduced.events.frame["weight"][after].sum()
        assert kept_weight == pytest.approx(full.events.frame["weight"][before].sum(), rel=0.35)
        rows = np.searchsorted(full.index, reduced.index[after])  # the kept events' rows in the full set
        assert np.allclose(reduced.events.frame["weight"][after],
                           full.events.frame["weight"].to_numpy()[rows] * before.sum() / after.sum())
    assert set(reduced.index) <= set(full.index) and np.all(np.diff(reduced.index) > 0)
    # class balance equal: both classes weigh the same after the reduction, as before it
    assert reduced.weight[reduced.label == 1].sum() == pytest.approx(reduced.weight[reduced.label == 0].sum(), rel=1e-5)


def test_reduced_training_set_is_drawn_from_the_seed(train_split):
    train, _ = train_split
    first, again, other = train({"all": 0.2}, 1), train({"all": 0.2}, 1), train({"all": 0.2}, 2)
    assert np.array_equal(first.index, again.index) and np.array_equal(first.weight, again.weight)
    assert not np.array_equal(first.index, other.index)


@pytest.mark.parametrize("fractions", [{"bkg": 0.1}, {"background": 0.0}, {"all": 1.5}, {"all": 0.5, "signal": 0.5}])
def test_reduced_training_set_refuses_bad_fractions(train_split, fractions):
    train, _ = train_split
    with pytest.raises(ConfigError, match="training fractions"):
        train(fractions)


# ------------------------------------------------------------------ config


def _config(repeat):
    return synthetic.default_config({"enabled": ["cutbased", "mlp", "bdt"], "repeats": repeat})


def test_repeats_are_off_by_default():
    assert synthetic.default_config()["ml"]["repeats"] == {"seeds": 0, "models": [], "scenarios": {}}
    assert _config({"seeds": 3, "models": ["mlp"], "scenarios": {"bkg10": {"background": 0.1},
                                                                 "all10": {"all": 0.1}}})


@pytest.mark.parametrize("repeat, message", [
    ({"seeds": 1}, "seeds is 1"),
    ({"seeds": 0, "scenarios": {"bkg10": {"background": 0.1}}}, "seeds is 0"),
    ({"seeds": 3, "models": ["mlp_lovasz"]}, r"\['mlp_lovasz'\] are not in ml.enabled"),
    ({"seeds": 3, "scenarios": {"x": {"all": 0.1, "background": 0.5}}}, "give either it or signal/background"),
    ({"seeds": 3, "scenarios": {"full": {"all": 0.1}}}, "ml.repeats.scenarios"),
    ({"seeds": 3, "scenarios": {"x": {"background": 0}}}, "ml.repeats.scenarios.x.background"),
    ({"seeds": 3, "scenarios": {"x": {"background": 1.2}}}, "ml.repeats.scenarios.x.background"),
    ({"seeds": 3, "scenarios": {"x": {"bkg": 0.1}}}, "ml.repeats.scenarios.x"),
    ({"seeds": 3, "scenarios": {"x": {}}}, "ml.repeats.scenarios.x"),
])
def test_repeats_config_refuses(repeat, message):
    with pytest.raises(ConfigError, match=message):
        _config(repeat)


# ------------------------------------------------------------------ figures


def test_z_at_signal_efficiency_cuts_at_that_fraction_of_the_signal():
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    weight = np.array([1.0, 1.0, 2.0, 4.0, 2.0])  # cumulative from the top: 0.1, 0.2, 0.4, 0.8, 1.0
    cuts = evaluate.thresholds_at_signal_efficiency(score, weight, [0.1, 0.3, 0.8, 1.0])
    kept = [weight[score > cut].sum() / weight.sum() for cut in cuts]
    assert kept == pytest.approx([0.1, 0.4, 0.8, 1.0])
    assert np.all(cuts < [0.9, 0.7, 0.6, 0.5]) and np.all(cuts > [0.8, 0.6, 0.5, 0.4])


def test_background_rejection_at_a_signal_efficiency():
    bkg_eff = np.array([0.0, 0.02, 0.05, 0.5, 1.0])
    sig_eff = np.array([0.0, 0.05, 0.1, 0.6, 1.0])
    rejection = evaluate.background_rejection_at(bkg_eff, sig_eff, [0.1, 0.5, 0.04])
    assert rejection == pytest.approx([20.0, 2.0, 50.0])
    assert evaluate.background_rejection_at([0.0, 0.0, 1.0], [0.0, 0.5, 1.0], [0.1])[0] == np.inf


def test_metrics_hold_the_repeats_figures():
    rng = np.random.default_rng(3)
    n = 3000
    kind = rng.choice(["signal", "data"], n, p=[0.3, 0.7])
    mass = np.where(kind == "signal", rng.normal(125, 2, n), 105 + rng.exponential(30, n))
    frame = pd.DataFrame({"sample": np.where(kind == "signal", "ggH", "data"), "kind": kind,
                          "split": rng.choice(["train", "test"], n), "weight": np.where(kind == "signal", 0.05, 1.0),
                          synthetic.observable().column: mass,
                          "score": np.clip(rng.normal(np.where(kind == "signal", 0.7, 0.3), 0.2), 0, 1)})
    metrics = evaluate.compute_metrics(frame, synthetic.default_config()["ml"], synthetic.observable())
    assert set(metrics["z_at_signal_efficiency"]) == {"0.3", "0.5", "0.8", "0.95"}
    assert set(metrics["background_rejection"]) == {"0.1"} and metrics["background_rejection"]["0.1"] > 1
    assert set(repeats.figures(metrics)) >= {"z_max", "roc_auc", "z_curve_area", "R10%", "z@eff_s=0.5"}
