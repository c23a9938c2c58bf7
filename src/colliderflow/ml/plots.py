"""Figures of the classifier stage (mplhep ATLAS style, Agg backend, written atomically).

Every figure carries the experiment label; on the embedded simulated dataset it says
"Simulation" and never claims to be ATLAS data.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402

from .. import io  # noqa: E402

mplhep.style.use("ATLAS")


def _label(ax, cfg: dict) -> None:
    """Experiment label top left, luminosity top right (plain text: mplhep's label is slow).

    On the embedded simulated dataset the label is "colliderflow Simulation", never ATLAS.
    """
    simulated = cfg.get("dataset", {}).get("simulated", True)
    exp, text = ("colliderflow", "Simulation") if simulated else ("ATLAS", "Open Data")
    name = ax.text(0.0, 1.01, exp, transform=ax.transAxes, fontweight="bold", ha="left", va="bottom")
    ax.annotate(" " + text, xy=(1.0, 0.0), xycoords=name, style="italic", ha="left", va="bottom")
    lumi = cfg.get("lumi_fb")
    right = f"{lumi:g} fb$^{{-1}}$ (13 TeV)" if lumi else "13 TeV"
    ax.text(1.0, 1.01, right, transform=ax.transAxes, ha="right", va="bottom")


def _save(fig, path: Path) -> None:
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def loss_curves(history: dict, path: Path, cfg: dict, xlabel: str = "epoch") -> None:
    fig, ax = plt.subplots()
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    ax.plot(epochs, history["train_loss"], label="train")
    ax.plot(epochs, history["val_loss"], label="validation")
    ax.axvline(history["best_epoch"] + 1, color="grey", ls=":", label="best")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    ax.legend()
    _label(ax, cfg)
    _save(fig, path)


def roc_curves(curves: dict[str, tuple], path: Path, cfg: dict) -> None:
    """ROC(s): name -> (background efficiency, signal efficiency); background rejection on a log axis."""
    fig, ax = plt.subplots()
    for name, (bkg_eff, sig_eff) in curves.items():
        bkg_eff, sig_eff = np.asarray(bkg_eff), np.asarray(sig_eff)
        keep = bkg_eff > 0
        ax.plot(sig_eff[keep], 1.0 / bkg_eff[keep], label=name)
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel("signal efficiency")
    ax.set_ylabel("1 / background efficiency")
    ax.legend()
    _label(ax, cfg)
    _save(fig, path)


def score_distributions(frame, sets: dict, path: Path, cfg: dict, bins: int = 40) -> None:
    """Train (filled) and test (points) score shapes of signal and background: overtraining check."""
    fig, ax = plt.subplots()
    edges = np.linspace(0, 1, bins + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    score = frame["score"].to_numpy()
    for split, style in (("train", "hist"), ("test", "points")):
        training_set = sets[split]
        s = score[training_set.index]
        w = np.abs(training_set.events.frame["weight"].to_numpy())
        for is_signal, colour, name in ((True, "tab:red", "signal"), (False, "tab:blue", "background")):
            pick = (training_set.label > 0.5) == is_signal
            values, _ = np.histogram(s[pick], edges, weights=w[pick], density=True)
            if style == "hist":
                ax.hist(centres, edges, weights=values, histtype="stepfilled", alpha=0.3, color=colour,
                        label=f"{name} (train)")
            else:
                sq, _ = np.histogram(s[pick], edges, weights=w[pick] ** 2)
                raw, _ = np.histogram(s[pick], edges, weights=w[pick])
                err = np.divide(np.sqrt(sq), raw, out=np.zeros_like(sq), where=raw > 0) * values
                ax.errorbar(centres, values, yerr=err, fmt="o", ms=3, color=colour, label=f"{name} (test)")
    ax.set_yscale("log")
    ax.set_xlabel("classifier score")
    ax.set_ylabel("normalised")
    ax.legend(fontsize="small")
    _label(ax, cfg)
    _save(fig, path)


def importance(values: dict[str, float], kind: str, path: Path, cfg: dict) -> None:
    names = sorted(values, key=values.get)
    fig, ax = plt.subplots(figsize=(8, max(4, 0.3 * len(names) + 1.5)))
    ax.barh(np.arange(len(names)), [values[n] for n in names])
    ax.set_yticks(np.arange(len(names)), names, fontsize="small")
    ax.set_xlabel(f"importance: {kind}")
    _label(ax, cfg)
    _save(fig, path)


def z_curves(curves: dict[str, tuple], baseline: float | None, path: Path, cfg: dict) -> None:
    """Asimov Z against the score threshold (name -> (thresholds, Z)); baseline = no score cut."""
    fig, ax = plt.subplots()
    for name, (threshold, z) in curves.items():
        ax.plot(threshold, z, label=name)
    if baseline is not None:
        ax.axhline(baseline, color="black", ls="--", label="cut-based (no score cut)")
    ax.set_xlabel("score threshold")
    ax.set_ylabel("Asimov Z in the mass window")
    ax.set_ylim(bottom=0)
    ax.legend()
    _label(ax, cfg)
    _save(fig, path)


def model_plots(outdir: Path, history: dict, metrics: dict, frame, sets: dict, cfg: dict) -> None:
    """The five plots of one trained model."""
    name = metrics["model"]
    loss_curves(history, outdir / "loss.png", cfg, "boosting round" if metrics["type"] == "bdt" else "epoch")
    roc = metrics["roc_curve"]
    roc_curves({name: (roc["background_efficiency"], roc["signal_efficiency"])}, outdir / "roc.png", cfg)
    score_distributions(frame, sets, outdir / "scores.png", cfg)
    importance(metrics["importance"]["values"], metrics["importance"]["kind"], outdir / "importance.png", cfg)
    z = metrics["z_curve"]
    z_curves({name: (z["threshold"], z["z"])}, metrics["z_inclusive"], outdir / "zcurve.png", cfg)

