"""Inference: from a model's scores and its selection to the physics result.

Commands (one Snakemake rule each), per model, files under ``results/<analysis>/inference/<model>/``:

``signal-model``      per category: signal shape fitted to weighted signal MC, expected yield
``background-model``  per category: background function by spurious signal + F-test
``fit-categories``    simultaneous unbinned fit: mu, peak position, scans, q0/p0/Z, expected Z, p0 scan, plots
``workspace``         pyhf HistFactory workspace (then ``colliderflow limit``)
``sweights``          the signal and background sWeights of every fitted data event (``fit.sweights``)
``contour``           the 68%/95% CL contours of mu and the peak position (``studies``)
``impacts``           nuisance-parameter pulls and pre-/post-fit impacts on mu, the ranking plot (``studies``)
``fit``, ``limit``, ``validate-fit``  the same statistics on your own ntuples (``standalone``)

The modules: ``inputs`` (events, splits, categories), ``models``, ``fit``, ``studies``,
``workspace``, ``standalone``, ``splot``. The statistics are the generic ``colliderflow.stats`` library; what is
analysis-shaped (the observable, the fit recipe's defaults) comes from the analysis object.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def _add_events(parser) -> None:
    from .. import config

    config.add_arguments(parser)
    parser.add_argument("--model", required=True, help="model name (a key of ml.models)")
    parser.add_argument("--scores", required=True, help="directory of the model's <sample>.parquet scores")
    parser.add_argument("--selection", required=True, help="the model's selection.json (from optimise)")


def register(sub) -> None:
    p = sub.add_parser("signal-model")
    _add_events(p)
    p.add_argument("--out", required=True, help="signal_model.json to write")
    p.set_defaults(func=run_signal_model)

    p = sub.add_parser("background-model")
    _add_events(p)
    p.add_argument("--signal-model", required=True, help="signal_model.json")
    p.add_argument("--out", required=True, help="background_model.json to write")
    p.set_defaults(func=run_background_model)

    p = sub.add_parser("fit-categories")
    _add_events(p)
    p.add_argument("--signal-model", required=True, help="signal_model.json")
    p.add_argument("--background-model", required=True, help="background_model.json")
    p.add_argument("--out", required=True, help="fit.json to write")
    p.add_argument("--significance", required=True, help="significance.json to write")
    p.add_argument("--plots",
                   help="directory for mass_<category>.png, mu_scan.png, mass_scan.png, mu_categories.png, p0_scan.png "
                        "(no plots without it)")
    p.set_defaults(func=run_fit)

    p = sub.add_parser("workspace")
    _add_events(p)
    p.add_argument("--signal-model", required=True, help="signal_model.json")
    p.add_argument("--background-model", required=True, help="background_model.json")
    p.add_argument("--fit", required=True, help="fit.json (the background parameters come from the data fit)")
    p.add_argument("--out", required=True, help="workspace.json to write (plain HistFactory JSON)")
    p.set_defaults(func=run_workspace)

    for name, func, what in (("contour", run_contour, "contour"), ("impacts", run_impacts, "impacts")):
        p = sub.add_parser(name)
        _add_events(p)
        p.add_argument("--fit", required=True, help="fit.json (its fitted model is the start)")
        p.add_argument("--out", required=True, help=f"{what}.json to write")
        p.add_argument("--plot", required=True, help=f"{what}.png to write")
        if name == "contour":
            p.add_argument("--points", type=int, default=40, help="points on each contour (default 40)")
        p.set_defaults(func=func)

    p = sub.add_parser("sweights")
    _add_events(p)
    p.add_argument("--fit", required=True, help="fit.json (its fitted model gives the densities and yields)")
    p.add_argument("--out", required=True, help="sweights.parquet to write")
    p.set_defaults(func=run_sweights)


# ----------------------------------------------------------------------------------------
class _Job:
    """What every inference command starts from, resolved once: the config, the analysis,
    its observable, the events of the fit (with categories) and the input files."""

    def __init__(self, args):
        from .. import analyses, config
        from .inputs import fit_splits, load_events, prepare

        self.cfg = config.load(args.configfile, args.settings)
        self.analysis = analyses.get(self.cfg["analysis"])
        self.observable = self.analysis.observable(self.cfg)
        selection = _read(args.selection, "selection")
        if selection.get("model") not in (None, args.model):
            raise ValueError(
                f"{args.selection} is the selection of model {selection.get('model')!r}, not {args.model!r}")
        frame, files = load_events(args.scores, self.observable)
        self.part = prepare(fit_splits(self.cfg), self.observable, frame, selection)
        self.inputs = [*files, args.selection]


def _read(path, what):
    from pathlib import Path

    from ..io import read_json

    if not Path(path).is_file():
        raise FileNotFoundError(f"{what} file {path} does not exist; run the stage that writes it first")
    return read_json(path)


def run_signal_model(args) -> int:
    from ..io import write_json
    from .models import signal_model

    job = _Job(args)
    write_json(args.out, signal_model(job.cfg, job.observable, job.part, args.model), job.cfg, inputs=job.inputs)
    return 0


def run_background_model(args) -> int:
    from ..io import write_json
    from .models import background_model

    job = _Job(args)
    signal = _read(args.signal_model, "signal model")
    write_json(args.out, background_model(job.cfg, job.observable, job.part, signal, args.model), job.cfg,
               inputs=job.inputs + [args.signal_model])
    return 0


def run_fit(args) -> int:
    from ..io import write_json
    from .fit import fit_categories

    job = _Job(args)
    signal = _read(args.signal_model, "signal model")
    background = _read(args.background_model, "background model")
    fit_payload, significance = fit_categories(job.cfg, job.observable, job.analysis.peak_label, job.part, signal,
                                               background, args.model, plot_dir=args.plots)
    inputs = job.inputs + [args.signal_model, args.background_model]
    write_json(args.significance, significance, job.cfg, inputs=inputs)
    write_json(args.out, fit_payload, job.cfg, inputs=inputs)
    return 0


def run_workspace(args) -> int:
    from . import workspace

    job = _Job(args)
    signal = _read(args.signal_model, "signal model")
    background = _read(args.background_model, "background model")
    fit_payload = _read(args.fit, "fit")
    workspace.write(args.out, workspace.build(job.cfg["fit"], job.observable, job.part, signal, background,
                                              fit_payload))
    return 0


def run_contour(args) -> int:
    from ..io import write_json
    from .studies import mu_mass_contour

    job = _Job(args)
    fit_payload = _read(args.fit, "fit")
    result = mu_mass_contour(fit_payload, job.part, job.analysis.peak_label, job.observable.unit,
                             job.cfg["dataset"]["simulated"], job.cfg["lumi_fb"], args.plot, args.points)
    write_json(args.out, result, job.cfg, inputs=job.inputs + [args.fit])
    return 0


def run_impacts(args) -> int:
    from ..io import write_json
    from .studies import nuisance_impacts

    job = _Job(args)
    fit_payload = _read(args.fit, "fit")
    result = nuisance_impacts(fit_payload, job.part, job.cfg["dataset"]["simulated"], job.cfg["lumi_fb"], args.plot)
    write_json(args.out, result, job.cfg, inputs=job.inputs + [args.fit])
    return 0


def run_sweights(args) -> int:
    from ..io import atomic_path
    from ..stats.model import Model
    from .splot import event_sweights

    job = _Job(args)
    fit_payload = _read(args.fit, "fit")
    if fit_payload["fitted"]:
        table = event_sweights(Model(fit_payload["model"]), job.part, job.observable)
    else:  # the rule's output all the same, empty: the summary says why
        log.warning("%s: no fit was made (%s), so the sWeights table is empty", args.model, fit_payload.get("reason"))
        table = event_sweights(None, job.part.iloc[:0], job.observable)
    with atomic_path(args.out) as tmp:
        table.to_parquet(tmp, index=False)
    log.info("%s: sWeights of %d events, signal sum %.2f", args.model, len(table), table["sweight_signal"].sum())
    return 0
