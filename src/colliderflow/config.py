"""Load and validate the configuration against the one JSON schema.

The schema is ``config.schema.yaml`` (shipped inside the package) merged with the piece
that the config's analysis declares (``config.schema.yaml`` beside it: its ``selection`` section
and its defaults of the generic sections) and the piece of every registered model kind (its
settings, which become the section ``ml.<kind>`` and the keys an ``ml.models`` entry of that
kind may set). The workflow (Snakefile) and every
``colliderflow`` command validate through ``validate``/``load`` here, so a wrong key, type
or value stops the run at once with a message naming the key.
"""

from __future__ import annotations

import copy
import functools
from collections import Counter
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

# libyaml's loader where PyYAML has it: ~6x faster on the schema, which every command and
# every workflow start reads (a catalogue of 10^4 files is a large config file too)
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigError(ValueError):
    """A configuration key is missing, unknown or has a wrong type or value."""


def add_arguments(parser) -> None:
    """The two ways a command gets its settings: a config file, or JSON from a rule's params
    (read back by ``load(args.configfile, args.settings)``)."""
    parser.add_argument("--configfile", help="YAML config file (e.g. config/config.yaml)")
    parser.add_argument(
        "--settings",
        help="JSON object with the config sections this stage reads (rules pass this); "
        "overrides --configfile key by key",
    )


DEFAULT_ANALYSIS = "hyy"


def schema_path() -> Path:
    """The generic schema, shipped inside the package."""
    return Path(str(resources.files("colliderflow") / "config.schema.yaml"))


@functools.lru_cache(maxsize=8)
def _parsed(path: str, mtime_ns: int) -> dict:
    """A YAML file parsed once per file version; never mutate it."""
    with open(path) as handle:
        return yaml.load(handle, Loader=SafeLoader)


def _read_yaml(path: Path) -> dict:
    return _parsed(str(path), path.stat().st_mtime_ns)


def load_schema_file(path) -> dict:
    """One schema YAML file as it is (a copy): the generic schema or an analysis's piece."""
    return copy.deepcopy(_read_yaml(Path(path)))


def merge(base: dict, piece: dict) -> dict:
    """``base`` with ``piece`` merged in, recursively for mappings (a new dict; lists replace)."""
    out = dict(base)
    for key, value in piece.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@functools.lru_cache(maxsize=8)
def _composed(analysis: str, base_mtime: int, piece_path: str, piece_mtime: int,
              model_pieces: tuple[tuple[str, str, int], ...]) -> dict:
    root = _read_yaml(schema_path())
    piece = _parsed(piece_path, piece_mtime) if piece_path else {}
    properties = merge(root["properties"], piece or {})
    properties["ml"] = _with_model_kinds(properties["ml"], {
        kind: (path, _parsed(path, mtime)) for kind, path, mtime in model_pieces})
    return {**root, "properties": properties}


def _with_model_kinds(ml: dict, pieces: dict[str, tuple[str, dict]]) -> dict:
    """The ml section with one section ``ml.<kind>`` per kind that has settings, and the
    schema of an ``ml.models`` entry: its ``type`` (a kind) and the keys of the sections that
    kind reads (those it ``uses``, then its own), each a reference to the section's key."""
    sections = dict(ml["properties"])
    choices = []
    for kind, (path, piece) in pieces.items():
        if kind in sections:
            raise ConfigError(f"model kind {kind!r} ({path}): ml.{kind} is already a key of the ml section; "
                              "register the kind under another name")
        uses = piece.get("uses", [])
        shared = [name for name in uses if "properties" in sections.get(name, {}) and name not in pieces]
        if len(shared) != len(uses):
            raise ConfigError(f"{path}: uses {uses}, but only {sorted(k for k, v in ml['properties'].items() if 'properties' in v)} "
                              "are shared sections of ml (settings sections of the generic schema)")
        if piece.get("properties"):
            sections[kind] = {
                "type": "object", "additionalProperties": False, "default": {},
                "description": f"Settings of every model of kind {kind} (an ml.models entry of that kind overrides "
                               f"them): {piece['description']}",
                "properties": piece["properties"]}
        keys = {key: {"$ref": f"#/properties/ml/properties/{section}/properties/{key}"}
                for section in [*uses, kind] if section in sections for key in sections[section].get("properties", {})}
        numeric = {key for section in [*uses, kind] if section in sections
                   for key, sub in sections[section].get("properties", {}).items() if sub.get("type") in NUMERIC}
        choices.append({"if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
                        "then": {"properties": {"type": {}, "multiclass": {}, "seed": {}, "class_balance": {}, **keys,
                                                "tune": _tune(keys, numeric)},
                                 "additionalProperties": False}})
    models = dict(sections["models"])
    entry = dict(models["additionalProperties"])
    entry["properties"] = {**entry["properties"], "type": {**entry["properties"]["type"], "enum": list(pieces)}}
    entry["allOf"] = choices
    sections["models"] = {**models, "additionalProperties": entry}
    return {**ml, "properties": sections}


