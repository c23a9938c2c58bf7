"""Figures in one style (mplhep ATLAS), and the m_yy spectrum of the skim stage.

Every figure made from the embedded dataset says "Simulation" in its label.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import hist  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .io import atomic_path  # noqa: E402

log = logging.getLogger(__name__)

PROCESS_COLOURS = {"ggH": "#e41a1c", "VBF": "#377eb8", "WH": "#4daf4a", "ZH": "#984ea3", "ttH": "#ff7f00"}


def use_style() -> None:
    mplhep.style.use("ATLAS")


def experiment_label(ax, simulated: bool, lumi_fb: float | None = None, data: bool = True) -> None:
    """ATLAS Open Data label; 'Simulation' whenever the inputs are the embedded dataset."""
    # data=True stops mplhep from adding its own "Simulation" word; ours says it instead.
    text = "Open Data Simulation" if simulated else "Open Data"
    mplhep.atlas.label(text=text, data=True, lumi=lumi_fb, ax=ax, loc=0)


def save(fig, path: str | Path) -> None:
    """Save a figure atomically (the temp name keeps the real suffix so the format is right)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp.with_suffix(path.suffix), bbox_inches="tight")
        tmp.with_suffix(path.suffix).replace(tmp)
    plt.close(fig)


def myy_spectrum(
    data_mass: np.ndarray,
    signal: dict[str, tuple[np.ndarray, np.ndarray]],
    mass_range: tuple[float, float],
    bin_width: float,
    simulated: bool,
    lumi_fb: float,
    out: str | Path,
    signal_window: tuple[float, float] = (120.0, 130.0),
) -> dict:
    """Pseudo-data (or data) points with the signal MC stacked by production mode.

    The signal is stacked on a smooth background (a 4th-order polynomial fitted to the
    data outside ``signal_window``, as in the public ATLAS example), so the small peak is visible against the
    continuum; a lower panel shows data minus that background with the signal stack.
    Returns the numbers drawn (bin edges, data counts, background, signal per process).
    """
    use_style()
    lo, hi = mass_range
    nbins = int(round((hi - lo) / bin_width))
    axis = hist.axis.Regular(nbins, lo, hi, name="m_yy", label=r"$m_{\gamma\gamma}$ [GeV]")
    data_h = hist.Hist(axis, storage=hist.storage.Int64()).fill(data_mass)
    edges, centres = axis.edges, axis.centers
    counts = data_h.values().astype(float)
    # Smooth background: a polynomial fit to the data counts (Poisson-like weights) outside
    # the signal window, so the peak does not pull it up.
    sideband = (centres < signal_window[0]) | (centres > signal_window[1])
    fit_weight = np.where(sideband, 1.0 / np.sqrt(np.maximum(counts, 1.0)), 0.0)
    coeffs = np.polyfit(centres - 125.0, counts, deg=4, w=fit_weight)
    background = np.polyval(coeffs, centres - 125.0)
    stacks = {}
    for process, (mass, weight) in signal.items():
        stacks[process] = hist.Hist(axis, storage=hist.storage.Weight()).fill(mass, weight=weight).values()

    fig, (ax, rax) = plt.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]}, figsize=(8, 8))
    names = list(stacks)
    # The signal stack sits on the background, where the data see it.
    bottom = background.copy()
    for p in names:
        ax.stairs(bottom + stacks[p], edges, baseline=bottom, fill=True, color=PROCESS_COLOURS.get(p), label=f"H→γγ {p} (MC)")
        bottom = bottom + stacks[p]
    ax.plot(centres, background, "--", color="tab:blue", label="Background (poly4 fit to sidebands)")
    label = "Pseudo-data (simulated)" if simulated else "Data"
    ax.errorbar(centres, counts, yerr=np.sqrt(counts), fmt="ko", markersize=3, label=label)
    ax.set_ylabel(f"Events / {bin_width:g} GeV")
    ax.set_ylim(0, counts.max() * 1.4 if counts.size and counts.max() > 0 else 1)
    ax.legend(loc="upper right", fontsize="small")
    experiment_label(ax, simulated, lumi_fb)
    total_signal = sum(stacks.values()) if stacks else np.zeros_like(counts)
    rax.stairs(total_signal, edges, color="tab:red", label="Signal MC")
    rax.errorbar(centres, counts - background, yerr=np.sqrt(counts), fmt="ko", markersize=3)
    rax.axhline(0, color="grey", lw=1)
    rax.set_ylabel("Data − Bkg")
    rax.set_xlabel(r"$m_{\gamma\gamma}$ [GeV]")
    rax.set_xlim(lo, hi)
    save(fig, out)
    return {
        "bin_edges": edges,
        "data": counts,
        "background_poly4": background,
        "signal": {p: v for p, v in stacks.items()},
        "expected_signal_total": float(sum(v.sum() for v in stacks.values())),
    }


def plot_myy_from_features(cfg: dict, features: list[str | Path], out: str | Path, out_json: str | Path) -> None:
    """Read the features of every sample and draw the m_yy spectrum (data vs signal MC)."""
    from .io import write_json

    data, signal = [], {}
    for path in features:
        frame = pd.read_parquet(path, columns=["m_yy", "weight", "kind", "process"])
        if frame.empty:
            continue
        kind = frame["kind"].iloc[0]
        if kind == "data":
            data.append(frame["m_yy"].to_numpy())
        elif kind == "signal":
            for process, part in frame.groupby("process"):
                m, w = signal.get(process, (np.empty(0), np.empty(0)))
                signal[process] = (np.concatenate([m, part["m_yy"]]), np.concatenate([w, part["weight"]]))
    if not data:
        raise ValueError("no data sample among the features inputs: the m_yy plot needs pseudo-data or data")
    settings = cfg["plots"]
    numbers = myy_spectrum(
        np.concatenate(data),
        signal,
        tuple(cfg["skim"]["selection"]["myy_range"]),
        settings["myy_bin_width"],
        cfg["dataset"]["simulated"],
        cfg["lumi_fb"],
        out,
    )
    numbers["simulated"] = cfg["dataset"]["simulated"]
    write_json(out_json, numbers, cfg, inputs=features)


def register(sub) -> None:
    from .cli import add_config_arguments

    parser = sub.add_parser("plot-myy", help="draw the m_yy spectrum: data with the stacked signal MC")
    add_config_arguments(parser)
    parser.add_argument("--features", nargs="+", required=True, help="features Parquet files of all samples")
    parser.add_argument("--out", required=True, help="output figure (png/pdf)")
    parser.add_argument("--out-json", required=True, help="the numbers drawn, as JSON")
    parser.set_defaults(func=_run)


def _run(args) -> int:
    from . import config

    cfg = config.load(args.configfile, args.settings)
    plot_myy_from_features(cfg, args.features, args.out, args.out_json)
    return 0
