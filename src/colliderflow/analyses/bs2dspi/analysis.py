"""Bs0 -> Ds- pi+ on an LHCb DecayTreeTuple-style ntuple (``colliderflow.ntuples.lhcb``).

One row per candidate. The skim applies, in this order (``selection``): the trigger (every
listed TOS decision), PID (both kaons of the Ds with PIDK above ``kaon_pidk_min``, the
bachelor pion below ``pion_pidk_max``), the Ds mass window, the B mass inside
``observable.range``, and then keeps one candidate per event (``best_candidate``: the
candidate with the highest, or lowest, value of a branch among those that passed; columnar,
by one sort over (event, value)). The observable is the B mass ``B_M`` in MeV.

MC weights: the LHCb format carries no normalisation, so a signal MC candidate weighs
``selection.mc_candidate_weight`` (the expected number of data signal candidates per generated
MC candidate, which a real analysis takes from a fit of the data before the classifier; the
default matches the embedded simulation's defaults). Data weigh 1.

The skim reads the file in chunks (``skim.step_size``); the candidates of one event are
adjacent in the tree, and an event cut by a chunk boundary would keep one candidate per side
(choose a step size much larger than the number of candidates of an event).
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pyarrow as pa

from ...ntuples.lhcb import FORMAT
from ..interface import Analysis, Process
from .simulation import Bs2DspiSimulation

CUT_ORDER = ("trigger", "pid", "ds_mass", "mass_range", "best_candidate")
PID_BRANCHES = ("Kplus_PIDK", "Kminus_PIDK", "pi_PIDK")
# skim columns beside the identity, sample and weight: float64 (DIRA differs from 1 by 1e-5)
KINEMATICS = ("B_M", "B_P", "B_PT", "B_ETA", "B_FD_OWNPV", "B_FDCHI2_OWNPV", "B_IP_OWNPV", "B_IPCHI2_OWNPV",
              "B_DIRA_OWNPV", "B_ENDVERTEX_CHI2", "Ds_M", "Ds_P", "Ds_PT", "Ds_FDCHI2_OWNPV", "Ds_IPCHI2_OWNPV",
              "pi_P", "pi_PT", "pi_IP_OWNPV", "pi_IPCHI2_OWNPV", "pi_PIDK", "pi_PROBNNpi")
SCHEMA = pa.schema([("eventNumber", pa.uint64()), ("runNumber", pa.uint32()), ("sample", pa.string()),
                    ("weight", pa.float64()), ("n_candidates", pa.int32())]
                   + [(name, pa.float64()) for name in KINEMATICS])


def best_candidate(event_number: np.ndarray, value: np.ndarray, passed: np.ndarray, highest: bool = True):
    """Mask of the one candidate per event (``event_number``) with the highest (or lowest)
    ``value`` among the candidates where ``passed``; ties go to the first in file order.
    Columnar: a stable lexsort by (event, -value) and the first row of each event."""
    passed = np.asarray(passed, dtype=bool)
    chosen = np.zeros(len(passed), dtype=bool)
    index = np.flatnonzero(passed)
    if not len(index):
        return chosen
    key = -np.asarray(value, dtype=float)[index] if highest else np.asarray(value, dtype=float)[index]
    order = index[np.lexsort((key, np.asarray(event_number)[index]))]
    events_sorted = np.asarray(event_number)[order]
    first = np.r_[True, events_sorted[1:] != events_sorted[:-1]]
    chosen[order[first]] = True
    return chosen


def candidates_per_event(event_number: np.ndarray, passed: np.ndarray) -> np.ndarray:
    """For each candidate, how many candidates of its event passed (0 where it did not)."""
    event_number = np.asarray(event_number)
    passed = np.asarray(passed, dtype=bool)
    values, inverse = np.unique(event_number, return_inverse=True)
    counts = np.bincount(inverse[passed], minlength=len(values))
    return np.where(passed, counts[inverse], 0)


class Bs2DspiAnalysis(Analysis):
    """Bs0 -> Ds- pi+: trigger, PID and Ds mass cuts, one candidate per event, the B mass."""

    name = "bs2dspi"
    title = "B⁰s → D⁻s π⁺ (LHCb-style)"
    ntuple = FORMAT
    cut_order = CUT_ORDER
    schema = SCHEMA
    observable_column = "B_M"
    observable_label = r"$m(D_s^-\pi^+)$"
    observable_unit = "MeV"
    peak_label = r"$m_{B_s^0}$"
    processes = {
        "Bs": Process("Bs", "signal", r"$B_s^0\to D_s^-\pi^+$", "#e41a1c"),
        "B0": Process("B0", "background", r"$B^0\to D_s^-\pi^+$", "#ff7f00"),
        "partreco": Process("partreco", "background", "partially reconstructed", "#984ea3"),
        "combinatorial": Process("combinatorial", "background", "combinatorial", "#a6cee3"),
        "data": Process("data", "data", "Data", "black"),
    }
    simulation = Bs2DspiSimulation()

    def branches(self, cfg):
        sel = cfg["selection"]
        wanted = [*FORMAT.event_branches, *sel["trigger"], *PID_BRANCHES, *KINEMATICS,
                  sel["best_candidate"]["branch"]]
        return list(dict.fromkeys(wanted))

    def select(self, events, cfg, is_mc):
        sel = cfg["selection"]
        get = {name: ak.to_numpy(events[name]) for name in self.branches(cfg)}
        n = len(get["B_M"])
        trigger = np.ones(n, dtype=bool)
        for decision in sel["trigger"]:
            trigger &= get[decision].astype(bool)
        pid = ((get["Kplus_PIDK"] > sel["kaon_pidk_min"]) & (get["Kminus_PIDK"] > sel["kaon_pidk_min"])
               & (get["pi_PIDK"] < sel["pion_pidk_max"]))
        ds_mass = np.abs(get["Ds_M"] - sel["ds_mass"]) < sel["ds_mass_half_width"]
        lo, hi = cfg["observable"]["range"]
        mass_range = (get["B_M"] >= lo) & (get["B_M"] < hi)
        preselected = trigger & pid & ds_mass & mass_range
        choice = sel["best_candidate"]
        best = best_candidate(get["eventNumber"], get[choice["branch"]], preselected,
                              highest=choice["order"] == "highest")
        from coffea.analysis_tools import PackedSelection  # a second to import: here, only the skim pays

        selection = PackedSelection()
        for name, passed in zip(CUT_ORDER, (trigger, pid, ds_mass, mass_range, best)):
            selection.add(name, np.asarray(passed, dtype=bool))
        derived = {**get, "n_candidates": candidates_per_event(get["eventNumber"], preselected)}
        return selection, CUT_ORDER, derived

    def weights(self, events, cfg, is_mc):
        result = FORMAT.weights(events, cfg, is_mc)
        if is_mc:
            result.add("mc_candidate_weight", np.full(len(events), float(cfg["selection"]["mc_candidate_weight"])))
        return result

    def observable_candidates(self, derived):
        return derived["B_M"].astype(np.float64)  # lets the skim refuse GeV files

    def columns(self, events, mask, cfg, sample, weight, derived):
        mask = np.asarray(mask, dtype=bool)
        n = int(mask.sum())
        arrays = [pa.array(derived["eventNumber"][mask].astype(np.uint64)),
                  pa.array(derived["runNumber"][mask].astype(np.uint32)),
                  pa.array([sample] * n, type=pa.string()),
                  pa.array(np.asarray(weight, dtype=np.float64)[mask]),
                  pa.array(derived["n_candidates"][mask].astype(np.int32))]
        arrays += [pa.array(derived[name][mask].astype(np.float64)) for name in KINEMATICS]
        return pa.Table.from_arrays(arrays, schema=SCHEMA)
