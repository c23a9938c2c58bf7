"""Figures of the classifier stage, in the one figure style of ``colliderflow.plotting``.

Every figure carries the experiment label (``plotting.experiment_label``: on the embedded
simulated dataset it says "Simulation"); axis labels of the observable come from the analysis.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from .. import plotting

if TYPE_CHECKING:
    from ..analyses.interface import Observable

plotting.use_style()


def _label(ax, cfg: dict) -> None:
    plotting.experiment_label(ax, cfg.get("dataset", {}).get("simulated", True), cfg.get("lumi_fb"))


def _no_curve(ax, text: str) -> None:
    """Say in the plot why it has nothing to draw (e.g. the cutbased model trains nothing)."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", wrap=True)


def loss_curves(history: dict, path: Path, cfg: dict) -> None:
    """Train and validation loss per step (``history["step"]``: epoch, boosting round); a model
    that trains nothing gets a plot that says so (``history["note"]``)."""
    fig, ax = plt.subplots()
    if history["train_loss"]:
        epochs = np.arange(1, len(history["train_loss"]) + 1)
        ax.plot(epochs, history["train_loss"], label="train")
        ax.plot(epochs, history["val_loss"], label="validation")
        ax.axvline(history["best_epoch"] + 1, color="grey", ls=":", label="best")
        ax.legend()
    else:
        _no_curve(ax, history.get("note", "no training"))
    ax.set_xlabel(history.get("step") or "training step")
    ax.set_ylabel("loss")
    _label(ax, cfg)
    plotting.save(fig, path)


def roc_curves(curves: dict[str, tuple], path: Path, cfg: dict, xlabel: str = "signal efficiency",
               ylabel: str = "1 / background efficiency") -> None:
    """ROC(s): name -> (background efficiency, signal efficiency); background rejection on a log axis.

    A ROC of one point (a constant score: the cutbased model's (1, 1)) is drawn as a marker; no
    curve (a binary model's per-class ROC) gives a plot that says so.
    """
    fig, ax = plt.subplots()
    for name, (bkg_eff, sig_eff) in curves.items():
        bkg_eff, sig_eff = np.asarray(bkg_eff), np.asarray(sig_eff)
        keep = bkg_eff > 0
        style = {"marker": "o", "ls": "none"} if keep.sum() == 1 else {}
        ax.plot(sig_eff[keep], 1.0 / bkg_eff[keep], label=name, **style)
    if curves:
        ax.set_yscale("log")
        ax.legend(fontsize="small")
    else:
        _no_curve(ax, "signal against background: no classes (ml.models.<name>.multiclass)")
    ax.set_xlim(0, 1.05)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _label(ax, cfg)
    plotting.save(fig, path)


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
    plotting.save(fig, path)


def importance(result: dict, path: Path, cfg: dict) -> None:
    """Importance per input (``metrics["importance"]``), with the Integrated Gradients attributions
    in a second panel where the kind gives them; a model with no input (cutbased) gets a plot that
    says so."""
    panels = [(result["kind"], result["values"])]
    if "integrated_gradients" in result:
        attribution = result["integrated_gradients"]
        panels.append((attribution["kind"], attribution["values"]))
    names = sorted(result["values"], key=result["values"].get)
    fig, axes = plt.subplots(1, len(panels), figsize=(8 * len(panels), max(4, 0.3 * len(names) + 1.5)),
                             sharey=True, squeeze=False)
    for ax, (kind, values) in zip(axes[0], panels):
        if names:
            ax.barh(np.arange(len(names)), [values[n] for n in names])
            if ax is axes[0][0]:
                ax.set_yticks(np.arange(len(names)), names, fontsize="small")
            ax.ticklabel_format(axis="x", style="plain", useOffset=False)
            ax.set_xlabel(kind, fontsize="small")
        else:
            _no_curve(ax, kind)
            ax.set_xlabel("importance")
        _label(ax, cfg)
    plotting.save(fig, path)


