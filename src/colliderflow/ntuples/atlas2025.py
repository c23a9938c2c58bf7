"""The ATLAS Open Data 2025 ntuple format (release ``2025e-13tev-beta``): tree ``analysis``,
GeV, RVec branches, per-event metadata and the release's MC weight convention.

One format serves every skim of the release (GamGam, exactly4lep, ...): the branches are
the same, only the events differ. See ``../shared/reference/atlas-open-data.md``.

Two sides:

- the reader (``Atlas2025``, ``FORMAT``): tree, event branches, the MC weight recipe with the
  data/MC checks, used by the analyses;
- the writer (``LAYOUT`` and below), used by the embedded simulations: every branch with its
  dtype in the order of the real files, the tree types for ``uproot``'s ``mktree``, the jagged
  collections built from flat object arrays, and the data/MC metadata conventions
  (``data_metadata``, ``mc_metadata``). ``event_branches`` assembles one chunk in file order
  and refuses a chunk that misses a branch, so a simulation cannot write a file the real
  files' readers would not accept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import awkward as ak
import numpy as np

from . import NtupleFormat


class Atlas2025(NtupleFormat):
    name: ClassVar[str] = "atlas2025"
    tree: ClassVar[str] = "analysis"
    energy_unit: ClassVar[str] = "GeV"
    event_branches: ClassVar[tuple[str, ...]] = ("eventNumber", "runNumber", "channelNumber")
    # the normalisation factors of every MC event, whatever the analysis
    normalisation_branches: ClassVar[tuple[str, ...]] = (
        "mcWeight", "ScaleFactor_PILEUP", "xsec", "filteff", "kfac", "sum_of_weights")

    def weight_branches(self, scale_factors: tuple[str, ...] = ()) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.normalisation_branches + tuple(scale_factors)))

    def weights(self, events, cfg: dict, is_mc: bool, scale_factors: tuple[str, ...] = ()):
        """Data get 1. MC: ``mcWeight * ScaleFactor_PILEUP * (the analysis's scale factors) *
        xsec * filteff * kfac * lumi_pb / sum_of_weights`` (the release's own convention;
        mcWeight keeps its sign). The file's metadata cross-check the catalogue: data carry
        xsec == 0, MC xsec > 0.
        """
        from coffea.analysis_tools import Weights

        n = len(events)
        result = Weights(n)
        xsec = ak.to_numpy(events["xsec"]).astype(np.float64)
        if not is_mc:
            if np.any(xsec != 0):
                raise ValueError(
                    "the sample catalogue says this is data (kind: data) but the file has xsec != 0 "
                    "as MC files do; fix the sample's kind in the config or the file list"
                )
            return result
        if np.any(xsec <= 0):
            raise ValueError(
                "the sample catalogue says this is MC but the file has xsec == 0 as data files do; "
                "fix the sample's kind (data) in the config or the file list"
            )
        sum_of_weights = ak.to_numpy(events["sum_of_weights"]).astype(np.float64)
        if np.any(sum_of_weights <= 0):
            raise ValueError("branch sum_of_weights is <= 0 for some MC events; the file's metadata are broken")
        lumi_pb = float(cfg["lumi_fb"]) * 1000.0
        for branch in ("mcWeight", *scale_factors, "ScaleFactor_PILEUP"):
            result.add(branch, ak.to_numpy(events[branch]).astype(np.float64))
        normalisation = (
            xsec
            * ak.to_numpy(events["filteff"]).astype(np.float64)
            * ak.to_numpy(events["kfac"]).astype(np.float64)
            * lumi_pb
            / sum_of_weights
        )
        result.add("normalisation", normalisation)
        return result


FORMAT = Atlas2025()


# =========================================================================== the writer side

F4, F8, I4, U4, U8, B = np.float32, np.float64, np.int32, np.uint32, np.uint64, np.bool_
PHOTON_FIELDS = {"pt": F4, "eta": F4, "phi": F4, "e": F4, "ptcone20": F4, "topoetcone40": F4,
                 "isLooseID": B, "isTightID": B, "isLooseIso": B, "isTightIso": B}
JET_FIELDS = {"pt": F4, "eta": F4, "phi": F4, "e": F4, "btag_quantile": I4, "jvt": B}
LEP_FIELDS = {"type": I4, "pt": F4, "eta": F4, "phi": F4, "e": F4, "charge": I4, "ptvarcone30": F4,
              "topoetcone20": F4, "z0": F4, "d0": F4, "d0sig": F4, "isTightID": B, "isMediumID": B, "isLooseID": B,
              "isTightIso": B, "isLooseIso": B, "isTrigMatched": B}
LARGE_R_FIELDS = {"pt": F4, "eta": F4, "phi": F4, "e": F4, "m": F4, "D2": F4}
TAU_FIELDS = {"pt": F4, "eta": F4, "phi": F4, "e": F4, "charge": F4, "nTracks": I4, "isTight": B,
              "RNNJetScore": F4, "RNNEleScore": F4}
TRUTH_FIELDS = {
    "truth_jet": {"pt": F4, "eta": F4, "phi": F4, "m": F4},
    "truth_elec": {"pt": F4, "eta": F4, "phi": F4},
    "truth_muon": {"pt": F4, "eta": F4, "phi": F4},
    "truth_tau": {"pt": F4, "eta": F4, "phi": F4},
    "truth_photon": {"pt": F4, "eta": F4, "phi": F4},
}
TRIGGERS = ("trigML", "trigP", "trigDT", "trigT", "trigE", "trigDM", "trigDE", "trigM", "trigMET")
SCALE_FACTORS = ("ScaleFactor_MLTRIGGER", "ScaleFactor_PILEUP", "ScaleFactor_FTAG", "ScaleFactor_BTAG",
                 "ScaleFactor_JVT", "ScaleFactor_ELE", "ScaleFactor_MUON", "ScaleFactor_LepTRIGGER",
                 "ScaleFactor_MuTRIGGER", "ScaleFactor_ElTRIGGER", "ScaleFactor_PHOTON", "ScaleFactor_TAU",
                 "ScaleFactor_TauTRIGGER", "ScaleFactor_DiTauTRIGGER")

# The written branches in the order of the real 2025 files: (name, dtype) for scalars,
# (collection, fields) for jagged collections, written as <collection>_n (int32) and
# <collection>_<field>. Not written: jet_pt_jer1, jet_pt_jer2 (RVec<float> without their
# own counter in the real files, empty in data; no analysis uses them).
LAYOUT: tuple = (
    ("num_events", F8), ("sum_of_weights", F8), ("sum_of_weights_squared", F8), ("category", str),
    ("TriggerMatch_DILEPTON", F4), ("ScaleFactor_MLTRIGGER", F4), ("ScaleFactor_PILEUP", F4),
    ("ScaleFactor_FTAG", F4), ("mcWeight", F4), ("xsec", F4), ("filteff", F4), ("kfac", F4),
    ("channelNumber", U4), ("eventNumber", U8), ("runNumber", U4),
    *((t, B) for t in TRIGGERS),
    ("ScaleFactor_BTAG", F4), ("ScaleFactor_JVT", F4),
    ("jet", JET_FIELDS), ("largeRJet", LARGE_R_FIELDS),
    ("ScaleFactor_ELE", F4), ("ScaleFactor_MUON", F4), ("ScaleFactor_LepTRIGGER", F4),
    ("ScaleFactor_MuTRIGGER", F4), ("ScaleFactor_ElTRIGGER", F4),
    ("lep", LEP_FIELDS),
    ("ScaleFactor_PHOTON", F4), ("photon", PHOTON_FIELDS),
    ("ScaleFactor_TAU", F4), ("ScaleFactor_TauTRIGGER", F4), ("ScaleFactor_DiTauTRIGGER", F4),
    ("tau", TAU_FIELDS),
    *TRUTH_FIELDS.items(),
    ("truth_met", F4), ("truth_met_phi", F4), ("met", F4), ("met_phi", F4), ("met_mpx", F4), ("met_mpy", F4),
)
COLLECTIONS = {name: kind for name, kind in LAYOUT if isinstance(kind, dict)}


def branch_dtypes() -> dict[str, np.dtype]:
    """Branch name -> numpy dtype of its values (of the content for jagged branches)."""
    out: dict[str, np.dtype] = {}
    for name, kind in LAYOUT:
        if isinstance(kind, dict):
            out[f"{name}_n"] = np.dtype(np.int32)
            out.update({f"{name}_{field}": np.dtype(dtype) for field, dtype in kind.items()})
        else:
            out[name] = np.dtype(object) if kind is str else np.dtype(kind)
    return out


def counter_name(collection: str) -> str:
    """``mktree``'s name for a collection's counter branch: ``<collection>_n``."""
    return f"{collection}_n"


def field_name(collection: str, field: str) -> str:
    """``mktree``'s name for a collection's field branch: ``<collection>_<field>``."""
    return f"{collection}_{field}"


def tree_types() -> dict:
    """The tree's branch types for ``mktree`` (with ``counter_name`` and ``field_name``), from
    ``LAYOUT`` rather than from data, which may be empty."""
    types = {}
    for name, kind in LAYOUT:
        if isinstance(kind, dict):
            types[name] = empty_collection(1, kind).type.content
        elif kind is str:
            types[name] = "string"
        else:
            types[name] = np.dtype(kind)
    return types


def jagged(objects: Mapping, n: int, fields: Mapping) -> ak.Array:
    """A record of jagged arrays (``fields``: branch suffix -> dtype) from flat object arrays
    with an ``event`` index (0..n-1), ordered by decreasing pT within each event as in the
    real files."""
    event = np.asarray(objects["event"])
    order = np.lexsort((-np.asarray(objects["pt"]), event)) if len(event) else np.zeros(0, dtype=np.int64)
    counts = np.bincount(event, minlength=n).astype(np.int64)
    return ak.zip({name: ak.unflatten(np.asarray(objects[name])[order].astype(dtype), counts)
                   for name, dtype in fields.items()}, depth_limit=None)


def empty_collection(n: int, fields: Mapping) -> ak.Array:
    """A collection with no object in any of ``n`` events."""
    counts = np.zeros(n, dtype=np.int64)
    return ak.zip({name: ak.unflatten(np.zeros(0, dtype=dtype), counts) for name, dtype in fields.items()})


def data_metadata(run_numbers: np.ndarray, category: str) -> dict:
    """The metadata branches of data events: mcWeight = sum_of_weights = num_events = 1,
    xsec = filteff = kfac = 0 (the weight recipe tells data by xsec == 0), channelNumber =
    runNumber, every scale factor 1 (``event_branches`` fills those)."""
    n = len(run_numbers)
    one = np.ones(n, F8)
    return {
        "num_events": one, "sum_of_weights": one, "sum_of_weights_squared": one,
        "mcWeight": np.ones(n, F4), "xsec": np.zeros(n, F4), "filteff": np.zeros(n, F4), "kfac": np.zeros(n, F4),
        "runNumber": np.asarray(run_numbers, U4), "channelNumber": np.asarray(run_numbers, U4),
        "category": np.full(n, category, dtype=object),
    }


def mc_metadata(mc_weight: np.ndarray, *, num_events: int, sum_of_weights: float, sum_of_weights_squared: float,
                xsec_pb: float, dsid: int, run_number: int, category: str) -> dict:
    """The metadata branches of MC events: their signed mcWeight; num_events and the sums of
    weights over *all generated* events (before the skim: the recipe divides by them);
    xsec in pb with filteff = kfac = 1; channelNumber = the DSID; runNumber = the campaign's."""
    n = len(mc_weight)
    return {
        "num_events": np.full(n, num_events, F8), "sum_of_weights": np.full(n, sum_of_weights, F8),
        "sum_of_weights_squared": np.full(n, sum_of_weights_squared, F8),
        "mcWeight": np.asarray(mc_weight, F4), "xsec": np.full(n, xsec_pb, F4), "filteff": np.ones(n, F4),
        "kfac": np.ones(n, F4), "runNumber": np.full(n, run_number, U4), "channelNumber": np.full(n, dsid, U4),
        "category": np.full(n, category, dtype=object),
    }


def missing_momentum(met_pxy: np.ndarray, truth_pxy: np.ndarray | None) -> dict:
    """met, met_phi, met_mpx, met_mpy from the reconstructed (n, 2) px, py; truth_met and
    truth_met_phi from the neutrinos' (MC) or zero (data, ``truth_pxy`` None)."""
    n = len(met_pxy)
    mpx, mpy = met_pxy[:, 0], met_pxy[:, 1]
    out = {"met": np.hypot(mpx, mpy), "met_phi": np.arctan2(mpy, mpx), "met_mpx": mpx, "met_mpy": mpy}
    if truth_pxy is None:
        out.update(truth_met=np.zeros(n, F4), truth_met_phi=np.zeros(n, F4))
    else:
        out.update(truth_met=np.hypot(truth_pxy[:, 0], truth_pxy[:, 1]),
                   truth_met_phi=np.arctan2(truth_pxy[:, 1], truth_pxy[:, 0]))
    return out


def trigger_branches(decisions: Mapping) -> dict:
    """The trigger decisions (every name of ``TRIGGERS``) plus TriggerMatch_DILEPTON (1 where
    a dilepton trigger fired)."""
    missing = [name for name in TRIGGERS if name not in decisions]
    if missing:
        raise KeyError(f"trigger decisions miss {', '.join(missing)}")
    return {**{name: decisions[name] for name in TRIGGERS},
            "TriggerMatch_DILEPTON": (np.asarray(decisions["trigDE"]) | np.asarray(decisions["trigDM"])).astype(F4)}


def event_branches(n: int, scalars: Mapping, collections: Mapping) -> dict:
    """One chunk of ``n`` events as ``tree.extend`` takes it, in the order of ``LAYOUT``.

    ``scalars``: branch -> (n,) array, cast to the file's dtype; scale factors not given are 1.
    ``collections``: collection name -> flat object arrays with an ``event`` index (see
    ``jagged``); collections not given are empty. Raises KeyError for a missing scalar branch
    or an unknown name, so a chunk never silently lacks a branch.
    """
    unknown = sorted(set(scalars) - {name for name, kind in LAYOUT if not isinstance(kind, dict)}
                     | set(collections) - set(COLLECTIONS))
    if unknown:
        raise KeyError(f"not branches of the {FORMAT.name} format: {', '.join(unknown)}")
    out = {}
    for name, kind in LAYOUT:
        if isinstance(kind, dict):
            objects = collections.get(name)
            out[name] = empty_collection(n, kind) if objects is None else jagged(objects, n, kind)
        elif name in scalars:
            value = scalars[name]
            out[name] = np.asarray(value, dtype=object) if kind is str else np.asarray(value).astype(kind)
        elif name in SCALE_FACTORS:
            out[name] = np.ones(n, F4)
        else:
            raise KeyError(f"branch {name!r} of the {FORMAT.name} format is missing from the chunk")
    return out
