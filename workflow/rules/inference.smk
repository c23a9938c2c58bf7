# Inference per model (the cut-based baseline is one): signal and background models per
# category, the simultaneous unbinned fit, its mu - peak contour and nuisance impacts (separate
# jobs: they refit many times), the pyhf workspace and CLs limits.

INFERENCE = f"{RESULTS}/inference/{{model}}"
INFERENCE_SETTINGS = settings("dataset", "lumi_fb", "features", "observable", "fit")


rule signal_model:
    input:
        scores=lambda w: model_scores(w.model),
        selection=f"{RESULTS}/optimise/{{model}}/selection.json",
    output:
        json=f"{INFERENCE}/signal_model.json",
    log:
        f"logs/signal_model/{{model}}.log",
    benchmark:
        f"benchmarks/signal_model/{{model}}.tsv"
    priority: BEFORE_FIT
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        code=stage_code("signal-model"),
        settings=INFERENCE_SETTINGS,
        scores=lambda w, input: os.path.dirname(input.scores[0]),
    shell:
        "colliderflow signal-model --settings {params.settings:q} --model {wildcards.model} "
        "--scores {params.scores} --selection {input.selection} --out {output.json} 2> {log}"


rule background_model:
    input:
        scores=lambda w: model_scores(w.model),
        selection=f"{RESULTS}/optimise/{{model}}/selection.json",
        signal_model=f"{INFERENCE}/signal_model.json",
    output:
        json=f"{INFERENCE}/background_model.json",
    log:
        f"logs/background_model/{{model}}.log",
    benchmark:
        f"benchmarks/background_model/{{model}}.tsv"
    priority: BEFORE_FIT
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        code=stage_code("background-model"),
        settings=INFERENCE_SETTINGS,
        scores=lambda w, input: os.path.dirname(input.scores[0]),
    shell:
        "colliderflow background-model --settings {params.settings:q} --model {wildcards.model} "
        "--scores {params.scores} --selection {input.selection} --signal-model {input.signal_model} "
        "--out {output.json} 2> {log}"


rule fit:
    input:
        scores=lambda w: model_scores(w.model),
        selection=f"{RESULTS}/optimise/{{model}}/selection.json",
        signal_model=f"{INFERENCE}/signal_model.json",
        background_model=f"{INFERENCE}/background_model.json",
    output:
        fit=f"{INFERENCE}/fit.json",
        significance=f"{INFERENCE}/significance.json",
        plots=report(
            directory(f"{INFERENCE}/plots"),
            patterns=["{name}.png"],
            caption="../report/fit.rst",
            category="4. Fit",
            subcategory="{model}",
        ),
    log:
        f"logs/fit/{{model}}.log",
    benchmark:
        f"benchmarks/fit/{{model}}.tsv"
    priority: FIT
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        code=stage_code("fit-categories"),
        settings=INFERENCE_SETTINGS,
        scores=lambda w, input: os.path.dirname(input.scores[0]),
    shell:
        "colliderflow fit-categories --settings {params.settings:q} --model {wildcards.model} "
        "--scores {params.scores} --selection {input.selection} --signal-model {input.signal_model} "
        "--background-model {input.background_model} --out {output.fit} "
        "--significance {output.significance} --plots {output.plots} 2> {log}"


rule contour:
    input:
        scores=lambda w: model_scores(w.model),
        selection=f"{RESULTS}/optimise/{{model}}/selection.json",
        fit=f"{INFERENCE}/fit.json",
    output:
        json=f"{INFERENCE}/contour.json",
        plot=report(
            f"{INFERENCE}/contour.png",
            caption="../report/contour.rst",
            category="4. Fit",
            subcategory="{model}",
        ),
    log:
        f"logs/contour/{{model}}.log",
    benchmark:
        f"benchmarks/contour/{{model}}.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        code=stage_code("contour"),
        settings=INFERENCE_SETTINGS,
        scores=lambda w, input: os.path.dirname(input.scores[0]),
    shell:
        "colliderflow contour --settings {params.settings:q} --model {wildcards.model} "
        "--scores {params.scores} --selection {input.selection} --fit {input.fit} "
        "--out {output.json} --plot {output.plot} 2> {log}"


rule impacts:
    input:
        scores=lambda w: model_scores(w.model),
        selection=f"{RESULTS}/optimise/{{model}}/selection.json",
        fit=f"{INFERENCE}/fit.json",
    output:
        json=f"{INFERENCE}/impacts.json",
        plot=report(
            f"{INFERENCE}/impacts.png",
            caption="../report/impacts.rst",
            category="4. Fit",
            subcategory="{model}",
        ),
    log:
        f"logs/impacts/{{model}}.log",
    benchmark:
        f"benchmarks/impacts/{{model}}.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        code=stage_code("impacts"),
        settings=INFERENCE_SETTINGS,
        scores=lambda w, input: os.path.dirname(input.scores[0]),
    shell:
        "colliderflow impacts --settings {params.settings:q} --model {wildcards.model} "
        "--scores {params.scores} --selection {input.selection} --fit {input.fit} "
        "--out {output.json} --plot {output.plot} 2> {log}"


rule workspace:
    input:
        scores=lambda w: model_scores(w.model),
        selection=f"{RESULTS}/optimise/{{model}}/selection.json",
        signal_model=f"{INFERENCE}/signal_model.json",
        background_model=f"{INFERENCE}/background_model.json",
        fit=f"{INFERENCE}/fit.json",
    output:
        json=f"{INFERENCE}/workspace.json",
    log:
        f"logs/workspace/{{model}}.log",
    benchmark:
        f"benchmarks/workspace/{{model}}.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        code=stage_code("workspace"),
        settings=INFERENCE_SETTINGS,
        scores=lambda w, input: os.path.dirname(input.scores[0]),
    shell:
        "colliderflow workspace --settings {params.settings:q} --model {wildcards.model} "
        "--scores {params.scores} --selection {input.selection} --signal-model {input.signal_model} "
        "--background-model {input.background_model} --fit {input.fit} --out {output.json} 2> {log}"


rule limit:
    input:
        workspace=f"{INFERENCE}/workspace.json",
    output:
        json=f"{INFERENCE}/limits.json",
        plot=report(
            f"{INFERENCE}/limit.png",
            caption="../report/limit.rst",
            category="4. Fit",
            subcategory="{model}",
        ),
    log:
        f"logs/limit/{{model}}.log",
    benchmark:
        f"benchmarks/limit/{{model}}.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        code=stage_code("limit"),
        settings=settings("fit"),
        label=experiment_label(),
    shell:
        "colliderflow limit --settings {params.settings:q} --workspace {input.workspace} "
        "--out {output.json} --plot {output.plot} --label {params.label:q} 2> {log}"


rule sweights:
    input:
        scores=lambda w: model_scores(w.model),
        selection=f"{RESULTS}/optimise/{{model}}/selection.json",
        fit=f"{INFERENCE}/fit.json",
    output:
        parquet=f"{INFERENCE}/sweights.parquet",
    log:
        f"logs/sweights/{{model}}.log",
    benchmark:
        f"benchmarks/sweights/{{model}}.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        code=stage_code("sweights"),
        settings=INFERENCE_SETTINGS,
        scores=lambda w, input: os.path.dirname(input.scores[0]),
    shell:
        "colliderflow sweights --settings {params.settings:q} --model {wildcards.model} "
        "--scores {params.scores} --selection {input.selection} --fit {input.fit} "
        "--out {output.parquet} 2> {log}"
