"""The embedded H -> ZZ* -> 4l simulation: SIMULATED pseudo-data and MC, not real data.

The files carry the exact schema of the ATLAS Open Data 2025 ``exactly4lep`` skim (the same
tree, branches and dtypes as GamGam: ``colliderflow.ntuples.atlas2025``) and keep the events
with exactly four leptons in the ntuple's lepton collection (pT > 7 GeV, |eta| < 2.47 for
electrons, 2.5 for muons): the skim of the real files. The machinery (seeds, chunks, the toy
detector, the atomic write and the ``colliderflow_simulation`` record with the truth) is
``colliderflow.simulation``'s; the Higgs production modes (recoil systems) are shared with
H -> yy (``simulation.higgs``). What is four-lepton physics is here:

- signal, H -> ZZ* -> 4l (l = e, mu) at ``higgs_mass`` from ggH, VBF, WH and ZH (the W/Z
  decaying inclusively, so VH events often have more than four leptons and fail the skim,
  as in the real samples). The two Z masses follow the H -> V*V* matrix element (two
  Breit-Wigner propagators times beta (lambda + 12 x1 x2), x = m^2/m_H^2), so one Z is on
  shell and the other off shell; the Z bosons decay isotropically in the Higgs rest frame
  and to l- l+ with the helicity-angle distribution of their polarisation (longitudinal
  fraction |A00|^2 / (|A00|^2 + 2) per event). Each Z decays to ee or mumu with equal
  probability: 4e, 4mu and 2e2mu, two same-flavour opposite-charge pairs, by construction;
- qq -> ZZ* -> 4l continuum: a falling parton-luminosity spectrum m_4l^-p times the two-body
  phase space of two Z/gamma* (each pair mass Breit-Wigner plus a gamma* 1/m term, above
  ``pair_mass_min``), so m_4l rises at the on-shell ZZ threshold near 182 GeV and keeps a
  low-mass tail of Z gamma* events; the Z bosons come out forward (q qbar t/u-channel) and
  mostly transversely polarised;
- Z -> 4l: the single-resonant Z -> l l gamma* -> 4l, a four-lepton peak at m_Z with one soft
  pair (phase space times the gamma* propagator); it is part of the ZZ MC sample (as in the
  real qq -> 4l samples) and its own component in the pseudo-data;
- reducible background: Z(-> ee, mumu) + b bbar and dileptonic t tbar, in which both b
  hadrons decay semileptonically: the two non-prompt leptons carry part of their b jet, so
  the detector puts the rest of the jet in their isolation cones, widens their impact
  parameters and (``leptons.nonprompt_*``) fails their identification and isolation more
  often; the cross sections are those of these filtered samples;
- final-state radiation: a prompt lepton loses a fraction of its momentum to a photon with
  ``fsr.probability`` (the low-side tail of the m_4l peak).

Cross sections (13 TeV, pb, the defaults of ``simulate.xsec_pb``; see config.schema.yaml):

- signal: sigma x BR(H -> ZZ* -> 4l, l = e, mu) = sigma(production) x 1.25e-4 (LHC Higgs
  cross-section working group, m_H = 125 GeV): ggH 48.6 pb -> 6.1e-3, VBF 3.78 -> 4.7e-4,
  WH 1.37 -> 1.7e-4, ZH 0.88 -> 1.1e-4 (6.8e-3 pb in all, ggH share 0.89). With taus among
  the leptons it would be about twice that (the 1.3e-2 pb often quoted); taus are left out
  because the ntuple's leptons are electrons and muons and tau decays would mostly fail the
  lepton thresholds;
- ZZ* continuum: 0.2 pb (both pair masses above 4 GeV, m_4l above 80 GeV). The measured
  q qbar -> 4l cross section with such cuts is about 1.3 pb, but most of it is low-mass gamma*
  pairs that no four-lepton selection keeps and that this toy leaves out (its gamma* term is
  small). What the toy must get right is the ZZ cross section on shell, sigma(pp -> ZZ) x
  BR(ZZ -> 4l, e/mu) = 17 pb x 4.5e-3 = 0.08 pb, which its on-shell part reproduces, and
  ATLAS's ZZ* yield in the signal window (JHEP 03 (2018) 095): with the analysis's default
  selection at 36.1 fb^-1 this gives about 30 ZZ* events in 115-130 GeV beside about 48
  signal events and about one reducible event (and some 1700 ZZ events over all masses);
- Z -> 4l: 0.12 pb (sigma(Z) x BR(Z -> 4l) with a soft pair above 4 GeV, about 0.1 pb visible);
- reducible: Z + b bbar 0.6 pb and t tbar 1.0 pb after the semileptonic-b and leptonic-W
  filters (so that about one event passes the standard selection in 115-130 GeV and a few
  in 105-160 GeV, as in ATLAS's analysis).

Pseudo-data: every component (each signal production mode times ``signal_strength``, the
ZZ* continuum, Z -> 4l, Z + b bbar, t tbar) with Poisson yields at the data file's luminosity
from the same cross sections the MC is normalised with, so the truth is known. MC files follow
the release's convention ``w = mcWeight * SF * xsec * filteff * kfac * lumi_pb / sum_of_weights``
with sum_of_weights over all generated events; ScaleFactor_ELE, ScaleFactor_MUON and
ScaleFactor_LepTRIGGER scatter around 1.

Settings: the config's ``simulate`` section, declared in ``config.schema.yaml`` beside this file.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import numpy as np

from ... import config
from ...ntuples.atlas2025 import F4
from ...simulation import higgs
from ...simulation.catalogue import (
    Component, FileSpec, Plan, data_lumi_share, plan_data_file, plan_mc_file, read_catalogue, split_wh_cross_section,
)
from ...simulation.detector import Detector, LeptonResponse, PhotonResponse, Reco
from ...simulation.embedded import EmbeddedSimulation
from ...simulation.kinematics import (
    G_Z, M_Z, boost, breit_wigner, breit_wigner_density, p4_ptyphim, pt_eta_phi, sample_pdf, sample_pdf_2d,
    two_body, two_body_helicity, two_body_momentum_fraction,
)
from ...simulation.production import isr_jets, leptonic_w_decay, soft_recoil, top_pair
from ...simulation.seeds import PLAN_STREAM, child_rng
from ...simulation.truth import JET_KEYS, LEPTON_KEYS, Truth, concat, empty, flat, interleave, no_photons

SIGNAL_PROCESSES = ("ggH", "VBF", "WH", "ZH")
BACKGROUND_PROCESSES = ("ZZ", "Zjets", "ttbar")
ELECTRON, MUON = 11, 13
LEPTONS_IN_SKIM = 4  # the exactly4lep skim: exactly four leptons in the ntuple's collection

# Recoil models of the backgrounds: probabilities of 0, 1, 2, ... ISR jets above 15 GeV and
# the mean of their (exponential) pT above 15 GeV (the Higgs modes' are in simulation.higgs).
ISR = {
    "ZZ": ([0.60, 0.28, 0.12], 15.0),
    "Z4l": ([0.65, 0.25, 0.10], 12.0),
    "Zjets": ([0.50, 0.35, 0.15], 15.0),
    "ttbar": ([0.45, 0.35, 0.20], 25.0),
}
CONTINUUM_LONGITUDINAL_FRACTION = 0.2  # q qbar -> ZZ: the Z bosons are mostly transversely polarised


# --------------------------------------------------------------------------- settings and catalogue


def settings(cfg: dict) -> dict:
    """``cfg["simulate"]`` validated against hzz4l's schema, every default filled."""
    s = config.section({**(cfg or {}), "analysis": "hzz4l"}, "simulate")
    cont = s["continuum"]
    if cont["mass_max"] <= cont["mass_min"]:
        raise config.ConfigError("simulate.continuum.mass_max must be larger than simulate.continuum.mass_min")
    if 2 * cont["pair_mass_min"] >= min(cont["mass_min"], M_Z - 5 * G_Z):
        raise config.ConfigError("simulate.continuum.pair_mass_min must be well below half of continuum.mass_min "
                                 "and of the Z mass")
    return s


