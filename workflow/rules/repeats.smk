# Repeated trainings (ml.repeats, off by default): every model of ml.repeats.models trained with
# seeds s, s + 1, ... from its own seed s (ml.models.<model>.seed, else ml.seed), on every training
# event (scenario full; its seed s is the main training) and in each reduced-statistics scenario, one job per (model, scenario, seed) so
# they spread over cores and cluster nodes; per model the figures' mean +- std over the seeds
# (repeats/<model>.json), which the comparison table shows. Nothing else reads them: the fit uses
# the main training (train.smk).

REPEATS = config["ml"]["repeats"]
REPEATED_MODELS = (list(REPEATS["models"]) or MODELS) if REPEATS["seeds"] else []


def repeat_seeds(model):
    """The model's seed (ml.models.<model>.seed, else ml.seed), then the next ones."""
    first = config["ml"]["models"][model].get("seed", config["ml"]["seed"])
    return [first + k for k in range(REPEATS["seeds"])]


# scenario -> the training fractions of its classes; full keeps every event
SCENARIOS = {"full": {}, **REPEATS["scenarios"]}


wildcard_constraints:
    scenario=one_of(SCENARIOS),
    seed=r"\d+",


def repeat_metrics(model, scenario, seed):
    """The metrics of one repeated training. The main training of the model is the one of the
    full scenario with the model's seed: the same job, so it is not run twice. With
    cross-training (features.folds) the repeats are fold 0's training, evaluated on fold 0."""
    if scenario == "full" and seed == repeat_seeds(model)[0]:
        return expand(f"{RESULTS}/models/{TRAINING}/metrics.json", model=model, fold=0)[0]
    return f"{RESULTS}/repeats/{model}/{scenario}/seed{seed}/metrics.json"


def repeat_summaries():
    """The repeats JSON of every model trained again: what compare_models reads (none when off)."""
    return expand(f"{RESULTS}/repeats/{{model}}.json", model=REPEATED_MODELS)


rule train_repeat:
    input:
        features=expand(f"{RESULTS}/features/{{sample}}.parquet", sample=SAMPLES),
        catalogue=CATALOGUE,
        tuned=tuned_parameters,  # a tuned model is repeated with its tuned values (tune.smk)
    output:
        model=directory(f"{RESULTS}/repeats/{{model}}/{{scenario}}/seed{{seed}}/model"),
        metrics=f"{RESULTS}/repeats/{{model}}/{{scenario}}/seed{{seed}}/metrics.json",
        history=f"{RESULTS}/repeats/{{model}}/{{scenario}}/seed{{seed}}/history.json",
        plots=multiext(
            f"{RESULTS}/repeats/{{model}}/{{scenario}}/seed{{seed}}/",
            "loss.png",
            "roc.png",
            "scores.png",
            "importance.png",
            "zcurve.png",
            "speedup.png",
            "confusion.png",
            "roc_classes.png",
        ),
    log:
        f"logs/train_repeat/{{model}}/{{scenario}}/seed{{seed}}.log",
    benchmark:
        f"benchmarks/train_repeat/{{model}}/{{scenario}}/seed{{seed}}.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1  # as rule train
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        code=stage_code("train"),
        settings=model_settings("dataset", "features", "observable"),
        fold="--fold 0" if FOLDS > 1 else "",
        fractions=lambda w: " ".join(
            f"--training-fraction {name}={fraction}"
            for name, fraction in SCENARIOS[w.scenario].items()
        ),
        features=lambda w, input: os.path.dirname(input.features[0]),
        outdir=lambda w, output: os.path.dirname(output.metrics),
    shell:
        "colliderflow train --configfile {input.catalogue} --settings {params.settings:q} "
        "--model {wildcards.model} --tuned {input.tuned} {params.fold} --seed {wildcards.seed} {params.fractions} "
        "--features {params.features} --outdir {params.outdir} --threads {threads} 2> {log}"


rule aggregate_repeats:
    input:
        metrics=lambda w: [
            repeat_metrics(w.model, scenario, seed)
            for scenario in SCENARIOS
            for seed in repeat_seeds(w.model)
        ],
    output:
        f"{RESULTS}/repeats/{{model}}.json",
    log:
        f"logs/aggregate_repeats/{{model}}.log",
    benchmark:
        f"benchmarks/aggregate_repeats/{{model}}.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=stage_code("aggregate-repeats"),
        scenarios=lambda w: " ".join(
            f"--scenario {scenario} "
            + " ".join(
                repeat_metrics(w.model, scenario, seed) for seed in repeat_seeds(w.model)
            )
            for scenario in SCENARIOS
        ),
    shell:
        "colliderflow aggregate-repeats {params.scenarios} --out {output} 2> {log}"
