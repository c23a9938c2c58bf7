"""``colliderflow <stage>``: the command-line entry point the workflow rules call.

``STAGES`` is the one table of sub-commands: each names the module that defines it and a
one-line help. ``colliderflow --help`` lists the table without importing any stage;
``colliderflow <stage>`` imports only that stage's module and calls its
``register(subparsers)``, which adds the sub-command(s) and sets ``func`` to the function
that runs it. The workflow derives the code digest of each rule from the same table
(``colliderflow.stage_code``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import NamedTuple

from . import __version__


class Stage(NamedTuple):
    module: str  # the module whose register(subparsers) adds the sub-command
    help: str  # one line, shown by `colliderflow --help`


# Sub-commands in data-flow order, then the stand-alone tools.
STAGES: dict[str, Stage] = {
    "datasets": Stage("colliderflow.datasets", "manage the sample catalogue (resolve URLs with atlasopenmagic)"),
    "simulate": Stage("colliderflow.simulate", "generate the analysis's embedded SIMULATED dataset (ROOT files)"),
    "fetch": Stage("colliderflow.fetch", "download input ROOT files (resumable, size/SHA-256/adler32/ROOT checked, atomic)"),
    "skim": Stage("colliderflow.skim", "select events of one ROOT file into Parquet, with a cutflow"),
    "cutflow": Stage("colliderflow.cutflow", "merge per-file cutflows into a per-sample table"),
    "features": Stage("colliderflow.features",
                      "merge a sample's skims and add label, process and train/val/test split"),
    "plot-spectrum": Stage("colliderflow.report", "draw the observable's spectrum: data with the stacked signal MC"),
    "tune": Stage("colliderflow.ml.tune",
                  "hyper-parameter search of one model (Optuna TPE, pruned; resumes its study); writes best.json"),
    "train": Stage("colliderflow.ml.cli", "train one model of ml.models; writes model, history, metrics, plots"),
    "apply": Stage("colliderflow.ml.cli", "score every event of one sample with a trained model"),
    "compare": Stage("colliderflow.ml.cli",
                     "table and overlaid plots of all trained models against ml.baseline"),
    "aggregate-repeats": Stage("colliderflow.ml.cli",
                               "mean +- std over the seeds of one model's repeated trainings (ml.repeats)"),
    "optimise": Stage("colliderflow.optimise",
                      "score threshold and categories maximising the expected Z (validation split)"),
    "signal-model": Stage("colliderflow.inference",
                          "per category: signal shape fit to weighted MC and expected yield"),
    "background-model": Stage("colliderflow.inference",
                              "per category: background function by spurious signal + F-test"),
    "fit-categories": Stage("colliderflow.inference",
                            "simultaneous unbinned fit of all categories: mu, peak position, Z, p0 scan"),
    "workspace": Stage("colliderflow.inference", "pyhf HistFactory workspace, one channel per category"),
    "sweights": Stage("colliderflow.inference", "signal and background sWeights of every fitted data event"),
    "contour": Stage("colliderflow.inference", "likelihood contours of mu and the peak position at 68 and 95 percent CL"),
    "impacts": Stage("colliderflow.inference", "nuisance-parameter pulls and pre-/post-fit impacts on mu, ranked"),
    "limit": Stage("colliderflow.inference.standalone",
                   "CLs, upper limit and discovery p0 from a pyhf workspace"),
    "summary": Stage("colliderflow.report", "headline numbers of every model: summary.json, summary.md, a table"),
    "hepdata": Stage("colliderflow.hepdata",
                     "the HEPData record: spectra with the fit, scans, p0, limits, results, workspaces; validated"),
    "fit": Stage("colliderflow.inference.standalone",
                 "extended unbinned S+B fit of one observable in a Parquet file"),
    "validate-fit": Stage("colliderflow.inference.standalone",
                          "closure/coverage: pulls of the POI over pseudo-experiments"),
    "check-config": Stage("colliderflow.config_cli", "validate a config and print it with defaults filled in"),
    "config-docs": Stage("colliderflow.config_cli", "print the key reference (config/README.md) from the schema"),
}


class _StageRegistrar:
    """What a stage's register() sees as ``subparsers``: every sub-command it adds must be in
    STAGES, and gets the table's help (also as its description, unless it brings one)."""

    def __init__(self, subparsers, module: str):
        self._subparsers = subparsers
        self._module = module

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        stage = STAGES.get(name)
        if stage is None or stage.module != self._module:
            raise RuntimeError(f"{self._module} registers the sub-command {name!r}, which colliderflow.cli.STAGES "
                               f"does not give to that module: add or correct its row in STAGES")
        kwargs["help"] = stage.help
        kwargs.setdefault("description", stage.help)
        return self._subparsers.add_parser(name, **kwargs)


def _command_of(argv: list[str]) -> str | None:
    """The sub-command named in ``argv``: its first argument that is not an option (no
    top-level option takes a value), or None when help/version comes first."""
    for arg in argv:
        if arg in ("-h", "--help", "--version"):
            return None
        if not arg.startswith("-"):
            return arg
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (none for None or an unknown name:
    the other sub-commands are listed by name and help only)."""
    parser = argparse.ArgumentParser(
        prog="colliderflow",
        description="From open-data ROOT files to a physics result, one stage at a time "
        "(the workflow rules run these; `colliderflow <stage> --help` for each).",
    )
    parser.add_argument("--version", action="version", version=f"colliderflow {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="<stage>")
    module = STAGES[command].module if command in STAGES else None
    for name, stage in STAGES.items():
        if stage.module == module:
            if name not in sub.choices:  # the first row of the module registers all of its rows
                importlib.import_module(module).register(_StageRegistrar(sub, module))
            if name not in sub.choices:
                raise RuntimeError(f"colliderflow.cli.STAGES gives {name!r} to {module}, whose register() "
                                   f"does not add it: correct its row in STAGES")
        else:
            # a stand-in, listed in the help; its own arguments are added when it is the command
            sub.add_parser(name, help=stage.help, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result = args.func(args)
    except (KeyError, ValueError, OSError) as err:  # ConfigError is a ValueError
        # Expected failures (bad input, a missing or unwritable file, a full disk): one line
        # that says what and where, no traceback unless asked for with -v.
        if args.verbose:
            raise
        print(f"colliderflow {args.command}: error: {describe(err)}", file=sys.stderr)
        return 2
    return int(result or 0)


def describe(err: BaseException) -> str:
    """One line for an expected failure: the message, and for I/O errors the file and what to do."""
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    if isinstance(err, OSError) and not isinstance(err, FileNotFoundError) and err.errno is not None:
        import errno

        where = err.filename or "a file"
        if err.errno == errno.ENOSPC:
            return f"no space left on the device while writing {where}: free some space and rerun"
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"permission denied for {where}: make it (or its folder) writable/readable and rerun"
        return f"{err.strerror or err} ({where}); rerun with -v for the traceback"
    return str(err)


if __name__ == "__main__":
    sys.exit(main())
