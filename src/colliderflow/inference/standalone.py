"""``colliderflow fit``, ``colliderflow limit`` and ``colliderflow validate-fit``: the statistics on any input.

These commands need nothing from the workflow: a Parquet (or CSV) file with an observable
column, or a pyhf workspace JSON, is enough. A config (``--configfile``/``--settings``) only
changes defaults, from its ``fit`` and ``observable`` sections (the fit range and the plot's
bin width). The statistics themselves are the ``colliderflow.stats`` library.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import numpy as np

from .. import config as _config
from ..io import read_json, write_json

# numba-stats compiles its pdfs at import (seconds), pyhf and matplotlib are not light either:
# they are imported inside the commands so that `colliderflow <other stage>` stays quick.

log = logging.getLogger(__name__)

FIT_EPILOG = """\
parameter names (for --set, --fix, --float, and in fit.json):
  signal_yield, background_yield (events);
  signal  gauss: mass sigma | dscb: mass sigma alpha_lo n_lo alpha_hi n_hi |
          crystalball: mass sigma alpha n | voigt: mass sigma width (Breit-Wigner full width) |
          A+B, e.g. crystalball+gauss: A's parameters, B's with the suffix _2 but mass (shared), fraction;
  background  exponential: slope (exp(slope*x)) | powerlaw: power (x**power) |
          bernstein:N: b1..bN (b0 = 1) | exppoly:N: a1..aN (exp(a1 t + ... + aN t^N), t in [0, 1] on the range).

--signal-model FILE: a JSON with "params": {name: {"value": v, ...}} (e.g. the fit.json of a
  signal-only fit, `--background none`, on signal MC), optionally "signal" (the shape name,
  used when --signal is not given). Its shape parameters are FIXED at those values, except
  `mass`, which starts there and floats (fix it with --fix mass); release others with --float.
--set NAME=VALUE sets a starting value (or the value of a fixed parameter); --fix NAME fixes a
  parameter at its starting value. Use `--signal none` for a background-only fit and
  `--background none` for a signal-only (shape) fit; with weights (--weight) the errors are
  the sandwich estimate, correct for weighted MC.

fit.json: signal_yield(_error), background_yield(_error), params {name: {value, error}},
  discovery {q0, p0, Z} (local, from the S+B and background-only fits), model (the fitted
  model, input to `colliderflow validate-fit --model`).
