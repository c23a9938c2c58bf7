"""The events table the later stages share: every sample's features or scores as one
DataFrame, and the scaling of a subset of it (a split, or several) to full-dataset yields.

Optimisation, classifier evaluation and the fit each use only part of the events (the
validation split, the test split, the splits not used in training). Their expected yields
are those of the whole dataset when each sample's weights are scaled by
(sum of the sample's weights) / (sum over the chosen events of that sample); for data
(weight 1) that is the ratio of event counts. The split is a hash of eventNumber, so
independent of the physics, and the scaling is unbiased.

Where data enter a stage, ``require_finite`` refuses NaN and infinite values with the sample,
the column and the count named (a non-finite weight, observable or score would otherwise give
a plausible-looking wrong yield, threshold or fit), and ``empty_samples`` names the declared
samples that have no events.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

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
        if frames[-1].empty:
            log.warning("sample %s has no events after the selection (%s is empty): it contributes nothing",
                        path.stem, path)
    return pd.concat(frames, ignore_index=True), files


NONFINITE_ADVICE = ("a NaN or infinite value would make every yield, score and fit after it meaningless; "
                    "find where it comes from (the sample's input ntuple or an earlier stage) and rerun from there")


def _column_names(frame) -> list[str]:
    if hasattr(frame, "schema") and hasattr(frame.schema, "names"):  # a pyarrow Table or RecordBatch
        return list(frame.schema.names)
    return list(frame.keys())


def _row_values(frame, column: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(values as float, row of each value or None when one value per row); list columns are flattened."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = frame[column]
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
            rows = pc.list_parent_indices(values).to_numpy(zero_copy_only=False)
            return values.flatten().to_numpy(zero_copy_only=False).astype(float, copy=False), rows
        return values.to_numpy(zero_copy_only=False).astype(float, copy=False), None
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=float, na_value=np.nan), None
    return np.asarray(values, dtype=float), None


def _samples_of(frame, sample: str | None, n_rows: int) -> np.ndarray:
    """The sample of each row: the frame's ``sample`` column, else ``sample`` for every row."""
    if "sample" not in _column_names(frame):
        return np.full(n_rows, sample or "?", dtype=object)
    values = frame["sample"]
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=object)
    if hasattr(values, "to_pylist"):  # pyarrow
        return np.asarray(values.to_pylist(), dtype=object)
    return np.asarray(values, dtype=object)


def nonfinite_counts(frame, columns: Iterable[str], *, allow_nan: Iterable[str] = (),
                     sample: str | None = None) -> dict[tuple[str, str], list[int]]:
    """{(column, sample): [number of NaN, number of inf]} for the ``columns`` of ``frame`` that
    hold non-finite values (NaN not counted in ``allow_nan`` columns); empty when all are finite.

    ``frame``: a pandas DataFrame, a pyarrow Table or RecordBatch, or a dict of arrays; the
    samples come from its ``sample`` column, else from ``sample``. List columns (objects) are
    counted value by value.
    """
    allow_nan = set(allow_nan)
    names = _column_names(frame)
    samples = None
    counts: dict[tuple[str, str], list[int]] = {}
    for column in columns:
        values, rows = _row_values(frame, column)
        inf = np.isinf(values)
        nan = np.zeros_like(inf) if column in allow_nan else np.isnan(values)
        bad = nan | inf
        if not bad.any():
            continue
        if samples is None:
            samples = _samples_of(frame, sample, len(frame[names[0]]))
        owner = samples[rows] if rows is not None else samples
        for name in sorted(set(owner[bad].tolist()), key=str):
            in_sample = owner == name
            counts[(column, name)] = [int(np.count_nonzero(nan & in_sample)), int(np.count_nonzero(inf & in_sample))]
    return counts


def nonfinite_error(where: str, counts: dict[tuple[str, str], list[int]], events: dict[str, int],
                    advice: str = NONFINITE_ADVICE) -> ValueError:
    """The one-line error for ``counts`` (from ``nonfinite_counts``); ``events``: events per sample."""
    by_column: dict[str, list[str]] = {}
    for (column, sample), (n_nan, n_inf) in counts.items():
        what = " and ".join(f"{n} {label}" for n, label in ((n_nan, "NaN"), (n_inf, "inf")) if n)
        by_column.setdefault(column, []).append(
            f"{what} value(s) in sample {sample} (of {events.get(sample, '?')} events)")
    problems = [f"column {column!r} holds " + ", ".join(parts) for column, parts in by_column.items()]
    return ValueError(f"{where}: " + "; ".join(problems) + f"; {advice}")


def require_finite(frame, columns: Iterable[str], where: str, *, allow_nan: Iterable[str] = (),
                   sample: str | None = None, advice: str = NONFINITE_ADVICE) -> None:
    """Refuse NaN and infinite values in ``columns`` of ``frame``: a ValueError naming ``where``,
    each bad column, its NaN and inf counts per sample, and what to do (``advice``).

    Columns in ``allow_nan`` may hold NaN (a documented meaning, e.g. a feature of a missing
    object) but never inf. ``frame`` and ``sample`` as for ``nonfinite_counts``.
    """
    counts = nonfinite_counts(frame, columns, allow_nan=allow_nan, sample=sample)
    if counts:
        names = _column_names(frame)
        samples = _samples_of(frame, sample, len(frame[names[0]]))
        unique, number = np.unique(samples.astype(str), return_counts=True)
        raise nonfinite_error(where, counts, dict(zip(unique.tolist(), number.tolist())), advice)


def empty_samples(frame: pd.DataFrame, declared: Iterable[str]) -> list[str]:
    """The ``declared`` samples with no events in ``frame`` (column ``sample``)."""
    present = set(frame["sample"].unique()) if "sample" in frame else set()
    return [name for name in declared if name not in present]


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
