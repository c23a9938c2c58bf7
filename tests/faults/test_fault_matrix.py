"""The fault matrix: bad inputs as a user meets them, each at the command edge.

Every case asserts what the physicist sees (exit code 2 and one line naming the file, key,
sample or column, and what to do; no traceback) and that nothing plausible was written: no
output file, no half-written temporary, no removed sample brought back. Tiny inputs only:
the whole module runs in well under a minute.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from colliderflow import analyses, cli
from colliderflow.analyses.hyy import synthetic

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from hyy_fixtures import random_branches, write_ntuple  # noqa: E402

pytestmark = pytest.mark.faults

REPO = Path(__file__).resolve().parents[2]
HYY = analyses.get("hyy")
OBSERVABLE = HYY.observable_column

# The toy samples of colliderflow.analyses.hyy.synthetic (its features files use these names).
SAMPLES = {
    "data": {"kind": "data", "process": "data", "files": [{"name": "sim_data15_periodD", "lumi_fb": 36.1}]},
    "ggH": {"kind": "signal", "process": "ggH", "files": [{"name": "sim_mc_343981.ggH125_gamgam"}]},
    "VBF": {"kind": "signal", "process": "VBF", "files": [{"name": "sim_mc_346214.VBFH125_gamgam"}]},
    "yy": {"kind": "background", "process": "yy", "files": [{"name": "sim_mc_364352.diphoton_continuum"}]},
}
CONFIG = {"analysis": "hyy", "dataset": {"name": "faults", "simulated": True}, "lumi_fb": 36.1,
          "samples": SAMPLES, "skim": {"step_size": 700}}


# ----------------------------------------------------------------------------- helpers


def write_config(path: Path, **changes) -> Path:
    cfg = json.loads(json.dumps(CONFIG))
    cfg.update(changes)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def command(capsys, *argv) -> tuple[int, str]:
    """Run ``colliderflow argv``; (exit code, its error message). Asserts no traceback, and that
    the message is one line, except a config error, which lists each wrong key on a line of its own."""
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    prefix = f"colliderflow {argv[0]}: error:"
    if prefix not in err:
        return code, ""
    message = err[err.index(prefix):].rstrip("\n")
    lines = message.splitlines()
    assert len(lines) == 1 or "configuration in" in lines[0], message
    assert all(line.startswith("  ") for line in lines[1:]), message  # keys, not log records
    return code, " ".join(line.strip() for line in lines)


def leftovers(folder: Path) -> list[str]:
    """Hidden temporary files of the atomic writes (a half-written output)."""
    return sorted(p.name for p in Path(folder).rglob(".*.tmp"))


def replace_column(src: Path, dst: Path, column: str, rows, value) -> Path:
    """A copy of a Parquet file with ``column`` set to ``value`` at ``rows``."""
    table = pq.read_table(src)
    values = table[column].to_numpy().astype(float)
    values[rows] = value
    index = table.schema.get_field_index(column)
    table = table.set_column(index, table.schema.field(index), pa.array(values, type=table.schema.field(index).type))
    pq.write_table(table, dst)
    return dst


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def cfgfile(work):
    return write_config(work / "config.yaml")


@pytest.fixture(scope="module")
def ntuple(work):
    """A small MC ntuple of the 2025 format (a tenth of its events pass the selection)."""
    path = work / "ggH.root"
    write_ntuple(path, random_branches(2000, seed=3, mc=True))
    return path


@pytest.fixture(scope="module")
def skim_file(work, cfgfile, ntuple):
    out = work / "skim" / "ggH.parquet"
    assert cli.main(["skim", "--configfile", str(cfgfile), "--sample", "ggH", "--input", str(ntuple),
                     "--out", str(out), "--cutflow", str(work / "skim" / "ggH.cutflow.json")]) == 0
    assert pq.read_metadata(out).num_rows > 50
    return out


@pytest.fixture(scope="module")
def features(work):
    """Toy features of every sample (data, ggH, VBF, yy)."""
    return synthetic.write_features(work / "features", n_events=400, seed=2)


def scores_of(features_dir: Path, out_dir: Path, change=None) -> Path:
    """Scores Parquet files as ``colliderflow apply`` writes them, with a toy score;
    ``change(sample, table)`` may alter a sample's table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    for path in sorted(Path(features_dir).glob("*.parquet")):
        table = pq.read_table(path, columns=["eventNumber", "sample", "process", "kind", "label", "split", "weight",
                                             OBSERVABLE])
        label = table["label"].to_numpy()
        score = np.clip(rng.normal(0.3 + 0.4 * label, 0.2), 0, 1).astype(np.float32)
        table = table.append_column("score", pa.array(score))
        if change is not None:
            table = change(path.stem, table)
        pq.write_table(table, out_dir / path.name)
    return out_dir


