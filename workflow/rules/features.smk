# Features: merge the skims of each sample, add label, process and the train/val/test split.


rule features:
    input:
        skims=lambda w: skim_outputs(w.sample),
        catalogue=CATALOGUE,
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
        code=stage_code("features"),
        settings=settings("features"),
        skims=f"{RESULTS}/skim",
    shell:
        "colliderflow features --configfile {input.catalogue} --settings {params.settings:q} "
        "--sample {wildcards.sample} --skims {params.skims} --out {output.parquet} 2> {log}"
