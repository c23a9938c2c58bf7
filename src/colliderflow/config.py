"""Load and validate the configuration against the one JSON schema.

The same schema (``workflow/schemas/config.schema.yaml``) is used by Snakemake's
``validate()`` and by every ``colliderflow`` command, so a wrong key, type or value
stops the run at once with a message naming the key.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml


class ConfigError(ValueError):
    """A configuration key is missing, unknown or has a wrong type or value."""


def schema_path() -> Path:
    """The schema shipped inside the package (a copy of workflow/schemas/config.schema.yaml)."""
    repo_schema = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
    if repo_schema.is_file():
        return repo_schema
    return Path(str(resources.files("colliderflow") / "config.schema.yaml"))


def load_schema() -> dict:
    with open(schema_path()) as handle:
        return yaml.safe_load(handle)


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


def _key_path(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "<top level>"


def validate(cfg: dict, source: str = "config") -> dict:
    """Validate ``cfg`` in place (filling defaults) and return it.

    Raises ConfigError naming the offending key and what was expected.
    """
    errors = sorted(_Validator(load_schema()).iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {_key_path(e)}: {e.message}" for e in errors[:10]]
        raise ConfigError(
            f"invalid configuration in {source}:\n" + "\n".join(lines)
            + "\nSee config/README.md for every key, its type and its default."
        )
    return cfg


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
