"""H -> gamma gamma on the ATLAS Open Data 2025 ntuples (tree ``analysis``, GeV units).

The selection follows the ATLAS diphoton
selection (Phys. Rev. D 98 (2018) 052005 and the public Open Data examples):

1. trigger: any of the configured trigger branches fired (``selection.trigger``);
2. two photons: at least two *candidate* photons, i.e. photons with pT above threshold,
   inside |eta| < 2.37 but outside the barrel-endcap crack 1.37-1.52, passing the
   candidate identification (loose by default). The two highest-pT candidates are the
   diphoton pair. Choosing the pair among loose candidates *before* applying tight ID and
   isolation is the ATLAS approach: a fake leading photon that fails tight ID removes the
   event instead of silently promoting the third photon, so the background composition
   (and the data-driven fake estimate it relies on) is the standard one;
3. photon ID: both photons of the pair pass the final identification (tight);
4. isolation: both pass the isolation, either the 2025 release's ``photon_isTightIso``
   flag (``flags``) or relative cone cuts ptcone20/pT and topoetcone40/pT (``cones``);
5. pT/m_yy: leading > 0.35, subleading > 0.25 (so the cut scales with the mass and does
   not sculpt the m_yy spectrum);
6. mass window: the observable range, 105 <= m_yy < 160 GeV by default.

The eta acceptance and crack veto are part of the candidate definition (step 2), as in
ATLAS, not a separate cut. Every threshold comes from the config's ``selection`` section (this
analysis's piece of the schema, ``config.schema.yaml`` beside this file), the mass window from
``observable.range``.
"""

from __future__ import annotations


import awkward as ak
import numpy as np
import pyarrow as pa

from ...columnar import (
    Collection, cartesian, delta_phi, flat, gather, not_near, objects_of, offsets_of, p4,
    pair_list_column, repeated_string, to_arrow, top_two,
)
from ...ntuples.atlas2025 import FORMAT
from ..interface import Analysis, Process
from .simulation import HyySimulation

CUT_ORDER = ("trigger", "two_photons", "photon_id", "isolation", "pt_over_myy", "mass_window")

SCALE_FACTORS = ("ScaleFactor_PHOTON",)
PHOTON_BRANCHES = (
    "photon_pt", "photon_eta", "photon_phi", "photon_e", "photon_ptcone20", "photon_topoetcone40",
    "photon_isTightID", "photon_isTightIso",
)
JET_BRANCHES = ("jet_pt", "jet_eta", "jet_phi", "jet_e", "jet_btag_quantile", "jet_jvt")
LEPTON_BRANCHES = ("lep_pt", "lep_eta", "lep_phi", "lep_e")
MET_BRANCHES = ("met", "met_phi")
BRANCHES = FORMAT.event_branches + FORMAT.weight_branches(SCALE_FACTORS) + PHOTON_BRANCHES + JET_BRANCHES + LEPTON_BRANCHES + MET_BRANCHES

# Identification working point (config value) -> branch holding the per-object flag.
PHOTON_ID_BRANCH = {"loose": "photon_isLooseID", "tight": "photon_isTightID"}
LEPTON_ID_BRANCH = {"loose": "lep_isLooseID", "medium": "lep_isMediumID", "tight": "lep_isTightID"}

