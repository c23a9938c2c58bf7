"""``colliderflow simulate``: the embedded SIMULATED dataset (pseudo-data and MC, not real data).

Everything written here is simulated. The files carry the exact schema of the ATLAS Open
Data 2025 diphoton ("GamGam") skim (tree ``analysis``, the same branch names and dtypes,
GeV units, per-event metadata and weight branches, data files with data conventions) so
that every later stage runs on them unchanged, and offline. Each file also holds a
``colliderflow_simulation`` TObjString next to the tree that says it is simulated and
records the truth (signal strength, Higgs mass), the seed and the settings.

The physics is a small, honest toy event generator, columnar (numpy), one function per
process:

- signal: gg->H, VBF, WH (W- and W+), ZH, ttH with H -> yy at ``higgs_mass``; the
  production kinematics come from explicit recoil systems (ISR jets, VBF tagging jets with
  a large rapidity gap, W/Z decaying to leptons, neutrinos or jets, top pairs decaying to
  b jets and W bosons), and the Higgs pT balances them;
- continuum: real diphotons with a falling mass spectrum and a forward-peaked decay
  angle (q qbar -> yy), plus, in the pseudo-data only, photon+jet and dijet events in
  which a jet fakes a photon. A fake photon is the leading neutral hadron of a jet
  carrying a fraction z of its momentum: the rest of the jet is in the isolation cones and
  low-z fakes fail the tight identification, so fakes fail ID and isolation more often;
- detector: photon energy resolution a/sqrt(E) (+) c per region with a low-side tail
  (the m_yy core resolution comes out at about 1.7-1.9 GeV), jet energy resolution,
  b-tagging quantiles, JVT, pile-up jets, lepton efficiencies, missing transverse momentum
  from neutrinos plus mismeasurement and a soft term, trigger decisions.

Files are written at the GamGam skim level (at least two photons with pT >= 25 GeV), so
the analysis selection removes a realistic fraction of them. MC files follow the release's
normalisation convention ``w = mcWeight * SF_PHOTON * SF_PILEUP * xsec * filteff * kfac *
lumi_pb / sum_of_weights`` with ``sum_of_weights`` summed over all generated events
(before the skim); some samples have negative weights. The pseudo-data contain the signal
of every signal MC file of the catalogue with Poisson yields equal to that normalisation
at the data file's luminosity (times ``signal_strength``), so the truth is known.

Each file is generated on its own from a seed derived from ``(seed, file name)``: the
workflow runs one job per file and the result does not depend on the order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from . import __version__, config, io

log = logging.getLogger(__name__)

TREE = "analysis"
METADATA_KEY = "colliderflow_simulation"
SIGNAL_PROCESSES = ("ggH", "VBF", "WH", "ZH", "ttH")
BACKGROUND_PROCESSES = ("yy",)

# --------------------------------------------------------------------------- settings


def settings(cfg: dict) -> dict:
    """``cfg["simulate"]`` validated against the one config schema, every default filled.

    A ``cfg`` from ``config.load`` is already complete; tests may pass a partial one.
    ``run_ranges`` given in the config replaces the default table as a whole.
    """
    s = config.section(cfg, "simulate")
    cont = s["continuum"]
    if cont["mass_max"] <= cont["mass_min"]:
        raise config.ConfigError("simulate.continuum.mass_max must be larger than simulate.continuum.mass_min")
    return s


# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class FileSpec:
    """One file of the sample catalogue and how simulate makes it."""

    name: str
    sample: str
    kind: str  # data | signal | background
    process: str
    lumi_fb: float | None
    xsec_pb: float = 0.0  # MC: cross section written to the file (0 for data)
    w_charge: int = 0  # WH only: +1 (W+H), -1 (W-H), 0 (both)
    dsid: int = 0  # MC: channelNumber


_DSID = re.compile(r"(?:^|[_.])mc_(\d+)(?=[._]|$)")
_W_CHARGE = re.compile(r"W([pm])H")


def catalogue(cfg: dict) -> dict[str, FileSpec]:
    """Every file of ``cfg["samples"]`` with what simulate needs to know about it.

    Raises ValueError for catalogue entries simulate cannot make (unknown process,
    data file without lumi_fb, MC file name without mc_<DSID>, ...).
    """
    s = settings(cfg)
    samples = cfg.get("samples") or {}
    data_lumi = 0.0
    raw: list[tuple[str, str, str, str, float | None]] = []
    for sample, spec in samples.items():
        kind = spec["kind"]
        process = spec.get("process", sample)
        files = spec["files"]
        if kind == "data":
            for entry in files:
                if "lumi_fb" not in entry:
                    raise ValueError(
                        f"data file {entry['name']!r} of sample {sample!r} has no lumi_fb: simulate needs each "
                        "data file's luminosity to share the pseudo-data; add lumi_fb to the catalogue entry")
                data_lumi += float(entry["lumi_fb"])
        elif kind == "signal" and process not in SIGNAL_PROCESSES:
            raise ValueError(f"signal sample {sample!r} has process {process!r}; simulate can make "
                             f"{', '.join(SIGNAL_PROCESSES)}")
        elif kind == "background" and process not in BACKGROUND_PROCESSES:
            raise ValueError(f"background sample {sample!r} has process {process!r}; simulate can make "
                             f"{', '.join(BACKGROUND_PROCESSES)} (fakes are in the pseudo-data only)")
        for entry in files:
            raw.append((entry["name"], sample, kind, process, entry.get("lumi_fb")))
    if data_lumi and abs(data_lumi - float(cfg["lumi_fb"])) > 1e-6 * float(cfg["lumi_fb"]):
        raise ValueError(
            f"the data files' lumi_fb add up to {data_lumi:g} fb^-1 but lumi_fb is {cfg['lumi_fb']:g}: the MC would "
            "be normalised to another luminosity than the pseudo-data hold; make them agree")
    lumi_pb = float(cfg["lumi_fb"]) * 1000.0
    n_yy_files = sum(1 for r in raw if r[2] == "background")
    out: dict[str, FileSpec] = {}
    for name, sample, kind, process, lumi_fb in raw:
        if name in out:
            raise ValueError(f"file {name!r} appears twice in the sample catalogue")
        xsec, charge, dsid = 0.0, 0, 0
        if kind != "data":
            match = _DSID.search(name)
            if not match:
                raise ValueError(f"MC file name {name!r} (sample {sample!r}) must contain mc_<DSID>, "
                                 "e.g. sim_mc_343981.ggH125_gamgam: simulate writes the DSID as channelNumber")
            dsid = int(match.group(1))
        if kind == "signal":
            xsec, charge = _signal_xsec(name, sample, process, samples[sample]["files"], s)
        elif kind == "background":
            fake = s["fakes"]["fraction"]
            xsec = (1.0 - fake) * s["data_events"] / lumi_pb / n_yy_files
        out[name] = FileSpec(name, sample, kind, process, lumi_fb, xsec, charge, dsid)
    return out


def _signal_xsec(name: str, sample: str, process: str, files: list[dict], s: dict) -> tuple[float, int]:
    """(cross section of this file in pb, W charge) for a signal file.

    A sample's cross section is shared equally among its files, except WH, where files
    named ``WpH``/``WmH`` get the W+/W- shares.
    """
    total = float(s["xsec_pb"][process])
    if process != "WH":
        return total / len(files), 0
    charges = [_W_CHARGE.search(f["name"]) for f in files]
    if not any(charges):
        return total / len(files), 0
    if not all(charges):
        raise ValueError(f"sample {sample!r}: either every WH file name says WpH or WmH, or none does")
    mine = _W_CHARGE.search(name).group(1)
    same = sum(1 for c in charges if c.group(1) == mine)
    share = s["wplus_fraction"] if mine == "p" else 1.0 - s["wplus_fraction"]
    return total * share / same, (1 if mine == "p" else -1)


def file_seed(seed: int, file_name: str) -> np.random.SeedSequence:
    """The file's own seed sequence: from the master seed and a stable hash of the name."""
    digest = hashlib.sha256(file_name.encode()).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    return np.random.SeedSequence([int(seed), *words])


