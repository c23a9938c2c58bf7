"""The analysis-level fit stage: from a model's scores and its selection to the result.

Commands (one Snakemake rule each), per model, files under ``results/<analysis>/fit/<model>/``:

``signal-model``      per category: signal shape fitted to weighted signal MC, expected yield
``background-model``  per category: background function by spurious signal + F-test
``fit-categories``    simultaneous unbinned fit: mu, m_H, scans, q0/p0/Z, expected Z, p0(m_H), plots
``workspace``         pyhf HistFactory workspace (then ``colliderflow limit``, from stats)
``summary``           every model's headline numbers: summary.json, summary.md, printed table

The modules: ``inputs`` (events, splits, categories), ``models``, ``fit``, ``workspace``,
``summary``. The statistics are the generic ``colliderflow.stats`` library.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def _add_events(parser) -> None:
    from ..cli import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument("--model", required=True, help="model name ('cutbased' for the inclusive baseline)")
    parser.add_argument("--scores", help="directory of the model's <sample>.parquet scores")
    parser.add_argument("--features", help="directory of features <sample>.parquet (only with --model cutbased)")
    parser.add_argument("--selection", required=True, help="the model's selection.json (from optimise)")


def register(sub) -> None:
    p = sub.add_parser("signal-model", help="per category: signal shape fit to weighted MC and expected yield")
    _add_events(p)
    p.add_argument("--out", required=True, help="signal_model.json to write")
    p.set_defaults(func=run_signal_model)

    p = sub.add_parser("background-model", help="per category: background function by spurious signal + F-test")
    _add_events(p)
    p.add_argument("--signal-model", required=True, help="signal_model.json")
    p.add_argument("--out", required=True, help="background_model.json to write")
    p.set_defaults(func=run_background_model)

    p = sub.add_parser("fit-categories", help="simultaneous unbinned fit of all categories: mu, m_H, Z, p0 scan")
    _add_events(p)
    p.add_argument("--signal-model", required=True, help="signal_model.json")
    p.add_argument("--background-model", required=True, help="background_model.json")
    p.add_argument("--out", required=True, help="fit.json to write")
    p.add_argument("--significance", required=True, help="significance.json to write")
    p.add_argument("--plots",
                   help="directory for mass_<category>.png, mu_scan.png, mass_scan.png, p0_scan.png "
                        "(no plots without it)")
    p.set_defaults(func=run_fit)

    p = sub.add_parser("workspace", help="pyhf HistFactory workspace, one channel per category")
    _add_events(p)
    p.add_argument("--signal-model", required=True, help="signal_model.json")
    p.add_argument("--background-model", required=True, help="background_model.json")
    p.add_argument("--fit", required=True, help="fit.json (the background parameters come from the data fit)")
    p.add_argument("--out", required=True, help="workspace.json to write (plain HistFactory JSON)")
    p.set_defaults(func=run_workspace)

    from ..cli import add_config_arguments

    p = sub.add_parser("summary", help="headline numbers of every model: summary.json, summary.md, a table")
    add_config_arguments(p)
    p.add_argument("--fits", required=True, help="directory holding <model>/ with the fit stage's files")
    p.add_argument("--models", nargs="+", help="models to include (default: every <model>/ with a fit.json)")
    p.add_argument("--optimise", help="directory holding <model>/selection.json (adds the optimisation Z)")
    p.add_argument("--out", required=True, help="summary.json to write")
    p.add_argument("--markdown", help="summary.md to write (default: next to --out)")
    p.set_defaults(func=run_summary)


# ----------------------------------------------------------------------------------------
def _inputs(args):
    from .. import config
    from ..optimise import CUTBASED
    from .inputs import load_events, prepare

    cfg = config.load(args.configfile, args.settings)
    if args.model == CUTBASED:
        directory = args.features or args.scores
        if not directory:
            raise ValueError(f"--model {CUTBASED} needs --features DIR (the features Parquet files)")
    else:
        directory = args.scores
        if not directory:
            raise ValueError(f"--model {args.model} needs --scores DIR (the model's scores Parquet files)")
    selection = _read(args.selection, "selection")
    if selection.get("model") not in (None, args.model):
        raise ValueError(f"{args.selection} is the selection of model {selection.get('model')!r}, not {args.model!r}")
    frame, files = load_events(args.model, directory)
    part = prepare(cfg, frame, selection)
    return cfg, part, list(files) + [args.selection]


def _read(path, what):
    from pathlib import Path

    from ..io import read_json

    if not Path(path).is_file():
        raise FileNotFoundError(f"{what} file {path} does not exist; run the stage that writes it first")
    return read_json(path)


def run_signal_model(args) -> int:
    from ..io import write_json
    from .models import signal_model

    cfg, part, inputs = _inputs(args)
    write_json(args.out, signal_model(cfg, part, args.model), cfg, inputs=inputs)
    return 0


def run_background_model(args) -> int:
    from ..io import write_json
    from .models import background_model

    cfg, part, inputs = _inputs(args)
    signal = _read(args.signal_model, "signal model")
    write_json(args.out, background_model(cfg, part, signal, args.model), cfg, inputs=inputs + [args.signal_model])
    return 0


def run_fit(args) -> int:
    from ..io import write_json
    from .fit import fit_categories

    cfg, part, inputs = _inputs(args)
    signal = _read(args.signal_model, "signal model")
    background = _read(args.background_model, "background model")
    fit_payload, significance = fit_categories(cfg, part, signal, background, args.model, plot_dir=args.plots)
    inputs = inputs + [args.signal_model, args.background_model]
    write_json(args.significance, significance, cfg, inputs=inputs)
    write_json(args.out, fit_payload, cfg, inputs=inputs)
    return 0


def run_workspace(args) -> int:
    from . import workspace

    cfg, part, _ = _inputs(args)
    signal = _read(args.signal_model, "signal model")
    background = _read(args.background_model, "background model")
    fit_payload = _read(args.fit, "fit")
    workspace.write(args.out, workspace.build(cfg, part, signal, background, fit_payload))
    return 0


def run_summary(args) -> int:
    from pathlib import Path

    from .. import config
    from ..io import write_json
    from . import summary

    cfg = config.load(args.configfile, args.settings)
    result = summary.summarise(cfg, args.fits, args.models, args.optimise)
    inputs = sorted(str(p) for n in result["models"] for p in (Path(args.fits) / n).glob("*.json"))
    write_json(args.out, result, cfg, inputs=inputs)
    text = summary.markdown(result)
    summary.write_markdown(args.markdown or Path(args.out).with_name("summary.md"), text)
    print(text)
    return 0
