"""Binned HistFactory models (pyhf): build the workspace JSON, then CLs, upper limits and p0.

One channel per category. Samples and modifiers of a channel ``<c>``:

- ``signal`` (or ``signal_<mode>``, one per production mode): the signal MC histogram;
  ``normfactor`` ``mu`` (the POI; with per-mode POIs also ``mu_<mode>``), a ``normsys``
  per yield systematic (e.g. ``lumi``, an object efficiency, a mode's theory uncertainty;
  correlated across channels by name), a ``histosys`` per shape systematic (peak position
  or width, from shifted MC templates), and ``staterror`` ``staterror_<c>`` from the MC
  sum of squared weights (bins with no MC are left without a gamma by pyhf);
- ``background``: expected counts of the chosen background function (its bin integrals
  times the fitted yield) with a free ``normfactor`` ``bkg_norm_<c>``;
- ``spurious_<c>`` (if the category has a spurious signal S_spur): a zero-nominal sample
  with a ``histosys`` ``spurious_<c>`` whose up/down variations are +/- the signal shape
  normalised to S_spur, i.e. an additive, Gaussian-constrained signal-like term
  theta * S_spur as in the ATLAS H->yy analyses.

The limit functions call pyhf's own API (``pyhf.infer.hypotest``,
``pyhf.infer.intervals.upper_limits.upper_limit``) with asymptotic formulae; the fits that
do not depend on the tested POI value are made once per limit (``fits_remembered``).
"""

from __future__ import annotations

import copy
import logging
import math
from contextlib import contextmanager
from typing import Mapping

import numpy as np
import pyhf
from pyhf.infer import calculators as _pyhf_calculators
from pyhf.infer import test_statistics as _pyhf_test_statistics
from scipy import stats as _sps

log = logging.getLogger(__name__)

SIGMA_LEVELS = (-2, -1, 0, 1, 2)


