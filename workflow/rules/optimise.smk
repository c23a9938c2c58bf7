# Optimisation: score threshold and categories maximising the expected significance,
# on the validation split; the inclusive cut-based selection is the baseline.


rule optimise:
    input:
        events=lambda w: events_of(w.fit_model),
        code=package_sources("optimise", "stats/significance"),
    output:
        selection=f"{RESULTS}/optimise/{{fit_model}}/selection.json",
        plot=report(
            f"{RESULTS}/optimise/{{fit_model}}/zcurve.png",
            caption="../report/optimise.rst",
            category="3. Optimisation",
            subcategory="{fit_model}",
        ),
    log:
        f"logs/optimise/{{fit_model}}.log",
    benchmark:
        f"benchmarks/optimise/{{fit_model}}.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        settings=settings("analysis", "dataset", "lumi_fb", "features", "optimise", "fit"),
        events=lambda w, input: events_arg(w.fit_model, input.events),
    shell:
        "colliderflow optimise --settings {params.settings:q} --model {wildcards.fit_model} "
        "{params.events} --out {output.selection} --plot {output.plot} 2> {log}"