def _rng(seq: np.random.SeedSequence, *key: int) -> np.random.Generator:
    child = np.random.SeedSequence(seq.entropy, spawn_key=tuple(seq.spawn_key) + tuple(key))
    return np.random.default_rng(child)


# --------------------------------------------------------------------------- four-vectors
# A four-vector array is an (n, 4) float64 array (px, py, pz, E).

M_W, M_Z, M_TOP, M_B = 80.38, 91.19, 172.5, 4.8
G_W, G_Z = 2.09, 2.50


def p4_ptyphim(pt, y, phi, m):
    mt = np.sqrt(pt**2 + m**2)
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y), mt * np.cosh(y)], axis=-1)


def pt_eta_phi(p4):
    px, py, pz = p4[:, 0], p4[:, 1], p4[:, 2]
    pt = np.hypot(px, py)
    return pt, np.arcsinh(pz / np.maximum(pt, 1e-9)), np.arctan2(py, px)


def mass(p4):
    return np.sqrt(np.maximum(p4[:, 3] ** 2 - np.sum(p4[:, :3] ** 2, axis=1), 0.0))


def boost(p4, beta):
    """Lorentz boost of ``p4`` by velocity ``beta`` ((n, 3))."""
    b2 = np.sum(beta**2, axis=1)
    gamma = 1.0 / np.sqrt(1.0 - np.minimum(b2, 1 - 1e-15))
    bp = np.sum(beta * p4[:, :3], axis=1)
    g2 = np.where(b2 > 0, (gamma - 1.0) / np.where(b2 > 0, b2, 1.0), 0.0)
    p = p4[:, :3] + (g2 * bp + gamma * p4[:, 3])[:, None] * beta
    return np.concatenate([p, (gamma * (p4[:, 3] + bp))[:, None]], axis=1)


def two_body(rng, parent, m1, m2, cos_theta=None):
    """Decay ``parent`` into masses m1, m2: isotropic (or given cos theta w.r.t. the beam
    axis) in the parent rest frame, then boosted to the lab."""
    n = len(parent)
    big_m = mass(parent)
    m1 = np.broadcast_to(np.asarray(m1, dtype=float), (n,))
    m2 = np.broadcast_to(np.asarray(m2, dtype=float), (n,))
    pstar = np.sqrt(np.maximum((big_m**2 - (m1 + m2) ** 2) * (big_m**2 - (m1 - m2) ** 2), 0.0)) / (2 * big_m)
    cos = rng.uniform(-1, 1, n) if cos_theta is None else cos_theta
    sin = np.sqrt(1 - cos**2)
    phi = rng.uniform(-np.pi, np.pi, n)
    direction = np.stack([sin * np.cos(phi), sin * np.sin(phi), cos], axis=1)
    d1 = np.concatenate([pstar[:, None] * direction, np.sqrt(pstar**2 + m1**2)[:, None]], axis=1)
    d2 = np.concatenate([-pstar[:, None] * direction, np.sqrt(pstar**2 + m2**2)[:, None]], axis=1)
    beta = parent[:, :3] / parent[:, 3:4]
    return boost(d1, beta), boost(d2, beta)


def sample_pdf(rng, pdf, lo, hi, n, grid=4001):
    """Draw ``n`` values from a 1-d density on [lo, hi] by inverting its tabulated CDF."""
    x = np.linspace(lo, hi, grid)
    f = pdf(x)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(x))])
    return np.interp(rng.uniform(0, cdf[-1], n), cdf, x)


def truncated_exponential(rng, slope, lo, hi, n):
    u = rng.uniform(0, 1, n)
    if slope == 0:
        return lo + u * (hi - lo)
    return lo - np.log1p(-u * (1 - np.exp(-slope * (hi - lo)))) / slope


def breit_wigner(rng, m0, width, n, cut=10.0):
    """Relativistic width approximated by a Cauchy truncated at +-cut widths."""
    return m0 + 0.5 * width * np.tan(rng.uniform(-1, 1, n) * np.arctan(2 * cut))


# --------------------------------------------------------------------------- truth events


@dataclass
class Truth:
    """Generator-level content of ``n`` events, all flat numpy arrays.

    ``photons``: (n, 2) arrays pt, eta, phi and fake (bool), z (momentum fraction of the
    jet a fake photon carries; 1 for real photons). ``jets``/``leptons``: flat dicts with
    an ``event`` index. ``invisible``: (n, 2) summed neutrino px, py.
    """

    n: int
    photons: dict
    jets: dict
    leptons: dict
    invisible: np.ndarray


def _flat(**arrays) -> dict:
    return {k: np.asarray(v) for k, v in arrays.items()}


_JET_KEYS = ("event", "pt", "eta", "phi", "m", "flavour")
_LEP_KEYS = ("event", "pt", "eta", "phi", "type", "charge")


def _empty(keys) -> dict:
    return {k: np.zeros(0, dtype=np.int64 if k in ("event", "flavour", "type", "charge") else float) for k in keys}


def _concat(parts: list[dict], keys) -> dict:
    parts = [p for p in parts if p is not None and len(p["event"])]
    if not parts:
        return _empty(keys)
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def _jets_from_p4(event, p4, flavour) -> dict:
    pt, eta, phi = pt_eta_phi(p4)
    return _flat(event=event, pt=pt, eta=eta, phi=phi, m=mass(p4), flavour=np.full(len(event), flavour))