def mc_cross_section(process: str, s: dict) -> float:
    """The cross section (pb) of an MC sample of ``process``: ZZ holds the continuum and Z -> 4l."""
    xsec = s["xsec_pb"]
    return xsec["ZZ"] + xsec["Z4l"] if process == "ZZ" else float(xsec[process])


def catalogue(cfg: dict) -> dict[str, FileSpec]:
    """Every file of ``cfg["samples"]`` with its cross section (and W charge): the process's
    cross section shared equally among the sample's files (WH: by W charge for files named
    WpH/WmH). Raises ValueError for entries simulate cannot make."""
    s = settings(cfg)
    files = read_catalogue(cfg, {"signal": SIGNAL_PROCESSES, "background": BACKGROUND_PROCESSES}, "hzz4l")
    samples = cfg.get("samples") or {}
    out: dict[str, FileSpec] = {}
    for name, spec in files.items():
        xsec, charge = 0.0, 0
        if spec.kind != "data":
            total = mc_cross_section(spec.process, s)
            siblings = samples[spec.sample]["files"]
            if spec.process == "WH":
                xsec, charge = split_wh_cross_section(total, name, spec.sample, siblings, s["wplus_fraction"])
            else:
                xsec = total / len(siblings)
        out[name] = dataclasses.replace(spec, xsec_pb=xsec, w_charge=charge)
    return out