def histogram(x, weights=None, edges=None) -> tuple[np.ndarray, np.ndarray]:
    """Sum of weights and sum of squared weights per bin (events outside the edges dropped)."""
    x = np.asarray(x, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    sumw, _ = np.histogram(x, bins=edges, weights=w)
    sumw2, _ = np.histogram(x, bins=edges, weights=w**2)
    return sumw, sumw2


def make_edges(lo: float, hi: float, bin_width: float) -> np.ndarray:
    """Bin edges of width ``bin_width`` covering [lo, hi] exactly (the last bin absorbs rounding)."""
    if not hi > lo:
        raise ValueError(f"empty range [{lo}, {hi}] for the binned model")
    if bin_width <= 0:
        raise ValueError(f"bin width must be positive; got {bin_width}")
    n = max(int(round((hi - lo) / bin_width)), 1)
    return np.linspace(lo, hi, n + 1)


def _by_mode(value, name: str, what: str) -> dict:
    """``{mode: array}`` of a channel's per-mode item (``{None: array}`` for one signal)."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        if not value:
            raise ValueError(f"channel {name!r}: {what} has no production mode")
        return {str(m): np.asarray(v, dtype=float) for m, v in value.items()}
    return {None: np.asarray(value, dtype=float)}


def _signal_modifiers(name: str, mode, sig, sumw2, variations, systematics, poi, mode_pois, signal_stat,
                      stat_ok) -> list:
    """The modifiers of one signal sample (see ``build_workspace``)."""
    modifiers = [{"name": poi, "type": "normfactor", "data": None}]
    if mode_pois:
        modifiers.append({"name": f"{poi}_{mode}", "type": "normfactor", "data": None})
    for syst in systematics:
        if syst["effect"] == "yield":
            if syst.get("modes") and mode not in syst["modes"]:
                continue
            kappa = 1.0 + float(syst["size"])
            # lo = 1 / kappa: pyhf's exponential interpolation (code1) then gives kappa ** theta exactly
            modifiers.append({"name": syst["name"], "type": "normsys", "data": {"hi": kappa, "lo": 1.0 / kappa}})
        else:
            pair = (variations or {}).get(syst["name"])
            if pair is None:
                raise ValueError(f"channel {name!r}: the {syst['effect']} systematic {syst['name']!r} needs the "
                                 f"signal's shifted templates (signal_variations)")
            hi, lo = (np.asarray(v, dtype=float) for v in pair)
            if hi.size != sig.size or lo.size != sig.size:
                raise ValueError(f"channel {name!r}: templates of {syst['name']!r} need {sig.size} bins")
            modifiers.append({"name": syst["name"], "type": "histosys",
                              "data": {"hi_data": hi.tolist(), "lo_data": lo.tolist()}})
    if signal_stat and sumw2 is not None:
        err = np.sqrt(np.maximum(sumw2, 0.0))
        if err.size != sig.size:
            raise ValueError(f"channel {name!r}: signal_sumw2 has {err.size} bins, expected {sig.size}")
        # No gamma where the signal is zero: pyhf's relative error err/nominal would be infinite.
        err = np.where(stat_ok, err, 0.0)
        if np.any(err > 0):
            modifiers.append({"name": f"staterror_{name}", "type": "staterror", "data": err.tolist()})
    return modifiers


def build_workspace(channels: list[dict], *, poi: str = "mu", systematics=(), mode_pois: bool = False,
                    poi_bounds=(0.0, 10.0), measurement: str = "measurement", signal_stat: bool = True,
                    staterror_threshold: float = 0.05) -> dict:
    """The HistFactory workspace JSON (a dict) for ``channels``.

    Each channel dict: ``name``; ``data`` (observed counts per bin); ``signal`` (expected
    signal counts at mu = 1 per bin, or ``{mode: counts}``: one sample ``signal_<mode>`` per
    production mode); ``signal_sumw2`` (MC sum of w^2 per bin, for the staterror; optional;
    by mode like ``signal``); ``background`` (expected background counts per bin); optional
    ``signal_variations`` (``{systematic: (hi, lo)}`` templates of the signal, by mode like
    ``signal``), ``spurious`` (spurious-signal yield, events) and ``background_normsys``: the
    background's relative uncertainty when it is a prediction (e.g. MC, where the data are
    too few to fit it) rather than free.
    ``systematics``: ``[{"name", "effect", "size", "modes"}]`` as in
    ``stats.model.category_spec``: a ``yield`` effect is a normsys (hi = 1 + size, lo = 1 /
    hi: kappa ** theta, as the unbinned model) on the signal of its ``modes`` (default all),
    a ``position`` or ``width`` effect a histosys from the channel's ``signal_variations``.
    ``mode_pois``: every mode's signal also gets a normfactor ``<poi>_<mode>``, and the
    workspace a second measurement ``<measurement>_per_mode`` whose POI is the first mode's,
    with ``poi`` fixed at 1 (in the first measurement the per-mode factors are fixed at 1).
    ``staterror_threshold``: a bin gets an MC-statistics gamma only where the signal MC's
    error sqrt(sum w^2) exceeds this fraction of the data's Poisson error sqrt(s + b); below
    it the gamma would change nothing but cost a free parameter (HistFactory's
    relative-error threshold, measured against the data error). 0 keeps every bin (with
    non-zero signal: a zero-nominal bin gets no gamma).
    ``bkg_norm_<c>`` has bounds [0, max(10, 10 r)] with r = observed / nominal background
    of the channel, and starts at 1, or at r when r is outside [0.01, 100]; the POI starts
    at 1 clipped into ``poi_bounds``.
    Raises ValueError on inconsistent bin counts, non-finite or negative inputs, an all-zero
    background, or a non-finite or negative spurious-signal width (naming the channel).
    """
    if not channels:
        raise ValueError("a workspace needs at least one channel")
    systematics = [dict(s) for s in systematics if float(s["size"]) > 0]
    spec_channels, observations, norm_params, modes = [], [], [], []
    for ch in channels:
        name = str(ch["name"])
        data = np.asarray(ch["data"], dtype=float)
        signals = _by_mode(ch["signal"], name, "signal")
        sumw2 = _by_mode(ch.get("signal_sumw2"), name, "signal_sumw2")
        variations = ch.get("signal_variations") or {}
        if not isinstance(ch["signal"], Mapping):
            variations = {None: variations}
        if mode_pois and None in signals:
            raise ValueError(f"channel {name!r}: a signal strength per mode needs the signal by mode")
        modes += [m for m in signals if m not in modes]
        bkg = np.asarray(ch["background"], dtype=float)
        nb = data.size
        sig = sum(signals.values())
        if any(s.size != nb for s in signals.values()) or bkg.size != nb:
            raise ValueError(f"channel {name!r}: data, signal and background need the same number of bins "
                             f"(got {nb}, {[s.size for s in signals.values()]}, {bkg.size})")
        for what, arr in (("data", data), ("signal", sig), ("background", bkg)):
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"channel {name!r}: {what} counts are not all finite "
                                 f"({int((~np.isfinite(arr)).sum())} bad bins); a failed upstream fit?")
        if any(np.any(s < 0) for s in signals.values()) or np.any(bkg < 0):
            raise ValueError(f"channel {name!r}: negative expected signal or background counts")
        if np.any(data < 0):
            raise ValueError(f"channel {name!r}: negative observed counts")
        if not bkg.sum() > 0:
            raise ValueError(f"channel {name!r}: the expected background is zero in every bin")
        if np.any(bkg <= 0):
            # A bin with zero expectation and observed events makes the likelihood singular.
            bkg = np.maximum(bkg, 1e-9)
        total_err = np.sqrt(np.maximum(sum(sumw2.values()), 0.0)) if sumw2 else np.zeros(nb)
        stat_ok = (sig > 0) & (total_err > staterror_threshold * np.sqrt(sig + bkg))
        samples = [{"name": "signal" if mode is None else f"signal_{mode}", "data": s.tolist(),
                    "modifiers": _signal_modifiers(name, mode, s, sumw2.get(mode), variations.get(mode), systematics,
                                                   poi, mode_pois, signal_stat, stat_ok)}
                   for mode, s in signals.items()]
        predicted = ch.get("background_normsys")
        if predicted is None:  # free, fitted to the data
            bkg_modifiers = [{"name": f"bkg_norm_{name}", "type": "normfactor", "data": None}]
        else:  # a prediction with a constrained normalisation
            rel = float(predicted)
            if not (math.isfinite(rel) and 0.0 <= rel < 1.0):
                raise ValueError(f"channel {name!r}: background_normsys must be in [0, 1), got {predicted!r}")
            bkg_modifiers = [{"name": f"bkg_unc_{name}", "type": "normsys", "data": {"hi": 1.0 + rel, "lo": 1.0 - rel}}]
        samples.append({"name": "background", "data": bkg.tolist(), "modifiers": bkg_modifiers})
        spur = float(ch.get("spurious") or 0.0)
        if not (math.isfinite(spur) and spur >= 0.0):
            raise ValueError(f"channel {name!r}: the spurious-signal width must be a finite, non-negative number of "
                             f"events (0 or None: no spurious-signal term); got {ch.get('spurious')!r}")
        if spur > 0.0 and sig.sum() > 0:
            template = sig / sig.sum() * spur
            samples.append({"name": f"spurious_{name}", "data": np.zeros(nb).tolist(),
                            "modifiers": [{"name": f"spurious_{name}", "type": "histosys",
                                           "data": {"hi_data": template.tolist(), "lo_data": (-template).tolist()}}]})
        spec_channels.append({"name": name, "samples": samples})
        observations.append({"name": name, "data": data.tolist()})
        # The free background normalisation must be able to reach what the data ask for
        # (pyhf's default bounds, [0, 10], may not) and start near it when the nominal is far
        # off (pyhf's default start, 1, can then be orders of magnitude away).
        if predicted is None:
            norm0 = float(max(data.sum(), 1.0) / bkg.sum())
            norm_params.append({"name": f"bkg_norm_{name}", "inits": [norm0 if not 1e-2 < norm0 < 1e2 else 1.0],
                                "bounds": [[0.0, max(10.0, 10.0 * norm0)]]})
    lo_poi, hi_poi = (float(v) for v in poi_bounds)
    if not (math.isfinite(lo_poi) and math.isfinite(hi_poi) and hi_poi > lo_poi):
        raise ValueError(f"POI bounds must be finite with lower < upper; got {list(poi_bounds)}")
    poi_init = min(max(1.0, lo_poi), hi_poi)

    def poi_param(name):
        return {"name": name, "bounds": [[lo_poi, hi_poi]], "inits": [poi_init]}

    def fixed_at_one(name):
        return {"name": name, "fixed": True, "inits": [1.0]}

    mode_names = [f"{poi}_{m}" for m in modes] if mode_pois else []
    measurements = [{"name": measurement, "config": {
        "poi": poi, "parameters": [poi_param(poi), *map(fixed_at_one, mode_names), *norm_params]}}]
    if mode_pois:
        measurements.append({"name": f"{measurement}_per_mode", "config": {
            "poi": mode_names[0], "parameters": [fixed_at_one(poi), *map(poi_param, mode_names), *norm_params]}})
    workspace = {"channels": spec_channels, "observations": observations, "measurements": measurements,
                 "version": "1.0.0"}
    pyhf.Workspace(workspace)  # validate against the HistFactory schema now, not at limit time
    return workspace


def load_workspace(spec: dict) -> tuple:
    """``(workspace, model, data)`` from a workspace dict; ValueError if it is not valid HistFactory JSON."""
    try:
        ws = pyhf.Workspace(spec)
    except Exception as err:  # pyhf raises its own schema errors
        raise ValueError(f"not a valid pyhf/HistFactory workspace: {err}") from err
    model = ws.model()
    return ws, model, ws.data(model)


def limits(spec: dict, *, poi_value: float = 1.0, scan=None, level: float = 0.05,
           test_stat: str = "qtilde", name: str = "workspace") -> dict:
    """CLs at ``poi_value``, the upper limit on the POI at CL 1 - ``level`` with its expected
    band, and the discovery p0, all with pyhf's asymptotic calculator.

    ``scan``: POI values for the limit scan, the limit interpolated between them (pyhf);
    None (the default): pyhf's root finding (toms748), which is exact whatever the limit's
    size; the CLs curve of the band plot is then the POI values the root finding tested up to
    1.5 x the largest limit (dense around each limit: no hypothesis test is made twice). Returns ``{"poi", "poi_value", "test_stat", "cl",
    "cls_obs", "cls_exp": [5 values, -2..+2 sigma], "upper_limit": {"observed", "expected": [5]},
    "discovery": {"p0", "Z", "p0_expected", "Z_expected"}, "scan": {"poi_values", "cls_obs",
    "cls_exp": [[5 values] per point]}, "limit_method": "scan" | "root_finding"}``.
    The expected discovery p0 is pyhf's median under the POI = 1 hypothesis.

    If pyhf's default (scipy SLSQP) minimisation fails or gives a non-finite CLs or limit,
    the whole computation is repeated with pyhf's MINUIT optimiser; if that fails too a
    ValueError names the workspace (``name``), both failures and what in the workspace
    looks suspicious (``diagnose``), instead of a raw pyhf traceback.
    """
    _, model, data = load_workspace(spec)
    try:
        with fits_remembered():
            return _limits(model, data, poi_value, scan, level, test_stat)
    except Exception as first:  # pyhf raises FailedMinimization, scipy ValueError on NaN, ...
        log.warning("limits of %s: %s: %s; retrying with the MINUIT optimiser", name, type(first).__name__, first)
        backend, optimizer = pyhf.get_backend()
        try:
            pyhf.set_backend(backend, pyhf.optimize.minuit_optimizer(tolerance=1e-3))
            with fits_remembered():
                return _limits(model, data, poi_value, scan, level, test_stat)
        except Exception as second:
            hints = diagnose(spec)
            raise ValueError(
                f"limits of {name} failed with pyhf's scipy optimiser ({type(first).__name__}: {first}) and with "
                f"MINUIT ({type(second).__name__}: {second})"
                + ("; suspicious in the workspace: " + "; ".join(hints) if hints else "")) from None
        finally:
            pyhf.set_backend(backend, optimizer)


def diagnose(spec: dict) -> list[str]:
    """Human-readable reasons why a workspace may not fit: per channel, a nominal background
    far from the observed total, background bins of ~zero expectation with observed events,
    a spurious-signal variation larger than the channel's signal or data."""
    hints = []
    obs = {o["name"]: np.asarray(o["data"], dtype=float) for o in spec.get("observations", [])}
    for ch in spec.get("channels", []):
        name, data = ch["name"], obs.get(ch["name"])
        if data is None:
            continue
        samples = {s["name"]: s for s in ch["samples"]}
        bkg = np.asarray(samples.get("background", {}).get("data", []), dtype=float)
        sig = sum((np.asarray(s["data"], dtype=float) for n, s in samples.items() if n.startswith("signal")),
                  np.zeros(0 if data is None else data.size))
        if bkg.size == data.size and bkg.sum() > 0:
            ratio = bkg.sum() / max(data.sum(), 1.0)
            if not 1e-2 < ratio < 1e2:
                hints.append(f"channel {name}: nominal background {bkg.sum():.3g} vs {data.sum():.0f} observed events")
            empty = int(np.sum((bkg < 1e-6 * bkg.max()) & (data > 0)))
            if empty:
                hints.append(f"channel {name}: {empty} bins with observed events but a background expectation "
                             f"below 1e-6 of its maximum (background shape from a failed fit?)")
        for sname, s in samples.items():
            for mod in s.get("modifiers", []):
                if mod.get("type") == "histosys" and isinstance(mod.get("data"), dict):
                    size = float(np.sum(np.abs(np.asarray(mod["data"].get("hi_data", []), dtype=float))))
                    if not math.isfinite(size) or size > max(sig.sum(), data.sum(), 1.0):
                        hints.append(f"channel {name}: histosys {mod['name']} of sample {sname} has a variation of "
                                     f"{size:.3g} events")
    return hints


