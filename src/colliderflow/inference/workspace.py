"""The binned counterpart of the unbinned fit: a pyhf HistFactory workspace, one channel per
category, for CLs limits and a cross-check of the discovery p0 (``colliderflow limit``).

Per category: data counts in bins of ``fit.workspace_bin_width``; signal = the signal MC
histogram per production mode (the same events and weights as the signal model, so the same
expected yield) with mu (and mu_<mode> for the per-mode measurement) and the systematics the
analysis declares (``fit.systematics``: normsys on the yields, histosys from the signal MC
shifted in position and width; MC staterror optional); background = the
bin integrals of the chosen function with the parameters of the unbinned fit to the data
and a free normalisation; the spurious signal as a constrained signal-like term.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..io import atomic_path
from ..stats import binned
from ..stats.model import Model
from ..analyses import Observable
from . import systematics
from .inputs import category_arrays

log = logging.getLogger(__name__)


def build(fs: dict, observable: Observable, part, signal: dict, background: dict, fit_payload: dict) -> dict:
    """The workspace of the categories in ``part``; ``fs`` is the resolved ``fit`` section.

    The background is the chosen function with the parameters of the unbinned data fit; when
    the data were too few to fit (``fit_payload["fitted"]`` false), the background MC."""
    lo, hi = observable.range
    edges = binned.make_edges(lo, hi, fs["workspace_bin_width"])
    fitted = fit_payload["fitted"]
    model = Model(fit_payload["model"]) if fitted else None
    data = category_arrays(part, "data")
    mc = category_arrays(part, "background")
    bkg = {c["name"]: c for c in background["categories"]}
    peaks = {c["name"]: float(c["params"]["mass"]) for c in signal["categories"]}
    declared = systematics.declared(fs)
    shape_systematics = [s for s in declared if s["effect"] != "yield"]
    by_mode = bool(fs["production_modes"])
    channels = []
    for k, name in enumerate(part.attrs["categories"]):
        counts, _ = np.histogram(data[name][0], bins=edges)
        signals, sumw2, variations = {}, {}, {}
        for mode, (m, w) in signal_events(fs, part, k).items():
            s, s2 = binned.histogram(m, w, edges=edges)
            if s.sum() <= 0:
                continue
            if np.any(s < 0):
                log.warning("category %s: %d bins with negative signal MC sum of weights set to 0", name,
                            int((s < 0).sum()))
                s = np.maximum(s, 0.0)
            signals[mode], sumw2[mode] = s, s2
            variations[mode] = {syst["name"]: tuple(np.maximum(binned.histogram(shifted, w, edges=edges)[0], 0.0)
                                                    for shifted in shifted_events(syst, m, peaks[name]))
                                for syst in shape_systematics}
        predicted = None
        if fitted:
            b = model.expected_counts(name, edges, model.values())["background"]
        else:  # the background MC, with its statistical error as the normalisation uncertainty
            b, b2 = binned.histogram(*mc[name], edges=edges)
            b = np.maximum(b, 1e-6)  # floored: an empty bin must not make a zero-rate Poisson term
            predicted = min(float(np.sqrt(b2.sum()) / b.sum()), 0.99)
        spur = bkg[name]["spurious_signal"] if fs["spurious_signal"]["nuisance"] else None
        if not by_mode:
            signals, sumw2, variations = signals[None], sumw2[None], variations[None]
        channels.append({"name": name, "data": counts, "signal": signals, "signal_sumw2": sumw2,
                         "signal_variations": variations, "background": b, "spurious": spur,
                         "background_normsys": predicted})
    present = {mode for ch in channels if by_mode for mode in ch["signal"]}
    declared = [s for s in declared if not s.get("modes") or set(s["modes"]) & present]
    # Signal-MC statistics gammas are off by default: pyhf allocates one per bin of every
    # channel (fixed where the error is below fit.workspace_staterror_threshold), and with
    # ~100 parameters its scipy minimiser needs about a minute per CLs point. The signal
    # MC error is small next to the data's; fit.workspace_signal_staterror turns them on.
    return binned.build_workspace(channels, systematics=declared, mode_pois=by_mode,
                                  poi_bounds=tuple(fs["limit"]["poi_bounds"]),
                                  signal_stat=bool(fs["workspace_signal_staterror"]),
                                  staterror_threshold=fs["workspace_staterror_threshold"])


def signal_events(fs: dict, part, category: int) -> dict:
    """``{mode: (observable, weight)}`` of the signal MC in one category (by
    ``fit.production_modes``; ``{None: ...}`` without modes)."""
    rows = part[(part["kind"] == "signal") & (part["category"] == category)]
    column = part.attrs["observable"]
    if not fs["production_modes"]:
        return {None: (rows[column].to_numpy(dtype=float), rows["weight"].to_numpy(dtype=float))}
    mode = rows["process"].map(systematics.mode_of_process(fs))
    if mode.isna().any():
        raise ValueError(f"signal process(es) {sorted(rows['process'][mode.isna()].unique())} are in no mode of "
                         f"fit.production_modes ({fs['production_modes']}); add them to one")
    return {m: (rows[column].to_numpy(dtype=float)[mode == m], rows["weight"].to_numpy(dtype=float)[mode == m])
            for m in fs["production_modes"]}


def shifted_events(syst: dict, m: np.ndarray, peak: float) -> tuple[np.ndarray, np.ndarray]:
    """The signal events' observable at +1 and -1 sigma of a shape systematic, as the unbinned
    model moves the shape (``stats.model.category_spec``): the peak position by peak * size, or
    each event's distance from the category's peak by the factor 1 +- size."""
    size = syst["size"]
    if syst["effect"] == "position":
        return m + peak * size, m - peak * size
    return peak + (m - peak) * (1 + size), peak + (m - peak) * (1 - size)


def write(path: str | Path, workspace: dict) -> None:
    """Plain HistFactory JSON, atomically. No provenance block: pyhf's schema forbids extra
    keys, and the file must stay usable by pyhf's own tools (``pyhf cls workspace.json``)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as handle:
            json.dump(workspace, handle, indent=1)
            handle.write("\n")
