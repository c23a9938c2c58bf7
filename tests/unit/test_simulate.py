"""The embedded H->yy simulated dataset: schema of the real 2025 files, conventions, normalisation,
physics, and the generic ``simulate`` stage."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from colliderflow import analyses, config, simulate
from colliderflow.analyses.hyy import simulation as hyy_simulation
from colliderflow.ntuples import atlas2025
from colliderflow.simulation import detector, embedded, seeds

SIMULATION = analyses.get("hyy").simulation

REAL = (Path(__file__).resolve().parents[2].parent / "shared" / "data" / "atlas-opendata"
        / "ODEO_FEB2025_v0_exactly4lep_data15_periodD.exactly4lep.root")
# Real branches simulate deliberately does not write (RVec<float> without a counter of their
# own, empty in data; no analysis reads them).
NOT_WRITTEN = {"jet_pt_jer1", "jet_pt_jer2"}
# What the H->yy analysis reads, and the metadata/weight branches: must exist with the real dtypes.
ANALYSIS_BRANCHES = {
    "runNumber", "eventNumber", "channelNumber", "trigP", "mcWeight", "xsec", "filteff", "kfac",
    "sum_of_weights", "sum_of_weights_squared", "num_events", "ScaleFactor_PHOTON", "ScaleFactor_PILEUP",
    "photon_n", "photon_pt", "photon_eta", "photon_phi", "photon_e", "photon_ptcone20", "photon_topoetcone40",
    "photon_isLooseID", "photon_isTightID", "photon_isLooseIso", "photon_isTightIso",
    "jet_n", "jet_pt", "jet_eta", "jet_phi", "jet_e", "jet_btag_quantile", "jet_jvt",
    "lep_n", "lep_type", "lep_pt", "lep_eta", "lep_phi", "lep_e", "lep_charge", "lep_isTightID", "lep_isTightIso",
    "met", "met_phi", "met_mpx", "met_mpy",
}
SAMPLES = {
    "data": {"kind": "data", "process": "data", "files": [
        {"name": "sim_data15_periodD", "lumi_fb": 3.2}, {"name": "sim_data16_periodA", "lumi_fb": 32.9}]},
    "ggH": {"kind": "signal", "process": "ggH", "files": [{"name": "sim_mc_343981.ggH125_gamgam"}]},
    "VBF": {"kind": "signal", "process": "VBF", "files": [{"name": "sim_mc_346214.VBFH125_gamgam"}]},
    "WH": {"kind": "signal", "process": "WH",
           "files": [{"name": "sim_mc_345317.WmH125J_Hyy"}, {"name": "sim_mc_345318.WpH125J_Hyy"}]},
    "ZH": {"kind": "signal", "process": "ZH", "files": [{"name": "sim_mc_345319.ZH125J_Hyy"}]},
    "ttH": {"kind": "signal", "process": "ttH", "files": [{"name": "sim_mc_346525.ttH125_gamgam"}]},
    "yy": {"kind": "background", "process": "yy", "files": [{"name": "sim_mc_364352.diphoton_continuum"}]},
}


def make_cfg(**overrides) -> dict:
    """A tiny configuration (a few thousand events per file) with the default catalogue layout."""
    section = {"data_events": 6000, "signal_mc_events": 3000, "background_mc_events": 4000, "chunk_size": 1500,
               "negative_weight_fraction": {"ggH": 0.0, "ttH": 0.3}}
    section.update(overrides)
    return {"lumi_fb": 36.1, "samples": json.loads(json.dumps(SAMPLES)), "simulate": section}


def read(path, branches=None):
    return uproot.open(path)["analysis"].arrays(branches)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Every file of the tiny catalogue, generated once."""
    cfg = make_cfg()
    out = tmp_path_factory.mktemp("sim")
    summaries = {name: SIMULATION.simulate_file(cfg, name, out / f"{name}.root")
                 for name in hyy_simulation.catalogue(cfg)}
    return cfg, out, summaries


def _content_dtype(branch) -> str:
    interp = branch.interpretation
    if isinstance(interp, uproot.interpretation.strings.AsStrings):
        return "string"
    if isinstance(interp, uproot.interpretation.jagged.AsJagged):
        return "jagged " + str(interp.content.to_dtype)
    return str(interp.to_dtype)