"""


def register(sub) -> None:
    p = sub.add_parser("fit",
                       description="Extended unbinned maximum-likelihood fit (iminuit) of signal + background "
                                   "to one column of a Parquet/CSV file.",
                       epilog=FIT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="input Parquet (or .csv) file")
    p.add_argument("--observable", required=True, help="column to fit (e.g. an invariant mass)")
    p.add_argument("--weight", help="column of per-event weights (errors: sandwich estimate)")
    p.add_argument("--range", nargs=2, type=float, metavar=("LO", "HI"), help="fit range (default: observable.range)")
    p.add_argument("--signal", help="signal shape: dscb, gauss, voigt, crystalball, a sum of two (crystalball+gauss), "
                                    "or none")
    p.add_argument("--signal-model", help="JSON of a previous signal fit (shape parameters fixed; see below)")
    p.add_argument("--background", default="exponential",
                   help="background shape: exponential, powerlaw, bernstein:N, exppoly:N (N=1..5), or none")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="starting (or fixed) value")
    p.add_argument("--fix", action="append", default=[], metavar="NAME", help="fix a parameter")
    p.add_argument("--float", action="append", default=[], metavar="NAME",
                   help="let a parameter fixed by --signal-model float")
    p.add_argument("--out", required=True, help="output fit.json")
    p.add_argument("--plot", help="output figure (png/pdf) of the data and the fit")
    p.add_argument("--label", default="Open Data", help="experiment label text on the plot")
    _config.add_arguments(p)
    p.set_defaults(func=run_fit)

    p = sub.add_parser("limit",
                       description="CLs at a POI value, the upper limit with its expected band, and the discovery "
                                   "p0 from a pyhf HistFactory workspace (asymptotic formulae). Output limits.json: "
                                   "cls_obs, cls_exp (-2..+2 sigma), upper_limit {observed, expected[5]}, "
                                   "discovery {p0, Z}.")
    p.add_argument("--workspace", required=True, help="pyhf workspace JSON")
    p.add_argument("--out", required=True, help="output limits.json")
    p.add_argument("--poi-value", type=float, help="POI value for CLs (default: fit.limit.poi_value = 1)")
    p.add_argument("--plot", help="output figure of CLs against the POI with the expected band")
    p.add_argument("--label", default="Open Data", help="experiment label text on the plot")
    _config.add_arguments(p)
    p.set_defaults(func=run_limit)

    p = sub.add_parser("validate-fit",
                       description="Throw pseudo-experiments from a fitted model (the `model` of a fit.json, or a "
                                   "model spec JSON), fit each, and report the pulls of the POI or of the --param "
                                   "parameters (mean ~ 0, width ~ 1), with their errors. E.g. the closure of mu "
                                   "and the peak position of the category fit: --model fit.json --float mass "
                                   "--param mu --param mass.")
    p.add_argument("--model", required=True, help="fit.json (with a `model`) or a model spec JSON")
    p.add_argument("--out", required=True,
                   help="output JSON: n_toys, n_valid, params {name: truth, pulls, pull_mean(_error), "
                        "pull_width(_error), ...}")
    p.add_argument("--toys", type=int, help="number of pseudo-experiments (default: fit.validation_toys)")
    p.add_argument("--seed", type=int, help="random seed (default: fit.validation_seed)")
    p.add_argument("--param", action="append", default=[],
                   help="parameter whose pull is reported, repeatable (default: the model's POI)")
    p.add_argument("--float", action="append", default=[], metavar="NAME",
                   help="let a parameter the model fixes float in the fits of the toys (e.g. mass: the fit.json of "
                        "the category fit fixes it at fit.mass_value unless fit.mass_floating); its stored value "
                        "stays the truth")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="true value of a parameter for the pseudo-experiments (e.g. mu=0)")
    p.add_argument("--plot", help="output figure of the pull distribution (one panel per --param: NAME_<file>)")
    p.add_argument("--label", default="Open Data Simulation", help="label text on the plot")
    _config.add_arguments(p)
    p.set_defaults(func=run_validate)


# ----------------------------------------------------------------------------------------
def _settings(args) -> tuple[dict, dict]:
    """The config (empty without --configfile/--settings) and its ``fit`` section with defaults."""
    cfg = _config.load(args.configfile, args.settings) if (args.configfile or args.settings) else {}
    return cfg, _config.section(cfg, "fit")


def read_column_data(path, observable: str, weight: str | None = None):
    """``(x, w)`` from a Parquet or CSV file; errors name the file and the missing column."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} does not exist")
    columns = [observable] + ([weight] if weight else [])
    if path.suffix.lower() == ".csv":
        import pandas as pd

        available = list(pd.read_csv(path, nrows=0).columns)
        _check_columns(path, columns, available)
        frame = pd.read_csv(path, usecols=columns)
    else:
        import pyarrow.parquet as pq

        try:
            available = pq.read_schema(path).names
        except Exception as err:
            raise ValueError(f"cannot read {path} as Parquet: {err}") from err
        _check_columns(path, columns, available)
        frame = pq.read_table(path, columns=columns).to_pandas()
    x = frame[observable].to_numpy(dtype=float)
    w = frame[weight].to_numpy(dtype=float) if weight else None
    return x, w


def _check_columns(path, wanted, available):
    missing = [c for c in wanted if c not in available]
    if missing:
        shown = ", ".join(available[:30]) + (" ..." if len(available) > 30 else "")
        raise KeyError(f"column(s) {missing} not in {path}; available columns: {shown}")


