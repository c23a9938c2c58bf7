"""Shared helpers for the skim, analysis and features tests: configs and tiny ntuples.

The configs start from the defaults of the config schema with the hyy analysis's piece,
so the tests run with what a user gets.
"""

from __future__ import annotations

import copy

import awkward as ak
import numpy as np
import uproot

from colliderflow import config

# The schema's defaults, read once (the tests change copies of them).
BASE = config.validate({
    "analysis": "hyy",
    "lumi_fb": 36.1,
    "samples": {
        "ggH": {"kind": "signal", "process": "ggH", "files": [{"name": "ggH"}]},
        "yy": {"kind": "background", "process": "yy", "files": [{"name": "yy"}]},
        "data": {"kind": "data", "process": "data", "files": [{"name": "data"}]},
    },
})


def make_cfg(**overrides) -> dict:
    """A full config dict: catalogue with a signal, a background and a data sample.

    ``selection``, ``observable`` (dicts) update those sections; ``jets``, ``leptons`` the
    selection's object settings; anything else is a key of the ``skim`` section.
    """
    cfg = copy.deepcopy(BASE)
    for key, value in overrides.items():
        if key in ("jets", "leptons"):
            cfg["selection"][key].update(value)
        elif key in ("selection", "observable"):
            cfg[key].update(value)
        else:
            cfg["skim"][key] = value
    return cfg


PHOTON_DEFAULTS = {"ptcone20": 0.0, "topoetcone40": 0.0, "isLooseID": True, "isTightID": True,
                   "isLooseIso": True, "isTightIso": True}
JET_DEFAULTS = {"btag_quantile": 1, "jvt": True}
LEPTON_DEFAULTS = {"type": 11, "charge": 1, "isLooseID": True, "isMediumID": True, "isTightID": True}
SCALAR_DEFAULTS = {
    "runNumber": 284500, "channelNumber": 284500, "trigP": True, "mcWeight": 1.0, "xsec": 0.0, "filteff": 0.0,
    "kfac": 0.0, "sum_of_weights": 1.0, "ScaleFactor_PHOTON": 1.0, "ScaleFactor_PILEUP": 1.0, "met": 10.0,
    "met_phi": 0.0,
}
SCALAR_TYPES = {
    "eventNumber": np.uint64, "runNumber": np.uint32, "channelNumber": np.uint32, "trigP": np.bool_,
    "sum_of_weights": np.float64,
}
COLLECTION_TYPES = {"btag_quantile": np.int32, "type": np.int32, "charge": np.int32}


def _collection(events, key, prefix, defaults):
    fields = ["pt", "eta", "phi", "e", *defaults]
    out = {}
    for field in fields:
        lists = []
        for event in events:
            row = []
            for obj in event.get(key, []):
                if field == "e" and "e" not in obj:
                    row.append(obj["pt"] * np.cosh(obj["eta"]))  # massless
                else:
                    row.append(obj.get(field, defaults.get(field)))
            lists.append(row)
        dtype = bool if isinstance(defaults.get(field), bool) else COLLECTION_TYPES.get(field, np.float32)
        flat = np.array([v for row in lists for v in row], dtype=dtype)
        out[f"{prefix}_{field}"] = ak.unflatten(flat, [len(row) for row in lists])
    return out


def build_branches(events: list[dict]) -> dict:
    """Branch arrays (name -> numpy or jagged awkward) from a list of hand-written events.

    Each event is a dict with optional ``photons``, ``jets``, ``leptons`` (lists of dicts
    with pt, eta, phi and optionally e and flags) and scalar branches; missing values
    take the defaults above (a data event with every flag true).
    """
    branches = {
        "eventNumber": np.array([e.get("eventNumber", i + 1) for i, e in enumerate(events)], dtype=np.uint64)
    }
    for name, default in SCALAR_DEFAULTS.items():
        dtype = SCALAR_TYPES.get(name, np.float32)
        branches[name] = np.array([e.get(name, default) for e in events], dtype=dtype)
    branches.update(_collection(events, "photons", "photon", PHOTON_DEFAULTS))
    branches.update(_collection(events, "jets", "jet", JET_DEFAULTS))
    branches.update(_collection(events, "leptons", "lep", LEPTON_DEFAULTS))
    branches["jet_btag_quantile"] = ak.values_astype(branches["jet_btag_quantile"], np.int32)
    return branches


def as_events(branches: dict) -> ak.Array:
    """The record array a chunk of ``tree.iterate`` returns."""
    return ak.Array(branches)