# Where pyhf's hypothesis tests call their fits: the test statistics (the fit with the POI
# free and the one with it fixed) and the asymptotic calculator (the fit that makes the
# Asimov data).
_PYHF_FIT_CALLERS = ((_pyhf_test_statistics, ("fit", "fixed_poi_fit")), (_pyhf_calculators, ("fixed_poi_fit",)))


@contextmanager
def fits_remembered():
    """Within the block, pyhf's fits in hypothesis tests are made once per distinct input.

    A hypothesis test at a POI value makes five fits, of which three do not depend on the
    value (to the data with the POI free, the background-only fit that makes the Asimov data,
    to the Asimov data with the POI free); pyhf's asymptotic calculator keeps none of them
    (scikit-hep/pyhf#1039), so an upper limit with its band, some sixty tests, repeats each
    sixty times. Remembered by their arguments, the repeats return the first fit's result:
    the same numbers, from two fits per test. A fit pyhf makes elsewhere is not affected.
    """
    memo: dict = {}
    saved = []
    for module, names in _PYHF_FIT_CALLERS:
        for name in names:
            saved.append((module, name, getattr(module, name)))
            setattr(module, name, _remembered(getattr(module, name), memo))
    try:
        yield
    finally:
        for module, name, function in saved:
            setattr(module, name, function)


