"""Two clean runs of config/test.yaml, in two directories, write the same bytes.

The first run is the one the other workflow tests share (conftest's ``finished_run``); the
second is the Slurm test's run through profiles/slurm (conftest's ``slurm_run``: so the check
also shows that the cluster computes what a laptop does), or, where no test cluster can run,
a second local run made here. Every file the workflow
writes (``resources/`` and ``results/``) is compared, except those in ``MAY_DIFFER``, each
with the reason. Logs and benchmarks hold times by nature and are not outputs.
"""

from __future__ import annotations

import fnmatch
import hashlib
from pathlib import Path

import pytest
from workflow_runs import failure, full_run

pytestmark = pytest.mark.workflow

CONFIG = "config/test.yaml"  # the config of conftest's slurm_run
OUTPUT_FOLDERS = ("resources", "results")
# Output files (globs relative to the work directory) whose bytes still differ from run to
# run, and why. Scores, fits and everything else downstream of them are identical.
MAY_DIFFER: dict[str, str] = {
    "results/*/models/*/tuning/study.log": "Optuna's journal of the search records when each trial started and "
                                           "ended; the trials' values and best.json are identical",
    "results/*/models/comparison.*": "the comparison shows each model's training time (Snakemake's benchmark of "
                                     "its train job); its other columns come from the identical metrics.json",
}


def checksums(workdir: Path) -> dict[str, str]:
    """SHA-256 of every output file, by path relative to ``workdir``."""
    return {
        str(path.relative_to(workdir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in OUTPUT_FOLDERS
        for path in sorted((workdir / folder).rglob("*"))
        if path.is_file()
    }


def may_differ(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in MAY_DIFFER)


@pytest.fixture
def second_run(request, tmp_path) -> Path:
    """The work directory of a second clean run of CONFIG: on Slurm where it can run. (Asked of
    the fixture, not of ``unavailable_reason``: while the session's test cluster runs, its own
    slurm.conf is in place and would make the check say no, and the run would be made twice.)"""
    try:
        return request.getfixturevalue("slurm_run").workdir
    except pytest.skip.Exception:
        pass  # no Slurm test cluster on this machine: a second local run
    result = full_run(tmp_path, CONFIG)
    assert result.returncode == 0, failure(result)
    return tmp_path


def test_two_clean_runs_write_the_same_bytes(finished_run, second_run):
    first = checksums(finished_run(CONFIG))
    second = checksums(second_run)

    assert sorted(first) == sorted(second), "the two runs wrote different sets of files"
    assert any(name.endswith(".root") for name in first) and any(name.endswith("fit.json") for name in first)
    differ = sorted(name for name in first if first[name] != second[name] and not may_differ(name))
    assert not differ, f"{len(differ)} output file(s) differ between two clean runs: {differ}"
