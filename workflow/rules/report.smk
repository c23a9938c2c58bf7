# Report: the observable's spectrum and the summary of every model's result.


rule plot_spectrum:
    input:
        features=expand(f"{RESULTS}/features/{{sample}}.parquet", sample=SAMPLES),
        catalogue=CATALOGUE,
    output:
        png=report(
            f"{RESULTS}/plots/spectrum.png",
            caption="../report/spectrum.rst",
            category="1. Selection",
        ),
        json=f"{RESULTS}/plots/spectrum.json",
    log:
        "logs/plot_spectrum.log",
    benchmark:
        "benchmarks/plot_spectrum.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        code=stage_code("plot-spectrum"),
        settings=settings("dataset", "lumi_fb", "observable", "report"),
    shell:
        "colliderflow plot-spectrum --configfile {input.catalogue} --settings {params.settings:q} "
        "--features {input.features} "
        "--out {output.png} --out-json {output.json} 2> {log}"


rule summary:
    input:
        fits=expand(f"{RESULTS}/inference/{{model}}/fit.json", model=MODELS),
        significance=expand(
            f"{RESULTS}/inference/{{model}}/significance.json", model=MODELS
        ),
        limits=expand(f"{RESULTS}/inference/{{model}}/limits.json", model=MODELS),
        selections=expand(f"{RESULTS}/optimise/{{model}}/selection.json", model=MODELS),
        # fit.sweights: the summary checks each model's sWeights against its fitted yields
        sweights=(
            expand(f"{RESULTS}/inference/{{model}}/sweights.parquet", model=MODELS)
            if config["fit"]["sweights"]
            else []
        ),
        catalogue=CATALOGUE,
    output:
        json=f"{RESULTS}/summary.json",
        md=f"{RESULTS}/summary.md",
        html=report(
            f"{RESULTS}/summary.html",
            caption="../report/summary.rst",
            category="5. Summary",
        ),
    log:
        "logs/summary.log",
    benchmark:
        "benchmarks/summary.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=stage_code("summary"),
        settings=settings("dataset", "lumi_fb", "selection", "fit", "ml", "simulate"),
        models=MODELS,
        fits=lambda w, input: os.path.dirname(os.path.dirname(input.fits[0])),
        optimise=lambda w, input: os.path.dirname(os.path.dirname(input.selections[0])),
    shell:
        "colliderflow summary --configfile {input.catalogue} --settings {params.settings:q} "
        "--fits {params.fits} "
        "--models {params.models} --optimise {params.optimise} --out {output.json} "
        "--markdown {output.md} --html {output.html} > {log} 2>&1"


rule hepdata:
    input:
        fits=expand(f"{RESULTS}/inference/{{model}}/fit.json", model=MODELS),
        significance=expand(
            f"{RESULTS}/inference/{{model}}/significance.json", model=MODELS
        ),
        limits=expand(f"{RESULTS}/inference/{{model}}/limits.json", model=MODELS),
        workspaces=expand(f"{RESULTS}/inference/{{model}}/workspace.json", model=MODELS),
        selections=expand(f"{RESULTS}/optimise/{{model}}/selection.json", model=MODELS),
        # the data of each category, selected as the fit selects them
        scores=[p for model in MODELS for p in model_scores(model)],
    output:
        record=directory(f"{RESULTS}/hepdata"),
        archive=report(
            f"{RESULTS}/hepdata.tar.gz",
            caption="../report/hepdata.rst",
            category="5. Summary",
        ),
    log:
        "logs/hepdata.log",
    benchmark:
        "benchmarks/hepdata.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        code=stage_code("hepdata"),
        settings=settings("dataset", "lumi_fb", "features", "observable", "fit", "report"),
        models=MODELS,
        fits=lambda w, input: os.path.dirname(os.path.dirname(input.fits[0])),
        scores=lambda w, input: os.path.dirname(os.path.dirname(input.scores[0])),
        optimise=lambda w, input: os.path.dirname(os.path.dirname(input.selections[0])),
    shell:
        "colliderflow hepdata --settings {params.settings:q} --fits {params.fits} "
        "--scores {params.scores} --optimise {params.optimise} --models {params.models} "
        "--out {output.record} --archive {output.archive} > {log} 2>&1"