def _remembered(function, memo: dict):
    def call(*args, **kwargs):
        key = (function.__name__, _key(args), _key(sorted(kwargs.items())))
        if key not in memo:
            memo[key] = function(*args, **kwargs)
        return copy.deepcopy(memo[key])

    return call


def _key(value):
    """A hashable key of a fit's argument: arrays by value, the model (any other object) by
    identity, which holds within one ``fits_remembered`` block."""
    if isinstance(value, np.ndarray):
        return value.dtype.str, value.shape, value.tobytes()
    if isinstance(value, (list, tuple)):
        return tuple(_key(v) for v in value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return id(value)


def _limits(model, data, poi_value, scan, level, test_stat) -> dict:
    """The body of ``limits`` for one optimiser setting; RuntimeError on a non-finite result."""
    poi = model.config.poi_name
    cls_obs, cls_exp = pyhf.infer.hypotest(float(poi_value), data, model, test_stat=test_stat,
                                           return_expected_set=True, calctype="asymptotics")
    if scan is not None:
        scan = np.asarray(scan, dtype=float)
        obs_lim, exp_lim, (scanned, results) = pyhf.infer.intervals.upper_limits.upper_limit(
            data, model, scan=scan, level=level, return_results=True, test_stat=test_stat)
        curve = [(float(mu), float(r[0]), [float(v) for v in r[1]]) for mu, r in zip(scanned, results)]
        method = "scan"
    else:
        obs_lim, exp_lim, (tested, results) = pyhf.infer.intervals.upper_limits.upper_limit(
            data, model, level=level, return_results=True, test_stat=test_stat)
        top = 1.5 * max(float(obs_lim), *[float(v) for v in exp_lim])
        curve = sorted((float(mu), float(r[0]), [float(v) for v in r[1]]) for mu, r in zip(tested, results)
                       if float(mu) <= top)
        method = "root_finding"
    p0, p0_exp = pyhf.infer.hypotest(0.0, data, model, test_stat="q0", return_expected=True, calctype="asymptotics")
    p0, p0_exp = float(p0), float(p0_exp)
    checks = {"CLs": float(cls_obs), "observed limit": float(obs_lim), "p0": p0}
    bad = [k for k, v in checks.items() if not math.isfinite(v)]
    if bad:
        raise RuntimeError(f"non-finite {', '.join(bad)}")
    return {
        "poi": poi,
        "poi_value": float(poi_value),
        "test_stat": test_stat,
        "cl": 1.0 - level,
        "cls_obs": float(cls_obs),
        "cls_exp": [float(v) for v in cls_exp],
        "upper_limit": {"observed": float(obs_lim), "expected": [float(v) for v in exp_lim]},
        "limit_method": method,
        "discovery": {"p0": p0, "Z": _z(p0), "p0_expected": p0_exp, "Z_expected": _z(p0_exp)},
        "scan": {"poi_values": [c[0] for c in curve], "cls_obs": [c[1] for c in curve],
                 "cls_exp": [c[2] for c in curve]},
    }


def _z(p: float) -> float:
    """One-sided significance of a p-value (0 for p >= 0.5)."""
    return float(max(_sps.norm.isf(min(max(p, 1e-300), 1.0)), 0.0)) if math.isfinite(p) else float("nan")
