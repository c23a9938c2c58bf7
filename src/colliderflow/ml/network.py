"""The torch kinds' shared machinery: the training loop, saving, ONNX export, prediction.

A torch kind (``mlp``, ``deepsets``, ``transformer``, ``graph``, ``cnn``, or a user's) defines its ``nn.Module``
and a ``spec(settings, train_inputs) -> kwargs`` (architecture from its settings,
standardisation from the training inputs); ``train, importance = network.kind(Module, spec)``
gives it the ``train`` and ``importance`` of the kind interface (its ONNX export is what apply scores).
``train`` adds the keyword ``n_outputs`` (1, or the number of classes of a multiclass model;
``models``), so every torch kind is multiclass (``MULTICLASS = True`` in its module).

The loop (``fit``): AdamW, a learning-rate schedule, early stopping on the validation loss
(the best epoch's weights are kept), a checkpoint after every epoch written atomically, and
resume from it: a killed training started again with the same inputs and settings continues
where it stopped and ends with the same weights as an uninterrupted run. Determinism on CPU:
seeded initialisation, a shuffling generator seeded per epoch, the global RNG (dropout) saved
in the checkpoint, ``torch.use_deterministic_algorithms``; ``model.pt`` is written from
memory, so the same weights give the same bytes (saved to a path, the archive would name the
temporary file it was written to). On CUDA: autocast + GradScaler and pinned-memory loaders.
Timings go to the log only (the history is the same for the same seed).
"""

from __future__ import annotations

import copy
import hashlib
import io as bytes_io
import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from .. import io
from . import evaluate, models
from .apply import ONNX_FILE, onnx_predictor
from .losses import make_loss
from .settings import classes

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
MODEL_FILE = "model.pt"
ONNX_CHECK_EVENTS = 2000
ONNX_TOLERANCE = 1e-4  # largest |score difference| to torch accepted (float32 rounding is ~1e-7)


def train(model_class: type[torch.nn.Module], spec: Callable[[dict, tuple], dict], settings: dict, sets: dict,
          ml: dict, modeldir: Path, workdir: Path, on_epoch_end: Callable[[int, float], None] | None = None) -> dict:
    """Build ``model_class(**spec(settings, train inputs))``, fit it, save ``model.pt`` (the
    kwargs and weights) and ``model.onnx`` in ``modeldir``; returns the history. The
    checkpoint of an unfinished training is in ``workdir``."""
    device = resolve_device(ml["device"])
    seed_everything(settings["seed"], ml["threads"], device)
    train_arrays, val_arrays = _labelled(sets["train"]), _labelled(sets["val"])
    n_outputs = len(classes(ml)) if settings["multiclass"] else 1
    kwargs = {**spec(settings, sets["train"].events.inputs()), "n_outputs": n_outputs}
    model = model_class(**kwargs)
    key = fingerprint(settings, kwargs, [*train_arrays, *val_arrays], settings["seed"])
    log.info("training %s (%s, loss %s) on %s: %d parameters", settings["name"], settings["type"],
             settings["loss"], device, sum(p.numel() for p in model.parameters()))
    start = time.perf_counter()
    history = fit(model, make_loss(settings), train_arrays, val_arrays, settings, device=device, seed=settings["seed"],
                  checkpoint=Path(workdir) / CHECKPOINT, key=key, on_epoch_end=on_epoch_end)
    seconds = time.perf_counter() - start
    log.info("trained in %.1f s: %.0f events/s", seconds, history["training_events"] * history["epochs_run"] / seconds)
    model.cpu().eval()
    buffer = bytes_io.BytesIO()
    torch.save({"kwargs": kwargs, "state_dict": model.state_dict()}, buffer)
    with io.atomic_path(Path(modeldir) / MODEL_FILE) as tmp:
        tmp.write_bytes(buffer.getvalue())
    diff = export_checked(model, sets["test"].events.inputs(), Path(modeldir) / ONNX_FILE, settings["eval_batch_size"])
    # the loss by name; bce and focal of a multiclass model are their categorical (softmax) forms
    loss = f"{settings['loss']} (categorical)" if settings["multiclass"] else settings["loss"]
    history.update(device=str(device), onnx_max_abs_diff=diff, loss=loss, step="epoch")
    return history