@pytest.fixture(scope="module")
def scores(work, features):
    return scores_of(features, work / "scores" / "clean")


@pytest.fixture(scope="module")
def selection(work, cfgfile, scores):
    """The selection.json of the clean scores (the commands work on good inputs)."""
    out = work / "optimise" / "selection.json"
    assert cli.main(["optimise", "--configfile", str(cfgfile), "--model", "bdt", "--scores", str(scores),
                     "--out", str(out)]) == 0
    return out


def snakemake_dry_run(workdir: Path, configfile: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "--directory",
           str(workdir), "--configfile", str(configfile), "--cores", "1", "-n"]
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)


# ----------------------------------------------------------------------------- config semantics


def test_removed_and_renamed_samples_do_not_come_back(tmp_path, capsys):
    """Issue 9 case 1: the run uses exactly the given config (no merge with config/config.yaml)."""
    cfg = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    del cfg["samples"]["ttH"]
    cfg["samples"]["diphoton"] = cfg["samples"].pop("yy")
    configfile = tmp_path / "no-tth.yaml"
    configfile.write_text(yaml.safe_dump(cfg))
    result = snakemake_dry_run(tmp_path, configfile)
    assert result.returncode == 0, result.stderr[-3000:]
    plan = result.stdout + result.stderr
    assert "features/diphoton.parquet" in plan
    assert "ttH" not in plan and "features/yy.parquet" not in plan
    # check-config resolves the same config the workflow runs
    code = cli.main(["check-config", "--configfile", str(configfile)])
    shown = yaml.safe_load(capsys.readouterr().out)
    assert code == 0 and set(shown["samples"]) == {"data", "ggH", "VBF", "WH", "ZH", "diphoton"}


def test_a_file_in_two_samples_is_refused(tmp_path, capsys, ntuple):
    """Issue 9 case 2: the ggH file also listed under VBF."""
    samples = json.loads(json.dumps(SAMPLES))
    samples["VBF"]["files"].append({"name": "sim_mc_343981.ggH125_gamgam"})
    configfile = write_config(tmp_path / "two.yaml", samples=samples)
    code, line = command(capsys, "check-config", "--configfile", configfile)
    assert code == 2 and "'sim_mc_343981.ggH125_gamgam' is listed in samples 'ggH' and 'VBF'" in line
    out = tmp_path / "skim.parquet"
    code, _ = command(capsys, "skim", "--configfile", configfile, "--sample", "VBF", "--input", ntuple,
                      "--out", out, "--cutflow", tmp_path / "skim.json")
    assert code == 2 and not out.exists()
    result = snakemake_dry_run(tmp_path, configfile)
    assert result.returncode != 0 and "listed in samples 'ggH' and 'VBF'" in result.stdout + result.stderr


def test_split_fractions_summing_to_1_4_are_refused(tmp_path, capsys, skim_file):
    """Issue 9 case 5: refused when the config is read, not at the features stage."""
    configfile = write_config(tmp_path / "split.yaml", features={"split": {"train": 0.8, "val": 0.3, "test": 0.3}})
    code, line = command(capsys, "check-config", "--configfile", configfile)
    assert code == 2 and "features.split fractions must sum to 1, not 1.4" in line
    out = tmp_path / "ggH.parquet"
    code, _ = command(capsys, "features", "--configfile", configfile, "--sample", "ggH", "--inputs", skim_file,
                      "--out", out)
    assert code == 2 and not out.exists()


