"""``train_model``: train one model of ``ml.models``, whatever its kind, and evaluate it.

Reads the events, asks the model's kind (``kinds``) to train into the model folder, evaluates
the saved model as ``apply`` loads it, and writes history, metrics and plots: the same for
every kind.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .. import features, io
from . import data, evaluate, kinds, plots
from .apply import INFO_FILE, load_predictor
from .settings import classes, model_settings

if TYPE_CHECKING:
    from ..analyses.interface import Observable

log = logging.getLogger(__name__)

MODEL_DIR = "model"  # the model folder inside the output folder: what apply reads
# files of an unfinished training (a checkpoint), kept by a restarted job, removed at the end
WORK_DIR = "unfinished"


def train_model(name: str, cfg: dict, features_dir: str | Path, outdir: str | Path, observable: "Observable",
                on_epoch_end: Callable[[int, float], None] | None = None,
                training_fractions: dict[str, float] | None = None, fold: int | None = None) -> dict:
    """Train model ``name`` of ``ml.models`` and write everything to ``outdir``; returns metrics.

    ``fold``: with cross-training (``features.folds`` >= 2, and then required), the fold this
    training leaves out: the events' train/val/test roles come from ``features.training_roles``
    instead of their split, so the model learns on the other folds and is evaluated on its own.

    ``observable``: the analysis's (``analyses.get(name).observable(cfg)``), which defines the
    signal and background events and is never an input. Outputs: ``model/`` (the kind's model
    files and model_info.json: everything apply reads), history.json, metrics.json (with
    ``classes``, the per-class metrics, for a multiclass model), and the plots loss, roc,
    scores, importance, zcurve, speedup, confusion, roc_classes (.png). ``unfinished/`` holds the files of
    an unfinished training (a checkpoint) until it ends. ``training_fractions``: train on
    that fraction of each class of the train split only (``data.reduced_train_split``).
    """
    ml = cfg["ml"]
    settings = model_settings(cfg, name)
    kind = kinds.load(settings["type"])
    outdir = Path(outdir)
    modeldir = outdir / MODEL_DIR
    # the inputs are checked (finite, non-empty) before anything is written
    if features.cross_trained(cfg["features"]) != (fold is not None):
        raise ValueError(f"model '{name}': a fold to train is needed exactly when features.folds >= 2 "
                         f"(features.folds = {cfg['features']['folds']}, fold = {fold})")
    events = data.load_events(features_dir, cfg, observable, with_objects=kinds.reads_objects(settings["type"]))
    if fold is not None:
        events.frame["split"] = features.training_roles(events.frame["eventNumber"].to_numpy(), cfg["features"], fold)
    sets = data.training_sets(events, ml, settings, observable, cfg["lumi_fb"], training_fractions)
    modeldir.mkdir(parents=True, exist_ok=True)
    workdir = outdir / WORK_DIR
    workdir.mkdir(exist_ok=True)
    history = kind.train(settings, sets, ml, modeldir, workdir, on_epoch_end)
    info = {"name": name, "type": settings["type"], "settings": settings, "ml": ml,
            "classes": classes(ml) if settings["multiclass"] else None,
            "fold": None if fold is None else {"index": fold, "of": cfg["features"]["folds"],
                                               "salt": cfg["features"]["salt"]},
            "observable": dataclasses.asdict(observable), "inputs": list(kind.INPUTS),
            "features": list(events.feature_names) if "features" in kind.INPUTS else []}
    io.write_json(modeldir / INFO_FILE, info, cfg)
    predictor = load_predictor(modeldir, threads=ml["threads"])
    for column, values in predictor.scores(events.inputs()).items():
        events.frame[column] = values
    metrics = evaluate.compute_metrics(events.frame, ml, observable)
    if settings["multiclass"]:
        metrics["classes"] = evaluate.class_metrics(events.frame, ml, observable)
    metrics.update(model=name, type=settings["type"], loss=history.get("loss"), seed=settings["seed"],
                   training_fractions=training_fractions or {},
                   importance=kind.importance(modeldir, predictor.score, sets["test"], ml),
                   training={k: history[k] for k in ("best_epoch", "epochs_run", "training_events", "device",
                                                     "onnx_max_abs_diff", "note") if k in history})
    io.write_json(outdir / "history.json", history, cfg)
    io.write_json(outdir / "metrics.json", metrics, cfg,
                  inputs=[p for p in data.sample_files(features_dir, cfg).values()])
    plots.model_plots(outdir, history, metrics, events.frame, sets, cfg, observable)
    shutil.rmtree(workdir)
    log.info("%s: ROC AUC %.4f, Z_max %.3f (threshold %.3f) vs %.3f without a score cut", name,
             metrics["roc_auc"], metrics["z_max"], metrics["threshold_at_z_max"], metrics["z_inclusive"])
    return metrics
