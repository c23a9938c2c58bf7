"""H -> ZZ* -> 4l on the ATLAS Open Data 2025 ``exactly4lep`` skim (tree ``analysis``, GeV).

The selection follows the ATLAS four-lepton analysis with 36.1 fb^-1 (JHEP 03 (2018) 095,
Phys. Lett. B 784 (2018) 345) and the public 2025 Open Data H->ZZ example (trigE or trigM
with a trigger-matched lepton, ID and isolation flags, lepton pT > 20, 15, 10 GeV, two
same-flavour opposite-charge pairs):

1. trigger: any of the configured trigger branches fired (``selection.trigger``) and, with
   ``trigger_match``, at least one lepton candidate is matched to the trigger;
2. four leptons: exactly four lepton *candidates*: electrons with pT > 7 GeV and
   |eta| < 2.47, muons with pT > 7 GeV and |eta| < 2.7 (``exactly4lep`` keeps events with
   exactly four leptons above 7 GeV, so the candidates are the event's leptons);
3. lepton ID: every lepton passes its flavour's identification (loose electrons, medium
   muons by default, as the public example);
4. impact parameter: |d0|/sigma(d0) < 5 (e) / 3 (mu) and |z0 sin theta| < 0.5 mm (ATLAS),
   which removes leptons from heavy-flavour decays and pile-up vertices;
5. isolation: every lepton passes the release's isolation flag (loose) or the ATLAS
   ``FixedCutLoose`` cones ptvarcone30/pT < 0.15 and topoetcone20/pT < 0.2 (e) / 0.3 (mu);
6. lepton pT: the three leading leptons above 20, 15 and 10 GeV;
7. SFOS pairs: the four leptons form two same-flavour opposite-charge pairs (4e, 4mu,
   2e2mu; total charge 0 follows). Z1 is the SFOS pair with mass closest to m_Z among the
   pairs whose two other leptons are SFOS too; Z2 is those two other leptons;
8. m_Z1 in [50, 106) GeV;
9. m_Z2 in [12, 115) GeV;
10. separation: Delta R > 0.1 between same-flavour and > 0.2 between different-flavour
    leptons, and every SFOS pair (of either pairing) heavier than 5 GeV (J/psi veto);
11. mass window: the observable range, 105 <= m_4l < 160 GeV by default.

Every threshold comes from the config's ``selection`` section (this analysis's piece of the
schema, ``config.schema.yaml`` beside this file), the mass window from ``observable.range``.
The skim keeps, besides m_4l, the Z masses, the decay and production angles of the four
leptons (Gao et al., Phys. Rev. D 81 (2010) 075022; Bolognesi et al., Phys. Rev. D 86
(2012) 095031), the jets and per-object lists for the set models.
"""

from __future__ import annotations


import awkward as ak
import numpy as np
import pyarrow as pa

from ...columnar import (
    Collection, cartesian, delta_phi, flat, not_near, objects_of, p4, repeated_string, to_arrow,
)
from ...ntuples.atlas2025 import FORMAT
from ..interface import Analysis, Process
from .simulation import Hzz4lSimulation

CUT_ORDER = (
    "trigger", "four_leptons", "lepton_id", "impact_parameter", "isolation", "lepton_pt", "sfos_pairs",
    "z1_mass", "z2_mass", "separation", "mass_window",
)

# Electron and muon efficiency corrections, and the single-lepton trigger's (the public example's weight).
SCALE_FACTORS = ("ScaleFactor_ELE", "ScaleFactor_MUON", "ScaleFactor_LepTRIGGER")
LEPTON_BRANCHES = (
    "lep_type", "lep_pt", "lep_eta", "lep_phi", "lep_e", "lep_charge", "lep_ptvarcone30", "lep_topoetcone20",
    "lep_z0", "lep_d0sig",
)
JET_BRANCHES = ("jet_pt", "jet_eta", "jet_phi", "jet_e", "jet_btag_quantile", "jet_jvt")
MET_BRANCHES = ("met", "met_phi")
BRANCHES = FORMAT.event_branches + FORMAT.weight_branches(SCALE_FACTORS) + LEPTON_BRANCHES + JET_BRANCHES + MET_BRANCHES