# Recoil models per process: probabilities of 0, 1, 2, ... ISR jets above 15 GeV, and the
# mean of their (exponential) pT above 15 GeV. These shapes define the toy physics.
ISR = {
    "ggH": ([0.38, 0.34, 0.18, 0.10], 25.0),
    "VBF": ([0.70, 0.24, 0.06], 15.0),
    "WH": ([0.55, 0.30, 0.15], 18.0),
    "ZH": ([0.55, 0.30, 0.15], 18.0),
    "ttH": ([0.40, 0.35, 0.25], 25.0),
    "yy": ([0.55, 0.30, 0.11, 0.04], 15.0),
    "fake": ([0.25, 0.40, 0.22, 0.13], 20.0),
}
SOFT_KT = 6.0  # GeV per component: unresolved recoil of the hard system


def _isr(rng, n, process) -> tuple[dict, np.ndarray]:
    """ISR jets (flat) and their summed (px, py) per event."""
    probs, mean_pt = ISR[process]
    counts = rng.choice(len(probs), size=n, p=probs)
    event = np.repeat(np.arange(n), counts)
    k = len(event)
    pt = 15.0 + rng.exponential(mean_pt, k)
    eta = rng.normal(0.0, 2.0, k)
    phi = rng.uniform(-np.pi, np.pi, k)
    m = pt * rng.uniform(0.05, 0.15, k)
    flavour = np.where(rng.uniform(size=k) < 0.03, 5, 0)
    jets = _flat(event=event, pt=pt, eta=eta, phi=phi, m=m, flavour=flavour)
    recoil = np.zeros((n, 2))
    np.add.at(recoil, event, np.stack([pt * np.cos(phi), pt * np.sin(phi)], axis=1))
    return jets, recoil


def _soft(rng, n):
    return rng.normal(0.0, SOFT_KT, (n, 2))


def _photon_pair(rng, m, pxy, y, cos_theta=None) -> dict:
    """Two photons from a system of mass m, transverse momentum pxy ((n, 2)), rapidity y."""
    pt = np.hypot(pxy[:, 0], pxy[:, 1])
    phi = np.arctan2(pxy[:, 1], pxy[:, 0])
    system = p4_ptyphim(pt, y, phi, m)
    g1, g2 = two_body(rng, system, 0.0, 0.0, cos_theta)
    pt1, eta1, phi1 = pt_eta_phi(g1)
    pt2, eta2, phi2 = pt_eta_phi(g2)
    n = len(m)
    return {
        "pt": np.stack([pt1, pt2], axis=1), "eta": np.stack([eta1, eta2], axis=1),
        "phi": np.stack([phi1, phi2], axis=1), "fake": np.zeros((n, 2), dtype=bool), "z": np.ones((n, 2)),
    }


def _w_decay(rng, event, w, charge) -> tuple[dict, dict, np.ndarray]:
    """W -> l nu (e, mu), tau nu, or q q'. Returns (jets, leptons, neutrino pxy per row)."""
    n = len(w)
    u = rng.uniform(size=n)
    mode = np.select([u < 0.108, u < 0.214, u < 0.327], [11, 13, 15], default=1)  # 1 = hadronic
    d1, d2 = two_body(rng, w, 0.0, 0.0)  # d1: charged lepton / quark, d2: neutrino / antiquark
    return _vector_boson_products(rng, event, mode, d1, d2, charge, neutral=False)


def _z_decay(rng, event, z) -> tuple[dict, dict, np.ndarray]:
    """Z -> ee, mumu, tautau, nu nu or q qbar."""
    n = len(z)
    u = rng.uniform(size=n)
    mode = np.select([u < 0.0337, u < 0.0674, u < 0.1011, u < 0.3011], [11, 13, 15, 0], default=1)
    d1, d2 = two_body(rng, z, 0.0, 0.0)
    charge = np.where(rng.uniform(size=n) < 0.5, 1, -1)
    return _vector_boson_products(rng, event, mode, d1, d2, charge, neutral=True)


