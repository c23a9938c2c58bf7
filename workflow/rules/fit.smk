# Statistical analysis per model (and the cut-based baseline): signal and background models
# per category, the simultaneous unbinned fit, the pyhf workspace and CLs limits, the summary.

FIT = f"{RESULTS}/fit/{{fit_model}}"
FIT_SETTINGS = settings("analysis", "dataset", "lumi_fb", "features", "optimise", "fit")


rule signal_model:
    input:
        events=lambda w: events_of(w.fit_model),
        selection=f"{RESULTS}/optimise/{{fit_model}}/selection.json",
        code=package_sources("fitstage", "stats"),
    output:
        json=f"{FIT}/signal_model.json",
    log:
        f"logs/signal_model/{{fit_model}}.log",
    benchmark:
        f"benchmarks/signal_model/{{fit_model}}.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        settings=FIT_SETTINGS,
        events=lambda w, input: events_arg(w.fit_model, input.events),
    shell:
        "colliderflow signal-model --settings {params.settings:q} --model {wildcards.fit_model} "
        "{params.events} --selection {input.selection} --out {output.json} 2> {log}"


rule background_model:
    input:
        events=lambda w: events_of(w.fit_model),
        selection=f"{RESULTS}/optimise/{{fit_model}}/selection.json",
        signal_model=f"{FIT}/signal_model.json",
        code=package_sources("fitstage", "stats"),
    output:
        json=f"{FIT}/background_model.json",
    log:
        f"logs/background_model/{{fit_model}}.log",
    benchmark:
        f"benchmarks/background_model/{{fit_model}}.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=FIT_SETTINGS,
        events=lambda w, input: events_arg(w.fit_model, input.events),
    shell:
        "colliderflow background-model --settings {params.settings:q} --model {wildcards.fit_model} "
        "{params.events} --selection {input.selection} --signal-model {input.signal_model} "
        "--out {output.json} 2> {log}"


rule fit:
    input:
        events=lambda w: events_of(w.fit_model),
        selection=f"{RESULTS}/optimise/{{fit_model}}/selection.json",
        signal_model=f"{FIT}/signal_model.json",
        background_model=f"{FIT}/background_model.json",
        code=package_sources("fitstage", "stats"),
    output:
        fit=f"{FIT}/fit.json",
        significance=f"{FIT}/significance.json",
        plots=report(
            directory(f"{FIT}/plots"),
            patterns=["{name}.png"],
            caption="../report/fit.rst",
            category="4. Fit",
            subcategory="{fit_model}",
        ),
    log:
        f"logs/fit/{{fit_model}}.log",
    benchmark:
        f"benchmarks/fit/{{fit_model}}.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        settings=FIT_SETTINGS,
        events=lambda w, input: events_arg(w.fit_model, input.events),
    shell:
        "colliderflow fit-categories --settings {params.settings:q} --model {wildcards.fit_model} "
        "{params.events} --selection {input.selection} --signal-model {input.signal_model} "
        "--background-model {input.background_model} --out {output.fit} "
        "--significance {output.significance} --plots {output.plots} 2> {log}"


rule workspace:
    input:
        events=lambda w: events_of(w.fit_model),
        selection=f"{RESULTS}/optimise/{{fit_model}}/selection.json",
        signal_model=f"{FIT}/signal_model.json",
        background_model=f"{FIT}/background_model.json",
        fit=f"{FIT}/fit.json",
        code=package_sources("fitstage", "stats"),
    output:
        json=f"{FIT}/workspace.json",
    log:
        f"logs/workspace/{{fit_model}}.log",
    benchmark:
        f"benchmarks/workspace/{{fit_model}}.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        settings=FIT_SETTINGS,
        events=lambda w, input: events_arg(w.fit_model, input.events),
    shell:
        "colliderflow workspace --settings {params.settings:q} --model {wildcards.fit_model} "
        "{params.events} --selection {input.selection} --signal-model {input.signal_model} "
        "--background-model {input.background_model} --fit {input.fit} --out {output.json} 2> {log}"


rule limit:
    input:
        workspace=f"{FIT}/workspace.json",
        code=package_sources("stats"),
    output:
        json=f"{FIT}/limits.json",
        plot=report(
            f"{FIT}/limit.png",
            caption="../report/limit.rst",
            category="4. Fit",
            subcategory="{fit_model}",
        ),
    log:
        f"logs/limit/{{fit_model}}.log",
    benchmark:
        f"benchmarks/limit/{{fit_model}}.tsv"
    conda:
        "../envs/colliderflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=settings("fit"),
        label=experiment_label(),
    shell:
        "colliderflow limit --settings {params.settings:q} --workspace {input.workspace} "
        "--out {output.json} --plot {output.plot} --label {params.label:q} 2> {log}"


rule summary:
    input:
        fits=expand(f"{RESULTS}/fit/{{m}}/fit.json", m=FIT_MODELS),
        significance=expand(f"{RESULTS}/fit/{{m}}/significance.json", m=FIT_MODELS),
        limits=expand(f"{RESULTS}/fit/{{m}}/limits.json", m=FIT_MODELS),
        selections=expand(f"{RESULTS}/optimise/{{m}}/selection.json", m=FIT_MODELS),
        code=package_sources("fitstage"),
    output:
        json=f"{RESULTS}/summary.json",
        md=report(
            f"{RESULTS}/summary.md",
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
        settings=settings("analysis", "dataset", "lumi_fb", "fit"),
        models=FIT_MODELS,
        fits=lambda w, input: os.path.dirname(os.path.dirname(input.fits[0])),
        optimise=lambda w, input: os.path.dirname(os.path.dirname(input.selections[0])),
    shell:
        "colliderflow summary --settings {params.settings:q} --fits {params.fits} "
        "--models {params.models} --optimise {params.optimise} --out {output.json} "
        "--markdown {output.md} > {log} 2>&1 && cat {output.md}"