# Working point (config value) -> branch holding the per-lepton flag.
LEPTON_ID_BRANCH = {"loose": "lep_isLooseID", "medium": "lep_isMediumID", "tight": "lep_isTightID"}
LEPTON_ISO_BRANCH = {"loose": "lep_isLooseIso", "tight": "lep_isTightIso"}
ELECTRON, MUON = 11, 13
Z_MASS = 91.1876  # GeV, PDG

# The six lepton pairs of a quadruplet, as (first, second) positions; pair k and pair
# COMPLEMENT[k] share no lepton, so (k, COMPLEMENT[k]) is one of the three pairings.
PAIR_FIRST = np.array([0, 0, 0, 1, 1, 2])
PAIR_SECOND = np.array([1, 2, 3, 2, 3, 3])
COMPLEMENT = np.array([5, 4, 3, 2, 1, 0])
# channel code = 2 * (Z1 is muons) + (Z2 is muons)
CHANNELS = ("4e", "2e2mu", "2mu2e", "4mu")

# Kinematics are float32 like the ntuple they come from (derived quantities are computed
# in float64 and rounded once when written); the weight is float64 because samples sum
# millions of them.
_F32 = pa.float32()
_I32 = pa.int32()
_LIST = pa.list_(pa.float32())
_INT_LIST = pa.list_(pa.int32())
LEPTON_FIELDS = ("pt", "eta", "phi", "e", "type", "charge")
ANGLES = ("cos_theta_star", "cos_theta1", "cos_theta2", "phi_decay_planes", "phi1_production")
SCHEMA = pa.schema(
    [("eventNumber", pa.uint64()), ("runNumber", pa.uint32()), ("channelNumber", pa.uint32()),
     ("sample", pa.string()), ("weight", pa.float64())]
    + [
        (f"l{i}_{name}", _I32 if name in ("type", "charge") else _F32)
        for i in (1, 2, 3, 4)
        for name in LEPTON_FIELDS
    ]
    + [(f"l{i}_pt_over_m4l", _F32) for i in (1, 2, 3, 4)]
    + [("channel", pa.string())]
    + [(name, _F32) for name in (
        "m_4l", "pt_4l", "y_4l", "phi_4l", "pt_4l_over_m4l", "m_z1", "m_z2", "m_z1_over_m4l", "m_z2_over_m4l",
        "pt_z1", "pt_z2", *ANGLES)]
    + [("n_jets", _I32), ("n_bjets", _I32)]
    + [(name, _F32) for name in (
        "j1_pt", "j1_eta", "j1_phi", "j1_e", "j2_pt", "j2_eta", "j2_phi", "j2_e", "m_jj", "deta_jj", "dphi_jj")]
    + [("met", _F32), ("met_phi", _F32)]
    + [(f"lep_{name}", _INT_LIST if name in ("type", "charge") else _LIST) for name in LEPTON_FIELDS]
    + [(f"jet_{name}", _LIST) for name in ("pt", "eta", "phi", "e", "btag")]
)


def branches(cfg: dict) -> list[str]:
    """The branches this analysis reads with the given config (and no others)."""
    sel = cfg["selection"]
    wanted = list(BRANCHES) + list(sel["trigger"])
    if sel["trigger_match"]:
        wanted.append("lep_isTrigMatched")
    for working_point in (sel["electron_id"], sel["muon_id"]):
        if working_point != "none":
            wanted.append(LEPTON_ID_BRANCH[working_point])
    if sel["isolation"] in LEPTON_ISO_BRANCH:
        wanted.append(LEPTON_ISO_BRANCH[sel["isolation"]])
    return list(dict.fromkeys(wanted))


# --------------------------------------------------------------------------- selection


def lepton_candidates(events, sel: dict) -> tuple[np.ndarray, np.ndarray]:
    """Flat mask of lepton candidates (flavour, pT and |eta| acceptance), and each lepton's event row."""
    pt = flat(events["lep_pt"])
    abseta = np.abs(flat(events["lep_eta"]))
    flavour = flat(events["lep_type"])
    candidate = ((flavour == ELECTRON) & (pt > sel["electron_pt_min"]) & (abseta < sel["electron_eta_max"])) | (
        (flavour == MUON) & (pt > sel["muon_pt_min"]) & (abseta < sel["muon_eta_max"]))
    counts = ak.to_numpy(ak.num(events["lep_pt"], axis=1))
    row = np.repeat(np.arange(len(counts)), counts)
    return candidate, row


