"""``colliderflow <stage>``: the command-line entry point the workflow rules call.

Each stage module defines ``register(subparsers)`` that adds its sub-command(s) and sets
``func`` to the function that runs it; this module only collects them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__
from .config import ConfigError

# Stage modules in data-flow order; each provides register(subparsers).
STAGES = (
    "colliderflow.config_cli",
    "colliderflow.datasets",
    "colliderflow.simulate",
    "colliderflow.fetch",
    "colliderflow.skim",
    "colliderflow.features",
    "colliderflow.ml.cli",
    "colliderflow.optimise",
    "colliderflow.cutflow",
    "colliderflow.plotting",
    "colliderflow.stats.cli",
    "colliderflow.fitstage",
)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The two ways a stage gets its settings: a config file, or JSON from a rule's params."""
    parser.add_argument("--configfile", help="YAML config file (e.g. config/config.yaml)")
    parser.add_argument(
        "--settings",
        help="JSON object with the config sections this stage reads (rules pass this); "
        "overrides --configfile key by key",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="colliderflow", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"colliderflow {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="<stage>")
    for name in STAGES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result = args.func(args)
    except (ConfigError, FileNotFoundError, KeyError, ValueError) as err:
        # Expected user errors: one clear line, no traceback.
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"colliderflow {args.command}: error: {message}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
