"""The events table the later stages share: every sample's features or scores as one
DataFrame, and the scaling of a subset of it (a split, or several) to full-dataset yields.

Optimisation, classifier evaluation and the fit each use only part of the events (the
validation split, the test split, the splits not used in training). Their expected yields
are those of the whole dataset when each sample's weights are scaled by
(sum of the sample's weights) / (sum over the chosen events of that sample); for data
(weight 1) that is the ratio of event counts. The split is a hash of eventNumber, so
independent of the physics, and the scaling is unbiased.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def read_table(directory: str | Path, columns=None) -> tuple[pd.DataFrame, list[Path]]:
    """All ``<sample>.parquet`` files of a directory as one table, and the files read."""
    directory = Path(directory)
    files = sorted(directory.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no <sample>.parquet files in {directory}; run the stage that writes them first")
    frames = []
    for path in files:
        try:
            frames.append(pd.read_parquet(path, columns=columns))
        except (KeyError, ValueError) as err:  # pyarrow names a missing column in its message
            raise KeyError(f"{path}: cannot read columns {columns} ({err}); rerun the stage that writes it") from err
    return pd.concat(frames, ignore_index=True), files


def scale_to_full_yield(frame: pd.DataFrame, chosen) -> np.ndarray:
    """Per-event factor that scales the ``chosen`` events to their sample's full yield.

    ``frame`` needs columns ``sample`` and ``weight``; ``chosen`` is a boolean mask. The factor
    is sum_w(sample) / sum_w(sample, chosen) for chosen events, and NaN where a sample has no
    usable (non-zero, finite) weight among the chosen events, so callers must decide what to do
    with such samples (they are named in the warning).
    """
    chosen = np.asarray(chosen, dtype=bool)
    weight = frame["weight"].to_numpy(dtype=float)
    sample = frame["sample"].to_numpy()
    total = pd.Series(weight).groupby(sample).sum()
    in_chosen = pd.Series(np.where(chosen, weight, 0.0)).groupby(sample).sum()
    ratio = total / in_chosen
    bad = ~np.isfinite(ratio) | (ratio <= 0)
    if bad.any():
        log.warning("samples %s have no usable weight among the chosen events and are left out",
                    sorted(ratio.index[bad].tolist()))
    ratio[bad] = np.nan
    return ratio.reindex(sample).to_numpy()
