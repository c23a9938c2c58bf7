"""The embedded H -> yy simulation: SIMULATED pseudo-data and MC, not real data.

The files carry the exact schema of the ATLAS Open Data 2025 diphoton ("GamGam") skim
(``colliderflow.ntuples.atlas2025``) so that every later stage runs on them unchanged, and
offline; the machinery (seeds, chunks, detector, the atomic write and the
``colliderflow_simulation`` record with the truth) is ``colliderflow.simulation``'s. What is
H -> yy is here, one function per process:

- signal: gg->H, VBF, WH (W- and W+), ZH, ttH with H -> yy at ``higgs_mass``; the
  production kinematics come from explicit recoil systems (ISR jets, VBF tagging jets with
  a large rapidity gap, W/Z decaying to leptons, neutrinos or jets, top pairs decaying to
  b jets and W bosons), and the Higgs pT balances them;
- continuum: real diphotons with a falling mass spectrum and a forward-peaked decay
  angle (q qbar -> yy), plus, in the pseudo-data only, photon+jet and dijet events in
  which a jet fakes a photon. A fake photon is the leading neutral hadron of a jet
  carrying a fraction z of its momentum: the rest of the jet is in the isolation cones and
  low-z fakes fail the tight identification, so fakes fail ID and isolation more often
  (the detector's photon response; the m_yy core resolution comes out at about 1.7-1.9 GeV).

Files are written at the GamGam skim level (at least two photons with pT >= 25 GeV), so
the analysis selection removes a realistic fraction of them. MC files follow the release's
normalisation convention ``w = mcWeight * SF_PHOTON * SF_PILEUP * xsec * filteff * kfac *
lumi_pb / sum_of_weights`` with ``sum_of_weights`` summed over all generated events
(before the skim); some samples have negative weights. The pseudo-data contain the signal
of every signal MC file of the catalogue with Poisson yields equal to that normalisation
at the data file's luminosity (times ``signal_strength``), so the truth is known. The
diphoton-continuum MC cross section is the real-diphoton share of ``data_events`` per pb.

Settings: the config's ``simulate`` section, declared in ``config.schema.yaml`` beside this file.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ... import config
from ...ntuples.atlas2025 import F4
from ...simulation import higgs
from ...simulation.catalogue import (
    Component, FileSpec, Plan, data_lumi_share, plan_data_file, plan_mc_file, read_catalogue, split_wh_cross_section,
)
from ...simulation.detector import Detector, PhotonResponse, Reco
from ...simulation.embedded import EmbeddedSimulation
from ...simulation.kinematics import p4_ptyphim, pt_eta_phi, sample_pdf, truncated_exponential, two_body
from ...simulation.production import isr_jets, soft_recoil
from ...simulation.seeds import PLAN_STREAM, child_rng
from ...simulation.truth import JET_KEYS, LEPTON_KEYS, Truth, empty, stack, take

SIGNAL_PROCESSES = ("ggH", "VBF", "WH", "ZH", "ttH")
BACKGROUND_PROCESSES = ("yy",)

# Recoil models of the continuum (the Higgs production modes' are in simulation.higgs):
# probabilities of 0, 1, 2, ... ISR jets above 15 GeV, and the mean of their (exponential)
# pT above 15 GeV. These shapes define the toy physics.
ISR = {
    "yy": ([0.55, 0.30, 0.11, 0.04], 15.0),
    "fake": ([0.25, 0.40, 0.22, 0.13], 20.0),
}
PHOTONS_MIN = 2  # the GamGam skim: at least two photons of the ntuple's collection (pT >= 25 GeV)


# --------------------------------------------------------------------------- settings and catalogue


def settings(cfg: dict) -> dict:
    """``cfg["simulate"]`` validated against hyy's schema, every default filled.

    A ``cfg`` from ``config.load`` is already complete; tests may pass a partial one.
    ``run_ranges`` given in the config replaces the default table as a whole.
    """
    s = config.section({**(cfg or {}), "analysis": "hyy"}, "simulate")
    cont = s["continuum"]
    if cont["mass_max"] <= cont["mass_min"]:
        raise config.ConfigError("simulate.continuum.mass_max must be larger than simulate.continuum.mass_min")
    return s


def catalogue(cfg: dict) -> dict[str, FileSpec]:
    """Every file of ``cfg["samples"]`` with its cross section (and W charge).

    Signal: the configured cross section of the process shared among its files (WH: by W
    charge). Continuum MC: the real-diphoton part of ``data_events`` per pb, shared among the
    background files. Raises ValueError for entries simulate cannot make.
    """
    s = settings(cfg)
    files = read_catalogue(cfg, {"signal": SIGNAL_PROCESSES, "background": BACKGROUND_PROCESSES}, "hyy")
    samples = cfg.get("samples") or {}
    lumi_pb = float(cfg["lumi_fb"]) * 1000.0
    n_yy_files = sum(1 for spec in files.values() if spec.kind == "background")
    out: dict[str, FileSpec] = {}
    for name, spec in files.items():
        xsec, charge = 0.0, 0
        if spec.kind == "signal":
            xsec, charge = _signal_xsec(name, spec.sample, spec.process, samples[spec.sample]["files"], s)
        elif spec.kind == "background":
            xsec = (1.0 - s["fakes"]["fraction"]) * s["data_events"] / lumi_pb / n_yy_files
        out[name] = dataclasses.replace(spec, xsec_pb=xsec, w_charge=charge)
    return out


def _signal_xsec(name: str, sample: str, process: str, files: list[dict], s: dict) -> tuple[float, int]:
    """(cross section of this file in pb, W charge) for a signal file: the sample's cross
    section shared equally among its files, except WH files named WpH/WmH (W+/W- shares)."""
    total = float(s["xsec_pb"][process])
    if process != "WH":
        return total / len(files), 0
    return split_wh_cross_section(total, name, sample, files, s["wplus_fraction"])


def data_components(cfg: dict, spec: FileSpec, s: dict) -> list[Component]:
    """What a pseudo-data file holds: the real-diphoton, photon+jet and dijet backgrounds
    (their share of ``data_events``) and every signal MC file of the catalogue at this
    file's luminosity times ``signal_strength``."""
    file_lumi_pb, share = data_lumi_share(cfg, spec)
    fakes = s["fakes"]
    background = s["data_events"] * share
    components = [
        Component("yy", "yy", None, (1 - fakes["fraction"]) * background),
        Component("gj", "gj", None, fakes["fraction"] * (1 - fakes["dijet_share"]) * background),
        Component("jj", "jj", None, fakes["fraction"] * fakes["dijet_share"] * background),
    ]
    for other in catalogue(cfg).values():
        if other.kind == "signal":
            expected = s["signal_strength"] * other.xsec_pb * file_lumi_pb
            components.append(Component(f"signal:{other.name}", other.process, other, expected))
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
    """The toy detector with hyy's photon, jet and MET settings (lepton response: the defaults)."""
    photons = PhotonResponse(resolution=s["resolution"], identification=s["photon_id"],
                             fake_z_alpha=s["fakes"]["z_alpha"], fake_tight_id_max=s["fakes"]["tight_id_max"],
                             extra_probability=s["extra_photon_probability"])
    return Detector(photons=photons, jet_resolution=s["jet_resolution"], pileup_jets_mean=s["pileup_jets_mean"],
                    met_soft_resolution=s["met_soft_resolution"])


