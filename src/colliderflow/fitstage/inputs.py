"""The events the fit stage works on: which splits, which category, what luminosity share.

Why not every event? The classifiers are trained on the ``train`` split: on those events
the score is biased (signal MC scores too high, and, when the classifier learns the
background from data sidebands, sideband data scores too low while the never-seen signal
window keeps unbiased scores, which would sculpt a bump into the high-score categories).
So the fit uses only the splits in ``fit.splits`` (default val + test), for data and MC
alike. The data then hold a share ``data_fraction`` of the luminosity (measured by the
event counts: the split is a hash of eventNumber, independent of the physics), and the
signal expectation is scaled to the same share. The cut-based baseline uses the same
splits, so every model is compared on the same data.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..optimise import CUTBASED, assign_categories, read_table
from ..stats.settings import fit_settings

log = logging.getLogger(__name__)

COLUMNS = ("eventNumber", "sample", "process", "kind", "split", "weight", "m_yy")

def stage_settings(cfg: dict) -> dict:
    """``cfg["fit"]`` validated against the one schema with defaults filled."""
    return fit_settings(cfg)


def load_events(model: str, directory: str | Path) -> tuple[pd.DataFrame, list[Path]]:
    """Scores (or, for the cut-based baseline, features) of every sample as one table."""
    columns = list(COLUMNS) + ([] if model == CUTBASED else ["score"])
    frame, files = read_table(directory, columns=columns)
    return frame, files


def prepare(cfg: dict, frame: pd.DataFrame, selection: dict) -> pd.DataFrame:
    """Events of the fit splits inside the mass range, with a ``category`` index (-1: none).

    MC weights are scaled per sample by (total weight) / (weight in the fit splits) times
    the data's luminosity share, so the MC yields are the expectation for exactly the data
    that enter the fit. Attributes ``data_fraction`` and ``categories`` ride on the frame.
    """
    st = stage_settings(cfg)
    splits = list(st["splits"])
    lo, hi = st["range"]
    unknown = sorted(set(splits) - set(frame["split"].unique()))
    if unknown:
        log.warning("fit.splits %s not present in the inputs", unknown)
    in_splits = frame["split"].isin(splits).to_numpy()
    is_data = (frame["kind"] == "data").to_numpy()
    n_data = int(is_data.sum())
    data_fraction = float((is_data & in_splits).sum() / n_data) if n_data else 1.0
    if n_data and data_fraction == 0:
        raise ValueError(f"no data events in the fit splits {splits}; check fit.splits")

    total = frame.groupby("sample")["weight"].sum()
    chosen = frame[in_splits]
    in_split = chosen.groupby("sample")["weight"].sum()
    scale = (total / in_split).replace([np.inf, -np.inf], np.nan)
    part = chosen.copy()
    is_mc = (part["kind"] != "data").to_numpy()
    factor = part["sample"].map(scale).to_numpy(dtype=float) * data_fraction
    part["weight"] = np.where(is_mc, part["weight"].to_numpy() * np.nan_to_num(factor), part["weight"].to_numpy())
    part = part[(part["m_yy"] >= lo) & (part["m_yy"] <= hi)]
    categories = selection["categories"]
    score = part["score"].to_numpy(dtype=float) if "score" in part else np.zeros(len(part))
    part["category"] = assign_categories(score, categories)
    part = part[part["category"] >= 0].reset_index(drop=True)
    part.attrs["data_fraction"] = data_fraction
    part.attrs["splits"] = splits
    part.attrs["categories"] = [c["name"] for c in categories]
    log.info(
        "fit inputs: splits %s (data share %.3f), %d events in %d categories",
        splits, data_fraction, len(part), len(categories),
    )
    return part


def category_arrays(part: pd.DataFrame, kind: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{category name: (m_yy, weight)} for one kind of sample (data, signal or background)."""
    names = part.attrs["categories"]
    sel = part[part["kind"] == kind]
    out = {}
    for k, name in enumerate(names):
        rows = sel[sel["category"] == k]
        out[name] = (rows["m_yy"].to_numpy(dtype=float), rows["weight"].to_numpy(dtype=float))
    return out
