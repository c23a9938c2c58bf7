"""Repeated trainings (``ml.repeats``): the figures of one model over its seeds, as mean +- std.

Each repeated training is a ``colliderflow train --seed S [--training-fraction CLASS=F ...]``
job of its own (rule train_repeat); ``aggregate`` reads their metrics.json per scenario (full
statistics, then each reduced-statistics scenario) and gives, per figure, the values by seed,
their mean and their standard deviation (ddof 1: the spread of one retraining).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .. import io


def figures(metrics: dict) -> dict[str, float | None]:
    """The figures of one training that are compared over seeds, by their table column:
    ROC AUC, Z_max, Z at each signal efficiency, the area under the Z curve, the background
    rejection at each signal efficiency (R10% at 0.1). None: not computable (an infinite
    rejection)."""
    return {
        "roc_auc": metrics["roc_auc"],
        "z_max": metrics["z_max"],
        **{f"z@eff_s={e}": z for e, z in metrics["z_at_signal_efficiency"].items()},
        "z_curve_area": metrics["z_curve_area"],
        **{f"R{float(e) * 100:g}%": r for e, r in metrics["background_rejection"].items()},
    }


def mean_and_std(values: list[float | None]) -> dict:
    """Mean and standard deviation (ddof 1) of the values; None where one is None."""
    known = None if any(v is None for v in values) else np.asarray(values, dtype=float)
    return {"values": values,
            "mean": None if known is None else float(known.mean()),
            "std": None if known is None else float(known.std(ddof=1))}


def aggregate(runs: dict[str, list[dict]]) -> dict:
    """``runs``: scenario -> the metrics of its trainings (one per seed). Per scenario: its
    training fractions, the seeds and every figure's summary. Refuses trainings of other
    models, a seed trained twice, or trainings of one scenario with other fractions."""
    scenarios, models = {}, set()
    for scenario, trainings in runs.items():
        seeds = [m["seed"] for m in trainings]
        fractions = {fractions_label(m["training_fractions"]) for m in trainings}
        models |= {m["model"] for m in trainings}
        if len(trainings) < 2 or len(set(seeds)) != len(seeds) or len(fractions) != 1:
            raise ValueError(f"scenario {scenario}: {len(trainings)} trainings with seeds {seeds} and training "
                             f"fractions {sorted(fractions)}; expected 2 or more distinct seeds with the same "
                             "fractions (rerun the train_repeat jobs of ml.repeats)")
        per_seed = [figures(m) for m in trainings]
        scenarios[scenario] = {
            "training_fractions": trainings[0]["training_fractions"], "seeds": seeds,
            "figures": {name: mean_and_std([f[name] for f in per_seed]) for name in per_seed[0]},
        }
    if len(models) != 1:
        raise ValueError(f"the trainings aggregated are of models {sorted(models)}: one model at a time")
    return {"model": models.pop(), "scenarios": scenarios}


def fractions_label(fractions: dict) -> str:
    return ",".join(f"{k}={v:g}" for k, v in sorted(fractions.items()))


def aggregate_files(scenarios: list[list[str]], out: str | Path) -> dict:
    """``scenarios``: [name, metrics.json, ...] per scenario (the command line's --scenario);
    writes ``out`` (the model's repeats JSON) and returns it."""
    files = {name: [Path(p) for p in paths] for name, *paths in scenarios}
    result = aggregate({name: [io.read_json(p) for p in paths] for name, paths in files.items()})
    io.write_json(out, result, inputs=[p for paths in files.values() for p in paths])
    return result


def cell(entry: dict) -> str:
    """'2.31 +- 0.05' (mean +- std, to the std's second significant digit); '-' where unknown."""
    mean, std = entry["mean"], entry["std"]
    if mean is None:
        return "-"
    if std <= 1e-9 * abs(mean):  # the same value for every seed, up to rounding
        return f"{mean:.4g} +- 0"
    digits = max(0, 1 - math.floor(math.log10(std)))
    return f"{mean:.{digits}f} +- {std:.{digits}f}"


def table(summaries: list[dict]) -> list[str]:
    """Markdown lines: one row per model and scenario, a 'mean +- std' cell per figure."""
    if not summaries:
        return []
    columns = list(next(iter(summaries[0]["scenarios"].values()))["figures"])
    seeds = {len(s["seeds"]) for model in summaries for s in model["scenarios"].values()}
    note = (f"Mean +- standard deviation over {', '.join(map(str, sorted(seeds)))} seeds (ml.repeats; the same "
            "test split and evaluation as above). Scenario: its training fractions of the train split "
            "(none: every event). z@eff_s=e: Z at the score cut keeping the fraction e of the signal; "
            "R10%: background rejection 1/eff_b at 10 % signal efficiency. These trainings feed nothing else: "
            "the fit uses each model's main training.")
    lines = ["", "## Repeated trainings", "", note, "",
             "| model | scenario | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 2)]
    for model in summaries:
        for name, scenario in model["scenarios"].items():
            fractions = scenario["training_fractions"]
            label = f"{name} ({fractions_label(fractions)})" if fractions else name
            lines.append(f"| {model['model']} | {label} | "
                         + " | ".join(cell(scenario["figures"][c]) for c in columns) + " |")
    return lines
