"""Training data for the classifiers: which events, which inputs, which weights.

Reads the features Parquet files (one per sample), picks signal (every sample of kind
``signal`` in the observable's range) and background (``ml.background``: data in the range
outside the signal window, the sidebands; or the background MC in the range), and builds the
model inputs:

* the event-level feature matrix (float32, NaN kept for missing jets: xgboost handles NaN,
  the networks impute inside the model so the ONNX export needs no preprocessing);
* for set models, the per-object lists padded to a fixed size with a mask;
* training weights: physics weights, or per-process weights (``process_weights``), and class balance.

The observable (the analysis's, e.g. an invariant mass: ``Observable`` from
``analyses.get(name).observable(cfg)``, resolved by the command and passed in) is never an
input. Checks here refuse the observable column itself, and a column with its
observable-scaled twin (their ratio is the observable); pT and E of the objects of
``ml.mass_scaled_objects`` are divided by the observable for the same reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import awkward as ak
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..config import ConfigError
from ..events import require_finite
from . import kinds
from .settings import classes

if TYPE_CHECKING:
    from ..analyses.interface import Observable

log = logging.getLogger(__name__)

META_COLUMNS = ("eventNumber", "sample", "process", "kind", "label", "split", "weight")
OBJECT_FIELDS = ("pt", "eta", "phi", "e", "btag")  # btag optional; pt, eta, phi, e required
# the fields of one object in the model input (``_object_tensor``), then its one-hot type
OBJECT_INPUTS = ("log_pt", "eta", "cos_dphi", "sin_dphi", "log_e", "btag")
SPLITS = ("train", "val", "test")


@dataclass
class Events:
    """All events of the listed samples with the columns the ML stage needs, row-aligned.

    ``frame``: metadata columns plus the observable; ``features``: (n, d) float32, the columns
    ``feature_names``; ``objects``: (n, N, F) float32 or None; ``mask``: (n, N) float32
    (1 = real object) or None; ``empty``: the samples read that have no events.
    """

    frame: pd.DataFrame
    features: np.ndarray
    objects: np.ndarray | None = None
    mask: np.ndarray | None = None
    feature_names: tuple[str, ...] = ()
    empty: tuple[str, ...] = ()

    def subset(self, selection: np.ndarray) -> "Events":
        pick = np.flatnonzero(selection) if np.asarray(selection).dtype == bool else np.asarray(selection)
        return Events(
            self.frame.iloc[pick].reset_index(drop=True),
            self.features[pick],
            None if self.objects is None else self.objects[pick],
            None if self.mask is None else self.mask[pick],
            self.feature_names,
            self.empty,
        )

    def inputs(self) -> tuple[np.ndarray, ...]:
        """Model inputs in the order the models take them: (features[, objects, mask])."""
        if self.objects is None:
            return (self.features,)
        return (self.features, self.objects, self.mask)

    def __len__(self) -> int:
        return len(self.frame)


def check_features(ml: dict, observable: "Observable") -> list[str]:
    """The event-level feature list, after refusing inputs that let a model learn the observable."""
    features = list(ml["features"])
    column, suffix = observable.column, ml["mass_ratio_suffix"]
    if column in features:
        raise ConfigError(
            f"ml.features contains the observable '{column}': it is never a classifier input "
            "(it would sculpt the background and bias the fit). Remove it from ml.features."
        )
    twins = [f for f in features if suffix and f.endswith(suffix) and f[: -len(suffix)] in features]
    if twins:
        pairs = ", ".join(f"{f[: -len(suffix)]} and {f}" for f in twins)
        raise ConfigError(
            f"ml.features contains {pairs}: their ratio is the observable '{column}'. "
            f"Keep only the observable-scaled column ({twins[0]})."
        )
    return features


def object_prefixes(ml: dict) -> list[str]:
    return list(ml["objects"])


def window_masks(values: np.ndarray, observable: "Observable") -> tuple[np.ndarray, np.ndarray]:
    """(in the signal window, in the sidebands) of the observable ``values``; the sidebands are
    the range outside the window (half-open intervals, as ``Observable`` defines them)."""
    (lo, hi), (wlo, whi) = observable.range, observable.window
    if not lo < wlo < whi < hi:
        # the sideband background and its transfer factor need events on both sides of the window
        raise ConfigError(f"observable.window {list(observable.window)} must lie strictly inside "
                          f"observable.range {list(observable.range)}; fix the observable section of the config")
    in_window = observable.in_window(values)
    return in_window, observable.in_range(values) & ~in_window


def background_mask(frame: pd.DataFrame, ml: dict, observable: "Observable") -> np.ndarray:
    """The background events of training and evaluation, per ``ml.background``: data in the
    sidebands (``observable.sideband``: both sides of the window, or one), or background MC in the range."""
    values = frame[observable.column].to_numpy(dtype=float)
    in_window, sidebands = window_masks(values, observable)
    if ml["background"] == "sidebands":
        return (frame["kind"] == "data").to_numpy() & observable.in_sidebands(values)
    return (frame["kind"] == "background").to_numpy() & (in_window | sidebands)


def signal_mask(frame: pd.DataFrame, observable: "Observable") -> np.ndarray:
    """Signal MC in the observable's range."""
    values = frame[observable.column].to_numpy(dtype=float)
    in_window, sidebands = window_masks(values, observable)
    return (frame["kind"] == "signal").to_numpy() & (in_window | sidebands)


