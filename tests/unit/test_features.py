"""Features: merged skims with labels and a reproducible train/val/test split."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hyy_fixtures import make_cfg

from colliderflow import cli, features
from colliderflow.analyses import hyy

SCHEMA = hyy.HyyAnalysis.schema
from colliderflow.config import ConfigError


def test_splitmix64_reference_values():
    # Reference outputs of Vigna's splitmix64 (state 0, and state 1234567 advanced by the gamma)
    assert int(features.splitmix64(np.array([0], dtype=np.uint64))[0]) == 0xE220A8397B1DCDAF
    gamma = 0x9E3779B97F4A7C15
    states = np.array([(1234567 + k * gamma) % 2**64 for k in range(3)], dtype=np.uint64)
    assert features.splitmix64(states).tolist() == [6457827717110365317, 3203168211198807973, 9817491932198370423]


def test_split_is_a_function_of_event_number_only():
    fcfg = make_cfg()["features"]
    numbers = np.random.default_rng(3).integers(0, 2**63, 10_000, dtype=np.uint64)
    first = features.assign_split(numbers, fcfg)
    permutation = np.random.default_rng(4).permutation(len(numbers))
    assert (features.assign_split(numbers[permutation], fcfg) == first[permutation]).all()
    pieces = np.concatenate([features.assign_split(chunk, fcfg) for chunk in np.array_split(numbers, 7)])
    assert (pieces == first).all()
    assert set(first) == {"train", "val", "test"}


@pytest.mark.parametrize("numbers", ["sequential", "random"])
def test_split_fractions_within_statistical_tolerance(numbers):
    n = 200_000
    event_numbers = (np.arange(n, dtype=np.uint64) + 1 if numbers == "sequential"
                     else np.random.default_rng(5).integers(0, 2**64 - 1, n, dtype=np.uint64))
    fcfg = {"split": {"train": 0.6, "val": 0.3, "test": 0.1}, "salt": 17}
    split = features.assign_split(event_numbers, fcfg)
    for name, fraction in fcfg["split"].items():
        observed = np.mean(split == name)
        assert abs(observed - fraction) < 5 * np.sqrt(fraction * (1 - fraction) / n), name


def test_salt_changes_the_assignment_not_the_fractions():
    numbers = np.arange(100_000, dtype=np.uint64)
    a = features.assign_split(numbers, {"split": {"train": 0.5, "val": 0.25, "test": 0.25}, "salt": 0})
    b = features.assign_split(numbers, {"split": {"train": 0.5, "val": 0.25, "test": 0.25}, "salt": 1})
    assert 0.3 < np.mean(a != b) < 0.8
    assert abs(np.mean(b == "train") - 0.5) < 0.01


def test_growing_a_fraction_only_moves_events_into_it():
    numbers = np.arange(50_000, dtype=np.uint64)
    small = features.assign_split(numbers, {"split": {"train": 0.5, "val": 0.25, "test": 0.25}, "salt": 0})
    large = features.assign_split(numbers, {"split": {"train": 0.6, "val": 0.2, "test": 0.2}, "salt": 0})
    assert (large[small == "train"] == "train").all()


def test_bad_fractions_are_a_config_error():
    with pytest.raises(ConfigError, match="features.split fractions must be >= 0 and sum to 1"):
        features.assign_split(np.arange(3, dtype=np.uint64), {"split": {"train": 0.5, "val": 0.5, "test": 0.5},
                                                              "salt": 0})


def skim_table(n: int, sample: str, seed: int) -> pa.Table:
    """A skim with the analysis schema and random content."""
    rng = np.random.default_rng(seed)
    columns = []
    for field in SCHEMA:
        if field.name == "sample":
            columns.append(pa.array([sample] * n, type=pa.string()))
        elif field.name == "eventNumber":
            columns.append(pa.array(rng.choice(10**9, n, replace=False).astype(np.uint64)))
        elif pa.types.is_list(field.type):
            columns.append(pa.array([list(rng.normal(size=k)) for k in rng.integers(0, 4, n)], type=field.type))
        elif pa.types.is_boolean(field.type):
            columns.append(pa.array(rng.random(n) < 0.5))
        else:
            columns.append(pa.array(rng.normal(50, 10, n).astype(field.type.to_pandas_dtype()), type=field.type))
    return pa.Table.from_arrays(columns, schema=SCHEMA)


def write_skims(tmp_path, sizes, sample="ggH"):
    paths = []
    for i, n in enumerate(sizes):
        path = tmp_path / f"skim{i}.parquet"
        pq.write_table(skim_table(n, sample, seed=i), path)
        paths.append(path)
    return paths


def test_build_features_merges_and_labels(tmp_path):
    cfg = make_cfg()
    inputs = write_skims(tmp_path, [300, 0, 200])
    summary = features.build_features(cfg, "ggH", inputs, tmp_path / "ggH.parquet")
    table = pq.read_table(tmp_path / "ggH.parquet")
    assert table.num_rows == 500 == summary["rows"]
    assert table.column_names == SCHEMA.names + ["process", "kind", "label", "split"]
    assert set(table["process"].to_pylist()) == {"ggH"} and set(table["kind"].to_pylist()) == {"signal"}
    assert table["label"].type == pa.int8() and set(table["label"].to_pylist()) == {1}
    expected = features.assign_split(table["eventNumber"].to_numpy(), cfg["features"])
    assert table["split"].to_pylist() == expected.tolist()
    assert sum(summary["splits"].values()) == 500
    merged = pa.concat_tables([pq.read_table(p) for p in inputs])
    assert table.select(SCHEMA.names).equals(merged)


def test_background_and_data_get_label_zero(tmp_path):
    cfg = make_cfg()
    for sample, kind in (("yy", "background"), ("data", "data")):
        (tmp_path / sample).mkdir()
        inputs = write_skims(tmp_path / sample, [50], sample)
        features.build_features(cfg, sample, inputs, tmp_path / f"{sample}.parquet")
        table = pq.read_table(tmp_path / f"{sample}.parquet")
        assert set(table["label"].to_pylist()) == {0} and set(table["kind"].to_pylist()) == {kind}


def test_split_does_not_depend_on_batching(tmp_path):
    cfg = make_cfg()
    inputs = write_skims(tmp_path, [400])
    features.build_features(cfg, "ggH", inputs, tmp_path / "a.parquet")
    cfg["features"]["batch_size"] = 13
    features.build_features(cfg, "ggH", inputs, tmp_path / "b.parquet")
    assert pq.read_table(tmp_path / "a.parquet").equals(pq.read_table(tmp_path / "b.parquet"))


def test_only_empty_skims_give_an_empty_file_with_the_schema(tmp_path):
    inputs = write_skims(tmp_path, [0, 0])
    features.build_features(make_cfg(), "ggH", inputs, tmp_path / "out.parquet")
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.num_rows == 0 and "split" in table.column_names


def test_wrong_sample_or_schema_is_an_error_and_leaves_no_file(tmp_path):
    cfg = make_cfg()
    wrong = write_skims(tmp_path, [10], sample="yy")
    with pytest.raises(ValueError, match=r"skim0\.parquet: rows of sample\(s\) \['yy'\]"):
        features.build_features(cfg, "ggH", wrong, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()
    good = write_skims(tmp_path, [10])
    other = tmp_path / "other.parquet"
    pq.write_table(skim_table(5, "ggH", 1).drop_columns(["met"]), other)
    with pytest.raises(ValueError, match="other.parquet: its columns differ"):
        features.build_features(cfg, "ggH", [*good, other], tmp_path / "out.parquet")
    with pytest.raises(FileNotFoundError, match="missing.parquet does not exist"):
        features.build_features(cfg, "ggH", [tmp_path / "missing.parquet"], tmp_path / "out.parquet")
    with pytest.raises(KeyError, match="sample 'WW'"):
        features.build_features(cfg, "WW", good, tmp_path / "out.parquet")


def test_cli(tmp_path, monkeypatch):
    monkeypatch.setattr(features.config, "load", lambda configfile=None, settings=None: make_cfg())
    inputs = write_skims(tmp_path, [20, 30])
    out = tmp_path / "f.parquet"
    assert cli.main(["features", "--sample", "ggH", "--inputs", *map(str, inputs), "--out", str(out)]) == 0
    assert pq.read_metadata(out).num_rows == 50
