"""The test workflow on a real Slurm cluster through profiles/slurm.

The cluster (tests/slurm_cluster.py) is private to the test session: one node, one partition,
no accounting database. The user's profile is profiles/slurm with the one change the README
asks of a site, the partition (tests/conftest.py: ``slurm``, ``slurm_run``). That its outputs
equal a local run's, byte for byte, is tests/workflow/test_reproducible.py's check.
"""

from __future__ import annotations

import re

import pytest
import yaml
from slurm_cluster import SLURM_WITHOUT_ACCOUNTING, site_profile
from test_profiles import SUBMIT_HOST_RULES
from workflow_runs import REPO, snakemake

pytestmark = pytest.mark.cluster


def test_every_job_runs_through_sbatch(slurm_run, report_figure):
    # each job Snakemake starts is announced as `rule X:` (submitted) or `localrule X:` (run here)
    submitted = re.findall(r"^rule (\w+):$", slurm_run.output, flags=re.MULTILINE)
    local = re.findall(r"^localrule (\w+):$", slurm_run.output, flags=re.MULTILINE)
    assert sorted(local) == sorted(SUBMIT_HOST_RULES), f"only {SUBMIT_HOST_RULES} run outside Slurm: {local}"
    states = sorted({job["JobState"] for job in slurm_run.jobs})
    report_figure(f"Slurm test: {len(slurm_run.jobs)} jobs through sbatch ({', '.join(states)}), "
                  f"{len(local)} on the submit host ({', '.join(sorted(local))}), workflow {slurm_run.seconds:.0f} s")
    assert len(slurm_run.jobs) == len(submitted) > 0, \
        f"Slurm ran {len(slurm_run.jobs)} jobs, Snakemake submitted {len(submitted)}"
    assert states == ["COMPLETED"], slurm_run.jobs
    steps = len(submitted) + len(local)
    assert f"{steps} of {steps} steps (100%) done" in slurm_run.output

    # the summary table reaches the user (onsuccess), not only a batch log
    summary_md = (slurm_run.workdir / "results" / "hyy" / "summary.md").read_text()
    assert summary_md.strip() in slurm_run.stdout


def run_config(workdir, config: dict, execution: tuple[str, ...], *targets: str):
    """Snakemake on ``config`` (a dict, written to ``workdir``/config.yaml)."""
    workdir.mkdir()
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return snakemake(workdir, *targets, configfile="config.yaml", execution=execution)


@pytest.mark.parametrize("on_submit_host", [True, False])
def test_downloads_run_on_the_submit_host_unless_the_config_says_otherwise(slurm, tmp_path, on_submit_host):
    """One simulated file, then fetched through the profile from a file:// url."""
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    signal = next(spec for spec in config["samples"].values() if spec["kind"] == "signal")
    name = signal["files"][0]["name"]
    target = f"resources/{config['dataset']['name']}/{name}.root"
    source = run_config(tmp_path / "source", config, ("--cores", "1"), target)
    assert source.returncode == 0, source.stderr[-6000:]

    signal["files"][0]["url"] = (tmp_path / "source" / target).as_uri()
    config["execution"] = {"fetch_on_submit_host": on_submit_host}
    profile = site_profile(tmp_path / "profile", slurm.partition)
    jobs_before = len(slurm.finished_jobs())
    run = run_config(tmp_path / "fetch", config, ("--profile", str(profile), *SLURM_WITHOUT_ACCOUNTING,
                                                  "--slurm-init-seconds-before-status-checks", "2"), target)
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"{output[-6000:]}\n{slurm.logs()}"
    assert re.findall(r"^(\w*rule) fetch:$", output, flags=re.MULTILINE) == ["localrule" if on_submit_host else "rule"]
    assert len(slurm.finished_jobs()) - jobs_before == (0 if on_submit_host else 1)
    assert (tmp_path / "fetch" / target).read_bytes() == (tmp_path / "source" / target).read_bytes()