def sample_files(features_dir: str | Path, cfg: dict, samples=None) -> dict[str, Path]:
    names = list(samples) if samples is not None else list(cfg["samples"])
    files = {name: Path(features_dir) / f"{name}.parquet" for name in names}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"features file(s) missing: {', '.join(missing)}; run the features stage first "
            "(snakemake ... features) or check --features"
        )
    return files


def load_events(features_dir: str | Path, cfg: dict, observable: "Observable", samples=None,
                with_objects: bool = False) -> Events:
    """Read the features Parquet of each sample (only the needed columns) into one ``Events``."""
    ml = cfg["ml"]
    features = check_features(ml, observable)
    files = sample_files(features_dir, cfg, samples)
    parts = [_read_sample(path, ml, observable.column, features, with_objects) for path in files.values()]
    empty = tuple(name for name, part in zip(files, parts) if len(part) == 0)
    for name in empty:
        log.warning("sample %s has no events after the selection (%s is empty)", name, files[name])
    frame = pd.concat([p.frame for p in parts], ignore_index=True)
    events = Events(
        frame,
        np.concatenate([p.features for p in parts]),
        np.concatenate([p.objects for p in parts]) if with_objects else None,
        np.concatenate([p.mask for p in parts]) if with_objects else None,
        tuple(features),
        empty,
    )
    log.info("read %d events from %d samples (%d features%s)", len(frame), len(parts), len(features),
             f", {events.objects.shape[1]} objects x {events.objects.shape[2]} fields" if with_objects else "")
    return events


def _read_sample(path: Path, ml: dict, observable_column: str, features: list[str], with_objects: bool) -> Events:
    """One sample's events, with the observable's column."""
    available = set(pq.read_schema(path).names)
    scalar = list(dict.fromkeys([*META_COLUMNS, observable_column, *features]))
    lists = _object_columns(ml, available) if with_objects else []
    missing = [c for c in scalar + [c for c in lists if c is not None] if c not in available]
    if missing:
        raise KeyError(f"{path}: column(s) {', '.join(missing)} missing (the features stage writes them; "
                       "check ml.features / ml.objects against the features contract)")
    table = pq.read_table(path, columns=scalar + [c for c in lists if c is not None])
    frame = table.select(scalar).to_pandas()
    for column in ("sample", "process", "kind", "split"):
        frame[column] = frame[column].astype(str)
    bad_split = ~frame["split"].isin(SPLITS)
    if bad_split.any():
        raise ValueError(f"{path}: split column holds {sorted(set(frame['split'][bad_split]))}, expected {SPLITS}")
    require_finite(frame, ["weight", observable_column], str(path), advice=(
        "the weight and the observable must be finite: rerun the features stage of that sample (it refuses them) "
        "and check its input ntuple"))
    matrix = np.column_stack([frame[f].to_numpy(dtype=np.float32, na_value=np.nan) for f in features])
    # NaN is a missing object (xgboost handles it, the networks impute it); inf is never an input
    require_finite({"sample": frame["sample"].to_numpy(), **dict(zip(features, matrix.T))}, features, str(path),
                   allow_nan=features, advice=(
                       "an infinite classifier input cannot be learnt (or overflows float32): fix the column at its "
                       "source (the analysis's columns or the input ntuple) and rerun the skim and features"))
    meta = frame[[*META_COLUMNS, observable_column]].copy()
    meta["weight"] = meta["weight"].astype(np.float64)
    if not with_objects:
        return Events(meta, matrix, feature_names=tuple(features))
    objects, mask = _object_tensor(table, ml, frame[observable_column].to_numpy(dtype=np.float32))
    return Events(meta, matrix, objects, mask, tuple(features))


