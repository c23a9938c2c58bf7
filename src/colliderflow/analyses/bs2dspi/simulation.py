"""The Bs -> Ds pi embedded simulation (SIMULATED, not real data): LHCb DecayTreeTuple-style
files (``colliderflow.ntuples.lhcb``), one row per candidate, MeV.

Components of the pseudo-data (yields per fb^-1 times the file's ``lumi_fb``, Poisson):

- signal Bs0 -> Ds- pi+ (times ``signal_strength``): B mass Gaussian at ``bs_mass`` with
  ``resolution``, plus a low-side radiative tail (a share ``tail_fraction`` of the candidates
  lose an exponential amount of mass of mean ``tail_scale``);
- B0 -> Ds- pi+: the same decay topology, a small peak ``b0_shift`` below (share ``b0_fraction``
  of the signal);
- partially reconstructed Bs -> Ds- rho+ (pi0 missed): a mass below the kinematic endpoint
  m(Bs) - m(pi0), smeared by the resolution, with the signal's displaced-decay variables;
- combinatorial background: B mass exponential (``combinatorial_slope``) over
  ``generated_mass``; tracks from other heavy-flavour decays (displaced but not pointing back to
  the PV: ``combinatorial_displaced_fraction``) or prompt, a share with a fake Ds (flat Ds mass)
  and misidentified kaons or pion.

Displaced-decay variables: a B flies beta*gamma*c*tau (so B_FDCHI2_OWNPV is large), points back
to its PV (B_IPCHI2_OWNPV small, B_DIRA_OWNPV within ~1e-5 of 1) and its pion misses the PV
(pi_IPCHI2_OWNPV large); combinatorial candidates are the opposite. A share
``extra_candidate_fraction`` of the events gets one more candidate (the Ds with another pion of
the event), with the same run and event number. Signal MC files hold ``mc_events`` truth-matched
signal candidates (``B_BKGCAT`` = 0, plus the extra candidates, ``B_BKGCAT`` = 60). The truth
(signal strength, peak position, generated yields) is written beside the tree.
"""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np

from ...ntuples import lhcb, rootfile
from ...simulation import Simulation

TRUTH_KEY = "colliderflow_simulation"
DS_MASS, PI0_MASS, C_MM_PER_NS = 1968.35, 134.98, 299.792458
BS_CTAU_MM, PIDS = 0.4527, {"signal": 531, "b0": 511, "partreco": 531, "combinatorial": 0}


def _truncated_exponential(rng, n, lo, hi, slope):
    """Masses in [lo, hi) falling as exp(-slope m) (inverse CDF)."""
    return lo - np.log1p(-rng.uniform(size=n) * -np.expm1(-slope * (hi - lo))) / slope


def b_mass(rng, n: int, component: str, sim: dict) -> np.ndarray:
    res = sim["resolution"]
    if component in ("signal", "b0"):
        peak = sim["bs_mass"] - (sim["b0_shift"] if component == "b0" else 0.0)
        m = rng.normal(peak, res, n)
        tail = rng.uniform(size=n) < sim["tail_fraction"]
        return m - tail * rng.exponential(sim["tail_scale"], n)
    if component == "partreco":  # Ds rho with the pi0 missed: below the endpoint, falling towards it
        endpoint = sim["bs_mass"] - PI0_MASS
        return endpoint - 250.0 * rng.beta(1.5, 2.5, n) + rng.normal(0.0, res, n)
    return _truncated_exponential(rng, n, *sim["generated_mass"], sim["combinatorial_slope"])


