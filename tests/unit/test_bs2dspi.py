"""The Bs -> Ds pi analysis (LHCb-style plug-in) and the generic pieces it needs: the one-sided
sideband of the classifier background and the optimisation's figures of merit."""

import dataclasses
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot

from colliderflow import analyses, config
from colliderflow.analyses import Observable
from colliderflow.analyses.bs2dspi.analysis import best_candidate, candidates_per_event
from colliderflow.ml import data
from colliderflow.ntuples import lhcb
from colliderflow.optimise import best_categories
from colliderflow.stats.significance import (
    asimov_z, figure_of_merit, s_over_sqrt_b, s_over_sqrt_s_plus_b, sideband_transfer_factor, z_curve)

REPO = Path(__file__).resolve().parents[2]
OBSERVABLE = Observable("B_M", "m", "MeV", (5200.0, 5800.0), (5320.0, 5420.0), 10.0)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return config.load(REPO / "config" / "test-bs2dspi.yaml")


# ----------------------------------------------------------------------- best candidate


def test_best_candidate_keeps_one_per_event_among_the_passing():
    event = np.array([7, 7, 7, 3, 3, 9, 5, 5])
    pt = np.array([10., 30., 20., 5., 5., 1., 8., 9.])
    passed = np.array([1, 0, 1, 1, 1, 1, 0, 0], dtype=bool)
    # event 7: 30 failed, so 20; event 3: a tie, the first; event 9: its only one; event 5: none passed
    np.testing.assert_array_equal(best_candidate(event, pt, passed),
                                  [False, False, True, True, False, True, False, False])
    np.testing.assert_array_equal(best_candidate(event, pt, passed, highest=False),
                                  [True, False, False, True, False, True, False, False])
    np.testing.assert_array_equal(candidates_per_event(event, passed), [2, 0, 2, 2, 2, 1, 0, 0])
    assert not best_candidate(event, pt, np.zeros(8, bool)).any()


# ----------------------------------------------------------------------- the selection


def _chunk(**overrides):
    """Four candidates of three events, passing every cut unless overridden."""
    n = 4
    columns = {name: np.ones(n) for name in lhcb.BRANCHES}
    columns.update(eventNumber=np.array([1, 1, 2, 3], dtype=np.uint64), runNumber=np.full(n, 5),
                   B_M=np.array([5370., 5380., 5500., 5370.]), B_PT=np.array([5000., 9000., 4000., 4000.]),
                   Ds_M=np.full(n, 1968.0), Kplus_PIDK=np.full(n, 20.), Kminus_PIDK=np.full(n, 20.),
                   pi_PIDK=np.full(n, -20.), B_DIRA_OWNPV=np.full(n, 0.99999))
    columns.update(overrides)
    return ak.Array({k: np.asarray(v) for k, v in columns.items()})


def test_selection_cut_order_and_best_candidate(cfg):
    analysis = analyses.get("bs2dspi")
    events = _chunk(Kplus_PIDK=np.array([20., 20., 20., 0.]),  # event 3's kaon fails PID
                    Ds_M=np.array([1968., 1968., 2100., 1968.]))  # event 2's Ds outside the window
    selection, order, derived = analysis.select(events, cfg, is_mc=False)
    assert order == ("trigger", "pid", "ds_mass", "mass_range", "best_candidate")
    assert selection.all(*order).tolist() == [False, True, False, False]  # event 1: the higher B_PT
    weight = analysis.weights(events, cfg, is_mc=False).weight()
    table = analysis.columns(events, selection.all(*order), cfg, "data", weight, derived)
    assert table.num_rows == 1 and table.column("B_M").to_pylist() == [5380.0]
    assert table.column("n_candidates").to_pylist() == [2] and table.column("weight").to_pylist() == [1.0]
    # MC candidates weigh selection.mc_candidate_weight, data 1
    mc_weight = analysis.weights(events, cfg, is_mc=True).weight()
    np.testing.assert_allclose(mc_weight, cfg["selection"]["mc_candidate_weight"])


