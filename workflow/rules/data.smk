# Input ROOT files: each catalogue file with a url is fetched, each without one is generated
# by the analysis's embedded simulation (so real data can meet simulated MC).


# cluster nodes often have no network: downloads run where Snakemake runs, unless the config
# sends them to the nodes (execution.fetch_on_submit_host: false)
if config["execution"]["fetch_on_submit_host"]:

    localrules:
        fetch,


rule simulate:
    input:
        code=stage_code("simulate"),
    output:
        root=f"{RESOURCES}/{{file}}.root",
    log:
        f"logs/simulate/{{file}}.log",
    benchmark:
        f"benchmarks/simulate/{{file}}.tsv"
    wildcard_constraints:
        file=one_of(SIMULATED),
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=settings("dataset", "lumi_fb", "samples", "simulate"),
    shell:
        "colliderflow simulate --settings {params.settings:q} --file {wildcards.file} "
        "--out {output.root} 2> {log}"


rule fetch:
    input:
        code=stage_code("fetch"),
    output:
        root=f"{RESOURCES}/{{file}}.root",
    log:
        f"logs/fetch/{{file}}.log",
    benchmark:
        f"benchmarks/fetch/{{file}}.tsv"
    wildcard_constraints:
        file=one_of(FETCHED),
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=120,
        downloads=1,
    params:
        settings=settings("dataset", "samples", "fetch"),
    shell:
        "colliderflow fetch --settings {params.settings:q} --file {wildcards.file} "
        "--out {output.root} 2> {log}"