# Kinematics are float32 like the ntuple they come from (derived quantities are computed
# in float64 and rounded once when written); the weight is float64 because samples sum
# millions of them.
_F32 = pa.float32()
_LIST = pa.list_(pa.float32())
SCHEMA = pa.schema(
    [("eventNumber", pa.uint64()), ("runNumber", pa.uint32()), ("channelNumber", pa.uint32()),
     ("sample", pa.string()), ("weight", pa.float64())]
    + [
        (f"y{i}_{name}", pa.bool_() if name.startswith("is") else _F32)
        for i in (1, 2)
        for name in ("pt", "eta", "phi", "e", "ptcone20", "topoetcone40", "isTightID", "isTightIso")
    ]
    + [(name, _F32) for name in (
        "y1_pt_over_myy", "y2_pt_over_myy",
        "m_yy", "pt_yy", "y_yy", "phi_yy", "costheta_cs", "dphi_yy", "deta_yy", "ptt_yy")]
    + [("n_jets", pa.int32()), ("n_bjets", pa.int32())]
    + [(name, _F32) for name in (
        "j1_pt", "j1_eta", "j1_phi", "j1_e", "j2_pt", "j2_eta", "j2_phi", "j2_e",
        "m_jj", "deta_jj", "dphi_jj", "ht")]
    + [("n_leptons", pa.int32()), ("met", _F32), ("met_phi", _F32)]
    + [(name, _LIST) for name in (
        "photon_pt", "photon_eta", "photon_phi", "photon_e",
        "jet_pt", "jet_eta", "jet_phi", "jet_e", "jet_btag",
        "lep_pt", "lep_eta", "lep_phi", "lep_e")]
)


def branches(cfg: dict) -> list[str]:
    """The branches this analysis reads with the given config (and no others)."""
    sel = cfg["selection"]
    wanted = list(BRANCHES) + list(sel["trigger"])
    for working_point in (sel["photon_candidate_id"], sel["photon_id"]):
        if working_point != "none":
            wanted.append(PHOTON_ID_BRANCH[working_point])
    if sel["leptons"]["id"] != "none":
        wanted.append(LEPTON_ID_BRANCH[sel["leptons"]["id"]])
    return list(dict.fromkeys(wanted))


# --------------------------------------------------------------------------- selection


def photon_candidates(events, sel: dict) -> tuple[np.ndarray, np.ndarray]:
    """Flat mask of diphoton candidates (pT, |eta| acceptance without the crack, candidate ID), and offsets."""
    pt = flat(events["photon_pt"])
    abseta = np.abs(flat(events["photon_eta"]))
    crack_low, crack_high = sel["photon_crack"]
    accepted = (pt > sel["photon_pt_min"]) & (abseta < sel["photon_eta_max"]) & ~(
        (abseta > crack_low) & (abseta < crack_high))
    if sel["photon_candidate_id"] != "none":
        accepted &= flat(events[PHOTON_ID_BRANCH[sel["photon_candidate_id"]]])
    offsets = offsets_of(ak.to_numpy(ak.num(events["photon_pt"], axis=1)))
    return accepted, offsets


def pair_kinematics(events, index: np.ndarray) -> dict:
    """The photons at flat ``index`` (shape (2, n)): pt, eta, phi, e (as stored), px, py
    (float64), their sum ``yy`` (vector) and m_yy (float64)."""
    kinematics = {name: flat(events[f"photon_{name}"])[index] for name in ("pt", "eta", "phi", "e")}
    px, py, pz = cartesian(kinematics["pt"], kinematics["eta"], kinematics["phi"])
    e = kinematics["e"].astype(np.float64)
    kinematics["yy"] = yy = p4(px[0], py[0], pz[0], e[0]) + p4(px[1], py[1], pz[1], e[1])
    kinematics["m_yy"] = np.asarray(yy.mass, dtype=np.float64)
    kinematics["px"], kinematics["py"] = px, py
    return kinematics