@pytest.mark.skipif(not REAL.is_file(), reason=f"real 2025 file not found at {REAL}")
@pytest.mark.parametrize("name", ["sim_data16_periodA", "sim_mc_343981.ggH125_gamgam"])
def test_schema_equals_real_2025_file(dataset, name):
    _, out, _ = dataset
    real = uproot.open(REAL)["analysis"]
    sim = uproot.open(out / f"{name}.root")["analysis"]
    real_types = {b.name: _content_dtype(b) for b in real.branches}
    sim_types = {b.name: _content_dtype(b) for b in sim.branches}
    assert ANALYSIS_BRANCHES <= set(real_types)  # the list above is about real branches
    assert set(sim_types) == set(real_types) - NOT_WRITTEN
    assert {k: sim_types[k] for k in sim_types} == {k: real_types[k] for k in sim_types}
    for key in ANALYSIS_BRANCHES:
        assert sim_types[key] == real_types[key], key
    counters = {"photon_n": "photon_pt", "jet_n": "jet_pt", "lep_n": "lep_pt"}
    arrays = sim.arrays(list(counters) + list(counters.values()))
    for counter, values in counters.items():
        assert sim_types[counter] == "int32"
        np.testing.assert_array_equal(ak.to_numpy(arrays[counter]), ak.to_numpy(ak.num(arrays[values])))
    assert atlas2025.branch_dtypes().keys() == sim_types.keys()


def test_files_say_they_are_simulated(dataset):
    cfg, out, summaries = dataset
    meta = embedded.read_metadata(out / "sim_data16_periodA.root")
    assert meta["simulated"] is True and "SIMULATED" in meta["note"]
    assert meta["truth"]["signal_strength"] == 1.0 and meta["truth"]["higgs_mass"] == 125.0
    assert meta["truth"]["generated"] == summaries["sim_data16_periodA"]["truth"]["generated"]
    assert all(name.startswith("sim_") for name in hyy_simulation.catalogue(cfg))


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    name = "sim_data15_periodD"
    paths = []
    for i, seed in enumerate((11, 11, 12)):
        paths.append(tmp_path / str(i) / f"{name}.root")
        SIMULATION.simulate_file(make_cfg(seed=seed), name, paths[-1])
    assert paths[0].read_bytes() == paths[1].read_bytes()
    a, b, c = (read(p) for p in paths)
    for field in a.fields:
        assert ak.all(ak.ravel(a[field]) == ak.ravel(b[field])), field
    assert len(a) != len(c) or not np.array_equal(ak.to_numpy(a.met), ak.to_numpy(c.met))
    # a file does not depend on which other files are generated, nor on the chunking
    single = make_cfg(seed=11)
    single["samples"] = {"data": SAMPLES["data"], "ggH": SAMPLES["ggH"], "VBF": SAMPLES["VBF"], "WH": SAMPLES["WH"],
                         "ZH": SAMPLES["ZH"], "ttH": SAMPLES["ttH"]}
    SIMULATION.simulate_file(single, name, tmp_path / "alone.root")
    assert np.array_equal(ak.to_numpy(read(tmp_path / "alone.root").eventNumber), ak.to_numpy(a.eventNumber))


def test_file_seeds_are_stable_and_distinct():
    first = seeds.file_seed(1, "sim_data15_periodD").generate_state(4)
    assert np.array_equal(first, seeds.file_seed(1, "sim_data15_periodD").generate_state(4))
    assert not np.array_equal(first, seeds.file_seed(1, "sim_data16_periodA").generate_state(4))
    assert not np.array_equal(first, seeds.file_seed(2, "sim_data15_periodD").generate_state(4))


def test_sum_of_weights_covers_all_generated_events(dataset):
    cfg, out, summaries = dataset
    s = hyy_simulation.settings(cfg)
    for name, spec in hyy_simulation.catalogue(cfg).items():
        if spec.kind == "data":
            continue
        events = read(out / f"{name}.root", ["mcWeight", "sum_of_weights", "sum_of_weights_squared", "num_events"])
        plan = hyy_simulation.plan_file(cfg, spec, s, seeds.file_seed(s["seed"], name))
        generated = plan.mc_weight.astype(np.float64)
        for branch, value in (("sum_of_weights", generated.sum()), ("sum_of_weights_squared", (generated**2).sum()),
                              ("num_events", len(generated))):
            assert np.all(ak.to_numpy(events[branch]) == value), (name, branch)
        written = ak.to_numpy(events.mcWeight)
        assert len(written) < len(generated)  # the skim removed some events, the sum counts them
        assert np.all(np.isin(written, plan.mc_weight))
        assert summaries[name]["sum_of_weights"] == pytest.approx(generated.sum(), rel=1e-12)


