"""One table of every trained model and its metrics, against the cut-based baseline.

The baseline row is the inclusive selection (no score cut), computed here from the features
with the same counting as the models' Z curves; each model's own ``z_inclusive`` must agree
with it, otherwise the models were evaluated with other settings and the table would mislead.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from .. import io
from . import data, evaluate, plots

log = logging.getLogger(__name__)


def collect(models_dir: str | Path, names: list[str]) -> dict[str, dict]:
    metrics = {}
    for name in names:
        path = Path(models_dir) / name / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} missing: train model '{name}' first (colliderflow train --model {name})")
        metrics[name] = io.read_json(path)
    return metrics


def baseline(features_dir: str | Path, cfg: dict) -> dict:
    """The cut-based selection without a classifier: Z of all events in the mass window."""
    events = data.load_events(features_dir, cfg)
    inputs = evaluate.significance_inputs(events.frame, cfg["ml"])
    return {k: inputs[k] for k in ("s_inclusive", "b_inclusive", "z_inclusive", "transfer_factor")}


def rows(metrics: dict[str, dict], base: dict, ml: dict) -> list[dict]:
    """Table rows: the baseline first, then the models; one flat dict per row."""
    settings = ml["metrics"]
    table = [{"model": "cut-based (inclusive)", "type": "cuts", "loss": None, "roc_auc": None,
              **{f"eff_s@eff_b={t:g}": None for t in settings["background_efficiencies"]},
              "z_max": base["z_inclusive"], "threshold_at_z_max": None,
              **{f"z@{t:g}": None for t in settings["thresholds"]},
              "z@none": base["z_inclusive"], "z_curve_area": None, "near_max_fraction": None,
              "mass_corr_sidebands": None, "mass_corr_mc": None, "beats_baseline": None}]
    for name, m in metrics.items():
        if not math.isclose(m["z_inclusive"], base["z_inclusive"], rel_tol=1e-6):
            log.warning("%s: Z without a score cut %.4f differs from the baseline %.4f (other evaluation settings?)",
                        name, m["z_inclusive"], base["z_inclusive"])
        table.append({
            "model": name, "type": m["type"], "loss": m["loss"], "roc_auc": m["roc_auc"],
            **{f"eff_s@eff_b={t}": v for t, v in m["signal_efficiency"].items()},
            "z_max": m["z_max"], "threshold_at_z_max": m["threshold_at_z_max"],
            **{f"z@{t}": v for t, v in m["z_at_threshold"].items()},
            "z@none": m["z_inclusive"], "z_curve_area": m["z_curve_area"], "near_max_fraction": m["near_max_fraction"],
            "mass_corr_sidebands": m["mass_correlation"].get("data_sidebands"),
            "mass_corr_mc": m["mass_correlation"].get("background_mc"),
            # a relative margin, so a model whose best cut keeps every event (Z equal to the
            # baseline up to rounding) does not count as beating it
            "beats_baseline": m["z_max"] > base["z_inclusive"] * (1 + 1e-6),
        })
    return table


def markdown(table: list[dict], cfg: dict) -> str:
    columns = list(table[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in table:
        lines.append("| " + " | ".join(_cell(row[c]) for c in columns) + " |")
    note = (f"Asimov Z in the mass window {cfg['ml']['mass_window']} GeV on the test split scaled to the full "
            f"yield, background from {cfg['ml']['background']}; Z counts as 0 where b < "
            f"{cfg['ml']['metrics']['min_background']:g} events. z@none: no score cut.")
    if cfg.get("dataset", {}).get("simulated", True):
        note += " Simulated dataset."
    return "\n".join(["# Classifier comparison", "", note, "", *lines, ""])


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def compare(models_dir, features_dir, cfg: dict, out_md, out_json, plots_dir, names: list[str] | None = None) -> list[dict]:
    ml = cfg["ml"]
    names = list(ml["enabled"]) if names is None else names
    metrics = collect(models_dir, names)
    base = baseline(features_dir, cfg)
    table = rows(metrics, base, ml)
    inputs = [Path(models_dir) / n / "metrics.json" for n in names]
    io.write_json(out_json, {"baseline": base, "models": table}, cfg, inputs=inputs)
    with io.atomic_path(out_md) as tmp:
        tmp.write_text(markdown(table, cfg))
    plots_dir = Path(plots_dir)
    plots.roc_curves({n: (m["roc_curve"]["background_efficiency"], m["roc_curve"]["signal_efficiency"])
                      for n, m in metrics.items()}, plots_dir / "roc.png", cfg)
    plots.z_curves({n: (m["z_curve"]["threshold"], m["z_curve"]["z"]) for n, m in metrics.items()},
                   base["z_inclusive"], plots_dir / "zcurve.png", cfg)
    for row in table[1:]:
        log.info("%-14s Z_max %.3f (baseline %.3f)%s", row["model"], row["z_max"], base["z_inclusive"],
                 "" if row["beats_baseline"] else "  <- does not beat the baseline")
    return table
