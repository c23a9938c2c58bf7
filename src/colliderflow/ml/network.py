"""Model types ``mlp`` and ``deepsets``: torch networks trained by the loop of ``train``.

The model (``models``) is built from the training inputs, fitted by ``train.fit``, saved as
``model.pt`` (spec and weights) and exported to ``model.onnx``, checked against torch on
test events. ``train``, ``load`` and ``importance`` as ``kinds`` describes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import io
from . import evaluate, models
from .losses import make_loss
from .train import (CHECKPOINT, export_onnx, fingerprint, fit, onnx_scores, predict_torch, resolve_device,
                    seed_everything)

log = logging.getLogger(__name__)

MODEL_FILE = "model.pt"


def _labelled(training_set) -> tuple[np.ndarray, ...]:
    return (*training_set.events.inputs(), training_set.label, training_set.weight)


def train(settings: dict, sets: dict, ml: dict, outdir: Path,
          on_epoch_end: Callable[[int], None] | None = None) -> dict:
    """Build, fit and save a torch model (model.pt, model.onnx); returns its history."""
    outdir = Path(outdir)
    device = resolve_device(ml["device"])
    seed_everything(ml["seed"], ml["threads"], device)
    train_arrays, val_arrays = _labelled(sets["train"]), _labelled(sets["val"])
    spec = models.make_spec(settings, sets["train"].events.inputs())
    model = models.build(spec)
    key = fingerprint(settings, spec, [*train_arrays, *val_arrays], ml["seed"])
    log.info("training %s (%s, loss %s) on %s: %d parameters", settings["name"], settings["type"],
             settings["loss"], device, sum(p.numel() for p in model.parameters()))
    history = fit(model, make_loss(settings), train_arrays, val_arrays, settings, device=device, seed=ml["seed"],
                  checkpoint=outdir / CHECKPOINT, key=key, on_epoch_end=on_epoch_end)
    model.cpu().eval()
    with io.atomic_path(outdir / MODEL_FILE) as tmp:
        torch.save({"spec": spec, "state_dict": model.state_dict()}, tmp)
    export_onnx(model, sets["test"].events.inputs(), outdir / "model.onnx")
    check = tuple(a[:2000] for a in sets["test"].events.inputs())
    diff = float(np.max(np.abs(onnx_scores(outdir / "model.onnx", check, model.input_names)
                               - predict_torch(model, check, settings["eval_batch_size"]))))
    log.info("ONNX export: max |score difference| to torch on %d test events: %.2e", len(check[0]), diff)
    history.update(device=str(device), onnx_max_abs_diff=diff, loss=settings["loss"], step="epoch")
    return history


def load(modeldir: Path, info: dict, threads: int = 1):
    """The saved network's predict function, on the CPU."""
    torch.set_num_threads(threads)
    saved = torch.load(Path(modeldir) / MODEL_FILE, map_location="cpu", weights_only=False)
    model = models.build(saved["spec"])
    model.load_state_dict(saved["state_dict"])
    model.eval()
    batch = info["settings"]["eval_batch_size"]
    return lambda inputs: predict_torch(model, inputs, batch)


def importance(modeldir: Path, predict, test_set, ml: dict) -> dict:
    return {"kind": "permutation (ROC AUC drop)", "values": evaluate.permutation_importance(predict, test_set, ml)}
