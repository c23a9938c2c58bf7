"""Snakemake runs of the workflow for the end-to-end tests (in a temporary work directory)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"


LOCAL = ("--cores", "2")


def snakemake(workdir: Path, *args: str, configfile: str = "config/test.yaml",
              execution: tuple[str, ...] = LOCAL) -> subprocess.CompletedProcess:
    """Snakemake in ``workdir``; ``execution``: how jobs run (local cores, or a profile)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir),
           "--configfile", configfile, *execution, *args]
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=1500)


def full_run(workdir: Path, configfile: str, execution: tuple[str, ...] = LOCAL) -> subprocess.CompletedProcess:
    """Copy config/ into ``workdir`` and run the whole workflow there with ``configfile``."""
    shutil.copytree(REPO / "config", workdir / "config")
    return snakemake(workdir, configfile=configfile, execution=execution)


def failure(result: subprocess.CompletedProcess) -> str:
    return f"workflow failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
