"""``colliderflow train | apply | compare``: the classifier stage's commands.

Each resolves the config and the analysis's observable once, here, and passes them down.
"""

from __future__ import annotations


def register(sub) -> None:
    from .. import config

    train = sub.add_parser("train")
    train.add_argument("--model", required=True, help="model name (a key of ml.models)")
    config.add_arguments(train)
    train.add_argument("--features", required=True, help="folder with <sample>.parquet for every sample")
    train.add_argument("--outdir", required=True, help="output folder, results/<analysis>/models/<model> "
                       "(with cross-training .../<model>/fold<i>)")
    train.add_argument("--fold", type=int, help="with cross-training (features.folds >= 2): the fold this training "
                       "leaves out and scores")
    train.add_argument("--threads", type=int, help="CPU threads (overrides ml.threads; rules pass {threads})")
    train.set_defaults(func=run_train)

    apply = sub.add_parser("apply")
    apply.add_argument("--model", required=True, help="model name (checked against the model folder)")
    apply.add_argument("--modeldir", required=True, nargs="+",
                       help="model folder written by colliderflow train (<outdir>/model); with cross-training the "
                            "k folders of its fold trainings, in fold order")
    config.add_arguments(apply)
    apply.add_argument("--features", required=True, help="folder with <sample>.parquet")
    apply.add_argument("--sample", required=True, help="sample name")
    apply.add_argument("--out", required=True, help="scores Parquet, results/<analysis>/scores/<model>/<sample>.parquet")
    apply.add_argument("--threads", type=int, help="CPU threads (overrides ml.threads)")
    apply.set_defaults(func=run_apply)

    compare = sub.add_parser("compare")
    config.add_arguments(compare)
    compare.add_argument("--models-dir", required=True, help="folder holding one folder per model")
    compare.add_argument("--models", nargs="*", help="model names (default: ml.enabled; ml.baseline always)")
    compare.add_argument("--out-md", required=True, help="Markdown table")
    compare.add_argument("--out-html", help="the table as an HTML page (what the Snakemake report shows)")
    compare.add_argument("--out-json", required=True, help="JSON table")
    compare.add_argument("--plots", required=True, help="folder for roc.png and zcurve.png")
    compare.set_defaults(func=run_compare)


def _config(args) -> dict:
    from .. import config

    cfg = config.load(args.configfile, args.settings)
    if getattr(args, "threads", None):
        cfg["ml"]["threads"] = args.threads
    return cfg


def _observable(cfg: dict):
    """The analysis's observable (column, range, window, labels), resolved once per command."""
    from .. import analyses

    return analyses.get(cfg["analysis"]).observable(cfg)


def run_train(args) -> int:
    from .train import train_model

    cfg = _config(args)
    metrics = train_model(args.model, cfg, args.features, args.outdir, _observable(cfg), fold=args.fold)
    return 0 if metrics else 1


def run_apply(args) -> int:
    from .apply import apply_model

    cfg = _config(args)
    apply_model(args.modeldir, args.features, args.sample, args.out, _observable(cfg), threads=cfg["ml"]["threads"],
                name=args.model)
    return 0


def run_compare(args) -> int:
    from .compare import compare

    cfg = _config(args)
    compare(args.models_dir, cfg, _observable(cfg), args.out_md, args.out_json, args.plots, args.models,
            out_html=args.out_html)
    return 0