def candidates(rng, n: int, component: str, sim: dict) -> dict:
    """The branches of ``n`` candidates of one component (MeV, mm)."""
    displaced = component != "combinatorial"
    m = b_mass(rng, n, component, sim)
    pt = rng.gamma(3.0, 2500.0, n) if displaced else 1500.0 + rng.gamma(2.0, 1800.0, n)
    eta = rng.uniform(2.0, 5.0, n)
    p = pt * np.cosh(eta)
    if displaced:
        fd = rng.exponential(p / sim["bs_mass"] * BS_CTAU_MM)
        ip_chi2 = rng.chisquare(2, n)
        theta = np.abs(rng.normal(0, 0.004, n))
        pi_ip_chi2 = rng.lognormal(np.log(150.0), 1.0, n)
        ds_mass = rng.normal(DS_MASS, 7.0, n)
        fake_ds = np.zeros(n, bool)
        vertex_scale = 1.0
    else:  # tracks of other b and c decays (displaced, but not pointing back) and prompt tracks
        from_b = rng.uniform(size=n) < sim["combinatorial_displaced_fraction"]
        fd = np.abs(rng.normal(0, 0.4, n)) + from_b * rng.exponential(1.5, n)
        ip_chi2 = rng.chisquare(2, n) * 4 + rng.exponential(30.0, n)
        theta = np.abs(rng.normal(0, 0.04, n)) + from_b * np.abs(rng.normal(0, 0.05, n))
        pi_ip_chi2 = np.where(from_b, rng.lognormal(np.log(60.0), 1.2, n), rng.chisquare(2, n) * 2)
        fake_ds = rng.uniform(size=n) < sim["fake_ds_fraction"]
        ds_mass = np.where(fake_ds, rng.uniform(1900.0, 2040.0, n), rng.normal(DS_MASS, 7.0, n))
        vertex_scale = 3.0
    sigma_fd = 0.12 + 0.01 * fd
    fd_chi2 = (fd / sigma_fd) ** 2 + rng.chisquare(1, n)
    ds_share = rng.uniform(0.45, 0.85, n)
    ds_pt, pi_pt = pt * ds_share, np.maximum(pt * (1 - ds_share) * rng.uniform(0.8, 1.2, n), 300.0)
    kaon_shares = rng.dirichlet([3, 3, 2], n)
    misid = rng.uniform(size=(n, 3)) < (0.0 if displaced else sim["combinatorial_misid_fraction"])
    kaon_pidk = np.where(misid[:, :2], rng.normal(-6, 8, (n, 2)), rng.normal(18, 9, (n, 2)))
    pi_is_kaon = misid[:, 2] | (~displaced & (rng.uniform(size=n) < 0.1))
    pi_pidk = np.where(pi_is_kaon, rng.normal(12, 8, n), rng.normal(-15, 9, n))
    ds_fd = rng.exponential(ds_pt * np.cosh(eta) / DS_MASS * 0.151)
    l0 = rng.uniform(size=n) < 1 - np.exp(-pt / 6000.0)
    hlt1 = rng.uniform(size=n) < np.where(pi_ip_chi2 > 16, 0.92, 0.35)
    hlt2 = (fd_chi2 > 100) & (rng.uniform(size=n) < 0.95)
    ip_sigma = 0.015
    return {
        "nPVs": 1 + rng.poisson(0.8, n),
        "B_M": m, "B_P": p, "B_PT": pt, "B_ETA": eta,
        "B_FD_OWNPV": fd, "B_FDCHI2_OWNPV": fd_chi2, "B_IP_OWNPV": np.sqrt(ip_chi2) * ip_sigma,
        "B_IPCHI2_OWNPV": ip_chi2, "B_DIRA_OWNPV": np.cos(theta),
        "B_ENDVERTEX_CHI2": rng.chisquare(3, n) * vertex_scale, "B_TAU": fd * m / p / C_MM_PER_NS,
        "B_L0HadronDecision_TOS": l0, "B_Hlt1TrackMVADecision_TOS": hlt1, "B_Hlt2Topo2BodyDecision_TOS": hlt2,
        "Ds_M": ds_mass, "Ds_P": ds_pt * np.cosh(eta), "Ds_PT": ds_pt, "Ds_FD_OWNPV": fd + ds_fd,
        "Ds_FDCHI2_OWNPV": ((fd + ds_fd) / sigma_fd) ** 2 + rng.chisquare(1, n),
        "Ds_IPCHI2_OWNPV": np.where(displaced, rng.lognormal(np.log(40.0), 1.0, n), rng.chisquare(2, n) * 5),
        "Ds_DIRA_OWNPV": np.cos(np.abs(rng.normal(0, 0.01 if displaced else 0.05, n))),
        "Ds_ENDVERTEX_CHI2": rng.chisquare(3, n) * vertex_scale,
        "pi_P": pi_pt * np.cosh(eta), "pi_PT": pi_pt, "pi_IP_OWNPV": np.sqrt(pi_ip_chi2) * ip_sigma,
        "pi_IPCHI2_OWNPV": pi_ip_chi2, "pi_PIDK": pi_pidk,
        "pi_PROBNNpi": np.where(pi_is_kaon, rng.beta(2, 5, n), rng.beta(8, 2, n)),
        "Kplus_PT": ds_pt * kaon_shares[:, 0], "Kplus_PIDK": kaon_pidk[:, 0],
        "Kminus_PT": ds_pt * kaon_shares[:, 1], "Kminus_PIDK": kaon_pidk[:, 1],
        "Ds_pi_PT": ds_pt * kaon_shares[:, 2], "Ds_pi_PIDK": rng.normal(-15, 9, n),
        "B_BKGCAT": np.full(n, {"signal": 0, "b0": 0, "partreco": 50, "combinatorial": 100}[component]),
        "B_TRUEID": np.full(n, PIDS[component]),
    }


