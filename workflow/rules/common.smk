import json
import os
from pathlib import Path

ANALYSIS = config["analysis"]
DATASET = config["dataset"]["name"]
RESULTS = f"results/{ANALYSIS}"
RESOURCES = f"resources/{DATASET}"
PACKAGE = Path(workflow.basedir).parent / "src" / "colliderflow"

# file stem -> sample name, from the sample catalogue
FILE_SAMPLE = {
    entry["name"]: sample
    for sample, spec in config["samples"].items()
    for entry in spec["files"]
}
SAMPLES = sorted(config["samples"])
MODELS = list(config["ml"]["enabled"])
# the inclusive cut-based selection is always fitted, as the baseline
FIT_MODELS = ["cutbased"] + MODELS


wildcard_constraints:
    sample="|".join(SAMPLES) or "NO_SAMPLES",
    file="[A-Za-z0-9_.+-]+",
    model="|".join(MODELS) or "NO_MODELS",
    fit_model="|".join(FIT_MODELS),


def settings(*sections):
    """The config sections a stage reads, as one JSON string for the rule's params.

    Passing exactly these (sorted, so deterministic) makes Snakemake rerun a job when, and
    only when, a setting it reads changes.
    """
    return json.dumps({key: config[key] for key in sections}, sort_keys=True)


def sample_settings(*sections):
    """Like settings(), plus the catalogue entry of the job's own sample only (so adding a
    sample does not rerun the others)."""

    def params(wildcards):
        chosen = {key: config[key] for key in sections}
        chosen["samples"] = {wildcards.sample: config["samples"][wildcards.sample]}
        return json.dumps(chosen, sort_keys=True)

    return params


def model_settings(*sections):
    """Like settings(), with ml.models and ml.enabled cut down to the job's own model, so that
    changing one model's settings retrains that model only."""

    def params(wildcards):
        chosen = {key: config[key] for key in sections}
        ml = dict(config["ml"])
        ml["models"] = {wildcards.model: ml["models"][wildcards.model]}
        ml["enabled"] = [wildcards.model]
        chosen["ml"] = ml
        return json.dumps(chosen, sort_keys=True)

    return params


def package_sources(*modules):
    """The package source files a rule's command runs, so a code change reruns the right jobs."""
    paths = [
        PACKAGE / "__init__.py",
        PACKAGE / "cli.py",
        PACKAGE / "config.py",
        PACKAGE / "io.py",
    ]
    for module in modules:
        target = PACKAGE / module
        if target.is_dir():
            paths.extend(sorted(target.rglob("*.py")))
        else:
            paths.append(target.with_suffix(".py"))
    return [str(p) for p in paths]


def sample_files(sample):
    return [entry["name"] for entry in config["samples"][sample]["files"]]


def skim_outputs(sample):
    return [f"{RESULTS}/skim/{sample}/{name}.parquet" for name in sample_files(sample)]


def events_of(model):
    """What a fit-stage job reads for a model: its scores, or the features for the baseline."""
    if model == "cutbased":
        return expand(f"{RESULTS}/features/{{sample}}.parquet", sample=SAMPLES)
    return expand(f"{RESULTS}/scores/{model}/{{sample}}.parquet", sample=SAMPLES)


def events_arg(model, events):
    """The command-line option naming the folder of a fit-stage job's input files."""
    option = "--features" if model == "cutbased" else "--scores"
    return f"{option} {os.path.dirname(events[0])}"


def experiment_label():
    return "Open Data Simulation" if config["dataset"]["simulated"] else "Open Data"


def final_outputs():
    return [
        f"{RESULTS}/plots/myy.png",
        f"{RESULTS}/cutflow.md",
        f"{RESULTS}/models/comparison.md",
        f"{RESULTS}/summary.json",
    ]
