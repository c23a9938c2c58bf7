"""The generator-level content of a batch of events, and how batches are cut and combined.

Objects are flat numpy arrays with an ``event`` index (0..n-1), except the hard photons,
which are (n, k) arrays: every event of a generator has the same number k of them (2 for
H -> yy and the diphoton continuum, 0 for a four-lepton final state).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PHOTON_KEYS = ("pt", "eta", "phi", "fake", "z")
JET_KEYS = ("event", "pt", "eta", "phi", "m", "flavour")  # flavour: 5 b, 15 hadronic tau, 0 light
LEPTON_KEYS = ("event", "pt", "eta", "phi", "type", "charge", "prompt")  # type 11 e, 13 mu
_INTEGER_KEYS = ("event", "flavour", "type", "charge")
_BOOLEAN_KEYS = ("prompt", "fake")


@dataclass
class Truth:
    """Generator-level content of ``n`` events.

    ``photons``: (n, k) arrays pt, eta, phi, fake (a jet faking a photon) and z (momentum
    fraction of the jet a fake photon carries; 1 for real photons). ``jets``/``leptons``:
    flat dicts (``JET_KEYS``/``LEPTON_KEYS``); a lepton is prompt when it comes from a
    W/Z/H/tau decay, non-prompt from a hadron decay in a jet. ``invisible``: (n, 2) summed
    neutrino px, py.
    """

    n: int
    photons: dict
    jets: dict
    leptons: dict
    invisible: np.ndarray


def flat(**arrays) -> dict:
    """A flat object record (every value a 1-d array)."""
    return {k: np.asarray(v) for k, v in arrays.items()}


def empty(keys) -> dict:
    """A flat record of ``keys`` with no object."""
    def dtype(key):
        return np.int64 if key in _INTEGER_KEYS else bool if key in _BOOLEAN_KEYS else float

    return {k: np.zeros(0, dtype=dtype(k)) for k in keys}


def concat(parts: list[dict], keys) -> dict:
    """The objects of several flat records (same events) in one record."""
    parts = [p for p in parts if p is not None and len(p["event"])]
    if not parts:
        return empty(keys)
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def no_photons(n: int) -> dict:
    """Hard photons of a final state without any: (n, 0) arrays."""
    photons = {k: np.zeros((n, 0)) for k in PHOTON_KEYS}
    photons["fake"] = np.zeros((n, 0), dtype=bool)
    return photons


def take(truth: Truth, index: np.ndarray) -> Truth:
    """The events ``index`` (sorted, unique) of ``truth``, renumbered 0..len(index)-1."""
    new = np.full(truth.n, -1, dtype=np.int64)
    new[index] = np.arange(len(index))

    def pick(objects, keys):
        keep = new[objects["event"]] >= 0
        out = {k: objects[k][keep] for k in keys}
        out["event"] = new[objects["event"][keep]]
        return out

    return Truth(len(index), {k: v[index] for k, v in truth.photons.items()}, pick(truth.jets, JET_KEYS),
                 pick(truth.leptons, LEPTON_KEYS), truth.invisible[index])


def stack(parts: list[Truth]) -> Truth:
    """The events of ``parts`` one batch after the other."""
    if not parts:  # an empty chunk (a data file with nothing to generate)
        return Truth(0, no_photons(0), empty(JET_KEYS), empty(LEPTON_KEYS), np.zeros((0, 2)))
    offsets = np.cumsum([0] + [p.n for p in parts])

    def shifted(records, keys):
        return concat([{**r, "event": r["event"] + off} for r, off in zip(records, offsets)], keys)

    return Truth(
        int(offsets[-1]),
        {k: np.concatenate([p.photons[k] for p in parts]) for k in parts[0].photons},
        shifted([p.jets for p in parts], JET_KEYS),
        shifted([p.leptons for p in parts], LEPTON_KEYS),
        np.concatenate([p.invisible for p in parts]),
    )


def interleave(parts: list[Truth], labels: np.ndarray) -> Truth:
    """Events of ``parts`` (one per label value, in label order) placed where ``labels`` says."""
    grouped = stack(parts)
    position = np.argsort(labels, kind="stable")  # grouped event i goes to row position[i]

    def moved(objects):
        out = dict(objects)
        out["event"] = position[objects["event"]]
        return out

    inverse = np.empty_like(position)
    inverse[position] = np.arange(len(position))
    return Truth(
        grouped.n,
        {k: v[inverse] for k, v in grouped.photons.items()},
        moved(grouped.jets),
        moved(grouped.leptons),
        grouped.invisible[inverse],
    )
