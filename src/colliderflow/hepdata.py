"""``colliderflow hepdata``: the analysis's HEPData record (``hepdata_lib``), validated.

The record holds, for every fitted model, the observable's spectrum in each category (data
with their statistical errors, the fitted signal + background and the background, as events
per bin), the profile likelihood scans of mu and of the peak position, p0 against the peak
position and the CLs scan of the limit; across models, the results (mu, the peak position, Z,
p0) and the upper limits on mu with their expected bands. Each model's pyhf workspace is an
additional resource (HistFactory). Every dependent variable carries the qualifiers: sqrt(s),
the luminosity of the fitted data, the observable and its range, the dataset.

What is read, per model under ``--fits/<model>/``:

- ``fit.json``: ``fitted``, ``reason``, ``lumi_fb_fitted``, ``categories`` (names),
  ``model`` (the fitted model: expected counts per bin), ``mu`` (``value``, ``error``,
  ``errors68``), ``mass`` (``value``, ``error``, ``errors68``), ``scans`` (``mu``,
  ``mu_expected``, ``mass``: ``values``, ``dnll2``);
- ``significance.json``: ``Z_observed``, ``Z_expected``, ``p0``, ``p0_scan`` (``mass``,
  ``p0``, ``p0_expected``);
- ``limits.json``: ``cl``, ``upper_limit`` (``observed``, ``expected``: -2..+2 sigma),
  ``scan`` (``poi_values``, ``cls_obs``, ``cls_exp``);
- ``workspace.json``, copied into the record;
- the data of each category: the model's scores (``--scores/<model>/``) and its selection
  (``--optimise/<model>/selection.json``), through the same ``inference.inputs`` functions as the fit.

A table is made by one function of ``MODEL_TABLES`` (per fitted model) or ``RECORD_TABLES``
(across models): a new result in fit.json is one more function there. The labels (the
analysis's title, observable and peak position) come from the analysis object; sqrt(s) from
``dataset.sqrt_s_tev``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .analyses import Observable
from .io import read_json

log = logging.getLogger(__name__)

POI = r"$\mu$"
MISSING = "-"  # HEPData's value for a number that does not exist (a failed scan point, no limit)


@dataclass(frozen=True)
class ModelResult:
    """One model's files, read."""

    name: str
    fit: dict
    significance: dict
    limits: dict
    workspace: Path
    data: dict[str, np.ndarray]  # category name -> the observable of its fitted data events


@dataclass(frozen=True)
class Record:
    """What every table function sees: the labels and qualifiers, and the models' results."""

    title: str
    observable: Observable
    peak: str  # the analysis's name of the fitted peak position, e.g. $m_H$
    qualifiers: tuple[tuple[str, object, str], ...]  # (name, value, units) on every dependent variable
    cmenergy_gev: float
    models: dict[str, ModelResult]


# --------------------------------------------------------------------------- building blocks


def _number(value):
    """A finite float, or HEPData's '-' for None, NaN and inf."""
    return float(value) if value is not None and math.isfinite(value) else MISSING


def _table(record: Record, name: str, description: str, location: str):
    from hepdata_lib import Table

    table = Table(name)
    table.description = description
    table.location = location
    table.keywords["cmenergies"] = [record.cmenergy_gev]
    return table


def _independent(name: str, values, units: str = "", binned: bool = False):
    from hepdata_lib import Variable

    return Variable(name, is_independent=True, is_binned=binned, units=units, values=list(values))


def _dependent(record: Record, name: str, values, units: str = "", qualifiers: tuple = ()):
    from hepdata_lib import Variable

    variable = Variable(name, is_independent=False, is_binned=False, units=units,
                        values=[_number(v) for v in values], zero_uncertainties_warning=False)
    for qualifier, value, unit in (*record.qualifiers, *qualifiers):
        variable.add_qualifier(qualifier, value, unit)
    return variable


def _uncertainty(label: str, values, symmetric: bool = True):
    from hepdata_lib import Uncertainty

    uncertainty = Uncertainty(label, is_symmetric=symmetric)
    uncertainty.values = list(values)
    return uncertainty


def _unit(observable: Observable) -> str:
    return f" {observable.unit}" if observable.unit else ""


# --------------------------------------------------------------------------- the tables