NUMERIC = ("integer", "number")  # the schema types a tuned setting may take a range of


def _tune(keys: dict, numeric: set[str]) -> dict:
    """The ``tune`` of a model of a kind reading ``keys``: its space names only those keys,
    each with a range (numeric keys) or choices, every bound and choice a valid value of it."""
    space = {}
    for key, ref in keys.items():
        choices = {"choices": {"type": "array", "minItems": 1, "items": ref}}
        if key in numeric:
            # either low and high (and log) or choices: relation_errors says which is missing
            space[key] = {"type": "object", "additionalProperties": False,
                          "properties": {"low": ref, "high": ref, "log": {"type": "boolean"}, **choices}}
        else:
            space[key] = {"type": "object", "additionalProperties": False, "properties": choices,
                          "required": ["choices"]}
    return {"properties": {"space": {"propertyNames": {"enum": list(keys)}, "properties": space}}}


def _schema(analysis: str = DEFAULT_ANALYSIS) -> dict:
    """The schema for ``analysis``: the generic one with the analysis's and the model kinds'
    pieces merged in (never mutate it)."""
    from . import registry

    try:
        piece_path = registry.schema_file(analysis)
        model_pieces = tuple((kind, str(path), path.stat().st_mtime_ns)
                             for kind in registry.model_kinds() for path in [registry.model_schema_file(kind)])
    except KeyError as err:
        raise ConfigError(err.args[0]) from None
    return _composed(analysis, schema_path().stat().st_mtime_ns, str(piece_path or ""),
                     piece_path.stat().st_mtime_ns if piece_path else 0, model_pieces)


def load_schema(analysis: str = DEFAULT_ANALYSIS) -> dict:
    """The JSON schema of a configuration of ``analysis`` (a copy the caller may modify)."""
    return copy.deepcopy(_schema(analysis))


def _analysis_of(cfg: dict | None) -> str:
    name = (cfg or {}).get("analysis", DEFAULT_ANALYSIS)
    if not isinstance(name, str):
        raise ConfigError(f"analysis: must be the name of an analysis, not {name!r}")
    return name


