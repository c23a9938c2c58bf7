# Features: merge the skims of each sample, add label, process and the train/val/test split.


rule features:
    input:
        skims=lambda w: skim_outputs(w.sample),
        code=package_sources("features"),
    output:
        parquet=f"{RESULTS}/features/{{sample}}.parquet",
    log:
        f"logs/features/{{sample}}.log",
    benchmark:
        f"benchmarks/features/{{sample}}.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=sample_settings("features"),
    shell:
        "colliderflow features --settings {params.settings:q} --sample {wildcards.sample} "
        "--inputs {input.skims} --out {output.parquet} 2> {log}"


rule plot_myy:
    input:
        features=expand(f"{RESULTS}/features/{{sample}}.parquet", sample=SAMPLES),
        code=package_sources("plotting"),
    output:
        png=report(
            f"{RESULTS}/plots/myy.png",
            caption="../report/myy.rst",
            category="1. Selection",
        ),
        json=f"{RESULTS}/plots/myy.json",
    log:
        "logs/plot_myy.log",
    benchmark:
        "benchmarks/plot_myy.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=settings("dataset", "lumi_fb", "skim", "plots"),
    shell:
        "colliderflow plot-myy --settings {params.settings:q} --features {input.features} "
        "--out {output.png} --out-json {output.json} 2> {log}"
