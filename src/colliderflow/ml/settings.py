"""A model's effective settings: its ``ml.models`` entry over the sections its kind reads."""

from __future__ import annotations

from .. import config, registry
from ..config import ConfigError


def sections(kind: str, ml: dict) -> list[str]:
    """The ml sections a model of ``kind`` reads, in order of precedence (shared ones first,
    then its own ``ml.<kind>`` where the kind has settings); from its schema piece."""
    piece = config.load_schema_file(registry.model_schema_file(kind))
    return [*piece.get("uses", []), *([kind] if kind in ml else [])]


def model_settings(cfg: dict, name: str) -> dict:
    """The sections of the model's kind (e.g. ``ml.network`` then ``ml.mlp``) updated with
    ``ml.models.<name>`` (but its ``tune``, the search, which is no training setting), with
    ``seed`` and ``class_balance`` from ``ml`` unless the entry sets them. The schema refuses a
    key the kind does not read."""
    ml = cfg["ml"]
    if name not in ml["models"]:
        raise ConfigError(f"model '{name}' is not defined in ml.models (defined: {', '.join(ml['models'])})")
    entry = ml["models"][name]
    defaults = {key: value for section in sections(entry["type"], ml) for key, value in ml[section].items()}
    settings = {"seed": ml["seed"], "class_balance": ml["class_balance"], **defaults,
                **{key: value for key, value in entry.items() if key != "tune"}, "name": name}
    if settings["multiclass"]:
        check_multiclass(cfg, settings)
    return settings


BACKGROUND = "background"  # the class of the events of ml.background, always the first


def classes(ml: dict) -> list[str]:
    """The classes of a multiclass model: background first, then those of ``ml.classes`` sorted
    by name (the workflow hands settings to the jobs as JSON with sorted keys: sorting here
    gives every stage the same order however the config was written)."""
    return [BACKGROUND, *sorted(ml["classes"])]


def check_multiclass(cfg: dict, settings: dict) -> None:
    """Refuse a multiclass model its kind, loss or ``ml.classes`` cannot serve, naming the key."""
    from . import kinds

    name, kind = settings["name"], settings["type"]
    if not kinds.multiclass(kind):
        raise ConfigError(f"ml.models.{name}.multiclass is true, but kind {kind} scores signal against background "
                          "only; set multiclass: false or choose a kind that classifies (bdt, mlp, deepsets, "
                          "transformer)")
    if settings.get("loss") == "lovasz":
        raise ConfigError(f"ml.models.{name}: loss lovasz (a surrogate of the binary significance) cannot train a "
                          "multiclass model; set its loss (ml.models.<name>.loss or ml.network.loss) to bce, "
                          "weighted_bce or focal")
    signal = {spec["process"] for spec in cfg["samples"].values() if spec["kind"] == "signal"}
    declared = cfg["ml"]["classes"]
    if len(declared) < 2:
        raise ConfigError(f"ml.models.{name}.multiclass is true but ml.classes has {len(declared)} class(es); define "
                          "two or more signal classes, e.g. ml.classes: {ggH: [ggH], VBF: [VBF], VH: [WH, ZH], "
                          "ttH: [ttH]} (one class is signal against background: multiclass false)")
    listed = [process for processes in declared.values() for process in processes]
    problems = [f"{p} is in more than one class" for p in sorted({p for p in listed if listed.count(p) > 1})]
    problems += [f"{p} is not the process of a signal sample" for p in sorted(set(listed) - signal)]
    problems += [f"signal process {p} is in no class" for p in sorted(signal - set(listed))]
    if problems:
        raise ConfigError(f"ml.classes: {'; '.join(problems)} (signal processes: {', '.join(sorted(signal))}); "
                          "every signal process must be in exactly one class")


def baseline(ml: dict) -> str:
    """The name of ``ml.baseline``, the model every other is compared with, after checking it."""
    name = ml["baseline"]
    if name not in ml["enabled"]:
        raise ConfigError(
            f"ml.baseline is '{name}', which is not in ml.enabled ({', '.join(ml['enabled']) or 'empty'}); "
            f"add it to ml.enabled or set ml.baseline to one of them"
        )
    if name not in ml["models"]:
        raise ConfigError(f"ml.baseline '{name}' is not defined in ml.models (defined: {', '.join(ml['models'])})")
    return name
