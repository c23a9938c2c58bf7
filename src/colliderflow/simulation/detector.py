"""The toy ATLAS-like detector response shared by the ATLAS analyses' simulations.

From a ``Truth`` batch to reconstructed objects with the ntuple's collection thresholds:

- photons: energy resolution a/sqrt(E) (+) c per region (barrel, crack, endcap) with a
  low-side tail (conversions, leakage), loose/tight identification rising with pT, track
  and calorimeter isolation with the release's FixedCut flags; a fake photon (the leading
  neutral hadron of a jet carrying a fraction z of it) has the rest of its jet in its cones
  and fails identification more often at low z;
- jets: energy resolution, pile-up jets, JVT, b-tagging quantiles per flavour;
- leptons: prompt ones from the truth plus non-prompt ones from hadron decays in any event;
  pT resolution per flavour, reconstruction efficiency, ID, isolation (non-prompt leptons
  carry the rest of their jet in their cones, fail isolation and, if configured, ID more
  often, and have larger impact parameters);
- missing transverse momentum: neutrinos plus every object's mismeasurement plus a soft term;
- triggers from the reconstructed objects (2015-2016 thresholds, rounded).

Every response parameter an analysis may want to change is a field of ``Detector``; its
defaults are the values the H->yy simulation was tuned with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ntuples.atlas2025 import TRIGGERS
from .truth import LEPTON_KEYS, Truth, concat, flat

CRACK = (1.37, 1.52)
PHOTON_ETA_MAX = 2.37
PHOTON_PT_MIN = 25.0  # photon collection threshold of the ntuple (= GamGam skim threshold)
JET_PT_MIN, JET_ETA_MAX = 20.0, 2.5  # jet collection of the ntuple
ELECTRON_ETA_MAX, MUON_ETA_MAX, LEPTON_PT_MIN = 2.47, 2.5, 7.0  # lepton collection of the ntuple
# b-tagging: probability that a jet passes the 85/77/70/60 % working points (quantile >= 2..5)
BTAG_WP = {5: (0.85, 0.77, 0.70, 0.60), 0: (0.06, 0.02, 0.008, 0.003), 15: (0.06, 0.02, 0.008, 0.003)}
LEPTON_MASS = {11: 0.000511, 13: 0.10566}


def _photon_resolution_defaults() -> dict:
    return {"sampling_barrel": 0.11, "sampling_endcap": 0.16, "sampling_crack": 0.25, "constant_barrel": 0.012,
            "constant_endcap": 0.018, "constant_crack": 0.03, "tail_fraction": 0.15, "tail_mean": 0.04,
            "energy_scale": 1.002}


def _photon_id_defaults() -> dict:
    return {"tight_plateau": 0.95, "tight_at_25": 0.83, "tight_pt_scale": 25.0, "loose": 0.99}


@dataclass(frozen=True)
class PhotonResponse:
    """Photon energy response and identification (keys as the H->yy config's ``resolution``
    and ``photon_id`` sections), fake-photon shape, and the rate of an extra photon."""

    resolution: dict = field(default_factory=_photon_resolution_defaults)
    identification: dict = field(default_factory=_photon_id_defaults)
    fake_z_alpha: float = 8.0  # Beta(alpha, 1) of the momentum fraction z a fake carries
    fake_tight_id_max: float = 0.9  # tight-ID probability of a fake with z -> 1
    extra_probability: float = 0.03  # a third reconstructed photon (mostly from a jet)


@dataclass(frozen=True)
class LeptonResponse:
    """Lepton pT resolution, efficiencies and the non-prompt lepton behaviour."""

    electron_resolution: float = 0.02  # relative pT resolution
    muon_resolution: float = 0.02
    electron_efficiency: float = 0.95  # reconstruction, inside the acceptance
    muon_efficiency: float = 0.95
    tight_id: float = 0.90  # ID probabilities of prompt leptons (tight implies medium implies loose)
    medium_id: float = 0.95
    loose_id: float = 0.99
    tight_isolation: float = 0.90  # isolation probabilities of prompt leptons
    loose_isolation: float = 0.97
    nonprompt_id_factor: float = 1.0  # non-prompt leptons pass ID with this times the prompt probability
    nonprompt_isolation_factor: float = 0.3  # and isolation with this times the prompt probability
    nonprompt_rate: float = 0.01  # per event: a soft lepton from a hadron decay, before the pT threshold


@dataclass(frozen=True)
class Detector:
    """Every parameter of the toy detector response."""

    photons: PhotonResponse = field(default_factory=PhotonResponse)
    leptons: LeptonResponse = field(default_factory=LeptonResponse)
    jet_resolution: float = 0.8  # stochastic term: sigma_pT/pT = s/sqrt(pT) (+) 3/pT (+) 0.05
    pileup_jets_mean: float = 0.3  # pile-up jets above 20 GeV per event
    met_soft_resolution: float = 8.0  # GeV per MET component from the soft term


@dataclass
class Reco:
    """Reconstructed events: the objects of one chunk, before any skim."""

    n: int
    photons: dict  # flat, with event
    jets: dict
    leptons: dict
    met: np.ndarray  # (n, 2) px, py


# --------------------------------------------------------------------------- photons


def photon_resolution(abseta, energy, resolution: dict):
    """Relative photon energy resolution a/sqrt(E) (+) c of the region."""
    crack = (abseta > CRACK[0]) & (abseta < CRACK[1])
    barrel = abseta <= CRACK[0]
    a = np.select([barrel, crack], [resolution["sampling_barrel"], resolution["sampling_crack"]],
                  resolution["sampling_endcap"])
    c = np.select([barrel, crack], [resolution["constant_barrel"], resolution["constant_crack"]],
                  resolution["constant_endcap"])
    return np.sqrt(a**2 / energy + c**2)


def smear_photons(rng, truth: Truth, response: PhotonResponse, n_jets_central: np.ndarray) -> tuple[dict, np.ndarray]:
    """Reconstructed photons (flat) from the truth photons plus sometimes an extra one.

    Returns the photons and the (px, py) they lost to mismeasurement (for the MET)."""
    n = truth.n
    ph = truth.photons
    per_event = ph["pt"].shape[1]
    extra = rng.uniform(size=n) < response.extra_probability
    n_extra = int(extra.sum())
    ev_extra = np.flatnonzero(extra)
    pt = np.concatenate([ph["pt"].ravel(), 25.0 + rng.exponential(10.0, n_extra)])
    eta = np.concatenate([ph["eta"].ravel(), rng.uniform(-2.37, 2.37, n_extra)])
    phi = np.concatenate([ph["phi"].ravel(), rng.uniform(-np.pi, np.pi, n_extra)])
    extra_fake = rng.uniform(size=n_extra) < 0.7
    fake = np.concatenate([ph["fake"].ravel(), extra_fake])
    z = np.concatenate([ph["z"].ravel(), np.where(extra_fake, rng.beta(response.fake_z_alpha, 1.0, n_extra), 1.0)])
    event = np.concatenate([np.repeat(np.arange(n), per_event), ev_extra])
    energy = pt * np.cosh(eta)
    res = response.resolution
    sigma = photon_resolution(np.abs(eta), energy, res)
    relative = 1.0 + sigma * rng.standard_normal(len(pt))
    tail = rng.uniform(size=len(pt)) < res["tail_fraction"]
    relative = np.where(tail, relative * (1.0 - rng.exponential(res["tail_mean"], len(pt))), relative)
    relative = np.maximum(relative * res["energy_scale"], 0.05)
    pt_reco = pt * relative
    e_reco = energy * relative
    lost = np.zeros((n, 2))
    np.add.at(lost, event, np.stack([(pt - pt_reco) * np.cos(phi), (pt - pt_reco) * np.sin(phi)], axis=1))
    keep = (pt_reco > PHOTON_PT_MIN) & (np.abs(eta) < PHOTON_ETA_MAX)
    # the lost photons leave their energy to the soft term: treat them as unmeasured
    np.add.at(lost, event[~keep], np.stack([pt_reco[~keep] * np.cos(phi[~keep]),
                                             pt_reco[~keep] * np.sin(phi[~keep])], axis=1))
    activity = n_jets_central[event]
    ident = photon_identification(rng, pt_reco, np.abs(eta), fake, z, response)
    iso = photon_isolation(rng, pt_reco, fake, z, activity)
    photons = {"event": event, "pt": pt_reco, "eta": eta, "phi": phi, "e": e_reco, **ident, **iso}
    return {k: v[keep] for k, v in photons.items()}, lost


def photon_identification(rng, pt, abseta, fake, z, response: PhotonResponse) -> dict:
    """Loose and tight identification (tight implies loose)."""
    pid = response.identification
    prompt_tight = pid["tight_plateau"] - (pid["tight_plateau"] - pid["tight_at_25"]) * np.exp(
        -np.maximum(pt - 25.0, 0.0) / pid["tight_pt_scale"])
    crack = (abseta > CRACK[0]) & (abseta < CRACK[1])
    prompt_tight = np.where(crack, 0.85 * prompt_tight, prompt_tight)
    shape = np.clip((z - 0.7) / 0.3, 0.0, 1.0) ** 2
    fake_tight = response.fake_tight_id_max * shape
    fake_loose = np.clip(0.3 + 0.7 * (z - 0.5) / 0.5, 0.0, 1.0)
    tight_p = np.where(fake, fake_tight, prompt_tight)
    loose_p = np.maximum(np.where(fake, fake_loose, pid["loose"]), tight_p)
    u = rng.uniform(size=len(pt))
    return {"isTightID": u < tight_p, "isLooseID": u < loose_p}


def photon_isolation(rng, pt, fake, z, activity) -> dict:
    """ptcone20 (tracks) and topoetcone40 (calorimeter) and the release's FixedCut flags.

    Real photons: underlying event and pile-up, more in busy events. Fakes: plus the rest
    of their jet, (1 - z)/z times their pT, shared between charged and neutral hadrons.
    """
    k = len(pt)
    track = np.where(rng.uniform(size=k) < 0.7, 0.0, rng.exponential(1.0 + 0.3 * activity))
    calo = rng.normal(0.5 + 0.4 * activity, 1.6, k) + 0.005 * pt
    hadronic = np.where(fake, (1.0 - z) / np.maximum(z, 1e-3) * pt, 0.0)
    charged = rng.uniform(0.4, 0.8, k)
    ptcone20 = track + 0.7 * charged * hadronic
    topoetcone40 = calo + (1.0 - charged) * hadronic
    track_ok = ptcone20 < 0.05 * pt
    return {
        "ptcone20": ptcone20,
        "topoetcone40": topoetcone40,
        # FixedCutTight, exactly as the flags of the 2025 release; loose with a looser calorimeter cut
        "isTightIso": track_ok & (topoetcone40 < 0.022 * pt + 2.45),
        "isLooseIso": track_ok & (topoetcone40 < 0.065 * pt + 2.45),
    }


# --------------------------------------------------------------------------- jets


def smear_jets(rng, truth: Truth, detector: Detector) -> tuple[dict, np.ndarray]:
    """Reconstructed jets (flat) plus pile-up jets, and their mismeasurement (px, py)."""
    j = truth.jets
    k = len(j["pt"])
    rel = np.sqrt((3.0 / j["pt"]) ** 2 + detector.jet_resolution ** 2 / j["pt"] + 0.05**2)
    pt = j["pt"] * np.maximum(1.0 + rel * rng.standard_normal(k), 0.05)
    lost = np.zeros((truth.n, 2))
    keep = (pt > JET_PT_MIN) & (np.abs(j["eta"]) < JET_ETA_MAX)
    measured = np.abs(j["eta"]) < 4.5  # forward jets are measured too, though not in the ntuple
    d = np.where(measured, j["pt"] - pt, j["pt"])
    np.add.at(lost, j["event"], np.stack([d * np.cos(j["phi"]), d * np.sin(j["phi"])], axis=1))
    scale = pt / np.maximum(j["pt"], 1e-9)  # the jet mass scales with the response
    # pile-up jets, already at reconstructed level
    n_pu = rng.poisson(detector.pileup_jets_mean, truth.n)
    pu_event = np.repeat(np.arange(truth.n), n_pu)
    m = len(pu_event)
    pu_pt = 20.0 + rng.exponential(5.0, m)
    event = np.concatenate([j["event"][keep], pu_event])
    pt = np.concatenate([pt[keep], pu_pt])
    eta = np.concatenate([j["eta"][keep], rng.uniform(-2.5, 2.5, m)])
    phi = np.concatenate([j["phi"][keep], rng.uniform(-np.pi, np.pi, m)])
    jm = np.concatenate([(j["m"] * scale)[keep], 0.1 * pu_pt])
    flavour = np.concatenate([j["flavour"][keep], np.zeros(m, dtype=np.int64)])
    hard = np.concatenate([np.ones(int(keep.sum()), dtype=bool), np.zeros(m, dtype=bool)])
    pz = pt * np.sinh(eta)
    e = np.sqrt(pt**2 + pz**2 + jm**2)
    u = rng.uniform(size=len(pt))
    jvt_region = (pt < 60.0) & (np.abs(eta) < 2.4)
    jvt = ~jvt_region | np.where(hard, u < 0.94, u < 0.12)
    quantile = np.ones(len(pt), dtype=np.int32)
    v = rng.uniform(size=len(pt))
    for fl, wps in BTAG_WP.items():
        sel = flavour == fl
        for wp in wps:
            quantile[sel] += (v[sel] < wp).astype(np.int32)
    return {"event": event, "pt": pt, "eta": eta, "phi": phi, "e": e, "btag_quantile": quantile, "jvt": jvt}, lost


# --------------------------------------------------------------------------- leptons


def nonprompt_leptons(rng, n: int, rate: float) -> dict:
    """Leptons from heavy-flavour decays in any event: soft and mostly not isolated."""
    event = np.flatnonzero(rng.uniform(size=n) < rate)
    k = len(event)
    return flat(event=event, pt=5.0 + rng.exponential(6.0, k), eta=rng.uniform(-2.5, 2.5, k),
                phi=rng.uniform(-np.pi, np.pi, k), type=np.where(rng.uniform(size=k) < 0.5, 11, 13),
                charge=np.where(rng.uniform(size=k) < 0.5, 1, -1), prompt=np.zeros(k, dtype=bool))


def smear_leptons(rng, truth: Truth, response: LeptonResponse) -> tuple[dict, np.ndarray]:
    """Reconstructed leptons (the truth's, prompt or not, plus non-prompt ones in any event)
    and their mismeasurement (px, py)."""
    lep = concat([truth.leptons, nonprompt_leptons(rng, truth.n, response.nonprompt_rate)], LEPTON_KEYS)
    k = len(lep["pt"])
    resolution = np.where(lep["type"] == 11, response.electron_resolution, response.muon_resolution)
    pt = lep["pt"] * (1.0 + resolution * rng.standard_normal(k))
    eta_max = np.where(lep["type"] == 11, ELECTRON_ETA_MAX, MUON_ETA_MAX)
    efficiency = np.where(lep["type"] == 11, response.electron_efficiency, response.muon_efficiency)
    keep = (pt > LEPTON_PT_MIN) & (np.abs(lep["eta"]) < eta_max) & (rng.uniform(size=k) < efficiency)
    lost = np.zeros((truth.n, 2))
    d = np.where(keep, lep["pt"] - pt, lep["pt"])
    np.add.at(lost, lep["event"], np.stack([d * np.cos(lep["phi"]), d * np.sin(lep["phi"])], axis=1))
    pt, eta, phi = pt[keep], lep["eta"][keep], lep["phi"][keep]
    typ = lep["type"][keep].astype(np.int32)
    is_prompt = lep["prompt"][keep]
    m = len(pt)
    mass_ = np.where(typ == 11, LEPTON_MASS[11], LEPTON_MASS[13])
    pz = pt * np.sinh(eta)
    u_id, u_iso = rng.uniform(size=m), rng.uniform(size=m)
    d0 = rng.normal(0.0, 0.015, m)
    id_factor = np.where(is_prompt, 1.0, response.nonprompt_id_factor)
    tight = u_id < response.tight_id * id_factor
    activity = np.where(is_prompt, 0.0, rng.exponential(0.5, m) * pt)  # the rest of the b/c jet
    iso_p = np.where(is_prompt, 1.0, response.nonprompt_isolation_factor)
    d0 = np.where(is_prompt, d0, d0 * 5.0)
    return {
        "event": lep["event"][keep], "type": typ, "pt": pt, "eta": eta, "phi": phi,
        "e": np.sqrt(pt**2 + pz**2 + mass_**2), "charge": lep["charge"][keep].astype(np.int32),
        "ptvarcone30": np.where(rng.uniform(size=m) < 0.7, 0.0, rng.exponential(0.8, m)) + 0.6 * activity,
        "topoetcone20": rng.normal(0.3, 1.0, m) + 0.4 * activity,
        "z0": rng.normal(0.0, 0.2, m), "d0": d0, "d0sig": d0 / 0.012,
        "isTightID": tight, "isMediumID": u_id < response.medium_id * id_factor,
        "isLooseID": u_id < response.loose_id * id_factor,
        "isTightIso": u_iso < response.tight_isolation * iso_p, "isLooseIso": u_iso < response.loose_isolation * iso_p,
        "isTrigMatched": tight & (pt > 27.0) & (rng.uniform(size=m) < 0.9),
    }, lost


# --------------------------------------------------------------------------- events


def reconstruct(rng, truth: Truth, detector: Detector) -> Reco:
    """The toy detector: smeared photons, jets, leptons, and the missing transverse momentum."""
    j = truth.jets
    central = (j["pt"] > 25.0) & (np.abs(j["eta"]) < 2.5)
    n_central = np.bincount(j["event"][central], minlength=truth.n)
    photons, lost_y = smear_photons(rng, truth, detector.photons, n_central)
    jets, lost_j = smear_jets(rng, truth, detector)
    leptons, lost_l = smear_leptons(rng, truth, detector.leptons)
    met = truth.invisible + lost_y + lost_j + lost_l + rng.normal(0.0, detector.met_soft_resolution, (truth.n, 2))
    return Reco(truth.n, photons, jets, leptons, met)


def triggers(rng, reco: Reco) -> dict:
    """Trigger decisions (every name of the format's ``TRIGGERS``) from the reconstructed
    objects (2015-2016 thresholds, rounded)."""
    n = reco.n
    ph = reco.photons
    order = np.lexsort((-ph["pt"], ph["event"]))
    ev, pt, loose = ph["event"][order], ph["pt"][order], ph["isLooseID"][order]
    first = np.ones(len(ev), dtype=bool)
    first[1:] = ev[1:] != ev[:-1]
    rank = np.arange(len(ev)) - np.maximum.accumulate(np.where(first, np.arange(len(ev)), 0))
    lead = np.zeros(n, dtype=bool)
    sub = np.zeros(n, dtype=bool)
    lead[ev[(rank == 0) & loose & (pt > 35.0)]] = True
    sub[ev[(rank == 1) & loose & (pt > 25.0)]] = True
    lep = reco.leptons
    tight = lep["isTightID"]

    def count(mask):
        return np.bincount(lep["event"][mask], minlength=n)

    ele, mu = lep["type"] == 11, lep["type"] == 13
    met = np.hypot(reco.met[:, 0], reco.met[:, 1])
    u = rng.uniform(size=(n, 6))
    decisions = {name: np.zeros(n, dtype=bool) for name in TRIGGERS}
    decisions["trigP"] = lead & sub & (u[:, 0] < 0.99)
    decisions["trigE"] = (count(ele & tight & (lep["pt"] > 27.0)) > 0) & (u[:, 1] < 0.95)
    decisions["trigM"] = (count(mu & (lep["pt"] > 27.0)) > 0) & (u[:, 2] < 0.90)
    decisions["trigDE"] = (count(ele & (lep["pt"] > 17.0)) > 1) & (u[:, 3] < 0.90)
    decisions["trigDM"] = (count(mu & (lep["pt"] > 15.0)) > 1) & (u[:, 4] < 0.90)
    decisions["trigMET"] = u[:, 5] < 1.0 / (1.0 + np.exp(-(met - 150.0) / 15.0))
    return decisions
