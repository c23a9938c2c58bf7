"""``tune_model``: the hyper-parameter search of one model (``ml.models.<name>.tune``) with Optuna.

Each trial trains the model's kind (``kinds``) with settings drawn from the space by the TPE
sampler and returns the best validation loss of that training, the loss early stopping
watches; the kind reports the validation loss of every epoch (torch kinds) or boosting round
(bdt) to the median pruner, which stops a trial worse than the earlier ones at the same step.
The study lives in a file beside the results, so a killed search resumes: the next run finds
the finished trials and runs only the missing ones. The file is Optuna's journal (an
append-only log of the study's changes), not SQLite, which commits every reported step: a
step cost 0.8 ms of CPU (7 ms wall) there against 8 ms (40 ms) in SQLite, and an xgboost
training reports hundreds.
``best.json`` holds the best values, which ``colliderflow train --tuned`` trains with.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import optuna

from .. import config, io
from ..config import ConfigError
from . import data, kinds
from .settings import model_settings, sections

log = logging.getLogger(__name__)

STUDY_FILE = "study.log"
BEST_FILE = "best.json"
OBJECTIVE = "best validation loss of the training (minimised)"
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
# settings that change what the validation loss measures: trials differing in them are not comparable
LOSS_SETTINGS = ("loss", "process_weights", "focal_gamma", "lovasz_eps", "lovasz_errors", "lovasz_bce_weight")


def integer_keys(cfg: dict, kind: str) -> set[str]:
    """The settings of ``kind`` that are integers (their range is drawn as integers), from the schema."""
    ml_schema = config.load_schema(cfg["analysis"])["properties"]["ml"]["properties"]
    return {key for section in sections(kind, cfg["ml"]) for key, sub in ml_schema[section]["properties"].items()
            if sub.get("type") == "integer"}


def suggest(trial: optuna.Trial, key: str, spec: dict, integer: bool):
    """The trial's value of setting ``key``; choices are drawn as their JSON text (Optuna's
    categorical choices must be scalars, a setting such as ``hidden`` is a list)."""
    if "choices" in spec:
        return json.loads(trial.suggest_categorical(key, [json.dumps(choice) for choice in spec["choices"]]))
    draw = trial.suggest_int if integer else trial.suggest_float
    return draw(key, spec["low"], spec["high"], log=spec.get("log", False))


def in_space(value, spec: dict) -> bool:
    return value in spec["choices"] if "choices" in spec else spec["low"] <= value <= spec["high"]


def study_name(cfg: dict, name: str, settings: dict) -> str:
    """The model's name and a digest of what a trial computes (its settings, the space, the
    events' config): a changed space or setting starts a new study in the same file, whose
    trials would not be comparable, while more trials or threads continue the same one."""
    ml = {key: value for key, value in cfg["ml"].items() if key not in ("models", "enabled", "baseline", "threads")}
    defines = {"settings": settings, "space": cfg["ml"]["models"][name]["tune"]["space"], "ml": ml,
               **{key: cfg[key] for key in ("dataset", "features", "observable")}}
    return f"{name}-{config.config_hash(defines)}"


def study_storage(outdir: Path) -> optuna.storages.JournalStorage:
    """The studies in ``outdir/study.log`` (every study of the model: one per space and settings)."""
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(outdir / STUDY_FILE)))


def tune_model(name: str, cfg: dict, features_dir: str | Path, outdir: str | Path, observable) -> dict:
    """Run (or resume) the search of model ``name`` until its study holds ``tune.trials``
    finished trials; write ``outdir/best.json`` and return it. ``outdir``:
    results/<analysis>/models/<name>/tuning, which keeps ``study.log`` between runs."""
    ml = cfg["ml"]
    entry = ml["models"].get(name, {})
    if "tune" not in entry:
        raise ConfigError(f"ml.models.{name} has no tune section: nothing to search; add ml.models.{name}.tune "
                          "(trials and space, see config/README.md)")
    tune, settings = entry["tune"], model_settings(cfg, name)
    if set(tune["space"]) & set(LOSS_SETTINGS):
        raise ConfigError(f"ml.models.{name}.tune.space: {', '.join(sorted(set(tune['space']) & set(LOSS_SETTINGS)))} "
                          "change(s) the loss, whose validation value the search compares; fix it in the model's "
                          "entry and compare losses as separate models")
    kind = kinds.load(settings["type"])
    integers = integer_keys(cfg, settings["type"])
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    events = data.load_events(features_dir, cfg, observable, with_objects=kinds.reads_objects(settings["type"]))

    def objective(trial: optuna.Trial) -> float:
        drawn = {key: suggest(trial, key, spec, key in integers) for key, spec in tune["space"].items()}
        trial_settings = {**settings, **drawn}
        log.info("trial %d: %s", trial.number, json.dumps(drawn))

        def report(step: int, val_loss: float) -> None:
            trial.report(val_loss, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation loss {val_loss:.5f} at step {step}")

        sets = data.training_sets(events, ml, trial_settings, observable, cfg["lumi_fb"])
        # the trial's model files are thrown away (best.json is what train reads); in the
        # node's temporary folder, so a killed trial leaves nothing among the results
        with tempfile.TemporaryDirectory(prefix=f"colliderflow-tune-{name}-") as scratch:
            modeldir, workdir = Path(scratch) / "model", Path(scratch) / "unfinished"
            modeldir.mkdir()
            workdir.mkdir()
            history = kind.train(trial_settings, sets, ml, modeldir, workdir, report)
        if history["best_val_loss"] is None:
            raise ConfigError(f"ml.models.{name}.tune: kind {settings['type']} fits no validation loss, so it "
                              "cannot be tuned; remove the tune section")
        return history["best_val_loss"]

    storage = study_storage(outdir)
    study = optuna.create_study(
        storage=storage, study_name=study_name(cfg, name, settings), load_if_exists=True, direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=ml["seed"]),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=tune["startup_trials"],
                                           n_warmup_steps=tune["warmup_steps"]))
    # a trial still running was left by a killed job (one job per model runs its study)
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        log.info("trial %d was left running by a killed job: marked failed", trial.number)
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    configured = {key: settings[key] for key in tune["space"]}
    if not study.trials:
        if all(in_space(settings[key], spec) for key, spec in tune["space"].items()):
            # the first trial measures the configured values: the best is then never worse
            study.enqueue_trial({key: json.dumps(value) if "choices" in tune["space"][key] else value
                                 for key, value in configured.items()}, user_attrs={"configured": True})
        else:
            log.info("the configured values %s lie outside the space: no trial measures them", configured)
    finished = len(study.get_trials(deepcopy=False, states=FINISHED))
    log.info("study %s in %s: %d of %d trials finished", study.study_name, outdir / STUDY_FILE, finished,
             tune["trials"])
    if finished < tune["trials"]:
        study.optimize(objective, n_trials=tune["trials"] - finished)
    return write_best(study, name, cfg, features_dir, outdir)


def write_best(study: optuna.Study, name: str, cfg: dict, features_dir, outdir: Path) -> dict:
    space = cfg["ml"]["models"][name]["tune"]["space"]
    counts = {state.name.lower(): len(study.get_trials(deepcopy=False, states=(state,)))
              for state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                            optuna.trial.TrialState.FAIL)}
    if not counts["complete"]:
        raise ValueError(f"the study of {name} in {outdir / STUDY_FILE} has no complete trial ({counts}); "
                         "see the log for why every trial failed or was pruned")

    def values(params: dict) -> dict:
        return {key: json.loads(value) if "choices" in space[key] else value for key, value in params.items()}

    best = study.best_trial
    configured = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                  if t.user_attrs.get("configured")]
    result = {"model": name, "study": study.study_name, "storage": STUDY_FILE, "objective": OBJECTIVE,
              "parameters": values(best.params), "value": best.value, "trial": best.number, "trials": counts,
              "configured": ({"parameters": values(configured[0].params), "value": configured[0].value}
                             if configured else None)}
    io.write_json(outdir / BEST_FILE, result, cfg, inputs=list(data.sample_files(features_dir, cfg).values()))
    log.info("%s: best validation loss %.5f (trial %d: %s)%s; trials %s", name, best.value, best.number,
             json.dumps(result["parameters"]),
             f", configured values {configured[0].value:.5f}" if configured else "", counts)
    return result


def register(sub) -> None:
    from .. import config

    tune = sub.add_parser("tune")
    tune.add_argument("--model", required=True, help="model name (a key of ml.models with a tune section)")
    config.add_arguments(tune)
    tune.add_argument("--features", required=True, help="folder with <sample>.parquet for every sample")
    tune.add_argument("--outdir", required=True,
                      help="folder of the study and best.json, results/<analysis>/models/<model>/tuning")
    tune.add_argument("--threads", type=int, help="CPU threads (overrides ml.threads; rules pass {threads})")
    tune.set_defaults(func=run)


def run(args) -> int:
    from .. import analyses

    cfg = config.load(args.configfile, args.settings)
    if args.threads:
        cfg["ml"]["threads"] = args.threads
    tune_model(args.model, cfg, args.features, args.outdir, analyses.get(cfg["analysis"]).observable(cfg))
    return 0
