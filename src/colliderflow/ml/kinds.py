"""The model types of ``ml.models`` and what differs between them, in one table.

Everything else in the stage is the same for every type: the events, the evaluation, the
plots, the scores Parquet. A type names the module with its code, which has

* ``train(settings, sets, ml, outdir, on_epoch_end=None) -> history``: fit on the training
  sets (``data.training_sets``), write the model files into ``outdir``; the history holds
  ``train_loss``, ``val_loss``, ``best_epoch``, ``epochs_run``, ``train_seconds``,
  ``training_events``, ``device``, ``loss`` (its name), ``step`` (what one entry of the loss
  lists is) and, where nothing is trained, a ``note`` saying so;
* ``load(modeldir, info, threads) -> predict``: ``predict(inputs)`` gives scores in [0, 1];
* ``importance(modeldir, predict, test_set, ml) -> {"kind": ..., "values": {input: value}}``.

The module is imported when used (torch takes seconds to import, and applying a BDT never
needs it).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from ..config import ConfigError


@dataclass(frozen=True)
class Kind:
    """One model type: where its settings and code are, and which inputs it reads."""

    section: str | None  # the ml section its settings come from (None: it has no settings)
    module: str  # the module of colliderflow.ml with train, load, importance
    inputs: tuple[str, ...]  # the model inputs it reads, in order: features[, objects, mask]
    positive_weights: bool = False  # trains on |weight| (xgboost refuses negative weights)

    @property
    def objects(self) -> bool:
        """Whether it reads the per-object lists (set models)."""
        return "objects" in self.inputs

    def code(self) -> ModuleType:
        return importlib.import_module(f"{__package__}.{self.module}")


KINDS = {
    "cutbased": Kind(None, "cutbased", ()),
    "bdt": Kind("bdt", "bdt", ("features",), positive_weights=True),
    "mlp": Kind("network", "network", ("features",)),
    "deepsets": Kind("network", "network", ("features", "objects", "mask")),
}


def kind_of(type_name: str) -> Kind:
    """The model type ``type_name`` (the ``type`` of an ``ml.models`` entry)."""
    if type_name not in KINDS:  # the schema's enum makes this unreachable from a validated config
        raise ConfigError(f"unknown model type '{type_name}'; known: {', '.join(KINDS)}")
    return KINDS[type_name]