def data_components(cfg: dict, spec: FileSpec, s: dict) -> list[Component]:
    """What a pseudo-data file holds: every process at this file's luminosity (the signal
    modes times ``signal_strength``), whatever MC files the catalogue lists."""
    file_lumi_pb, _ = data_lumi_share(cfg, spec)
    xsec = s["xsec_pb"]
    components = [Component(process, process, None, s["signal_strength"] * xsec[process] * file_lumi_pb)
                  for process in SIGNAL_PROCESSES]
    components += [Component(process, generator, None, xsec[process] * file_lumi_pb)
                   for process, generator in (("ZZ", "ZZ_continuum"), ("Z4l", "Z4l"), ("Zjets", "Zjets"),
                                              ("ttbar", "ttbar"))]
    return components


def plan_file(cfg: dict, spec: FileSpec, s: dict, seq: np.random.SeedSequence) -> Plan:
    """Draw the file-level numbers: component yields (data) or the MC weights (MC)."""
    rng = child_rng(seq, PLAN_STREAM)
    if spec.kind == "data":
        return plan_data_file(rng, spec, data_components(cfg, spec, s), s["run_ranges"], s["runs_per_file"])
    n = s["signal_mc_events"] if spec.kind == "signal" else s["background_mc_events"]
    return plan_mc_file(rng, spec, n, s["negative_weight_fraction"][spec.process], s["mc_weight_spread"],
                        s["mc_category"])


def detector_of(s: dict) -> Detector:
    """The toy detector with hzz4l's lepton, jet and MET settings (photons: the defaults)."""
    return Detector(photons=PhotonResponse(extra_probability=s["extra_photon_probability"]),
                    leptons=LeptonResponse(**s["leptons"]), jet_resolution=s["jet_resolution"],
                    pileup_jets_mean=s["pileup_jets_mean"], met_soft_resolution=s["met_soft_resolution"])


def passes_exactly4lep_skim(reco: Reco) -> np.ndarray:
    """The exactly4lep skim: exactly four leptons in the ntuple's collection (pT > 7 GeV)."""
    return np.bincount(reco.leptons["event"], minlength=reco.n) == LEPTONS_IN_SKIM


# --------------------------------------------------------------------------- lepton pairs


def _random_flavour(rng, n: int) -> np.ndarray:
    """e or mu with equal probability (equal Z branching ratios)."""
    return np.where(rng.uniform(size=n) < 0.5, ELECTRON, MUON)


def _leptons(event, p4, lepton_type, charge, prompt=True) -> dict:
    pt, eta, phi = pt_eta_phi(p4)
    return flat(event=event, pt=pt, eta=eta, phi=phi, type=lepton_type, charge=np.broadcast_to(charge, len(event)),
                prompt=np.full(len(event), prompt))


