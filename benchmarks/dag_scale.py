"""Planning cost against catalogue size: seconds and peak memory of ``snakemake -n``.

    python benchmarks/dag_scale.py [--files 100 1000 10000] [--configfile config/test.yaml]
    python benchmarks/dag_scale.py --noop [--configfile config/test.yaml]

For each N, a temporary config is derived from ``--configfile`` with N catalogue files: the
file entries are cycled over and each copy gets a suffix (``_00042``), so every sample has
about N / (its files) times as many files, the data files share the luminosity, and names keep
what the simulation reads from them (data period, mc_<DSID>, WpH/WmH). Then Snakemake dry-runs
the default target in an empty temporary directory (every job planned). The wall time, the
CPU time and the peak resident memory of that one ``snakemake`` process (``os.wait4``) are
printed. Targets: 10^4 files planned in at most 30 s.

``--noop`` runs the workflow on ``--configfile`` once (a real run, minutes), then times the
dry run that has nothing to do, ``--repeat`` times (the fastest counts). Target: 2 s. Each
``snakemake`` start imports the executor plugins that are installed; the Slurm plugin probes
``sacct``/``squeue`` on import, so measure with and without ``colliderflow[slurm]``.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
PLAN_TARGET_S = 30.0
NOOP_TARGET_S = 2.0


def scaled_config(base: dict, n_files: int) -> dict:
    """``base`` with ``n_files`` catalogue files: its entries cycled over, each copy renamed
    ``<name>_<index>``; data files' lumi_fb rescaled so they still add up to the total."""
    cfg = copy.deepcopy(base)
    entries = [(sample, entry) for sample, spec in cfg["samples"].items() for entry in spec["files"]]
    files: dict[str, list[dict]] = {sample: [] for sample in cfg["samples"]}
    for index in range(n_files):
        sample, entry = entries[index % len(entries)]
        files[sample].append({**entry, "name": f"{entry['name']}_{index:05d}"})
    for sample, spec in cfg["samples"].items():
        spec["files"] = files[sample]
        if spec["kind"] == "data":
            for entry in files[sample]:
                entry["lumi_fb"] = cfg["lumi_fb"] / len(files[sample])
    empty = [sample for sample, listed in files.items() if not listed]
    if empty:
        raise SystemExit(f"--files {n_files} leaves samples {empty} without a file; ask for at least {len(entries)}")
    return cfg


def timed(command: list[str], workdir: Path, log: Path) -> dict:
    """Run ``command`` in ``workdir``; its wall and CPU seconds and peak memory (its own: wait4)."""
    start = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed ({code}); see {log}:\n{log.read_text()[-3000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024}


def snakemake(configfile: Path, workdir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir),
            "--configfile", str(configfile), "--cores", "2", *extra]


def plan_scaling(base: dict, counts: list[int], keep: bool) -> None:
    print(f"{'files':>8} {'jobs':>8} {'wall s':>8} {'CPU s':>8} {'peak MB':>8}")
    for n_files in counts:
        workdir = Path(tempfile.mkdtemp(prefix=f"dag_scale_{n_files}_"))
        configfile = workdir / "config.yaml"
        configfile.write_text(yaml.safe_dump(scaled_config(base, n_files), sort_keys=False))
        log = workdir / "dry_run.log"
        figures = timed(snakemake(configfile, workdir, "--dry-run", "--quiet", "rules"), workdir, log)
        jobs = planned_jobs(log.read_text())
        print(f"{n_files:>8} {jobs:>8} {figures['wall_s']:>8.1f} {figures['cpu_s']:>8.1f} {figures['peak_mb']:>8.0f}",
              flush=True)
        if keep:
            print(f"         kept {workdir}")
        else:
            shutil.rmtree(workdir)
    print(f"target: 10^4 files planned in at most {PLAN_TARGET_S:g} s (the machine's load counts: compare ratios)")


def planned_jobs(text: str) -> int:
    """The 'total' row of the dry run's job stats."""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == "total" and fields[1].isdigit():
            return int(fields[1])
    raise SystemExit(f"no job count in the dry run's output:\n{text[-3000:]}")


def noop(configfile: Path, repeat: int, keep: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="dag_scale_noop_"))
    print(f"running the workflow on {configfile} in {workdir} (minutes) ...", flush=True)
    timed(snakemake(configfile, workdir), workdir, workdir / "run.log")
    runs = [timed(snakemake(configfile, workdir, "--dry-run"), workdir, workdir / "noop.log") for _ in range(repeat)]
    if "Nothing to be done" not in (workdir / "noop.log").read_text():
        raise SystemExit(f"the dry run after the run still has jobs to do; see {workdir / 'noop.log'}")
    best = min(runs, key=lambda r: r["wall_s"])
    plugins = sorted(p for p in ("slurm", "htcondor") if _installed(f"snakemake-executor-plugin-{p}"))
    print(f"no-op dry run: {best['wall_s']:.2f} s wall, {best['cpu_s']:.2f} s CPU, {best['peak_mb']:.0f} MB "
          f"(fastest of {repeat}; executor plugins installed: {', '.join(plugins) or 'none'}); "
          f"target {NOOP_TARGET_S:g} s")
    if keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir)


def _installed(distribution: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(distribution)
    except PackageNotFoundError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", type=Path, default=REPO / "config" / "test.yaml",
                        help="the config to scale up (its samples' file entries are cycled over)")
    parser.add_argument("--files", type=int, nargs="+", default=[100, 1000, 10000], help="catalogue sizes")
    parser.add_argument("--noop", action="store_true",
                        help="instead: run the workflow once, then time the dry run that has nothing to do")
    parser.add_argument("--repeat", type=int, default=3, help="with --noop: dry runs timed (the fastest counts)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories (for a look at the logs)")
    args = parser.parse_args()
    configfile = args.configfile.resolve()
    if args.noop:
        noop(configfile, args.repeat, args.keep)
    else:
        plan_scaling(yaml.safe_load(configfile.read_text()), args.files, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