def spectrum_tables(record: Record, result: ModelResult) -> list:
    """Per category: the observable's data counts with sqrt(N) errors, and the fitted signal
    + background and background expected in each bin (exact bin integrals of the fitted model)."""
    from .stats import binned
    from .stats.model import Model

    observable = record.observable
    model = Model(result.fit["model"])
    values = model.values()
    edges = binned.make_edges(*observable.range, observable.bin_width)
    tables = []
    for category, events in result.data.items():
        counts, _ = np.histogram(events, bins=edges)
        expected = model.expected_counts(category, edges, values)
        table = _table(record, f"{result.name} {category} spectrum",
                       f"{record.title}: the {observable.label} distribution of the data in category {category} of "
                       f"model {result.name}, with the fitted signal + background and the fitted background "
                       f"(expected events per bin of {observable.bin_width:g} {observable.unit}).",
                       f"inference/{result.name}/plots/mass_{category}.png")
        table.add_variable(_independent(observable.label, zip(edges[:-1], edges[1:]), observable.unit, binned=True))
        extra = (("Model", result.name, ""), ("Category", category, ""))
        data = _dependent(record, "Data", counts.tolist(), "events", extra)
        data.add_uncertainty(_uncertainty("stat", np.sqrt(counts).tolist()))
        table.add_variable(data)
        table.add_variable(_dependent(record, "Signal + background fit",
                                      (expected["signal"] + expected["background"]).tolist(), "events", extra))
        table.add_variable(_dependent(record, "Background fit", expected["background"].tolist(), "events", extra))
        tables.append(table)
    return tables


def mu_scan_table(record: Record, result: ModelResult) -> list:
    """The profile likelihood scan of mu, observed and expected (Asimov, mu = 1)."""
    scans = result.fit["scans"]
    observed, expected = scans["mu"], scans["mu_expected"]
    if expected["values"] != observed["values"]:
        raise ValueError(f"fit.json of model {result.name}: scans.mu and scans.mu_expected have other grids")
    table = _table(record, f"{result.name} mu scan",
                   f"{record.title}: -2 Delta ln L against the signal strength mu (model {result.name}), observed "
                   "and expected (Asimov dataset with mu = 1).",
                   f"inference/{result.name}/plots/mu_scan.png")
    table.add_variable(_independent(POI, observed["values"]))
    extra = (("Model", result.name, ""),)
    table.add_variable(_dependent(record, r"$-2\Delta\ln L$ observed", observed["dnll2"], qualifiers=extra))
    table.add_variable(_dependent(record, r"$-2\Delta\ln L$ expected", expected["dnll2"], qualifiers=extra))
    return [table]


def mass_scan_table(record: Record, result: ModelResult) -> list:
    """The profile likelihood scan of the peak position (mu profiled)."""
    scan = result.fit["scans"]["mass"]
    table = _table(record, f"{result.name} peak scan",
                   f"{record.title}: -2 Delta ln L against {record.peak} (model {result.name}; mu profiled).",
                   f"inference/{result.name}/plots/mass_scan.png")
    table.add_variable(_independent(record.peak, scan["values"], record.observable.unit))
    table.add_variable(_dependent(record, r"$-2\Delta\ln L$ observed", scan["dnll2"],
                                  qualifiers=(("Model", result.name, ""),)))
    return [table]


def p0_table(record: Record, result: ModelResult) -> list:
    """The local p0 against the peak position, observed and expected."""
    scan = result.significance["p0_scan"]
    table = _table(record, f"{result.name} p0 scan",
                   f"{record.title}: the local p-value of the background-only hypothesis against {record.peak} "
                   f"(model {result.name}), observed and expected for mu = 1.",
                   f"inference/{result.name}/plots/p0_scan.png")
    table.add_variable(_independent(record.peak, scan["mass"], record.observable.unit))
    extra = (("Model", result.name, ""),)
    table.add_variable(_dependent(record, "Local $p_0$ observed", scan["p0"], qualifiers=extra))
    if scan.get("p0_expected") is not None:
        table.add_variable(_dependent(record, "Local $p_0$ expected", scan["p0_expected"], qualifiers=extra))
    return [table]


