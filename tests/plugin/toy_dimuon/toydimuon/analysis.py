"""The toy dimuon analysis: its ntuple format, selection, output columns and processes.

Format ``toymu``: tree ``events``, one row per event, jagged muon branches ``mu_pt``,
``mu_eta``, ``mu_phi`` (GeV, radians) and ``mu_charge``, plus ``eventNumber`` and ``weight``
(data: 1; MC: the event's share of the cross section in fb, so that weight x lumi_fb is the
expected yield). Selection, in order: two muons (pT, |eta|), opposite charge of the leading
two, leading-muon pT, and the dimuon mass inside ``observable.range``.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pyarrow as pa
from coffea.analysis_tools import PackedSelection, Weights

from colliderflow.analyses import Analysis, Process
from colliderflow.ntuples import NtupleFormat

from .simulation import DimuonSimulation


class ToyMuonFormat(NtupleFormat):
    name = "toymu"
    tree = "events"
    energy_unit = "GeV"
    event_branches = ("eventNumber",)

    def weight_branches(self, scale_factors=()):
        return ("weight",)

    def weights(self, events, cfg, is_mc, scale_factors=()):
        """Data: 1, and the file's ``weight`` must be 1 everywhere; MC: ``weight * lumi_fb``."""
        weight = ak.to_numpy(events["weight"]).astype(np.float64)
        result = Weights(len(weight))
        if not is_mc:
            if np.any(weight != 1):
                raise ValueError("the sample catalogue says this is data (kind: data) but the file's weight branch "
                                 "is not 1 everywhere, as in MC files; fix the sample's kind")
            return result
        if len(weight) and np.all(weight == 1):
            raise ValueError("the sample catalogue says this is MC but every weight is 1, as in data files; "
                             "fix the sample's kind (data)")
        result.add("xsec_lumi", weight * float(cfg["lumi_fb"]))
        return result


FORMAT = ToyMuonFormat()
MUON_FIELDS = ("pt", "eta", "phi", "charge")
CUT_ORDER = ("two_muons", "opposite_charge", "leading_pt", "mass_window")
KINEMATICS = ("m_mumu", "pt_mumu", "y_mumu", "costheta_cs", "mu1_pt", "mu1_eta", "mu2_pt", "mu2_eta")
SCHEMA = pa.schema([("eventNumber", pa.uint64()), ("sample", pa.string()), ("weight", pa.float64())]
                   + [(name, pa.float32()) for name in KINEMATICS])


def leading_pair(events, sel: dict) -> dict:
    """The two highest-pT muons passing pT and |eta| (NaN where missing), their count, and the
    pair's kinematics (massless muons, float64)."""
    muons = ak.zip({field: events[f"mu_{field}"] for field in MUON_FIELDS})
    good = muons[(muons.pt > sel["muon_pt_min"]) & (abs(muons.eta) < sel["muon_eta_max"])]
    good = good[ak.argsort(good.pt, ascending=False)]
    pair = ak.pad_none(good, 2, clip=True)
    first, second = ({f: ak.to_numpy(ak.fill_none(pair[:, i][f], np.nan)).astype(np.float64) for f in MUON_FIELDS}
                     for i in (0, 1))
    pt1, eta1, phi1, pt2, eta2, phi2 = (first["pt"], first["eta"], first["phi"],
                                        second["pt"], second["eta"], second["phi"])
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.sqrt(2 * pt1 * pt2 * (np.cosh(eta1 - eta2) - np.cos(phi1 - phi2)))
        px, py = pt1 * np.cos(phi1) + pt2 * np.cos(phi2), pt1 * np.sin(phi1) + pt2 * np.sin(phi2)
        pz, e = pt1 * np.sinh(eta1) + pt2 * np.sinh(eta2), pt1 * np.cosh(eta1) + pt2 * np.cosh(eta2)
        pt = np.hypot(px, py)
        return {
            "n_muons": ak.to_numpy(ak.num(good)), "charge_product": first["charge"] * second["charge"],
            "m_mumu": m, "pt_mumu": pt, "y_mumu": 0.5 * np.log((e + pz) / (e - pz)),
            # |cos theta*| in the Collins-Soper frame for massless leptons
            "costheta_cs": np.abs(np.sinh(eta1 - eta2)) / np.sqrt(1 + (pt / m) ** 2) * 2 * pt1 * pt2 / m**2,
            "mu1_pt": pt1, "mu1_eta": eta1, "mu2_pt": pt2, "mu2_eta": eta2,
        }


class DimuonAnalysis(Analysis):
    """Z -> mumu (toy): two opposite-charge muons, the dimuon mass as the observable."""

    name = "dimuon"
    title = "Z → μμ (toy plug-in)"
    ntuple = FORMAT
    cut_order = CUT_ORDER
    schema = SCHEMA
    observable_column = "m_mumu"
    observable_label = r"$m_{\mu\mu}$"
    observable_unit = "GeV"
    peak_label = "$m_Z$"
    processes = {
        "Z": Process("Z", "signal", "Z→μμ", "#e41a1c"),
        "dy": Process("dy", "background", "Drell-Yan continuum", "#a6cee3"),
        "data": Process("data", "data", "Data", "black"),
    }
    simulation = DimuonSimulation()

    def branches(self, cfg):
        return [*FORMAT.event_branches, *FORMAT.weight_branches(), *(f"mu_{f}" for f in MUON_FIELDS)]

    def select(self, events, cfg, is_mc):
        sel = cfg["selection"]
        pair = leading_pair(events, sel)
        lo, hi = cfg["observable"]["range"]
        with np.errstate(invalid="ignore"):  # NaN (no pair) compares False: the event fails
            bits = (pair["n_muons"] >= 2, pair["charge_product"] < 0, pair["mu1_pt"] > sel["leading_pt_min"],
                    (pair["m_mumu"] >= lo) & (pair["m_mumu"] < hi))
        selection = PackedSelection()
        for name, passed in zip(CUT_ORDER, bits):
            selection.add(name, np.asarray(passed, dtype=bool))
        return selection, CUT_ORDER, pair

    def observable_candidates(self, derived):
        return derived["m_mumu"]  # lets the skim refuse MeV-scaled files

    def columns(self, events, mask, cfg, sample, weight, derived):
        mask = np.asarray(mask, dtype=bool)
        n = int(mask.sum())
        arrays = [pa.array(ak.to_numpy(events["eventNumber"])[mask].astype(np.uint64)),
                  pa.array([sample] * n, type=pa.string()),
                  pa.array(np.asarray(weight, dtype=np.float64)[mask])]
        arrays += [pa.array(derived[name][mask].astype(np.float32)) for name in KINEMATICS]
        return pa.Table.from_arrays(arrays, schema=SCHEMA)
