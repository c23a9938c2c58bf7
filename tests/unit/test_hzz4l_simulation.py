"""The embedded H->ZZ*->4l simulation: the real exactly4lep schema, the skim, the truth, the physics."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from colliderflow import analyses
from colliderflow.analyses.hzz4l import simulation as hzz4l_simulation
from colliderflow.ntuples import atlas2025
from colliderflow.simulation import detector, embedded

SIMULATION = analyses.get("hzz4l").simulation
REAL = (Path(__file__).resolve().parents[2].parent / "shared" / "data" / "atlas-opendata"
        / "ODEO_FEB2025_v0_exactly4lep_data15_periodD.exactly4lep.root")
NOT_WRITTEN = {"jet_pt_jer1", "jet_pt_jer2"}  # RVec<float> without a counter of their own; no analysis reads them
SAMPLES = {
    "data": {"kind": "data", "process": "data", "files": [
        {"name": "sim_data15_periodD", "lumi_fb": 3.2}, {"name": "sim_data16_periodA", "lumi_fb": 32.9}]},
    "ggH": {"kind": "signal", "process": "ggH", "files": [{"name": "sim_mc_345060.ggH125_ZZ4lep"}]},
    "WH": {"kind": "signal", "process": "WH",
           "files": [{"name": "sim_mc_346341.WpH125J_ZZ4lep"}, {"name": "sim_mc_346342.WmH125J_ZZ4lep"}]},
    "ZZ": {"kind": "background", "process": "ZZ", "files": [{"name": "sim_mc_700600.llll"}]},
    "ttbar": {"kind": "background", "process": "ttbar", "files": [{"name": "sim_mc_410470.ttbar_dilep"}]},
}
LEPTON_BRANCHES = ["lep_n", "lep_pt", "lep_eta", "lep_phi", "lep_e", "lep_type", "lep_charge", "lep_isLooseIso"]


def make_cfg(**overrides) -> dict:
    section = {"signal_mc_events": 4000, "background_mc_events": 4000, "chunk_size": 2500}
    section.update(overrides)
    return {"analysis": "hzz4l", "lumi_fb": 36.1, "samples": json.loads(json.dumps(SAMPLES)), "simulate": section}


def read(path, branches=None):
    return uproot.open(path)["analysis"].arrays(branches)


def four_lepton_mass(events) -> np.ndarray:
    pt, eta, phi, e = (ak.to_numpy(events[f"lep_{k}"]).astype(np.float64) for k in ("pt", "eta", "phi", "e"))
    px, py, pz = (pt * np.cos(phi)).sum(1), (pt * np.sin(phi)).sum(1), (pt * np.sinh(eta)).sum(1)
    return np.sqrt(np.maximum(e.sum(1) ** 2 - px**2 - py**2 - pz**2, 0.0))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """The small data file and the MC files of the catalogue, generated once."""
    cfg = make_cfg()
    out = tmp_path_factory.mktemp("hzz4l")
    names = [name for name in hzz4l_simulation.catalogue(cfg) if name != "sim_data16_periodA"]
    summaries = {name: SIMULATION.simulate_file(cfg, name, out / f"{name}.root") for name in names}
    return cfg, out, summaries


def _content_dtype(branch) -> str:
    interp = branch.interpretation
    if isinstance(interp, uproot.interpretation.strings.AsStrings):
        return "string"
    if isinstance(interp, uproot.interpretation.jagged.AsJagged):
        return "jagged " + str(interp.content.to_dtype)
    return str(interp.to_dtype)


@pytest.mark.skipif(not REAL.is_file(), reason=f"real exactly4lep file not found at {REAL}")
@pytest.mark.parametrize("name", ["sim_data15_periodD", "sim_mc_345060.ggH125_ZZ4lep"])
def test_schema_equals_real_exactly4lep_file(dataset, name):
    _, out, _ = dataset
    real = uproot.open(REAL)["analysis"]
    sim = uproot.open(out / f"{name}.root")["analysis"]
    real_types = {b.name: _content_dtype(b) for b in real.branches}
    sim_types = {b.name: _content_dtype(b) for b in sim.branches}
    assert set(sim_types) == set(real_types) - NOT_WRITTEN
    assert sim_types == {k: real_types[k] for k in sim_types}
    assert [k for k in real_types if k in sim_types] == list(sim_types)  # the real files' branch order
    assert atlas2025.branch_dtypes().keys() == sim_types.keys()


def test_files_hold_the_exactly4lep_skim(dataset):
    _, out, summaries = dataset
    for name, summary in summaries.items():
        events = read(out / f"{name}.root", LEPTON_BRANCHES)
        assert summary["written"] == len(events) > 0
        assert np.all(events.lep_n == 4) and ak.all(ak.num(events.lep_pt) == 4), name
        assert ak.all(events.lep_pt > 7.0), name
        electron = events.lep_type == 11
        assert ak.all(np.abs(events.lep_eta[electron]) < 2.47) and ak.all(np.abs(events.lep_eta[~electron]) < 2.5)
    assert summaries["sim_mc_345060.ggH125_ZZ4lep"]["written"] < summaries["sim_mc_345060.ggH125_ZZ4lep"]["generated"]


def test_truth_is_recorded(dataset):
    cfg, out, summaries = dataset
    meta = embedded.read_metadata(out / "sim_data15_periodD.root")
    assert meta["simulated"] is True and "SIMULATED" in meta["note"]
    assert meta["analysis"] == "hzz4l" and meta["skim"] == "exactly4lep"
    truth = meta["truth"]
    assert truth["signal_strength"] == 1.0 and truth["higgs_mass"] == 125.0
    s = hzz4l_simulation.settings(cfg)
    for process in ("ggH", "VBF", "WH", "ZH", "ZZ", "Z4l", "Zjets", "ttbar"):
        assert truth["expected"][process] == pytest.approx(s["xsec_pb"][process] * 3200.0)
    assert sum(truth["generated"].values()) == summaries["sim_data15_periodD"]["generated"]
    data = read(out / "sim_data15_periodD.root", ["xsec", "mcWeight", "category", "truth_muon_pt"])
    assert np.all(data.xsec == 0) and np.all(data.mcWeight == 1) and set(data.category.tolist()) == {"data15"}
    assert ak.sum(ak.num(data.truth_muon_pt)) == 0


def test_cross_sections_and_scale_factors(dataset):
    cfg, out, _ = dataset
    s = hzz4l_simulation.settings(cfg)
    zz = read(out / "sim_mc_700600.llll.root", ["xsec", "channelNumber", "ScaleFactor_ELE", "ScaleFactor_MUON",
                                                  "ScaleFactor_PHOTON", "lep_type", "truth_elec_pt", "truth_muon_pt"])
    assert float(zz.xsec[0]) == pytest.approx(s["xsec_pb"]["ZZ"] + s["xsec_pb"]["Z4l"], rel=1e-6)
    assert np.all(zz.channelNumber == 700600) and np.all(zz.ScaleFactor_PHOTON == 1)
    no_electron = ak.to_numpy(ak.sum(zz.lep_type == 11, axis=1)) == 0
    has_muon = ak.to_numpy(ak.sum(zz.lep_type == 13, axis=1)) > 0
    assert np.all(ak.to_numpy(zz.ScaleFactor_ELE)[no_electron] == 1)
    assert 0.005 < float(np.std(ak.to_numpy(zz.ScaleFactor_MUON)[has_muon])) < 0.02
    assert ak.all(ak.num(zz.truth_elec_pt) + ak.num(zz.truth_muon_pt) == 4)  # the four prompt leptons
    wp = read(out / "sim_mc_346341.WpH125J_ZZ4lep.root", ["xsec"])
    assert float(wp.xsec[0]) == pytest.approx(s["xsec_pb"]["WH"] * s["wplus_fraction"], rel=1e-6)


def test_signal_peaks_at_the_higgs_mass_with_two_sfos_pairs(dataset, tmp_path):
    _, out, _ = dataset
    signal = read(out / "sim_mc_345060.ggH125_ZZ4lep.root", LEPTON_BRANCHES)
    m = four_lepton_mass(signal)
    core = m[np.abs(m - 125.0) < 5.0]
    assert len(core) > 0.9 * len(m)
    assert abs(np.median(core) - 125.0) < 0.6
    assert 1.2 < np.subtract(*np.percentile(core, [75, 25])) / 1.349 < 2.6  # resolution of ATLAS's m_4l
    # flavour pairing and charges: two same-flavour opposite-charge pairs (4e, 4mu, 2e2mu)
    charge = ak.to_numpy(signal.lep_charge)
    electrons = ak.to_numpy(ak.sum(signal.lep_type == 11, axis=1))
    assert np.mean(charge.sum(axis=1) == 0) > 0.99
    assert np.mean(electrons % 2 == 0) > 0.99
    assert {0, 2, 4} <= set(np.unique(electrons))
    # the truth mass is honoured
    SIMULATION.simulate_file(make_cfg(higgs_mass=130.0), "sim_mc_345060.ggH125_ZZ4lep", tmp_path / "m130.root")
    m130 = four_lepton_mass(read(tmp_path / "m130.root", LEPTON_BRANCHES))
    assert abs(np.median(m130[np.abs(m130 - 130.0) < 5.0]) - 130.0) < 0.6


def test_z_to_four_leptons_peaks_at_the_z_mass():
    s = hzz4l_simulation.settings({})
    rng = np.random.default_rng(3)
    truth = hzz4l_simulation.GENERATORS["Z4l"](rng, 6000, s)
    reco = detector.reconstruct(rng, truth, hzz4l_simulation.detector_of(s))
    kept = hzz4l_simulation.passes_exactly4lep_skim(reco)
    lep = reco.leptons
    order = np.argsort(lep["event"], kind="stable")
    event = lep["event"][order]
    four = kept[event]
    pt, eta, phi, e = (lep[k][order][four].reshape(-1, 4) for k in ("pt", "eta", "phi", "e"))
    px, py, pz = (pt * np.cos(phi)).sum(1), (pt * np.sin(phi)).sum(1), (pt * np.sinh(eta)).sum(1)
    m = np.sqrt(np.maximum(e.sum(1) ** 2 - px**2 - py**2 - pz**2, 0.0))
    assert len(m) > 500
    assert abs(np.median(m[np.abs(m - 91.2) < 6.0]) - 91.2) < 1.0
    assert np.mean(np.abs(m - 91.2) < 6.0) > 0.8


def test_continuum_rises_at_the_zz_threshold(dataset):
    _, out, _ = dataset
    m = four_lepton_mass(read(out / "sim_mc_700600.llll.root", LEPTON_BRANCHES))
    per_gev = {lo: np.sum((m >= lo) & (m < hi)) / (hi - lo) for lo, hi in ((140, 170), (185, 215), (80, 100))}
    assert per_gev[185] > 3 * per_gev[140]  # on-shell ZZ above ~182 GeV
    assert np.mean(m > 180) > 0.5
    assert per_gev[80] > 2 * per_gev[140]  # the Z -> 4l peak in the same sample
    assert np.sum((m > 110) & (m < 140)) > 0  # and the off-shell ZZ* below the threshold


def test_reducible_leptons_fail_isolation_more_often(dataset):
    _, out, _ = dataset
    ttbar = read(out / "sim_mc_410470.ttbar_dilep.root", LEPTON_BRANCHES + ["lep_d0sig"])
    zz = read(out / "sim_mc_700600.llll.root", LEPTON_BRANCHES + ["lep_d0sig"])
    all_isolated = {name: float(ak.mean(ak.all(events.lep_isLooseIso, axis=1)))
                    for name, events in (("ttbar", ttbar), ("ZZ", zz))}
    assert all_isolated["ZZ"] > 0.8 and all_isolated["ttbar"] < 0.2
    assert float(ak.mean(np.abs(ttbar.lep_d0sig) > 5)) > 3 * float(ak.mean(np.abs(zz.lep_d0sig) > 5))


def test_catalogue_refuses_what_it_cannot_make():
    cfg = make_cfg()
    cfg["samples"]["ggH"]["process"] = "ttH"
    with pytest.raises(ValueError, match="ttH"):
        hzz4l_simulation.catalogue(cfg)
    cfg = make_cfg()
    cfg["samples"]["ZZ"]["files"] = [{"name": "sim_llll_without_dsid"}]
    with pytest.raises(ValueError, match="mc_<DSID>"):
        hzz4l_simulation.catalogue(cfg)
