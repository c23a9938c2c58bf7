"""Training throughput of every classifier: events per second and peak memory, per model.

    python benchmarks/train_throughput.py                      # toy features, 20k events/sample
    python benchmarks/train_throughput.py --events 100000 --device cuda
    python benchmarks/train_throughput.py --features results/hyy/features --configfile config/config.yaml

Each model trains in its own subprocess (so peak RSS is that model's alone) for a fixed
number of epochs (boosting rounds for the BDT) with early stopping off; throughput is
training events x epochs / time of the kind's train call (no loading, evaluation or plots;
the ONNX export of the torch kinds and its check are timed apart, ``export_seconds``);
``cpu_seconds`` is the process's CPU time in the same span (all threads), and
``events_per_cpu_second`` the throughput per CPU second: steadier than the wall time on a
shared machine. Memory: the process's peak RSS (``peak_rss_mb``, the ONNX
export included), and how far the training raised it above the peak after reading the
events, before any export (``training_rss_mb``).
The same command runs on a GPU machine (``--device auto`` picks cuda there; the GPU's peak
allocated memory is reported too). Results print as a Markdown table; ``--out`` writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args) -> dict:
    """Train one model once and report its throughput (runs in the subprocess)."""
    import torch

    from colliderflow import analyses, config
    from colliderflow.analyses.hyy import synthetic
    from colliderflow.ml import data, kinds, network
    from colliderflow.ml.settings import model_settings

    overrides = {"device": args.device, "threads": args.threads,
                 "network": {"epochs": args.epochs, "patience": args.epochs + 1},
                 "bdt": {"n_estimators": args.epochs_bdt, "early_stopping_rounds": args.epochs_bdt + 1}}
    if args.configfile:
        cfg = config.load(args.configfile)
        for key, value in overrides.items():
            cfg["ml"][key] = {**cfg["ml"][key], **value} if isinstance(value, dict) else value
    else:
        cfg = synthetic.default_config(overrides)
    observable = analyses.get(cfg["analysis"]).observable(cfg)
    settings = model_settings(cfg, args.worker)
    events = data.load_events(args.features, cfg, observable, with_objects=kinds.reads_objects(settings["type"]))
    sets = data.training_sets(events, cfg["ml"], settings, observable, cfg["lumi_fb"])
    rss_before = _peak_rss_mb()  # imports and events
    export = {"wall": 0.0, "cpu": 0.0, "rss_before": None}
    checked = network.export_checked

    def timed_export(*arguments, **keywords):
        """The ONNX export and its check (torch kinds), measured apart from the training."""
        export["rss_before"] = _peak_rss_mb()
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return checked(*arguments, **keywords)
        finally:
            export["wall"] += time.perf_counter() - wall
            export["cpu"] += time.process_time() - cpu

    network.export_checked = timed_export
    with tempfile.TemporaryDirectory() as outdir:
        wall, cpu = time.perf_counter(), time.process_time()
        history = kinds.load(settings["type"]).train(settings, sets, cfg["ml"], Path(outdir), Path(outdir))
        seconds, cpu_seconds = time.perf_counter() - wall - export["wall"], time.process_time() - cpu - export["cpu"]
    peak = _peak_rss_mb()
    training_peak = export["rss_before"] if export["rss_before"] is not None else peak
    result = {
        "model": args.worker, "type": settings["type"], "loss": history["loss"],
        "device": history["device"], "training_events": history["training_events"],
        "epochs": history["epochs_run"], "train_seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds, 3),
        # a kind that trains nothing (cutbased) has no throughput
        "events_per_second": round(history["training_events"] * history["epochs_run"] / seconds)
        if history["epochs_run"] > 0 else 0,
        "events_per_cpu_second": round(history["training_events"] * history["epochs_run"] / cpu_seconds)
        if history["epochs_run"] > 0 else 0,
        "export_seconds": round(export["wall"], 3), "peak_rss_mb": round(peak, 1),
        "training_rss_mb": round(training_peak - rss_before, 1),
    }
    if history["device"] == "cuda" and torch.cuda.is_available():
        result["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+",
                        default=["bdt", "mlp", "deepsets", "transformer", "graph", "cnn", "mlp_lovasz"],
                        help="model names (keys of ml.models; cutbased trains nothing)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--events", type=int, default=20000, help="toy events per sample (without --features)")
    parser.add_argument("--features", help="folder of real <sample>.parquet (needs --configfile for its samples)")
    parser.add_argument("--configfile", help="config whose samples and ml section to use with --features")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the torch models")
    parser.add_argument("--epochs-bdt", type=int, default=100, help="boosting rounds of the BDT")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    if bool(args.features) != bool(args.configfile):
        parser.error("--features and --configfile go together")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.features:
            from colliderflow.analyses.hyy import synthetic

            args.features = str(synthetic.write_features(Path(tmp) / "features", n_events=args.events, seed=0))
        results = []
        for model in args.models:
            command = [sys.executable, __file__, "--worker", model, "--features", args.features, "--device", args.device,
                       "--epochs", str(args.epochs), "--epochs-bdt", str(args.epochs_bdt), "--threads", str(args.threads)]
            if args.configfile:
                command += ["--configfile", args.configfile]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return done.returncode
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"{model}: {results[-1]['events_per_second']} events/s", file=sys.stderr)
    machine = {"host": platform.node(), "cpus": os.cpu_count(), "threads": args.threads, "python": platform.python_version()}
    columns = ["model", "type", "loss", "device", "training_events", "epochs", "train_seconds", "cpu_seconds",
               "events_per_second", "events_per_cpu_second", "export_seconds", "peak_rss_mb", "training_rss_mb", "peak_gpu_mb"]
    print(f"\nmachine: {machine}\n")
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in results:
        print("| " + " | ".join(str(row.get(c, "-")) for c in columns) + " |")
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
