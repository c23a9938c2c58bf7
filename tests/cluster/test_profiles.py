"""The profiles' requests, read from Snakemake's dry runs (no cluster needed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
# rules that run on the submit host whatever the profile: the target, and the catalogue file
# written from the config (no command)
SUBMIT_HOST_RULES = ("all", "catalogue")


def dry_run(workdir: Path, *args: str) -> str:
    """The dry run of config/test.yaml with one signal file fetched (so fetch is planned too)."""
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    signal = next(spec for spec in config["samples"].values() if spec["kind"] == "signal")
    signal["files"][0]["url"] = "https://example.org/data.root"
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "--directory",
         str(workdir), "--configfile", str(workdir / "config.yaml"), "-n", *args],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def job_resources(output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of every planned job that a profile sends to the cluster."""
    jobs = []
    for block in re.split(r"^(?=rule \w+:$)", output, flags=re.MULTILINE)[1:]:
        rule = block.split(":", 1)[0].split()[1]
        if rule in SUBMIT_HOST_RULES:
            continue
        match = re.search(r"^\s+resources: (.*)$", block, flags=re.MULTILINE)
        jobs.append((rule, dict(item.split("=", 1) for item in match.group(1).split(", ")) if match else {}))
    return jobs


def test_there_is_no_workflow_profile():
    """Snakemake loads profiles/default on top of the user's --profile, and it wins."""
    assert not (REPO / "profiles" / "default").exists()


def test_htcondor_requests_cover_each_rule_memory_and_runtime(tmp_path):
    pytest.importorskip("snakemake_executor_plugin_htcondor", reason="the HTCondor plugin has no wheels here")
    jobs = job_resources(dry_run(tmp_path, "--profile", str(REPO / "profiles" / "htcondor")))
    assert {"fetch", "simulate", "skim", "train", "summary"} <= {rule for rule, _ in jobs}
    for rule, resources in jobs:
        assert resources["getenv"] == "true", rule
        assert int(resources["htcondor_request_mem_mb"]) >= int(resources["mem_mb"]), (rule, resources)
        assert int(resources["allowed_job_duration"]) >= 60 * int(resources["runtime"]), (rule, resources)
        assert "request_gpus" not in resources, "a GPU request idles forever in a pool without GPUs"


def test_slurm_jobs_ask_for_the_partition_and_the_rules_memory_and_runtime_but_no_gpu(tmp_path):
    jobs = job_resources(dry_run(tmp_path, "--profile", str(REPO / "profiles" / "slurm")))
    assert {"simulate", "skim", "train", "summary"} <= {rule for rule, _ in jobs}
    for rule, resources in jobs:
        assert resources["slurm_partition"] == "cpu", rule
        assert int(resources["mem_mb"]) >= 500 and int(resources["runtime"]) >= 5, (rule, resources)
        assert "gpu" not in resources, "CPU training by default: a GPU request fails where the site has none"
