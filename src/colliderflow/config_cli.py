"""``colliderflow check-config``: validate a config file and print it with defaults filled."""

from __future__ import annotations

import yaml

from . import config


def register(sub) -> None:
    from .cli import add_config_arguments

    parser = sub.add_parser("check-config", help="validate a config and print it with defaults filled in")
    add_config_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    cfg = config.load(args.configfile, args.settings)
    print(yaml.safe_dump(cfg, sort_keys=False))
    return 0
