"""``colliderflow simulate``: the embedded SIMULATED dataset of the config's analysis.

Generic: the analysis named by the config's ``analysis`` key brings its simulation
(``Analysis.simulation``, e.g. ``colliderflow.analyses.hyy.simulation``), which writes files
a reader cannot tell from the real ntuples by schema, with known truth in a
``colliderflow_simulation`` record (see ``colliderflow.simulation``). This stage only picks
it and runs it for one file of the sample catalogue (``--file``, one workflow job per file)
or for all of them (``--all``).
"""

from __future__ import annotations

from pathlib import Path

from . import analyses, config
from .simulation import Simulation


def simulation_of(cfg: dict) -> Simulation:
    """The embedded simulation of the config's analysis (ValueError if it brings none)."""
    name = cfg.get("analysis", config.DEFAULT_ANALYSIS)
    simulation = analyses.get(name).simulation
    if simulation is None:
        raise ValueError(f"analysis {name!r} has no embedded simulation, so there is nothing to simulate; "
                         "give every catalogue file a url to fetch the real files, or use an analysis that brings one")
    return simulation


def catalogue_files(cfg: dict) -> list[str]:
    """Every simulated file of the sample catalogue (the entries without a url), in catalogue order."""
    return [entry["name"] for spec in (cfg.get("samples") or {}).values() for entry in spec["files"]
            if not entry.get("url")]


def register(sub) -> None:
    parser = sub.add_parser("simulate")
    config.add_arguments(parser)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--file", help="the catalogue file (samples.*.files[].name) to generate")
    target.add_argument("--all", action="store_true", help="generate every catalogue file without a url")
    parser.add_argument("--out", help="output ROOT file (with --file)")
    parser.add_argument("--outdir", help="output folder (with --all): <outdir>/<file>.root")
    parser.set_defaults(func=run)


def run(args) -> int:
    cfg = config.load(args.configfile, args.settings)
    simulation = simulation_of(cfg)
    if args.file:
        if not args.out:
            raise ValueError("--file needs --out PATH (the ROOT file to write)")
        simulation.simulate_file(cfg, args.file, args.out)
        return 0
    if not args.outdir:
        raise ValueError("--all needs --outdir DIR (the folder to write <file>.root into)")
    total = cpu = 0.0
    for name in catalogue_files(cfg):
        summary = simulation.simulate_file(cfg, name, Path(args.outdir) / f"{name}.root")
        total += summary["seconds"]
        cpu += summary["cpu_seconds"]
        print(f"{name}: {summary['written']} events written ({summary['generated']} generated) "
              f"in {summary['seconds']:.1f} s ({summary['cpu_seconds']:.1f} s CPU)")
    print(f"all files: {total:.1f} s ({cpu:.1f} s CPU)")
    return 0
