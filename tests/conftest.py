"""Fixtures shared by the test folders: the full workflow runs, each made once per session.

A full run is the slow part of the suite, so each is made when a test first asks for it and
shared: ``finished_run`` (one local run per test config) and ``slurm_run`` (config/test.yaml
through profiles/slurm on a private Slurm cluster, which is also the second clean run that
tests/workflow/test_reproducible.py compares byte for byte with the local one).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import pytest
from slurm_cluster import SLURM_WITHOUT_ACCOUNTING, SlurmCluster, site_profile, unavailable_reason
from workflow_runs import failure, full_run

SLURM_CONFIG = "config/test.yaml"  # tests/workflow/test_reproducible.py compares this run with the local one


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """A function: a test config -> the work directory of one full run of it, made when first
    asked for and shared by every test of the session (a full run is the slow part)."""
    runs = {}

    def get(configfile: str):
        if configfile not in runs:
            work = tmp_path_factory.mktemp(f"run-{Path(configfile).stem}")
            runs[configfile] = work, full_run(work, configfile)
        work, result = runs[configfile]
        if result.returncode != 0:
            pytest.fail(failure(result))
        return work

    return get


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A private single-node Slurm cluster for the session (tests/slurm_cluster.py)."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no Slurm test cluster on this machine: {reason}")
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


class SlurmRun(NamedTuple):
    workdir: Path
    output: str  # stdout + stderr
    stdout: str
    jobs: list[dict[str, str]]  # the Slurm records of the jobs it submitted
    seconds: float


@pytest.fixture(scope="session")
def slurm_run(slurm, tmp_path_factory) -> SlurmRun:
    """config/test.yaml run through profiles/slurm (partition adapted) on the test cluster."""
    root = tmp_path_factory.mktemp("slurm-run")
    profile = site_profile(root / "profile", slurm.partition)
    jobs_before = len(slurm.finished_jobs())
    started = time.monotonic()
    result = full_run(root / "work", SLURM_CONFIG,
                      execution=("--profile", str(profile), *SLURM_WITHOUT_ACCOUNTING,
                                 "--slurm-init-seconds-before-status-checks", "5"))
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"{failure(result)}\n{slurm.logs()}")
    return SlurmRun(root / "work", output, result.stdout, slurm.finished_jobs()[jobs_before:], seconds)
