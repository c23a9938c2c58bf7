"""Load and validate the configuration against the one JSON schema.

The schema is ``config.schema.yaml`` (shipped inside the package) merged with the piece
that the config's analysis declares (``config.schema.yaml`` beside it: its ``selection`` section
and its defaults of the generic sections). The workflow (Snakefile) and every
``colliderflow`` command validate through ``validate``/``load`` here, so a wrong key, type
or value stops the run at once with a message naming the key.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml


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
    """A YAML file parsed once per file version (the schema takes ~0.2 s); never mutate it."""
    with open(path) as handle:
        return yaml.safe_load(handle)


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
def _composed(analysis: str, base_mtime: int, piece_path: str, piece_mtime: int) -> dict:
    root = _read_yaml(schema_path())
    piece = _parsed(piece_path, piece_mtime) if piece_path else {}
    return {**root, "properties": merge(root["properties"], piece or {})}


def _schema(analysis: str = DEFAULT_ANALYSIS) -> dict:
    """The schema for ``analysis``: the generic one with the analysis's piece merged in (never mutate it)."""
    from . import analyses

    try:
        piece_path = analyses.schema_file(analysis)
    except KeyError as err:
        raise ConfigError(err.args[0]) from None
    return _composed(analysis, schema_path().stat().st_mtime_ns, str(piece_path or ""),
                     piece_path.stat().st_mtime_ns if piece_path else 0)


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
                if "default" in sub and name not in instance:
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

    Raises ConfigError naming the offending key and what was expected.
    """
    _check(_Validator(_schema(_analysis_of(cfg))), cfg, source)
    return cfg


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
            loaded = yaml.safe_load(handle) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of keys, not {type(loaded).__name__}")
        cfg.update(loaded)
        source.append(str(path))
    if settings is not None:
        extra = json.loads(settings) if isinstance(settings, str) else settings
        if not isinstance(extra, dict):
            raise ConfigError("--settings must be a JSON object")
        cfg.update(extra)
        source.append("--settings")
    return validate(cfg, " + ".join(source) or "config")


def config_hash(cfg: dict) -> str:
    """A stable hash of a config (or part of one) for provenance blocks."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:16]
