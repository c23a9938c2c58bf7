"""The skim driver on small ROOT files written here, and on the real ATLAS Open Data file."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
from hyy_fixtures import build_branches, make_cfg, random_branches, write_ntuple

from colliderflow import analyses, cli, skim
HYY = analyses.get("hyy")

REAL_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "atlas-opendata"
REAL_4LEP = REAL_DATA / "ODEO_FEB2025_v0_exactly4lep_data15_periodD.exactly4lep.root"


@pytest.fixture(scope="module")
def mc_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ntuples") / "mc.root"
    write_ntuple(path, random_branches(3000, seed=7, mc=True))
    return path


def run_skim(tmp_path, path, sample="ggH", cfg=None, name="out", threads=1):
    cfg = cfg or make_cfg()
    out, flow = tmp_path / f"{name}.parquet", tmp_path / f"{name}.cutflow.json"
    result = skim.skim_file(cfg, sample, path, out, flow, threads)
    return result, pq.read_table(out), json.loads(flow.read_text())


def test_cutflow_is_monotonic_and_matches_the_rows_written(tmp_path, mc_file):
    result, table, written = run_skim(tmp_path, mc_file)
    cuts = written["cuts"]
    assert [c["name"] for c in cuts] == ["all", *HYY.cut_order]
    raw = [c["raw"] for c in cuts]
    assert raw[0] == 3000 == written["n_entries"]
    assert raw == sorted(raw, reverse=True) and raw[-1] > 50
    assert raw[-1] == table.num_rows == written["n_selected"]
    assert cuts[-1]["sumw"] == pytest.approx(np.sum(table["weight"].to_numpy()), rel=1e-9)
    assert cuts[-1]["sumw2"] == pytest.approx(np.sum(table["weight"].to_numpy() ** 2), rel=1e-9)
    assert written["kind"] == "signal" and written["sample"] == "ggH"
    assert "provenance" in written and str(mc_file) in written["provenance"]["inputs"]
    assert result["cuts"] == cuts
    assert table.schema.equals(HYY.schema)
    assert set(table["sample"].to_pylist()) == {"ggH"}


def test_cutflow_counts_agree_with_a_direct_selection(tmp_path, mc_file):
    _, _, written = run_skim(tmp_path, mc_file)
    cfg = make_cfg()
    events = ak.Array(random_branches(3000, seed=7, mc=True))
    selection, cut_order, _ = HYY.select(events, cfg, True)
    weight = HYY.weights(events, cfg, True).weight()
    expected = [len(events)] + [int(np.count_nonzero(selection.all(*cut_order[:i]))) for i in range(1, 7)]
    assert [c["raw"] for c in written["cuts"]] == expected
    assert written["cuts"][0]["sumw"] == pytest.approx(weight.sum(), rel=1e-9)


@pytest.mark.parametrize("threads", [1, 3])
def test_small_chunks_give_the_same_result_as_one_chunk(tmp_path, mc_file, threads):
    _, one, flow_one = run_skim(tmp_path, mc_file, cfg=make_cfg(step_size=100_000), name="one")
    _, many, flow_many = run_skim(tmp_path, mc_file, cfg=make_cfg(step_size=77), name="many", threads=threads)
    assert flow_many["n_chunks"] == 39 and flow_one["n_chunks"] == 1
    assert one.num_rows == many.num_rows
    for name in one.column_names:
        a, b = one[name].to_pylist(), many[name].to_pylist()
        assert (np.array(a, dtype=object) == np.array(b, dtype=object)).all() or np.allclose(
            np.array(a, dtype=float), np.array(b, dtype=float), equal_nan=True, rtol=0, atol=0
        ), name
    for a, b in zip(flow_one["cuts"], flow_many["cuts"]):
        assert a["raw"] == b["raw"]
        assert a["sumw"] == pytest.approx(b["sumw"], rel=1e-12)


def test_real_open_data_file_runs_unchanged(tmp_path):
    if not REAL_4LEP.is_file():
        pytest.skip(f"{REAL_4LEP} not present")
    _, table, written = run_skim(tmp_path, REAL_4LEP, sample="data")
    raw = [c["raw"] for c in written["cuts"]]
    assert raw[0] == 3424
    assert raw == sorted(raw, reverse=True)
    assert raw[-1] == table.num_rows == written["n_selected"]
    assert [c["sumw"] for c in written["cuts"]] == raw  # data: weight 1
    # a four-lepton skim has at most one photon per event: nothing has a diphoton pair
    assert raw[2] == 0
    assert table.schema.equals(HYY.schema)


def test_real_file_as_mc_is_refused(tmp_path):
    if not REAL_4LEP.is_file():
        pytest.skip(f"{REAL_4LEP} not present")
    with pytest.raises(ValueError, match="ODEO_FEB2025.*xsec == 0"):
        run_skim(tmp_path, REAL_4LEP, sample="ggH")
    assert not (tmp_path / "out.parquet").exists()
    assert not list(tmp_path.glob(".*tmp"))


def test_mc_file_as_data_is_refused_naming_the_file(tmp_path, mc_file):
    with pytest.raises(ValueError, match=r"mc\.root: the sample catalogue says this is data"):
        run_skim(tmp_path, mc_file, sample="data")


def test_zero_passing_events_still_give_a_valid_skim(tmp_path):
    path = tmp_path / "nothing.root"
    write_ntuple(path, build_branches([{"photons": [{"pt": 40.0, "eta": 0.1, "phi": 0.0}]}] * 5))
    _, table, written = run_skim(tmp_path, path, sample="data")
    assert table.num_rows == 0 and table.schema.equals(HYY.schema)
    assert [c["raw"] for c in written["cuts"]] == [5, 5, 0, 0, 0, 0, 0]


def test_empty_tree(tmp_path):
    path = tmp_path / "empty.root"
    write_ntuple(path, {k: v[:0] for k, v in random_branches(10).items()})
    _, table, written = run_skim(tmp_path, path, sample="data")
    assert table.num_rows == 0 and table.schema.equals(HYY.schema)
    assert [c["raw"] for c in written["cuts"]] == [0] * 7


def test_missing_branch_is_named_with_the_file(tmp_path):
    path = tmp_path / "old.root"
    write_ntuple(path, random_branches(20), drop=("photon_isTightIso",))
    with pytest.raises(KeyError, match=r"old\.root.*lacks branch\(es\) photon_isTightIso"):
        run_skim(tmp_path, path, sample="data")


def test_missing_tree_lists_the_trees(tmp_path):
    path = tmp_path / "mini.root"
    write_ntuple(path, random_branches(20), tree="mini")
    with pytest.raises(KeyError, match=r"no tree 'analysis' \(trees: mini\)"):
        run_skim(tmp_path, path, sample="data")


def test_missing_or_broken_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run_skim(tmp_path, tmp_path / "absent.root", sample="data")
    broken = tmp_path / "broken.root"
    broken.write_bytes(b"not a ROOT file")
    with pytest.raises(ValueError, match="not a readable ROOT file"):
        run_skim(tmp_path, broken, sample="data")


def test_unknown_sample(tmp_path, mc_file):
    with pytest.raises(KeyError, match="sample 'WW' is not in the config's sample catalogue"):
        run_skim(tmp_path, mc_file, sample="WW")


def test_cli_writes_both_outputs_and_reports_errors(tmp_path, mc_file, monkeypatch, capsys):
    monkeypatch.setattr(skim.config, "load", lambda configfile=None, settings=None: make_cfg())
    out, flow = tmp_path / "x.parquet", tmp_path / "x.cutflow.json"
    args = ["skim", "--sample", "ggH", "--input", str(mc_file), "--out", str(out), "--cutflow", str(flow)]
    assert cli.main(args) == 0
    assert out.is_file() and json.loads(flow.read_text())["n_selected"] == pq.read_metadata(out).num_rows
    args[4] = str(tmp_path / "absent.root")
    assert cli.main(args) == 2
    assert "absent.root does not exist" in capsys.readouterr().err