def cls_scan_table(record: Record, result: ModelResult) -> list:
    """CLs against mu from the binned (pyhf) model: observed, expected with its 1 and 2 sigma bands."""
    scan, cl = result.limits["scan"], result.limits["cl"]
    if not scan["poi_values"]:  # the limit was found without a scan (fit.limit.scan unset)
        return []
    table = _table(record, f"{result.name} CLs scan",
                   f"{record.title}: CLs against the signal strength mu (model {result.name}, binned pyhf model), "
                   f"observed and expected with its 1 and 2 sigma bands; mu is excluded at {100 * cl:g}% CL where "
                   f"CLs < {1 - cl:.2g}.",
                   f"inference/{result.name}/limit.png")
    table.add_variable(_independent(POI, scan["poi_values"]))
    table.add_variable(_dependent(record, "CLs observed", scan["cls_obs"], qualifiers=(("Model", result.name, ""),)))
    table.add_variable(_expected_band(record, "CLs expected", scan["cls_exp"], (("Model", result.name, ""),)))
    return [table]


def _expected_band(record: Record, name: str, bands, qualifiers: tuple = ()):
    """The median of each row of five quantiles (-2..+2 sigma), with the bands as asymmetric
    errors; a row with a quantile missing (not found in the scan) is written without bands
    (hepdata_lib leaves out the errors of a value whose errors are all zero)."""
    median = _dependent(record, name, [row[2] for row in bands], qualifiers=qualifiers)
    complete = [MISSING not in map(_number, row) for row in bands]
    for label, lo, hi in (("1 sigma", 1, 3), ("2 sigma", 0, 4)):
        median.add_uncertainty(_uncertainty(label, [(row[lo] - row[2], row[hi] - row[2]) if whole else (0.0, 0.0)
                                                    for row, whole in zip(bands, complete)], symmetric=False))
    return median


def results_table(record: Record) -> list:
    """Per fitted model: mu with its 68% interval, the peak position, the observed and expected Z, p0."""
    fitted = {n: r for n, r in record.models.items() if r.fit["fitted"]}
    if not fitted:
        return []
    unfitted = sorted(set(record.models) - set(fitted))
    table = _table(record, "Results per model",
                   f"{record.title}: the signal strength mu (68% CL interval of the profile likelihood), "
                   f"{record.peak} (peak position floating), and the local discovery significance Z (observed, "
                   "expected for mu = 1) and p0 of the unbinned fit, per model."
                   + (f" Not fitted: {', '.join(unfitted)} (too few data events)." if unfitted else ""),
                   "summary.md")
    table.add_variable(_independent("Model", list(fitted)))
    mu = _dependent(record, POI, [r.fit["mu"]["value"] for r in fitted.values()])
    mu.add_uncertainty(_uncertainty("68% CL", [_interval(r.fit["mu"]) for r in fitted.values()], symmetric=False))
    peak = _dependent(record, record.peak, [r.fit["mass"]["value"] for r in fitted.values()], record.observable.unit)
    peak.add_uncertainty(_uncertainty("68% CL", [_interval(r.fit["mass"]) for r in fitted.values()], symmetric=False))
    table.add_variable(mu)
    table.add_variable(peak)
    for name, key in (("Z observed", "Z_observed"), ("Z expected", "Z_expected"), ("Local $p_0$ observed", "p0")):
        table.add_variable(_dependent(record, name, [r.significance[key] for r in fitted.values()]))
    return [table]


def _interval(estimate: dict) -> tuple[float, float]:
    """(minus, plus) of the profile likelihood's 68% interval, or the symmetric error without one."""
    errors = estimate.get("errors68") or [None, None]
    if None in errors:
        return -estimate["error"], estimate["error"]
    return errors[0], errors[1]


def limits_table(record: Record) -> list:
    """Per model: the observed upper limit on mu and the expected one with its 1 and 2 sigma bands."""
    cls = {r.limits["cl"] for r in record.models.values()}
    if len(cls) != 1:
        raise ValueError(f"the models' limits.json hold different confidence levels {sorted(cls)}; rerun the limits")
    cl = cls.pop()
    table = _table(record, "Upper limits on mu",
                   f"{record.title}: the {100 * cl:g}% CL upper limit on the signal strength mu (CLs, binned pyhf "
                   "model), observed and expected with its 1 and 2 sigma bands, per model.",
                   "summary.md")
    table.add_variable(_independent("Model", list(record.models)))
    limits = [r.limits["upper_limit"] for r in record.models.values()]
    table.add_variable(_dependent(record, f"{100 * cl:g}% CL upper limit on {POI} observed",
                                  [u["observed"] for u in limits]))
    table.add_variable(_expected_band(record, f"{100 * cl:g}% CL upper limit on {POI} expected",
                                      [u["expected"] for u in limits]))
    return [table]


