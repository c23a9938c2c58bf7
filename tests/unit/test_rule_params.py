"""What the workflow's jobs carry in their params (read from the plan of a dry run): a job per
file carries its own catalogue entry, never the catalogue, so planning grows linearly with the
files (benchmarks/dag_scale.py measures it), and each file goes to the rule that makes it."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FETCHED = "mc_364352.diphoton_real"
# two models with 3 seeds in two scenarios (full and bkg10): 2 x 3 x 2 trainings, of which the main
# trainings of the two (scenario full, seed ml.seed) are there already
REPEATS = {"seeds": 3, "models": ["bdt", "deepsets"], "scenarios": {"bkg10": {"background": 0.1}}}


@pytest.fixture(scope="module")
def commands(tmp_path_factory) -> dict[str, list[list[str]]]:
    """Sub-command -> the argument lists of its jobs, from ``snakemake -n -p`` on config/test.yaml
    with a second yy file that has a url (so one file is fetched) and ``REPEATS`` on."""
    work = tmp_path_factory.mktemp("plan")
    cfg = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    cfg["samples"]["yy"]["files"].append({"name": FETCHED, "url": "https://example.org/mc_364352.root"})
    cfg["ml"]["repeats"] = REPEATS
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", REPO / "workflow" / "Snakefile", "--directory", work,
         "--configfile", work / "config.yaml", "--cores", "1", "--dry-run", "--printshellcmds"],
        cwd=work, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    found: dict[str, list[list[str]]] = {}
    for line in result.stdout.splitlines():
        if line.startswith("Shell command: colliderflow "):
            args = shlex.split(line.removeprefix("Shell command: ").split(" 2>", 1)[0])
            found.setdefault(args[1], []).append(args[2:])
    return found


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_a_job_per_file_carries_its_own_entry_only(commands):
    assert len(commands["skim"]) == 10 and len(commands["fetch"]) == 1
    for args in commands["skim"] + commands["fetch"]:
        samples = json.loads(option(args, "--settings"))["samples"]
        (spec,) = samples.values()
        (entry,) = spec["files"]
        name = Path(option(args, "--input")).stem if "--input" in args else option(args, "--file")
        assert entry["name"] == name
        if "--sample" in args:
            assert list(samples) == [option(args, "--sample")]


def test_each_file_goes_to_the_rule_that_makes_it(commands):
    assert [option(args, "--file") for args in commands["fetch"]] == [FETCHED]
    simulated = [option(args, "--file") for args in commands["simulate"]]
    assert len(simulated) == 9 and FETCHED not in simulated


def test_the_jobs_that_read_more_than_their_file_read_the_catalogue_from_a_file(commands):
    readers = {"simulate", "cutflow", "features", "tune", "train", "apply", "compare", "optimise", "plot-spectrum"}
    assert readers <= set(commands)
    for command, jobs in commands.items():
        for args in jobs:
            if command in readers:
                assert option(args, "--configfile") == "resources/simulated-test/catalogue.json", command
            if command not in {"skim", "fetch", "aggregate-repeats"}:  # aggregate-repeats reads no config
                assert "samples" not in json.loads(option(args, "--settings")), command


def test_no_command_lists_the_skims(commands):
    """cutflow and features find the skims from the catalogue: 10^3 paths on a command line
    would pass the kernel's 128 KiB limit on one argument."""
    for command in ("cutflow", "features"):
        for args in commands[command]:
            assert "--inputs" not in args and option(args, "--skims") == "results/hyy/skim", command


def test_repeated_trainings_are_a_job_per_model_scenario_and_seed(commands):
    main, repeated = [], []
    for args in commands["train"]:
        (repeated if "--seed" in args else main).append(args)
        assert "repeats" not in json.loads(option(args, "--settings"))["ml"]  # ml.repeats retrains no model
    enabled = yaml.safe_load((REPO / "config" / "test.yaml").read_text())["ml"]["enabled"]
    folds = yaml.safe_load((REPO / "config" / "test.yaml").read_text())["features"].get("folds", 1)
    assert sorted(option(args, "--model") for args in main) == sorted(enabled * folds)  # as without repeats
    jobs = sorted((option(args, "--model"), int(option(args, "--seed")),
                   tuple(args[i + 1] for i, a in enumerate(args) if a == "--training-fraction")) for args in repeated)
    trainings = sorted((model, seed, fractions) for model in REPEATS["models"] for seed in (1, 2, 3)
                       for fractions in ((), ("background=0.1",)))
    assert len(trainings) == 12
    assert jobs == [job for job in trainings if job[1:] != (1, ())]  # ml.seed 1, full: the main training
    assert len({option(args, "--outdir") for args in repeated}) == len(repeated) == 10
    (compare,) = commands["compare"]
    summaries = compare[compare.index("--repeats") + 1:compare.index("--train-benchmarks")]
    assert summaries == ["results/hyy/repeats/bdt.json", "results/hyy/repeats/deepsets.json"]
    # the main trainings' benchmark files (their times), every model in every fold, and no repeat's
    timings = compare[compare.index("--train-benchmarks") + 1:]
    assert timings == [f"benchmarks/train/{model}/fold{fold}.tsv" for model in enabled for fold in range(folds)]
    assert len(commands["aggregate-repeats"]) == 2
    for args in commands["aggregate-repeats"]:
        scenarios = [args[i + 1] for i, a in enumerate(args) if a == "--scenario"]
        assert scenarios == ["full", "bkg10"] and sum(a.endswith("metrics.json") for a in args) == 6
        model = Path(option(args, "--out")).stem
        # seed 1: the main training (fold 0's when the test config cross-trains; so are the repeats)
        assert option(args, "full") == f"results/hyy/models/{model}{'/fold0' if folds > 1 else ''}/metrics.json"
    assert all(("--fold" in args) == (folds > 1) for args in repeated)
