"""The ``fit`` config section: its JSON schema (to be merged into the one config schema) and defaults.

``FIT_SCHEMA`` is the section's schema; ``fit_settings(cfg)`` returns ``cfg["fit"]`` validated
with every default filled, so the statistics commands also run without a config file
(``colliderflow fit`` / ``limit`` on a physicist's own inputs) and before the section is merged
into ``workflow/schemas/config.schema.yaml``. A unit test checks that the merged schema and this
one agree.
"""

from __future__ import annotations

import copy
import json

import jsonschema

from ..config import ConfigError


def _num(default, description, **extra):
    return {"type": "number", "default": default, "description": description, **extra}


def _range(default, description):
    return {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
            "default": default, "description": description}


def _grid(default, description):
    return {
        "type": "object", "additionalProperties": False, "default": default, "description": description,
        "properties": {
            "lo": {"type": "number", "default": default["lo"], "description": "First value."},
            "hi": {"type": "number", "default": default["hi"], "description": "Last value (included)."},
            "step": {"type": "number", "exclusiveMinimum": 0, "default": default["step"], "description": "Spacing."},
        },
    }


BACKGROUND_PATTERN = "^(exponential|powerlaw|(bernstein|exppoly):[1-5])$"

FIT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "default": {},
    "description": "Statistical analysis: signal and background models, the simultaneous fit, scans, limits.",
    "properties": {
        "range": _range([105.0, 160.0], "Fit range of the observable (m_yy) in GeV, [low, high]."),
        "signal_shape": {"type": "string", "enum": ["dscb", "gauss", "voigt", "crystalball"], "default": "dscb",
                         "description": "Signal pdf fitted to the weighted signal MC in each category."},
        "mass_value": _num(125.0, "Higgs mass in GeV: the fixed value, or the start when floating; also the "
                                  "reference mass of the signal MC (each category keeps its fitted offset from it)."),
        "mass_floating": {"type": "boolean", "default": False,
                          "description": "Float the common Higgs mass in the simultaneous fit (else fixed at mass_value)."},
        "mass_limits": _range([110.0, 150.0], "Bounds of the Higgs mass when it floats, GeV."),
        "mu_limits": _range([-20.0, 20.0], "Bounds of the signal strength mu in the unbinned fit (wide: mu may go negative)."),
        "background_candidates": {
            "type": "array", "minItems": 1, "items": {"type": "string", "pattern": BACKGROUND_PATTERN},
            "default": ["exponential", "powerlaw", "bernstein:1", "bernstein:2", "bernstein:3", "bernstein:4",
                        "bernstein:5", "exppoly:1", "exppoly:2", "exppoly:3"],
            "description": "Background functions tried per category: exponential, powerlaw, bernstein:N, exppoly:N (N = 1..5).",
        },
        "spurious_signal": {
            "type": "object", "additionalProperties": False, "default": {},
            "description": "Spurious-signal test used to choose the background function per category.",
            "properties": {
                "max_fraction_of_signal": _num(0.10, "A function passes if its spurious signal is below this "
                                                     "fraction of the expected signal ...", minimum=0),
                "max_fraction_of_error": _num(0.20, "... or below this fraction of the signal yield's statistical "
                                                    "uncertainty (ATLAS criteria).", minimum=0),
                "mode": {"type": "string", "enum": ["or", "and"], "default": "or",
                         "description": "'or': either criterion suffices (ATLAS); 'and': both are required."},
                "mass_points": _grid({"lo": 121.0, "hi": 129.0, "step": 0.5},
                                     "Higgs masses (GeV) at which the spurious signal is fitted; the largest |S| counts."),
                "template_bin_width": _num(0.1, "The background template is fitted as weighted points in bins of "
                                                "this width (GeV); well below the mass resolution.", exclusiveMinimum=0),
                "template": {"type": "string", "enum": ["mc", "sideband_fit"], "default": "mc",
                             "description": "Background-only template: the diphoton MC normalised to the data, or a "
                                            "smooth function fitted to the data sidebands."},
                "nuisance": {"type": "boolean", "default": True,
                             "description": "Add the chosen function's spurious signal as a Gaussian-constrained "
                                            "signal-like nuisance to the fit and the binned model."},
            },
        },
        "ftest_threshold": _num(0.05, "F-test tie-breaker: a passing function with more parameters replaces the "
                                      "current choice when its p-value is below this.", minimum=0, maximum=1),
        "ftest_bin_width": _num(1.0, "Bin width (GeV) of the binned chi^2 fits used by the F-test.", exclusiveMinimum=0),
        "blind": {"oneOf": [{"type": "null"}, {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}],
                  "default": [120.0, 130.0],
                  "description": "Signal-region window (GeV) left out of data sideband fits (F-test, sideband "
                                 "template); null uses the full range."},
        "mu_scan": _grid({"lo": -1.0, "hi": 3.0, "step": 0.1},
                         "Values of mu for the profile likelihood scan (68% and 95% intervals)."),
        "mass_scan": _grid({"lo": 122.0, "hi": 128.0, "step": 0.25},
                           "Values of the Higgs mass (GeV) for its profile likelihood scan when it floats."),
        "p0_scan": _grid({"lo": 110.0, "hi": 150.0, "step": 0.5}, "Higgs masses (GeV) of the local p0 scan."),
        "asimov_bin_width": _num(0.05, "Bin width (GeV) of the Asimov datasets (weighted points at bin centres) "
                                       "for expected significances.", exclusiveMinimum=0),
        "validation_toys": {"type": "integer", "minimum": 1, "default": 500,
                            "description": "Pseudo-experiments thrown by validate-fit for the pull of mu."},
        "validation_seed": {"type": "integer", "minimum": 0, "default": 12345,
                            "description": "Random seed of the pseudo-experiments."},
        "workspace_bin_width": _num(1.0, "Bin width (GeV) of the pyhf HistFactory workspace.", exclusiveMinimum=0),
        "workspace_staterror_threshold": _num(0.05, "A workspace bin gets a signal-MC statistics gamma only where "
                                                    "sqrt(sum w^2) of the signal exceeds this fraction of the data's "
                                                    "Poisson error sqrt(s + b).", minimum=0),
        "lumi_uncertainty": _num(0.021, "Relative luminosity uncertainty (normsys on the signal).", minimum=0),
        "photon_efficiency_uncertainty": _num(0.02, "Relative photon identification/isolation efficiency "
                                                    "uncertainty on the diphoton signal (normsys).", minimum=0),
        "limit": {
            "type": "object", "additionalProperties": False, "default": {},
            "description": "CLs settings of `colliderflow limit`.",
            "properties": {
                "poi_value": _num(1.0, "mu at which CLs is quoted."),
                "cl": _num(0.95, "Confidence level of the upper limit.", exclusiveMinimum=0, exclusiveMaximum=1),
                "poi_bounds": _range([0.0, 10.0], "Bounds of mu in the binned model (lower bound 0 for qtilde and q0)."),
                "scan": {"oneOf": [{"type": "null"}, {
                    "type": "object", "additionalProperties": False,
                    "properties": {"lo": {"type": "number"}, "hi": {"type": "number"},
                                   "step": {"type": "number", "exclusiveMinimum": 0}},
                    "required": ["lo", "hi", "step"]}],
                    "default": None,
                    "description": "mu values {lo, hi, step} of a CLs scan from which the upper limit is "
                                   "interpolated; null (default): pyhf finds the limit by root finding."},
                "curve_points": {"type": "integer", "minimum": 0, "default": 21,
                                 "description": "With root finding: points of the CLs-versus-mu curve (0 to 1.5 x "
                                                "the largest limit) drawn in the limit plot; 0 draws none."},
                "test_stat": {"type": "string", "enum": ["qtilde", "q"], "default": "qtilde",
                              "description": "Test statistic for CLs (pyhf name)."},
            },
        },
        "plot_bin_width": _num(1.0, "Bin width (GeV) of data in the fit plots.", exclusiveMinimum=0),
        # Read by the analysis fit stage (colliderflow.fitstage), not by the library:
        "splits": {"type": "array", "minItems": 1, "uniqueItems": True,
                   "items": {"type": "string", "enum": ["train", "val", "test"]}, "default": ["val", "test"],
                   "description": "Splits whose events (data and MC alike) enter the fit; the classifiers' "
                                  "training split is biased, so it is left out by default."},
        "sideband_template_function": {"type": "string", "pattern": BACKGROUND_PATTERN, "default": "exppoly:2",
                                       "description": "Function fitted to the data sidebands to make the smooth "
                                                      "background template when spurious_signal.template is "
                                                      "sideband_fit."},
        "closure_max_pull": _num(2.0, "On the simulated dataset the fitted mu and m_H must lie within this many "
                                      "standard deviations of the injected values (closure check in the summary).",
                                 exclusiveMinimum=0),
    },
}


