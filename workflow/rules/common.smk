import json
import re
import os

from colliderflow.stage_code import code_digest

ANALYSIS = config["analysis"]
DATASET = config["dataset"]["name"]
RESULTS = f"results/{ANALYSIS}"
RESOURCES = f"resources/{DATASET}"
# the sample catalogue as a file (rule catalogue), for the jobs that read more than their own
# file's entry: in params and on the command line it would cost O(files) per job, and a command
# line of ~10^3 catalogue entries exceeds the kernel's 128 KiB limit on one argument
CATALOGUE = f"{RESOURCES}/catalogue.json"

SAMPLES = sorted(config["samples"])
# file name -> (its sample, its catalogue entry); files with a url are fetched, the others simulated
FILES = {
    entry["name"]: (sample, entry)
    for sample, spec in config["samples"].items()
    for entry in spec["files"]
}
FETCHED = sorted(name for name, (_, entry) in FILES.items() if entry.get("url"))
SIMULATED = sorted(name for name, (_, entry) in FILES.items() if not entry.get("url"))
# every model is trained, optimised and fitted alike; the baseline (ml.baseline, the
# cut-based selection by default) is one of them
MODELS = list(config["ml"]["enabled"])
# one training per model, or with cross-training (features.folds >= 2) one per (model, fold):
# models/<model>/fold<i>, whose model scores fold i in apply
FOLDS = config["features"]["folds"]
TRAINING = "{model}/fold{fold}" if FOLDS > 1 else "{model}"


FILE_NAME = "[A-Za-z0-9_.+-]+"  # samples.*.files[].name in the schema

# Rule priorities, where jobs wait for cores: first the per-model steps that lead to a fit, then
# the fits, then what follows them (workspaces, limits, contours, impacts). Every model reaches
# its fit early and the long fits overlap, instead of one model's fit and limit running alone at
# the end while the other cores idle.
BEFORE_FIT = 2
FIT = 1


wildcard_constraints:
    sample="|".join(SAMPLES) or "NO_SAMPLES",
    file=FILE_NAME,
    model="|".join(MODELS) or "NO_MODELS",
    fold="[0-9]+",


def one_of(names):
    """A wildcard regex matching exactly these names (none: a name that never matches)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def names_if_fewer(names, others):
    """The wildcard constraint of the rule that makes ``names``: exactly these names if they
    are no more than ``others`` (that rule goes first), else any file name (the rule takes
    whatever the other one does not)."""
    return one_of(names) if len(names) <= len(others) else FILE_NAME


def settings(*sections):
    """The config sections a stage reads, as one JSON string for the rule's params.

    Passing exactly these (sorted, so deterministic) makes Snakemake rerun a job when, and
    only when, a setting it reads changes. The analysis name always goes along: it decides
    the schema (and so the defaults) the command validates the settings against.
    """
    return json.dumps(chosen_sections(sections), sort_keys=True)


def chosen_sections(sections):
    return {key: config[key] for key in ("analysis", *sections)}


def file_settings(*sections):
    """Like settings(), plus the job's own file ({wildcards.file}): its catalogue entry under
    its sample (kind, process). A skim or fetch job thus carries one entry, not the catalogue:
    the plan grows linearly with the files, and adding a file reruns no other file's skim.
    """

    def params(wildcards):
        if wildcards.file not in FILES:
            raise ValueError(
                f"file {wildcards.file!r} is in no sample of the config's catalogue (samples: ... files:)"
            )
        sample, entry = FILES[wildcards.file]
        chosen = chosen_sections(sections)
        chosen["samples"] = {sample: {**config["samples"][sample], "files": [entry]}}
        return json.dumps(chosen, sort_keys=True)

    return params


def model_settings(*sections):
    """Like settings(), with ml.models and ml.enabled cut down to the job's own model, so that
    changing one model's settings retrains that model only; without ml.repeats, which changes
    no model (a repeated training gets its seed and fractions on the command line)."""

    def params(wildcards):
        chosen = chosen_sections(sections)
        ml = {key: value for key, value in config["ml"].items() if key != "repeats"}
        ml["models"] = {wildcards.model: ml["models"][wildcards.model]}
        ml["enabled"] = [wildcards.model]
        chosen["ml"] = ml
        return json.dumps(chosen, sort_keys=True)

    return params


def stage_code(subcommand):
    """The digest of the files `colliderflow <subcommand>` runs (colliderflow.stage_code), for
    the rule's params: a code change reruns exactly the jobs that run that code. Name the
    sub-command of the rule's shell (tests/unit/test_stage_code.py checks that they agree).
    """
    return code_digest(subcommand, ANALYSIS)


def sample_files(sample):
    return [entry["name"] for entry in config["samples"][sample]["files"]]


def skim_outputs(sample):
    return [f"{RESULTS}/skim/{sample}/{name}.parquet" for name in sample_files(sample)]


def model_scores(model):
    """The scores of every sample for one model: what optimisation and inference read."""
    return expand(f"{RESULTS}/scores/{model}/{{sample}}.parquet", sample=SAMPLES)


def experiment_label():
    return "Open Data Simulation" if config["dataset"]["simulated"] else "Open Data"


def final_outputs():
    targets = [
        f"{RESULTS}/plots/spectrum.png",
        f"{RESULTS}/cutflow.md",
        f"{RESULTS}/models/comparison.md",
    ]
    # the fit's contour and impacts, for the models of fit.contour_and_impacts
    studied = config["fit"]["contour_and_impacts"]
    targets += expand(f"{RESULTS}/inference/{{model}}/{{study}}.json", model=MODELS if studied == "all" else studied,
                      study=["contour", "impacts"])
    if not config["dataset"]["lumi_known"]:
        if config["report"]["hepdata"]:
            raise ValueError(
                "report.hepdata needs the data's luminosity (dataset.lumi_known: true): "
                "without it there are no limits to publish; set report.hepdata: false"
            )
        # without the data's luminosity there is no limit or summary to make: stop at the fits
        return targets + expand(f"{RESULTS}/inference/{{model}}/fit.json", model=MODELS)
    targets.append(f"{RESULTS}/summary.json")
    if config["report"]["hepdata"]:
        targets.append(f"{RESULTS}/hepdata.tar.gz")
    return targets