def events(rng, counts: dict, sim: dict) -> dict:
    """Candidates of every component, shuffled, with extra candidates for some events; returns
    the branches plus ``event`` (the event index of each candidate, candidates of an event
    adjacent)."""
    parts = [candidates(rng, n, component, sim) for component, n in counts.items()]
    columns = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    n = len(columns["B_M"])
    shuffle = rng.permutation(n)
    columns = {k: v[shuffle] for k, v in columns.items()}
    extra = np.flatnonzero(rng.uniform(size=n) < sim["extra_candidate_fraction"])
    if len(extra):  # the same Ds with another pion: a combinatorial candidate in the same event
        other = candidates(rng, len(extra), "combinatorial", sim)
        other["Ds_M"], other["Ds_PT"] = columns["Ds_M"][extra], columns["Ds_PT"][extra]
        other["B_BKGCAT"] = np.full(len(extra), 60)
        event = np.concatenate([np.arange(n), extra])
        columns = {k: np.concatenate([v, other[k]]) for k, v in columns.items()}
        order = np.argsort(event, kind="stable")
        columns = {k: v[order] for k, v in columns.items()}
        event = event[order]
    else:
        event = np.arange(n)
    columns["event"] = event
    return columns


class Bs2DspiSimulation(Simulation):
    def truth(self, cfg: dict) -> dict:
        """mu: the expected true signal over the signal MC's expectation. The pseudo-data hold
        ``yields_per_fb.signal * signal_strength * lumi_fb`` generated signal candidates; the
        MC generates the same decay, ``mc_events`` per file, each weighing
        ``selection.mc_candidate_weight``. Both go through the same selection, so after any cut
        the expected true signal is mu times the MC's yield (the realised count fluctuates
        around it by Poisson and binomial noise, which the fit's error covers). mu = the
        signal strength when the weight matches the simulation (the defaults do). width: the
        Gaussian core resolution (the radiative tail is extra)."""
        sim, samples = cfg["simulate"], cfg["samples"]
        data_lumi = sum(float(f.get("lumi_fb", cfg["lumi_fb"]))
                        for spec in samples.values() if spec["kind"] == "data" for f in spec["files"])
        mc_files = sum(len(spec["files"]) for spec in samples.values() if spec["kind"] == "signal")
        if not mc_files:
            raise ValueError("the bs2dspi truth needs a signal MC sample (samples: <name>: kind: signal)")
        generated = sim["yields_per_fb"]["signal"] * sim["signal_strength"] * data_lumi
        mc_yield = sim["mc_events"] * mc_files * cfg["selection"]["mc_candidate_weight"]
        return {"mu": float(generated / mc_yield), "mass": float(sim["bs_mass"]), "width": float(sim["resolution"]),
                "signal_generated": float(generated)}

    def simulate_file(self, cfg: dict, file_name: str, out_path) -> dict:
        start, cpu = time.perf_counter(), time.process_time()
        sim = cfg["simulate"]
        sample, spec, entry = self.catalogue_entry(cfg, file_name)
        seed = int.from_bytes(hashlib.sha256(f"{sim['seed']}:{file_name}".encode()).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        mc = spec["kind"] != "data"
        if mc:
            if spec["kind"] != "signal":
                raise ValueError(f"{file_name}: the bs2dspi simulation writes signal MC and data only "
                                 f"(sample {sample!r} has kind {spec['kind']!r})")
            counts = {"signal": int(sim["mc_events"])}
        else:
            lumi = float(entry.get("lumi_fb", cfg["lumi_fb"]))
            per_fb = sim["yields_per_fb"]
            signal = per_fb["signal"] * sim["signal_strength"] * lumi
            counts = {"signal": rng.poisson(signal), "b0": rng.poisson(signal * sim["b0_fraction"]),
                      "partreco": rng.poisson(per_fb["partreco"] * lumi),
                      "combinatorial": rng.poisson(per_fb["combinatorial"] * lumi)}
        columns = events(rng, counts, sim)
        event = columns.pop("event")
        n = len(event)
        first = np.r_[True, event[1:] != event[:-1]] if n else np.zeros(0, bool)
        columns["nCandidate"] = np.arange(n) - np.maximum.accumulate(np.where(first, np.arange(n), 0))
        columns["eventNumber"] = (np.uint64(seed % 2**40) << np.uint64(20)) + event.astype(np.uint64)
        columns["runNumber"] = np.full(n, int(entry.get("run", 0)) or 100000 + seed % 90000)
        if not mc:
            columns.pop("B_BKGCAT"), columns.pop("B_TRUEID")
        branches = lhcb.candidate_branches(columns, mc)
        truth = {"simulated": True, "file": file_name, "sample": sample, "kind": spec["kind"],
                 "generated": {k: int(v) for k, v in counts.items()}, "candidates": n,
                 "signal_strength": sim["signal_strength"], "mass": sim["bs_mass"]}
        with rootfile.recreate(out_path, identity=f"{seed}:{file_name}") as handle:
            handle[TRUTH_KEY] = json.dumps(truth, sort_keys=True)
            tree = handle.mktree(lhcb.FORMAT.tree, lhcb.tree_types(mc))
            tree.extend(branches)
        return {**truth, "written": n, "seconds": time.perf_counter() - start,
                "cpu_seconds": time.process_time() - cpu}