def test_a_reversed_range_is_refused(tmp_path, capsys):
    """Issue 9 case 5: a reversed observable (selection) range, and a reversed fit range."""
    configfile = write_config(tmp_path / "range.yaml", observable={"range": [160.0, 105.0]})
    code, line = command(capsys, "check-config", "--configfile", configfile)
    assert code == 2 and "observable.range: [160.0, 105.0] is not an interval" in line
    configfile = write_config(tmp_path / "fit.yaml", fit={"mass_limits": [130.0, 120.0]})
    code, line = command(capsys, "check-config", "--configfile", configfile)
    assert code == 2 and "fit.mass_limits: [130.0, 120.0] is not an interval" in line


def test_bad_yaml_names_the_file_and_line(tmp_path, capsys):
    configfile = tmp_path / "bad.yaml"
    configfile.write_text("analysis: hyy\nsamples:\n  data: {kind: data\n  ggH: [\n")
    code, line = command(capsys, "check-config", "--configfile", configfile)
    assert code == 2 and f"config file {configfile} is not valid YAML" in line and "line " in line


def test_bad_settings_json_is_one_line(capsys, cfgfile):
    code, line = command(capsys, "check-config", "--configfile", cfgfile, "--settings", "{ml: 1}")
    assert code == 2 and "--settings is not valid JSON" in line


# ----------------------------------------------------------------------------- non-finite values


def test_nan_observable_stops_features(tmp_path, capsys, cfgfile, skim_file):
    """Issue 9 case 3: NaN in the observable (it made optimise report a window '123.67-nan')."""
    bad = replace_column(skim_file, tmp_path / "skim.parquet", OBSERVABLE, [3, 7], np.nan)
    out = tmp_path / "features" / "ggH.parquet"
    code, line = command(capsys, "features", "--configfile", cfgfile, "--sample", "ggH", "--inputs", bad,
                         "--out", out)
    rows = pq.read_metadata(bad).num_rows
    assert code == 2
    assert f"column '{OBSERVABLE}' holds 2 NaN value(s) in sample ggH (of {rows} events)" in line
    assert str(bad) in line and "rerun its skim" in line
    assert not out.exists() and leftovers(tmp_path) == []


def test_nan_observable_stops_optimise(tmp_path, capsys, cfgfile, features):
    def nan_mass(sample, table):
        if sample != "data":
            return table
        index = table.schema.get_field_index(OBSERVABLE)
        values = table[OBSERVABLE].to_numpy().copy()
        values[:5] = np.nan
        return table.set_column(index, table.schema.field(index), pa.array(values))

    scores = scores_of(features, tmp_path / "scores", nan_mass)
    out = tmp_path / "selection.json"
    code, line = command(capsys, "optimise", "--configfile", cfgfile, "--model", "bdt", "--scores", scores,
                         "--out", out)
    assert code == 2 and f"column '{OBSERVABLE}' holds 5 NaN value(s) in sample data" in line
    assert not out.exists()


def test_nan_weight_stops_features_and_training(tmp_path, capsys, cfgfile, skim_file, features):
    """Issue 9 case 3: one NaN weight (it gave AUC NaN, Z 0 and bare NaN in metrics.json)."""
    bad = replace_column(skim_file, tmp_path / "skim.parquet", "weight", [0], np.nan)
    out = tmp_path / "features" / "ggH.parquet"
    code, line = command(capsys, "features", "--configfile", cfgfile, "--sample", "ggH", "--inputs", bad,
                         "--out", out)
    assert code == 2 and "column 'weight' holds 1 NaN value(s) in sample ggH" in line and not out.exists()

    # a features file written some other way: training refuses it before any work
    broken = tmp_path / "broken-features"
    broken.mkdir()
    for path in features.glob("*.parquet"):
        if path.stem == "yy":
            replace_column(path, broken / path.name, "weight", [0], np.nan)
        else:
            (broken / path.name).write_bytes(path.read_bytes())
    outdir = tmp_path / "models" / "bdt"
    code, line = command(capsys, "train", "--configfile", cfgfile, "--model", "bdt", "--features", broken,
                         "--outdir", outdir)
    assert code == 2 and "column 'weight' holds 1 NaN value(s) in sample yy (of 400 events)" in line
    assert str(broken / "yy.parquet") in line
    assert not (outdir / "metrics.json").exists() and not (outdir / "model.json").exists()