def export_checked(model: torch.nn.Module, inputs: tuple[np.ndarray, ...], path: Path, batch_size: int) -> float:
    """Export to ONNX and return the largest |score difference| to torch on the first test
    events (onnxruntime on the CPU); an export that scores otherwise is an error."""
    export_onnx(model, inputs, path)
    check = tuple(a[:ONNX_CHECK_EVENTS] for a in inputs)
    onnx_scores = onnx_predictor(path, batch_size)(check)
    diff = float(np.max(np.abs(onnx_scores - predict_torch(model, check, batch_size))))
    log.info("ONNX export: max |score difference| to torch on %d test events: %.2e", len(check[0]), diff)
    if not diff <= ONNX_TOLERANCE:
        raise RuntimeError(f"{path}: the ONNX export scores differ from torch by up to {diff:.3g} "
                           f"(> {ONNX_TOLERANCE:g}) on {len(check[0])} test events; the exporter mistranslated the model")
    return diff


def kind(model_class: type[torch.nn.Module], spec: Callable[[dict, tuple], dict]):
    """``train`` and ``importance`` of a torch kind (see ``colliderflow.ml.kinds``) built from its
    module class and ``spec``: ``train, importance = network.kind(MyNet, spec)``. It needs no
    ``load``: ``train`` writes the ONNX export, which apply scores."""
    def train_kind(settings: dict, sets: dict, ml: dict, modeldir: Path, workdir: Path, on_epoch_end=None) -> dict:
        return train(model_class, spec, settings, sets, ml, modeldir, workdir, on_epoch_end)

    def importance_kind(modeldir: Path, predict, test_set, ml: dict) -> dict:
        return importance(model_class, modeldir, predict, test_set, ml)

    return train_kind, importance_kind


def importance(model_class: type[torch.nn.Module], modeldir: Path, predict, test_set, ml: dict) -> dict:
    """Permutation importance (the drop of the test ROC AUC), and beside it the Integrated
    Gradients attributions (``integrated_gradients``) of the saved network."""
    result = {"kind": "permutation (ROC AUC drop)", "values": evaluate.permutation_importance(predict, test_set, ml)}
    saved = torch.load(Path(modeldir) / MODEL_FILE, map_location="cpu", weights_only=True)
    model = model_class(**saved["kwargs"])
    model.load_state_dict(saved["state_dict"])
    start = time.perf_counter()
    attribution = integrated_gradients(model.eval(), test_set, ml)
    log.info("Integrated Gradients of %d events x %d steps in %.1f s: completeness within %.2g", attribution["events"],
             attribution["steps"], time.perf_counter() - start, attribution["completeness_max_deviation"])
    result["integrated_gradients"] = attribution
    return result


def score_of(model: torch.nn.Module) -> Callable[..., torch.Tensor]:
    """The model's score as a differentiable function of its inputs: sigmoid(logit), or for a
    multiclass model 1 - P(background), the ``score`` every stage reads."""
    scorer = models.ScoreModel(model)

    def score(*inputs):
        out = scorer(*inputs)
        return out if out.dim() == 1 else 1.0 - out[:, 0]

    return score