def quadruplet_index(events, candidate: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, index): the events with exactly four candidates and their candidates' flat
    indices, shape (m, 4), leading pT first."""
    n = len(events)
    four = np.bincount(row[candidate], minlength=n) == 4
    index = np.flatnonzero(candidate & four[row]).reshape(-1, 4)  # each such event holds four, in order
    pt = flat(events["lep_pt"])[index]
    index = np.take_along_axis(index, np.argsort(-pt, axis=1, kind="stable"), axis=1)
    return np.flatnonzero(four), index


def lepton_flag(events, branch: str, index: np.ndarray) -> np.ndarray:
    return flat(events[branch])[index].astype(bool)


def pair_masses(px, py, pz, e) -> np.ndarray:
    """Invariant masses (float64, shape (m, 6)) of the six lepton pairs of each quadruplet."""
    first, second = PAIR_FIRST, PAIR_SECOND
    mass2 = ((e[:, first] + e[:, second]) ** 2 - (px[:, first] + px[:, second]) ** 2
             - (py[:, first] + py[:, second]) ** 2 - (pz[:, first] + pz[:, second]) ** 2)
    return np.sqrt(np.maximum(mass2, 0.0))


def pairing(flavour: np.ndarray, charge: np.ndarray, mass: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Z1 pair of each quadruplet: (sfos (m, 6), z1 pair number (m,), has a pairing (m,)).

    A pair is a Z1 candidate when it and its complement are both SFOS; Z1 is the candidate
    closest to the Z mass (ATLAS), Z2 its complement. ``z1`` is 0 where there is none.
    """
    sfos = (flavour[:, PAIR_FIRST] == flavour[:, PAIR_SECOND]) & (charge[:, PAIR_FIRST] * charge[:, PAIR_SECOND] < 0)
    allowed = sfos & sfos[:, COMPLEMENT]
    distance = np.where(allowed, np.abs(mass - Z_MASS), np.inf)
    return sfos, np.argmin(distance, axis=1), allowed.any(axis=1)


def separated(eta, phi, flavour, sel: dict) -> np.ndarray:
    """Every pair of the quadruplet farther apart in Delta R than its flavour combination's minimum."""
    first, second = PAIR_FIRST, PAIR_SECOND
    dr2 = (eta[:, first] - eta[:, second]) ** 2 + delta_phi(phi[:, first], phi[:, second]) ** 2
    same = flavour[:, first] == flavour[:, second]
    minimum = np.where(same, sel["min_dr_same_flavour"], sel["min_dr_other_flavour"])
    return (dr2 > minimum**2).all(axis=1)


def quadruplet(events, index: np.ndarray) -> dict:
    """The four leptons at flat ``index`` (m, 4): stored quantities, float64 momenta, pairs."""
    leptons = {name: flat(events[f"lep_{name}"])[index] for name in ("pt", "eta", "phi", "e", "type", "charge")}
    px, py, pz = cartesian(leptons["pt"], leptons["eta"], leptons["phi"])
    e = leptons["e"].astype(np.float64)
    mass = pair_masses(px, py, pz, e)
    sfos, z1, paired = pairing(leptons["type"], leptons["charge"], mass)
    rows = np.arange(len(index))
    m_4l2 = e.sum(axis=1) ** 2 - px.sum(axis=1) ** 2 - py.sum(axis=1) ** 2 - pz.sum(axis=1) ** 2
    return {
        "leptons": leptons, "px": px, "py": py, "pz": pz, "E": e,
        "pair_mass": mass, "sfos": sfos, "z1": z1, "paired": paired,
        "m_z1": np.where(paired, mass[rows, z1], np.nan),
        "m_z2": np.where(paired, mass[rows, COMPLEMENT[z1]], np.nan),
        "m_4l": np.sqrt(np.maximum(m_4l2, 0.0)),
    }


