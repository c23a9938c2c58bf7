"""Recoil and decay building blocks of the toy generators: ISR jets, the soft recoil of the
hard system, W/Z/tau decays and top-quark pairs (columnar, numpy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kinematics import G_W, M_B, M_TOP, M_W, breit_wigner, mass, p4_ptyphim, pt_eta_phi, two_body
from .truth import JET_KEYS, LEPTON_KEYS, concat, empty, flat

SOFT_KT = 6.0  # GeV per component: unresolved recoil of the hard system
ISR_PT_MIN = 15.0  # GeV: ISR jets are generated above this

# Branching ratios (PDG, rounded), cumulative in the order the modes are drawn:
# W -> e nu 0.108, mu nu 0.106, tau nu 0.113, then hadrons;
# Z -> ee, mumu, tautau 0.0337 each, nu nu 0.200, then hadrons.
W_DECAY_EDGES = (0.108, 0.214, 0.327)
Z_DECAY_EDGES = (0.0337, 0.0674, 0.1011, 0.3011)
TAU_TO_LEPTON = 0.35


def isr_jets(rng, n: int, multiplicity: list[float], mean_pt: float) -> tuple[dict, np.ndarray]:
    """ISR jets (flat) and their summed (px, py) per event.

    ``multiplicity``: probabilities of 0, 1, 2, ... jets above ``ISR_PT_MIN``; their pT is
    that plus an exponential of mean ``mean_pt``; 3 % of them are b jets.
    """
    counts = rng.choice(len(multiplicity), size=n, p=multiplicity)
    event = np.repeat(np.arange(n), counts)
    k = len(event)
    pt = ISR_PT_MIN + rng.exponential(mean_pt, k)
    eta = rng.normal(0.0, 2.0, k)
    phi = rng.uniform(-np.pi, np.pi, k)
    m = pt * rng.uniform(0.05, 0.15, k)
    flavour = np.where(rng.uniform(size=k) < 0.03, 5, 0)
    jets = flat(event=event, pt=pt, eta=eta, phi=phi, m=m, flavour=flavour)
    recoil = np.zeros((n, 2))
    np.add.at(recoil, event, np.stack([pt * np.cos(phi), pt * np.sin(phi)], axis=1))
    return jets, recoil


def soft_recoil(rng, n: int) -> np.ndarray:
    """Unresolved (px, py) recoil of the hard system, Gaussian with ``SOFT_KT`` per component."""
    return rng.normal(0.0, SOFT_KT, (n, 2))


def jets_from_p4(event, p4, flavour: int) -> dict:
    """Flat jets of one flavour from four-vectors."""
    pt, eta, phi = pt_eta_phi(p4)
    return flat(event=event, pt=pt, eta=eta, phi=phi, m=mass(p4), flavour=np.full(len(event), flavour))


def w_decay(rng, event, w, charge) -> tuple[dict, dict, np.ndarray]:
    """W -> l nu (e, mu), tau nu, or q q'. Returns (jets, leptons, neutrino pxy per row)."""
    n = len(w)
    u = rng.uniform(size=n)
    mode = np.select([u < edge for edge in W_DECAY_EDGES], [11, 13, 15], default=1)  # 1 = hadronic
    d1, d2 = two_body(rng, w, 0.0, 0.0)  # d1: charged lepton / quark, d2: neutrino / antiquark
    return _vector_boson_products(rng, event, mode, d1, d2, charge, neutral=False)


def leptonic_w_decay(rng, event, w, charge) -> tuple[dict, dict, np.ndarray]:
    """W -> e nu or mu nu (equal shares), for samples filtered on leptonic W decays."""
    n = len(w)
    lepton_type = np.where(rng.uniform(size=n) < 0.5, 11, 13)
    lepton, neutrino = two_body(rng, w, 0.0, 0.0)
    pt, eta, phi = pt_eta_phi(lepton)
    return empty(JET_KEYS), _prompt_leptons(event, pt, eta, phi, lepton_type, charge), neutrino[:, :2].copy()


def z_decay(rng, event, z) -> tuple[dict, dict, np.ndarray]:
    """Z -> ee, mumu, tautau, nu nu or q qbar."""
    n = len(z)
    u = rng.uniform(size=n)
    mode = np.select([u < edge for edge in Z_DECAY_EDGES], [11, 13, 15, 0], default=1)
    d1, d2 = two_body(rng, z, 0.0, 0.0)
    charge = np.where(rng.uniform(size=n) < 0.5, 1, -1)
    return _vector_boson_products(rng, event, mode, d1, d2, charge, neutral=True)


