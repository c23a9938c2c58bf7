"""Closure of the peak position (m_H) and mu of a category fit, on pseudo-experiments from its fitted model.

Reads a model's fit.json (and the signal_model.json beside it) from the workflow, e.g.
results/hyy/inference/bdt/, and
  1. throws --toys pseudo-experiments from the fitted model (the headline fit: mu and the
     backgrounds as fitted to the data, the peak at fit.mass_value, the truth of the toys),
     fits each with the peak position floating, and reports the pull mean and width of mu and
     of the peak position with their errors (a biased fit shows a mean away from 0);
  2. places the data's own fitted peak position in the toys' distribution (the fraction of
     toys at least as far above the truth): a fluctuation is where toys often are;
  3. lists each category's signal-model peak against the reference mass (the offsets the fit
     keeps; a miscalibrated simulation shows here, not in the fit's closure).

    python benchmarks/mass_closure.py --inference results/hyy/inference/bdt --toys 1000 --out mass_closure.json

The same pulls by the CLI: colliderflow validate-fit --model fit.json --float mass --param mu --param mass.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from colliderflow.stats.model import Model
from colliderflow.stats.toys import pull_study


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inference", required=True, help="a model's inference folder (fit.json, signal_model.json)")
    parser.add_argument("--toys", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--errors", choices=["hesse", "minos"], default="hesse",
                        help="the error of each toy's pull: HESSE's, or MINOS's on the side of the truth")
    parser.add_argument("--out", default="mass_closure.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    folder = Path(args.inference)
    fit = json.loads((folder / "fit.json").read_text())
    signal = json.loads((folder / "signal_model.json").read_text())
    if not fit["fitted"]:
        raise SystemExit(f"{folder / 'fit.json'}: no fit was made ({fit.get('reason')})")
    model = Model(fit["model"]).with_values({}, fixed={"mass": False})
    truth = model.values()
    start = time.process_time()
    pulls = pull_study(model, truth, args.toys, seed=args.seed, params=["mu", "mass"], errors=args.errors)
    cpu = time.process_time() - start
    observed = fit["mass"]
    toys_mass = np.array(pulls["params"]["mass"]["fitted"])
    offset = observed["value"] - truth["mass"]
    report = {
        "inference": str(folder), "n_toys": pulls["n_toys"], "n_valid": pulls["n_valid"], "seed": args.seed,
        "pull_errors": args.errors,
        "cpu_s_per_toy": cpu / max(args.toys, 1),
        "pulls": {name: {k: v for k, v in p.items() if k not in ("fitted", "errors", "pulls")}
                  for name, p in pulls["params"].items()},
        "data": {"mass": observed["value"], "mass_error": observed["error"], "truth": truth["mass"],
                 "pull": offset / observed["error"],
                 "fraction_of_toys_as_far_above": float(np.mean(toys_mass - truth["mass"] >= offset)),
                 "mu": fit["mu"]["value"], "mu_error": fit["mu"]["error"]},
        "signal_model_peaks": {c["name"]: {"mass": c["params"]["mass"], "error": c["errors"]["mass"],
                                           "offset_from_reference": c["params"]["mass"] - signal["reference_mass"]}
                               for c in signal["categories"]},
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