# a new result: one more function here (per fitted model, or across models)
MODEL_TABLES: tuple[Callable[[Record, ModelResult], list], ...] = (
    spectrum_tables, mu_scan_table, mass_scan_table, p0_table, cls_scan_table)
RECORD_TABLES: tuple[Callable[[Record], list], ...] = (results_table, limits_table)
# tables that need no fit (the limits come from the binned model of the MC)
UNFITTED_MODEL_TABLES: tuple[Callable[[Record, ModelResult], list], ...] = (cls_scan_table,)


# --------------------------------------------------------------------------- the record


def submission(record: Record, comment: str):
    """The hepdata_lib Submission with every table (``write`` adds the workspaces)."""
    from hepdata_lib import Submission

    sub = Submission()
    sub.comment = comment
    for result in record.models.values():
        for make in MODEL_TABLES if result.fit["fitted"] else UNFITTED_MODEL_TABLES:
            for table in make(record, result):
                sub.add_table(table)
    for make in RECORD_TABLES:
        for table in make(record):
            sub.add_table(table)
    return sub


def write(sub, record: Record, out: str | Path, archive: str | Path) -> None:
    """Write the submission folder ``out`` and its ``archive`` (.tar.gz), with each model's
    workspace as a resource (renamed <model>_workspace.json), validated with hepdata-validator;
    nothing is left at either path unless the record is valid.

    The archive is written here rather than by hepdata_lib (which writes submission.tar.gz in
    the working directory, with the time in it): sorted, with fixed times and owners, so the
    same record gives the same bytes.
    """
    from hepdata_validator.full_submission_validator import FullSubmissionValidator

    out, archive = Path(out).resolve(), Path(archive).resolve()  # absolute: hepdata_lib runs in another folder
    out.parent.mkdir(parents=True, exist_ok=True)
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        staging, resources = Path(tmp) / "submission", Path(tmp) / "resources"
        resources.mkdir()
        for result in record.models.values():
            copy = resources / f"{result.name}_workspace.json"
            shutil.copyfile(result.workspace, copy)
            sub.add_additional_resource(f"pyhf (HistFactory JSON) workspace of model {result.name}: one channel "
                                        "per category", str(copy), copy_file=True, file_type="HistFactory")
        with contextlib.chdir(tmp):  # where hepdata_lib drops its own submission.tar.gz
            sub.create_files(str(staging), validate=False)
        packed = Path(tmp) / "submission.tar.gz"
        _deterministic_tar(staging, packed)
        validator = FullSubmissionValidator()
        if not validator.validate(archive=str(packed)):
            problems = "; ".join(f"{file}: {m.message}" for file, messages in validator.get_messages().items()
                                 for m in messages)
            raise ValueError(f"the HEPData record is invalid (hepdata-validator): {problems}")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
        os.replace(packed, archive)
    log.info("HEPData record: %d tables in %s, %s (valid)", len(sub.tables), out, archive)


def _deterministic_tar(folder: Path, path: Path) -> None:
    import gzip

    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for file in sorted(folder.iterdir()):
            info = tar.gettarinfo(str(file), arcname=file.name)
            info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "", "", 0o644
            with open(file, "rb") as handle:
                tar.addfile(info, handle)


# --------------------------------------------------------------------------- inputs


