"""``colliderflow train | apply | compare | aggregate-repeats``: the classifier stage's commands.

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
    train.add_argument("--tuned", nargs="?",
                       help="best.json of the model's hyper-parameter search (colliderflow tune): train with its "
                            "values; without a file (rules pass none for a model without ml.models.<name>.tune), "
                            "with the configured ones")
    train.add_argument("--seed", type=_seed, help="seed of the training (overrides the model's seed; a repeated training's)")
    train.add_argument("--training-fraction", action="append", type=_fraction, default=[], metavar="CLASS=F",
                       help="keep the fraction F of the train split's CLASS (signal, background, all) events; "
                            "repeatable (a reduced-statistics scenario of ml.repeats)")
    train.set_defaults(func=run_train)

    aggregate = sub.add_parser("aggregate-repeats")
    aggregate.add_argument("--scenario", nargs="+", action="append", required=True, metavar="NAME METRICS",
                           help="a scenario's name, then the metrics.json of its trainings (one per seed); repeatable")
    aggregate.add_argument("--out", required=True, help="the model's repeats JSON, results/<analysis>/repeats/<model>.json")
    aggregate.set_defaults(func=run_aggregate)

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
    compare.add_argument("--repeats", nargs="*", default=[],
                         help="repeats JSON of the models trained again (colliderflow aggregate-repeats)")
    compare.add_argument("--train-benchmarks", nargs="*", default=[],
                         help="Snakemake's benchmark files of rule train (benchmarks/train/<model>[/fold<i>].tsv): "
                              "the training time columns")
    compare.set_defaults(func=run_compare)


def _seed(text: str) -> int:
    seed = int(text)
    if seed < 0:
        raise ValueError(f"--seed {text}: a seed is a non-negative integer")
    return seed


def _fraction(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    return name, float(value)


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


def tuned_parameters(path: str, name: str) -> dict:
    """The best values in ``best.json`` of model ``name`` (checked to be that model's)."""
    import json

    with open(path) as handle:
        best = json.load(handle)
    if best.get("model") != name:
        raise ValueError(f"{path} holds the search of model {best.get('model')!r}, not {name!r}; pass the "
                         f"best.json of {name} (results/<analysis>/models/{name}/tuning/best.json)")
    return best["parameters"]


def run_train(args) -> int:
    from .train import train_model

    cfg = _config(args)
    if args.tuned:
        # the model's entry overrides its kind's sections: the tuned values override both
        cfg["ml"]["models"][args.model].update(tuned_parameters(args.tuned, args.model))
    if args.seed is not None:  # the model's own seed (ml.models.<name>.seed overrides ml.seed)
        cfg["ml"]["models"][args.model]["seed"] = args.seed
    fractions = dict(args.training_fraction)
    if len(fractions) != len(args.training_fraction):
        raise ValueError(f"--training-fraction names a class twice: {args.training_fraction}")
    metrics = train_model(args.model, cfg, args.features, args.outdir, _observable(cfg), training_fractions=fractions,
                          fold=args.fold)
    return 0 if metrics else 1


def run_aggregate(args) -> int:
    from .repeats import aggregate_files

    aggregate_files(args.scenario, args.out)
    return 0


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
            out_html=args.out_html, repeated=args.repeats, train_benchmarks=args.train_benchmarks)
    return 0