def test_inf_feature_stops_training_naming_the_column(tmp_path, capsys, cfgfile, skim_file, features):
    """Issue 9 case 3: an inf feature (it trained the MLP on NaN; xgboost's error named no column)."""
    bad = replace_column(skim_file, tmp_path / "skim.parquet", "pt_yy", [1], np.inf)
    out = tmp_path / "features" / "ggH.parquet"
    code, line = command(capsys, "features", "--configfile", cfgfile, "--sample", "ggH", "--inputs", bad,
                         "--out", out)
    assert code == 2 and "column 'pt_yy' holds 1 inf value(s) in sample ggH" in line and not out.exists()

    broken = tmp_path / "broken-features"
    broken.mkdir()
    for path in features.glob("*.parquet"):
        if path.stem == "VBF":
            replace_column(path, broken / path.name, "j1_pt", [2, 4], np.inf)
        else:
            (broken / path.name).write_bytes(path.read_bytes())
    for model in ("bdt", "mlp"):
        outdir = tmp_path / "models" / model
        code, line = command(capsys, "train", "--configfile", cfgfile, "--model", model, "--features", broken,
                             "--outdir", outdir)
        assert code == 2 and "column 'j1_pt' holds 2 inf value(s) in sample VBF" in line
        assert not any(outdir.glob("*")) if outdir.exists() else True


def test_missing_jet_columns_may_be_nan_but_others_not(tmp_path, capsys, caplog, cfgfile, skim_file):
    """The documented handling: NaN only where the analysis says a missing object makes it NaN
    (Analysis.nan_when_missing), with a warning when such a column is NaN in every event."""
    assert "j2_pt" in HYY.nan_when_missing and "pt_yy" not in HYY.nan_when_missing
    allowed = replace_column(skim_file, tmp_path / "j2.parquet", "j2_pt", slice(None), np.nan)
    out = tmp_path / "ok" / "ggH.parquet"
    code, _ = command(capsys, "features", "--configfile", cfgfile, "--sample", "ggH", "--inputs", allowed,
                      "--out", out)
    assert code == 0 and out.exists()
    assert "sample ggH: j2_pt is NaN in every one of its" in caplog.text
    bad = replace_column(skim_file, tmp_path / "ptyy.parquet", "pt_yy", [0], np.nan)
    code, line = command(capsys, "features", "--configfile", cfgfile, "--sample", "ggH", "--inputs", bad,
                         "--out", tmp_path / "bad" / "ggH.parquet")
    assert code == 2 and "column 'pt_yy' holds 1 NaN value(s)" in line


def test_nan_score_stops_the_fit_stage(tmp_path, capsys, cfgfile, features, selection):
    def nan_score(sample, table):
        if sample != "ggH":
            return table
        index = table.schema.get_field_index("score")
        values = table["score"].to_numpy().copy()
        values[:3] = np.nan
        return table.set_column(index, table.schema.field(index), pa.array(values))

    scores = scores_of(features, tmp_path / "scores", nan_score)
    out = tmp_path / "signal_model.json"
    code, line = command(capsys, "signal-model", "--configfile", cfgfile, "--model", "bdt", "--scores", scores,
                         "--selection", selection, "--out", out)
    assert code == 2 and "column 'score' holds 3 NaN value(s) in sample ggH" in line and not out.exists()


# ----------------------------------------------------------------------------- damaged or wrong input files


def skim_command(capsys, cfgfile, path: Path, out_dir: Path) -> tuple[int, str, Path, Path]:
    """The skim as the workflow runs it: two threads, so damaged baskets fail in the decompression pool."""
    out, flow = out_dir / f"{path.stem}.parquet", out_dir / f"{path.stem}.cutflow.json"
    code, line = command(capsys, "skim", "--configfile", cfgfile, "--sample", "ggH", "--input", path,
                         "--out", out, "--cutflow", flow, "--threads", 2)
    return code, line, out, flow


@pytest.mark.parametrize("fraction", [0.0, 0.02, 0.3, 0.6, 0.9, 0.999])
def test_truncated_root_file_is_one_line(tmp_path, capsys, cfgfile, ntuple, fraction):
    """Issue 9 case 6: a cut-off copy or download."""
    whole = ntuple.read_bytes()
    path = tmp_path / "cut.root"
    path.write_bytes(whole[: int(len(whole) * fraction)])
    code, line, out, flow = skim_command(capsys, cfgfile, path, tmp_path / "skim")
    assert code == 2
    assert str(path) in line and ("corrupt or truncated" in line or "not a readable ROOT file" in line)
    assert "delete it and fetch or simulate it again" in line
    assert not out.exists() and not flow.exists() and leftovers(tmp_path) == []


