"""Model type ``cutbased``: the analysis selection itself, as a scorer like any model.

The events in the features files are those the analysis selection keeps, so the cut-based
selection is the classifier that scores every event 1: nothing to train, no inputs read.
Going through the same stage as the trained models (metrics, plots, scores Parquet) lets
optimise, inference and compare treat the baseline like any other model, with no special
case. Honestly reported: its ROC is the single point (1, 1), its Z curve is flat at the Z of
the selection (every model's ``z_inclusive``) up to the last threshold, the loss plot says
that nothing was trained and the importance plot that no input is read.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SCORE = 1.0  # every selected event passes the selection
INPUTS = ()
POSITIVE_WEIGHTS = False


def train(settings: dict, sets: dict, ml: dict, modeldir: Path, workdir: Path, on_epoch_end=None) -> dict:
    """Nothing to fit and no model file: the history says so."""
    log.info("%s: the cut-based selection scores every selected event %g; nothing to train",
             settings["name"], SCORE)
    return {"train_loss": [], "val_loss": [], "best_epoch": -1, "best_val_loss": None, "epochs_run": 0,
            "training_events": 0, "device": "none", "loss": None, "step": None,
            "note": f"no training: the cut-based selection scores every event {SCORE:g}"}


def load(modeldir: Path, info: dict, threads: int = 1):
    return lambda inputs: np.full(len(inputs[0]), SCORE)


def importance(modeldir: Path, predict, test_set, ml: dict) -> dict:
    return {"kind": "none: the cut-based selection reads no classifier input", "values": {}}
