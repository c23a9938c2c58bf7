"""An LHCb DecayTreeTuple-style ntuple format: tree ``DecayTree`` (as written by DaVinci's
``DecayTreeTuple`` into a folder named after the tuple tool; here at the top level), one row
per *candidate* (an event may hold several, with the same ``runNumber`` and ``eventNumber``),
energies and momenta in MeV, flat scalar branches named ``<particle>_<quantity>`` (``B_M``,
``B_PT``, ``B_FDCHI2_OWNPV``, ``Ds_M``, ``pi_PROBNNpi``, ...).

No luminosity, cross-section or generator weights: data candidates weigh 1, and so do
simulated ones in the file; yields come from fits of the data. Simulated files also carry the
truth-matching branches ``B_BKGCAT`` (LHCb's background category: 0 signal, 50 partially
reconstructed, 60 ghost or wrong combination, 100 combinatorial) and ``B_TRUEID``; data files
do not.

Two sides, as for the ATLAS format: the reader (``LHCbDecayTree``, ``FORMAT``) and the writer
(``BRANCHES``, ``MC_BRANCHES``, ``candidate_branches``) used by embedded simulations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import awkward as ak
import numpy as np

from . import NtupleFormat

F4, F8, I4, U4, U8, B = np.float32, np.float64, np.int32, np.uint32, np.uint64, np.bool_

# every branch of a B -> Ds (-> K K pi) pi tuple, in file order, with its dtype
BRANCHES: dict[str, type] = {
    "runNumber": U4, "eventNumber": U8, "nCandidate": I4, "nPVs": I4,
    "B_M": F8, "B_P": F8, "B_PT": F8, "B_ETA": F8,
    "B_FD_OWNPV": F8, "B_FDCHI2_OWNPV": F8, "B_IP_OWNPV": F8, "B_IPCHI2_OWNPV": F8, "B_DIRA_OWNPV": F8,
    "B_ENDVERTEX_CHI2": F8, "B_TAU": F8,
    "B_L0HadronDecision_TOS": B, "B_Hlt1TrackMVADecision_TOS": B, "B_Hlt2Topo2BodyDecision_TOS": B,
    "Ds_M": F8, "Ds_P": F8, "Ds_PT": F8, "Ds_FD_OWNPV": F8, "Ds_FDCHI2_OWNPV": F8, "Ds_IPCHI2_OWNPV": F8,
    "Ds_DIRA_OWNPV": F8, "Ds_ENDVERTEX_CHI2": F8,
    "pi_P": F8, "pi_PT": F8, "pi_IP_OWNPV": F8, "pi_IPCHI2_OWNPV": F8, "pi_PIDK": F8, "pi_PROBNNpi": F8,
    "Kplus_PT": F8, "Kplus_PIDK": F8, "Kminus_PT": F8, "Kminus_PIDK": F8,
    "Ds_pi_PT": F8, "Ds_pi_PIDK": F8,
}
MC_BRANCHES: dict[str, type] = {"B_BKGCAT": I4, "B_TRUEID": I4}


class LHCbDecayTree(NtupleFormat):
    name: ClassVar[str] = "lhcb_decaytree"
    tree: ClassVar[str] = "DecayTree"
    energy_unit: ClassVar[str] = "MeV"
    event_branches: ClassVar[tuple[str, ...]] = ("runNumber", "eventNumber")

    def weight_branches(self, scale_factors: tuple[str, ...] = ()) -> tuple[str, ...]:
        return ()

    def weights(self, events, cfg: dict, is_mc: bool, scale_factors: tuple[str, ...] = ()):
        """1 for every candidate of data and MC: the format has no normalisation (an analysis
        that needs expected MC yields scales them itself, from a fit of the data)."""
        from coffea.analysis_tools import Weights

        return Weights(len(events))


FORMAT = LHCbDecayTree()


def tree_types(mc: bool) -> dict:
    """Branch name -> dtype for ``uproot``'s ``mktree`` (MC files add the truth branches)."""
    return {name: np.dtype(dtype) for name, dtype in {**BRANCHES, **(MC_BRANCHES if mc else {})}.items()}


def candidate_branches(columns: Mapping, mc: bool) -> dict:
    """One chunk of candidates as ``tree.extend`` takes it, in file order and dtypes; raises
    KeyError for a missing or unknown branch, so a simulation cannot write a partial tuple."""
    expected = {**BRANCHES, **(MC_BRANCHES if mc else {})}
    unknown = sorted(set(columns) - set(expected))
    missing = [name for name in expected if name not in columns]
    if unknown or missing:
        raise KeyError(f"{FORMAT.name} chunk: missing branches {missing}, unknown branches {unknown}")
    return {name: np.asarray(columns[name]).astype(dtype) for name, dtype in expected.items()}


def to_numpy(events, name: str) -> np.ndarray:
    """A scalar branch of a chunk as a float64 numpy array."""
    return ak.to_numpy(events[name]).astype(np.float64)
