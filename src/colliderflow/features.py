"""``colliderflow features``: merge a sample's skims, add its labels and a reproducible split.

One Parquet per sample: the skim columns plus ``process``, ``kind``, ``label`` (1 for
signal, 0 otherwise) and ``split`` (train / val / test). The split is a pure function of
``eventNumber`` (a fixed 64-bit integer hash, salted from the config), so an event lands
in the same split on every rerun, on every machine, whatever the order or chunking of
the inputs, and a change of the split fractions moves as few events as possible.
Inputs are streamed batch by batch, so memory stays bounded.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import config, io

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
                    writer = pq.ParquetWriter(tmp, out_schema, compression=fcfg["compression"])
                elif not schema.equals(reference, check_metadata=False):
                    raise ValueError(
                        f"{path}: its columns differ from {inputs[0]} (rerun the skims of sample {sample} "
                        "with the same code and config)"
                    )
                for batch in handle.iter_batches(batch_size=fcfg["batch_size"]):
                    samples_in = set(batch.column(batch.schema.get_field_index("sample")).unique().to_pylist())
                    if samples_in - {sample}:
                        raise ValueError(
                            f"{path}: rows of sample(s) {sorted(samples_in - {sample})} in a skim given for sample "
                            f"{sample!r}; check the --inputs of the features job"
                        )
                    labelled = _with_labels(batch, out_schema, process, kind, fcfg)
                    writer.write_batch(labelled)
                    split_column = labelled.column(out_schema.get_field_index("split"))
                    for name, count in zip(*np.unique(split_column.to_numpy(zero_copy_only=False),
                                                      return_counts=True)):
                        counts[name] += int(count)
                log.info("%s: %d rows from %s", sample, handle.metadata.num_rows, path)
        finally:
            if writer is not None:
                writer.close()
    total = sum(counts.values())
    log.info("features %s: %d rows (%s) -> %s", sample, total,
             ", ".join(f"{k} {v}" for k, v in counts.items()), out)
    return {"sample": sample, "process": process, "kind": kind, "rows": total, "splits": counts}


def register(sub) -> None:
    parser = sub.add_parser("features", help="merge a sample's skims and add label, process and train/val/test split")
    config.add_arguments(parser)
    parser.add_argument("--sample", required=True, help="sample name in the config's sample catalogue")
    parser.add_argument("--inputs", nargs="+", required=True, help="the sample's skim Parquet files")
    parser.add_argument("--out", required=True, help="output Parquet file")
    parser.set_defaults(func=run)


def run(args) -> int:
    cfg = config.load(args.configfile, args.settings)
    build_features(cfg, args.sample, args.inputs, args.out)
    return 0
