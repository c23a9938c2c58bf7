# Skim: one job per input file; the analysis selection, cutflow and per-event columns.


rule skim:
    input:
        root=f"{RESOURCES}/{{file}}.root",
    output:
        parquet=f"{RESULTS}/skim/{{sample}}/{{file}}.parquet",
        cutflow=f"{RESULTS}/skim/{{sample}}/{{file}}.cutflow.json",
    log:
        f"logs/skim/{{sample}}/{{file}}.log",
    benchmark:
        f"benchmarks/skim/{{sample}}/{{file}}.tsv"
    conda:
        "../envs/colliderflow.yaml"
    # two threads decompress the baskets and read the next chunk ahead: a skim then runs near
    # the rate uproot alone reads the file (benchmarks/skim_throughput.py); --set-threads skim=1
    # where many files share few cores
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        code=stage_code("skim"),
        settings=file_settings("dataset", "lumi_fb", "skim", "selection", "observable"),
    shell:
        "colliderflow skim --settings {params.settings:q} --sample {wildcards.sample} "
        "--input {input.root} --out {output.parquet} --cutflow {output.cutflow} --threads {threads} 2> {log}"


rule cutflow_table:
    input:
        cutflows=lambda w: [
            p.replace(".parquet", ".cutflow.json")
            for s in SAMPLES
            for p in skim_outputs(s)
        ],
        catalogue=CATALOGUE,
    output:
        md=f"{RESULTS}/cutflow.md",
        html=report(
            f"{RESULTS}/cutflow.html",
            caption="../report/cutflow.rst",
            category="1. Selection",
        ),
        json=f"{RESULTS}/cutflow.json",
    log:
        "logs/cutflow_table.log",
    benchmark:
        "benchmarks/cutflow_table.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        code=stage_code("cutflow"),
        settings=settings("dataset"),
        skims=f"{RESULTS}/skim",
    shell:
        "colliderflow cutflow --configfile {input.catalogue} --settings {params.settings:q} "
        "--skims {params.skims} "
        "--out-md {output.md} --out-html {output.html} --out-json {output.json} 2> {log}"