def test_data_and_mc_conventions(dataset):
    cfg, out, _ = dataset
    s = hyy_simulation.settings(cfg)
    data = read(out / "sim_data16_periodA.root")
    assert np.all(data.mcWeight == 1) and np.all(data.sum_of_weights == 1) and np.all(data.num_events == 1)
    assert np.all(data.sum_of_weights_squared == 1)
    for branch in ("xsec", "filteff", "kfac"):
        assert np.all(data[branch] == 0)
    for branch in atlas2025.SCALE_FACTORS:
        assert np.all(data[branch] == 1), branch
    assert np.all(data.channelNumber == data.runNumber)
    first, last = s["run_ranges"]["data16_periodA"]
    assert ak.min(data.runNumber) == first and ak.max(data.runNumber) == last
    assert set(ak.to_list(data.category)) == {"data16"}
    assert ak.sum(ak.num(data.truth_photon_pt)) == 0
    assert len(np.unique(ak.to_numpy(data.eventNumber))) == len(data)
    assert ak.all(ak.num(data.photon_pt) >= 2) and ak.all(data.photon_pt >= 25)  # the GamGam skim
    assert set(ak.to_list(read(out / "sim_data15_periodD.root", ["category"]).category)) == {"data15"}

    wp = read(out / "sim_mc_345318.WpH125J_Hyy.root")
    assert np.all(wp.channelNumber == 345318) and np.all(wp.runNumber == s["mc_run_number"])
    assert float(wp.xsec[0]) == pytest.approx(0.0031 * s["wplus_fraction"], rel=1e-6)
    assert float(read(out / "sim_mc_345317.WmH125J_Hyy.root", ["xsec"]).xsec[0]) == pytest.approx(
        0.0031 * (1 - s["wplus_fraction"]), rel=1e-6)
    assert np.all(wp.filteff == 1) and np.all(wp.kfac == 1)
    assert len(np.unique(ak.to_numpy(wp.eventNumber))) == len(wp)
    assert 0.9 < float(np.mean(wp.ScaleFactor_PILEUP)) < 1.1 and float(np.std(wp.ScaleFactor_PILEUP)) > 0.1
    leptons = ak.flatten(wp.lep_charge[wp.lep_pt > 20])
    assert ak.mean(leptons == 1) > 0.8  # W+ -> l+ nu (plus a few non-prompt leptons)
    yy = read(out / "sim_mc_364352.diphoton_continuum.root", ["xsec", "channelNumber"])
    fakes = s["fakes"]["fraction"]
    assert float(yy.xsec[0]) == pytest.approx((1 - fakes) * s["data_events"] / 36100.0, rel=1e-6)


def test_negative_weights_where_configured(dataset):
    _, out, _ = dataset
    tth = ak.to_numpy(read(out / "sim_mc_346525.ttH125_gamgam.root", ["mcWeight"]).mcWeight)
    assert 0.25 < np.mean(tth < 0) < 0.35
    ggh = ak.to_numpy(read(out / "sim_mc_343981.ggH125_gamgam.root", ["mcWeight"]).mcWeight)
    assert np.all(ggh > 0)
    yy = ak.to_numpy(read(out / "sim_mc_364352.diphoton_continuum.root", ["mcWeight"]).mcWeight)
    assert 0.05 < np.mean(yy < 0) < 0.15  # the default for yy


def _mc_weight(events, lumi_pb):
    return ak.to_numpy(events.mcWeight * events.ScaleFactor_PHOTON * events.ScaleFactor_PILEUP * events.xsec
                       * events.filteff * events.kfac).astype(np.float64) * lumi_pb / ak.to_numpy(events.sum_of_weights)


