# Optimisation: score threshold and categories maximising the expected significance,
# on the validation split (with cross-training on every event), for every model (the cut-based baseline is one).


rule optimise:
    input:
        scores=lambda w: model_scores(w.model),
        catalogue=CATALOGUE,
    output:
        selection=f"{RESULTS}/optimise/{{model}}/selection.json",
        plot=report(
            f"{RESULTS}/optimise/{{model}}/zcurve.png",
            caption="../report/optimise.rst",
            category="3. Optimisation",
            subcategory="{model}",
        ),
    log:
        f"logs/optimise/{{model}}.log",
    benchmark:
        f"benchmarks/optimise/{{model}}.tsv"
    priority: BEFORE_FIT
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        code=stage_code("optimise"),
        settings=settings("dataset", "lumi_fb", "features", "observable", "optimise", "fit"),
        scores=lambda w, input: os.path.dirname(input.scores[0]),
    shell:
        "colliderflow optimise --configfile {input.catalogue} --settings {params.settings:q} "
        "--model {wildcards.model} "
        "--scores {params.scores} --out {output.selection} --plot {output.plot} 2> {log}"
