"""The headline numbers of the run: one row per model (the cut-based baseline included),
as ``summary.json``, a Markdown table ``summary.md`` and a table printed at the end.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from ..io import atomic_path, read_json
from ..optimise import CUTBASED
from .inputs import stage_settings

log = logging.getLogger(__name__)

FILES = ("fit.json", "significance.json", "limits.json", "signal_model.json", "background_model.json")


def _pull(value, truth, errors68, error):
    """(value - truth) / sigma, with the asymmetric 68% error on the side of the truth if known."""
    sigma = error
    if errors68 and errors68[0] is not None and errors68[1] is not None:
        sigma = -errors68[0] if truth < value else errors68[1]
    return float((value - truth) / sigma) if sigma and sigma > 0 else float("nan")


def model_summary(directory: Path, optimise_dir: Path | None, truth: dict | None, max_pull: float) -> dict:
    name = directory.name
    missing = [f for f in FILES if not (directory / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{directory} lacks {missing}; run the fit stage for model {name!r} first")
    fit = read_json(directory / "fit.json")
    sig = read_json(directory / "significance.json")
    lim = read_json(directory / "limits.json")
    smod = read_json(directory / "signal_model.json")
    bmod = read_json(directory / "background_model.json")
    row = {
        "n_categories": len(smod["categories"]),
        "categories": [
            {"name": s["name"], "signal_expected": s["yield"], "sigma_68": s.get("sigma_68"),
             "background_function": b["choice"], "spurious_signal": b["spurious_signal"],
             "spurious_test_passed": b["passed"], **fit["categories"].get(s["name"], {})}
            for s, b in zip(smod["categories"], bmod["categories"])
        ],
        "splits": fit.get("splits"),
        "data_fraction": fit.get("data_fraction"),
        "lumi_fb_fitted": fit.get("lumi_fb_fitted"),
        "signal_expected": smod["total_yield"],
        "mu": fit["mu"],
        "mass": fit["mass"],
        "mass_floating": fit["mass_floating"],
        "Z_observed": sig["Z_observed"],
        "Z_expected": sig["Z_expected"],
        "p0": sig["p0"],
        "binned": {
            "cls_mu1": lim.get("cls_obs"),
            "cls_mu1_expected": (lim.get("cls_exp") or [None] * 5)[2],
            "poi_value": lim.get("poi_value"),
            "upper_limit_observed": lim.get("upper_limit", {}).get("observed"),
            "upper_limit_expected": lim.get("upper_limit", {}).get("expected"),
            "cl": lim.get("cl"),
            "p0": lim.get("discovery", {}).get("p0"),
            "Z_observed": lim.get("discovery", {}).get("Z"),
            "Z_expected": lim.get("discovery", {}).get("Z_expected"),
        },
    }
    if optimise_dir is not None and (optimise_dir / name / "selection.json").is_file():
        sel = read_json(optimise_dir / name / "selection.json")
        row["optimisation"] = {"split": sel["split"], "combined_z": sel["combined_z"],
                               "threshold_z": sel["threshold"]["z"], "baseline_z": sel["baseline"]["z"],
                               "window": [sel["window"]["lo"], sel["window"]["hi"]]}
    if truth is not None:
        mu_pull = _pull(fit["mu"]["value"], truth["mu"], fit["mu"].get("errors68"), fit["mu"]["error"])
        mass_pull = _pull(fit["mass"]["value"], truth["mass"], fit["mass"].get("errors68"), fit["mass"]["error"])
        row["pulls"] = {"mu": mu_pull, "mass": mass_pull}
        row["closure"] = {
            "max_pull": max_pull,
            "mu_consistent": bool(abs(mu_pull) <= max_pull),
            "mass_consistent": bool(abs(mass_pull) <= max_pull),
        }
    return row


def summarise(cfg: dict, fits_dir: str | Path, models: list[str] | None = None,
              optimise_dir: str | Path | None = None) -> dict:
    fs = stage_settings(cfg)
    fits_dir = Path(fits_dir)
    if models:
        names = list(models)
    else:
        names = sorted(p.name for p in fits_dir.iterdir() if p.is_dir() and (p / "fit.json").is_file()) \
            if fits_dir.is_dir() else []
    if not names:
        raise FileNotFoundError(f"no model results (<model>/fit.json) under {fits_dir}; run the fit stage first")
    simulated = bool(cfg.get("dataset", {}).get("simulated", False))
    truth = {"mu": 1.0, "mass": float(fs["mass_value"])} if simulated else None
    rows = {n: model_summary(fits_dir / n, Path(optimise_dir) if optimise_dir else None, truth,
                             fs["closure_max_pull"]) for n in names}
    classifiers = [n for n in names if n != CUTBASED]
    best = max(classifiers, key=lambda n: rows[n]["Z_expected"]) if classifiers else None
    out = {
        "analysis": cfg.get("analysis"),
        "dataset": cfg.get("dataset", {}).get("name"),
        "simulated": simulated,
        "lumi_fb": cfg.get("lumi_fb"),
        "baseline": CUTBASED if CUTBASED in rows else None,
        "best_model": best,
        "models": rows,
    }
    if best is not None and CUTBASED in rows:
        out["best_beats_baseline"] = bool(rows[best]["Z_expected"] > rows[CUTBASED]["Z_expected"])
    if truth is not None:
        out["truth"] = truth
        out["closure_passed"] = bool(all(r["closure"]["mu_consistent"] and r["closure"]["mass_consistent"]
                                         for r in rows.values()))
    return out


def _fmt(v, spec=".2f"):
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def table(summary: dict) -> str:
    """A Markdown table of the headline numbers (readable as plain text too).

    Z columns: unbinned fit / binned pyhf model, so the two can be compared at a glance.
    """
    head = ["model", "cats", "mu_hat (68% CL)", "m_H [GeV]", "Z obs (unb. / binned)", "Z exp (unb. / binned)",
            "CLs(mu=1)", "mu 95% UL obs (exp)"]
    if summary.get("truth"):
        head += ["pull mu", "pull m_H"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    order = sorted(summary["models"], key=lambda n: (n == summary.get("baseline"), n))
    for name in order:
        r = summary["models"][name]
        mu, m, b = r["mu"], r["mass"], r["binned"]
        e = mu.get("errors68") or [None, None]
        mu_txt = (f"{mu['value']:.2f} -{abs(e[0]):.2f} +{e[1]:.2f}" if None not in e
                  else f"{mu['value']:.2f} ± {mu['error']:.2f}")
        exp_ul = (b.get("upper_limit_expected") or [None] * 5)[2]
        label = name + (" (baseline)" if name == summary.get("baseline") else "") + \
            (" (best)" if name == summary.get("best_model") else "")
        cells = [label, str(r["n_categories"]), mu_txt, f"{m['value']:.2f} ± {m['error']:.2f}",
                 f"{_fmt(r['Z_observed'])} / {_fmt(b.get('Z_observed'))}",
                 f"{_fmt(r['Z_expected'])} / {_fmt(b.get('Z_expected'))}",
                 _fmt(b.get("cls_mu1"), ".3g"), f"{_fmt(b.get('upper_limit_observed'))} ({_fmt(exp_ul)})"]
        if summary.get("truth"):
            cells += [_fmt(r["pulls"]["mu"]), _fmt(r["pulls"]["mass"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(summary: dict) -> str:
    parts = [f"# {summary.get('analysis') or 'analysis'}: summary", ""]
    if summary["simulated"]:
        parts += ["**Simulated dataset** (embedded pseudo-data): truth mu = 1, "
                  f"m_H = {summary['truth']['mass']:g} GeV; pulls are (fitted - truth) / sigma.", ""]
    any_row = next(iter(summary["models"].values()))
    share = any_row.get("data_fraction")
    if share is not None:
        parts += [f"Fitted data: splits {', '.join(any_row.get('splits') or [])} "
                  f"({100 * share:.1f}% of the data, {any_row.get('lumi_fb_fitted') or 0:.1f} fb^-1 of "
                  f"{summary.get('lumi_fb')} fb^-1); significances are local.", ""]
    parts += [table(summary), ""]
    if summary.get("best_model") and "best_beats_baseline" in summary:
        verdict = "higher" if summary.get("best_beats_baseline") else "NOT higher"
        parts.append(f"Best classifier: **{summary['best_model']}**; its expected Z is {verdict} than the "
                     "cut-based baseline's.")
    if "closure_passed" in summary:
        parts.append(f"Closure (|pull| <= {any_row['closure']['max_pull']:g} for mu and m_H, every model): "
                     f"**{'passed' if summary['closure_passed'] else 'FAILED'}**.")
    return "\n".join(parts) + "\n"


def write_markdown(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