def test_simulated_file_is_an_lhcb_decay_tree(cfg, tmp_path):
    analysis = analyses.get("bs2dspi")
    small = {**cfg, "simulate": {**cfg["simulate"], "yields_per_fb": {"signal": 500.0, "partreco": 100.0,
                                                                          "combinatorial": 2000.0}}}
    summary = analysis.simulation.simulate_file(small, "sim_lhcb_2011_magdown", tmp_path / "data.root")
    tree = uproot.open(tmp_path / "data.root")["DecayTree"]
    assert set(tree.keys()) == set(lhcb.BRANCHES)  # data: no truth branches
    arrays = tree.arrays(["eventNumber", "nCandidate", "B_M", "B_FDCHI2_OWNPV", "B_DIRA_OWNPV"], library="np")
    assert summary["written"] == len(arrays["B_M"]) > sum(summary["generated"].values())  # extra candidates
    events, counts = np.unique(arrays["eventNumber"], return_counts=True)
    assert counts.max() == 2 and (arrays["nCandidate"] == 1).sum() == (counts == 2).sum()
    assert np.median(arrays["B_M"]) > 1000  # MeV
    assert np.all(arrays["B_DIRA_OWNPV"] <= 1)


# ----------------------------------------------------------------------- one-sided sidebands


def test_upper_sideband_with_a_gap():
    upper = dataclasses.replace(OBSERVABLE, sideband="upper", sideband_gap=180.0)
    assert upper.sideband_intervals() == [(5600.0, 5800.0)]
    lower = dataclasses.replace(OBSERVABLE, sideband="lower", sideband_gap=20.0)
    assert lower.sideband_intervals() == [(5200.0, 5300.0)]
    assert OBSERVABLE.sideband_intervals() == [(5200.0, 5320.0), (5420.0, 5800.0)]
    # around another window (the optimisation's signal interval), with the same choice
    assert upper.sideband_intervals((5345.0, 5390.0)) == [(5570.0, 5800.0)]
    m = np.array([5250., 5350., 5500., 5599.9, 5600., 5799.9, 5800.])
    frame = pd.DataFrame({"B_M": np.tile(m, 2), "kind": np.repeat(["data", "signal"], len(m))})
    np.testing.assert_array_equal(data.background_mask(frame, {"background": "sidebands"}, upper),
                                  np.r_[[False] * 4, True, True, False, [False] * len(m)])
    with pytest.raises(ValueError, match="observable.sideband_gap"):
        dataclasses.replace(upper, sideband_gap=400.0).sideband_intervals()


def test_transfer_factor_from_the_upper_sideband_only():
    """An exponential known exactly: the window / upper-sideband ratio of its integrals."""
    rng = np.random.default_rng(3)
    slope, lo, hi = 0.004, 5200.0, 5800.0
    m = lo - np.log1p(-rng.uniform(size=400_000) * -np.expm1(-slope * (hi - lo))) / slope
    w = np.ones_like(m)
    upper = [(5600.0, 5800.0)]

    def integral(a, b):
        return np.exp(-slope * a) - np.exp(-slope * b)

    expected = integral(5320.0, 5420.0) / integral(5600.0, 5800.0)
    assert sideband_transfer_factor(m, w, (5320.0, 5420.0), (lo, hi), upper) == pytest.approx(expected, rel=0.03)
    # both sidebands (the default) give the ratio to both
    both = integral(5320.0, 5420.0) / (integral(lo, 5320.0) + integral(5420.0, hi))
    assert sideband_transfer_factor(m, w, (5320.0, 5420.0), (lo, hi)) == pytest.approx(both, rel=0.01)


# ----------------------------------------------------------------------- figures of merit