def z_curves(curves: dict[str, tuple], reference: tuple[str, float] | None, path: Path, cfg: dict,
             observable: "Observable") -> None:
    """Asimov Z in the observable's window against the score threshold (name -> (thresholds, Z));
    ``reference``: (label, Z) drawn as a dashed line (no score cut, or the baseline's best Z)."""
    fig, ax = plt.subplots()
    for name, (threshold, z) in curves.items():
        ax.plot(threshold, z, label=name)
    if reference is not None:
        ax.axhline(reference[1], color="black", ls="--", label=reference[0])
    ax.set_xlabel("score threshold")
    lo, hi = observable.window
    unit = f" {observable.unit}" if observable.unit else ""
    ax.set_ylabel(f"Asimov Z, {observable.label} in [{lo:g}, {hi:g}){unit}")
    ax.set_ylim(bottom=0)
    ax.legend()
    _label(ax, cfg)
    plotting.save(fig, path)


def speedup(metrics: dict, path: Path, cfg: dict) -> None:
    """The model's speedup as a filter against the score threshold (``metrics["filter"]``), with
    its maximum marked and the inputs in the title."""
    fig, ax = plt.subplots()
    curve = metrics["curve"]
    ax.plot(curve["threshold"], curve["speedup"])
    ax.plot(metrics["threshold_at_max"], metrics["speedup_max"], "o", color="black",
            label=f"max {metrics['speedup_max']:.3g} at {metrics['threshold_at_max']:.3g} "
                  f"(TPR {metrics['tpr_at_max']:.3f}, FPR {metrics['fpr_at_max']:.3g})\n"
                  f"cost ratio t_s/t_g {metrics['cost_ratio']:g}, pass rate {metrics['pass_rate']:.3g}")
    ax.axhline(1.0, color="black", ls="--", lw=0.8)
    ax.set_xlabel("score threshold")
    ax.set_ylabel("speedup as a filter")
    ax.set_ylim(0, 1.3 * max(metrics["speedup_max"], 1.0))
    ax.legend()
    _label(ax, cfg)
    plotting.save(fig, path)


def confusion(metrics: dict | None, path: Path, cfg: dict) -> None:
    """The confusion matrix of a multiclass model (``metrics["classes"]``), each true class's
    row normalised (its weighted fraction predicted as each class); a binary model gets a plot
    that says it has no classes."""
    fig, ax = plt.subplots(figsize=(7, 6))
    if metrics is None:
        _no_curve(ax, "signal against background: no classes (ml.models.<name>.multiclass)")
    else:
        names, matrix = metrics["names"], np.asarray(metrics["confusion"]["normalised"])
        image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="white" if value > 0.5 else "black")
        ax.set_xticks(np.arange(len(names)), names)
        ax.set_yticks(np.arange(len(names)), names)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        fig.colorbar(image, ax=ax, label="fraction of the true class (physics weights)")
        ax.set_title(f"accuracy {metrics['accuracy']:.3f}, balanced {metrics['balanced_accuracy']:.3f}",
                     fontsize="small", loc="right")
    _label(ax, cfg)
    plotting.save(fig, path)


def model_plots(outdir: Path, history: dict, metrics: dict, frame, sets: dict, cfg: dict,
                observable: "Observable") -> None:
    """The eight plots of one trained model (two of them about the classes of a multiclass model)."""
    name = metrics["model"]
    loss_curves(history, outdir / "loss.png", cfg)
    roc = metrics["roc_curve"]
    roc_curves({name: (roc["background_efficiency"], roc["signal_efficiency"])}, outdir / "roc.png", cfg)
    score_distributions(frame, sets, outdir / "scores.png", cfg)
    importance(metrics["importance"], outdir / "importance.png", cfg)
    z = metrics["z_curve"]
    z_curves({name: (z["threshold"], z["z"])}, ("no score cut", metrics["z_inclusive"]), outdir / "zcurve.png", cfg,
             observable)
    speedup(metrics["filter"], outdir / "speedup.png", cfg)
    per_class = metrics.get("classes")
    confusion(per_class, outdir / "confusion.png", cfg)
    roc_curves({} if per_class is None else
               {f"{c} vs rest (AUC {per_class['roc_auc'][c]:.3f})": (r["background_efficiency"], r["signal_efficiency"])
                for c, r in per_class["roc_curve"].items()}, outdir / "roc_classes.png", cfg,
               xlabel="efficiency of the class", ylabel="1 / efficiency of the rest")