def select(events, cfg: dict, is_mc: bool):
    """The event selection on one chunk: (PackedSelection, cut order, derived objects).

    Trigger and the candidate count are evaluated on every event, the rest on the events
    with exactly four candidates (all of them in an exactly4lep file) and false elsewhere:
    the cutflow is cumulative, so each bit is meaningful after the cuts before it.
    ``derived`` carries the quadruplets so that ``columns`` does not search again.
    """
    sel = cfg["selection"]
    n = len(events)

    fired = np.zeros(n, dtype=bool) if sel["trigger"] else np.ones(n, dtype=bool)
    for branch in sel["trigger"]:
        fired |= ak.to_numpy(events[branch]).astype(bool)
    candidate, row = lepton_candidates(events, sel)
    if sel["trigger_match"]:
        matched = flat(events["lep_isTrigMatched"]).astype(bool) & candidate
        fired &= np.bincount(row[matched], minlength=n) > 0

    rows, index = quadruplet_index(events, candidate, row)
    quad = quadruplet(events, index)
    leptons = quad["leptons"]
    electron = leptons["type"] == ELECTRON

    identified = np.ones(index.shape, dtype=bool)
    for flavour_mask, working_point in ((electron, sel["electron_id"]), (~electron, sel["muon_id"])):
        if working_point != "none":
            identified &= ~flavour_mask | lepton_flag(events, LEPTON_ID_BRANCH[working_point], index)

    d0sig = np.abs(flat(events["lep_d0sig"])[index])
    z0_sintheta = np.abs(flat(events["lep_z0"])[index]) / np.cosh(leptons["eta"].astype(np.float64))
    impact = (d0sig < np.where(electron, sel["electron_d0sig_max"], sel["muon_d0sig_max"])) & (
        z0_sintheta < sel["z0sintheta_max"])

    mode = sel["isolation"]
    if mode in LEPTON_ISO_BRANCH:
        isolated = lepton_flag(events, LEPTON_ISO_BRANCH[mode], index)
    elif mode == "cones":
        pt = leptons["pt"]
        calo_max = np.where(electron, sel["electron_topoetcone20_max"], sel["muon_topoetcone20_max"])
        isolated = (flat(events["lep_ptvarcone30"])[index] / pt < sel["ptvarcone30_max"]) & (
            flat(events["lep_topoetcone20"])[index] / pt < calo_max)
    elif mode == "none":
        isolated = np.ones(index.shape, dtype=bool)
    else:
        raise ValueError(f"selection.isolation must be loose, tight, cones or none, not {mode!r}")

    thresholds = np.asarray(sel["lepton_pt_min"], dtype=np.float64)
    hard_enough = (leptons["pt"][:, : len(thresholds)] > thresholds).all(axis=1)

    z1_lo, z1_hi = sel["z1_mass"]
    z2_lo, z2_hi = sel["z2_mass"]
    with np.errstate(invalid="ignore"):  # NaN masses (no pairing) fail every window
        z1_window = (quad["m_z1"] >= z1_lo) & (quad["m_z1"] < z1_hi)
        z2_window = (quad["m_z2"] >= z2_lo) & (quad["m_z2"] < z2_hi)
    no_resonance = np.where(quad["sfos"], quad["pair_mass"] > sel["jpsi_veto_mass"], True).all(axis=1)
    apart = separated(leptons["eta"], leptons["phi"], leptons["type"], sel) & no_resonance
    lo, hi = cfg["observable"]["range"]
    in_range = (quad["m_4l"] >= lo) & (quad["m_4l"] < hi)

    def per_event(values: np.ndarray) -> np.ndarray:
        """A quadruplet-level mask as an event-level one (false for events without four leptons)."""
        out = np.zeros(n, dtype=bool)
        out[rows] = values
        return out

    from coffea.analysis_tools import PackedSelection  # a second to import: here, only the skim pays

    selection = PackedSelection()
    selection.add("trigger", fired)
    selection.add("four_leptons", per_event(np.ones(len(rows), dtype=bool)))
    selection.add("lepton_id", per_event(identified.all(axis=1)))
    selection.add("impact_parameter", per_event(impact.all(axis=1)))
    selection.add("isolation", per_event(isolated.all(axis=1)))
    selection.add("lepton_pt", per_event(hard_enough))
    selection.add("sfos_pairs", per_event(quad["paired"]))
    selection.add("z1_mass", per_event(z1_window))
    selection.add("z2_mass", per_event(z2_window))
    selection.add("separation", per_event(apart))
    selection.add("mass_window", per_event(in_range))
    derived = {"rows": rows, "index": index, "quadruplet": quad}
    return selection, CUT_ORDER, derived


