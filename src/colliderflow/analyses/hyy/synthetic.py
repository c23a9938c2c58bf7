"""Toy features Parquet files for the ML stage's tests and benchmark (not physics).

The toy is shaped like the hyy analysis's features (its columns; the observable column named
by the hyy analysis). Signal (ggH, VBF) and background (diphoton MC and pseudo-data) differ in
a few features (photon pT over the observable, photon eta, jet multiplicity and VBF-like
dijets) so a classifier has something to learn; the observable is a Gaussian peak on a
falling exponential, and the pseudo-data hold the expected signal. Also ``default_config``:
a full hyy config dict (schema and hyy defaults filled, through ``config.validate``) whose
sample catalogue matches the toy samples, and ``observable``: its observable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ... import analyses, config

ANALYSIS = "hyy"

SAMPLES = {
    "data": {"kind": "data", "process": "data", "files": [{"name": "toy_data"}]},
    "ggH": {"kind": "signal", "process": "ggH", "files": [{"name": "toy_ggH"}]},
    "VBF": {"kind": "signal", "process": "VBF", "files": [{"name": "toy_VBF"}]},
    "yy": {"kind": "background", "process": "yy", "files": [{"name": "toy_yy"}]},
}

# per-process toy physics: photon pT/m scales, photon |eta| width, jets per event, jet pT scale and eta width
STYLE = {
    "background": dict(ratio1=0.10, ratio2=0.06, eta=1.4, jets=0.7, jet_pt=20.0, jet_eta=1.6),
    "ggH": dict(ratio1=0.22, ratio2=0.12, eta=0.9, jets=1.0, jet_pt=35.0, jet_eta=1.5),
    "VBF": dict(ratio1=0.22, ratio2=0.12, eta=0.9, jets=2.6, jet_pt=45.0, jet_eta=2.8),
}


def default_config(ml: dict | None = None, samples: dict | None = None, observable: dict | None = None) -> dict:
    """A validated hyy config with defaults filled, for the toy samples (or ``samples``)."""
    cfg = {"analysis": ANALYSIS, "dataset": {"name": "toy", "simulated": True},
           "lumi_fb": 36.1, "samples": samples or SAMPLES, "ml": ml or {}}
    if observable is not None:
        cfg["observable"] = observable
    return config.validate(cfg, "toy config")


def observable(cfg: dict | None = None):
    """The observable of a toy config (default: ``default_config()``), as a command resolves it."""
    cfg = cfg or default_config()
    return analyses.get(cfg["analysis"]).observable(cfg)


def _mass(rng, n: int, signal: bool) -> np.ndarray:
    if signal:
        return rng.normal(125.0, 1.7, n)
    return 105.0 + np.minimum(rng.exponential(30.0, n), 54.999)


def _jagged(counts: np.ndarray, pt: np.ndarray, eta: np.ndarray, phi: np.ndarray) -> dict:
    """Sort objects by decreasing pT within each event; offsets for Parquet lists."""
    event = np.repeat(np.arange(len(counts)), counts)
    order = np.lexsort((-pt, event))
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int32)
    return {"offsets": offsets, "pt": pt[order], "eta": eta[order], "phi": phi[order],
            "e": pt[order] * np.cosh(eta[order])}


def _leading(objects: dict, counts: np.ndarray, rank: int, field: str) -> np.ndarray:
    has = counts > rank
    out = np.full(len(counts), np.nan)
    out[has] = objects[field][objects["offsets"][:-1][has] + rank]
    return out


def toy_events(rng, n: int, style: dict, signal: bool) -> dict[str, np.ndarray]:
    """Columns of ``n`` toy events of one process."""
    m = _mass(rng, n, signal)
    r1 = 0.35 + rng.exponential(style["ratio1"], n)
    r2 = np.minimum(0.25 + rng.exponential(style["ratio2"], n), r1)
    eta1 = np.clip(rng.normal(0, style["eta"], n), -2.37, 2.37)
    eta2 = np.clip(rng.normal(0, style["eta"], n), -2.37, 2.37)
    phi1 = rng.uniform(-np.pi, np.pi, n)
    phi2 = np.angle(np.exp(1j * (phi1 + np.pi + rng.normal(0, 0.4, n))))
    pt1, pt2 = r1 * m, r2 * m
    px, py = pt1 * np.cos(phi1) + pt2 * np.cos(phi2), pt1 * np.sin(phi1) + pt2 * np.sin(phi2)
    counts = np.minimum(rng.poisson(style["jets"], n), 6)
    total = counts.sum()
    jets = _jagged(counts, 25.0 + rng.exponential(style["jet_pt"], total),
                   np.clip(rng.normal(0, style["jet_eta"], total), -4.5, 4.5), rng.uniform(-np.pi, np.pi, total))
    jets["btag"] = (rng.random(total) < 0.1).astype(np.float32)
    j1 = {f: _leading(jets, counts, 0, f) for f in ("pt", "eta", "phi", "e")}
    j2 = {f: _leading(jets, counts, 1, f) for f in ("pt", "eta", "phi", "e")}
    deta_jj = np.abs(j1["eta"] - j2["eta"])
    dphi_jj = np.abs(np.angle(np.exp(1j * (j1["phi"] - j2["phi"]))))
    lep_counts = (rng.random(n) < 0.03).astype(np.int64)
    leps = _jagged(lep_counts, 15.0 + rng.exponential(30.0, lep_counts.sum()),
                   rng.normal(0, 1.2, lep_counts.sum()), rng.uniform(-np.pi, np.pi, lep_counts.sum()))
    deta = eta1 - eta2
    return {
        analyses.get(ANALYSIS).observable_column: m, "y1_pt": pt1, "y2_pt": pt2, "y1_eta": eta1, "y2_eta": eta2, "y1_phi": phi1, "y2_phi": phi2,
        "y1_e": pt1 * np.cosh(eta1), "y2_e": pt2 * np.cosh(eta2), "y1_pt_over_myy": r1, "y2_pt_over_myy": r2,
        "pt_yy": np.hypot(px, py), "y_yy": 0.5 * (eta1 + eta2), "phi_yy": np.arctan2(py, px),
        "costheta_cs": np.abs(np.tanh(deta / 2)), "dphi_yy": np.abs(np.angle(np.exp(1j * (phi1 - phi2)))),
        "deta_yy": np.abs(deta), "ptt_yy": np.abs(px * np.sin(phi1) - py * np.cos(phi1)),
        "n_jets": counts, "n_bjets": np.bincount(np.repeat(np.arange(n), counts), weights=jets["btag"], minlength=n),
        "j1_pt": j1["pt"], "j1_eta": j1["eta"], "j1_phi": j1["phi"], "j1_e": j1["e"],
        "j2_pt": j2["pt"], "j2_eta": j2["eta"], "j2_phi": j2["phi"], "j2_e": j2["e"],
        "m_jj": np.sqrt(2 * j1["pt"] * j2["pt"] * (np.cosh(deta_jj) - np.cos(dphi_jj))),
        "deta_jj": deta_jj, "dphi_jj": dphi_jj, "ht": np.bincount(np.repeat(np.arange(n), counts),
                                                                   weights=jets["pt"], minlength=n),
        "n_leptons": lep_counts, "met": rng.exponential(20.0, n), "met_phi": rng.uniform(-np.pi, np.pi, n),
        "_lists": {"photon": {"offsets": np.arange(0, 2 * n + 1, 2, dtype=np.int32),
                              "pt": np.column_stack([pt1, pt2]).ravel(), "eta": np.column_stack([eta1, eta2]).ravel(),
                              "phi": np.column_stack([phi1, phi2]).ravel(),
                              "e": np.column_stack([pt1 * np.cosh(eta1), pt2 * np.cosh(eta2)]).ravel()},
                   "jet": jets, "lep": leps},
    }


def _table(columns: dict, meta: dict) -> pa.Table:
    arrays = {k: pa.array(np.asarray(v)) for k, v in meta.items()}
    for name, values in columns.items():
        if name == "_lists":
            continue
        values = np.asarray(values)
        arrays[name] = pa.array(values.astype(np.int32) if name in ("n_jets", "n_bjets", "n_leptons") else values)
    for prefix, objects in columns["_lists"].items():
        offsets = pa.array(objects["offsets"], pa.int32())
        for field in ("pt", "eta", "phi", "e", "btag"):
            if field in objects:
                arrays[f"{prefix}_{field}"] = pa.ListArray.from_arrays(offsets, pa.array(objects[field], pa.float32()))
    return pa.table(arrays)


def _concat(parts: list[dict]) -> dict:
    """Concatenate toy event blocks, shifting each block's list offsets."""
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "_lists"}
    out["_lists"] = {}
    for prefix, first in parts[0]["_lists"].items():
        blocks = [p["_lists"][prefix] for p in parts]
        shifts = np.cumsum([0] + [int(b["offsets"][-1]) for b in blocks])
        merged = {"offsets": np.concatenate([b["offsets"][:-1] + shift for b, shift in zip(blocks, shifts)]
                                            + [shifts[-1:]]).astype(np.int32)}
        merged.update({f: np.concatenate([b[f] for b in blocks]) for f in first if f != "offsets"})
        out["_lists"][prefix] = merged
    return out


