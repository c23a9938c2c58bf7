"""Pseudo-experiments of the signal strength per production mode, on the inputs of a finished run.

Is a mode's fitted signal strength (fit.json ``per_mode``) biased, are its errors right, and how
rare is the observed value? The per-mode model of the fit stage is rebuilt from the run's files
(scores, selection.json, signal and background models); its truth is the fit to the data with
every mode's strength fixed at 1 (the background and the nuisance parameters from the data),
global observables drawn around it. With ``--category`` only that category is thrown and
fitted, the other modes' strengths fixed at 1 there (fast: a low-count category alone); the
mode's strength is then mostly measured there. Writes the pull studies (HESSE and MINOS
errors) and the observed value's p-value (the share of pseudo-experiments that fit at or
below it) to --out, and a figure of the pulls and of the fitted values.

    python benchmarks/mode_pulls.py --model bdt_multiclass --mode ttH --category ttH_cat0 \
        --configfile config/studies.yaml --toys 500 --out mode_pulls.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from colliderflow import analyses, config
from colliderflow.inference.fit import category_model, fit_data
from colliderflow.inference.inputs import fit_splits, load_events, prepare
from colliderflow.stats import plots
from colliderflow.stats.fit import fit
from colliderflow.stats.intervals import minos
from colliderflow.stats.model import Model
from colliderflow.stats.toys import pull_study


def per_mode_model(cfg: dict, results: Path, model_name: str) -> tuple[Model, dict]:
    """The fit stage's per-mode model of ``model_name`` and its data."""
    observable = analyses.get(cfg["analysis"]).observable(cfg)
    inference = results / "inference" / model_name
    frame, _ = load_events(results / "scores" / model_name, observable)
    selection = json.loads((results / "optimise" / model_name / "selection.json").read_text())
    part = prepare(fit_splits(cfg), observable, frame, selection)
    signal = json.loads((inference / "signal_model.json").read_text())
    background = json.loads((inference / "background_model.json").read_text())
    model = category_model(cfg["fit"], observable, signal, background, mass_floating=cfg["fit"]["mass_floating"],
                           per_mode=True)
    return model, fit_data(part)


def only_category(model: Model, name: str, poi: str) -> Model:
    """``model`` reduced to one category: its parameters, the other modes' strengths fixed at 1."""
    spec = model.to_spec()
    spec["channels"] = [c for c in spec["channels"] if c["name"] == name]
    if not spec["channels"]:
        raise KeyError(f"no category {name!r}; categories: {model.channels}")
    used = model.channel_params(name) | set(model.constraints())
    spec["parameters"] = {n: p for n, p in spec["parameters"].items() if n in used}
    for n, p in spec["parameters"].items():
        if n.startswith("mu_") and n != poi:
            p.update(value=1.0, fixed=True)
    return Model({**spec, "poi": poi})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", required=True)
    parser.add_argument("--model", required=True, help="a multiclass model of the run (its per-mode fit)")
    parser.add_argument("--mode", required=True, help="the production mode whose strength is studied")
    parser.add_argument("--category", help="throw and fit only this category")
    parser.add_argument("--toys", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", required=True, help="output JSON; the figure is written next to it (.png)")
    args = parser.parse_args()
    cfg = config.load(args.configfile)
    results = Path("results") / cfg["analysis"]
    poi = f"mu_{args.mode}"
    model, data = per_mode_model(cfg, results, args.model)
    if args.category:
        model, data = only_category(model, args.category, poi), {args.category: data[args.category]}
    model.check_names([poi], "--mode")
    best = fit(model, data)
    observed = minos(model, data, [poi], best=best)[poi]
    ones = {n: 1.0 for n in model.names if n.startswith("mu_") and not model.is_fixed(n)}
    conditional = fit(model, data, start=best.values, fix=ones)
    truth = {**conditional.values, **{n: mean for n, (mean, _) in model.constraints().items()}}
    out = {"model": args.model, "mode": args.mode, "category": args.category, "channels": model.channels,
           "observed": {"value": best.values[poi], "error": best.errors[poi], "minos": observed["intervals"],
                        "q_at_one": conditional.twice_nll - best.twice_nll},
           "expected_yields": model.yields(truth), "studies": {}}
    for errors in ("hesse", "minos"):
        t0 = time.process_time()
        study = pull_study(model, truth, args.toys, seed=args.seed, params=[poi], errors=errors, progress_every=0)
        row = study["params"][poi]
        fitted = np.asarray(row["fitted"])
        out["studies"][errors] = {**{k: v for k, v in study.items() if k != "params"}, **row,
                                  "p_value_at_or_below_observed": float(np.mean(fitted <= best.values[poi])),
                                  "cpu_seconds": time.process_time() - t0}
        print(f"{errors}: {study['n_valid']}/{args.toys} toys; pull mean {row['pull_mean']:.3f} +- "
              f"{row['pull_mean_error']:.3f}, width {row['pull_width']:.3f} +- {row['pull_width_error']:.3f}; "
              f"fitted {row['mean_fitted']:.3f} +- {row['std_fitted']:.3f} (mean error {row['mean_error']:.3f}); "
              f"P(fitted <= {best.values[poi]:.3f}) = {out['studies'][errors]['p_value_at_or_below_observed']:.4f}")
    Path(args.out).write_text(json.dumps(out, indent=1))
    figure = Path(args.out).with_suffix(".png")
    plots.pull_plot(figure.with_name(f"{figure.stem}_pulls_minos.png"), out["studies"]["minos"]["pulls"],
                    param=poi.replace("mu_", "$\\mu_{") + "}$")
    fitted = np.asarray(out["studies"]["hesse"]["fitted"])
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.hist(fitted, bins=40, color="grey", label=f"{fitted.size} pseudo-experiments at {poi} = 1")
    ax.axvline(best.values[poi], color="r", label=f"observed {best.values[poi]:.2f} "
               f"(p = {out['studies']['hesse']['p_value_at_or_below_observed']:.3f})")
    ax.set_xlabel(f"fitted {poi}")
    ax.legend()
    fig.savefig(figure.with_name(f"{figure.stem}_fitted.png"))


if __name__ == "__main__":
    main()
