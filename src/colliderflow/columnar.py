"""Flat-array tools for columnar event processing, shared by the analyses.

Object collections are handled as flat numpy arrays (one entry per object) plus the
per-event counts or offsets: each cut is then one numpy pass with no per-call awkward
overhead, which keeps a skim close to the rate at which uproot can read the branches.
Written by hand where awkward has no single kernel for the job (top-k by pT without a sort,
zero-copy Arrow columns); everything else is numpy, awkward and vector.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pyarrow as pa

def delta_phi(a, b):
    """phi_a - phi_b wrapped into [-pi, pi] (round-based: several times faster than a modulo)."""
    d = np.subtract(a, b)
    return d - (2 * np.pi) * np.round(d / (2 * np.pi))


def cartesian(pt, eta, phi):
    """(px, py, pz) as float64 from pt, eta, phi.

    The trigonometry runs in the inputs' dtype: for the ntuple's float32 that is several
    times faster than float64 in numpy and as exact as the inputs themselves. The results
    are widened to float64 so that sums and invariant masses do not cancel in float32.
    """
    return tuple(np.asarray(x, dtype=np.float64) for x in (pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)))


def p4(px, py, pz, e):
    """Four-momenta (vector, numpy backend) from Cartesian components.

    Cartesian storage makes sums (the diphoton and dijet systems) plain additions, where
    vector would otherwise convert pt/eta/phi back and forth; callers that need px, py
    themselves (ptt) compute them once with ``cartesian``.
    """
    import vector  # imports sympy (half a second): here, only the jobs that build four-vectors pay

    return vector.array({"px": px, "py": py, "pz": pz, "E": e})


def flat(array) -> np.ndarray:
    """The objects of a jagged array of numbers as one flat numpy array.

    uproot builds jagged branches as a list-offset layout over a numpy buffer: their
    objects are that buffer (between the first and last offsets), taken without a copy;
    ``ak.flatten`` on every call was a fifth of the skim's own time."""
    layout = ak.to_layout(array)
    if isinstance(layout, ak.contents.ListOffsetArray) and isinstance(layout.content, ak.contents.NumpyArray):
        offsets = layout.offsets.data
        if len(offsets) and isinstance(offsets, np.ndarray) and layout.content.data.ndim == 1:
            return layout.content.data[offsets[0]:offsets[-1]]
    return ak.to_numpy(ak.flatten(array, axis=1))


def offsets_of(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def jagged(values: np.ndarray, offsets: np.ndarray) -> ak.Array:
    """A zero-copy jagged view of a flat per-object array."""
    return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(offsets), ak.contents.NumpyArray(values)))


def top_two(pt: np.ndarray, accepted: np.ndarray, offsets: np.ndarray):
    """Flat indices of the two highest-pT accepted objects of each event.

    ``pt`` and ``accepted`` are flat (one entry per object), ``offsets`` the event
    boundaries. Returns (index (2, n) int64, valid (2, n) bool, number accepted (n,)):
    row 0 is the leading object, row 1 the subleading one (rows keep each photon's values
    contiguous in memory). Two per-event argmax passes (awkward kernels), no sort; ties go
    to the object stored first.
    """
    n = len(offsets) - 1
    starts = offsets[:-1]
    n_accepted = ak.to_numpy(ak.sum(jagged(accepted, offsets), axis=1)).astype(np.int64)
    valid = n_accepted > np.arange(2)[:, None]
    ranked = np.where(accepted, pt, -np.inf)
    index = np.zeros((2, n), dtype=np.int64)
    for k in range(2):
        local = ak.to_numpy(ak.argmax(jagged(ranked, offsets), axis=1, mask_identity=False))
        index[k] = np.where(valid[k], starts + local, 0)
        ranked[index[k][valid[k]]] = -np.inf
    return index, valid, n_accepted


def gather(flat: np.ndarray, index, valid, fill):
    """``flat[index]`` where valid, ``fill`` elsewhere (works when ``flat`` is empty)."""
    if len(flat) == 0:
        return np.full(index.shape, fill, dtype=np.result_type(flat.dtype, type(fill)))
    return np.where(valid, flat[index], fill)