def helicity_cos_theta(rng, longitudinal: np.ndarray) -> np.ndarray:
    """cos theta of the negative lepton in the Z rest frame: sin^2 for a longitudinal Z,
    (1 + cos^2)/2 for a transverse one (the small Z -> ll forward-backward asymmetry neglected)."""
    n = len(longitudinal)
    transverse = sample_pdf(rng, lambda c: 1 + c**2, -1.0, 1.0, n)
    longitudinal_cos = sample_pdf(rng, lambda c: 1 - c**2, -1.0, 1.0, n)
    return np.where(longitudinal, longitudinal_cos, transverse)


def four_leptons(rng, system, m1, m2, cos_theta_star=None, longitudinal_fraction=None) -> dict:
    """Two lepton pairs from a system (lab four-vectors (n, 4)) decaying to two Z/gamma* of
    masses m1, m2: Z1 at ``cos_theta_star`` to the beam in the system's rest frame (isotropic
    if None), each pair l- l+ of a random flavour with the helicity angle of its polarisation
    (``longitudinal_fraction`` per event; isotropic if None). Flat leptons, prompt."""
    n = len(system)
    rest = np.zeros((n, 4))
    rest[:, 3] = np.sqrt(np.maximum(system[:, 3] ** 2 - np.sum(system[:, :3] ** 2, axis=1), 0.0))
    z1, z2 = two_body(rng, rest, m1, m2, cos_theta_star)
    beta = system[:, :3] / system[:, 3:4]
    if longitudinal_fraction is not None:
        longitudinal = rng.uniform(size=n) < longitudinal_fraction  # both Z bosons share the helicity state
    event = np.arange(n)
    parts = []
    for z in (z1, z2):
        cos = rng.uniform(-1.0, 1.0, n) if longitudinal_fraction is None else helicity_cos_theta(rng, longitudinal)
        negative, positive = two_body_helicity(rng, z, 0.0, 0.0, cos)
        flavour = _random_flavour(rng, n)
        parts.append(_leptons(event, boost(negative, beta), flavour, -1))
        parts.append(_leptons(event, boost(positive, beta), flavour, 1))
    return concat(parts, LEPTON_KEYS)


def final_state_radiation(rng, leptons: dict, fsr: dict) -> dict:
    """Prompt leptons that radiated a photon (probability ``fsr.probability``) keep 1 - z of
    their momentum, z exponential of mean ``fsr.mean_fraction`` (at most 0.5)."""
    k = len(leptons["pt"])
    radiated = (rng.uniform(size=k) < fsr["probability"]) & leptons["prompt"]
    z = np.minimum(rng.exponential(fsr["mean_fraction"], k), 0.5)
    return {**leptons, "pt": np.where(radiated, leptons["pt"] * (1.0 - z), leptons["pt"])}


# --------------------------------------------------------------------------- H -> ZZ* -> 4l


def higgs_zz_density(m1, m2, m_h: float):
    """d Gamma(H -> Z Z*) / dm1 dm2 (unnormalised): two Z propagators times the two-body
    phase space and the squared matrix element, beta (lambda + 12 x1 x2), x = m^2 / m_H^2."""
    x1, x2 = (m1 / m_h) ** 2, (m2 / m_h) ** 2
    beta = two_body_momentum_fraction(m_h, m1, m2)
    return breit_wigner_density(m1, M_Z, G_Z) * breit_wigner_density(m2, M_Z, G_Z) * beta * (beta**2 + 12 * x1 * x2)


def higgs_zz_masses(rng, m_h: float, n: int, pair_mass_min: float) -> tuple[np.ndarray, np.ndarray]:
    """(m_Z1, m_Z2) of ``n`` H -> ZZ* decays, Z1 the heavier (on shell), both above ``pair_mass_min``."""
    m1, m2 = sample_pdf_2d(rng, lambda a, b: higgs_zz_density(a, b, m_h) * (a >= b),
                           (pair_mass_min, m_h), (pair_mass_min, m_h), n)
    return m1, m2


def longitudinal_fraction(m_h, m1, m2):
    """Share of longitudinal Z pairs in H -> ZZ: |A00|^2 / (|A00|^2 + |A++|^2 + |A--|^2) with
    A00 = (m_H^2 - m1^2 - m2^2) / (2 m1 m2) and A++ = A-- = 1 (SM scalar)."""
    a00 = (m_h**2 - m1**2 - m2**2) / (2 * m1 * m2)
    return a00**2 / (a00**2 + 2)