def _object_columns(ml: dict, available: set[str]) -> list[str | None]:
    """Column names per (prefix, field); None for an optional field the file does not have."""
    columns = []
    for prefix in object_prefixes(ml):
        for field in OBJECT_FIELDS:
            name = f"{prefix}_{field}"
            columns.append(name if (field != "btag" or name in available) else None)
    return columns


def n_object_fields(ml: dict) -> int:
    """Per-object inputs: log pT, eta, cos dphi, sin dphi, log E, btag, one-hot type."""
    return len(OBJECT_INPUTS) + len(ml["objects"])


def _object_tensor(table, ml: dict, observable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pad every object list to its maximum length, stack the collections, build the mask.

    Azimuths are taken relative to the leading object of the first collection of ``ml.objects``,
    so that the set is invariant under a global rotation. ``observable``: its value per event,
    which divides pT and E of the ``ml.mass_scaled_objects``.
    """
    prefixes = object_prefixes(ml)
    n = len(observable)
    blocks, masks = [], []
    reference_phi = None
    scaled = set(ml["mass_scaled_objects"])
    for index, prefix in enumerate(prefixes):
        size = ml["objects"][prefix]

        def padded(field):
            name = f"{prefix}_{field}"
            if name not in table.column_names:
                return np.zeros((n, size), dtype=np.float32)
            array = ak.from_arrow(table[name].combine_chunks())
            return ak.to_numpy(ak.fill_none(ak.pad_none(array, size, clip=True), 0.0)).astype(np.float32)

        counts = ak.to_numpy(ak.num(ak.from_arrow(table[f"{prefix}_pt"].combine_chunks())))
        mask = (np.arange(size)[None, :] < counts[:, None]).astype(np.float32)
        pt, eta, phi, energy, btag = (padded(f) for f in OBJECT_FIELDS)
        if prefix in scaled:
            pt, energy = pt / observable[:, None], energy / observable[:, None]
        if reference_phi is None:
            reference_phi = np.where(counts > 0, phi[:, 0], 0.0)[:, None]
        dphi = phi - reference_phi
        onehot = np.zeros((n, size, len(prefixes)), dtype=np.float32)
        onehot[..., index] = 1.0
        fields = np.stack(
            [np.log(np.maximum(pt, 1e-3)), eta, np.cos(dphi), np.sin(dphi), np.log(np.maximum(energy, 1e-3)), btag],
            axis=-1,
        )
        block = np.concatenate([fields, onehot], axis=-1) * mask[..., None]  # padding is exactly 0
        blocks.append(block)
        masks.append(mask)
    return np.concatenate(blocks, axis=1).astype(np.float32), np.concatenate(masks, axis=1)


@dataclass
class TrainingSet:
    """The signal-versus-background events of one split, with labels, targets and training weights."""

    events: Events
    label: np.ndarray  # float32, 1 signal, 0 background
    target: np.ndarray  # what the model learns: the label, or (multiclass) the class index, int64
    weight: np.ndarray  # float32 training weight (class-balanced, loss-specific)
    index: np.ndarray  # row of each event in the Events the set was taken from


def class_index(frame: pd.DataFrame, signal: np.ndarray, ml: dict) -> np.ndarray:
    """Class of each event (index into ``settings.classes(ml)``): 0 background, else the class
    of ``ml.classes`` holding its process (``settings.check_multiclass`` made that one class)."""
    of_process = {p: k for k, name in enumerate(classes(ml)[1:], start=1) for p in ml["classes"][name]}
    index = frame["process"].map(of_process).fillna(0).to_numpy(dtype=np.int64)
    return np.where(signal, index, 0)


def training_sets(events: Events, ml: dict, settings: dict, observable: "Observable",
                  lumi_fb: float, training_fractions: dict[str, float] | None = None) -> dict[str, TrainingSet]:
    """Split the training events (signal + configured background) into train/val/test.

    ``settings``: the model's effective settings (``settings.model_settings``); ``lumi_fb``: the
    data's luminosity (``lumi_fb`` of the config), which turns summed weights into the cross-sections
    of the process weights; ``training_fractions``: train on that fraction of each class of the
    train split only (``reduced_train_split``).
    """
    sig, bkg = signal_mask(events.frame, observable), background_mask(events.frame, ml, observable)
    if not sig.any():
        raise ValueError(f"no signal events (samples of kind 'signal') with {observable.column} in "
                         f"observable.range {list(observable.range)}: check the samples and the range")
    if not bkg.any():
        empty = f" (sample(s) {', '.join(events.empty)} have no events after the selection)" if events.empty else ""
        raise ValueError(f"no background events for ml.background = '{ml['background']}': sidebands need events of "
                         f"samples of kind 'data' in the sidebands, mc needs samples of kind 'background'{empty}")
    split = events.frame["split"].to_numpy()
    names = classes(ml) if settings["multiclass"] else ["background", "signal"]
    # a reduced-statistics scenario keeps a fraction of the train split (weights scaled up to the yield)
    keep, scale = reduced_train_split(sig, bkg, split == "train", training_fractions or {}, settings["seed"])
    frame = events.frame.assign(weight=events.frame["weight"].to_numpy() * scale) if training_fractions else events.frame
    per_process = None
    if settings.get("loss") == "weighted_bce":
        chosen = (sig | bkg) & keep
        per_process = process_weights(frame[chosen], sig[chosen], split[chosen] == "train", lumi_fb,
                                      settings["process_weights"])
        log.info("process weights (%s): %s", settings["process_weights"]["family"],
                 ", ".join(f"{p} {w:.4g}" for p, w in per_process.items()))
    sets = {}
    for name in SPLITS:
        index = np.flatnonzero((sig | bkg) & (split == name) & keep)
        part = events.subset(index)
        if training_fractions:
            part.frame["weight"] = frame["weight"].to_numpy()[index]
        y = sig[index].astype(np.float32)
        target = class_index(part.frame, sig[index], ml) if settings["multiclass"] else y
        counts = np.bincount(target.astype(np.int64), minlength=len(names))
        if not counts.all():
            raise ValueError(f"the {name} split has no events of class(es) "
                             f"{', '.join(n for n, c in zip(names, counts) if c == 0)}")
        weight = training_weights(part.frame, target, names, settings, per_process)
        sets[name] = TrainingSet(part, y, target, weight, index)
        log.info("%s: %s events", name, ", ".join(f"{c} {n}" for n, c in zip(names, counts)))
    return sets


def reduced_train_split(signal: np.ndarray, background: np.ndarray, train: np.ndarray, fractions: dict[str, float],
                        seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, weight scale) of each event under ``fractions`` (``ml.repeats.scenarios.<name>``:
    class ``signal``, ``background`` or ``all`` -> the fraction of its train-split events kept;
    a class not named keeps all; no fractions keep everything).

    Per class, round(fraction x events) train events (at least 1) drawn without replacement with
    ``seed`` (the same seed keeps the same events), their physics weights scaled by
    events/kept so every class keeps its yield; the other splits are never reduced.
    """
    unknown = sorted(set(fractions) - {"all", "signal", "background"})
    bad = {name: f for name, f in fractions.items() if not 0 < f <= 1}
    if unknown or bad or ("all" in fractions and len(fractions) > 1):
        raise ConfigError(f"training fractions {fractions}: give all, or signal and/or background, each a fraction "
                          "in (0, 1] (ml.repeats.scenarios)")
    keep, scale = np.ones(len(train), dtype=bool), np.ones(len(train))
    if not fractions:
        return keep, scale
    rng = np.random.default_rng(seed)
    for name, members in (("signal", signal), ("background", background & ~signal)):
        rows = np.flatnonzero(members & train)
        n_kept = max(1, round(fractions.get(name, fractions.get("all", 1.0)) * len(rows)))
        keep[rows] = False
        kept = rng.choice(rows, n_kept, replace=False)
        keep[kept] = True
        scale[kept] = len(rows) / n_kept
    log.info("train split reduced to %s: %d of %d events", fractions, int((keep & train & (signal | background)).sum()),
             int((train & (signal | background)).sum()))
    return keep, scale


def needs_positive_weights(settings: dict) -> bool:
    """Where negative MC weights are replaced by their absolute value.

    Model types that say so (xgboost refuses negative weights), and the Lovasz surrogate,
    which needs non-negative cumulative yields (a set function of accepted events). BCE,
    process-weighted CE and focal loss keep the signed weights, unbiased in expectation.
    """
    return kinds.load(settings["type"]).POSITIVE_WEIGHTS or settings.get("loss") == "lovasz"


# w_i of process i from its cross-section sigma_i (fb) and number of training events N_i
# (pandas Series indexed by process), and the process_weights settings (exponent p, root n)
PROCESS_WEIGHT_FAMILIES = {
    "sigma_over_n_power": lambda sigma, count, spec: (sigma / count) ** spec["exponent"],
    "inverse_n": lambda sigma, count, spec: 1.0 / count,
    "inverse_root_n": lambda sigma, count, spec: count ** (-1.0 / spec["n"]),
    "inverse_log_n": lambda sigma, count, spec: 1.0 / np.log(count),
    "root_sigma_over_n": lambda sigma, count, spec: sigma ** (1.0 / spec["n"]) / count,
    "log_sigma": lambda sigma, count, spec: np.log(sigma),
}


def process_weights(frame: pd.DataFrame, signal: np.ndarray, train: np.ndarray, lumi_fb: float,
                    spec: dict) -> pd.Series:
    """The training weight w_i of each process i (a Series indexed by process) of loss weighted_bce.

    ``frame``: the training events of every split (columns process, weight), ``signal`` and
    ``train`` boolean masks of it. sigma_i = (summed physics weight of i over all splits) /
    ``lumi_fb``, the process's cross-section in fb within the selection and observable range (for
    sideband data: its event count over the luminosity); N_i = its events in the train split.
    ``spec`` (``ml.network.process_weights``): ``family`` (``PROCESS_WEIGHT_FAMILIES``), its
    ``exponent`` or root ``n``, and ``signal_boost``: signal processes times
    U(sigma_i) = 10^floor(log10(max_B sigma_B / sigma_i)), max over the background processes.
    """
    process = frame["process"]
    sigma = frame["weight"].groupby(process).sum() / lumi_fb
    count = process[train].value_counts().reindex(sigma.index, fill_value=0).astype(float)
    family = spec["family"]
    problems = [f"{p} has a non-positive summed weight" for p in sigma.index[sigma <= 0]]
    problems += [f"{p} has no training events" for p in count.index[count == 0]]
    if problems:
        raise ValueError(f"process weights ({family}): {'; '.join(problems)}; every process needs a positive "
                         "yield and training events (check the samples, or use loss bce)")
    values = PROCESS_WEIGHT_FAMILIES[family](sigma, count, spec).astype(float)
    if spec["signal_boost"]:
        is_signal = pd.Series(signal, index=frame.index).groupby(process).any()
        sigma_background = sigma[~is_signal].max()
        values[is_signal] *= 10.0 ** np.floor(np.log10(sigma_background / sigma[is_signal]))
    bad = values.index[~(values > 0) | ~np.isfinite(values)]
    if len(bad):
        detail = ", ".join(f"{p} (sigma {sigma[p]:.4g} fb, N {count[p]:.0f}): {values[p]:.4g}" for p in bad)
        raise ValueError(f"process weights ({family}) must be positive and finite; {detail} "
                         "(ln sigma needs sigma > 1 fb, 1/ln N needs N > 1): choose another "
                         "ml.network.process_weights.family")
    return values


def training_weights(frame: pd.DataFrame, target: np.ndarray, names: list[str], settings: dict,
                     per_process: pd.Series | None = None) -> np.ndarray:
    """Per-event training weight: physics weight (or ``per_process``, the weight of each event's
    process), sign handling, class balance.

    ``target``: the class index of each event (0/1 for signal against background), ``names``
    the classes. ``class_balance: equal`` scales every class to the same total; either way the
    weights are scaled to mean 1 so learning rates do not depend on the luminosity.
    """
    if per_process is not None:
        weight = frame["process"].map(per_process).to_numpy(dtype=float)
    else:
        weight = frame["weight"].to_numpy(dtype=float).copy()
    if needs_positive_weights(settings):
        weight = np.abs(weight)
    target = target.astype(np.int64)
    totals = np.bincount(target, weights=weight, minlength=len(names))
    if np.any(totals <= 0):
        raise ValueError(f"the summed training weight of class(es) "
                         f"{', '.join(n for n, t in zip(names, totals) if t <= 0)} is not positive")
    if settings["class_balance"] == "equal":
        weight = weight / (len(names) * totals[target])
    return (weight * len(weight) / weight.sum()).astype(np.float32)
