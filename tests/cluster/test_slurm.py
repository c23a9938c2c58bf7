"""The test workflow on a real Slurm cluster through profiles/slurm, against a local run.

The cluster (tests/cluster/slurm_cluster.py) is private to the test: one node, one partition,
no accounting database. The user's profile is profiles/slurm with the one change the README
asks of a site, the partition; on the command line only what a cluster without slurmdbd needs
(job status from squeue) and a short first status check, as the jobs here take seconds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from slurm_cluster import SlurmCluster, unavailable_reason
from test_profiles import SUBMIT_HOST_RULES

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no Slurm test cluster on this machine: {reason}")
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def snakemake(workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    workdir.mkdir()
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"),
           "--directory", str(workdir), "--configfile", "config.yaml", *args]
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=1500)


def site_profile(directory: Path, partition: str) -> Path:
    """profiles/slurm as a user adapts it: their partition, nothing else."""
    settings = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    settings["default-resources"]["slurm_partition"] = partition
    directory.mkdir()
    (directory / "config.yaml").write_text(yaml.safe_dump(settings))
    return directory


@pytest.fixture(scope="module")
def local_run(finished_run) -> Path:
    """The work directory of the local run of config/test.yaml (shared with tests/workflow)."""
    reason = unavailable_reason()
    if reason:  # no cluster, no comparison: skip before the slow part
        pytest.skip(f"no Slurm test cluster on this machine: {reason}")
    return finished_run("config/test.yaml")


# local_run first: the cluster starts after it
def test_every_job_runs_through_sbatch_and_the_results_equal_a_local_run(local_run, slurm, tmp_path, report_figure):
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    profile = site_profile(tmp_path / "profile", slurm.partition)
    jobs_before = len(slurm.finished_jobs())
    started = time.monotonic()
    run = snakemake(tmp_path / "slurm", config, "--profile", str(profile), "--slurm-status-command", "squeue",
                    "--slurm-init-seconds-before-status-checks", "5")
    seconds = time.monotonic() - started
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"{output[-6000:]}\n{slurm.logs()}"

    # each job Snakemake starts is announced as `rule X:` (submitted) or `localrule X:` (run here)
    submitted = re.findall(r"^rule (\w+):$", output, flags=re.MULTILINE)
    local = re.findall(r"^localrule (\w+):$", output, flags=re.MULTILINE)
    assert sorted(local) == sorted(SUBMIT_HOST_RULES), f"only {SUBMIT_HOST_RULES} run outside Slurm: {local}"
    jobs = slurm.finished_jobs()[jobs_before:]
    states = sorted({job["JobState"] for job in jobs})
    report_figure(f"Slurm test: {len(jobs)} jobs through sbatch ({', '.join(states)}), "
                  f"{len(local)} on the submit host ({', '.join(sorted(local))}), workflow {seconds:.0f} s")
    assert len(jobs) == len(submitted) > 0, f"Slurm ran {len(jobs)} jobs, Snakemake submitted {len(submitted)}"
    assert states == ["COMPLETED"], jobs
    steps = len(submitted) + len(local)
    assert f"{steps} of {steps} steps (100%) done" in output

    # the summary table reaches the user (onsuccess), not only a batch log
    summary_md = (tmp_path / "slurm" / "results" / "hyy" / "summary.md").read_text()
    assert summary_md.strip() in run.stdout

    for name in ("summary.json", "summary.md"):
        on_slurm = (tmp_path / "slurm" / "results" / "hyy" / name).read_bytes()
        assert on_slurm == (local_run / "results" / "hyy" / name).read_bytes(), f"{name} differs from the local run's"


@pytest.mark.parametrize("on_submit_host", [True, False])
def test_downloads_run_on_the_submit_host_unless_the_config_says_otherwise(slurm, tmp_path, on_submit_host):
    """One simulated file, then fetched through the profile from a file:// url."""
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    signal = next(spec for spec in config["samples"].values() if spec["kind"] == "signal")
    name = signal["files"][0]["name"]
    target = f"resources/{config['dataset']['name']}/{name}.root"
    source = snakemake(tmp_path / "source", config, "--cores", "1", target)
    assert source.returncode == 0, source.stderr[-6000:]

    signal["files"][0]["url"] = (tmp_path / "source" / target).as_uri()
    config["execution"] = {"fetch_on_submit_host": on_submit_host}
    profile = site_profile(tmp_path / "profile", slurm.partition)
    jobs_before = len(slurm.finished_jobs())
    run = snakemake(tmp_path / "fetch", config, "--profile", str(profile), "--slurm-status-command", "squeue",
                    "--slurm-init-seconds-before-status-checks", "2", target)
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"{output[-6000:]}\n{slurm.logs()}"
    assert re.findall(r"^(\w*rule) fetch:$", output, flags=re.MULTILINE) == ["localrule" if on_submit_host else "rule"]
    assert len(slurm.finished_jobs()) - jobs_before == (0 if on_submit_host else 1)
    assert (tmp_path / "fetch" / target).read_bytes() == (tmp_path / "source" / target).read_bytes()
