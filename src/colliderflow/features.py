"""``colliderflow features``: merge a sample's skims, add its labels and a reproducible split.

One Parquet per sample: the skim columns plus ``process``, ``kind``, ``label`` (1 for
signal, 0 otherwise) and ``split`` (train / val / test). The split is a pure function of
``eventNumber`` (a fixed 64-bit integer hash, salted from the config), so an event lands
in the same split on every rerun, on every machine, whatever the order or chunking of
the inputs, and a change of the split fractions moves as few events as possible.
Inputs are streamed batch by batch, so memory stays bounded.

Every input is checked for non-finite values before the output appears: the weight and the
observable must be finite, other float columns (objects included) likewise, except the
columns the analysis marks NaN for a missing object (``Analysis.nan_when_missing``), which
may be NaN but never inf. A sample with no events, and a missing-object column that is NaN in
every event of a sample, are reported as warnings.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import analyses, config, io
from .events import nonfinite_counts, nonfinite_error

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
EXTRA_COLUMNS = [
    ("process", pa.string()),
    ("kind", pa.string()),
    ("label", pa.int8()),
    ("split", pa.string()),
]

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix64(x) -> np.ndarray:
    """The splitmix64 finaliser (Steele, Lea, Flood 2014) on uint64 arrays: a fixed bijective
    mixing function whose output bits all depend on all input bits; wrap-around arithmetic."""
    z = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def split_uniform(event_number, salt: int) -> np.ndarray:
    """A number in [0, 1) per event, fixed by (eventNumber, salt): uniform over events."""
    with np.errstate(over="ignore"):
        key = splitmix64(np.uint64(salt & 0xFFFFFFFFFFFFFFFF)) ^ np.asarray(event_number, dtype=np.uint64)
        hashed = splitmix64(key)
    return (hashed >> np.uint64(11)).astype(np.float64) * 2.0**-53


def split_fractions(fcfg: dict) -> tuple[float, float, float]:
    """(train, val, test) fractions from ``features.split``, checked to sum to 1."""
    fractions = tuple(float(fcfg["split"][name]) for name in SPLITS)
    if any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise config.ConfigError(
            f"features.split fractions must be >= 0 and sum to 1, got "
            f"{dict(zip(SPLITS, fractions))} (sum {sum(fractions):g}); fix them in the config"
        )
    return fractions


def assign_split(event_number, fcfg: dict) -> np.ndarray:
    """'train' / 'val' / 'test' per event from the hash of its eventNumber."""
    train, val, _ = split_fractions(fcfg)
    u = split_uniform(event_number, int(fcfg["salt"]))
    codes = (u >= train).astype(np.int8) + (u >= train + val).astype(np.int8)
    return np.asarray(SPLITS, dtype=object)[codes]


def cross_trained(fcfg: dict) -> bool:
    """Whether ``features.folds`` asks for k-fold cross-training (k >= 2)."""
    return int(fcfg["folds"]) > 1


def assign_fold(event_number, fcfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """(fold, position) per event for k-fold cross-training, k = ``features.folds``.

    With u the event's hash (``split_uniform`` with ``features.salt``), fold = floor(k u) and
    position = k u - fold: both uniform, independent of each other and of the physics, so each
    fold holds 1/k of every sample, and the position (in [0, 1)) picks the early-stopping part
    of the training folds (``training_roles``) without a second hash. The folds are fixed by
    (eventNumber, salt, k) alone: on every rerun and machine, in the training and in apply.
    """
    folds = int(fcfg["folds"])
    scaled = split_uniform(event_number, int(fcfg["salt"])) * folds
    fold = np.floor(scaled).astype(np.int64)
    return fold, scaled - fold


def training_roles(event_number, fcfg: dict, fold: int) -> np.ndarray:
    """'train' / 'val' / 'test' per event for the training of ``fold``: its own fold is 'test'
    (never seen, where the training evaluates its model), a share ``features.fold_validation``
    of the other folds is 'val' (early stopping), the rest 'train'."""
    folds = int(fcfg["folds"])
    if not 0 <= fold < folds:
        raise ValueError(f"fold {fold} does not exist with features.folds = {folds} (folds 0 to {folds - 1})")
    index, position = assign_fold(event_number, fcfg)
    roles = np.where(position < float(fcfg["fold_validation"]), "val", "train").astype(object)
    roles[index == fold] = "test"
    return roles


def unbiased_splits(fcfg: dict, splits) -> list[str]:
    """The splits whose scores are unbiased, for optimisation and fit: ``splits`` (those the
    config names, which leave the training split out) without cross-training; every split with
    it, since each event is then scored by the model of its fold, which never saw it."""
    return list(SPLITS) if cross_trained(fcfg) else list(splits)


def _output_schema(skim_schema: pa.Schema) -> pa.Schema:
    for name, _ in EXTRA_COLUMNS:
        if name in skim_schema.names:
            raise ValueError(f"the skim already has a column {name!r}; features adds it itself")
    return pa.schema(list(skim_schema) + [pa.field(name, type_) for name, type_ in EXTRA_COLUMNS],
                     metadata=skim_schema.metadata)


def _with_labels(batch: pa.RecordBatch, schema: pa.Schema, process: str, kind: str, fcfg: dict) -> pa.RecordBatch:
    n = batch.num_rows
    event_number = batch.column(batch.schema.get_field_index("eventNumber")).to_numpy(zero_copy_only=False)
    extra = [
        pa.array([process] * n, type=pa.string()),
        pa.array([kind] * n, type=pa.string()),
        pa.array(np.full(n, 1 if kind == "signal" else 0, dtype=np.int8)),
        pa.array(assign_split(event_number, fcfg), type=pa.string()),
    ]
    return pa.RecordBatch.from_arrays(list(batch.columns) + extra, schema=schema)


def float_columns(schema: pa.Schema) -> list[str]:
    """The columns of ``schema`` holding floats, directly or as lists (objects)."""
    def floating(type_):
        if pa.types.is_list(type_) or pa.types.is_large_list(type_):
            return floating(type_.value_type)
        return pa.types.is_floating(type_)
    return [field.name for field in schema if floating(field.type)]


def build_features(cfg: dict, sample: str, inputs: list, out) -> dict:
    """Merge the skim Parquet files of ``sample`` into ``out`` with process, kind, label and split.

    Returns a summary (rows per split). Every input must have the same schema and hold
    only rows of ``sample``; anything else is an error naming the file.
    """
    samples = cfg.get("samples", {})
    if sample not in samples:
        raise KeyError(f"sample {sample!r} is not in the config's sample catalogue; add it under 'samples'")
    if not inputs:
        raise ValueError(f"no skim files given for sample {sample!r}")
    spec = samples[sample]
    kind, process = spec["kind"], spec.get("process", sample)
    fcfg = cfg["features"]
    split_fractions(fcfg)  # a bad config fails before any work
    analysis = analyses.get(cfg["analysis"])
    may_be_nan = set(analysis.nan_when_missing) - {"weight", analysis.observable_column}
    all_nan: dict[str, int] = {}  # missing-object column -> rows where it is NaN

    reference = None
    counts = dict.fromkeys(SPLITS, 0)
    with io.atomic_path(out) as tmp:
        writer = None
        try:
            for path in inputs:
                path = Path(path)
                if not path.is_file():
                    raise FileNotFoundError(f"skim file {path} does not exist; run the skim of sample {sample} first")
                handle = pq.ParquetFile(path)
                schema = handle.schema_arrow
                if reference is None:
                    reference = schema
                    out_schema = _output_schema(schema)
                    checked = float_columns(schema)
                    if analysis.observable_column not in checked or "weight" not in checked:
                        raise ValueError(f"{path}: no float columns 'weight' and {analysis.observable_column!r} "
                                         f"(analysis {analysis.name}); rerun the skims of sample {sample}")
                    all_nan = dict.fromkeys(sorted(may_be_nan & set(checked)), 0)
                    writer = pq.ParquetWriter(tmp, out_schema, compression=fcfg["compression"])
                elif not schema.equals(reference, check_metadata=False):
                    raise ValueError(
                        f"{path}: its columns differ from {inputs[0]} (rerun the skims of sample {sample} "
                        "with the same code and config)"
                    )
                bad: dict[tuple[str, str], list[int]] = {}
                for batch in handle.iter_batches(batch_size=fcfg["batch_size"]):
                    samples_in = set(batch.column(batch.schema.get_field_index("sample")).unique().to_pylist())
                    if samples_in - {sample}:
                        raise ValueError(
                            f"{path}: rows of sample(s) {sorted(samples_in - {sample})} in a skim given for sample "
                            f"{sample!r}; check the --inputs of the features job"
                        )
                    for key, (n_nan, n_inf) in nonfinite_counts(batch, checked, allow_nan=may_be_nan,
                                                                sample=sample).items():
                        total = bad.setdefault(key, [0, 0])
                        total[0] += n_nan
                        total[1] += n_inf
                    for column in all_nan:
                        values = batch.column(batch.schema.get_field_index(column)).to_numpy(zero_copy_only=False)
                        all_nan[column] += int(np.count_nonzero(np.isnan(values.astype(float))))
                    labelled = _with_labels(batch, out_schema, process, kind, fcfg)
                    writer.write_batch(labelled)
                    split_column = labelled.column(out_schema.get_field_index("split"))
                    for name, count in zip(*np.unique(split_column.to_numpy(zero_copy_only=False),
                                                      return_counts=True)):
                        counts[name] += int(count)
                if bad:  # before the output appears (the atomic write removes the temporary file)
                    raise nonfinite_error(
                        f"{path} (skim of sample {sample})", bad, {sample: handle.metadata.num_rows},
                        "the weight, the observable and every feature must be finite (only the columns "
                        f"analysis {analysis.name} marks NaN for a missing object may be NaN): check the sample's "
                        "input ntuple and rerun its skim")
                log.info("%s: %d rows from %s", sample, handle.metadata.num_rows, path)
        finally:
            if writer is not None:
                writer.close()
    total = sum(counts.values())
    if total == 0:
        log.warning("sample %s has no events after the selection (%d skim file(s)): it contributes nothing "
                    "to training, optimisation or the fit", sample, len(inputs))
    nan_everywhere = [column for column, n_nan in all_nan.items() if total and n_nan == total]
    if nan_everywhere:
        log.warning("sample %s: %s NaN in every one of its %d events (no event has the object they describe); "
                    "a classifier learns nothing from them in this sample", sample,
                    ", ".join(nan_everywhere) + (" is" if len(nan_everywhere) == 1 else " are"), total)
    log.info("features %s: %d rows (%s) -> %s", sample, total,
             ", ".join(f"{k} {v}" for k, v in counts.items()), out)
    return {"sample": sample, "process": process, "kind": kind, "rows": total, "splits": counts}


def register(sub) -> None:
    parser = sub.add_parser("features")
    config.add_arguments(parser)
    parser.add_argument("--sample", required=True, help="sample name in the config's sample catalogue")
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--inputs", nargs="+", help="the sample's skim Parquet files")
    inputs.add_argument("--skims", help="the skim folder: <sample>/<file>.parquet of every file of the sample in the "
                        "config's catalogue")
    parser.add_argument("--out", required=True, help="output Parquet file")
    parser.set_defaults(func=run)


def run(args) -> int:
    cfg = config.load(args.configfile, args.settings)
    inputs = args.inputs or io.skim_files(cfg, args.skims, ".parquet", [args.sample])
    build_features(cfg, args.sample, inputs, args.out)
    return 0
