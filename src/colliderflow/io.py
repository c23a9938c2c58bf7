"""Small I/O helpers every stage shares: atomic writes, JSON with provenance, checksums."""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Iterator

from . import __version__
from .config import config_hash


@contextlib.contextmanager
def atomic_path(path: str | Path, keep_name: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` only if the block succeeds.

    A killed job therefore never leaves a half-written file that looks whole. With
    ``keep_name`` the temporary file has the final name, in a hidden folder beside ``path``:
    for formats that record their own file name (ROOT), so that the bytes do not depend on it.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:  # a file where a folder should be
        raise NotADirectoryError(errno.ENOTDIR, f"a file is in the way of the output folder {path.parent}; "
                                 "move or delete it", err.filename) from err
    aside = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp = aside / path.name if keep_name else aside
    try:
        if keep_name:
            aside.mkdir(exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        # A failed write names the hidden temporary file, or no file at all (pyarrow, write()):
        # name the output the user asked for, so the one-line error says where.
        if err.errno is not None and err.filename in (None, str(tmp)):
            err.filename = str(path)
        raise
    finally:
        if tmp.exists():
            tmp.unlink()
        if keep_name and aside.exists():
            aside.rmdir()


def sha256sum(path: str | Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


# the packages whose versions decide the numbers (read from their metadata: no import)
COMPUTING_PACKAGES = ("uproot", "awkward", "numpy", "xgboost", "torch", "iminuit", "pyhf", "numba-stats")


def provenance(cfg: dict | None = None, inputs: list[str | Path] | tuple | dict = ()) -> dict:
    """The block every JSON output carries: package and dependency versions, the git revision
    of the code (when it runs from a repository), config hash, input checksums (``inputs``:
    the paths, or a mapping of each path to its SHA-256 where the caller computed it already).
    Nothing in it depends on when or where the job ran, so a rerun writes the same bytes."""
    checksums = ({str(p): digest for p, digest in inputs.items()} if isinstance(inputs, dict)
                 else {str(p): sha256sum(p) for p in inputs if Path(p).is_file()})
    return {
        "colliderflow_version": __version__,
        "git_revision": git_revision(),
        "packages": package_versions(),
        "config_hash": config_hash(cfg or {}),
        "inputs": checksums,
    }


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {name: installed(name) for name in COMPUTING_PACKAGES}


@functools.lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The commit of the checkout the package runs from, with ``-dirty`` for local changes;
    None outside a git checkout (an installed package)."""
    import subprocess

    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "."],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("-dirty" if dirty else "")


def write_json(path: str | Path, payload: dict, cfg: dict | None = None, inputs=()) -> None:
    """Write ``payload`` plus a ``provenance`` block, atomically, as strict JSON: a NaN or
    infinity (a quantity that could not be computed) is written as null, never as the bare
    ``NaN`` token that JSON readers refuse."""
    body = dict(payload)
    body["provenance"] = provenance(cfg, inputs)
    text = json.dumps(_strict(body), indent=2, sort_keys=False, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


def _strict(obj):
    """``obj`` with numpy values as Python ones and non-finite floats as None."""
    import numpy as np

    if isinstance(obj, dict):
        return {key: _strict(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(value) for value in obj]
    if isinstance(obj, np.ndarray):
        return _strict(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def skim_files(cfg: dict, skims: str | Path, suffix: str, samples=None) -> list[Path]:
    """``<skims>/<sample>/<file><suffix>`` for every catalogue file of ``samples`` (all by default),
    in catalogue order: the skim's outputs as the workflow lays them out. Commands read their
    inputs this way rather than from a list on the command line, which a catalogue of ~10^3
    files takes past the kernel's 128 KiB limit on one argument."""
    unknown = [name for name in samples or () if name not in cfg["samples"]]
    if unknown:
        raise KeyError(f"sample(s) {', '.join(unknown)} not in the config's sample catalogue; add them under 'samples'")
    chosen = cfg["samples"] if samples is None else {name: cfg["samples"][name] for name in samples}
    return [Path(skims) / sample / f"{entry['name']}{suffix}" for sample, spec in chosen.items()
            for entry in spec["files"]]


def read_json(path: str | Path) -> dict:
    with open(path) as handle:
        return json.load(handle)
