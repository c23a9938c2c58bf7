# Hyper-parameter search (optional): one job per model with ml.models.<model>.tune. Its Optuna
# study (tuning/study.log) is no output, so Snakemake never deletes it: a killed or rerun job
# resumes the study and runs only the trials it lacks. Rule train reads best.json.


def tuned_parameters(wildcards):
    """best.json of the model's search where it has one (ml.models.<model>.tune), else nothing."""
    if "tune" not in config["ml"]["models"][wildcards.model]:
        return []
    return f"{RESULTS}/models/{wildcards.model}/tuning/best.json"


rule tune:
    input:
        features=expand(f"{RESULTS}/features/{{sample}}.parquet", sample=SAMPLES),
        catalogue=CATALOGUE,
    output:
        best=f"{RESULTS}/models/{{model}}/tuning/best.json",
    log:
        f"logs/tune/{{model}}.log",
    benchmark:
        f"benchmarks/tune/{{model}}.tsv"
    priority: BEFORE_FIT
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=1440,
    params:
        code=stage_code("tune"),
        settings=model_settings("dataset", "features", "observable"),
        features=lambda w, input: os.path.dirname(input.features[0]),
        outdir=lambda w, output: os.path.dirname(output.best),
    shell:
        "colliderflow tune --configfile {input.catalogue} --settings {params.settings:q} "
        "--model {wildcards.model} "
        "--features {params.features} --outdir {params.outdir} --threads {threads} 2> {log}"