def objects_of(events, mask, branches: dict) -> tuple[dict, np.ndarray]:
    """The objects of the selected events as flat arrays, and each object's row in the selection.

    ``branches`` maps a short name to a jagged branch; returns ({name: flat array}, row).
    """
    first = next(iter(branches.values()))
    counts = ak.to_numpy(ak.num(events[first], axis=1))
    offsets = offsets_of(counts)
    chosen_counts = counts[mask]
    row = np.repeat(np.arange(len(chosen_counts)), chosen_counts)
    # index of each chosen object in the flat branch: its event's start + its rank in the event
    take = np.repeat(offsets[:-1][mask] - offsets_of(chosen_counts)[:-1], chosen_counts) + np.arange(len(row))
    return {name: flat(events[branch])[take] for name, branch in branches.items()}, row


class Collection:
    """Selected objects of the selected events: flat pT-ordered arrays plus event offsets."""

    def __init__(self, values: dict, row: np.ndarray, keep: np.ndarray, n_rows: int):
        row = row[keep]
        values = {name: array[keep] for name, array in values.items()}
        pt = values["pt"]
        # Ntuples store objects pT-ordered; sort (by event, then decreasing pT) only if not.
        if np.any((pt[1:] > pt[:-1]) & (row[1:] == row[:-1])):
            order = np.lexsort((-pt, row))
            values = {name: array[order] for name, array in values.items()}
            row = row[order]
        self.values = values
        self.row = row
        self.counts = np.bincount(self.row, minlength=n_rows)
        self.offsets = offsets_of(self.counts)

    def leading(self, k: int, names) -> dict:
        """The k-th (0-based) object's quantities per event (float64), NaN where there is none."""
        has = self.counts > k
        where = self.offsets[:-1][has] + k
        out = {}
        for name in names:
            out[name] = np.full(len(self.counts), np.nan, dtype=self.values[name].dtype)
            out[name][has] = self.values[name][where]
        return out

    def per_event_sum(self, values) -> np.ndarray:
        return np.bincount(self.row, weights=values, minlength=len(self.counts))

    def list_column(self, name: str) -> pa.Array:
        """One object quantity as a Parquet list<float32> column."""
        return list_column(self.offsets, self.values[name])


def to_arrow(values: np.ndarray, type_: pa.DataType) -> pa.Array:
    """A numpy array as an Arrow array of ``type_``, zero-copy where the dtype matches.

    Built from buffers rather than with ``pa.array``, which imports pandas on first use
    (a fifth of a second per skim job).
    """
    values = np.asarray(values)
    if pa.types.is_boolean(type_):
        buffer = pa.py_buffer(np.packbits(values.astype(bool), bitorder="little"))
    else:
        buffer = pa.py_buffer(np.ascontiguousarray(values, dtype=type_.to_pandas_dtype()))
    return pa.Array.from_buffers(type_, len(values), [None, buffer])


def repeated_string(value: str, n: int) -> pa.Array:
    """A string column holding ``value`` n times."""
    encoded = value.encode()
    offsets = np.arange(n + 1, dtype=np.int32) * len(encoded)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(encoded * n)])


def list_column(offsets: np.ndarray, values: np.ndarray) -> pa.Array:
    """A list<float32> column from event offsets and flat values."""
    return pa.ListArray.from_arrays(to_arrow(offsets, pa.int32()), to_arrow(values, pa.float32()))


def pair_list_column(pair: np.ndarray) -> pa.Array:
    """A (2, n) array (both photons of every event) as a list<float32> column."""
    return list_column(np.arange(0, 2 * pair.shape[1] + 1, 2), pair.T.ravel())


def not_near(eta, phi, row, ref_eta, ref_phi, min_dr):
    """Flat mask of objects farther than ``min_dr`` from every reference object of their event
    (``ref_eta``, ``ref_phi``: shape (k, n events))."""
    keep = np.ones(len(eta), dtype=bool)
    for k in range(ref_eta.shape[0]):
        dr2 = (eta - ref_eta[k][row]) ** 2 + delta_phi(phi, ref_phi[k][row]) ** 2
        keep &= dr2 >= min_dr**2
    return keep
