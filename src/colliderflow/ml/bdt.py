"""Model type ``bdt``: boosted decision trees with xgboost (hist method; on the GPU when one is visible).

Trained on the event-level features with the class-balanced training weights (|w|: xgboost
refuses negative weights), early stopping on the validation log-loss (``binary:logistic``, or
``multi:softprob`` over the classes for a multiclass model); the saved model
(``model.json``) is cut at the best iteration, so what is evaluated and applied is the
early-stopped model. Settings: ``ml.bdt`` (``bdt.schema.yaml``). The interface is
``kinds``'s.
"""

from __future__ import annotations

import functools
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import xgboost as xgb

from .. import io
from .settings import classes

log = logging.getLogger(__name__)


@functools.cache
def gpu_visible() -> bool:
    """Whether xgboost can train on a GPU here: a one-round fit on 4 rows with device=cuda.

    xgboost falls back to the CPU with a warning when it finds no GPU, so the warning is the
    signal. Cheap (milliseconds); cached for the process.
    """
    if not xgb.build_info().get("USE_CUDA"):
        return False
    matrix = xgb.DMatrix(np.arange(8, dtype=np.float32).reshape(4, 2), label=[0, 1, 0, 1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            xgb.train({"device": "cuda", "tree_method": "hist", "verbosity": 1}, matrix, 1)
        except xgb.core.XGBoostError:
            return False
    return not any("GPU" in str(w.message) for w in caught)


def xgb_device(requested: str) -> str:
    if requested == "cpu":
        return "cpu"
    if gpu_visible():
        return "cuda"
    if requested == "cuda":
        raise ValueError("ml.device is 'cuda' but xgboost finds no GPU; set ml.device to auto or cpu")
    return "cpu"


def _matrix(training_set, features: list[str]) -> xgb.DMatrix:
    return xgb.DMatrix(training_set.events.features, label=training_set.target, weight=training_set.weight,
                       feature_names=features, missing=np.nan)


MODEL_FILE = "model.json"
INPUTS = ("features",)
POSITIVE_WEIGHTS = True  # xgboost refuses negative weights
MULTICLASS = True


def train(settings: dict, sets: dict, ml: dict, modeldir: Path, workdir: Path, on_epoch_end=None) -> dict:
    """Fit, keep the best iteration, save xgboost JSON in ``modeldir``; returns the history.

    ``workdir`` is not used (xgboost trains in one call); ``on_epoch_end(round, val_loss)``
    is called after each boosting round.
    """
    model_path = Path(modeldir) / MODEL_FILE
    features = list(sets["train"].events.feature_names)
    device = xgb_device(ml["device"])
    if settings["multiclass"]:
        metric = "mlogloss"
        objective = {"objective": "multi:softprob", "num_class": len(classes(ml))}
    else:
        metric = "logloss"
        objective = {"objective": "binary:logistic"}
    params = {
        **objective, "eval_metric": metric, "tree_method": "hist", "device": device,
        "max_depth": settings["max_depth"], "eta": settings["learning_rate"], "subsample": settings["subsample"],
        "colsample_bytree": settings["colsample_bytree"], "min_child_weight": settings["min_child_weight"],
        "lambda": settings["reg_lambda"], "max_bin": settings["max_bin"], "seed": settings["seed"],
        "nthread": ml["threads"],
    }
    train, val = _matrix(sets["train"], features), _matrix(sets["val"], features)
    evals_result: dict = {}
    callbacks = [_ProgressLog(metric, every=25), *([_EachRound(metric, on_epoch_end)] if on_epoch_end else [])]
    log.info("training %s (xgboost hist on %s): up to %d rounds", settings["name"], device, settings["n_estimators"])
    start = time.perf_counter()
    booster = xgb.train(params, train, settings["n_estimators"], evals=[(train, "train"), (val, "val")],
                        early_stopping_rounds=settings["early_stopping_rounds"], evals_result=evals_result,
                        verbose_eval=False, callbacks=callbacks)
    seconds = time.perf_counter() - start
    best = int(booster.best_iteration)
    booster = booster[: best + 1]
    with io.atomic_path(model_path) as tmp:
        tmp.write_bytes(booster.save_raw(raw_format="json"))
    train_loss, val_loss = evals_result["train"][metric], evals_result["val"][metric]
    log.info("xgboost: %d rounds in %.1f s, best %d (val %s %.5f)", len(train_loss), seconds, best + 1, metric,
             val_loss[best])
    return {"train_loss": train_loss, "val_loss": val_loss,
            "best_epoch": best, "best_val_loss": val_loss[best], "epochs_run": len(train_loss),
            "training_events": len(sets["train"].label), "device": device,
            "loss": f"{metric} (xgboost)", "step": "boosting round"}


class _ProgressLog(xgb.callback.TrainingCallback):
    """Log the losses every few rounds (the rule's log shows progress)."""

    def __init__(self, metric: str, every: int):
        super().__init__()
        self.metric, self.every = metric, every

    def after_iteration(self, model, epoch, evals_log):
        if (epoch + 1) % self.every == 0:
            log.info("round %d: train %s %.5f, val %s %.5f", epoch + 1, self.metric,
                     evals_log["train"][self.metric][-1], self.metric, evals_log["val"][self.metric][-1])
        return False


class _EachRound(xgb.callback.TrainingCallback):
    """Hand each round's validation loss to ``on_epoch_end`` (the tuning's pruner)."""

    def __init__(self, metric: str, on_epoch_end):
        super().__init__()
        self.metric, self.on_epoch_end = metric, on_epoch_end

    def after_iteration(self, model, epoch, evals_log):
        self.on_epoch_end(epoch, evals_log["val"][self.metric][-1])
        return False


def load_bdt(path: Path, threads: int = 1) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(path)
    booster.set_param({"nthread": threads, "device": "cpu"})
    return booster


def predict_bdt(booster: xgb.Booster, features: np.ndarray) -> np.ndarray:
    return booster.predict(xgb.DMatrix(features, missing=np.nan), validate_features=False).astype(np.float64)


def load(modeldir: Path, info: dict, threads: int = 1):
    """The saved booster's predict function, on the CPU."""
    booster = load_bdt(Path(modeldir) / MODEL_FILE, threads)
    return lambda inputs: predict_bdt(booster, inputs[0])


def gain_importance(model_path: Path, features: list[str]) -> dict[str, float]:
    """Gain per feature summed over all splits on it ("total_gain"), normalised to sum 1."""
    gain = load_bdt(model_path).get_score(importance_type="total_gain")
    total = sum(gain.values()) or 1.0
    return {f: float(gain.get(f, 0.0)) / total for f in features}


def importance(modeldir: Path, predict, test_set, ml: dict) -> dict:
    return {"kind": "total gain (normalised)",
            "values": gain_importance(Path(modeldir) / MODEL_FILE, list(test_set.events.feature_names))}
