"""Apply a trained model to a sample: scores for every event and split, written to Parquet.

The model directory is self-describing (``model_info.json`` holds the ``ml`` settings it was
trained with), so the inputs are built exactly as in training whatever the current config says.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import io
from . import data

log = logging.getLogger(__name__)

SCORE_COLUMNS = ("eventNumber", "sample", "process", "kind", "label", "split", "weight")


@dataclass
class Predictor:
    """A loaded model: ``predict(inputs)`` gives scores in [0, 1] for (features[, objects, mask])."""

    info: dict
    predict: Callable[[tuple[np.ndarray, ...]], np.ndarray]


def load_predictor(modeldir: str | Path, threads: int = 1) -> Predictor:
    modeldir = Path(modeldir)
    info_path = modeldir / "model_info.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"{info_path} missing: {modeldir} is not a trained model directory (run colliderflow train)")
    info = io.read_json(info_path)
    if info["type"] == "bdt":
        from .bdt import load_bdt, predict_bdt

        booster = load_bdt(modeldir / "model.json", threads)
        return Predictor(info, lambda inputs: predict_bdt(booster, inputs[0]))
    import torch

    from .models import build
    from .train import predict_torch

    torch.set_num_threads(threads)
    saved = torch.load(modeldir / "model.pt", map_location="cpu", weights_only=False)
    model = build(saved["spec"])
    model.load_state_dict(saved["state_dict"])
    model.eval()
    batch = info["settings"]["eval_batch_size"]
    return Predictor(info, lambda inputs: predict_torch(model, inputs, batch))


def apply_model(modeldir: str | Path, features_dir: str | Path, sample: str, out: str | Path, threads: int = 1,
                name: str | None = None) -> int:
    """Score every event of ``sample`` and write the scores Parquet; returns the number of events.

    ``name``, when given, must be the model's name (a rule wired to the wrong folder fails).
    """
    predictor = load_predictor(modeldir, threads)
    if name is not None and predictor.info["name"] != name:
        raise ValueError(f"{modeldir} holds model '{predictor.info['name']}', not '{name}'")
    ml = predictor.info["ml"]
    cfg = {"ml": ml}
    events = data.load_events(features_dir, cfg, samples=[sample], with_objects=predictor.info["type"] == "deepsets")
    score = predictor.predict(events.inputs())
    columns = {c: events.frame[c].to_numpy() for c in SCORE_COLUMNS}
    columns["label"] = columns["label"].astype(np.int8)
    columns[ml["mass_column"]] = events.frame[ml["mass_column"]].to_numpy()
    columns["score"] = score.astype(np.float32)
    table = pa.table(columns)
    with io.atomic_path(out) as tmp:
        pq.write_table(table, tmp)
    log.info("%s: %d events of %s scored with %s -> %s", sample, len(score), features_dir,
             predictor.info["name"], out)
    return len(score)