def select(events, cfg: dict, is_mc: bool):
    """The event selection on one chunk: (PackedSelection, cut order, derived objects).

    The diphoton pair is the two leading candidates (``top_two``). Trigger, two photons,
    photon ID and isolation are evaluated on every event; the pair's mass only where
    those four pass (the cutflow is cumulative, and the mass of an already rejected event
    would only cost time), so the pt_over_myy and mass_window bits are false elsewhere and
    meaningful only after the earlier cuts. ``derived`` carries the pair's flat indices
    and m_yy so that ``columns`` does not search again.
    """
    sel = cfg["selection"]
    n = len(events)

    fired = np.zeros(n, dtype=bool) if sel["trigger"] else np.ones(n, dtype=bool)
    for branch in sel["trigger"]:
        fired |= ak.to_numpy(events[branch]).astype(bool)

    accepted, offsets = photon_candidates(events, sel)
    index, valid, n_candidates = top_two(flat(events["photon_pt"]), accepted, offsets)
    two_photons = n_candidates >= 2

    if sel["photon_id"] == "none":
        identified = np.ones(n, dtype=bool)
    else:
        identified = gather(flat(events[PHOTON_ID_BRANCH[sel["photon_id"]]]), index, valid, False).all(axis=0)

    if sel["photon_isolation"] == "flags":
        isolated = gather(flat(events["photon_isTightIso"]), index, valid, False).all(axis=0)
    elif sel["photon_isolation"] == "cones":
        pt = gather(flat(events["photon_pt"]), index, valid, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            isolated = (
                (gather(flat(events["photon_ptcone20"]), index, valid, np.nan) / pt < sel["ptcone20_max"])
                & (gather(flat(events["photon_topoetcone40"]), index, valid, np.nan) / pt < sel["topoetcone40_max"])
            ).all(axis=0)
    elif sel["photon_isolation"] == "none":
        isolated = np.ones(n, dtype=bool)
    else:
        raise ValueError(
            f"skim.selection.photon_isolation must be flags, cones or none, not {sel['photon_isolation']!r}")

    before_mass = fired & two_photons & identified & isolated
    kinematics = pair_kinematics(events, index[:, before_mass])
    m_yy = np.full(n, np.nan)
    m_yy[before_mass] = kinematics["m_yy"]
    pt_over_myy = np.zeros(n, dtype=bool)
    pt_over_myy[before_mass] = (kinematics["pt"][0] / kinematics["m_yy"] > sel["lead_pt_over_myy_min"]) & (
        kinematics["pt"][1] / kinematics["m_yy"] > sel["sublead_pt_over_myy_min"])
    window = np.zeros(n, dtype=bool)
    myy_min, myy_max = cfg["observable"]["range"]
    window[before_mass] = (kinematics["m_yy"] >= myy_min) & (kinematics["m_yy"] < myy_max)

    from coffea.analysis_tools import PackedSelection  # a second to import: here, only the skim pays

    selection = PackedSelection()
    selection.add("trigger", fired)
    selection.add("two_photons", two_photons)
    selection.add("photon_id", identified)
    selection.add("isolation", isolated)
    selection.add("pt_over_myy", pt_over_myy)
    selection.add("mass_window", window)
    derived = {"index": index, "m_yy": m_yy, "with_pair": before_mass, "pair": kinematics}
    return selection, CUT_ORDER, derived


# --------------------------------------------------------------------------- output columns


def costheta_cs(pt1, eta1, pt2, eta2, m_yy, pt_yy):
    """|cos theta*| in the Collins-Soper frame (massless photons; ATLAS H->yy definition)."""
    return np.abs(np.sinh(eta1 - eta2)) / np.sqrt(1.0 + (pt_yy / m_yy) ** 2) * 2.0 * pt1 * pt2 / m_yy**2


def ptt(px1, py1, px2, py2):
    """Diphoton pT component transverse to the thrust axis t = (pT1 - pT2)/|pT1 - pT2|."""
    tx, ty = px1 - px2, py1 - py2
    return np.abs((px1 + px2) * ty - (py1 + py2) * tx) / np.hypot(tx, ty)


def select_jets(events, mask, photon_eta, photon_phi, jcfg: dict) -> Collection:
    """Jets of the selected events: pT, |eta|, JVT for central low-pT jets, no photon within dR."""
    jets, row = objects_of(events, mask, {
        "pt": "jet_pt", "eta": "jet_eta", "phi": "jet_phi", "e": "jet_e",
        "btag": "jet_btag_quantile", "jvt": "jet_jvt"})
    abseta = np.abs(jets["eta"])
    keep = (jets["pt"] > jcfg["pt_min"]) & (abseta < jcfg["eta_max"])
    pileup_prone = (jets["pt"] < jcfg["jvt_pt_max"]) & (abseta < jcfg["jvt_eta_max"])
    keep &= ~pileup_prone | jets.pop("jvt")
    keep &= not_near(jets["eta"], jets["phi"], row, photon_eta, photon_phi, jcfg["overlap_dr"])
    return Collection(jets, row, keep, int(np.count_nonzero(mask)))


def select_leptons(events, mask, photon_eta, photon_phi, lcfg: dict) -> Collection:
    """Leptons of the selected events: pT, |eta|, ID, no photon within dR."""
    branches = {"pt": "lep_pt", "eta": "lep_eta", "phi": "lep_phi", "e": "lep_e"}
    if lcfg["id"] != "none":
        branches["id"] = LEPTON_ID_BRANCH[lcfg["id"]]
    leptons, row = objects_of(events, mask, branches)
    keep = (leptons["pt"] > lcfg["pt_min"]) & (np.abs(leptons["eta"]) < lcfg["eta_max"])
    if "id" in leptons:
        keep &= leptons.pop("id")
    keep &= not_near(leptons["eta"], leptons["phi"], row, photon_eta, photon_phi, lcfg["overlap_dr"])
    return Collection(leptons, row, keep, int(np.count_nonzero(mask)))


def columns(events, mask, cfg: dict, sample: str, weight, derived: dict) -> pa.Table:
    """The skim rows (``SCHEMA``) of the events where ``mask`` is true.

    The photon pair comes from ``derived`` (found once by ``select``); everything else is
    computed for the selected events only, which are few.
    """
    sel = cfg["selection"]
    jcfg = sel["jets"]
    mask = np.asarray(mask, dtype=bool)
    n = int(np.count_nonzero(mask))
    out: dict[str, np.ndarray | pa.Array] = {
        "eventNumber": ak.to_numpy(events["eventNumber"])[mask].astype(np.uint64),
        "runNumber": ak.to_numpy(events["runNumber"])[mask].astype(np.uint32),
        "channelNumber": ak.to_numpy(events["channelNumber"])[mask].astype(np.uint32),
        "sample": repeated_string(sample, n),
        "weight": np.asarray(weight, dtype=np.float64)[mask],
    }
    index = derived["index"][:, mask]  # every selected event has its two photons
    if np.any(mask & ~derived["with_pair"]):  # a mask looser than the selection: build the pairs
        pair = pair_kinematics(events, index)
    else:  # reuse what select built (the usual case)
        rows = np.flatnonzero(mask[derived["with_pair"]])
        pair = {name: np.take(values, rows, axis=-1) for name, values in derived["pair"].items() if name != "yy"}
        pair["yy"] = derived["pair"]["yy"][rows]
    yy = pair.pop("yy")
    (px1, px2), (py1, py2) = pair.pop("px"), pair.pop("py")
    m_yy = pair.pop("m_yy")  # the mass the selection cut on
    photon = pair
    for name in ("ptcone20", "topoetcone40"):
        photon[name] = flat(events[f"photon_{name}"])[index]
    for name in ("isTightID", "isTightIso"):
        photon[name] = flat(events[f"photon_{name}"])[index]
    for i in (0, 1):
        for name, values in photon.items():
            out[f"y{i + 1}_{name}"] = values[i]

    (pt1, pt2), (eta1, eta2), (phi1, phi2) = photon["pt"], photon["eta"], photon["phi"]
    pt_yy = np.asarray(yy.pt, dtype=np.float64)
    out.update({
        "y1_pt_over_myy": pt1 / m_yy,
        "y2_pt_over_myy": pt2 / m_yy,
        "m_yy": m_yy,
        "pt_yy": pt_yy,
        "y_yy": np.asarray(yy.rapidity, dtype=np.float64),
        "phi_yy": np.asarray(yy.phi, dtype=np.float64),
        "costheta_cs": costheta_cs(pt1, eta1, pt2, eta2, m_yy, pt_yy),
        "dphi_yy": np.abs(delta_phi(phi1, phi2)),
        "deta_yy": np.abs(eta1 - eta2),
        "ptt_yy": ptt(px1, py1, px2, py2),
    })

    jets = select_jets(events, mask, photon["eta"], photon["phi"], jcfg)
    out["n_jets"] = jets.counts.astype(np.int32)
    tagged = (jets.values["btag"] >= jcfg["btag_quantile_min"]) & (np.abs(jets.values["eta"]) < jcfg["btag_eta_max"])
    out["n_bjets"] = jets.per_event_sum(tagged).astype(np.int32)
    j1, j2 = (jets.leading(k, ("pt", "eta", "phi", "e")) for k in (0, 1))
    for k, lead in ((1, j1), (2, j2)):
        for name, values in lead.items():
            out[f"j{k}_{name}"] = values
    dijet = jets.counts >= 2
    out["m_jj"] = np.full(n, np.nan)
    jj = p4(*cartesian(j1["pt"][dijet], j1["eta"][dijet], j1["phi"][dijet]), j1["e"][dijet]) + p4(
        *cartesian(j2["pt"][dijet], j2["eta"][dijet], j2["phi"][dijet]), j2["e"][dijet])
    out["m_jj"][dijet] = jj.mass
    out["deta_jj"] = np.abs(j1["eta"] - j2["eta"])
    out["dphi_jj"] = np.abs(delta_phi(j1["phi"], j2["phi"]))
    out["ht"] = jets.per_event_sum(jets.values["pt"].astype(np.float64))

    leptons = select_leptons(events, mask, photon["eta"], photon["phi"], sel["leptons"])
    out["n_leptons"] = leptons.counts.astype(np.int32)
    out["met"] = ak.to_numpy(events["met"])[mask]
    out["met_phi"] = ak.to_numpy(events["met_phi"])[mask]

    for name in ("pt", "eta", "phi", "e"):
        out[f"photon_{name}"] = pair_list_column(photon[name])
    for name in ("pt", "eta", "phi", "e", "btag"):
        out[f"jet_{name}"] = jets.list_column(name)
    for name in ("pt", "eta", "phi", "e"):
        out[f"lep_{name}"] = leptons.list_column(name)

    arrays = [
        value if isinstance(value, pa.Array) else to_arrow(value, field.type)
        for field in SCHEMA
        for value in (out[field.name],)
    ]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


class HyyAnalysis(Analysis):
    """H -> gamma gamma: two isolated photons, the diphoton mass m_yy as the observable."""

    name = "hyy"
    title = "H → γγ"
    ntuple = FORMAT
    scale_factors = SCALE_FACTORS
    cut_order = CUT_ORDER
    schema = SCHEMA
    observable_column = "m_yy"
    observable_label = r"$m_{\gamma\gamma}$"
    observable_unit = "GeV"
    peak_label = "$m_H$"
    processes = {
        "ggH": Process("ggH", "signal", "H→γγ ggH", "#e41a1c"),
        "VBF": Process("VBF", "signal", "H→γγ VBF", "#377eb8"),
        "WH": Process("WH", "signal", "H→γγ WH", "#4daf4a"),
        "ZH": Process("ZH", "signal", "H→γγ ZH", "#984ea3"),
        "ttH": Process("ttH", "signal", "H→γγ ttH", "#ff7f00"),
        "yy": Process("yy", "background", "γγ continuum", "#a6cee3"),
        "data": Process("data", "data", "Data", "black"),
    }
    # the jet columns are NaN when the event has fewer jets than they describe
    nan_when_missing = ("j1_pt", "j1_eta", "j1_phi", "j1_e", "j2_pt", "j2_eta", "j2_phi", "j2_e",
                        "m_jj", "deta_jj", "dphi_jj")
    simulation = HyySimulation()

    def branches(self, cfg: dict) -> list[str]:
        return branches(cfg)

    def select(self, events, cfg: dict, is_mc: bool):
        return select(events, cfg, is_mc)

    def observable_candidates(self, derived):
        return derived["m_yy"]

    def columns(self, events, mask, cfg: dict, sample: str, weight, derived) -> pa.Table:
        return columns(events, mask, cfg, sample, weight, derived)