def test_figures_of_merit_by_hand():
    s, b = np.array([100.0, 9.0, 0.0, 5.0]), np.array([300.0, 16.0, 10.0, 0.0])
    np.testing.assert_allclose(s_over_sqrt_s_plus_b(s, b), [100 / 20, 9 / 5, 0.0, 5 / np.sqrt(5)])
    np.testing.assert_allclose(s_over_sqrt_b(s, b), [100 / np.sqrt(300), 9 / 4, 0.0, 0.0])
    assert figure_of_merit("asimov") is asimov_z
    assert figure_of_merit("s_over_sqrt_s_plus_b") is s_over_sqrt_s_plus_b
    with pytest.raises(ValueError, match="optimise.figure_of_merit"):
        figure_of_merit("punzi")


def test_fom_curve_and_best_category_by_hand():
    """Two thresholds: (s, b) = (100, 100) loose and (60, 10) tight: S/sqrt(S+B) = 7.07 and 7.17,
    so the tight one wins, and the curve holds exactly these values."""
    score_s, weight_s = np.array([0.2, 0.9]), np.array([40.0, 60.0])
    score_b, weight_b = np.array([0.2, 0.9]), np.array([90.0, 10.0])
    thresholds = np.array([0.0, 0.5])
    curve = z_curve(score_s, weight_s, score_b, weight_b, thresholds, fom=s_over_sqrt_s_plus_b)
    np.testing.assert_allclose(curve["z"], [100 / np.sqrt(200), 60 / np.sqrt(70)])
    cats = best_categories(score_s, weight_s, score_b, weight_b, thresholds, 1, 0.0, fom=s_over_sqrt_s_plus_b)
    assert cats["edges"] == [0.5, 1.0] and cats["z"] == pytest.approx([60 / np.sqrt(70)])


def test_config_defaults_of_the_analysis(cfg):
    assert cfg["observable"]["sideband"] == "upper" and cfg["observable"]["sideband_gap"] == 180.0
    assert cfg["optimise"]["figure_of_merit"] == "s_over_sqrt_s_plus_b"
    assert cfg["fit"]["signal_shape"] == "dscb" and cfg["fit"]["mass_value"] == 5366.9
    assert cfg["fit"]["width_floating"] and cfg["fit"]["sweights"] and cfg["optimise"]["window"] == "fitted_peak"
    assert "B_M" not in cfg["ml"]["features"]
    default = config.load(REPO / "config" / "config.yaml")
    assert default["observable"]["sideband"] == "both" and default["optimise"]["figure_of_merit"] == "asimov"




def test_truth_is_the_true_signal_over_the_mc_expectation(cfg):
    from colliderflow.analyses.bs2dspi.simulation import Bs2DspiSimulation

    truth = Bs2DspiSimulation().truth(cfg)
    # the test config's weight matches its simulation: 2000 per fb^-1 x 1 fb^-1 / 10000 MC candidates
    assert truth == {"mu": pytest.approx(1.0), "mass": 5366.9, "width": 20.0, "signal_generated": 2000.0}
    # a weight twice the simulation's: the MC expects twice the true signal, so mu_true is one half
    doubled = {**cfg, "selection": {**cfg["selection"], "mc_candidate_weight": 0.4}}
    assert Bs2DspiSimulation().truth(doubled)["mu"] == pytest.approx(0.5)
    stronger = {**cfg, "simulate": {**cfg["simulate"], "signal_strength": 1.5}}
    assert Bs2DspiSimulation().truth(stronger)["mu"] == pytest.approx(1.5)


def test_a_dscb_fits_the_simulated_peak_core_where_a_gaussian_is_widened_by_the_tail(cfg):
    from colliderflow.analyses.bs2dspi.simulation import b_mass
    from colliderflow.stats.fit import fit_shape
    from colliderflow.stats.shapes import get_shape

    m = b_mass(np.random.default_rng(1), 20000, "signal", cfg["simulate"])
    width = {name: fit_shape(get_shape(name, 5200.0, 5800.0), m).values["sigma"] for name in ("gauss", "dscb")}
    assert width["dscb"] == pytest.approx(cfg["simulate"]["resolution"], rel=0.04)
    assert width["gauss"] > 1.15 * cfg["simulate"]["resolution"]