def four_lepton_decay(rng, m, pxy, y, s: dict) -> Truth:
    """H -> ZZ* -> 4l: the Higgs (mass m, transverse momentum pxy, rapidity y) decays at rest
    to Z Z* (isotropic), each Z to l- l+ with its helicity distribution; then FSR."""
    n = len(m)
    m_h = float(m[0]) if n else s["higgs_mass"]
    if np.any(m != m_h):
        raise ValueError("four_lepton_decay needs one Higgs mass per batch")
    m1, m2 = higgs_zz_masses(rng, m_h, n, s["continuum"]["pair_mass_min"])
    system = p4_ptyphim(np.hypot(pxy[:, 0], pxy[:, 1]), y, np.arctan2(pxy[:, 1], pxy[:, 0]), m)
    leptons = four_leptons(rng, system, m1, m2, None, longitudinal_fraction(m_h, m1, m2))
    return Truth(n, no_photons(n), empty(JET_KEYS), final_state_radiation(rng, leptons, s["fsr"]), np.zeros((n, 2)))


def gen_ggh(rng, n, s, _spec=None) -> Truth:
    return higgs.gluon_fusion(rng, n, s["higgs_mass"], partial(four_lepton_decay, s=s))


def gen_vbf(rng, n, s, _spec=None) -> Truth:
    return higgs.vector_boson_fusion(rng, n, s["higgs_mass"], partial(four_lepton_decay, s=s))


def gen_wh(rng, n, s, spec=None) -> Truth:
    return higgs.w_associated(rng, n, s["higgs_mass"], partial(four_lepton_decay, s=s),
                              spec.w_charge if spec is not None else 0, s["wplus_fraction"])


def gen_zh(rng, n, s, _spec=None) -> Truth:
    return higgs.z_associated(rng, n, s["higgs_mass"], partial(four_lepton_decay, s=s))


# --------------------------------------------------------------------------- ZZ* continuum and Z -> 4l


def pair_mass_density(m, gamma_star_weight: float):
    """Mass of a lepton pair from a Z/gamma*: the Z Breit-Wigner plus the photon's 1/m."""
    return breit_wigner_density(m, M_Z, G_Z) + gamma_star_weight / m


def _qqbar_cos_theta(c):
    """q qbar -> ZZ production angle, forward-peaked like the Born t/u-channel (regularised)."""
    return (1 + c**2) / (1 - c**2 + 0.05)


