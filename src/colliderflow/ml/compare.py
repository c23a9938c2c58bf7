"""One table of every trained model and its metrics, against the baseline model.

The baseline is the model ``ml.baseline`` (by default ``cutbased``, the analysis selection
itself, which scores every event 1), read from its metrics like any model. A model beats it
when its best Z exceeds the baseline's. Every model's ``z_inclusive`` (Z with no score cut)
must agree with the baseline's, otherwise the models were evaluated with other settings and
the table would mislead.
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

from .. import io
from ..document import write_markdown_and_html
from ..features import cross_trained
from . import plots, repeats
from .settings import baseline as baseline_of

if TYPE_CHECKING:
    from ..analyses.interface import Observable

log = logging.getLogger(__name__)


def metrics_file(models_dir: str | Path, name: str, fcfg: dict) -> Path:
    """The metrics.json that stands for model ``name``: its training's, or with cross-training
    (``features.folds`` >= 2) that of fold 0, whose model is evaluated on its own fold (1/k of
    the events, never seen by it)."""
    training = Path(models_dir) / name
    return (training / "fold0" if cross_trained(fcfg) else training) / "metrics.json"


def collect(models_dir: str | Path, names: list[str], fcfg: dict) -> dict[str, dict]:
    metrics = {}
    for name in names:
        path = metrics_file(models_dir, name, fcfg)
        if not path.is_file():
            raise FileNotFoundError(f"{path} missing: train model '{name}' first (colliderflow train --model {name})")
        metrics[name] = io.read_json(path)
    return metrics


def training_times(paths) -> dict[str, dict[str, float]]:
    """Model -> wall and CPU seconds of its training (``train_s``, ``train_cpu_s``), from the
    benchmark files Snakemake writes for rule train: ``.../train/<model>.tsv``, or with
    cross-training ``.../train/<model>/fold<i>.tsv`` (summed over the folds). A file's rows are
    repeats of the job: their mean counts. Training times are not in metrics.json, whose bytes
    are the same on every rerun."""
    times: dict[str, dict[str, float]] = {}
    for path in map(Path, paths):
        name = path.stem if path.parent.name == "train" else path.parent.name
        with open(path, newline="") as handle:
            runs = list(csv.DictReader(handle, delimiter="\t"))
        if not runs or "s" not in runs[0] or "cpu_time" not in runs[0]:
            raise ValueError(f"{path} is not a Snakemake benchmark file (columns s and cpu_time); give the "
                             "benchmark files of rule train")
        total = times.setdefault(name, {"train_s": 0.0, "train_cpu_s": 0.0})
        total["train_s"] += sum(float(run["s"]) for run in runs) / len(runs)
        total["train_cpu_s"] += sum(float(run["cpu_time"]) for run in runs) / len(runs)
    return times


def row(name: str, m: dict, ml: dict, base: dict | None, class_names: list[str]) -> dict:
    """One flat table row of a model's metrics; ``base``: the baseline's metrics (None for its
    own row); ``class_names``: the classes of the multiclass models compared (empty: none)."""
    settings = ml["metrics"]
    correlation = m["observable_correlation"]
    per_class = m.get("classes", {})
    return {
        "model": f"{name} (baseline)" if base is None else name, "type": m["type"], "loss": m["loss"],
        "roc_auc": m["roc_auc"],
        **{f"eff_s@eff_b={t:g}": m["signal_efficiency"].get(f"{t:g}") for t in settings["background_efficiencies"]},
        "z_max": m["z_max"], "threshold_at_z_max": m["threshold_at_z_max"],
        **{f"z@{t:g}": m["z_at_threshold"].get(f"{t:g}") for t in settings["thresholds"]},
        **{f"z@eff_s={e:g}": m["z_at_signal_efficiency"].get(f"{e:g}") for e in settings["signal_efficiencies"]},
        "z@none": m["z_inclusive"], "z_curve_area": m["z_curve_area"], "near_max_fraction": m["near_max_fraction"],
        **{f"R{e * 100:g}%": m["background_rejection"].get(f"{e:g}") for e in settings["rejection_signal_efficiencies"]},
        "obs_corr_sidebands": correlation.get("data_sidebands"), "obs_corr_mc": correlation.get("background_mc"),
        **({"accuracy": per_class.get("accuracy"), "balanced_accuracy": per_class.get("balanced_accuracy"),
            **{f"auc_{c}": per_class.get("roc_auc", {}).get(c) for c in class_names}} if class_names else {}),
        # a relative margin, so a model whose best cut keeps every event (Z equal to the
        # baseline's up to rounding) does not count as beating it
        "beats_baseline": None if base is None else m["z_max"] > base["z_max"] * (1 + 1e-6),
    }


def rows(metrics: dict[str, dict], baseline: str, ml: dict) -> list[dict]:
    """Table rows: the baseline first, then the other models; one flat dict per row."""
    base = metrics[baseline]
    class_names = next((m["classes"]["names"] for m in metrics.values() if "classes" in m), [])
    table = [row(baseline, base, ml, None, class_names)]
    for name, m in metrics.items():
        if name == baseline:
            continue
        if not math.isclose(m["z_inclusive"], base["z_inclusive"], rel_tol=1e-6):
            log.warning("%s: Z without a score cut %.4f differs from the baseline's %.4f (other evaluation settings?)",
                        name, m["z_inclusive"], base["z_inclusive"])
        table.append(row(name, m, ml, base, class_names))
    return table


def confusion_tables(metrics: dict[str, dict]) -> list[str]:
    """Markdown lines: the normalised confusion matrix of every multiclass model."""
    lines = []
    for name, m in metrics.items():
        if "classes" not in m:
            continue
        names, matrix = m["classes"]["names"], m["classes"]["confusion"]["normalised"]
        lines += ["", f"## Confusion matrix of {name}", "",
                  "Test split, physics weights; rows: true class (each sums to 1), columns: predicted class "
                  f"(the most probable). Accuracy {m['classes']['accuracy']:.4g}, balanced accuracy "
                  f"{m['classes']['balanced_accuracy']:.4g}.", "",
                  "| true \\ predicted | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
        lines += [f"| {true} | " + " | ".join(f"{v:.3f}" for v in values) + " |" for true, values in zip(names, matrix)]
    return lines


def markdown(table: list[dict], cfg: dict, observable: "Observable", metrics: dict[str, dict],
             repeated: list[dict] = ()) -> str:
    columns = list(table[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for entry in table:
        lines.append("| " + " | ".join(_cell(entry[c]) for c in columns) + " |")
    lo, hi = observable.window
    unit = f" {observable.unit}" if observable.unit else ""
    note = (f"Asimov Z of the events with {observable.column} in [{lo:g}, {hi:g}){unit} on the test split scaled "
            f"to the full yield, background from {cfg['ml']['background']}; Z counts as 0 where b < "
            f"{cfg['ml']['metrics']['min_background']:g} events. z@t: Z of the events with score > t; z@eff_s=e: "
            f"Z at the score cut keeping the fraction e of the signal; z@none: no score cut. R10%: background "
            f"rejection 1/eff_b at 10 % signal efficiency (ROC of the test split). obs_corr: correlation of "
            f"the score with {observable.column} in the background (sculpting check). "
            f"beats_baseline: Z_max above the baseline's ({table[0]['model']}).")
    if "train_s" in table[0]:
        note += (" train_s, train_cpu_s: wall and CPU seconds of the model's training job(s) (Snakemake's benchmark; "
                 "with cross-training summed over the folds), which vary from run to run.")
    if cfg.get("dataset", {}).get("simulated", True):
        note += " Simulated dataset."
    if any("accuracy" in entry for entry in table):
        note += (" accuracy, balanced_accuracy, auc_<class> (one class against the rest): the multiclass models, "
                 "test split.")
    return "\n".join(["# Classifier comparison", "", note, "", *lines, *repeats.table(list(repeated)),
                      *confusion_tables(metrics), ""])


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def compare(models_dir, cfg: dict, observable: "Observable", out_md, out_json, plots_dir,
            names: list[str] | None = None, out_html=None, repeated=(), train_benchmarks=()) -> list[dict]:
    """Table (Markdown, JSON, and HTML given ``out_html``) and overlaid ROC and Z curves of the
    models ``names`` (default ``ml.enabled``) and the baseline ``ml.baseline``, from their
    metrics.json in ``models_dir``; ``repeated``: the repeats JSON files of the models trained
    again (``ml.repeats``), shown as a second table of mean +- std; ``train_benchmarks``: the
    benchmark files of their trainings (``training_times``), the table's last columns."""
    ml = cfg["ml"]
    baseline = baseline_of(ml)
    names = list(ml["enabled"]) if names is None else list(names)
    names = [baseline, *(n for n in names if n != baseline)]
    metrics = collect(models_dir, names, cfg["features"])
    table = rows(metrics, baseline, ml)
    if train_benchmarks:
        times = training_times(train_benchmarks)
        for name, entry in zip(names, table):
            entry.update(times.get(name, {"train_s": None, "train_cpu_s": None}))
    summaries = [{k: v for k, v in io.read_json(path).items() if k != "provenance"} for path in repeated]
    inputs = [*(metrics_file(models_dir, n, cfg["features"]) for n in names), *map(Path, repeated),
              *map(Path, train_benchmarks)]
    io.write_json(out_json, {"baseline": baseline, "models": table, "repeats": summaries}, cfg, inputs=inputs)
    write_markdown_and_html(out_md, out_html, markdown(table, cfg, observable, metrics, summaries))
    plots_dir = Path(plots_dir)
    plots.roc_curves({n: (m["roc_curve"]["background_efficiency"], m["roc_curve"]["signal_efficiency"])
                      for n, m in metrics.items()}, plots_dir / "roc.png", cfg)
    plots.z_curves({n: (m["z_curve"]["threshold"], m["z_curve"]["z"]) for n, m in metrics.items()},
                   (f"{baseline} (baseline) Z_max", metrics[baseline]["z_max"]), plots_dir / "zcurve.png", cfg,
                   observable)
    for entry in table[1:]:
        log.info("%-14s Z_max %.3f (baseline %s %.3f)%s", entry["model"], entry["z_max"], baseline,
                 table[0]["z_max"], "" if entry["beats_baseline"] else "  <- does not beat the baseline")
    return table
