"""Cross-training against the split scheme on the same events: expected Z, mu error, closure, train CPU.

Two finished runs of one config, one with ``features.folds: 1`` (the fit keeps the val and test
splits) and one with ``features.folds: k`` (every event scored out of fold and fitted), e.g.
config/test.yaml with and without its ``features`` section:

    python benchmarks/cross_training_gain.py --split-run RUN_A --folds-run RUN_B --model bdt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd


def train_cpu(run: Path) -> tuple[int, float]:
    """(train jobs, their summed job-CPU seconds) from ``benchmarks/train/**/*.tsv``."""
    rows = [pd.read_csv(path, sep="\t").iloc[-1] for path in sorted((run / "benchmarks" / "train").rglob("*.tsv"))]
    return len(rows), float(sum(row["cpu_time"] for row in rows))


def fit_result(run: Path, analysis: str, model: str) -> tuple[dict, dict]:
    directory = run / "results" / analysis / "inference" / model
    return (json.loads((directory / "fit.json").read_text()),
            json.loads((directory / "significance.json").read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split-run", type=Path, required=True, help="work directory of the run with features.folds 1")
    parser.add_argument("--folds-run", type=Path, required=True, help="work directory of the cross-trained run")
    parser.add_argument("--model", action="append", required=True, help="model to compare (repeatable)")
    parser.add_argument("--analysis", default="hyy")
    args = parser.parse_args()
    for label, run in (("split scheme", args.split_run), ("cross-training", args.folds_run)):
        jobs, cpu = train_cpu(run)
        print(f"{label}: {jobs} train jobs, {cpu:.1f} job-CPU s")
    for model in args.model:
        (split_fit, split_z), (folds_fit, folds_z) = (fit_result(run, args.analysis, model)
                                                      for run in (args.split_run, args.folds_run))
        print(f"{model}: Z_expected {split_z['Z_expected']:.2f} -> {folds_z['Z_expected']:.2f} "
              f"(ratio {folds_z['Z_expected'] / split_z['Z_expected']:.3f}); mu error {split_fit['mu']['error']:.4f} -> "
              f"{folds_fit['mu']['error']:.4f} (ratio {folds_fit['mu']['error'] / split_fit['mu']['error']:.3f}; stat "
              f"ratio {folds_fit['mu']['stat'] / split_fit['mu']['stat']:.3f})")
        for label, fit in (("split scheme", split_fit), ("cross-training", folds_fit)):
            print(f"  {label}: splits {fit['splits']}, data_fraction {fit['data_fraction']:.3f}, "
                  f"mu {fit['mu']['value']:.3f} +- {fit['mu']['error']:.3f}, "
                  f"m_H {fit['mass']['value']:.2f} +- {fit['mass']['error']:.2f}")


if __name__ == "__main__":
    main()