def _tau_visible(rng, p4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collinear tau decay: (visible four-vector, leptonic?, lepton type) ."""
    n = len(p4)
    leptonic = rng.uniform(size=n) < 0.35
    frac = np.where(leptonic, rng.uniform(0.2, 0.9, n), rng.uniform(0.3, 1.0, n))
    vis = p4 * frac[:, None]
    lep_type = np.where(rng.uniform(size=n) < 0.5, 11, 13)
    return vis, leptonic, lep_type


def _vector_boson_products(rng, event, mode, d1, d2, charge, neutral):
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
            leptons.append(_flat(event=event[sel], pt=pt, eta=eta, phi=phi, type=np.full(sel.sum(), flavour),
                                 charge=q))
    # taus: visible part is a lepton or a jet, the rest is invisible
    sel = mode == 15
    for k, d in enumerate((d1, d2)):
        if k == 1 and not neutral:
            invisible[sel] += d[sel, :2]
            continue
        vis, leptonic, lep_type = _tau_visible(rng, d[sel])
        invisible[sel] += d[sel, :2] - vis[:, :2]
        ev = event[sel]
        pt, eta, phi = pt_eta_phi(vis)
        q = charge[sel] * (1 if k == 0 else -1)
        leptons.append(_flat(event=ev[leptonic], pt=pt[leptonic], eta=eta[leptonic], phi=phi[leptonic],
                             type=lep_type[leptonic], charge=q[leptonic]))
        had = ~leptonic
        jets.append(_flat(event=ev[had], pt=pt[had], eta=eta[had], phi=phi[had], m=np.full(had.sum(), 1.0),
                          flavour=np.full(had.sum(), 15)))
    # neutrinos (Z -> nu nu)
    sel = mode == 0
    invisible[sel] += d1[sel, :2] + d2[sel, :2]
    # quarks
    sel = mode == 1
    for d in (d1, d2):
        p = d[sel]
        pt, eta, phi = pt_eta_phi(p)
        jets.append(_flat(event=event[sel], pt=pt, eta=eta, phi=phi, m=pt * rng.uniform(0.05, 0.15, sel.sum()),
                          flavour=np.zeros(sel.sum(), dtype=np.int64)))
    return _concat(jets, _JET_KEYS), _concat(leptons, _LEP_KEYS), invisible


def gen_ggh(rng, n, s, _spec=None) -> Truth:
    isr, recoil = _isr(rng, n, "ggH")
    pxy = -recoil + _soft(rng, n)
    photons = _photon_pair(rng, np.full(n, s["higgs_mass"]), pxy, rng.normal(0, 1.9, n))
    return Truth(n, photons, isr, _empty(_LEP_KEYS), np.zeros((n, 2)))


def gen_vbf(rng, n, s, _spec=None) -> Truth:
    centre = rng.normal(0, 0.9, n)
    gap = 2.0 + rng.gamma(3.0, 0.9, n)
    eta = np.stack([centre + gap / 2, centre - gap / 2], axis=1)
    pt = 20.0 + rng.gamma(1.5, 30.0, (n, 2))
    phi = rng.uniform(-np.pi, np.pi, (n, 2))
    event = np.repeat(np.arange(n), 2)
    tags = _flat(event=event, pt=pt.ravel(), eta=eta.ravel(), phi=phi.ravel(),
                 m=pt.ravel() * rng.uniform(0.05, 0.15, 2 * n), flavour=np.zeros(2 * n, dtype=np.int64))
    isr, recoil = _isr(rng, n, "VBF")
    recoil += np.stack([(pt * np.cos(phi)).sum(1), (pt * np.sin(phi)).sum(1)], axis=1)
    pxy = -recoil + _soft(rng, n)
    photons = _photon_pair(rng, np.full(n, s["higgs_mass"]), pxy, centre + rng.normal(0, 0.8, n))
    return Truth(n, photons, _concat([tags, isr], _JET_KEYS), _empty(_LEP_KEYS), np.zeros((n, 2)))


def _gen_vh(rng, n, s, boson: str, w_charge: int) -> Truth:
    isr, recoil = _isr(rng, n, boson)
    v_pt = rng.gamma(2.0, 30.0, n)
    v_phi = rng.uniform(-np.pi, np.pi, n)
    y_h = rng.normal(0, 1.4, n)
    m_v = breit_wigner(rng, M_W if boson == "WH" else M_Z, G_W if boson == "WH" else G_Z, n)
    v = p4_ptyphim(v_pt, y_h + rng.normal(0, 1.0, n), v_phi, m_v)
    pxy = -(recoil + v[:, :2]) + _soft(rng, n)
    photons = _photon_pair(rng, np.full(n, s["higgs_mass"]), pxy, y_h)
    event = np.arange(n)
    if boson == "WH":
        charge = np.full(n, w_charge) if w_charge else np.where(rng.uniform(size=n) < s["wplus_fraction"], 1, -1)
        jets, leptons, invisible = _w_decay(rng, event, v, charge)
    else:
        jets, leptons, invisible = _z_decay(rng, event, v)
    return Truth(n, photons, _concat([jets, isr], _JET_KEYS), leptons, invisible)


def gen_wh(rng, n, s, spec=None) -> Truth:
    return _gen_vh(rng, n, s, "WH", spec.w_charge if spec is not None else 0)


def gen_zh(rng, n, s, _spec=None) -> Truth:
    return _gen_vh(rng, n, s, "ZH", 0)


def gen_tth(rng, n, s, _spec=None) -> Truth:
    isr, recoil = _isr(rng, n, "ttH")
    event = np.arange(n)
    jets, leptons = [isr], []
    invisible = np.zeros((n, 2))
    for sign in (1, -1):
        t = p4_ptyphim(rng.gamma(2.2, 45.0, n), rng.normal(0, 1.2, n), rng.uniform(-np.pi, np.pi, n),
                       breit_wigner(rng, M_TOP, 1.4, n))
        recoil += t[:, :2]
        b, w = two_body(rng, t, M_B, breit_wigner(rng, M_W, G_W, n))
        jets.append(_jets_from_p4(event, b, 5))
        wj, wl, wi = _w_decay(rng, event, w, np.full(n, sign))
        jets.append(wj)
        leptons.append(wl)
        invisible += wi
    pxy = -recoil + _soft(rng, n)
    photons = _photon_pair(rng, np.full(n, s["higgs_mass"]), pxy, rng.normal(0, 1.1, n))
    return Truth(n, photons, _concat(jets, _JET_KEYS), _concat(leptons, _LEP_KEYS), invisible)


def _qqbar_cos_theta(c):
    """Born q qbar -> yy angular distribution, (1 + c^2) / (1 - c^2), regularised."""
    return (1 + c**2) / (1 - c**2 + 0.02)


def _continuum(rng, n, s, slope, n_fakes: int) -> Truth:
    """Diphoton-like continuum: real diphotons (n_fakes = 0), photon+jet (1), dijet (2).

    Applies the generator cut (both photon candidates above generator_pt_min, |eta| < 2.5)
    by generating more events than asked and keeping the first n that pass.
    """
    cont = s["continuum"]
    parts: list[Truth] = []
    have = 0
    while have < n:
        todo = int((n - have) * 1.35) + 100
        isr, recoil = _isr(rng, todo, "yy" if n_fakes == 0 else "fake")
        pxy = -recoil + _soft(rng, todo)
        m = truncated_exponential(rng, slope, cont["mass_min"], cont["mass_max"], todo)
        cos = sample_pdf(rng, _qqbar_cos_theta, -0.95, 0.95, todo)
        photons = _photon_pair(rng, m, pxy, rng.normal(0, 1.3, todo), cos)
        ok = np.all((photons["pt"] > cont["generator_pt_min"]) & (np.abs(photons["eta"]) < 2.5), axis=1)
        take = np.flatnonzero(ok)[: n - have]
        parts.append(_take(Truth(todo, photons, isr, _empty(_LEP_KEYS), np.zeros((todo, 2))), take))
        have += len(take)
    truth = _stack(parts)
    if n_fakes:
        _make_fakes(rng, truth, n_fakes, s["fakes"])
    return truth


def _make_fakes(rng, truth: Truth, n_fakes: int, fcfg: dict) -> None:
    """Turn one (random) or both photons into fakes: the photon candidate carries a fraction
    z of a jet's momentum; the rest of the jet stays around it (isolation, see detector)."""
    n = truth.n
    if n_fakes == 2:
        fake = np.ones((n, 2), dtype=bool)
    else:
        first = rng.uniform(size=n) < 0.5
        fake = np.stack([first, ~first], axis=1)
    z = rng.beta(fcfg["z_alpha"], 1.0, (n, 2))
    truth.photons["fake"] = fake
    truth.photons["z"] = np.where(fake, z, 1.0)


def gen_yy(rng, n, s, _spec=None) -> Truth:
    return _continuum(rng, n, s, s["continuum"]["slope"], 0)


def gen_gj(rng, n, s, _spec=None) -> Truth:
    return _continuum(rng, n, s, s["continuum"]["fake_slope"], 1)


def gen_jj(rng, n, s, _spec=None) -> Truth:
    return _continuum(rng, n, s, s["continuum"]["fake_slope"], 2)


GENERATORS = {"ggH": gen_ggh, "VBF": gen_vbf, "WH": gen_wh, "ZH": gen_zh, "ttH": gen_tth, "yy": gen_yy,
              "gj": gen_gj, "jj": gen_jj}


def _take(truth: Truth, index: np.ndarray) -> Truth:
    """The events ``index`` (sorted, unique) of ``truth``, renumbered 0..len(index)-1."""
    new = np.full(truth.n, -1, dtype=np.int64)
    new[index] = np.arange(len(index))

    def pick(flat, keys):
        keep = new[flat["event"]] >= 0
        out = {k: flat[k][keep] for k in keys}
        out["event"] = new[flat["event"][keep]]
        return out

    return Truth(len(index), {k: v[index] for k, v in truth.photons.items()}, pick(truth.jets, _JET_KEYS),
                 pick(truth.leptons, _LEP_KEYS), truth.invisible[index])


def _stack(parts: list[Truth]) -> Truth:
    if not parts:  # an empty chunk (a data file with nothing to generate)
        photons = {k: np.zeros((0, 2)) for k in ("pt", "eta", "phi", "z")}
        photons["fake"] = np.zeros((0, 2), dtype=bool)
        return Truth(0, photons, _empty(_JET_KEYS), _empty(_LEP_KEYS), np.zeros((0, 2)))
    offsets = np.cumsum([0] + [p.n for p in parts])

    def shifted(flats, keys):
        return _concat([{**f, "event": f["event"] + off} for f, off in zip(flats, offsets)], keys)

    return Truth(
        int(offsets[-1]),
        {k: np.concatenate([p.photons[k] for p in parts]) for k in parts[0].photons},
        shifted([p.jets for p in parts], _JET_KEYS),
        shifted([p.leptons for p in parts], _LEP_KEYS),
        np.concatenate([p.invisible for p in parts]),
    )


def _interleave(parts: list[Truth], labels: np.ndarray) -> Truth:
    """Events of ``parts`` (one per label value, in label order) placed where ``labels`` says."""
    grouped = _stack(parts)
    position = np.argsort(labels, kind="stable")  # grouped event i goes to row position[i]

    def moved(flat, keys):
        out = dict(flat)
        out["event"] = position[flat["event"]]
        return out

    inverse = np.empty_like(position)
    inverse[position] = np.arange(len(position))
    return Truth(
        grouped.n,
        {k: v[inverse] for k, v in grouped.photons.items()},
        moved(grouped.jets, _JET_KEYS),
        moved(grouped.leptons, _LEP_KEYS),
        grouped.invisible[inverse],
    )


# --------------------------------------------------------------------------- detector

CRACK = (1.37, 1.52)
PHOTON_ETA_MAX = 2.37
PHOTON_PT_MIN = 25.0  # photon collection threshold of the ntuple (= GamGam skim threshold)
JET_PT_MIN, JET_ETA_MAX = 20.0, 2.5  # jet collection of the ntuple
ELECTRON_ETA_MAX, MUON_ETA_MAX, LEPTON_PT_MIN = 2.47, 2.5, 7.0
# b-tagging: probability that a jet passes the 85/77/70/60 % working points (quantile >= 2..5)
BTAG_WP = {5: (0.85, 0.77, 0.70, 0.60), 0: (0.06, 0.02, 0.008, 0.003), 15: (0.06, 0.02, 0.008, 0.003)}


def _photon_resolution(abseta, energy, res):
    crack = (abseta > CRACK[0]) & (abseta < CRACK[1])
    barrel = abseta <= CRACK[0]
    a = np.select([barrel, crack], [res["sampling_barrel"], res["sampling_crack"]], res["sampling_endcap"])
    c = np.select([barrel, crack], [res["constant_barrel"], res["constant_crack"]], res["constant_endcap"])
    return np.sqrt(a**2 / energy + c**2)


@dataclass
class Reco:
    """Reconstructed events: the branches of one chunk, before the skim."""

    n: int
    photons: dict  # flat, with event
    jets: dict
    leptons: dict
    met: np.ndarray  # (n, 2) px, py


def _smear_photons(rng, truth: Truth, s: dict, n_jets_central: np.ndarray) -> tuple[dict, np.ndarray]:
    """Reconstructed photons (flat) from the two truth photons plus sometimes an extra one.

    Returns the photons and the (px, py) they lost to mismeasurement (for the MET)."""
    n = truth.n
    ph = truth.photons
    extra = rng.uniform(size=n) < s["extra_photon_probability"]
    n_extra = int(extra.sum())
    ev_extra = np.flatnonzero(extra)
    pt = np.concatenate([ph["pt"].ravel(), 25.0 + rng.exponential(10.0, n_extra)])
    eta = np.concatenate([ph["eta"].ravel(), rng.uniform(-2.37, 2.37, n_extra)])
    phi = np.concatenate([ph["phi"].ravel(), rng.uniform(-np.pi, np.pi, n_extra)])
    extra_fake = rng.uniform(size=n_extra) < 0.7
    fake = np.concatenate([ph["fake"].ravel(), extra_fake])
    z = np.concatenate([ph["z"].ravel(), np.where(extra_fake, rng.beta(s["fakes"]["z_alpha"], 1.0, n_extra), 1.0)])
    event = np.concatenate([np.repeat(np.arange(n), 2), ev_extra])
    energy = pt * np.cosh(eta)
    res = s["resolution"]
    sigma = _photon_resolution(np.abs(eta), energy, res)
    response = 1.0 + sigma * rng.standard_normal(len(pt))
    tail = rng.uniform(size=len(pt)) < res["tail_fraction"]
    response = np.where(tail, response * (1.0 - rng.exponential(res["tail_mean"], len(pt))), response)
    response = np.maximum(response * res["energy_scale"], 0.05)
    pt_reco = pt * response
    e_reco = energy * response
    lost = np.zeros((n, 2))
    np.add.at(lost, event, np.stack([(pt - pt_reco) * np.cos(phi), (pt - pt_reco) * np.sin(phi)], axis=1))
    keep = (pt_reco > PHOTON_PT_MIN) & (np.abs(eta) < PHOTON_ETA_MAX)
    # the lost photons leave their energy to the soft term: treat them as unmeasured
    np.add.at(lost, event[~keep], np.stack([pt_reco[~keep] * np.cos(phi[~keep]),
                                             pt_reco[~keep] * np.sin(phi[~keep])], axis=1))
    activity = n_jets_central[event]
    ident = _photon_id(rng, pt_reco, np.abs(eta), fake, z, s)
    iso = _photon_isolation(rng, pt_reco, fake, z, activity)
    photons = {"event": event, "pt": pt_reco, "eta": eta, "phi": phi, "e": e_reco, **ident, **iso}
    return {k: v[keep] for k, v in photons.items()}, lost


def _photon_id(rng, pt, abseta, fake, z, s) -> dict:
    """Loose and tight identification (tight implies loose)."""
    pid = s["photon_id"]
    prompt_tight = pid["tight_plateau"] - (pid["tight_plateau"] - pid["tight_at_25"]) * np.exp(
        -np.maximum(pt - 25.0, 0.0) / pid["tight_pt_scale"])
    crack = (abseta > CRACK[0]) & (abseta < CRACK[1])
    prompt_tight = np.where(crack, 0.85 * prompt_tight, prompt_tight)
    shape = np.clip((z - 0.7) / 0.3, 0.0, 1.0) ** 2
    fake_tight = s["fakes"]["tight_id_max"] * shape
    fake_loose = np.clip(0.3 + 0.7 * (z - 0.5) / 0.5, 0.0, 1.0)
    tight_p = np.where(fake, fake_tight, prompt_tight)
    loose_p = np.maximum(np.where(fake, fake_loose, pid["loose"]), tight_p)
    u = rng.uniform(size=len(pt))
    return {"isTightID": u < tight_p, "isLooseID": u < loose_p}


def _photon_isolation(rng, pt, fake, z, activity) -> dict:
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


def _smear_jets(rng, truth: Truth, s: dict) -> tuple[dict, np.ndarray]:
    """Reconstructed jets (flat) plus pile-up jets, and their mismeasurement (px, py)."""
    j = truth.jets
    k = len(j["pt"])
    rel = np.sqrt((3.0 / j["pt"]) ** 2 + s["jet_resolution"] ** 2 / j["pt"] + 0.05**2)
    pt = j["pt"] * np.maximum(1.0 + rel * rng.standard_normal(k), 0.05)
    lost = np.zeros((truth.n, 2))
    keep = (pt > JET_PT_MIN) & (np.abs(j["eta"]) < JET_ETA_MAX)
    measured = np.abs(j["eta"]) < 4.5  # forward jets are measured too, though not in the ntuple
    d = np.where(measured, j["pt"] - pt, j["pt"])
    np.add.at(lost, j["event"], np.stack([d * np.cos(j["phi"]), d * np.sin(j["phi"])], axis=1))
    scale = pt / np.maximum(j["pt"], 1e-9)  # the jet mass scales with the response
    # pile-up jets, already at reconstructed level
    n_pu = rng.poisson(s["pileup_jets_mean"], truth.n)
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


LEPTON_MASS = {11: 0.000511, 13: 0.10566}
NONPROMPT_LEPTON_PROBABILITY = 0.01  # per event, before the lepton pT > 7 GeV threshold


def _nonprompt_leptons(rng, n: int) -> dict:
    """Leptons from heavy-flavour decays in any event: soft and mostly not isolated."""
    event = np.flatnonzero(rng.uniform(size=n) < NONPROMPT_LEPTON_PROBABILITY)
    k = len(event)
    return _flat(event=event, pt=5.0 + rng.exponential(6.0, k), eta=rng.uniform(-2.5, 2.5, k),
                 phi=rng.uniform(-np.pi, np.pi, k), type=np.where(rng.uniform(size=k) < 0.5, 11, 13),
                 charge=np.where(rng.uniform(size=k) < 0.5, 1, -1), prompt=np.zeros(k, dtype=bool))


def _smear_leptons(rng, truth: Truth) -> tuple[dict, np.ndarray]:
    """Reconstructed leptons (prompt ones from W/Z/tau decays plus non-prompt ones)."""
    prompt = dict(truth.leptons, prompt=np.ones(len(truth.leptons["event"]), dtype=bool))
    lep = _concat([prompt, _nonprompt_leptons(rng, truth.n)], _LEP_KEYS + ("prompt",))
    k = len(lep["pt"])
    pt = lep["pt"] * (1.0 + 0.02 * rng.standard_normal(k))
    eta_max = np.where(lep["type"] == 11, ELECTRON_ETA_MAX, MUON_ETA_MAX)
    keep = (pt > LEPTON_PT_MIN) & (np.abs(lep["eta"]) < eta_max) & (rng.uniform(size=k) < 0.95)
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
    tight = u_id < 0.90
    activity = np.where(is_prompt, 0.0, rng.exponential(0.5, m) * pt)  # the rest of the b/c jet
    iso_p = np.where(is_prompt, 1.0, 0.3)
    d0 = np.where(is_prompt, d0, d0 * 5.0)
    return {
        "event": lep["event"][keep], "type": typ, "pt": pt, "eta": eta, "phi": phi,
        "e": np.sqrt(pt**2 + pz**2 + mass_**2), "charge": lep["charge"][keep].astype(np.int32),
        "ptvarcone30": np.where(rng.uniform(size=m) < 0.7, 0.0, rng.exponential(0.8, m)) + 0.6 * activity,
        "topoetcone20": rng.normal(0.3, 1.0, m) + 0.4 * activity,
        "z0": rng.normal(0.0, 0.2, m), "d0": d0, "d0sig": d0 / 0.012,
        "isTightID": tight, "isMediumID": u_id < 0.95, "isLooseID": u_id < 0.99,
        "isTightIso": u_iso < 0.90 * iso_p, "isLooseIso": u_iso < 0.97 * iso_p,
        "isTrigMatched": tight & (pt > 27.0) & (rng.uniform(size=m) < 0.9),
    }, lost


def reconstruct(rng, truth: Truth, s: dict) -> Reco:
    """The toy detector: smeared photons, jets, leptons, and the missing transverse momentum."""
    j = truth.jets
    central = (j["pt"] > 25.0) & (np.abs(j["eta"]) < 2.5)
    n_central = np.bincount(j["event"][central], minlength=truth.n)
    photons, lost_y = _smear_photons(rng, truth, s, n_central)
    jets, lost_j = _smear_jets(rng, truth, s)
    leptons, lost_l = _smear_leptons(rng, truth)
    met = truth.invisible + lost_y + lost_j + lost_l + rng.normal(0.0, s["met_soft_resolution"], (truth.n, 2))
    return Reco(truth.n, photons, jets, leptons, met)


# --------------------------------------------------------------------------- branches


def _jagged(flat: dict, n: int, fields: dict) -> ak.Array:
    """A record of jagged arrays (fields: branch suffix -> dtype) ordered by pT per event."""
    order = np.lexsort((-flat["pt"], flat["event"])) if len(flat["event"]) else np.zeros(0, dtype=np.int64)
    counts = np.bincount(flat["event"], minlength=n).astype(np.int64)
    return ak.zip({name: ak.unflatten(np.asarray(flat[name])[order].astype(dtype), counts)
                   for name, dtype in fields.items()}, depth_limit=None)


def _empty_collection(n: int, fields: dict) -> ak.Array:
    counts = np.zeros(n, dtype=np.int64)
    return ak.zip({name: ak.unflatten(np.zeros(0, dtype=dtype), counts) for name, dtype in fields.items()})


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
# own counter in the real files, empty in data; the analysis does not use them).
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


def _triggers(rng, reco: Reco, n: int) -> dict:
    """Trigger decisions from the reconstructed objects (2015-2016 thresholds, rounded)."""
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
    trig = {name: np.zeros(n, dtype=bool) for name in TRIGGERS}
    trig["trigP"] = lead & sub & (u[:, 0] < 0.99)
    trig["trigE"] = (count(ele & tight & (lep["pt"] > 27.0)) > 0) & (u[:, 1] < 0.95)
    trig["trigM"] = (count(mu & (lep["pt"] > 27.0)) > 0) & (u[:, 2] < 0.90)
    trig["trigDE"] = (count(ele & (lep["pt"] > 17.0)) > 1) & (u[:, 3] < 0.90)
    trig["trigDM"] = (count(mu & (lep["pt"] > 15.0)) > 1) & (u[:, 4] < 0.90)
    trig["trigMET"] = u[:, 5] < 1.0 / (1.0 + np.exp(-(met - 150.0) / 15.0))
    return trig


def _event_numbers(seq, start, count) -> np.ndarray:
    """Unique event numbers: an odd-multiplier bijection of the generated-event index mod 2^32."""
    offset = int(np.random.default_rng(np.random.SeedSequence(seq.entropy, spawn_key=(9,))).integers(0, 2**31))
    index = (np.arange(start, start + count, dtype=np.uint64) + np.uint64(offset)) % np.uint64(2**32)
    return (index * np.uint64(2654435761) + np.uint64(1)) % np.uint64(2**32)


@dataclass
class Plan:
    """What one file holds: how many events of which component, and its metadata."""

    spec: FileSpec
    n_generated: int
    labels: np.ndarray | None  # data: component index per generated event
    components: list  # data: (label, generator key, FileSpec or None)
    mc_weight: np.ndarray | None  # MC: mcWeight of every generated event
    run_numbers: np.ndarray | None  # data: the runs of the file
    category: str
    truth: dict


def _period(file_name: str, run_ranges: dict) -> str:
    matches = [p for p in run_ranges if p in file_name]
    if not matches:
        raise ValueError(f"cannot tell the data period of file {file_name!r}: its name contains none of the periods "
                         f"in simulate.run_ranges ({', '.join(sorted(run_ranges))}); rename it or add the period")
    return max(matches, key=len)


def plan_file(cfg: dict, spec: FileSpec, s: dict, seq: np.random.SeedSequence) -> Plan:
    """Draw the file-level numbers: component yields (data) or the MC weights (MC).

    Data: Poisson yields of the real-diphoton, photon+jet and dijet backgrounds (their
    share of ``data_events``) and of every signal MC file of the catalogue at this file's
    luminosity, in a random order. MC: the signed mcWeight of every generated event, drawn
    before any event so that sum_of_weights is known when the first chunk is written
    (weights do not depend on the kinematics here).
    """
    rng = _rng(seq, 0)
    lumi_pb = float(cfg["lumi_fb"]) * 1000.0
    if spec.kind == "data":
        cat = catalogue(cfg)
        file_lumi_pb = float(spec.lumi_fb) * 1000.0
        share = file_lumi_pb / lumi_pb
        fakes = s["fakes"]
        background = s["data_events"] * share
        components = [
            ("yy", "yy", None, (1 - fakes["fraction"]) * background),
            ("gj", "gj", None, fakes["fraction"] * (1 - fakes["dijet_share"]) * background),
            ("jj", "jj", None, fakes["fraction"] * fakes["dijet_share"] * background),
        ]
        for other in cat.values():
            if other.kind == "signal":
                expected = s["signal_strength"] * other.xsec_pb * file_lumi_pb
                components.append((f"signal:{other.name}", other.process, other, expected))
        counts = rng.poisson([c[3] for c in components])
        labels = rng.permutation(np.repeat(np.arange(len(components), dtype=np.int16), counts))
        period = _period(spec.name, s["run_ranges"])
        first, last = s["run_ranges"][period]
        runs = np.sort(rng.choice(np.arange(first, last + 1), size=min(s["runs_per_file"], last - first + 1),
                                  replace=False))
        runs[0], runs[-1] = first, last
        truth = {"expected": {c[0]: c[3] for c in components},
                 "generated": {c[0]: int(k) for c, k in zip(components, counts)}}
        return Plan(spec, int(counts.sum()), labels, [(c[0], c[1], c[2]) for c in components], None, runs.astype(U4),
                    period.split("_")[0], truth)
    n = s["signal_mc_events"] if spec.kind == "signal" else s["background_mc_events"]
    negative = rng.uniform(size=n) < s["negative_weight_fraction"][spec.process]
    magnitude = rng.lognormal(-0.5 * s["mc_weight_spread"] ** 2, s["mc_weight_spread"], n)
    weight = np.where(negative, -magnitude, magnitude).astype(F4)
    return Plan(spec, n, None, [], weight, None, s["mc_category"], {})


def _chunk_truth(rng, plan: Plan, s: dict, start: int, stop: int) -> Truth:
    if plan.labels is None:
        return GENERATORS[plan.spec.process](rng, stop - start, s, plan.spec)
    labels = plan.labels[start:stop]
    parts = []
    for index, (_, generator, spec) in enumerate(plan.components):
        count = int(np.count_nonzero(labels == index))
        if count:
            parts.append(GENERATORS[generator](rng, count, s, spec))
    return _interleave(parts, labels)


def build_chunk(plan: Plan, s: dict, seq: np.random.SeedSequence, chunk: int, start: int, stop: int,
                sums: tuple[float, float]) -> dict:
    """The branches of generated events [start, stop) that pass the GamGam skim."""
    rng = _rng(seq, 1, chunk)
    truth = _chunk_truth(rng, plan, s, start, stop)
    reco = reconstruct(rng, truth, s)
    n = truth.n
    n_photons = np.bincount(reco.photons["event"], minlength=n)
    skim = n_photons >= 2  # the GamGam skim: two photons with pT >= 25 GeV
    trig = _triggers(rng, reco, n)
    is_data = plan.spec.kind == "data"
    out: dict = {}
    one = np.ones(n, dtype=F4)
    if is_data:
        out.update(num_events=np.ones(n, F8), sum_of_weights=np.ones(n, F8), sum_of_weights_squared=np.ones(n, F8))
        out["mcWeight"] = one
        for name in ("xsec", "filteff", "kfac"):
            out[name] = np.zeros(n, F4)
        run_index = (np.arange(start, stop) * len(plan.run_numbers)) // max(plan.n_generated, 1)
        out["runNumber"] = plan.run_numbers[run_index]
        out["channelNumber"] = out["runNumber"]
        sf = {name: one for name in SCALE_FACTORS}
    else:
        out.update(num_events=np.full(n, plan.n_generated, F8), sum_of_weights=np.full(n, sums[0], F8),
                   sum_of_weights_squared=np.full(n, sums[1], F8))
        out["mcWeight"] = plan.mc_weight[start:stop]
        out["xsec"] = np.full(n, plan.spec.xsec_pb, F4)
        out["filteff"] = np.ones(n, F4)
        out["kfac"] = np.ones(n, F4)
        out["runNumber"] = np.full(n, s["mc_run_number"], U4)
        out["channelNumber"] = np.full(n, plan.spec.dsid, U4)
        sf = {name: one for name in SCALE_FACTORS}
        sf["ScaleFactor_PHOTON"] = (1.0 + s["photon_sf_spread"] * rng.standard_normal(n)).astype(F4)
        k = 1.0 / s["pileup_sf_spread"] ** 2
        sf["ScaleFactor_PILEUP"] = rng.gamma(k, 1.0 / k, n).astype(F4)
    out["eventNumber"] = _event_numbers(seq, start, n)
    out["category"] = np.full(n, plan.category, dtype=object)
    out["TriggerMatch_DILEPTON"] = (trig["trigDE"] | trig["trigDM"]).astype(F4)
    out.update(sf)
    out.update(trig)
    out["photon"] = _jagged(reco.photons, n, PHOTON_FIELDS)
    out["jet"] = _jagged(reco.jets, n, JET_FIELDS)
    out["lep"] = _jagged(reco.leptons, n, LEP_FIELDS)
    out["largeRJet"] = _empty_collection(n, LARGE_R_FIELDS)
    out["tau"] = _empty_collection(n, TAU_FIELDS)
    for name, fields in TRUTH_FIELDS.items():
        out[name] = _empty_collection(n, fields)
    if not is_data:
        real = ~truth.photons["fake"]
        ev = np.repeat(np.arange(n), 2)[real.ravel()]
        out["truth_photon"] = _jagged({"event": ev, "pt": truth.photons["pt"][real], "eta": truth.photons["eta"][real],
                                       "phi": truth.photons["phi"][real]}, n, TRUTH_FIELDS["truth_photon"])
        out["truth_met"] = np.hypot(truth.invisible[:, 0], truth.invisible[:, 1]).astype(F4)
        out["truth_met_phi"] = np.arctan2(truth.invisible[:, 1], truth.invisible[:, 0]).astype(F4)
    else:
        out["truth_met"] = np.zeros(n, F4)
        out["truth_met_phi"] = np.zeros(n, F4)
    mpx, mpy = reco.met[:, 0], reco.met[:, 1]
    out["met"] = np.hypot(mpx, mpy).astype(F4)
    out["met_phi"] = np.arctan2(mpy, mpx).astype(F4)
    out["met_mpx"] = mpx.astype(F4)
    out["met_mpy"] = mpy.astype(F4)
    ordered = {name: out[name] for name, _ in LAYOUT}
    return {name: value[skim] for name, value in ordered.items()}


# --------------------------------------------------------------------------- writing


def _tree_types() -> dict:
    """The tree's branch types for ``mktree``, from ``LAYOUT`` (not from data, which may be empty)."""
    types = {}
    for name, kind in LAYOUT:
        if isinstance(kind, dict):
            types[name] = _empty_collection(1, kind).type.content
        elif kind is str:
            types[name] = "string"
        else:
            types[name] = np.dtype(kind)
    return types


def simulate_file(cfg: dict, file_name: str, out_path: str | Path) -> dict:
    """Generate one file of the catalogue and write it atomically to ``out_path``.

    Returns a summary: events generated and written, sums of weights, truth, seconds.
    """
    t0, cpu0 = time.perf_counter(), time.process_time()
    s = settings(cfg)
    cat = catalogue(cfg)
    if file_name not in cat:
        raise KeyError(f"file {file_name!r} is not in the sample catalogue (samples: ... files: - name:); "
                       f"known files: {', '.join(sorted(cat)) or 'none'}")
    spec = cat[file_name]
    seq = file_seed(s["seed"], file_name)
    plan = plan_file(cfg, spec, s, seq)
    if plan.mc_weight is not None:
        w = plan.mc_weight.astype(F8)
        sums = (float(w.sum()), float((w**2).sum()))
    else:
        sums = (1.0, 1.0)
    metadata = {
        "simulated": True,
        "note": "SIMULATED by colliderflow.simulate: not ATLAS data, not ATLAS simulation",
        "colliderflow_version": __version__,
        "file": file_name,
        "sample": spec.sample,
        "kind": spec.kind,
        "process": spec.process,
        "seed": s["seed"],
        "truth": {"signal_strength": s["signal_strength"], "higgs_mass": s["higgs_mass"], **plan.truth},
        "simulate_settings_hash": config.config_hash(s),
    }
    written = 0
    chunk_size = s["chunk_size"]
    starts = list(range(0, plan.n_generated, chunk_size)) or [0]
    with io.atomic_path(out_path) as tmp:
        with uproot.recreate(tmp) as handle:
            handle[METADATA_KEY] = json.dumps(metadata, sort_keys=True)
            tree = handle.mktree(TREE, _tree_types(), counter_name=lambda c: f"{c}_n",
                                 field_name=lambda outer, inner: f"{outer}_{inner}", title="SIMULATED (colliderflow)")
            for chunk, start in enumerate(starts):
                stop = min(start + chunk_size, plan.n_generated)
                branches = build_chunk(plan, s, seq, chunk, start, stop, sums)
                if len(branches["eventNumber"]):
                    tree.extend(branches)
                written += len(branches["eventNumber"])
                log.info("%s: chunk %d/%d, generated %d/%d, written %d", file_name, chunk + 1, len(starts), stop,
                         plan.n_generated, written)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    log.info("%s: %d events generated, %d written (GamGam skim) in %.1f s (%.1f s CPU)", file_name, plan.n_generated,
             written, seconds, cpu_seconds)
    return {"file": file_name, "kind": spec.kind, "process": spec.process, "generated": plan.n_generated,
            "written": written, "sum_of_weights": sums[0], "sum_of_weights_squared": sums[1],
            "xsec_pb": spec.xsec_pb, "truth": metadata["truth"], "seconds": seconds, "cpu_seconds": cpu_seconds}


def read_metadata(path: str | Path) -> dict:
    """The simulation record a simulated file carries (KeyError if it has none)."""
    with uproot.open(path) as handle:
        if METADATA_KEY not in handle:
            raise KeyError(f"{path} has no {METADATA_KEY} record: it was not written by colliderflow simulate")
        return json.loads(str(handle[METADATA_KEY]))


# --------------------------------------------------------------------------- CLI


def register(sub) -> None:
    from .cli import add_config_arguments

    parser = sub.add_parser(
        "simulate", help="generate the embedded SIMULATED dataset (ROOT files with the 2025 GamGam schema)")
    add_config_arguments(parser)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--file", help="the catalogue file (samples.*.files[].name) to generate")
    target.add_argument("--all", action="store_true", help="generate every file of the catalogue")
    parser.add_argument("--out", help="output ROOT file (with --file)")
    parser.add_argument("--outdir", help="output folder (with --all): <outdir>/<file>.root")
    parser.set_defaults(func=run)


def run(args) -> int:
    cfg = config.load(args.configfile, args.settings)
    if args.file:
        if not args.out:
            raise ValueError("--file needs --out PATH (the ROOT file to write)")
        simulate_file(cfg, args.file, args.out)
        return 0
    if not args.outdir:
        raise ValueError("--all needs --outdir DIR (the folder to write <file>.root into)")
    total = cpu = 0.0
    for name in catalogue(cfg):
        summary = simulate_file(cfg, name, Path(args.outdir) / f"{name}.root")
        total += summary["seconds"]
        cpu += summary["cpu_seconds"]
        print(f"{name}: {summary['written']} events written ({summary['generated']} generated) "
              f"in {summary['seconds']:.1f} s ({summary['cpu_seconds']:.1f} s CPU)")
    print(f"all files: {total:.1f} s ({cpu:.1f} s CPU)")
    return 0
