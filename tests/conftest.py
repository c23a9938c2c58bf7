"""Fixtures shared by the test folders: one full workflow run per test config and session."""

from __future__ import annotations

from pathlib import Path

import pytest
from workflow_runs import failure, full_run


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