def read_model(name: str, fits: Path, scores: Path, optimise: Path, cfg: dict, observable: Observable) -> ModelResult:
    """One model's result files and the observable of its fitted data per category."""
    from .inference.inputs import category_arrays, fit_splits, load_events, prepare

    directory = fits / name
    files = {f: directory / f for f in ("fit.json", "significance.json", "limits.json", "workspace.json")}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"model {name!r} lacks {missing}; run the inference stage for it first")
    fit = read_json(files["fit.json"])
    data = {}
    if fit["fitted"]:
        selection_path = optimise / name / "selection.json"
        if not selection_path.is_file():
            raise FileNotFoundError(f"{selection_path} does not exist; run the optimise stage for model {name!r}")
        frame, _ = load_events(scores / name, observable)
        part = prepare(fit_splits(cfg), observable, frame, read_json(selection_path))
        data = {category: events for category, (events, _) in category_arrays(part, "data").items()}
        if sorted(data) != sorted(fit["categories"]):
            raise ValueError(f"{selection_path} gives categories {sorted(data)}, but {files['fit.json']} has "
                             f"{sorted(fit['categories'])}; rerun the fit of model {name!r}")
    return ModelResult(name, fit, read_json(files["significance.json"]), read_json(files["limits.json"]),
                       files["workspace.json"], data)


def make_record(cfg: dict, analysis, models: dict[str, ModelResult]) -> Record:
    """The labels and qualifiers of the record, from the analysis and the config."""
    sqrt_s = cfg["dataset"].get("sqrt_s_tev")
    if sqrt_s is None:
        raise ValueError("dataset.sqrt_s_tev is not set: the HEPData record gives the centre-of-mass energy; set it in "
                         "the config (or as a default in the analysis's config.schema.yaml)")
    observable = analysis.observable(cfg)
    lumis = {round(float(r.fit["lumi_fb_fitted"]), 6) for r in models.values() if r.fit.get("lumi_fb_fitted")}
    if len(lumis) > 1:
        raise ValueError(f"the models' fit.json hold different luminosities {sorted(lumis)}; rerun the fits")
    lumi = lumis.pop() if lumis else cfg["lumi_fb"]
    lo, hi = observable.range
    dataset = cfg["dataset"]["name"] + (" (simulated pseudo-data)" if cfg["dataset"]["simulated"] else "")
    qualifiers = (("SQRT(S)", float(sqrt_s) * 1000.0, "GeV"), ("LUMINOSITY", round(lumi, 3), "fb$^{-1}$"),
                  ("Observable", f"{observable.label} in [{lo:g}, {hi:g}){_unit(observable)}", ""),
                  ("Dataset", dataset, ""))
    return Record(title=analysis.title, observable=observable, peak=analysis.peak_label, qualifiers=qualifiers,
                  cmenergy_gev=float(sqrt_s) * 1000.0, models=models)


def comment(cfg: dict, record: Record) -> str:
    data = ("simulated pseudo-data from the embedded simulation, whose truth is known" if cfg["dataset"]["simulated"]
            else "collision data")
    return (f"{record.title}: the likelihood fits of the observable {record.observable.label} on the "
            f"{cfg['dataset']['name']} dataset ({data}), made by colliderflow; one set of tables per selection model: "
            f"{', '.join(record.models)}.")


# --------------------------------------------------------------------------- CLI


def register(sub) -> None:
    from . import config

    p = sub.add_parser("hepdata")
    config.add_arguments(p)
    p.add_argument("--fits", required=True, help="directory holding <model>/ with the inference stage's files")
    p.add_argument("--scores", required=True, help="directory holding <model>/<sample>.parquet scores")
    p.add_argument("--optimise", required=True, help="directory holding <model>/selection.json")
    p.add_argument("--models", nargs="+", required=True, help="models to include, in this order")
    p.add_argument("--out", required=True, help="the submission folder to write (submission.yaml and the tables)")
    p.add_argument("--archive", required=True, help="the submission as .tar.gz, to upload to HEPData")
    p.set_defaults(func=run)


def run(args) -> int:
    from . import analyses, config

    cfg = config.load(args.configfile, args.settings)
    analysis = analyses.get(cfg["analysis"])
    observable = analysis.observable(cfg)
    models = {name: read_model(name, Path(args.fits), Path(args.scores), Path(args.optimise), cfg, observable)
              for name in args.models}
    record = make_record(cfg, analysis, models)
    sub = submission(record, comment(cfg, record))
    write(sub, record, args.out, args.archive)
    print(f"HEPData record {args.archive}: {len(sub.tables)} tables, {len(models)} workspaces; hepdata-validator: valid")
    return 0
