"""The binned counterpart of the unbinned fit: a pyhf HistFactory workspace, one channel per
category, for CLs limits and a cross-check of the discovery p0 (``colliderflow limit``).

Per category: data counts in bins of ``fit.workspace_bin_width``; signal = the signal MC
histogram (the same events and weights as the signal model, so the same expected yield)
with mu and the normalisation systematics the analysis declares (``fit.normsys``; MC staterror optional); background = the
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
    sig = category_arrays(part, "signal")
    mc = category_arrays(part, "background")
    bkg = {c["name"]: c for c in background["categories"]}
    channels = []
    for name in part.attrs["categories"]:
        counts, _ = np.histogram(data[name][0], bins=edges)
        s, s2 = binned.histogram(*sig[name], edges=edges)
        if np.any(s < 0):
            log.warning("category %s: %d bins with negative signal MC sum of weights set to 0", name, int((s < 0).sum()))
            s = np.maximum(s, 0.0)
        predicted = None
        if fitted:
            b = model.expected_counts(name, edges, model.values())["background"]
        else:  # the background MC, with its statistical error as the normalisation uncertainty
            b, b2 = binned.histogram(*mc[name], edges=edges)
            b = np.maximum(b, 1e-6)  # floored: an empty bin must not make a zero-rate Poisson term
            predicted = min(float(np.sqrt(b2.sum()) / b.sum()), 0.99)
        spur = bkg[name]["spurious_signal"] if fs["spurious_signal"]["nuisance"] else None
        channels.append({"name": name, "data": counts, "signal": s, "signal_sumw2": s2, "background": b,
                         "spurious": spur, "background_normsys": predicted})
    normsys = {name: size for name, size in fs["normsys"].items() if size > 0}
    # Signal-MC statistics gammas are off by default: pyhf allocates one per bin of every
    # channel (fixed where the error is below fit.workspace_staterror_threshold), and with
    # ~100 parameters its scipy minimiser needs about a minute per CLs point. The signal
    # MC error is small next to the data's; fit.workspace_signal_staterror turns them on.
    return binned.build_workspace(channels, signal_normsys=normsys, poi_bounds=tuple(fs["limit"]["poi_bounds"]),
                                  signal_stat=bool(fs["workspace_signal_staterror"]),
                                  staterror_threshold=fs["workspace_staterror_threshold"])


def write(path: str | Path, workspace: dict) -> None:
    """Plain HistFactory JSON, atomically. No provenance block: pyhf's schema forbids extra
    keys, and the file must stay usable by pyhf's own tools (``pyhf cls workspace.json``)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as handle:
            json.dump(workspace, handle, indent=1)
            handle.write("\n")
