# Classifiers: one training job per model (with cross-training, features.folds >= 2, one per
# model and fold: TRAINING), then scores for every sample. Training uses a GPU
# where the job finds one (ml.device: auto); a cluster profile asks for one with set-resources
# (README.md, "On a cluster"), so no GPU limit serialises CPU trainings.


rule train:
    input:
        features=expand(f"{RESULTS}/features/{{sample}}.parquet", sample=SAMPLES),
        catalogue=CATALOGUE,
        tuned=tuned_parameters,
    output:
        # the kind's model files (model.json, model.pt + model.onnx, ...) and model_info.json:
        # everything apply reads, whatever the kind writes
        model=directory(f"{RESULTS}/models/{TRAINING}/model"),
        metrics=f"{RESULTS}/models/{TRAINING}/metrics.json",
        history=f"{RESULTS}/models/{TRAINING}/history.json",
        plots=report(
            multiext(
                f"{RESULTS}/models/{TRAINING}/",
                "loss.png",
                "roc.png",
                "scores.png",
                "importance.png",
                "zcurve.png",
                "speedup.png",
                "confusion.png",
                "roc_classes.png",
            ),
            caption="../report/train.rst",
            category="2. Classifiers",
            subcategory="{model}",
        ),
    log:
        f"logs/train/{TRAINING}.log",
    benchmark:
        f"benchmarks/train/{TRAINING}.tsv"
    priority: BEFORE_FIT
    conda:
        "../envs/colliderflow.yaml"
    # one thread: the networks are small, and on few cores two 1-thread trainings side by side
    # beat one 2-thread training (raise it with --set-threads train=N on bigger nodes)
    threads: 1
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        code=stage_code("train"),
        settings=model_settings("dataset", "features", "observable"),
        features=lambda w, input: os.path.dirname(input.features[0]),
        outdir=lambda w, output: os.path.dirname(output.metrics),
        fold=lambda w: f"--fold {w.fold}" if FOLDS > 1 else "",
    shell:
        "colliderflow train --configfile {input.catalogue} --settings {params.settings:q} "
        "--model {wildcards.model} --tuned {input.tuned} {params.fold} "
        "--features {params.features} --outdir {params.outdir} --threads {threads} 2> {log}"


rule apply:
    input:
        # the model, or with cross-training its k fold trainings in fold order
        model=lambda w: expand(f"{RESULTS}/models/{TRAINING}/model", model=w.model, fold=range(FOLDS)),
        features=f"{RESULTS}/features/{{sample}}.parquet",
        catalogue=CATALOGUE,
    output:
        parquet=f"{RESULTS}/scores/{{model}}/{{sample}}.parquet",
    log:
        f"logs/apply/{{model}}/{{sample}}.log",
    benchmark:
        f"benchmarks/apply/{{model}}/{{sample}}.tsv"
    priority: BEFORE_FIT
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        code=stage_code("apply"),
        settings=model_settings("dataset", "features", "observable"),
        features=lambda w, input: os.path.dirname(input.features),
    shell:
        "colliderflow apply --configfile {input.catalogue} --settings {params.settings:q} "
        "--model {wildcards.model} "
        "--modeldir {input.model} --features {params.features} --sample {wildcards.sample} "
        "--out {output.parquet} --threads {threads} 2> {log}"


rule compare_models:
    input:
        # with cross-training, fold 0's: its model on its own fold (colliderflow.ml.compare)
        metrics=expand(f"{RESULTS}/models/{TRAINING}/metrics.json", model=MODELS, fold=0),
        # the repeated trainings' mean +- std (repeats.smk), none when ml.repeats is off
        repeats=lambda w: repeat_summaries(),
        # the trainings' wall and CPU seconds (their benchmark files: not in metrics.json, which
        # reruns reproduce byte for byte)
        train_benchmarks=expand(f"benchmarks/train/{TRAINING}.tsv", model=MODELS, fold=range(FOLDS)),
        catalogue=CATALOGUE,
    output:
        md=f"{RESULTS}/models/comparison.md",
        html=report(
            f"{RESULTS}/models/comparison.html",
            caption="../report/comparison.rst",
            category="2. Classifiers",
            subcategory="Comparison",
        ),
        json=f"{RESULTS}/models/comparison.json",
        plots=report(
            multiext(f"{RESULTS}/models/comparison/", "roc.png", "zcurve.png"),
            caption="../report/comparison.rst",
            category="2. Classifiers",
            subcategory="Comparison",
        ),
    log:
        "logs/compare_models.log",
    benchmark:
        "benchmarks/compare_models.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        code=stage_code("compare"),
        settings=settings("dataset", "features", "observable", "ml"),
        models_dir=lambda w, output: os.path.dirname(output.json),
        models=MODELS,
        plots=lambda w, output: os.path.dirname(output.plots[0]),
    shell:
        "colliderflow compare --configfile {input.catalogue} --settings {params.settings:q} "
        "--models-dir {params.models_dir} "
        "--models {params.models} --out-md {output.md} --out-html {output.html} "
        "--out-json {output.json} --plots {params.plots} --repeats {input.repeats} "
        "--train-benchmarks {input.train_benchmarks} 2> {log}"