def tau_visible(rng, p4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collinear tau decay: (visible four-vector, leptonic?, lepton type)."""
    n = len(p4)
    leptonic = rng.uniform(size=n) < TAU_TO_LEPTON
    frac = np.where(leptonic, rng.uniform(0.2, 0.9, n), rng.uniform(0.3, 1.0, n))
    vis = p4 * frac[:, None]
    lep_type = np.where(rng.uniform(size=n) < 0.5, 11, 13)
    return vis, leptonic, lep_type


def _prompt_leptons(event, pt, eta, phi, lepton_type, charge) -> dict:
    return flat(event=event, pt=pt, eta=eta, phi=phi, type=lepton_type, charge=charge,
                prompt=np.ones(len(event), dtype=bool))


def _vector_boson_products(rng, event, mode, d1, d2, charge, neutral):
    """Objects of a W (``neutral`` False: d2 is the neutrino) or Z decay by ``mode`` per row:
    11/13 e/mu, 15 tau, 0 neutrinos, 1 quarks."""
    jets, leptons = [], []
    invisible = np.zeros((len(event), 2))
    # charged leptons (e, mu)
    for flavour in (11, 13):
        sel = mode == flavour
        for k, d in enumerate((d1, d2)):
            if k == 1 and not neutral:
                invisible[sel] += d[sel, :2]  # W: second daughter is the neutrino
                continue
            pt, eta, phi = pt_eta_phi(d[sel])
            q = charge[sel] * (1 if k == 0 else -1)
            leptons.append(_prompt_leptons(event[sel], pt, eta, phi, np.full(sel.sum(), flavour), q))
    # taus: visible part is a lepton or a jet, the rest is invisible
    sel = mode == 15
    for k, d in enumerate((d1, d2)):
        if k == 1 and not neutral:
            invisible[sel] += d[sel, :2]
            continue
        vis, leptonic, lep_type = tau_visible(rng, d[sel])
        invisible[sel] += d[sel, :2] - vis[:, :2]
        ev = event[sel]
        pt, eta, phi = pt_eta_phi(vis)
        q = charge[sel] * (1 if k == 0 else -1)
        leptons.append(_prompt_leptons(ev[leptonic], pt[leptonic], eta[leptonic], phi[leptonic],
                                       lep_type[leptonic], q[leptonic]))
        had = ~leptonic
        jets.append(flat(event=ev[had], pt=pt[had], eta=eta[had], phi=phi[had], m=np.full(had.sum(), 1.0),
                         flavour=np.full(had.sum(), 15)))
    # neutrinos (Z -> nu nu)
    sel = mode == 0
    invisible[sel] += d1[sel, :2] + d2[sel, :2]
    # quarks
    sel = mode == 1
    for d in (d1, d2):
        p = d[sel]
        pt, eta, phi = pt_eta_phi(p)
        jets.append(flat(event=event[sel], pt=pt, eta=eta, phi=phi, m=pt * rng.uniform(0.05, 0.15, sel.sum()),
                         flavour=np.zeros(sel.sum(), dtype=np.int64)))
    return concat(jets, JET_KEYS), concat(leptons, LEPTON_KEYS), invisible


@dataclass
class TopPair:
    """A decayed t tbar pair: the tops and b quarks (four-vectors, t then tbar), the jets
    (b jets and hadronic W decays), the leptons of leptonic W decays, the neutrinos' pxy."""

    tops: list
    b_quarks: list
    jets: dict
    leptons: dict
    invisible: np.ndarray


def top_pair(rng, n: int, decay_w=None) -> TopPair:
    """t tbar -> W+ b W- bbar, one pair per event; the W decays by ``decay_w`` (rng, event,
    w, charge) -> (jets, leptons, neutrino pxy), inclusively (``w_decay``) by default."""
    decay_w = decay_w or w_decay
    event = np.arange(n)
    tops, b_quarks, jets, leptons = [], [], [], []
    invisible = np.zeros((n, 2))
    for sign in (1, -1):
        t = p4_ptyphim(rng.gamma(2.2, 45.0, n), rng.normal(0, 1.2, n), rng.uniform(-np.pi, np.pi, n),
                       breit_wigner(rng, M_TOP, 1.4, n))
        b, w = two_body(rng, t, M_B, breit_wigner(rng, M_W, G_W, n))
        jets.append(jets_from_p4(event, b, 5))
        w_jets, w_leptons, w_invisible = decay_w(rng, event, w, np.full(n, sign))
        jets.append(w_jets)
        leptons.append(w_leptons)
        invisible += w_invisible
        tops.append(t)
        b_quarks.append(b)
    return TopPair(tops, b_quarks, concat(jets, JET_KEYS), concat(leptons, LEPTON_KEYS), invisible)
