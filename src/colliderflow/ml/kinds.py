"""Model kinds: a kind is one module, registered by name (``colliderflow.registry``: the
built-ins and the entry-point group ``colliderflow.models``), with its piece of the config
schema beside it (``<module>.schema.yaml``: ``description``, ``uses``: the shared ml sections
it reads, e.g. ``[network]``, and ``properties``: its own settings, the section ``ml.<kind>``).

Everything else in the stage is the same for every kind: the events, the evaluation, the
plots, the scores Parquet. The module defines

* ``INPUTS``: the model inputs it reads, in order, from ("features", "objects", "mask");
* ``POSITIVE_WEIGHTS``: whether it trains on |weight| (xgboost refuses negative weights);
* optionally ``MULTICLASS = True``: it can classify into the classes of ``ml.classes``
  (``settings.classes``, the training sets' ``target`` is then the class index) when the
  model's ``multiclass`` is set; without it, the kind scores signal against background only;
* ``train(settings, sets, ml, modeldir, workdir, on_epoch_end=None) -> history``: fit on the
  training sets (``data.training_sets``), write the model files into ``modeldir`` (and files
  of an unfinished training, such as checkpoints, into ``workdir``, which a restarted job
  keeps), calling ``on_epoch_end(step, val_loss)`` after each epoch or boosting round where
  given (the pruner of the hyper-parameter search, ``tune``); the history holds
  ``train_loss``, ``val_loss``, ``best_val_loss`` (what the search minimises; None where
  nothing is fitted on a loss), ``best_epoch``, ``epochs_run``, ``training_events``,
  ``device``, ``loss`` (its name), ``step`` (what one entry of the loss lists is) and, where
  nothing is trained, a ``note`` saying so; no timings (they differ between runs: the log has
  them), so the same seed gives the same file;
* ``load(modeldir, info, threads) -> predict``: ``predict(inputs)`` gives scores in [0, 1],
  (events,), or for a multiclass model the class probabilities, (events, classes), in the
  order of ``info["classes"]``. Not needed by a kind whose ``train`` writes ``model.onnx``
  (``apply.ONNX_FILE``, checked against the framework): every model with one is scored by
  ONNX Runtime (``apply.load_predictor``), without importing its kind (the torch kinds);
* ``importance(modeldir, predict, test_set, ml) -> {"kind": ..., "values": {input: value}}`` (the
  torch kinds add ``integrated_gradients``, ``network.integrated_gradients``).

A torch kind builds its network and hands it to ``network`` (the shared loop, ONNX export
checked against onnxruntime). The module is imported when used (torch takes seconds to
import, and applying a BDT never needs it).
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType

from .. import registry
from ..config import ConfigError

INPUT_NAMES = ("features", "objects", "mask")
INTERFACE = ("INPUTS", "POSITIVE_WEIGHTS", "train", "importance")  # and ``load`` where no ONNX export


@functools.cache
def load(kind: str) -> ModuleType:
    """The module of model kind ``kind`` (the ``type`` of an ``ml.models`` entry), checked."""
    try:
        name = registry.model_source(kind)
    except KeyError as err:
        raise ConfigError(err.args[0]) from None
    module = importlib.import_module(name)
    missing = [attribute for attribute in INTERFACE if not hasattr(module, attribute)]
    if missing:
        raise TypeError(f"model kind {kind!r} ({name}) lacks {', '.join(missing)}; see colliderflow.ml.kinds")
    inputs = tuple(module.INPUTS)
    if inputs not in {INPUT_NAMES[:n] for n in (0, 1, 3)}:
        raise TypeError(f"model kind {kind!r} ({name}): INPUTS is {inputs}, expected (), ('features',) or "
                        f"{INPUT_NAMES}")
    return module


def multiclass(kind: str) -> bool:
    """Whether models of ``kind`` can classify into several classes (``MULTICLASS``)."""
    return getattr(load(kind), "MULTICLASS", False)


def reads_objects(kind: str) -> bool:
    """Whether models of ``kind`` read the per-object lists (set models)."""
    return "objects" in load(kind).INPUTS