def _myy(events):
    y = events[ak.num(events.photon_pt) >= 2]
    pt, eta, phi, e = (ak.to_numpy(y[f"photon_{k}"][:, :2]).astype(np.float64) for k in ("pt", "eta", "phi", "e"))
    px, py, pz = (pt * np.cos(phi)).sum(1), (pt * np.sin(phi)).sum(1), (pt * np.sinh(eta)).sum(1)
    return np.sqrt(np.maximum(e.sum(1) ** 2 - px**2 - py**2 - pz**2, 0.0)), eta


def test_pseudo_data_signal_matches_mc_normalisation(tmp_path):
    """With no background and mu = 3, the pseudo-data hold what the signal MC predicts."""
    cfg = make_cfg(data_events=0, signal_strength=3.0, signal_mc_events=4000, chunk_size=4000,
                   negative_weight_fraction={"ggH": 0.1, "ttH": 0.3})
    cfg["samples"]["data"]["files"] = [{"name": "sim_data16_periodB", "lumi_fb": 36.1}]
    cat = hyy_simulation.catalogue(cfg)
    expected, variance = 0.0, 0.0
    for name, spec in cat.items():
        if spec.kind == "signal":
            SIMULATION.simulate_file(cfg, name, tmp_path / f"{name}.root")
            w = _mc_weight(read(tmp_path / f"{name}.root"), 36100.0)
            expected += 3.0 * w.sum()
            variance += 9.0 * (w**2).sum()
    summary = SIMULATION.simulate_file(cfg, "sim_data16_periodB", tmp_path / "data.root")
    observed = summary["written"]
    assert abs(observed - expected) < 4.0 * np.sqrt(expected + variance), (observed, expected)
    generated = sum(summary["truth"]["generated"].values())
    assert abs(generated - 3.0 * 0.1249 * 36100) < 4.0 * np.sqrt(3.0 * 0.1249 * 36100)
    m, _ = _myy(read(tmp_path / "data.root", ["photon_pt", "photon_eta", "photon_phi", "photon_e"]))
    assert abs(np.median(m[(m > 115) & (m < 135)]) - 125.0) < 0.5


def _gaussian_core(m, centre=125.0, width=2.0):
    """Mean and sigma of the Gaussian core: iterate a fit of the distribution within +-1.5 sigma."""
    from scipy import optimize, stats

    mu, sigma = centre, width
    for _ in range(8):
        x = m[np.abs(m - mu) < 1.5 * sigma]
        lo, hi = mu - 1.5 * sigma, mu + 1.5 * sigma

        def nll(p, x=x, lo=lo, hi=hi):
            norm = stats.norm.cdf(hi, p[0], p[1]) - stats.norm.cdf(lo, p[0], p[1])
            return -np.sum(stats.norm.logpdf(x, p[0], p[1]) - np.log(norm))

        mu, sigma = optimize.minimize(nll, [mu, sigma], method="Nelder-Mead").x
    return mu, abs(sigma)


def test_higgs_mass_peak_and_resolution(tmp_path):
    cfg = make_cfg(signal_mc_events=20000, chunk_size=20000)
    SIMULATION.simulate_file(cfg, "sim_mc_343981.ggH125_gamgam", tmp_path / "ggH.root")
    m, eta = _myy(read(tmp_path / "ggH.root", ["photon_pt", "photon_eta", "photon_phi", "photon_e"]))
    abseta = np.abs(eta)
    good = np.all((abseta < 2.37) & ~((abseta > 1.37) & (abseta < 1.52)), axis=1)
    m = m[good]
    mu, sigma = _gaussian_core(m)
    assert abs(mu - 125.0) < 0.15
    assert 1.6 <= sigma <= 2.0
    outside = np.mean(np.abs(m - mu) > 2 * sigma)
    assert 0.06 < outside < 0.25  # tails beyond a Gaussian (4.6 %)
    assert np.mean(m < mu - 2 * sigma) > 2 * np.mean(m > mu + 2 * sigma)  # mostly on the low side


