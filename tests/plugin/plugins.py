"""A plug-in package "installed" the way pip would leave it, without pip, for the plug-in tests.

The package is copied into a temporary site folder next to a ``<name>-0.1.dist-info`` whose
``entry_points.txt`` registers it; ``importlib.metadata`` finds it on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def install(site: Path, package: Path, group: str, entry_point: str) -> Path:
    """``package`` and its dist-info in ``site``, registering ``entry_point`` (``name = target``)
    in the entry-point ``group``."""
    name = package.name
    shutil.copytree(package, site / name, ignore=shutil.ignore_patterns("__pycache__"))
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{entry_point}\n")
    return site


def environment(site: Path) -> dict:
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def colliderflow_status() -> str:
    """git status of colliderflow's code: a plug-in must leave it as it was."""
    result = subprocess.run(["git", "status", "--porcelain", "src/", "workflow/"], cwd=REPO,
                            capture_output=True, text=True, check=True)
    return result.stdout
