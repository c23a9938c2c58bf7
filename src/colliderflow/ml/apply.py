"""Apply a trained model to a sample: scores for every event and split, written to Parquet.

With cross-training (``features.folds`` >= 2) the model is k trainings, one per fold: each
event is scored by the training of its fold (``features.assign_fold`` with the k and salt the
trainings recorded), which never saw it.

The model directory is self-describing (``model_info.json`` holds the ``ml`` settings it was
trained with), so the inputs are built exactly as in training whatever the current config says.
The scores Parquet (``results/<analysis>/scores/<model>/<sample>.parquet``) holds
``SCORE_COLUMNS``, the observable's column (named by the analysis) and ``score``: what the
optimise and inference stages read. A multiclass model's file also holds ``score_<class>``,
P(class), for every class (background first), and its ``score`` is 1 - P(background), so
every stage that reads signal against background works on it unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import features, io
from . import data, kinds

if TYPE_CHECKING:
    from ..analyses.interface import Observable

log = logging.getLogger(__name__)

SCORE_COLUMNS = ("eventNumber", "sample", "process", "kind", "label", "split", "weight")
INFO_FILE = "model_info.json"  # name, kind, settings and ml section of a trained model
ONNX_FILE = "model.onnx"  # the score of a kind that exports one (the torch kinds: ``network``)


@dataclass
class Predictor:
    """A loaded model: ``predict(inputs)`` gives scores in [0, 1] for (features[, objects, mask]),
    or the class probabilities (events, classes) of a multiclass model (``info["classes"]``)."""

    info: dict
    predict: Callable[[tuple[np.ndarray, ...]], np.ndarray]

    def scores(self, inputs: tuple[np.ndarray, ...]) -> dict[str, np.ndarray]:
        return score_columns(self.predict(inputs), self.info["classes"])

    def score(self, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        """The signal-against-background score, also of a multiclass model."""
        return self.scores(inputs)["score"]


def score_columns(prediction: np.ndarray, classes: list[str] | None) -> dict[str, np.ndarray]:
    """The score columns of a model's prediction: ``score``, and for a multiclass model
    (``classes``: the class names, background first) ``score_<class>`` = P(class) with
    ``score`` = 1 - P(background)."""
    if classes is None:
        return {"score": prediction}
    return {"score": 1.0 - prediction[:, 0], **{f"score_{name}": prediction[:, k] for k, name in enumerate(classes)}}


def load_predictor(modeldir: str | Path, threads: int = 1) -> Predictor:
    """The trained model in ``modeldir``: its ONNX export where it has one (checked against the
    framework at training), else its kind's ``load``. ONNX Runtime scores without importing the
    kind or its framework (torch costs a second and a half of CPU in every apply job)."""
    modeldir = Path(modeldir)
    info_path = modeldir / INFO_FILE
    if not info_path.is_file():
        raise FileNotFoundError(f"{info_path} missing: {modeldir} is not a trained model directory (run colliderflow train)")
    info = io.read_json(info_path)
    if (modeldir / ONNX_FILE).is_file():
        return Predictor(info, onnx_predictor(modeldir / ONNX_FILE, info["settings"]["eval_batch_size"], threads))
    kind = kinds.load(info["type"])
    if not hasattr(kind, "load"):
        raise FileNotFoundError(f"{modeldir / ONNX_FILE} missing: model kind {info['type']!r} is scored through its "
                                f"ONNX export and {modeldir} has none; train the model again")
    return Predictor(info, kind.load(modeldir, info, threads))


def onnx_predictor(path: Path, batch_size: int, threads: int = 1) -> Callable[[tuple[np.ndarray, ...]], np.ndarray]:
    """``predict(inputs)`` of an ONNX model on the CPU: its output, as float64, for ``inputs`` =
    (features[, objects, mask]) (``kinds.INPUT_NAMES``, the names of the graph's inputs),
    ``batch_size`` events at a time."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [node.name for node in session.get_inputs()]

    def predict(inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        given = dict(zip(kinds.INPUT_NAMES, inputs))
        parts = [session.run(None, {n: np.ascontiguousarray(given[n][i:i + batch_size]) for n in names})[0]
                 for i in range(0, len(inputs[0]), batch_size)]
        return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)

    return predict


def apply_model(modeldirs: Sequence[str | Path], features_dir: str | Path, sample: str, out: str | Path,
                observable: "Observable", threads: int = 1, name: str | None = None) -> int:
    """Score every event of ``sample`` and write the scores Parquet; returns the number of events.

    ``modeldirs``: the model folder, or with cross-training the folders of its k fold
    trainings in fold order. ``observable``: the analysis's; it must be the one the model was
    trained with (the same column), and its column is written next to the score. ``name``,
    when given, must be the model's name (a rule wired to the wrong folder fails).
    """
    predictors = [load_predictor(modeldir, threads) for modeldir in modeldirs]
    for modeldir, predictor in zip(modeldirs, predictors):
        info = predictor.info
        if name is not None and info["name"] != name:
            raise ValueError(f"{modeldir} holds model '{info['name']}', not '{name}'")
        trained_on = info["observable"]["column"]
        if trained_on != observable.column:
            raise ValueError(f"{modeldir}: model '{info['name']}' was trained with the observable '{trained_on}', "
                             f"not '{observable.column}'; retrain it for this analysis")
    fold_settings = _fold_settings(modeldirs, [p.info for p in predictors])
    info = predictors[0].info
    events = data.load_events(features_dir, {"ml": info["ml"]}, observable, samples=[sample],
                              with_objects="objects" in info["inputs"])
    if fold_settings is None:
        scores = predictors[0].scores(events.inputs())
    else:
        fold, _ = features.assign_fold(events.frame["eventNumber"].to_numpy(), fold_settings)
        scores = out_of_fold_scores(predictors, events, fold)
    columns = {c: events.frame[c].to_numpy() for c in SCORE_COLUMNS}
    columns["label"] = columns["label"].astype(np.int8)
    columns[observable.column] = events.frame[observable.column].to_numpy()
    columns.update({name: values.astype(np.float32) for name, values in scores.items()})
    table = pa.table(columns)
    with io.atomic_path(out) as tmp:
        pq.write_table(table, tmp)
    log.info("%s: %d events of %s scored with %s -> %s", sample, len(events), features_dir, info["name"], out)
    return len(events)


def _fold_settings(modeldirs: Sequence[str | Path], infos: list[dict]) -> dict | None:
    """The fold settings (``features.folds`` and ``features.salt``) the trainings were made
    with, checked to be one model's k folds in order; None for a model trained once."""
    folds = [info["fold"] for info in infos]
    if folds == [None]:
        return None
    first = folds[0]
    if first is None or folds != [{**first, "index": i} for i in range(first["of"])] \
            or len({info["name"] for info in infos}) != 1:
        found = "; ".join(f"{d}: model {info['name']}, fold {info['fold']}" for d, info in zip(modeldirs, infos))
        raise ValueError(f"apply needs one model folder, or the folders of one model's k fold trainings in "
                         f"fold order (features.folds); got {found}")
    return {"folds": first["of"], "salt": first["salt"]}


def out_of_fold_scores(predictors: list[Predictor], events: data.Events, fold: np.ndarray) -> dict[str, np.ndarray]:
    """The score columns of every event from the predictor of its fold (``predictors[i]``
    scores the events of fold i)."""
    scores: dict[str, np.ndarray] = {}
    for index, predictor in enumerate(predictors):
        rows = np.flatnonzero(fold == index)
        for column, values in predictor.scores(events.subset(rows).inputs()).items():
            scores.setdefault(column, np.full(len(events), np.nan, dtype=np.float64))[rows] = values
    return scores