def continuum_masses(rng, n: int, cont: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(m_4l, m1, m2) of ``n`` continuum events: m_4l^-p times two independent pair masses,
    accepted with the two-body phase-space factor beta (so that m1 + m2 < m_4l)."""
    parts, have = [(np.zeros(0), np.zeros(0), np.zeros(0))], 0
    pair_max = cont["mass_max"] - cont["pair_mass_min"]
    while have < n:
        todo = 3 * (n - have) + 100
        m4l = sample_pdf(rng, lambda m: m ** -cont["luminosity_power"], cont["mass_min"], cont["mass_max"], todo)
        m1, m2 = (sample_pdf(rng, lambda m: pair_mass_density(m, cont["gamma_star_weight"]), cont["pair_mass_min"],
                             pair_max, todo, grid=20001) for _ in range(2))
        accepted = np.flatnonzero(rng.uniform(size=todo) < two_body_momentum_fraction(m4l, m1, m2))[: n - have]
        parts.append((m4l[accepted], m1[accepted], m2[accepted]))
        have += len(accepted)
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


def _recoiling_system(rng, n: int, recoil_model, mass, rapidity_spread: float) -> tuple[dict, np.ndarray]:
    """ISR jets and the four-vector of a system of ``mass`` that balances them."""
    isr, recoil = isr_jets(rng, n, *recoil_model)
    pxy = -recoil + soft_recoil(rng, n)
    system = p4_ptyphim(np.hypot(pxy[:, 0], pxy[:, 1]), rng.normal(0, rapidity_spread, n),
                        np.arctan2(pxy[:, 1], pxy[:, 0]), mass)
    return isr, system


def gen_zz_continuum(rng, n, s, _spec=None) -> Truth:
    """q qbar -> ZZ* / Z gamma* -> 4l."""
    m4l, m1, m2 = continuum_masses(rng, n, s["continuum"])
    isr, system = _recoiling_system(rng, n, ISR["ZZ"], m4l, 1.3)
    cos_star = sample_pdf(rng, _qqbar_cos_theta, -1.0, 1.0, n)
    leptons = four_leptons(rng, system, m1, m2, cos_star, np.full(n, CONTINUUM_LONGITUDINAL_FRACTION))
    return Truth(n, no_photons(n), isr, final_state_radiation(rng, leptons, s["fsr"]), np.zeros((n, 2)))


def z4l_density(mass_a, mass_b):
    """Z -> (l l) gamma* -> 4l in units of m_Z: phase space times the photon propagator 1/m_b,
    with a mild preference for a hard first pair (the radiating leptons keep most of the mass)."""
    return two_body_momentum_fraction(1.0, mass_a, mass_b) * mass_a / mass_b


def gen_z4l(rng, n, s, _spec=None) -> Truth:
    """Z -> 4l: a four-lepton peak at m_Z with one soft pair (above pair_mass_min)."""
    m_z = breit_wigner(rng, M_Z, G_Z, n, cut=5.0)
    lowest = s["continuum"]["pair_mass_min"] / (M_Z - 5 * G_Z)  # in units of m_Z
    hard, soft = sample_pdf_2d(rng, lambda a, b: z4l_density(a, b) * (a >= b), (lowest, 1.0), (lowest, 1.0), n)
    isr, system = _recoiling_system(rng, n, ISR["Z4l"], m_z, 1.8)
    leptons = four_leptons(rng, system, hard * m_z, soft * m_z)
    return Truth(n, no_photons(n), isr, final_state_radiation(rng, leptons, s["fsr"]), np.zeros((n, 2)))


def gen_zz(rng, n, s, _spec=None) -> Truth:
    """The q qbar -> 4l MC sample: the continuum and Z -> 4l in proportion to their cross
    sections, in a random order."""
    xsec = s["xsec_pb"]
    is_z4l = rng.uniform(size=n) < xsec["Z4l"] / (xsec["ZZ"] + xsec["Z4l"])
    parts = [gen_zz_continuum(rng, int(np.count_nonzero(~is_z4l)), s), gen_z4l(rng, int(np.count_nonzero(is_z4l)), s)]
    return interleave(parts, is_z4l.astype(np.int8))


# --------------------------------------------------------------------------- reducible background


def semileptonic_b(rng, event, b_quark) -> tuple[dict, dict]:
    """A b quark (four-vectors) whose hadron decays to e or mu: the non-prompt lepton takes a
    fraction x ~ Beta(2, 3) of its momentum (close to its direction), the rest is a b jet."""
    n = len(b_quark)
    x = rng.beta(2.0, 3.0, n)
    pt, eta, phi = pt_eta_phi(b_quark)
    lepton = flat(event=event, pt=x * pt, eta=eta + rng.normal(0, 0.03, n), phi=phi + rng.normal(0, 0.03, n),
                  type=_random_flavour(rng, n), charge=np.where(rng.uniform(size=n) < 0.5, 1, -1),
                  prompt=np.zeros(n, dtype=bool))
    jet = flat(event=event, pt=(1 - x) * pt, eta=eta, phi=phi, m=np.full(n, 4.8), flavour=np.full(n, 5))
    return lepton, jet


def gen_zjets(rng, n, s, _spec=None) -> Truth:
    """Z(-> ee, mumu) + b bbar, both b hadrons decaying semileptonically."""
    event = np.arange(n)
    b_quarks = [p4_ptyphim(20.0 + rng.gamma(2.0, 15.0, n), rng.normal(0, 1.5, n), rng.uniform(-np.pi, np.pi, n),
                           np.full(n, 4.8)) for _ in range(2)]
    isr, recoil = isr_jets(rng, n, *ISR["Zjets"])
    recoil += b_quarks[0][:, :2] + b_quarks[1][:, :2]
    pxy = -recoil + soft_recoil(rng, n)
    z = p4_ptyphim(np.hypot(pxy[:, 0], pxy[:, 1]), rng.normal(0, 1.8, n), np.arctan2(pxy[:, 1], pxy[:, 0]),
                   breit_wigner(rng, M_Z, G_Z, n))
    negative, positive = two_body(rng, z, 0.0, 0.0)
    flavour = _random_flavour(rng, n)
    leptons, jets = [_leptons(event, negative, flavour, -1), _leptons(event, positive, flavour, 1)], [isr]
    for b in b_quarks:
        lepton, jet = semileptonic_b(rng, event, b)
        leptons.append(lepton)
        jets.append(jet)
    return Truth(n, no_photons(n), concat(jets, JET_KEYS), concat(leptons, LEPTON_KEYS), np.zeros((n, 2)))


def gen_ttbar(rng, n, s, _spec=None) -> Truth:
    """Dileptonic t tbar (W -> e nu, mu nu), both b hadrons decaying semileptonically."""
    event = np.arange(n)
    isr, _ = isr_jets(rng, n, *ISR["ttbar"])
    tops = top_pair(rng, n, leptonic_w_decay)
    leptons, jets = [tops.leptons], [isr]
    for b in tops.b_quarks:
        lepton, jet = semileptonic_b(rng, event, b)
        leptons.append(lepton)
        jets.append(jet)
    return Truth(n, no_photons(n), concat(jets, JET_KEYS), concat(leptons, LEPTON_KEYS), tops.invisible)


GENERATORS = {"ggH": gen_ggh, "VBF": gen_vbf, "WH": gen_wh, "ZH": gen_zh, "ZZ": gen_zz,
              "ZZ_continuum": gen_zz_continuum, "Z4l": gen_z4l, "Zjets": gen_zjets, "ttbar": gen_ttbar}


# --------------------------------------------------------------------------- the simulation


class Hzz4lSimulation(EmbeddedSimulation):
    """H -> ZZ* -> 4l signal, ZZ* continuum with Z -> 4l, and the reducible Z+jets and t tbar,
    at the exactly4lep skim."""

    analysis = "hzz4l"
    skim = "exactly4lep"
    generators = GENERATORS

    def settings(self, cfg: dict) -> dict:
        return settings(cfg)

    def catalogue(self, cfg: dict) -> dict[str, FileSpec]:
        return catalogue(cfg)

    def plan(self, cfg: dict, spec: FileSpec, s: dict, seq: np.random.SeedSequence) -> Plan:
        return plan_file(cfg, spec, s, seq)

    def detector(self, s: dict) -> Detector:
        return detector_of(s)

    def passes_skim(self, reco: Reco) -> np.ndarray:
        return passes_exactly4lep_skim(reco)

    def truth_record(self, s: dict) -> dict:
        return {"signal_strength": s["signal_strength"], "higgs_mass": s["higgs_mass"],
                "xsec_pb": dict(s["xsec_pb"])}

    def mc_scale_factors(self, rng: np.random.Generator, reco: Reco, s: dict) -> dict:
        """Electron and muon efficiency corrections around 1 in events that have such
        leptons, and the lepton-trigger one."""
        n = reco.n
        lep = reco.leptons
        has = {flavour: np.bincount(lep["event"][lep["type"] == flavour], minlength=n) > 0
               for flavour in (ELECTRON, MUON)}
        spread = s["lepton_sf_spread"]
        ele, mu, trigger = (1.0 + spread * rng.standard_normal((3, n)))
        return {"ScaleFactor_ELE": np.where(has[ELECTRON], ele, 1.0).astype(F4),
                "ScaleFactor_MUON": np.where(has[MUON], mu, 1.0).astype(F4),
                "ScaleFactor_LepTRIGGER": trigger.astype(F4)}

    def truth_collections(self, truth: Truth) -> dict:
        """truth_elec, truth_muon: the prompt generated electrons and muons."""
        lep = truth.leptons
        out = {}
        for name, flavour in (("truth_elec", ELECTRON), ("truth_muon", MUON)):
            keep = lep["prompt"] & (lep["type"] == flavour)
            out[name] = {key: lep[key][keep] for key in ("event", "pt", "eta", "phi")}
        return out