def parse_assignments(items) -> dict:
    """``["a=1", "b=2.5"]`` -> ``{"a": 1.0, "b": 2.5}``; ValueError naming a malformed item."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--set {item!r}: expected NAME=VALUE")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--set {item!r}: {value!r} is not a number") from None
    return out


def load_signal_model(path) -> tuple[str | None, dict]:
    """``(shape name or None, {param: value})`` from a signal-model / fit JSON."""
    body = read_json(path) if Path(path).is_file() else None
    if body is None:
        raise FileNotFoundError(f"signal model {path} does not exist")
    if "params" not in body:
        raise KeyError(f"signal model {path} has no 'params' ({{name: {{'value': v}}}}); keys: {sorted(body)}")
    values = {}
    for name, entry in body["params"].items():
        values[name] = float(entry["value"] if isinstance(entry, dict) else entry)
    shape = body.get("signal") or body.get("signal_shape") or body.get("shape")
    return (str(shape) if shape else None), values


def _none(name):
    return name is None or str(name).strip().lower() in ("none", "")


def _guess_peak(x, w, lo, hi, background: str) -> dict:
    """Start values of ``mass``/``sigma``: the largest local excess over a background-only fit."""
    from ..stats.fit import fit
    from ..stats.model import Model, single_channel_spec

    spec = single_channel_spec(None, background, lo, hi)
    model = Model(spec)
    res = fit(model, (x, w), errors="hesse")
    edges = np.linspace(lo, hi, 101)
    counts, _ = np.histogram(x, bins=edges, weights=w)
    expected = model.expected_counts("fit", edges, res.values)["background"]
    z = (counts - expected) / np.sqrt(np.maximum(expected, 1.0))
    smooth = np.convolve(z, np.ones(5) / 5, mode="same")
    i = int(np.argmax(smooth[2:-2])) + 2
    return {"mass": float(0.5 * (edges[i] + edges[i + 1])), "sigma": float(2 * (edges[1] - edges[0]))}


def run_fit(args) -> int:
    from ..stats.fit import fit
    from ..stats.hypotest import discovery as discovery_test
    from ..stats.model import Model, single_channel_spec
    from ..stats.shapes import get_shape, is_signal_shape

    cfg, fs = _settings(args)
    observable = _config.section(cfg, "observable")  # the range and plot binning by default
    lo, hi = args.range if args.range else observable["range"]
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"fit range {lo} {hi} (--range, else observable.range) is empty: the upper edge must be "
                         "above the lower edge")
    x, w = read_column_data(args.data, args.observable, args.weight)
    inside = (x >= lo) & (x <= hi) & np.isfinite(x)
    if w is not None:
        if not np.all(np.isfinite(w[inside])):
            raise ValueError(f"column {args.weight!r} of {args.data} has non-finite weights in the range")
    if not inside.any():
        raise ValueError(f"no events of {args.observable!r} in {args.data} lie in the range [{lo}, {hi}]"
                         + (f" (the column spans {np.nanmin(x):g} to {np.nanmax(x):g})" if x.size else " (the file is empty)"))

    model_shape, model_values = (None, {})
    if args.signal_model:
        model_shape, model_values = load_signal_model(args.signal_model)
    signal = args.signal if args.signal is not None else (model_shape or fs["signal_shape"])
    signal = None if _none(signal) else signal
    background = None if _none(args.background) else args.background
    if signal is None and background is None:
        raise ValueError("--signal none and --background none: nothing to fit")
    if signal is not None and not is_signal_shape(signal):
        get_shape(signal, lo, hi)  # raises for unknown names
        raise ValueError(f"--signal {signal!r} is a background shape; signal shapes: dscb, gauss, voigt, crystalball, "
                         "or the sum of two (e.g. crystalball+gauss)")
    if background is not None and is_signal_shape(background):
        raise ValueError(f"--background {background!r} is a signal shape; background shapes: exponential, "
                         "powerlaw, bernstein:N, exppoly:N")

    sets = parse_assignments(args.set)
    start, fixed = {}, set()
    if signal is not None and model_values:
        sshape = get_shape(signal, lo, hi)
        missing = [p for p in sshape.params if p not in model_values]
        if missing:
            raise KeyError(f"signal model {args.signal_model} lacks parameter(s) {missing} of shape {sshape.name!r}")
        for p in sshape.params:
            start[p] = model_values[p]
            if p != "mass":
                fixed.add(p)
    start.update(sets)
    fixed |= set(args.fix)
    for name in args.float:
        if name not in fixed:
            log.info("--float %s: it was not fixed", name)
        fixed.discard(name)
    spec = single_channel_spec(signal, background, lo, hi, start=start, fixed=sorted(fixed))
    for name in args.float:
        if name not in spec["parameters"]:
            raise KeyError(f"--float {name!r}: this fit's parameters are {list(spec['parameters'])}")
    model = Model(spec)
    xs, ws = x[inside], (None if w is None else w[inside])
    fit_start = {}
    if signal is not None and background is not None:
        # The data are mostly background, so the signal's start cannot come from their
        # quantiles: take the largest local excess over a background-only fit, with a narrow
        # width (and the shape's default tails), unless given by --set or --signal-model.
        guess = _guess_peak(xs, ws, lo, hi, background)
        guess.update({k: start[k] for k in ("mass", "sigma") if k in start})
        guess["width"] = guess["sigma"]
        sshape = get_shape(signal, lo, hi)
        defaults = sshape.start(np.array([guess["mass"] - 1.0, guess["mass"], guess["mass"] + 1.0]))
        fit_start = {p: guess.get(p, defaults[p]) for p in sshape.params if p not in start}
        if "mass" in fit_start:
            log.info("starting the signal at the largest excess: mass = %.4g", fit_start["mass"])
    result = fit(model, (xs, ws), start=fit_start)
    discovery = None
    if signal is not None and background is not None:
        d = discovery_test(model, (xs, ws), best=result)
        discovery = {"q0": d["q0"], "p0": d["p0"], "Z": d["Z"]}
    fitted = model.with_values(result.values, fixed={n: True for n in result.fixed})
    sumw = float(xs.size if ws is None else ws.sum())
    payload = {
        "data": str(args.data),
        "observable": args.observable,
        "weight": args.weight,
        "range": [lo, hi],
        "n_events": int(xs.size),
        "sum_weights": sumw,
        "signal": get_shape(signal, lo, hi).name if signal else None,
        "background": get_shape(background, lo, hi).name if background else None,
        "signal_yield": result.values.get("signal_yield", 0.0),
        "signal_yield_error": result.errors.get("signal_yield", 0.0),
        "background_yield": result.values.get("background_yield", 0.0),
        "background_yield_error": result.errors.get("background_yield", 0.0),
        "params": result.params_dict(),
        "fixed": result.fixed,
        "valid": result.valid,
        "error_method": result.error_method,
        "twice_nll": result.twice_nll,
        "discovery": discovery,
        "covariance": {"names": result.free, "matrix": result.covariance.tolist()},
        "model": fitted.to_spec(),
    }
    if not result.valid:
        payload["warning"] = ("the fit did not converge (Minuit: invalid minimum); its values and errors are "
                              "unreliable: give starting values (--set), fix poorly constrained shape parameters "
                              "(--fix, or --signal-model from a fit to signal MC), or narrow --range")
        log.warning(payload["warning"])
    if ws is not None and result.error_method == "sandwich":
        payload["note"] = ("weighted fit: errors are the sandwich estimate; the discovery q0 treats the "
                           "weighted likelihood as a likelihood")
    write_json(args.out, payload, cfg or None, inputs=[args.data])
    log.info("fit: signal %.4g +- %.3g, background %.6g; Z = %s", payload["signal_yield"],
             payload["signal_yield_error"], payload["background_yield"],
             f"{discovery['Z']:.2f}" if discovery else "n/a")
    if args.plot:
        _plot_fit(args.plot, model, result.values, xs, ws, lo, hi, observable["bin_width"], args.label,
                  args.observable, discovery)
    return 0


def _plot_fit(path, model, values, x, w, lo, hi, bin_width, label, observable, discovery):
    from ..stats import binned, plots

    edges = binned.make_edges(lo, hi, bin_width)
    sumw, sumw2 = binned.histogram(x, w, edges)
    width = float(np.mean(np.diff(edges)))
    cx = np.linspace(lo, hi, 600)
    dens = model.densities("fit", cx, values)
    bkg_bins = model.expected_counts("fit", edges, values)["background"]
    lines = []
    if "signal_yield" in values:
        lines.append(f"$N_S$ = {values['signal_yield']:.1f}")
    if discovery:
        lines.append(f"Local Z = {discovery['Z']:.2f}")
    plots.fit_plot(path, edges, sumw, np.sqrt(sumw2), cx, (dens["signal"] + dens["background"]) * width,
                   dens["background"] * width, bkg_in_bins=bkg_bins, xlabel=observable, unit="",
                   label=label, text_lines=lines)


def run_limit(args) -> int:
    from ..stats import binned, plots

    cfg, fs = _settings(args)
    path = Path(args.workspace)
    if not path.is_file():
        raise FileNotFoundError(f"workspace {path} does not exist")
    try:
        spec = read_json(path)
    except json.JSONDecodeError as err:
        raise ValueError(f"workspace {path} is not JSON: {err}") from None
    from ..stats.fit import grid

    lim = fs["limit"]
    poi_value = args.poi_value if args.poi_value is not None else lim["poi_value"]
    scan = grid(lim["scan"]) if lim.get("scan") else None
    result = binned.limits(spec, poi_value=poi_value, scan=scan, level=1.0 - lim["cl"], test_stat=lim["test_stat"],
                           name=str(path))
    write_json(args.out, result, cfg or None, inputs=[path])
    log.info("limit: CLs(%s=%g) = %.4g, upper limit %.3g (expected %.3g), p0 = %.3g (Z = %.2f)", result["poi"],
             poi_value, result["cls_obs"], result["upper_limit"]["observed"], result["upper_limit"]["expected"][2],
             result["discovery"]["p0"], result["discovery"]["Z"])
    if args.plot and result["scan"]["poi_values"]:
        s = result["scan"]
        plots.limit_band_plot(args.plot, s["poi_values"], s["cls_obs"], s["cls_exp"], cl=lim["cl"],
                              upper_limit=result["upper_limit"]["observed"], label=args.label)
    return 0


def run_validate(args) -> int:
    from ..stats import plots
    from ..stats.model import Model
    from ..stats.toys import pull_study

    cfg, fs = _settings(args)
    path = Path(args.model)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    body = read_json(path)
    # a model spec itself, the `model` of `colliderflow fit`, or the `model_spec` of the fit stage
    spec = body
    for key in ("model_spec", "model"):
        if isinstance(body.get(key), dict):
            spec = body[key]
            break
    if "channels" not in spec or "parameters" not in spec:
        raise KeyError(f"{path} holds neither a model spec nor a fit.json with a 'model'")
    model = Model(spec)
    model.check_names(args.float, "--float")
    model = model.with_values({}, fixed={name: False for name in args.float})
    values = model.values()
    truth = parse_assignments(args.set)
    model.check_names(truth, "--set")
    values.update(truth)
    missing = [n for n, v in values.items() if v is None]
    if missing:
        raise ValueError(f"model in {path} has no values for {missing}: use a fitted model or --set")
    params = args.param or [model.poi]
    if None in params:
        raise KeyError(f"the model in {path} has no POI: name the parameters with --param; its parameters are "
                       f"{model.names}")
    model.check_names(params, "--param")
    fixed = [p for p in params if model.is_fixed(p)]
    if fixed:
        raise ValueError(f"--param {fixed}: fixed in the model of {path}, so they have no pull; let them float "
                         "with --float")
    n_toys = args.toys if args.toys is not None else fs["validation_toys"]
    seed = args.seed if args.seed is not None else fs["validation_seed"]
    result = pull_study(model, values, n_toys, seed=seed, params=params)
    result["seed"] = seed
    result["floated"] = list(args.float)
    write_json(args.out, result, cfg or None, inputs=[path])
    for name, pull in result["params"].items():
        log.info("validate-fit: %d/%d toys converged; pull of %s: mean %.3f +- %.3f, width %.3f +- %.3f",
                 result["n_valid"], n_toys, name, pull["pull_mean"], pull["pull_mean_error"],
                 pull["pull_width"], pull["pull_width_error"])
    if args.plot:
        plot = Path(args.plot)
        for name, pull in result["params"].items():
            target = plot if len(params) == 1 else plot.with_name(f"{name}_{plot.name}")
            plots.pull_plot(target, pull["pulls"], param=name, label=args.label)
    return 0