# --------------------------------------------------------------------------- output columns


def _vectors(quad: dict, positions) -> list:
    """Four-momenta (vector) of the leptons at quadruplet ``positions`` (one per event)."""
    rows = np.arange(len(quad["E"]))
    return p4(*(quad[name][rows, positions] for name in ("px", "py", "pz", "E")))


def _unit(v):
    return v / v.mag


def _signed_angle(a_dot_b, orientation):
    """arccos of a clipped cosine, with the sign of ``orientation`` (0 counts as +)."""
    return np.where(orientation < 0, -1.0, 1.0) * np.arccos(np.clip(a_dot_b, -1.0, 1.0))


def decay_angles(l1_minus, l1_plus, l2_minus, l2_plus) -> dict:
    """The five angles of X -> Z1 Z2 -> 4l (Bolognesi et al., Phys. Rev. D 86 (2012) 095031, App. A).

    Arguments are the four-momenta (vector) of Z1's negative and positive lepton and of Z2's.
    cos theta*: Z1 direction in the 4l rest frame against the beam (z) axis; Phi: angle
    between the two decay planes and Phi1: between Z1's decay plane and the production plane
    (beam and Z1), both in the 4l rest frame; cos theta1 (theta2): the negative lepton of Z1
    (Z2) against the direction opposite Z2 (Z1), in Z1's (Z2's) rest frame.
    """
    import vector  # imports sympy (half a second): here, only the skim pays

    z1, z2 = l1_minus + l1_plus, l2_minus + l2_plus
    system = z1 + z2
    q1 = z1.boostCM_of_p4(system).to_Vector3D()
    n1 = _unit(l1_minus.boostCM_of_p4(system).to_Vector3D().cross(l1_plus.boostCM_of_p4(system).to_Vector3D()))
    n2 = _unit(l2_minus.boostCM_of_p4(system).to_Vector3D().cross(l2_plus.boostCM_of_p4(system).to_Vector3D()))
    zero = np.zeros(len(q1))
    beam = vector.array({"x": zero, "y": zero, "z": zero + 1.0})
    n_production = _unit(beam.cross(q1))

    def cos_helicity(lepton, own, other):
        lepton_rest, other_rest = lepton.boostCM_of_p4(own).to_Vector3D(), other.boostCM_of_p4(own).to_Vector3D()
        return -other_rest.dot(lepton_rest) / (other_rest.mag * lepton_rest.mag)

    return {
        "cos_theta_star": q1.z / q1.mag,
        "cos_theta1": cos_helicity(l1_minus, z1, z2),
        "cos_theta2": cos_helicity(l2_minus, z2, z1),
        "phi_decay_planes": _signed_angle(-n1.dot(n2), q1.dot(n1.cross(n2))),
        "phi1_production": _signed_angle(n1.dot(n_production), q1.dot(n1.cross(n_production))),
    }


def select_jets(events, mask, lepton_eta, lepton_phi, jcfg: dict) -> Collection:
    """Jets of the selected events: pT, |eta|, JVT for central low-pT jets, no lepton within dR."""
    jets, row = objects_of(events, mask, {
        "pt": "jet_pt", "eta": "jet_eta", "phi": "jet_phi", "e": "jet_e",
        "btag": "jet_btag_quantile", "jvt": "jet_jvt"})
    abseta = np.abs(jets["eta"])
    keep = (jets["pt"] > jcfg["pt_min"]) & (abseta < jcfg["eta_max"])
    pileup_prone = (jets["pt"] < jcfg["jvt_pt_max"]) & (abseta < jcfg["jvt_eta_max"])
    keep &= ~pileup_prone | jets.pop("jvt")
    keep &= not_near(jets["eta"], jets["phi"], row, lepton_eta, lepton_phi, jcfg["overlap_dr"])
    return Collection(jets, row, keep, int(np.count_nonzero(mask)))


