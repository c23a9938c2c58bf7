"""Small I/O helpers every stage shares: atomic writes, JSON with provenance, checksums."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Iterator

from . import __version__
from .config import config_hash


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` only if the block succeeds.

    A killed job therefore never leaves a half-written file that looks whole.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def sha256sum(path: str | Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


def provenance(cfg: dict | None = None, inputs: list[str | Path] | tuple = ()) -> dict:
    """The block every JSON output carries: package version, config hash, input checksums."""
    return {
        "colliderflow_version": __version__,
        "config_hash": config_hash(cfg or {}),
        "inputs": {str(p): sha256sum(p) for p in inputs if Path(p).is_file()},
    }


def write_json(path: str | Path, payload: dict, cfg: dict | None = None, inputs=()) -> None:
    """Write ``payload`` plus a ``provenance`` block, atomically."""
    body = dict(payload)
    body["provenance"] = provenance(cfg, inputs)
    with atomic_path(path) as tmp:
        with open(tmp, "w") as handle:
            json.dump(body, handle, indent=2, sort_keys=False, default=_json_default)
            handle.write("\n")


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def read_json(path: str | Path) -> dict:
    with open(path) as handle:
        return json.load(handle)