def passes_gamgam_skim(reco: Reco) -> np.ndarray:
    """The GamGam skim: at least two photons with pT >= 25 GeV (the photon collection's threshold)."""
    return np.bincount(reco.photons["event"], minlength=reco.n) >= PHOTONS_MIN


# --------------------------------------------------------------------------- generators


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


def diphoton_decay(rng, m, pxy, y) -> Truth:
    """H -> yy: two photons, isotropic in the Higgs rest frame."""
    n = len(m)
    return Truth(n, _photon_pair(rng, m, pxy, y), empty(JET_KEYS), empty(LEPTON_KEYS), np.zeros((n, 2)))


def gen_ggh(rng, n, s, _spec=None) -> Truth:
    return higgs.gluon_fusion(rng, n, s["higgs_mass"], diphoton_decay)


def gen_vbf(rng, n, s, _spec=None) -> Truth:
    return higgs.vector_boson_fusion(rng, n, s["higgs_mass"], diphoton_decay)


def gen_wh(rng, n, s, spec=None) -> Truth:
    return higgs.w_associated(rng, n, s["higgs_mass"], diphoton_decay, spec.w_charge if spec is not None else 0,
                              s["wplus_fraction"])


def gen_zh(rng, n, s, _spec=None) -> Truth:
    return higgs.z_associated(rng, n, s["higgs_mass"], diphoton_decay)