def _choice_strings(choices: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    """A string column holding ``choices[code]`` per row, built from buffers (``pa.array`` on
    strings imports pandas, a third of a second per skim job)."""
    encoded = [choice.encode() for choice in choices]
    width = max(len(choice) for choice in encoded)
    table = np.array(encoded, dtype=f"S{width}").view(np.uint8).reshape(len(encoded), width)
    lengths = np.array([len(choice) for choice in encoded], dtype=np.int32)[codes]
    offsets = np.zeros(len(codes) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = table[codes][np.arange(width) < lengths[:, None]].tobytes()
    return pa.Array.from_buffers(pa.string(), len(codes), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _quad_list(values: np.ndarray, type_: pa.DataType) -> pa.Array:
    """An (n, 4) array (the four leptons of every event) as a list column."""
    n = values.shape[0]
    offsets = to_arrow(np.arange(0, 4 * n + 1, 4, dtype=np.int32), pa.int32())
    return pa.ListArray.from_arrays(offsets, to_arrow(values.ravel(), type_.value_type))


def columns(events, mask, cfg: dict, sample: str, weight, derived: dict) -> pa.Table:
    """The skim rows (``SCHEMA``) of the events where ``mask`` is true (each with its Z pairing).

    The quadruplets come from ``derived`` (built once by ``select``); jets are selected for
    the chosen events only, which are few.
    """
    jcfg = cfg["selection"]["jets"]
    mask = np.asarray(mask, dtype=bool)
    chosen = np.flatnonzero(mask)
    n = len(chosen)
    rows, quad = derived["rows"], derived["quadruplet"]
    position = np.searchsorted(rows, chosen)
    if n and (np.any(position >= len(rows)) or np.any(rows[np.minimum(position, len(rows) - 1)] != chosen)
              or not quad["paired"][position].all()):
        raise ValueError("hzz4l columns: the mask selects events without four leptons in two SFOS pairs; "
                         "pass a mask that includes the sfos_pairs cut")
    quad = {name: value[position] for name, value in quad.items() if name != "leptons"} | {
        "leptons": {name: value[position] for name, value in quad["leptons"].items()}}
    leptons = quad["leptons"]
    m_4l = quad["m_4l"]

    out: dict[str, np.ndarray | pa.Array] = {
        "eventNumber": ak.to_numpy(events["eventNumber"])[mask].astype(np.uint64),
        "runNumber": ak.to_numpy(events["runNumber"])[mask].astype(np.uint32),
        "channelNumber": ak.to_numpy(events["channelNumber"])[mask].astype(np.uint32),
        "sample": repeated_string(sample, n),
        "weight": np.asarray(weight, dtype=np.float64)[mask],
    }
    for i in range(4):
        for name in LEPTON_FIELDS:
            out[f"l{i + 1}_{name}"] = leptons[name][:, i]
        out[f"l{i + 1}_pt_over_m4l"] = leptons["pt"][:, i] / m_4l

    z1, z2 = quad["z1"], COMPLEMENT[quad["z1"]]
    z1_muons = leptons["type"][np.arange(n), PAIR_FIRST[z1]] == MUON
    z2_muons = leptons["type"][np.arange(n), PAIR_FIRST[z2]] == MUON
    codes = 2 * z1_muons.astype(np.int32) + z2_muons.astype(np.int32)
    out["channel"] = _choice_strings(CHANNELS, codes)

    # each pair's negative and positive lepton, for the angles
    def signed(pair):
        first, second = PAIR_FIRST[pair], PAIR_SECOND[pair]
        first_negative = leptons["charge"][np.arange(n), first] < 0
        return np.where(first_negative, first, second), np.where(first_negative, second, first)

    (z1_minus, z1_plus), (z2_minus, z2_plus) = signed(z1), signed(z2)
    l1m, l1p, l2m, l2p = (_vectors(quad, k) for k in (z1_minus, z1_plus, z2_minus, z2_plus))
    system = l1m + l1p + l2m + l2p
    pt_4l = np.asarray(system.pt, dtype=np.float64)
    out.update({
        "m_4l": m_4l,
        "pt_4l": pt_4l,
        "y_4l": np.asarray(system.rapidity, dtype=np.float64),
        "phi_4l": np.asarray(system.phi, dtype=np.float64),
        "pt_4l_over_m4l": pt_4l / m_4l,
        "m_z1": quad["m_z1"],
        "m_z2": quad["m_z2"],
        "m_z1_over_m4l": quad["m_z1"] / m_4l,
        "m_z2_over_m4l": quad["m_z2"] / m_4l,
        "pt_z1": np.asarray((l1m + l1p).pt, dtype=np.float64),
        "pt_z2": np.asarray((l2m + l2p).pt, dtype=np.float64),
    })
    if n:
        out.update(decay_angles(l1m, l1p, l2m, l2p))
    else:
        out.update({name: np.zeros(0) for name in ANGLES})

    jets = select_jets(events, mask, leptons["eta"].T, leptons["phi"].T, jcfg)
    out["n_jets"] = jets.counts.astype(np.int32)
    tagged = (jets.values["btag"] >= jcfg["btag_quantile_min"]) & (np.abs(jets.values["eta"]) < jcfg["btag_eta_max"])
    out["n_bjets"] = jets.per_event_sum(tagged).astype(np.int32)
    j1, j2 = (jets.leading(k, ("pt", "eta", "phi", "e")) for k in (0, 1))
    for k, lead in ((1, j1), (2, j2)):
        for name, values in lead.items():
            out[f"j{k}_{name}"] = values
    dijet = jets.counts >= 2
    out["m_jj"] = np.full(n, np.nan)
    jj = p4(*cartesian(j1["pt"][dijet], j1["eta"][dijet], j1["phi"][dijet]), j1["e"][dijet].astype(np.float64)) + p4(
        *cartesian(j2["pt"][dijet], j2["eta"][dijet], j2["phi"][dijet]), j2["e"][dijet].astype(np.float64))
    out["m_jj"][dijet] = jj.mass
    out["deta_jj"] = np.abs(j1["eta"] - j2["eta"])
    out["dphi_jj"] = np.abs(delta_phi(j1["phi"], j2["phi"]))
    out["met"] = ak.to_numpy(events["met"])[mask]
    out["met_phi"] = ak.to_numpy(events["met_phi"])[mask]

    for name in LEPTON_FIELDS:
        out[f"lep_{name}"] = _quad_list(leptons[name], SCHEMA.field(f"lep_{name}").type)
    for name in ("pt", "eta", "phi", "e", "btag"):
        out[f"jet_{name}"] = jets.list_column(name)

    arrays = [
        value if isinstance(value, pa.Array) else to_arrow(value, field.type)
        for field in SCHEMA
        for value in (out[field.name],)
    ]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


class Hzz4lAnalysis(Analysis):
    """H -> ZZ* -> 4l: four isolated leptons in two Z candidates, the four-lepton mass m_4l as the observable."""

    name = "hzz4l"
    title = "H → ZZ* → 4ℓ"
    peak_label = "$m_H$"
    ntuple = FORMAT
    scale_factors = SCALE_FACTORS
    cut_order = CUT_ORDER
    schema = SCHEMA
    observable_column = "m_4l"
    observable_label = r"$m_{4\ell}$"
    observable_unit = "GeV"
    processes = {
        "ggH": Process("ggH", "signal", "H→ZZ*→4ℓ ggF", "#00cdff"),
        "VBF": Process("VBF", "signal", "H→ZZ*→4ℓ VBF", "#377eb8"),
        "WH": Process("WH", "signal", "H→ZZ*→4ℓ WH", "#4daf4a"),
        "ZH": Process("ZH", "signal", "H→ZZ*→4ℓ ZH", "#984ea3"),
        "ttH": Process("ttH", "signal", "H→ZZ*→4ℓ ttH", "#a65628"),  # real release only (no simulation)
        "ZZ": Process("ZZ", "background", "ZZ* → 4ℓ", "#ff0000"),
        "Zjets": Process("Zjets", "background", "Z+jets", "#6b59d3"),
        "ttbar": Process("ttbar", "background", "tt̄", "#ffa500"),
        "data": Process("data", "data", "Data", "black"),
    }
    # the jet columns are NaN when the event has fewer jets than they describe
    nan_when_missing = ("j1_pt", "j1_eta", "j1_phi", "j1_e", "j2_pt", "j2_eta", "j2_phi", "j2_e",
                        "m_jj", "deta_jj", "dphi_jj")
    simulation = Hzz4lSimulation()

    def branches(self, cfg: dict) -> list[str]:
        return branches(cfg)

    def select(self, events, cfg: dict, is_mc: bool):
        return select(events, cfg, is_mc)

    def observable_candidates(self, derived):
        return derived["quadruplet"]["m_4l"]

    def columns(self, events, mask, cfg: dict, sample: str, weight, derived) -> pa.Table:
        return columns(events, mask, cfg, sample, weight, derived)
