"""A non-editable install works from any directory: the wheel holds the schema and every data
file of the package, and its ``colliderflow`` and the workflow run outside the repository.

The wheel is built from a copy of only what the package build reads (pyproject.toml, README.md,
src/), with the setuptools installed here (no build isolation, nothing downloaded), and
installed without dependencies into a fresh virtual environment that sees this environment's
packages through a .pth file (the dependencies are not installed twice; this environment's
colliderflow, editable or not, stays out of sight: .pth files of that folder are not read).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.install


def run(command: list, cwd: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    result = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", out,
         source], cwd=out)
    (built,) = out.glob("colliderflow-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A fresh virtual environment with the wheel installed (non-editable); its bin folder."""
    root = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", root], cwd=root)
    python = root / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", wheel], cwd=root)
    return root / "bin"


def test_the_wheel_holds_every_data_file_of_the_package(wheel):
    package = REPO / "src" / "colliderflow"
    data = {path.relative_to(package.parent).as_posix() for path in package.rglob("*")
            if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts}
    assert "colliderflow/config.schema.yaml" in data
    assert {f"colliderflow/analyses/{name}/config.schema.yaml" for name in ("hyy", "hzz4l", "bs2dspi")} <= data
    shipped = set(zipfile.ZipFile(wheel).namelist())
    assert data <= shipped, f"data files missing from the wheel: {sorted(data - shipped)}"


def test_installed_package_runs_from_any_directory(venv, tmp_path):
    env = dict(os.environ, PATH=f"{venv}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    where = run([venv / "python", "-c", "import colliderflow; print(colliderflow.__file__)"], cwd=tmp_path, env=env)
    assert str(venv.parent) in where.stdout, f"colliderflow imported from {where.stdout} instead of the venv"
    checked = run([venv / "colliderflow", "check-config", "--configfile", REPO / "config" / "config.yaml"],
                  cwd=tmp_path, env=env)
    assert "analysis: hyy" in checked.stdout


def test_installed_package_runs_workflow_jobs_outside_the_repository(venv, tmp_path):
    """The first jobs of config/test.yaml (catalogue, one simulated file) with the installed
    colliderflow, then the dry run of the rest: the rules read nothing relative to the source."""
    env = dict(os.environ, PATH=f"{venv}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    snakemake = [venv / "python", "-m", "snakemake", "-s", REPO / "workflow" / "Snakefile", "--directory", tmp_path,
                 "--configfile", REPO / "config" / "test.yaml", "--cores", "2"]
    target = "resources/simulated-test/sim_mc_343981.ggH125_gamgam.root"
    run([*snakemake, target], cwd=tmp_path, env=env)
    assert (tmp_path / target).stat().st_size > 10_000
    plan = run([*snakemake, "--dry-run"], cwd=tmp_path, env=env)
    assert "simulate" in plan.stdout and "summary" in plan.stdout
