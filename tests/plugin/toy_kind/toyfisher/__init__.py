"""A model kind from outside colliderflow: Fisher's linear discriminant on the event-level
features (numpy only), registered under the entry-point group ``colliderflow.models``.

The module is the kind: ``INPUTS``, ``POSITIVE_WEIGHTS``, ``train``, ``load``, ``importance``
(see ``colliderflow.ml.kinds``); its settings (the section ``ml.fisher``) are declared in
``config.schema.yaml`` beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

INPUTS = ("features",)
POSITIVE_WEIGHTS = False
MODEL_FILE = "fisher.json"


def _covariance(x: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.average(x, axis=0, weights=weight)
    centred = x - mean
    return mean, (centred * weight[:, None]).T @ centred / weight.sum()


def train(settings: dict, sets: dict, ml: dict, modeldir: Path, workdir: Path, on_epoch_end=None) -> dict:
    """w = (S_signal + S_background + ridge 1)^-1 (mu_signal - mu_background), on |weight|."""
    train_set = sets["train"]
    x = train_set.events.features.astype(np.float64)
    fill = np.nan_to_num(np.nanmean(x, axis=0))
    x = np.where(np.isnan(x), fill, x)
    scale = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    x = (x - fill) / scale
    weight, signal = np.abs(train_set.weight.astype(np.float64)), train_set.label > 0.5
    mean_s, cov_s = _covariance(x[signal], weight[signal])
    mean_b, cov_b = _covariance(x[~signal], weight[~signal])
    direction = np.linalg.solve(cov_s + cov_b + settings["ridge"] * np.eye(x.shape[1]), mean_s - mean_b)
    offset = -0.5 * direction @ (mean_s + mean_b)
    model = {"fill": fill.tolist(), "scale": scale.tolist(), "direction": direction.tolist(), "offset": float(offset),
             "sharpness": settings["sharpness"]}
    (Path(modeldir) / MODEL_FILE).write_text(json.dumps(model, indent=1))
    return {"train_loss": [], "val_loss": [], "best_epoch": 0, "best_val_loss": None, "epochs_run": 1,
            "training_events": len(x), "device": "cpu", "loss": "fisher", "step": "solve"}


def load(modeldir: Path, info: dict, threads: int = 1):
    model = json.loads((Path(modeldir) / MODEL_FILE).read_text())
    fill, scale, direction = (np.asarray(model[key]) for key in ("fill", "scale", "direction"))

    def predict(inputs):
        x = inputs[0].astype(np.float64)
        x = (np.where(np.isnan(x), fill, x) - fill) / scale
        return 1.0 / (1.0 + np.exp(-model["sharpness"] * (x @ direction + model["offset"])))

    return predict


def importance(modeldir: Path, predict, test_set, ml: dict) -> dict:
    direction = np.abs(json.loads((Path(modeldir) / MODEL_FILE).read_text())["direction"])
    return {"kind": "|Fisher coefficient| of the standardised feature",
            "values": dict(zip(test_set.events.feature_names, (direction / direction.sum()).tolist()))}
