"""Job-seconds per rule of a workflow run, from the benchmark files Snakemake wrote.

    python benchmarks/rule_times.py [BENCHMARKS_DIR]

Every rule writes ``benchmarks/<rule>/<wildcards>.tsv`` (or ``benchmarks/<rule>.tsv`` for a
one-job rule), one row per run of the job: ``s`` the wall seconds, ``cpu_time`` the CPU
seconds. This sums them per rule and prints the rules by wall time, with their job counts
and the totals. Wall job-seconds on a shared machine include time stolen by other
processes; compare CPU seconds, or ratios, across runs.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path


def rule_times(folder: Path) -> dict[str, dict[str, float]]:
    """Rule -> {"jobs", "s", "cpu_time"} summed over the rule's benchmark files."""
    files = sorted(folder.rglob("*.tsv"))
    if not files:
        raise SystemExit(f"{folder} holds no benchmark files (*.tsv); give the benchmarks folder of a finished run")
    totals: dict[str, dict[str, float]] = defaultdict(lambda: {"jobs": 0, "s": 0.0, "cpu_time": 0.0})
    for path in files:
        relative = path.relative_to(folder)
        rule = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if not rows or "s" not in rows[0]:
            raise SystemExit(f"{path} is not a Snakemake benchmark file (no 's' column)")
        totals[rule]["jobs"] += 1
        for row in rows:  # one row per repeat of the job
            totals[rule]["s"] += float(row["s"])
            totals[rule]["cpu_time"] += float(row.get("cpu_time") or 0.0)
    return dict(totals)


def table(totals: dict[str, dict[str, float]]) -> str:
    lines = [f"{'rule':<18} {'jobs':>5} {'wall s':>9} {'cpu s':>9} {'wall s/job':>11}"]
    for rule, t in sorted(totals.items(), key=lambda item: -item[1]["s"]):
        lines.append(f"{rule:<18} {t['jobs']:>5} {t['s']:>9.1f} {t['cpu_time']:>9.1f} {t['s'] / t['jobs']:>11.1f}")
    jobs = sum(t["jobs"] for t in totals.values())
    wall = sum(t["s"] for t in totals.values())
    cpu = sum(t["cpu_time"] for t in totals.values())
    lines.append(f"{'total':<18} {jobs:>5} {wall:>9.1f} {cpu:>9.1f} {wall / max(jobs, 1):>11.1f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default="benchmarks", type=Path,
                        help="the run's benchmarks folder (default: benchmarks)")
    args = parser.parse_args()
    print(table(rule_times(args.folder)))


if __name__ == "__main__":
    main()
