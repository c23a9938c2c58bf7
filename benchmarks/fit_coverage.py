"""Closure and coverage of the simultaneous unbinned fit on a realistic toy, and its timing.

A 3-category H->yy-like model (m_yy in [105, 160] GeV): double-sided Crystal Ball signal with
1.7 GeV resolution and 100-300 expected events per category, smooth backgrounds of O(1e4)
events per category (exponential, Bernstein, exponential of a polynomial). The script
  1. writes the model spec (model.json, usable by `colliderflow validate-fit --model`),
  2. throws one pseudo-dataset and times the analysis chain (fit, mu scan, discovery,
     expected significance, p0 scan over 81 masses),
  3. runs the pull study of mu for --toys pseudo-experiments (default 500),
and writes everything to --out (JSON).

    python benchmarks/fit_coverage.py --toys 500 --out coverage.json
  or, with the CLI on the written model,
    colliderflow validate-fit --model model.json --toys 500 --out coverage.json
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np

from colliderflow.stats.fit import fit, profile_scan
from colliderflow.stats.hypotest import discovery, expected_significance, p0_scan
from colliderflow.stats.model import Model, category_spec
from colliderflow.stats.toys import generate, pull_study

SIGNAL = {"mass": 125.0, "sigma": 1.7, "alpha_lo": 1.5, "n_lo": 5.0, "alpha_hi": 1.8, "n_hi": 10.0}
CATEGORIES = [
    {"name": "cat0", "signal_yield": 100.0, "background": "exponential", "bkg": {"slope": -0.035}, "nbkg": 30000.0},
    {"name": "cat1", "signal_yield": 200.0, "background": "bernstein:3", "bkg": {"b1": 0.55, "b2": 0.35, "b3": 0.2},
     "nbkg": 20000.0},
    {"name": "cat2", "signal_yield": 300.0, "background": "exppoly:2", "bkg": {"a1": -1.8, "a2": 0.3}, "nbkg": 10000.0},
]


def build(mass_floating: bool = False, spurious: float | None = None) -> tuple[Model, dict]:
    cats = []
    for c in CATEGORIES:
        sig = dict(SIGNAL)
        sig["mass"] = 125.0 - 0.1 * len(cats)  # per-category offsets from the generated mass
        cats.append({"name": c["name"], "range": [105.0, 160.0],
                     "signal": {"shape": "dscb", "params": sig, "yield": c["signal_yield"]},
                     "background": {"shape": c["background"], "params": c["bkg"], "yield": c["nbkg"]},
                     "spurious": spurious})
    spec = category_spec(cats, mass_value=125.0, mass_floating=mass_floating, mass_limits=(110.0, 150.0))
    model = Model(spec)
    return model, {n: v for n, v in model.values().items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toys", type=int, default=500)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--out", default="fit_coverage.json")
    parser.add_argument("--model-out", default="fit_coverage_model.json")
    parser.add_argument("--mass-floating", action="store_true")
    parser.add_argument("--spurious", type=float, default=None, help="spurious-signal nuisance size (events)")
    parser.add_argument("--skip-chain", action="store_true", help="only the pull study")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    model, truth = build(args.mass_floating, args.spurious)
    with open(args.model_out, "w") as handle:
        json.dump(model.to_spec(), handle, indent=1)
    report = {"truth": truth, "timing_s": {}}
    if not args.skip_chain:
        rng = np.random.default_rng(args.seed + 1)
        data = generate(model, truth, rng)
        t = time.perf_counter()
        best = fit(model, data)
        report["timing_s"]["fit"] = time.perf_counter() - t
        t = time.perf_counter()
        scan = profile_scan(model, data, "mu", np.linspace(-1, 3, 41), best=best)
        report["timing_s"]["mu_scan_41"] = time.perf_counter() - t
        t = time.perf_counter()
        disc = discovery(model, data, best=best)
        report["timing_s"]["discovery"] = time.perf_counter() - t
        exp_values = dict(best.values, mu=1.0)
        t = time.perf_counter()
        zexp = expected_significance(model, exp_values)
        report["timing_s"]["expected_significance"] = time.perf_counter() - t
        t = time.perf_counter()
        p0 = p0_scan(model, data, np.arange(110, 150.01, 0.5), expected_values=exp_values)
        report["timing_s"]["p0_scan_81_with_expected"] = time.perf_counter() - t
        report["example"] = {
            "mu": best.values["mu"], "mu_error": best.errors["mu"], "interval68": scan["interval68"],
            "interval95": scan["interval95"], "Z": disc["Z"], "Z_expected": zexp["Z"],
            "p0_min": float(np.min(p0["p0"])), "mass_at_p0_min": p0["mass"][int(np.argmin(p0["p0"]))],
        }
        print(json.dumps(report, indent=1))
    t = time.perf_counter()
    pulls = pull_study(model, truth, args.toys, seed=args.seed)["params"][model.poi]
    report["timing_s"]["pull_study"] = time.perf_counter() - t
    report["pulls"] = {k: v for k, v in pulls.items() if k not in ("fitted", "errors")}
    with open(args.out, "w") as handle:
        json.dump(report, handle, indent=1)
    summary = {k: v for k, v in report["pulls"].items() if k != "pulls"}
    print(json.dumps({"timing_s": report["timing_s"], "pulls": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
