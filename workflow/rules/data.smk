# Input ROOT files: each catalogue file with a url is fetched, each without one is generated
# by the analysis's embedded simulation (so real data can meet simulated MC).


# Both rules write resources/<dataset>/<file>.root. The rule of the smaller set of files lists
# their names as its wildcard constraint and goes first; the other takes the rest. Listing the
# larger set too would cost O(files) per job (Snakemake formats each output pattern with its
# constraint in it), O(files^2) to plan a large catalogue.
if len(FETCHED) <= len(SIMULATED):

    ruleorder: fetch > simulate

else:

    ruleorder: simulate > fetch


# The catalogue (samples) for the commands that read it whole (--configfile): a simulated file
# depends on it (pseudo-data hold every signal MC file, a sample's cross section is shared
# among its files), and so do features, training and the other per-sample or all-sample jobs.
rule catalogue:
    output:
        json=CATALOGUE,
    localrule: True
    params:
        samples=settings("samples"),
    run:
        with open(output.json, "w") as handle:
            handle.write(params.samples)


# cluster nodes often have no network: downloads run where Snakemake runs, unless the config
# sends them to the nodes (execution.fetch_on_submit_host: false)
if config["execution"]["fetch_on_submit_host"]:

    localrules:
        fetch,


rule simulate:
    input:
        catalogue=CATALOGUE,
    output:
        root=f"{RESOURCES}/{{file}}.root",
    log:
        f"logs/simulate/{{file}}.log",
    benchmark:
        f"benchmarks/simulate/{{file}}.tsv"
    wildcard_constraints:
        file=names_if_fewer(SIMULATED, FETCHED),
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=stage_code("simulate"),
        settings=settings("dataset", "lumi_fb", "simulate"),
    shell:
        "colliderflow simulate --configfile {input.catalogue} --settings {params.settings:q} "
        "--file {wildcards.file} "
        "--out {output.root} 2> {log}"


rule fetch:
    output:
        root=f"{RESOURCES}/{{file}}.root",
    log:
        f"logs/fetch/{{file}}.log",
    benchmark:
        f"benchmarks/fetch/{{file}}.tsv"
    wildcard_constraints:
        file=names_if_fewer(FETCHED, SIMULATED),
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=120,
        downloads=1,
    params:
        code=stage_code("fetch"),
        settings=file_settings("dataset", "fetch"),
    shell:
        "colliderflow fetch --settings {params.settings:q} --file {wildcards.file} "
        "--out {output.root} 2> {log}"