def test_fakes_fail_identification_and_isolation_more_often():
    s = hyy_simulation.settings({})
    rng = np.random.default_rng(5)
    truth = hyy_simulation.GENERATORS["jj"](rng, 20000, s)
    assert np.all(truth.photons["fake"])
    assert np.all(hyy_simulation.GENERATORS["gj"](rng, 1000, s).photons["fake"].sum(axis=1) == 1)
    toy_detector = hyy_simulation.detector_of(s)
    fakes = detector.reconstruct(rng, truth, toy_detector).photons
    real = detector.reconstruct(rng, hyy_simulation.GENERATORS["yy"](rng, 20000, s), toy_detector).photons
    pass_fake = np.mean(fakes["isTightID"] & fakes["isTightIso"])
    pass_real = np.mean(real["isTightID"] & real["isTightIso"])
    assert pass_real > 0.75
    assert pass_fake < 0.5 * pass_real
    assert np.mean(fakes["isTightID"]) < np.mean(real["isTightID"]) - 0.2
    assert np.mean(fakes["isTightIso"]) < np.mean(real["isTightIso"]) - 0.2
    assert np.median(fakes["topoetcone40"]) > np.median(real["topoetcone40"]) + 1.0
    assert np.all(fakes["isTightID"] <= fakes["isLooseID"]) and np.all(fakes["isTightIso"] <= fakes["isLooseIso"])
    # the release's FixedCutTight flag is exactly its cone cut
    flag = (real["topoetcone40"] < 0.022 * real["pt"] + 2.45) & (real["ptcone20"] < 0.05 * real["pt"])
    assert np.array_equal(flag, real["isTightIso"])


def _jets(events):
    keep = (events.jet_pt > 25) & (events.jet_jvt | (events.jet_pt > 60))
    return events.jet_pt[keep], events.jet_eta[keep], events.jet_phi[keep], events.jet_e[keep], \
        events.jet_btag_quantile[keep]


def _vbf_like(events):
    pt, eta, phi, e, _ = _jets(events)
    two = ak.num(pt) >= 2
    pt, eta, phi, e = (ak.to_numpy(ak.pad_none(x, 2, clip=True)[:, :2].to_numpy(allow_missing=True).filled(np.nan))
                       for x in (pt, eta, phi, e))
    px, py, pz = (pt * np.cos(phi)).sum(1), (pt * np.sin(phi)).sum(1), (pt * np.sinh(eta)).sum(1)
    with np.errstate(invalid="ignore"):
        mjj = np.sqrt(np.maximum(e.sum(1) ** 2 - px**2 - py**2 - pz**2, 0))
        return np.mean(ak.to_numpy(two) & (mjj > 400) & (np.abs(eta[:, 0] - eta[:, 1]) > 3))


def test_production_modes_have_their_own_kinematics(dataset):
    _, out, _ = dataset
    ev = {p: read(out / f"{f}.root") for p, f in (
        ("ggH", "sim_mc_343981.ggH125_gamgam"), ("VBF", "sim_mc_346214.VBFH125_gamgam"),
        ("WH", "sim_mc_345318.WpH125J_Hyy"), ("ZH", "sim_mc_345319.ZH125J_Hyy"),
        ("ttH", "sim_mc_346525.ttH125_gamgam"), ("yy", "sim_mc_364352.diphoton_continuum"))}
    n_jets = {p: float(ak.mean(ak.num(_jets(e)[0]))) for p, e in ev.items()}
    n_b = {p: float(ak.mean(ak.sum(_jets(e)[4] >= 4, axis=1))) for p, e in ev.items()}
    leptons = {p: float(ak.mean(ak.sum(e.lep_pt > 15, axis=1) > 0)) for p, e in ev.items()}
    assert _vbf_like(ev["VBF"]) > 10 * max(_vbf_like(ev["ggH"]), 0.002)
    assert n_jets["ttH"] > 3 and n_jets["ttH"] > 2 * max(n_jets[p] for p in ("ggH", "VBF", "yy"))
    assert n_b["ttH"] > 0.8 and n_b["ggH"] < 0.1
    assert leptons["WH"] > 0.15 and leptons["ttH"] > 0.2 and leptons["ggH"] < 0.02
    assert float(ak.mean(ev["ZH"].met)) > 1.5 * float(ak.mean(ev["ggH"].met))
    assert n_jets["yy"] < n_jets["ggH"]