def flipped(whole: bytes, position: int, folder: Path) -> Path:
    damaged = bytearray(whole)
    damaged[position] ^= 0xFF
    path = folder / f"flip{position}.root"
    path.write_bytes(bytes(damaged))
    return path


def test_a_flipped_byte_in_a_compressed_basket_is_refused(tmp_path, capsys, cfgfile, ntuple):
    """Issue 9 case 6: damaged event data (zlib's checksum catches every flip in a compressed basket)."""
    import uproot

    with uproot.open(ntuple) as handle:
        tree = handle["analysis"]
        baskets = [(tree[name].member("fBasketSeek")[0], tree[name].member("fBasketBytes")[0])
                   for name in ("photon_pt", "photon_eta", "jet_pt", "mcWeight", "eventNumber")
                   if tree[name].compressed_bytes < tree[name].uncompressed_bytes]
    assert len(baskets) >= 3
    whole = ntuple.read_bytes()
    for seek, size in baskets:
        for position in (seek + size // 2, seek + size - 3):
            path = flipped(whole, position, tmp_path)
            code, line, out, flow = skim_command(capsys, cfgfile, path, tmp_path / "skim")
            assert code == 2 and f"{path} is corrupt or truncated" in line, (position, line)
            assert "delete it and fetch or simulate it again" in line
            assert not out.exists() and not flow.exists()
    assert leftovers(tmp_path) == []


def test_a_flipped_byte_in_the_headers_is_refused_or_harmless(tmp_path, capsys, cfgfile, ntuple, skim_file):
    """Issue 9 case 6: a flip in the file, directory or tree headers gives the one-line error, or
    (an unused byte) the same skim; never a traceback."""
    reference = repr(pq.read_table(skim_file).to_pylist())
    whole = ntuple.read_bytes()
    refused = 0
    for position in (0, 5, 13, 60, 130, 300, 420):
        path = flipped(whole, position, tmp_path)
        code, line, out, flow = skim_command(capsys, cfgfile, path, tmp_path / "skim")
        if code == 0:
            assert repr(pq.read_table(out).to_pylist()) == reference, f"byte {position} changed the skim"
        else:
            refused += 1
            assert code == 2 and str(path) in line and "delete it and fetch or simulate it again" in line, line
            assert not out.exists() and not flow.exists()
    assert refused >= 3 and leftovers(tmp_path) == []


def test_mev_scaled_input_is_refused(tmp_path, capsys, cfgfile):
    """Issue 9 case 7: energies in MeV under a GeV analysis (they would select nothing, silently)."""
    branches = random_branches(2000, seed=3, mc=True)
    for name in ("photon_pt", "photon_e", "photon_ptcone20", "photon_topoetcone40", "jet_pt", "jet_e", "lep_pt",
                 "lep_e", "met"):
        branches[name] = branches[name] * 1000.0
    path = tmp_path / "mev.root"
    write_ntuple(path, branches)
    code, line, out, flow = skim_command(capsys, cfgfile, path, tmp_path / "skim")
    assert code == 2 and str(path) in line
    assert "energies look like MeV" in line and "this analysis reads GeV ntuples" in line
    assert not out.exists() and not flow.exists()


def test_permission_denied_names_the_output(tmp_path, capsys, monkeypatch, cfgfile, skim_file):
    """Issue 9 case 6: an unwritable output folder (simulated: the tests may run as root)."""
    real_init = pq.ParquetWriter.__init__

    def denied(self, where, *args, **kwargs):
        raise PermissionError(errno.EACCES, f"Failed to open local file '{where}'. Detail: [errno 13] "
                              "Permission denied")

    monkeypatch.setattr(pq.ParquetWriter, "__init__", denied)
    out = tmp_path / "features" / "ggH.parquet"
    code, line = command(capsys, "features", "--configfile", cfgfile, "--sample", "ggH", "--inputs", skim_file,
                         "--out", out)
    monkeypatch.setattr(pq.ParquetWriter, "__init__", real_init)
    assert code == 2 and f"permission denied for {out}" in line and "writable" in line
    assert not out.exists() and leftovers(tmp_path) == []


def test_disk_full_names_the_output(tmp_path, capsys, monkeypatch, cfgfile, skim_file):
    """Issue 9 case 6: no space left while writing (it gave 20-23 lines naming a hidden temporary file)."""

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_batch", full)
    out = tmp_path / "features" / "ggH.parquet"
    code, line = command(capsys, "features", "--configfile", cfgfile, "--sample", "ggH", "--inputs", skim_file,
                         "--out", out)
    assert code == 2 and f"no space left on the device while writing {out}" in line
    assert not out.exists() and leftovers(tmp_path) == []

    def json_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", json_full)
    table, flow = tmp_path / "cutflow.md", tmp_path / "cutflow.json"
    code, line = command(capsys, "cutflow", "--configfile", cfgfile, "--inputs",
                         skim_file.with_name("ggH.cutflow.json"), "--out-md", table, "--out-json", flow)
    assert code == 2 and f"no space left on the device while writing {table}" in line
    assert not table.exists() and not flow.exists() and leftovers(tmp_path) == []


def test_output_under_a_file_is_one_line(tmp_path, capsys, cfgfile, skim_file):
    (tmp_path / "results").write_text("not a folder")
    out = tmp_path / "results" / "ggH.parquet"
    code, line = command(capsys, "features", "--configfile", cfgfile, "--sample", "ggH", "--inputs", skim_file,
                         "--out", out)
    assert code == 2 and f"a file is in the way of the output folder {tmp_path / 'results'}" in line
    assert "move or delete it" in line


# ----------------------------------------------------------------------------- empty samples


def test_empty_data_sample_is_named(tmp_path, capsys, caplog, cfgfile, features):
    """Issue 9 case 7: a data sample with no events after the selection (it said 'no data sample')."""
    skim = tmp_path / "data.skim.parquet"
    pq.write_table(HYY.empty_table(), skim)
    out = tmp_path / "features" / "data.parquet"
    code, _ = command(capsys, "features", "--configfile", cfgfile, "--sample", "data", "--inputs", skim,
                      "--out", out)
    assert code == 0 and pq.read_metadata(out).num_rows == 0  # a valid empty sample, said plainly:
    assert "sample data has no events after the selection" in caplog.text

    empty = tmp_path / "features-empty-data"
    empty.mkdir()
    for path in features.glob("*.parquet"):
        (empty / path.name).write_bytes(out.read_bytes() if path.stem == "data" else path.read_bytes())
    outdir = tmp_path / "models" / "bdt"
    code, line = command(capsys, "train", "--configfile", cfgfile, "--model", "bdt", "--features", empty,
                         "--outdir", outdir)
    assert code == 2 and "sample(s) data have no events after the selection" in line
    assert not (outdir / "metrics.json").exists()

    spectrum = tmp_path / "spectrum.png"
    caplog.clear()
    code, _ = command(capsys, "plot-spectrum", "--configfile", cfgfile, "--features", *sorted(empty.glob("*.parquet")),
                      "--out", spectrum, "--out-json", tmp_path / "spectrum.json")
    assert code == 0 and "data sample(s) data have no events in observable.range" in caplog.text

    scores = scores_of(empty, tmp_path / "scores")
    selection = tmp_path / "selection.json"
    code, line = command(capsys, "optimise", "--configfile", cfgfile, "--model", "bdt", "--scores", scores,
                         "--out", selection)
    assert code == 2 and "data sample(s) data have no events after the selection" in line
    assert not selection.exists()


def test_empty_mc_sample_is_a_warning(tmp_path, capsys, caplog, cfgfile, features, scores):
    """A declared MC sample with no events: the stages go on, and say so."""
    for path in (scores / "VBF.parquet",):
        table = pq.read_table(path)
        pq.write_table(table.slice(0, 0), tmp_path / "VBF.parquet")
    partial = tmp_path / "scores"
    partial.mkdir()
    for path in scores.glob("*.parquet"):
        (partial / path.name).write_bytes((tmp_path / "VBF.parquet").read_bytes() if path.stem == "VBF"
                                          else path.read_bytes())
    code, _ = command(capsys, "optimise", "--configfile", cfgfile, "--model", "bdt", "--scores", partial,
                      "--out", tmp_path / "selection.json")
    assert code == 0
    assert "sample VBF has no events" in caplog.text