def random_branches(n: int, seed: int = 1, mc: bool = False) -> dict:
    """``n`` random diphoton-like events (about a tenth pass the selection), columnar."""
    rng = np.random.default_rng(seed)

    def jagged(counts, values):
        return ak.unflatten(values, counts)

    out = {
        "eventNumber": rng.choice(np.arange(1, 50 * n, dtype=np.uint64), size=n, replace=False),
        "runNumber": np.full(n, 284500, np.uint32),
        "channelNumber": np.full(n, 343981 if mc else 284500, np.uint32),
        "trigP": rng.random(n) < 0.95,
        "mcWeight": (rng.normal(1.0, 0.5, n) if mc else np.ones(n)).astype(np.float32),
        "xsec": np.full(n, 0.11 if mc else 0.0, np.float32),
        "filteff": np.full(n, 1.0 if mc else 0.0, np.float32),
        "kfac": np.full(n, 1.1 if mc else 0.0, np.float32),
        "sum_of_weights": np.full(n, 1.0e5 if mc else 1.0),
        "ScaleFactor_PHOTON": (rng.normal(1.0, 0.02, n) if mc else np.ones(n)).astype(np.float32),
        "ScaleFactor_PILEUP": (rng.normal(1.0, 0.05, n) if mc else np.ones(n)).astype(np.float32),
        "met": rng.exponential(20.0, n).astype(np.float32),
        "met_phi": rng.uniform(-np.pi, np.pi, n).astype(np.float32),
    }
    counts = {"photon": 1 + rng.poisson(1.3, n), "jet": rng.poisson(1.5, n), "lep": rng.poisson(0.2, n)}
    for prefix, count in counts.items():
        total = int(count.sum())
        pt = (20.0 + rng.exponential(35.0, total)).astype(np.float32)
        eta = rng.uniform(-2.6 if prefix != "jet" else -4.6, 2.6 if prefix != "jet" else 4.6, total).astype(np.float32)
        out[f"{prefix}_pt"] = jagged(count, pt)  # deliberately not pT-ordered
        out[f"{prefix}_eta"] = jagged(count, eta)
        out[f"{prefix}_phi"] = jagged(count, rng.uniform(-np.pi, np.pi, total).astype(np.float32))
        out[f"{prefix}_e"] = jagged(count, (pt * np.cosh(eta) * (1.05 if prefix == "jet" else 1.0)).astype(np.float32))
    n_photons = int(counts["photon"].sum())
    out["photon_ptcone20"] = jagged(counts["photon"], rng.exponential(1.5, n_photons).astype(np.float32))
    out["photon_topoetcone40"] = jagged(counts["photon"], rng.exponential(2.0, n_photons).astype(np.float32))
    for flag, p in (("isLooseID", 0.95), ("isTightID", 0.85), ("isLooseIso", 0.9), ("isTightIso", 0.8)):
        out[f"photon_{flag}"] = jagged(counts["photon"], rng.random(n_photons) < p)
    n_jets = int(counts["jet"].sum())
    out["jet_btag_quantile"] = jagged(counts["jet"], rng.integers(1, 6, n_jets).astype(np.int32))
    out["jet_jvt"] = jagged(counts["jet"], rng.random(n_jets) < 0.9)
    n_leps = int(counts["lep"].sum())
    out["lep_type"] = jagged(counts["lep"], rng.choice([11, 13], n_leps).astype(np.int32))
    out["lep_charge"] = jagged(counts["lep"], rng.choice([-1, 1], n_leps).astype(np.int32))
    for flag in ("isLooseID", "isMediumID", "isTightID"):
        out[f"lep_{flag}"] = jagged(counts["lep"], rng.random(n_leps) < 0.9)
    return out


def write_ntuple(path, branches: dict, drop=(), tree: str = "analysis") -> None:
    """Write branches as a 2025-style tree: collections as photon_*/jet_*/lep_* with counters photon_n..."""
    branches = {k: v for k, v in branches.items() if k not in drop}
    columns: dict = {}
    records: dict = {}
    for name, values in branches.items():
        prefix, _, field = name.partition("_")
        if prefix in ("photon", "jet", "lep") and isinstance(values, ak.Array):
            records.setdefault(prefix, {})[field] = values
        else:
            columns[name] = values
    for prefix, fields in records.items():
        columns[prefix] = ak.zip(fields)
    with uproot.recreate(path) as handle:
        handle.mktree(
            tree,
            {name: (value.type if isinstance(value, ak.Array) else value.dtype) for name, value in columns.items()},
            counter_name=lambda counted: f"{counted}_n",
            field_name=lambda outer, inner: f"{outer}_{inner}",
        )
        handle[tree].extend(columns)
