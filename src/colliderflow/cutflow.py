"""``colliderflow cutflow``: the per-sample cutflow table from the per-file cutflows of the skim."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from . import config
from .document import write_markdown_and_html
from .io import read_json, skim_files, write_json


def merge_cutflows(paths: list[str | Path]) -> dict:
    """Sum raw counts, weights and squared weights per cut over the files of each sample.

    All files of a sample must have the same cuts in the same order, else the sum means nothing.
    """
    merged: dict[str, dict] = {}
    for path in paths:
        flow = read_json(path)
        sample = flow["sample"]
        names = [cut["name"] for cut in flow["cuts"]]
        entry = merged.setdefault(sample, {"kind": flow["kind"], "files": 0, "cuts": names,
                                           "raw": defaultdict(int), "sumw": defaultdict(float),
                                           "sumw2": defaultdict(float)})
        if entry["cuts"] != names:
            raise ValueError(f"{path}: cuts {names} differ from the other files of sample {sample} "
                             f"({entry['cuts']}); rerun their skims with the same selection")
        entry["files"] += 1
        for cut in flow["cuts"]:
            entry["raw"][cut["name"]] += cut["raw"]
            entry["sumw"][cut["name"]] += cut["sumw"]
            entry["sumw2"][cut["name"]] += cut["sumw2"]
    return {
        sample: {
            "kind": e["kind"],
            "files": e["files"],
            "cuts": [
                {"name": n, "raw": e["raw"][n], "sumw": e["sumw"][n], "sumw_error": math.sqrt(e["sumw2"][n])}
                for n in e["cuts"]
            ],
        }
        for sample, e in sorted(merged.items())
    }


def markdown_table(merged: dict, simulated: bool) -> str:
    """One row per cut; per sample the raw count, and the weighted yield for MC."""
    samples = list(merged)
    cuts = merged[samples[0]]["cuts"] if samples else []
    header = ["cut"] + [f"{s} ({merged[s]['kind']})" for s in samples]
    lines = [
        f"# Cutflow{' (simulated dataset)' if simulated else ''}",
        "",
        "Raw events passing each cut and all before it; for MC also the weighted yield "
        "(normalised to the luminosity) ± its statistical error.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for i, cut in enumerate(cuts):
        cells = [cut["name"]]
        for s in samples:
            row = merged[s]["cuts"][i]
            cell = f"{row['raw']:,}"
            if merged[s]["kind"] != "data":
                cell += f" ({row['sumw']:.4g} ± {row['sumw_error']:.2g})"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def register(sub) -> None:
    parser = sub.add_parser("cutflow")
    config.add_arguments(parser)
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--inputs", nargs="+", help="<file>.cutflow.json of the skims")
    inputs.add_argument("--skims", help="the skim folder: every <sample>/<file>.cutflow.json of the config's catalogue")
    parser.add_argument("--out-md", required=True, help="Markdown table")
    parser.add_argument("--out-html", help="the table as an HTML page (what the Snakemake report shows)")
    parser.add_argument("--out-json", required=True, help="merged cutflow JSON")
    parser.set_defaults(func=_run)


def _run(args) -> int:
    cfg = config.load(args.configfile, args.settings)
    inputs = args.inputs or skim_files(cfg, args.skims, ".cutflow.json")
    merged = merge_cutflows(inputs)
    simulated = cfg["dataset"]["simulated"]
    text = markdown_table(merged, simulated)
    write_markdown_and_html(args.out_md, args.out_html, text)
    write_json(args.out_json, {"simulated": simulated, "samples": merged}, cfg, inputs=inputs)
    print(text)
    return 0