def _with_defaults(validator_class):
    """Extend a jsonschema validator so that it fills in `default` values while validating."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = json.loads(json.dumps(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def _key_path(error: jsonschema.ValidationError, prefix: tuple = ()) -> str:
    path = ".".join(str(p) for p in (*prefix, *error.absolute_path))
    return path or "<top level>"


def _check(validator, instance, source: str, prefix: tuple = ()) -> None:
    """Fill defaults into ``instance`` in place; raise ConfigError naming every wrong key (up to 10)."""
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {_key_path(e, prefix)}: {e.message}" for e in errors[:10]]
        raise ConfigError(
            f"invalid configuration in {source}:\n" + "\n".join(lines)
            + "\nSee config/README.md for every key, its type and its default."
        )


def validate(cfg: dict, source: str = "config") -> dict:
    """Validate ``cfg`` in place (filling defaults) and return it.

    Raises ConfigError naming the offending key and what was expected: a wrong key, type or
    value (the schema), or values that contradict each other (``relation_errors``).
    """
    given = set(cfg)
    _check(_Validator(_schema(_analysis_of(cfg))), cfg, source)
    errors = relation_errors(cfg, given)
    if errors:
        raise ConfigError(f"inconsistent configuration in {source}:\n" + "\n".join(f"  {e}" for e in errors))
    return cfg


def relation_errors(cfg: dict, given: set[str]) -> list[str]:
    """What the schema cannot say: intervals in order and nested, fractions summing to 1, every
    file in exactly one sample. A check across two sections runs only when both were given
    (the workflow passes each command only the sections it reads; the rest are defaults)."""
    errors = []

    def interval(key: str, value, closed: bool = False) -> bool:
        lo, hi = value
        if not (lo <= hi if closed else lo < hi):
            errors.append(f"{key}: [{lo}, {hi}] is not an interval (low must be below high); swap or fix them")
            return False
        return True

    obs = cfg["observable"]
    if interval("observable.range", obs["range"]) and interval("observable.window", obs["window"]):
        (lo, hi), (wlo, whi) = obs["range"], obs["window"]
        if not lo <= wlo < whi <= hi:
            errors.append(f"observable.window {obs['window']} must lie inside observable.range {obs['range']}")
    split = cfg["features"]["split"]
    if abs(sum(split.values()) - 1.0) > 1e-9:
        errors.append(f"features.split fractions must sum to 1, not {sum(split.values()):g} ({split})")
    fit = cfg["fit"]
    interval("fit.mass_limits", fit["mass_limits"])
    interval("fit.mu_limits", fit["mu_limits"])
    for scan in ("mu_scan", "mass_scan", "p0_scan"):
        interval(f"fit.{scan} (lo, hi)", (fit[scan]["lo"], fit[scan]["hi"]), closed=True)
    if {"fit", "observable"} <= given and not obs["range"][0] <= fit["mass_value"] < obs["range"][1]:
        errors.append(f"fit.mass_value {fit['mass_value']} is outside observable.range {obs['range']}")
    if fit["signal_fit_range"] is not None and interval("fit.signal_fit_range", fit["signal_fit_range"]) and (
            {"fit", "observable"} <= given):
        (lo, hi), (slo, shi) = obs["range"], fit["signal_fit_range"]
        if not lo <= slo < shi <= hi:
            errors.append(f"fit.signal_fit_range {fit['signal_fit_range']} must lie inside observable.range "
                          f"{obs['range']} (the events outside it are not read)")
    studied = fit["contour_and_impacts"]
    if {"fit", "ml"} <= given and studied != "all" and set(studied) - set(cfg["ml"]["enabled"]):
        errors.append(f"fit.contour_and_impacts names {sorted(set(studied) - set(cfg['ml']['enabled']))}, which are not in "
                      f"ml.enabled ({', '.join(cfg['ml']['enabled'])}); list enabled models, or all")
    if {"dataset", "samples"} <= given:
        data_files = [e for spec in cfg["samples"].values() if spec["kind"] == "data" for e in spec["files"]]
        fetched = [e["name"] for e in data_files if e.get("url")]
        simulated = [e["name"] for e in data_files if not e.get("url")]
        if cfg["dataset"]["simulated"] and fetched:
            errors.append(f"dataset.simulated is true but data file(s) {fetched} have a url (real data); "
                          "set dataset.simulated: false")
        if not cfg["dataset"]["simulated"] and simulated:
            errors.append(f"data file(s) {simulated} have no url, so they are simulated pseudo-data; "
                          "set dataset.simulated: true or give them a url")
    for name, entry in cfg["ml"]["models"].items():
        for key, spec in entry.get("tune", {}).get("space", {}).items():
            where = f"ml.models.{name}.tune.space.{key}"
            if not ({"low", "high"} <= set(spec) <= {"low", "high", "log"} or set(spec) == {"choices"}):
                errors.append(f"{where}: give low and high (and log) for a range, or choices, not {spec}")
            elif "low" in spec and interval(where + " (low, high)", (spec["low"], spec["high"])) and (
                    spec.get("log") and spec["low"] <= 0):
                errors.append(f"{where}: log: true needs low > 0, not {spec['low']}; raise low or set log: false")
    errors += repeats_errors(cfg["ml"])
    owner: dict[str, str] = {}
    for sample, spec in cfg["samples"].items():
        listed = Counter(entry["name"] for entry in spec["files"])  # linear: catalogues have 10^4 files
        for entry in spec["files"]:
            other = owner.setdefault(entry["name"], sample)
            if other != sample:
                errors.append(f"file {entry['name']!r} is listed in samples {other!r} and {sample!r}; "
                              "a file belongs to exactly one sample")
            elif listed[entry["name"]] > 1:
                errors.append(f"file {entry['name']!r} is listed twice in sample {sample!r}")
    return list(dict.fromkeys(errors))


def repeats_errors(ml: dict) -> list[str]:
    """ml.repeats against itself and ml.enabled."""
    repeats, errors = ml["repeats"], []
    if repeats["seeds"] == 1:
        errors.append("ml.repeats.seeds is 1: a standard deviation needs at least 2 trainings; set 2 or more "
                      "(or 0 for no repeated trainings)")
    if not repeats["seeds"] and (repeats["models"] or repeats["scenarios"]):
        errors.append("ml.repeats.models or ml.repeats.scenarios is set but ml.repeats.seeds is 0 (no repeated "
                      "trainings); set ml.repeats.seeds to 2 or more")
    unknown = [name for name in repeats["models"] if name not in ml["enabled"]]
    if unknown:
        errors.append(f"ml.repeats.models {unknown} are not in ml.enabled ({', '.join(ml['enabled'])}); only an "
                      "enabled model is trained again")
    for name, fractions in repeats["scenarios"].items():
        if "all" in fractions and len(fractions) > 1:
            errors.append(f"ml.repeats.scenarios.{name} gives 'all' and {sorted(set(fractions) - {'all'})}: "
                          "'all' sets every class; give either it or signal/background")
    return errors


def section(cfg: dict | None, name: str):
    """``cfg[name]`` validated against the one schema, defaults filled (a copy; the default if absent).

    For library callers and tests that build a partial cfg by hand: a cfg from ``load`` is
    already complete, and this returns the same section. Raises ConfigError naming
    ``name.key`` for a wrong key, type or value.
    """
    root = _schema(_analysis_of(cfg))
    if name not in root["properties"]:
        raise ConfigError(f"the config schema has no section {name!r}; known: {', '.join(root['properties'])}")
    schema = root["properties"][name]
    value = (cfg or {}).get(name)
    value = copy.deepcopy(schema.get("default", {}) if value is None else value)
    # evolve keeps the root's $ref resolver, so references into other sections still resolve
    _check(_Validator(root).evolve(schema=schema), value, f"the {name} section", (name,))
    return value


def load(configfile: str | Path | None = None, settings: str | dict | None = None) -> dict:
    """Read a YAML config file and/or a JSON settings string, validate, fill defaults.

    ``settings`` (a JSON object with the same structure as the config) overrides the file
    key by key at the top level; rules pass the sections a stage reads this way so that
    Snakemake's params trigger reruns exactly what a config change affects.
    """
    cfg: dict[str, Any] = {}
    source = []
    if configfile is not None:
        path = Path(configfile)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        with open(path) as handle:
            try:
                loaded = yaml.load(handle, Loader=SafeLoader) or {}
            except yaml.YAMLError as err:
                mark = getattr(err, "problem_mark", None)
                where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
                problem = getattr(err, "problem", None) or str(err).splitlines()[0]
                raise ConfigError(f"config file {path} is not valid YAML ({problem} at{where}); fix the syntax") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of keys, not {type(loaded).__name__}")
        cfg.update(loaded)
        source.append(str(path))
    if settings is not None:
        try:
            extra = json.loads(settings) if isinstance(settings, str) else settings
        except json.JSONDecodeError as err:
            raise ConfigError(f"--settings is not valid JSON ({err})") from None
        if not isinstance(extra, dict):
            raise ConfigError("--settings must be a JSON object")
        cfg.update(extra)
        source.append("--settings")
    return validate(cfg, " + ".join(source) or "config")


def config_hash(cfg: dict) -> str:
    """A stable hash of a config (or part of one) for provenance blocks."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:16]
