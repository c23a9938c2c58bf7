"""The events the fit stage works on: which splits, which category, what luminosity share.

Why not every event? The classifiers are trained on the ``train`` split: on those events
the score is biased (signal MC scores too high, and, when the classifier learns the
background from data sidebands, sideband data scores too low while the never-seen signal
window keeps unbiased scores, which would sculpt a bump into the high-score categories).
So the fit uses only the splits in ``fit.splits`` (default val + test), for data and MC
alike. The data then hold a share ``data_fraction`` of the luminosity (measured by the
event counts: the split is a hash of eventNumber, independent of the physics), and the
signal expectation is scaled to the same share. With cross-training (``features.folds``
>= 2) every event is scored by a model that never saw it, so the fit uses every split
(``fit_splits``) and ``data_fraction`` is 1. Every model (the cut-based baseline is one)
uses the same splits, so every model is compared on the same data.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..analyses import Observable
from ..events import read_table, require_finite, scale_to_full_yield
from ..features import unbiased_splits
from ..optimise import assign_categories, class_score_columns

log = logging.getLogger(__name__)

COLUMNS = ("eventNumber", "sample", "process", "kind", "split", "weight", "score")


def load_events(directory: str | Path, observable: Observable) -> tuple[pd.DataFrame, list[Path]]:
    """A model's scores of every sample as one table, and the files read; a NaN or inf weight,
    observable or score is refused with the sample and column named."""
    frame, files = read_table(directory, columns=[*COLUMNS, observable.column, *class_score_columns(directory)])
    require_finite(frame, ["weight", observable.column, "score"], f"fit inputs in {directory}",
                   advice="the weight, the observable and the score must be finite: rerun the features stage "
                          "(it refuses non-finite weights and observables) and the model's apply")
    return frame, files


def fit_splits(cfg: dict) -> list[str]:
    """The splits the fit uses: ``fit.splits``, or every split with cross-training."""
    return unbiased_splits(cfg["features"], cfg["fit"]["splits"])


def prepare(splits: list[str], observable: Observable, frame: pd.DataFrame, selection: dict) -> pd.DataFrame:
    """Events of ``splits`` (``fit_splits``) inside the observable range, with a ``category`` index.

    MC weights are scaled per sample by (total weight) / (weight in the fit splits) times
    the data's luminosity share, so the MC yields are the expectation for exactly the data
    that enter the fit. Attributes ``data_fraction``, ``splits``, ``categories`` and
    ``observable`` (the column) ride on the frame.
    """
    unknown = sorted(set(splits) - set(frame["split"].unique()))
    if unknown:
        log.warning("fit splits %s not present in the inputs", unknown)
    in_splits = frame["split"].isin(splits).to_numpy()
    is_data = (frame["kind"] == "data").to_numpy()
    n_data = int(is_data.sum())
    data_fraction = float((is_data & in_splits).sum() / n_data) if n_data else 1.0
    if n_data and data_fraction == 0:
        raise ValueError(f"no data events in the fit splits {splits}; check fit.splits (or features.folds)")

    factor = scale_to_full_yield(frame, in_splits)[in_splits] * data_fraction
    part = frame[in_splits].copy()
    is_mc = (part["kind"] != "data").to_numpy()
    part["weight"] = np.where(is_mc, part["weight"].to_numpy() * np.nan_to_num(factor), part["weight"].to_numpy())
    part = part[observable.in_range(part[observable.column].to_numpy(dtype=float))]
    categories = selection["categories"]
    part["category"] = assign_categories(part, selection)
    part = part[part["category"] >= 0].reset_index(drop=True)
    part.attrs["data_fraction"] = data_fraction
    part.attrs["splits"] = list(splits)
    part.attrs["categories"] = [c["name"] for c in categories]
    part.attrs["observable"] = observable.column
    log.info(
        "fit inputs: splits %s (data share %.3f), %d events in %d categories",
        splits, data_fraction, len(part), len(categories),
    )
    return part


def category_arrays(part: pd.DataFrame, kind: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{category name: (observable, weight)} for one kind of sample (data, signal or background)."""
    names = part.attrs["categories"]
    column = part.attrs["observable"]
    sel = part[part["kind"] == kind]
    out = {}
    for k, name in enumerate(names):
        rows = sel[sel["category"] == k]
        out[name] = (rows[column].to_numpy(dtype=float), rows["weight"].to_numpy(dtype=float))
    return out