def test_write_is_atomic(tmp_path, monkeypatch):
    cfg = make_cfg(signal_mc_events=5000, chunk_size=2000)
    target = tmp_path / "ggH.root"
    real_build = SIMULATION.build_chunk

    def failing(plan, s, seq, chunk, *args):
        if chunk == 1:
            raise RuntimeError("killed")
        return real_build(plan, s, seq, chunk, *args)

    monkeypatch.setattr(SIMULATION, "build_chunk", failing)
    with pytest.raises(RuntimeError, match="killed"):
        SIMULATION.simulate_file(cfg, "sim_mc_343981.ggH125_gamgam", target)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(SIMULATION, "build_chunk", real_build)
    summary = SIMULATION.simulate_file(cfg, "sim_mc_343981.ggH125_gamgam", target)
    assert uproot.open(target)["analysis"].num_entries == summary["written"] > 0


def test_catalogue_errors_name_the_problem():
    cfg = make_cfg()
    cfg["samples"]["data"]["files"][0].pop("lumi_fb")
    with pytest.raises(ValueError, match="sim_data15_periodD.*lumi_fb"):
        hyy_simulation.catalogue(cfg)
    cfg = make_cfg()
    cfg["lumi_fb"] = 40.0
    with pytest.raises(ValueError, match="add up to 36.1"):
        hyy_simulation.catalogue(cfg)
    cfg = make_cfg()
    cfg["samples"]["ggH"]["process"] = "bbH"
    with pytest.raises(ValueError, match="bbH"):
        hyy_simulation.catalogue(cfg)
    cfg = make_cfg()
    cfg["samples"]["data"]["files"][0]["name"] = "sim_data17_periodX"
    with pytest.raises(ValueError, match="run_ranges"):
        SIMULATION.simulate_file(cfg, "sim_data17_periodX", Path("/nonexistent/never.root"))
    with pytest.raises(KeyError, match="not a simulated file of the sample catalogue"):
        SIMULATION.simulate_file(make_cfg(), "sim_nothing", Path("/nonexistent/never.root"))


def test_settings_fill_defaults_and_name_wrong_keys():
    s = hyy_simulation.settings({})
    assert s["higgs_mass"] == 125.0 and s["xsec_pb"]["ggH"] == 0.110 and s["continuum"]["mass_min"] == 95.0
    merged = hyy_simulation.settings({"simulate": {"resolution": {"tail_fraction": 0.2}}})
    assert merged["resolution"]["tail_fraction"] == 0.2
    assert merged["resolution"]["sampling_barrel"] == s["resolution"]["sampling_barrel"]
    own = hyy_simulation.settings({"simulate": {"run_ranges": {"data17_periodX": [1, 2]}}})
    assert own["run_ranges"] == {"data17_periodX": [1, 2]}  # replaces the default table as a whole
    with pytest.raises(config.ConfigError, match="simulate.xsec_pb"):
        hyy_simulation.settings({"simulate": {"xsec_pb": {"bbH": 1.0}}})
    with pytest.raises(config.ConfigError, match="mass_max"):
        hyy_simulation.settings({"simulate": {"continuum": {"mass_min": 150, "mass_max": 120}}})


def test_cli_generates_one_file(tmp_path):
    from colliderflow import cli

    settings = json.dumps({"lumi_fb": 36.1, "samples": SAMPLES,
                           "simulate": {"data_events": 2000, "signal_mc_events": 500, "background_mc_events": 500}})
    out = tmp_path / "x" / "data.root"
    assert cli.main(["simulate", "--settings", settings, "--file", "sim_data15_periodD", "--out", str(out)]) == 0
    assert uproot.open(out)["analysis"].num_entries > 0
    assert cli.main(["simulate", "--settings", settings, "--file", "sim_data15_periodD"]) == 2


def test_empty_data_file_still_has_the_schema(tmp_path):
    cfg = make_cfg(data_events=0, signal_strength=0.0)
    summary = SIMULATION.simulate_file(cfg, "sim_data15_periodD", tmp_path / "empty.root")
    tree = uproot.open(tmp_path / "empty.root")["analysis"]
    assert summary["written"] == tree.num_entries == 0
    assert set(tree.keys()) == set(atlas2025.branch_dtypes())


def test_stage_refuses_an_analysis_without_simulation(monkeypatch):
    class NoSimulation:
        simulation = None

    monkeypatch.setattr(simulate.analyses, "get", lambda name: NoSimulation())
    with pytest.raises(ValueError, match="'bare' has no embedded simulation"):
        simulate.simulation_of({"analysis": "bare"})
