"""Studies of the fitted likelihood that refit it many times, kept out of ``fit-categories`` so the
fit stays fast: the mu - peak-position contour and the nuisance-parameter impacts on mu.

Both start from the headline model of ``fit.json`` (its ``model``: the spec with the fitted
values) and the same data; the statistics are ``stats.intervals.contour`` and
``stats.impacts.impacts``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..stats import plots
from ..stats.fit import fit
from ..stats.impacts import impacts
from ..stats.intervals import contour
from ..stats.model import Model
from .fit import fit_data, plot_label

log = logging.getLogger(__name__)

MU, MASS = "mu", "mass"  # the parameters of interest of ``stats.model.category_spec``


def _not_fitted(fit_payload: dict, path: Path, what: str) -> dict:
    reason = f"no {what}: the fit was not made ({fit_payload.get('reason')})"
    log.warning("%s: %s", fit_payload["model_name"], reason)
    plots.note_plot(path, reason)
    return {"model": fit_payload["model_name"], "fitted": False, "reason": reason}


def mu_mass_contour(fit_payload: dict, part, peak_label: str, unit: str, simulated: bool, lumi_fb: float,
                    plot: Path, size: int) -> dict:
    """The 68% and 95% CL contours of mu and the peak position (floating here whatever
    ``fit.mass_floating``), ``size`` points each, and their plot."""
    if not fit_payload["fitted"]:
        return _not_fitted(fit_payload, plot, "contour")
    model = Model(fit_payload["model"]).with_values({}, fixed={MASS: False})
    data = fit_data(part)
    best = fit(model, data)
    result = contour(model, data, MU, MASS, best=best, size=size)
    plots.contour_plot(plot, result["contours"], result["best"], xlabel="$\\mu$", ylabel=f"{peak_label} [{unit}]",
                       reference=(1.0, fit_payload["fixed_mass"]["mass"]),
                       reference_label="$\\mu$ = 1 at the nominal peak", label=plot_label(simulated),
                       lumi_fb=_lumi(fit_payload, lumi_fb))
    return {"model": fit_payload["model_name"], "fitted": True, **result}


def nuisance_impacts(fit_payload: dict, part, simulated: bool, lumi_fb: float, plot: Path) -> dict:
    """Pulls and pre-/post-fit impacts on mu of every constrained parameter of the headline model,
    and the ranking plot."""
    if not fit_payload["fitted"]:
        return _not_fitted(fit_payload, plot, "impacts")
    model = Model(fit_payload["model"])
    data = fit_data(part)
    result = impacts(model, data, best=fit(model, data), poi=MU)
    plots.impact_plot(plot, result["parameters"], poi_label="$\\mu$", label=plot_label(simulated),
                      lumi_fb=_lumi(fit_payload, lumi_fb))
    return {"model": fit_payload["model_name"], "fitted": True, **result}


def _lumi(fit_payload: dict, lumi_fb: float) -> float:
    """The luminosity on the plots, as ``fit.make_plots`` has it: the fitted data's share."""
    return round(float(fit_payload.get("lumi_fb_fitted") or lumi_fb), 1)
