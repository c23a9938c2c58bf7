import json

import pytest

from colliderflow.cutflow import markdown_table, merge_cutflows


def _flow(tmp_path, name, sample, kind, raws, sumws, cuts=("all", "trigger", "mass")):
    path = tmp_path / f"{name}.cutflow.json"
    path.write_text(json.dumps({
        "sample": sample, "kind": kind,
        "cuts": [{"name": c, "raw": r, "sumw": w, "sumw2": w * 0.01} for c, r, w in zip(cuts, raws, sumws)],
    }))
    return path


def test_merge_sums_files_of_a_sample(tmp_path):
    paths = [
        _flow(tmp_path, "a", "WH", "signal", [100, 80, 20], [10.0, 8.0, 2.0]),
        _flow(tmp_path, "b", "WH", "signal", [50, 40, 10], [5.0, 4.0, 1.0]),
        _flow(tmp_path, "d", "data", "data", [1000, 500, 30], [1000.0, 500.0, 30.0]),
    ]
    merged = merge_cutflows(paths)
    assert merged["WH"]["files"] == 2
    assert [c["raw"] for c in merged["WH"]["cuts"]] == [150, 120, 30]
    assert merged["WH"]["cuts"][2]["sumw"] == pytest.approx(3.0)
    assert merged["WH"]["cuts"][2]["sumw_error"] == pytest.approx((0.02 + 0.01) ** 0.5)
    table = markdown_table(merged, simulated=True)
    assert "simulated" in table
    assert "| mass | 30 (3 ± 0.17) | 30 |" in table  # samples sorted: WH, data


def test_merge_refuses_different_cuts(tmp_path):
    paths = [
        _flow(tmp_path, "a", "WH", "signal", [1, 1, 1], [1, 1, 1]),
        _flow(tmp_path, "b", "WH", "signal", [1, 1, 1], [1, 1, 1], cuts=("all", "mass", "trigger")),
    ]
    with pytest.raises(ValueError, match="b.cutflow.json.*differ"):
        merge_cutflows(paths)
