"""Higgs boson production modes for the toy generators: the recoil system of each mode and
the Higgs momentum that balances it. The Higgs decay is the caller's (an analysis's).

Each function generates ``n`` events of one mode and calls ``decay(rng, mass, pxy, y)``
with the Higgs mass (n,), transverse momentum (n, 2) and rapidity (n,) of every event; the
decay returns the Higgs decay products as a ``Truth`` (photons, leptons, neutrinos), which
are merged with the recoil objects (ISR and tagging jets, W/Z and top decay products).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .kinematics import G_W, G_Z, M_W, M_Z, breit_wigner, p4_ptyphim
from .production import isr_jets, soft_recoil, top_pair, w_decay, z_decay
from .truth import JET_KEYS, LEPTON_KEYS, Truth, concat, flat

HiggsDecay = Callable[[np.random.Generator, np.ndarray, np.ndarray, np.ndarray], Truth]

# Recoil models per mode: probabilities of 0, 1, 2, ... ISR jets above 15 GeV, and the mean
# of their (exponential) pT above 15 GeV. These shapes define the toy physics.
GLUON_FUSION_ISR = ([0.38, 0.34, 0.18, 0.10], 25.0)
VECTOR_BOSON_FUSION_ISR = ([0.70, 0.24, 0.06], 15.0)
VECTOR_BOSON_ASSOCIATED_ISR = ([0.55, 0.30, 0.15], 18.0)
TOP_PAIR_ASSOCIATED_ISR = ([0.40, 0.35, 0.25], 25.0)


def _with_recoil(higgs: Truth, jets: list[dict], leptons: dict | None = None,
                 invisible: np.ndarray | None = None) -> Truth:
    """The Higgs decay products with the recoil system's jets, leptons and neutrinos."""
    return Truth(higgs.n, higgs.photons, concat([*jets, higgs.jets], JET_KEYS),
                 higgs.leptons if leptons is None else concat([leptons, higgs.leptons], LEPTON_KEYS),
                 higgs.invisible if invisible is None else invisible + higgs.invisible)


def gluon_fusion(rng, n: int, m_h: float, decay: HiggsDecay) -> Truth:
    """gg -> H: the Higgs recoils against ISR jets and a soft system."""
    isr, recoil = isr_jets(rng, n, *GLUON_FUSION_ISR)
    pxy = -recoil + soft_recoil(rng, n)
    higgs = decay(rng, np.full(n, m_h), pxy, rng.normal(0, 1.9, n))
    return _with_recoil(higgs, [isr])


def vector_boson_fusion(rng, n: int, m_h: float, decay: HiggsDecay) -> Truth:
    """qq -> qqH: two forward tagging jets with a large rapidity gap, the Higgs between them."""
    centre = rng.normal(0, 0.9, n)
    gap = 2.0 + rng.gamma(3.0, 0.9, n)
    eta = np.stack([centre + gap / 2, centre - gap / 2], axis=1)
    pt = 20.0 + rng.gamma(1.5, 30.0, (n, 2))
    phi = rng.uniform(-np.pi, np.pi, (n, 2))
    event = np.repeat(np.arange(n), 2)
    tags = flat(event=event, pt=pt.ravel(), eta=eta.ravel(), phi=phi.ravel(),
                m=pt.ravel() * rng.uniform(0.05, 0.15, 2 * n), flavour=np.zeros(2 * n, dtype=np.int64))
    isr, recoil = isr_jets(rng, n, *VECTOR_BOSON_FUSION_ISR)
    recoil += np.stack([(pt * np.cos(phi)).sum(1), (pt * np.sin(phi)).sum(1)], axis=1)
    pxy = -recoil + soft_recoil(rng, n)
    higgs = decay(rng, np.full(n, m_h), pxy, centre + rng.normal(0, 0.8, n))
    return _with_recoil(higgs, [tags, isr])


def w_associated(rng, n: int, m_h: float, decay: HiggsDecay, w_charge: int = 0,
                 wplus_fraction: float = 0.5) -> Truth:
    """q q' -> WH, the W decaying inclusively; its charge is ``w_charge`` (+1, -1), or drawn
    with P(W+) = ``wplus_fraction`` when 0."""
    return _vector_boson_associated(rng, n, m_h, decay, True, w_charge, wplus_fraction)


def z_associated(rng, n: int, m_h: float, decay: HiggsDecay) -> Truth:
    """q qbar -> ZH, the Z decaying inclusively."""
    return _vector_boson_associated(rng, n, m_h, decay, False)


def _vector_boson_associated(rng, n: int, m_h: float, decay: HiggsDecay, w_boson: bool, w_charge: int = 0,
                             wplus_fraction: float = 0.5) -> Truth:
    isr, recoil = isr_jets(rng, n, *VECTOR_BOSON_ASSOCIATED_ISR)
    v_pt = rng.gamma(2.0, 30.0, n)
    v_phi = rng.uniform(-np.pi, np.pi, n)
    y_h = rng.normal(0, 1.4, n)
    m_v = breit_wigner(rng, M_W if w_boson else M_Z, G_W if w_boson else G_Z, n)
    v = p4_ptyphim(v_pt, y_h + rng.normal(0, 1.0, n), v_phi, m_v)
    pxy = -(recoil + v[:, :2]) + soft_recoil(rng, n)
    higgs = decay(rng, np.full(n, m_h), pxy, y_h)
    event = np.arange(n)
    if w_boson:
        charge = np.full(n, w_charge) if w_charge else np.where(rng.uniform(size=n) < wplus_fraction, 1, -1)
        jets, leptons, invisible = w_decay(rng, event, v, charge)
    else:
        jets, leptons, invisible = z_decay(rng, event, v)
    return _with_recoil(higgs, [jets, isr], leptons, invisible)


def top_pair_associated(rng, n: int, m_h: float, decay: HiggsDecay) -> Truth:
    """gg -> ttH: a top pair (decaying to b jets and W bosons) plus ISR recoils against the Higgs."""
    isr, recoil = isr_jets(rng, n, *TOP_PAIR_ASSOCIATED_ISR)
    tops = top_pair(rng, n)
    for t in tops.tops:
        recoil += t[:, :2]
    pxy = -recoil + soft_recoil(rng, n)
    higgs = decay(rng, np.full(n, m_h), pxy, rng.normal(0, 1.1, n))
    return _with_recoil(higgs, [isr, tops.jets], tops.leptons, tops.invisible)