def gen_tth(rng, n, s, _spec=None) -> Truth:
    return higgs.top_pair_associated(rng, n, s["higgs_mass"], diphoton_decay)


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
        isr, recoil = isr_jets(rng, todo, *ISR["yy" if n_fakes == 0 else "fake"])
        pxy = -recoil + soft_recoil(rng, todo)
        m = truncated_exponential(rng, slope, cont["mass_min"], cont["mass_max"], todo)
        cos = sample_pdf(rng, _qqbar_cos_theta, -0.95, 0.95, todo)
        photons = _photon_pair(rng, m, pxy, rng.normal(0, 1.3, todo), cos)
        ok = np.all((photons["pt"] > cont["generator_pt_min"]) & (np.abs(photons["eta"]) < 2.5), axis=1)
        accepted = np.flatnonzero(ok)[: n - have]
        parts.append(take(Truth(todo, photons, isr, empty(LEPTON_KEYS), np.zeros((todo, 2))), accepted))
        have += len(accepted)
    truth = stack(parts)
    if n_fakes:
        _make_fakes(rng, truth, n_fakes, s["fakes"])
    return truth


def _make_fakes(rng, truth: Truth, n_fakes: int, fakes: dict) -> None:
    """Turn one (random) or both photons into fakes: the photon candidate carries a fraction
    z of a jet's momentum; the rest of the jet stays around it (isolation, see the detector)."""
    n = truth.n
    if n_fakes == 2:
        fake = np.ones((n, 2), dtype=bool)
    else:
        first = rng.uniform(size=n) < 0.5
        fake = np.stack([first, ~first], axis=1)
    z = rng.beta(fakes["z_alpha"], 1.0, (n, 2))
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


# --------------------------------------------------------------------------- the simulation


class HyySimulation(EmbeddedSimulation):
    """H -> yy signal, diphoton continuum and (pseudo-data only) fakes, at the GamGam skim."""

    analysis = "hyy"
    skim = "GamGam"
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
        return passes_gamgam_skim(reco)

    def truth_record(self, s: dict) -> dict:
        return {"signal_strength": s["signal_strength"], "higgs_mass": s["higgs_mass"]}

    def mc_scale_factors(self, rng: np.random.Generator, reco: Reco, s: dict) -> dict:
        return {"ScaleFactor_PHOTON": (1.0 + s["photon_sf_spread"] * rng.standard_normal(reco.n)).astype(F4)}

    def truth_collections(self, truth: Truth) -> dict:
        """truth_photon: the real (not fake) hard photons."""
        real = ~truth.photons["fake"]
        event = np.repeat(np.arange(truth.n), truth.photons["fake"].shape[1])[real.ravel()]
        return {"truth_photon": {"event": event, "pt": truth.photons["pt"][real], "eta": truth.photons["eta"][real],
                                 "phi": truth.photons["phi"][real]}}