def write_features(directory: str | Path, n_events: int = 4000, seed: int = 0, signal_fraction: float = 0.03,
                   mc_weight_spread: float = 0.0) -> Path:
    """Write ``<sample>.parquet`` for the toy samples into ``directory``.

    ``n_events`` per MC sample and for the pseudo-data; the pseudo-data hold a fraction
    ``signal_fraction`` of signal, which the signal MC weights reproduce. A non-zero
    ``mc_weight_spread`` gives MC weights a spread, including a few negative weights.
    """
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    n_signal_data = int(round(signal_fraction * n_events))
    expected_signal = {"ggH": 0.87 * n_signal_data, "VBF": 0.13 * n_signal_data}
    for index, (sample, entry) in enumerate(SAMPLES.items()):
        if sample == "data":
            columns = _concat([toy_events(rng, n_events - n_signal_data, STYLE["background"], False),
                               toy_events(rng, n_signal_data, STYLE["ggH"], True)])
            weight = np.ones(n_events)
        else:
            signal = entry["kind"] == "signal"
            columns = toy_events(rng, n_events, STYLE[sample] if signal else STYLE["background"], signal)
            total = expected_signal[sample] if signal else n_events - n_signal_data
            weight = np.full(n_events, total / n_events)
            if mc_weight_spread:
                weight = weight * rng.normal(1.0, mc_weight_spread, n_events)
        n = len(weight)
        event_number = (np.uint64(index) << np.uint64(40)) + rng.permutation(np.arange(n, dtype=np.uint64) * 7 + 1)
        split = np.array(["train"] * 6 + ["val"] * 2 + ["test"] * 2)[(event_number * np.uint64(2654435761)
                                                                      % np.uint64(2**32)) % np.uint64(10)]
        meta = {"eventNumber": event_number, "runNumber": np.full(n, 300000 + index, np.uint32),
                "channelNumber": np.full(n, index, np.uint32), "sample": np.full(n, sample),
                "process": np.full(n, entry["process"]), "kind": np.full(n, entry["kind"]),
                "label": np.full(n, entry["kind"] == "signal", np.int8), "split": split, "weight": weight}
        pq.write_table(_table(columns, meta), directory / f"{sample}.parquet")
    return directory
