"""The toy dimuon analysis's embedded simulation (SIMULATED, not real data).

A dimuon system of mass m (signal: Gaussian at ``simulate.mass``; background: a falling
exponential), transverse momentum and rapidity decays to two massless muons (signal:
1 + cos^2 theta*, background: flat; a share of the background has same-charge muons, like
fakes); each muon is found with ``muon_efficiency``. MC files hold ``mc_events`` events
with weight = cross section (fb) / events; pseudo-data hold Poisson numbers of signal
(times ``signal_strength``) and background events for the file's luminosity, so the truth
(mu, peak position) is known and written into the file next to the tree.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from colliderflow.analyses import Simulation

TRUTH_KEY = "colliderflow_simulation"  # the record every embedded simulation writes beside its tree


def decay(rng, n: int, role: str, sim: dict) -> dict:
    """(n, 2) arrays pt, eta, phi, charge of the two muons of ``n`` generated events."""
    if role == "signal":
        m = rng.normal(sim["mass"], sim["width"], n)
        u = 4 * rng.uniform(size=n) - 2  # inverse CDF of (1 + c^2) on [-1, 1] (Cardano)
        cos = np.cbrt(u + np.sqrt(u**2 + 1)) + np.cbrt(u - np.sqrt(u**2 + 1))
    else:
        lo, hi = sim["background_mass"]
        slope = sim["background_slope"]
        m = lo - np.log1p(-rng.uniform(size=n) * -np.expm1(-slope * (hi - lo))) / slope
        cos = rng.uniform(-1, 1, n)
    pt = rng.exponential(sim["pt_mean"][role], n)
    y = rng.normal(0.0, sim["rapidity_width"][role], n)
    phi = rng.uniform(-np.pi, np.pi, n)
    mt = np.hypot(m, pt)
    energy = mt * np.cosh(y)
    beta = np.stack([pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y)]) / energy
    gamma = energy / m
    phi_star, sin = rng.uniform(-np.pi, np.pi, n), np.sqrt(1 - cos**2)
    rest = 0.5 * m * np.stack([sin * np.cos(phi_star), sin * np.sin(phi_star), cos])
    muons = {k: np.empty((n, 2)) for k in ("pt", "eta", "phi")}
    for i, d in enumerate((rest, -rest)):  # boost each daughter to the lab
        p = d + (gamma**2 / (gamma + 1) * np.sum(beta * d, axis=0) + gamma * 0.5 * m) * beta
        muons["pt"][:, i] = np.hypot(p[0], p[1])
        muons["eta"][:, i] = np.arcsinh(p[2] / muons["pt"][:, i])
        muons["phi"][:, i] = np.arctan2(p[1], p[0])
    charge = rng.choice([-1, 1], n)
    same = rng.uniform(size=n) < (sim["same_sign_fraction"] if role == "background" else 0.0)
    muons["charge"] = np.stack([charge, np.where(same, charge, -charge)], axis=1)
    return muons


def jagged(muons: dict, found: np.ndarray) -> ak.Array:
    """The found muons of each event, pT-ordered, as a record of jagged arrays."""
    order = np.argsort(-np.where(found, muons["pt"], -1.0), axis=1)
    keep = np.take_along_axis(found, order, axis=1)
    counts = keep.sum(axis=1)
    dtypes = {"pt": np.float32, "eta": np.float32, "phi": np.float32, "charge": np.int32}
    return ak.zip({k: ak.unflatten(np.take_along_axis(muons[k], order, axis=1)[keep].astype(t), counts)
                   for k, t in dtypes.items()})


class DimuonSimulation(Simulation):
    def truth(self, cfg: dict) -> dict:
        return {"mu": float(cfg["simulate"]["signal_strength"]), "mass": float(cfg["simulate"]["mass"])}

    def simulate_file(self, cfg: dict, file_name: str, out_path) -> dict:
        sim = cfg["simulate"]
        sample, spec, entry = self.catalogue_entry(cfg, file_name)
        seed = int.from_bytes(hashlib.sha256(f"{sim['seed']}:{file_name}".encode()).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        if spec["kind"] == "data":
            lumi = entry.get("lumi_fb", cfg["lumi_fb"])
            counts = {"signal": rng.poisson(sim["signal_strength"] * sim["xsec_fb"]["signal"] * lumi),
                      "background": rng.poisson(sim["xsec_fb"]["background"] * lumi)}
            parts = [decay(rng, n, role, sim) for role, n in counts.items()]
            muons = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
            shuffle = rng.permutation(sum(counts.values()))
            muons = {k: v[shuffle] for k, v in muons.items()}
            weight = np.ones(len(shuffle))
        else:
            role = "signal" if spec["kind"] == "signal" else "background"
            counts = {role: sim["mc_events"][role]}
            muons = decay(rng, counts[role], role, sim)
            weight = np.full(counts[role], sim["xsec_fb"][role] / counts[role])
        n = len(weight)
        found_mu = rng.uniform(size=(n, 2)) < sim["muon_efficiency"]
        truth = {"simulated": True, "file": file_name, "sample": sample, "kind": spec["kind"],
                 "generated": {k: int(v) for k, v in counts.items()},
                 "signal_strength": sim["signal_strength"], "mass": sim["mass"]}
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
        with uproot.recreate(tmp) as handle:  # written aside and renamed: never a half file
            handle[TRUTH_KEY] = json.dumps(truth, sort_keys=True)
            branches = {"mu": jagged(muons, found_mu), "weight": weight,
                        "eventNumber": (seed % 2**40 << 20) + np.arange(n, dtype=np.uint64)}
            # a TTree (uproot's default for a dict is an RNTuple) with branches mu_pt, ... and counter nmu
            types = {k: v.type.content if k == "mu" else v.dtype for k, v in branches.items()}
            tree = handle.mktree("events", types, counter_name=lambda name: f"n{name}",
                                 field_name=lambda outer, inner: f"{outer}_{inner}")
            tree.extend(branches)
        os.replace(tmp, out_path)
        return {**truth, "written": n}
