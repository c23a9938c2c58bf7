"""Pulls, constraints and impacts of the constrained (nuisance) parameters of a fitted ``Model``.

For each parameter theta with a Gaussian constraint (mean theta0, width sigma_prior;
``Model.constraints``) that is free in the fit:

- pull (theta_hat - theta0) / sigma_prior and constraint sigma_post / sigma_prior, with
  sigma_post the fit's (Hessian) error of theta;
- the pre-fit impact on the POI: the shift of the POI when the fit is repeated with theta
  fixed at theta_hat +- sigma_prior, and the post-fit impact with theta fixed at
  theta_hat +- sigma_post (everything else refitted).

Four fits per parameter. Nothing here knows about a particular analysis.
"""

from __future__ import annotations

import numpy as np

from .fit import FitResult, fit
from .model import Model, as_data


def impacts(model: Model, data, *, best: FitResult, poi: str | None = None) -> dict:
    """Pulls and impacts on ``poi`` (default the model's) of every constrained parameter that is
    free in ``best`` (the fit of ``model`` to ``data``), ranked by the larger post-fit impact.

    Returns ``{"poi", "poi_value", "poi_error", "parameters": [{"param", "value", "error",
    "prior": [mean, sigma], "pull", "constraint", "impact_prefit": [up, down],
    "impact_postfit": [up, down]}, ...]}``; "up" is the POI shift for theta moved up by one
    sigma. A shifted value beyond the parameter's limits is taken at the limit.
    """
    poi = poi or model.poi
    if poi is None:
        raise ValueError("the model has no parameter of interest; name one with poi=")
    model.check_names([poi], "impacts")
    data = as_data(model, data)
    poi_hat = best.values[poi]
    rows = []
    for name, (mean, sigma) in model.constraints().items():
        if name not in best.free:
            continue
        value, error = best.values[name], best.errors[name]
        lo, hi = model.limits(name)
        k = best.free.index(name)
        variance = best.covariance[k, k]
        # d(parameter)/d(theta) along the valley of the likelihood
        slopes = best.covariance[:, k] / variance if variance > 0 else np.zeros(len(best.free))

        def shift(delta: float) -> float:
            fixed_at = min(max(value + delta, lo), hi)
            # start where the fit's covariance predicts the conditional minimum: MIGRAD stops
            # within its tolerance of the minimum, so a close start keeps that error off the shift
            start = {n: best.values[n] + (fixed_at - value) * slopes[i] for i, n in enumerate(best.free)}
            fix = {**{n: best.values[n] for n in best.fixed}, name: fixed_at}
            refit = fit(model, data, start={**best.values, **start}, fix=fix, errors="none")
            return float(refit.values[poi] - poi_hat)

        rows.append({
            "param": name, "value": float(value), "error": float(error), "prior": [float(mean), float(sigma)],
            "pull": float((value - mean) / sigma), "constraint": float(error / sigma),
            "impact_prefit": [shift(+sigma), shift(-sigma)],
            "impact_postfit": [shift(+error), shift(-error)],
        })
    rows.sort(key=lambda r: -max(abs(r["impact_postfit"][0]), abs(r["impact_postfit"][1])))
    return {"poi": poi, "poi_value": float(poi_hat), "poi_error": float(best.errors[poi]), "parameters": rows}
