"""The analysis's systematic uncertainties and production modes (``fit.systematics``,
``fit.production_modes``) in the form the statistics library takes: the nuisance parameters
of ``stats.model.category_spec`` and ``stats.binned.build_workspace``, and each category's
expected signal by mode.
"""

from __future__ import annotations

THEORY_PREFIX = "theory_"


def declared(fs: dict) -> list[dict]:
    """``[{"name", "effect", "size", "modes"}]`` from the resolved ``fit`` section.

    ``systematics.yield`` acts on every signal yield, ``systematics.theory`` on one mode's
    (nuisance ``theory_<mode>``), ``peak_position`` and ``peak_width`` on the signal shape.
    ValueError when a theory uncertainty names a mode that ``fit.production_modes`` lacks."""
    section = fs["systematics"]
    unknown = sorted(set(section["theory"]) - set(fs["production_modes"]))
    if unknown:
        raise ValueError(f"fit.systematics.theory names mode(s) {unknown} that fit.production_modes "
                         f"({sorted(fs['production_modes'])}) does not declare; add them there or remove them")
    out = [{"name": name, "effect": "yield", "size": size} for name, size in section["yield"].items()]
    out += [{"name": f"{THEORY_PREFIX}{mode}", "effect": "yield", "size": size, "modes": [mode]}
            for mode, size in section["theory"].items()]
    out += [{"name": name, "effect": "position", "size": size} for name, size in section["peak_position"].items()]
    out += [{"name": name, "effect": "width", "size": size} for name, size in section["peak_width"].items()]
    return [s for s in out if s["size"] > 0]


def mode_of_process(fs: dict) -> dict:
    """``{process: mode}`` of ``fit.production_modes`` (ValueError if a process is in two modes)."""
    out = {}
    for mode, processes in fs["production_modes"].items():
        for process in processes:
            if process in out:
                raise ValueError(f"fit.production_modes: process {process!r} is in modes {out[process]!r} and "
                                 f"{mode!r}; give each process one mode")
            out[process] = mode
    return out


def yield_by_mode(fs: dict, category: dict) -> dict | float:
    """The expected signal of a signal-model category by production mode, or its total
    ``yield`` when ``fit.production_modes`` is empty. ValueError naming a signal process of
    the category that no mode holds."""
    if not fs["production_modes"]:
        return float(category["yield"])
    modes = mode_of_process(fs)
    out = {mode: 0.0 for mode in fs["production_modes"]}
    for process, value in category["yield_by_process"].items():
        if process not in modes:
            raise ValueError(f"category {category['name']!r}: signal process {process!r} is in no mode of "
                             f"fit.production_modes ({fs['production_modes']}); add it to one")
        out[modes[process]] += float(value)
    return out