def _fill(schema: dict, value: dict) -> dict:
    """Fill defaults recursively (objects with properties), like the config loader does."""
    out = dict(value)
    for name, sub in schema.get("properties", {}).items():
        if name not in out and "default" in sub:
            out[name] = copy.deepcopy(sub["default"])
        if sub.get("type") == "object" and isinstance(out.get(name), dict):
            out[name] = _fill(sub, out[name])
    return out


def fit_settings(cfg: dict | None = None) -> dict:
    """``cfg["fit"]`` validated against ``FIT_SCHEMA`` with defaults filled (``{}`` if absent)."""
    section = copy.deepcopy((cfg or {}).get("fit") or {})
    section = _fill(FIT_SCHEMA, section)
    try:
        jsonschema.Draft202012Validator(FIT_SCHEMA).validate(section)
    except jsonschema.ValidationError as err:
        path = ".".join(str(p) for p in err.absolute_path)
        raise ConfigError(f"invalid configuration: fit.{path}: {err.message}") from err
    lo, hi = section["range"]
    if not hi > lo:
        raise ConfigError(f"fit.range [{lo}, {hi}] is empty")
    return section


def grid(spec: dict):
    """The values lo, lo + step, ..., hi (hi included when it falls on the grid)."""
    import numpy as np

    n = int(round((spec["hi"] - spec["lo"]) / spec["step"]))
    return spec["lo"] + spec["step"] * np.arange(n + 1)


def schema_yaml() -> str:
    """The section as YAML, to paste under ``properties:`` of the config schema."""
    import yaml

    return yaml.safe_dump({"fit": json.loads(json.dumps(FIT_SCHEMA))}, sort_keys=False, width=110)