def path_attributions(score, x: list[torch.Tensor], baseline: list[torch.Tensor], fixed: list[torch.Tensor],
                      steps: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Integrated Gradients of ``score(*inputs, *fixed)`` for the events ``x`` (float64 tensors,
    events first) against ``baseline`` (the same shapes): (x - x') times the mean gradient at the
    midpoints a = (k + 1/2) / steps of the path x' + a (x - x'); ``fixed`` inputs stay as they
    are. Returns the attributions (float64, NaN where x is NaN) and score(x) - score(x'), which
    their sum approaches (completeness)."""
    m = len(x[0])
    alpha = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
    path = [(b + alpha.view(-1, *[1] * xi.dim()) * (xi - b)).reshape(steps * m, *xi.shape[1:]).float().requires_grad_()
            for xi, b in zip(x, baseline)]
    repeated = [f.repeat(steps, *[1] * (f.dim() - 1)) for f in fixed]
    with torch.enable_grad():
        gradients = torch.autograd.grad(score(*path, *repeated).sum(), path)
    attributions = [(xi - b) * g.double().reshape(steps, m, *xi.shape[1:]).mean(dim=0)
                    for xi, b, g in zip(x, baseline, gradients)]
    with torch.no_grad():
        difference = (score(*[t.float() for t in x], *fixed) - score(*[b.float() for b in baseline], *fixed)).double()
    return attributions, difference


def integrated_gradients(model: torch.nn.Module, test_set, ml: dict) -> dict:
    """Integrated Gradients (Sundararajan, Taly, Yan 2017) of the score with a background baseline.

    ``path_attributions`` with ``ml.metrics.integrated_gradients.steps`` points, the baseline x'
    the mean of the test split's background events (NaN ignored). Event-level features are
    attributed one by one; the objects' fields (set models) summed per collection of
    ``ml.objects``, with the event's own mask held fixed along the path (whether an object exists
    is not a continuous input). A missing feature (NaN) is missing in the event's baseline too and
    all along the path (the model imputes it): attribution 0. Reported per input: the mean
    |attribution| over ``events`` test events (signal and background, drawn with ``ml.seed``), the
    mean attribution over the signal among them, and the largest |sum of an event's attributions -
    (score(x) - score(x'))|: small for models smooth in their inputs (mlp, deepsets, transformer),
    not for those that jump where an object changes its neighbours (graph), its pixel (cnn) or its
    learned type embedding (``type_embedding``), which the path integral misses. Hand-written (a
    Riemann sum needs no library; captum is not a dependency of the project).
    """
    settings = ml["metrics"]["integrated_gradients"]
    rng = np.random.default_rng(ml["seed"])
    inputs = test_set.events.inputs()
    n = min(len(test_set.label), settings["events"])
    rows = np.sort(rng.choice(len(test_set.label), n, replace=False))
    continuous, fixed = inputs[:2], inputs[2:]  # (features[, objects]) and the mask
    baseline = [torch.from_numpy(np.nanmean(a[test_set.label < 0.5], axis=0)).double() for a in continuous]
    score = score_of(model)
    chunk = max(1, 8192 // settings["steps"])
    parts, deviation = [], []
    for start in range(0, n, chunk):
        pick = rows[start:start + chunk]
        x = [torch.from_numpy(a[pick]).double() for a in continuous]
        own_baseline = [torch.where(torch.isnan(xi), xi, b.expand_as(xi)) for b, xi in zip(baseline, x)]
        attributions, difference = path_attributions(score, x, own_baseline,
                                                     [torch.from_numpy(a[pick]) for a in fixed], settings["steps"])
        attributions = [np.nan_to_num(a.numpy()) for a in attributions]
        parts.append(attributions)
        deviation.append(sum(a.reshape(len(pick), -1).sum(axis=1) for a in attributions) - difference.numpy())
    features = np.concatenate([p[0] for p in parts])
    per_input = {name: features[:, j] for j, name in enumerate(test_set.events.feature_names)}
    if len(continuous) == 2:
        objects = np.concatenate([p[1] for p in parts])
        offset = 0
        for prefix, size in ml["objects"].items():
            per_input[f"objects:{prefix}"] = objects[:, offset:offset + size].reshape(n, -1).sum(axis=1)
            offset += size
    signal = test_set.label[rows] > 0.5
    return {"kind": "Integrated Gradients, mean |attribution| (baseline: the mean of the test background)",
            "steps": settings["steps"], "events": int(n),
            "values": {k: float(np.mean(np.abs(v))) for k, v in per_input.items()},
            "signal_mean": {k: float(np.mean(v[signal])) if signal.any() else 0.0 for k, v in per_input.items()},
            "completeness_max_deviation": float(np.max(np.abs(np.concatenate(deviation))))}


def _labelled(training_set) -> tuple[np.ndarray, ...]:
    return (*training_set.events.inputs(), training_set.target, training_set.weight)


def resolve_device(requested: str) -> torch.device:
    """``auto``: cuda when torch sees a GPU, else cpu; ``cuda`` without a GPU is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("ml.device is 'cuda' but torch sees no GPU; set ml.device to auto or cpu")
    return torch.device(requested)


def seed_everything(seed: int, threads: int, device: torch.device) -> None:
    """Same seed and inputs give the same model (bitwise on CPU)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)


def _tensors(arrays: tuple[np.ndarray, ...]) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)


class _Batches(torch.utils.data.Sampler):
    """Index tensors of consecutive batches of a permutation (seeded) or of 0..n-1 in order.

    Indexing the tensors with one index tensor per batch is much faster than a list of ints
    (what BatchSampler yields) and than collating single events. A last batch of one event
    joins the one before it: BatchNorm cannot train on a single event.
    """

    def __init__(self, n: int, batch_size: int, generator: torch.Generator | None):
        self.n, self.batch_size, self.generator = n, batch_size, generator

    def __iter__(self):
        order = torch.randperm(self.n, generator=self.generator) if self.generator is not None else torch.arange(self.n)
        batches = list(order.split(self.batch_size))
        if len(batches) > 1 and len(batches[-1]) == 1:
            batches[-2:] = [torch.cat(batches[-2:])]
        return iter(batches)

    def __len__(self) -> int:
        return -(-self.n // self.batch_size) - (self.n > 1 and self.n % self.batch_size == 1)


def _loader(dataset: TensorDataset, batch_size: int, device: torch.device, generator: torch.Generator | None):
    """DataLoader of whole batches (pinned memory on CUDA); shuffled when a generator is given."""
    return DataLoader(dataset, sampler=_Batches(len(dataset), batch_size, generator), batch_size=None,
                      pin_memory=device.type == "cuda")


def _scheduler(optimizer, settings: dict):
    if settings["schedule"] == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings["epochs"])
    if settings["schedule"] == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=settings["plateau_factor"], patience=settings["plateau_patience"])
    return None


def fingerprint(settings: dict, spec: dict, arrays: list[np.ndarray], seed: int) -> str:
    """Identifies a training: a checkpoint is resumed only if settings, inputs and seed are the same."""
    digest = hashlib.sha256(json.dumps([settings, spec, seed], sort_keys=True, default=str).encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def fit(model: torch.nn.Module, loss_fn, train: tuple[np.ndarray, ...], val: tuple[np.ndarray, ...], settings: dict,
        *, device: torch.device, seed: int, checkpoint: Path, key: str = "",
        on_epoch_end: Callable[[int, float], None] | None = None) -> dict:
    """Train ``model`` in place on ``train`` = (inputs..., target, weight); returns the history.

    Ends with the weights of the epoch with the lowest validation loss. ``on_epoch_end(epoch,
    val_loss)`` is called after each epoch's checkpoint is written (the tuning's pruner reads
    it; tests use it to simulate a kill).
    """
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
    scheduler = _scheduler(optimizer, settings)
    amp = device.type == "cuda" and settings["mixed_precision"]
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    state = {"epoch": 0, "best_loss": math.inf, "best_epoch": -1, "bad_epochs": 0, "stopped": False,
             "best_state": None, "history": {"train_loss": [], "val_loss": [], "lr": []}}
    checkpoint = Path(checkpoint)
    if checkpoint.is_file():
        # on the CPU first: the RNG states must stay CPU tensors; load_state_dict moves the rest
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if saved.get("key") == key:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(saved["scheduler"])
            scaler.load_state_dict(saved["scaler"])
            torch.set_rng_state(saved["rng_cpu"])
            if device.type == "cuda" and saved.get("rng_cuda") is not None:
                torch.cuda.set_rng_state(saved["rng_cuda"])
            state = saved["state"]
            log.info("resuming from %s after epoch %d", checkpoint, state["epoch"])
        else:
            log.warning("ignoring %s: it belongs to another training (settings, inputs or seed differ)", checkpoint)

    train_set = TensorDataset(*_tensors(train))
    val_set = TensorDataset(*_tensors(val))
    n_train = len(train_set)
    while state["epoch"] < settings["epochs"] and not state["stopped"]:
        epoch = state["epoch"]
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        model.train()
        start = time.perf_counter()
        total, norm = 0.0, 0.0
        for batch in _loader(train_set, settings["batch_size"], device, generator):
            *inputs, target, weight = (t.to(device, non_blocking=True) for t in batch)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
                logits = model(*inputs)
            loss = loss_fn(logits.float(), target, weight)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            batch_norm = float(weight.abs().sum())
            total += float(loss.detach()) * batch_norm
            norm += batch_norm
        seconds = time.perf_counter() - start  # for the log only
        val_loss = evaluate_loss(model, loss_fn, val_set, settings["eval_batch_size"], device, amp)
        lr = optimizer.param_groups[0]["lr"]
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(val_loss)
        elif scheduler is not None:
            scheduler.step()
        history = state["history"]
        for name, value in (("train_loss", total / norm), ("val_loss", val_loss), ("lr", lr)):
            history[name].append(value)
        if val_loss < state["best_loss"]:
            state.update(best_loss=val_loss, best_epoch=epoch, bad_epochs=0,
                         best_state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        else:
            state["bad_epochs"] += 1
            state["stopped"] = state["bad_epochs"] >= settings["patience"]
        state["epoch"] = epoch + 1
        log.info("epoch %d/%d: train loss %.5f, val loss %.5f%s, lr %.2e, %.1f s (%.0f events/s)",
                 epoch + 1, settings["epochs"], history["train_loss"][-1], val_loss,
                 " (best)" if state["best_epoch"] == epoch else "", lr, seconds, n_train / seconds)
        _save_checkpoint(checkpoint, key, model, optimizer, scheduler, scaler, state, device)
        if state["stopped"]:
            log.info("early stopping: no better validation loss for %d epochs; best epoch %d",
                     settings["patience"], state["best_epoch"] + 1)
        if on_epoch_end is not None:
            on_epoch_end(epoch, val_loss)
    model.load_state_dict(state["best_state"])
    return {**state["history"], "best_epoch": state["best_epoch"], "best_val_loss": state["best_loss"],
            "epochs_run": state["epoch"], "training_events": n_train}


def _save_checkpoint(path, key, model, optimizer, scheduler, scaler, state, device) -> None:
    payload = {"key": key, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
               "scheduler": scheduler.state_dict() if scheduler is not None else None,
               "scaler": scaler.state_dict(), "rng_cpu": torch.get_rng_state(),
               "rng_cuda": torch.cuda.get_rng_state() if device.type == "cuda" else None, "state": state}
    with io.atomic_path(path) as tmp:
        torch.save(payload, tmp)


@torch.no_grad()
def evaluate_loss(model, loss_fn, dataset: TensorDataset, batch_size: int, device: torch.device, amp: bool) -> float:
    """Loss over a whole split, batch losses averaged with their summed |weight|."""
    model.eval()
    total, norm = 0.0, 0.0
    for batch in _loader(dataset, batch_size, device, None):
        *inputs, target, weight = (t.to(device, non_blocking=True) for t in batch)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            logits = model(*inputs)
        batch_norm = float(weight.abs().sum())
        total += float(loss_fn(logits.float(), target, weight)) * batch_norm
        norm += batch_norm
    return total / norm


@torch.no_grad()
def predict_torch(model: torch.nn.Module, inputs: tuple[np.ndarray, ...], batch_size: int,
                  device: torch.device = torch.device("cpu")) -> np.ndarray:
    """Scores in [0, 1] (float64, (events,)) or class probabilities ((events, classes)) for ``inputs``."""
    scorer = models.ScoreModel(model).to(device).eval()
    tensors = _tensors(inputs)
    n = len(tensors[0])
    out = [scorer(*(t[i:i + batch_size].to(device) for t in tensors)).float().cpu()
           for i in range(0, n, batch_size)]
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)


def export_onnx(model: torch.nn.Module, example: tuple[np.ndarray, ...], path: Path) -> None:
    """ONNX of the score (sigmoid, or the softmax class probabilities) with a dynamic batch axis, written atomically, by the
    torch.export-based exporter (``dynamo=True``; needs onnxscript)."""
    scorer = models.ScoreModel(copy.deepcopy(model).cpu()).eval()
    names = list(scorer.input_names)
    events = torch.export.Dim("events")  # ScoreModel.forward(*inputs): one tuple of them
    # the example holds 2 events: a batch of 1 would be specialised as a constant
    arguments = tuple(torch.from_numpy(np.ascontiguousarray(a[:2])) for a in example)
    with io.atomic_path(path) as tmp:
        program = torch.onnx.export(scorer, arguments, dynamo=True, input_names=names, output_names=["score"],
                                    dynamic_shapes=(tuple({0: events} for _ in names),), verbose=False)
        program.save(str(tmp))


