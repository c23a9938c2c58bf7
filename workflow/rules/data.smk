# Input ROOT files: generated (the embedded simulated dataset) or downloaded.
if config["dataset"]["source"] == "simulate":

    rule simulate:
        output:
            root=f"{RESOURCES}/{{file}}.root",
        log:
            f"logs/simulate/{{file}}.log",
        benchmark:
            f"benchmarks/simulate/{{file}}.tsv"
        params:
            settings=settings("dataset", "lumi_fb", "samples", "simulate"),
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        input:
            code=package_sources("simulate"),
        shell:
            "colliderflow simulate --settings {params.settings:q} --file {wildcards.file} "
            "--out {output.root} 2> {log}"

else:

    rule fetch:
        output:
            root=f"{RESOURCES}/{{file}}.root",
        log:
            f"logs/fetch/{{file}}.log",
        benchmark:
            f"benchmarks/fetch/{{file}}.tsv"
        params:
            settings=settings("dataset", "samples", "fetch"),
        threads: 1
        resources:
            mem_mb=500,
            runtime=120,
            downloads=1,
        input:
            code=package_sources("fetch"),
        shell:
            "colliderflow fetch --settings {params.settings:q} --file {wildcards.file} "
            "--out {output.root} 2> {log}"
