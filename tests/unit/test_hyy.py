"""The H->yy analysis module on hand-made events where the answer is known."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
import vector
from hyy_fixtures import as_events, build_branches, make_cfg

from colliderflow import analyses
from colliderflow.columnar import delta_phi, top_two

HYY = analyses.get("hyy")


def photon(pt, eta, phi, **flags):
    return {"pt": pt, "eta": eta, "phi": phi, **flags}


def pair_for_mass(m, pt1=None, pt2=None, eta1=0.3, phi1=0.0):
    """Two massless photons with invariant mass m: pt1 = pt2 = m/2 back to back unless given."""
    pt1 = m / 2 if pt1 is None else pt1
    pt2 = m / 2 if pt2 is None else pt2
    # m^2 = 2 pt1 pt2 (cosh(deta) - cos(dphi)); back to back in phi, solve for deta
    deta = math.acosh(m**2 / (2 * pt1 * pt2) - 1.0)
    return [photon(pt1, eta1, phi1), photon(pt2, eta1 - deta, phi1 + math.pi)]


def run_selection(events_list, cfg=None, is_mc=False):
    cfg = cfg or make_cfg()
    events = as_events(build_branches(events_list))
    selection, cut_order, derived = HYY.select(events, cfg, is_mc)
    return events, selection, cut_order, derived


def passed(selection, cut_order, upto):
    """Events passing every cut up to and including ``upto``."""
    names = cut_order[: cut_order.index(upto) + 1]
    return selection.all(*names)


def test_registry_gives_the_analysis_object_and_names_unknown_analyses():
    assert isinstance(HYY, analyses.Analysis) and HYY.name == "hyy"
    assert analyses.get("hyy") is HYY, "one object per analysis"
    assert "hyy" in analyses.available()
    with pytest.raises(KeyError, match="unknown analysis 'zz'"):
        analyses.get("zz")


def test_branches_follow_the_config():
    cfg = make_cfg(selection={"trigger": ["trigP", "trigDP"], "photon_candidate_id": "none"}, leptons={"id": "tight"})
    names = HYY.branches(cfg)
    assert {"trigP", "trigDP", "lep_isTightID", "photon_isTightID"} <= set(names)
    assert "photon_isLooseID" not in names and "lep_isMediumID" not in names
    assert len(names) == len(set(names))


def test_crack_and_eta_acceptance_define_the_candidates():
    events = [
        # leading photon in the crack: the pair is photons 2 and 3
        {"photons": [photon(90, 1.45, 0.0), *pair_for_mass(125)]},
        # two photons, one in the crack: no pair
        {"photons": [photon(90, -1.40, 0.0), photon(60, 0.1, 3.0)]},
        # one photon beyond |eta| < 2.37: no pair
        {"photons": [photon(90, 2.40, 0.0), photon(60, 0.1, 3.0)]},
        # just outside the crack on both sides: a pair
        {"photons": [photon(70, 1.36, 0.0), photon(60, -1.53, 3.0)]},
    ]
    _, selection, cut_order, derived = run_selection(events)
    assert passed(selection, cut_order, "two_photons").tolist() == [True, False, False, True]
    # the pair of event 0 is the second and third photon (flat indices 1 and 2)
    assert derived["index"][:, 0].tolist() == [1, 2]
    assert derived["m_yy"][0] == pytest.approx(125.0, rel=1e-5)


def test_pair_is_the_two_leading_candidates_whatever_the_stored_order():
    events = [{"photons": [photon(30, 0.1, 0.0), photon(80, 0.2, 1.0), photon(50, 0.3, 2.0)]}]
    _, _, _, derived = run_selection(events)
    assert derived["index"][:, 0].tolist() == [1, 2]  # 80 then 50 GeV


def test_tight_id_is_required_of_the_pair_without_promoting_a_third_photon():
    # ATLAS: the pair is chosen among loose candidates, then both must be tight
    events = [
        {"photons": [photon(80, 0.1, 0.0, isTightID=False), photon(60, -0.5, 3.0), photon(50, 0.7, 1.5)]},
        {"photons": [photon(80, 0.1, 0.0, isLooseID=False, isTightID=False), *pair_for_mass(125)]},
    ]
    _, selection, cut_order, derived = run_selection(events)
    assert passed(selection, cut_order, "two_photons").tolist() == [True, True]
    assert passed(selection, cut_order, "photon_id").tolist() == [False, True]
    # a photon failing the loose candidate ID is not a candidate: event 1's pair is photons 2-3
    assert derived["index"][:, 1].tolist() == [4, 5]


def test_candidate_id_none_accepts_photons_without_loose_id():
    events = [{"photons": [photon(80, 0.1, 0.0, isLooseID=False), photon(60, -0.5, 3.0)]}]
    _, default, order, _ = run_selection(events)
    _, relaxed, _, _ = run_selection(events, make_cfg(selection={"photon_candidate_id": "none"}))
    assert not passed(default, order, "two_photons")[0]
    assert passed(relaxed, order, "two_photons")[0]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("flags", [True, False, True]), ("cones", [True, True, False]), ("none", [True, True, True])],
)
def test_isolation_modes(mode, expected):
    events = [
        {"photons": pair_for_mass(125)},
        # fails the tight-isolation flag but has small cones
        {"photons": [photon(62.5, 0.3, 0.0, isTightIso=False), pair_for_mass(125)[1]]},
        # passes the flag but ptcone20/pT = 5/62.5 = 0.08 > 0.065
        {"photons": [photon(62.5, 0.3, 0.0, ptcone20=5.0), pair_for_mass(125)[1]]},
    ]
    _, selection, cut_order, _ = run_selection(events, make_cfg(selection={"photon_isolation": mode}))
    assert passed(selection, cut_order, "isolation").tolist() == expected


def test_topoetcone_cut_in_cones_mode():
    events = [{"photons": [photon(62.5, 0.3, 0.0, topoetcone40=4.0), pair_for_mass(125)[1]]}]  # 0.064
    _, loose, order, _ = run_selection(events, make_cfg(selection={"photon_isolation": "cones"}))
    _, tight, _, _ = run_selection(events, make_cfg(selection={"photon_isolation": "cones", "topoetcone40_max": 0.06}))
    assert passed(loose, order, "isolation")[0] and not passed(tight, order, "isolation")[0]


def test_pt_over_myy_and_mass_window():
    events = [
        {"photons": pair_for_mass(125)},  # 0.5 and 0.5: passes
        {"photons": pair_for_mass(125, pt1=100.0, pt2=30.0)},  # subleading 0.24 < 0.25
        {"photons": pair_for_mass(125, pt1=40.0, pt2=95.0)},  # ordered by pT: 95/125, 40/125 = 0.32
        {"photons": pair_for_mass(100)},  # below the window
        {"photons": pair_for_mass(165)},  # above the window
    ]
    _, selection, cut_order, derived = run_selection(events)
    np.testing.assert_allclose(derived["m_yy"], [125, 125, 125, 100, 165], rtol=1e-5)
    assert passed(selection, cut_order, "pt_over_myy").tolist() == [True, False, True, True, True]
    assert passed(selection, cut_order, "mass_window").tolist() == [True, False, True, False, False]


def test_trigger_is_an_or_of_the_configured_branches():
    events = [{"photons": pair_for_mass(125), "trigP": False}, {"photons": pair_for_mass(125)}]
    _, selection, _, _ = run_selection(events)
    assert selection.all("trigger").tolist() == [False, True]
    _, untriggered, _, _ = run_selection(events, make_cfg(selection={"trigger": []}))
    assert untriggered.all("trigger").tolist() == [True, True]


def test_cutflow_masks_are_cumulative_and_monotonic():
    events = [{"photons": pair_for_mass(m)} for m in (90, 110, 125, 150, 170)] + [{"photons": []}]
    _, selection, cut_order, _ = run_selection(events)
    counts = [np.count_nonzero(selection.all(*cut_order[:i])) for i in range(1, len(cut_order) + 1)]
    assert counts == sorted(counts, reverse=True)
    assert counts[-1] == 3


def columns_for(events_list, cfg=None, is_mc=False, sample="data"):
    cfg = cfg or make_cfg()
    events, selection, cut_order, derived = run_selection(events_list, cfg, is_mc)
    mask = selection.all(*cut_order)
    weight = HYY.weights(events, cfg, is_mc).weight()
    return HYY.columns(events, mask, cfg, sample, weight, derived).to_pydict()


def test_jets_overlap_removal_jvt_order_and_btag():
    phi_photon = 0.0
    photons = pair_for_mass(125, eta1=0.3, phi1=phi_photon)
    jets = [
        {"pt": 40.0, "eta": 0.3 + 0.2, "phi": phi_photon},  # dR = 0.2 from the leading photon: removed
        {"pt": 30.0, "eta": 1.0, "phi": 1.5, "jvt": False},  # central, low pT, fails JVT: removed
        {"pt": 70.0, "eta": 1.0, "phi": -1.5, "jvt": False},  # fails JVT but pT > 60: kept
        {"pt": 35.0, "eta": 3.0, "phi": 2.0, "jvt": False},  # forward, JVT not applied: kept
        {"pt": 45.0, "eta": -0.5, "phi": 1.0, "btag_quantile": 4},  # b-tagged: kept
        {"pt": 20.0, "eta": 0.0, "phi": 2.5},  # below 25 GeV: removed
        {"pt": 50.0, "eta": 2.8, "phi": -2.5, "btag_quantile": 5},  # tagged but outside |eta| < 2.5
    ]
    out = columns_for([{"photons": photons, "jets": jets}])
    assert out["n_jets"] == [4]
    assert out["jet_pt"] == [[70.0, 50.0, 45.0, 35.0]]  # pT-ordered
    assert out["jet_btag"] == [[1.0, 5.0, 4.0, 1.0]]
    assert out["n_bjets"] == [1]
    assert out["j1_pt"] == [70.0] and out["j2_pt"] == [50.0]
    assert out["ht"][0] == pytest.approx(200.0)
    j1 = vector.obj(pt=70.0, eta=1.0, phi=-1.5, E=70.0 * math.cosh(1.0))
    j2 = vector.obj(pt=50.0, eta=2.8, phi=-2.5, E=50.0 * math.cosh(2.8))
    assert out["m_jj"][0] == pytest.approx((j1 + j2).mass, rel=1e-5)
    assert out["deta_jj"][0] == pytest.approx(1.8, rel=1e-5)
    assert out["dphi_jj"][0] == pytest.approx(1.0, rel=1e-5)


def test_missing_jets_give_nan_and_empty_lists():
    out = columns_for([{"photons": pair_for_mass(125), "jets": [{"pt": 30.0, "eta": 3.5, "phi": 2.0}]}])
    assert out["n_jets"] == [1] and out["jet_pt"] == [[30.0]]
    assert out["j1_pt"] == [30.0]
    for name in ("j2_pt", "j2_eta", "j2_phi", "j2_e", "m_jj", "deta_jj", "dphi_jj"):
        assert math.isnan(out[name][0]), name


def test_leptons_need_id_and_are_removed_near_photons():
    photons = pair_for_mass(125, eta1=0.3, phi1=0.0)
    leptons = [
        {"pt": 30.0, "eta": 0.35, "phi": 0.05},  # on top of the leading photon
        {"pt": 25.0, "eta": -1.0, "phi": 1.5, "isMediumID": False},
        {"pt": 15.0, "eta": 1.0, "phi": -1.5},
        {"pt": 40.0, "eta": -2.0, "phi": 1.5},
        {"pt": 8.0, "eta": 0.0, "phi": 2.0},  # below 10 GeV
    ]
    out = columns_for([{"photons": photons, "leptons": leptons}])
    assert out["n_leptons"] == [2]
    assert out["lep_pt"] == [[40.0, 15.0]]


def test_photon_columns_and_lists_agree():
    out = columns_for([{"photons": [photon(30, 0.1, 0.0), *pair_for_mass(125)], "met": 33.0}])
    assert out["photon_pt"][0] == pytest.approx([out["y1_pt"][0], out["y2_pt"][0]])
    assert out["photon_eta"][0] == pytest.approx([out["y1_eta"][0], out["y2_eta"][0]])
    assert out["y1_pt"][0] == pytest.approx(62.5)
    assert out["y1_pt_over_myy"][0] == pytest.approx(0.5, rel=1e-5)
    assert out["y1_isTightID"] == [True] and out["y2_isTightIso"] == [True]
    assert out["met"] == [33.0]
    assert out["weight"] == [1.0]
    assert out["sample"] == ["data"]


def test_columns_have_the_schema_also_when_nothing_passes():
    cfg = make_cfg()
    events, selection, cut_order, derived = run_selection([{"photons": pair_for_mass(90)}], cfg)
    mask = selection.all(*cut_order)
    table = HYY.columns(events, mask, cfg, "data", HYY.weights(events, cfg, False).weight(), derived)
    assert table.num_rows == 0
    assert table.schema.equals(HYY.schema)
    assert HYY.empty_table().schema.equals(HYY.schema)
    assert HYY.schema.field("weight").type == pa.float64()
    assert HYY.schema.field("eventNumber").type == pa.uint64()
    assert HYY.schema.field("jet_pt").type == pa.list_(pa.float32())


def _explicit_costheta_cs(p1, p2, beam_energy=6500.0):
    """cos theta* in the Collins-Soper frame by explicit boost: the angle between photon 1 and
    the bisector of the beam and minus the other beam, in the diphoton rest frame."""
    system = p1 + p2
    beam_a = vector.obj(px=0.0, py=0.0, pz=beam_energy, E=beam_energy)
    beam_b = vector.obj(px=0.0, py=0.0, pz=-beam_energy, E=beam_energy)
    photon_rest = p1.boostCM_of(system)
    a_rest = beam_a.boostCM_of(system).to_Vector3D()
    b_rest = beam_b.boostCM_of(system).to_Vector3D()
    axis = a_rest.unit() - b_rest.unit()
    axis = axis.unit()
    return photon_rest.to_Vector3D().unit().dot(axis)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_costheta_cs_matches_an_explicit_boost(seed):
    rng = np.random.default_rng(seed)
    events, expected = [], []
    while len(events) < 5:
        kin = [(rng.uniform(40, 120), rng.uniform(-2.3, 2.3), rng.uniform(-math.pi, math.pi)) for _ in range(2)]
        kin.sort(reverse=True)
        if any(1.37 < abs(eta) < 1.52 for _, eta, _ in kin):
            continue
        p1, p2 = (vector.obj(pt=pt, eta=eta, phi=phi, E=pt * math.cosh(eta)) for pt, eta, phi in kin)
        m = (p1 + p2).mass
        if not (105 < m < 160 and kin[0][0] / m > 0.35 and kin[1][0] / m > 0.25):
            continue
        events.append({"photons": [photon(pt, eta, phi) for pt, eta, phi in kin]})
        expected.append(abs(_explicit_costheta_cs(p1, p2)))
    out = columns_for(events)
    np.testing.assert_allclose(out["costheta_cs"], expected, rtol=2e-4, atol=2e-5)


def test_diphoton_system_and_ptt():
    # photons at (px, py) = (50, 10) and (-50, 10): thrust axis along x, pT_yy = (0, 20) -> ptt = 20
    events = [{"photons": [photon(math.hypot(50, 10), 0.8, math.atan2(10, 50)),
                           photon(math.hypot(50, 10), -0.4, math.atan2(10, -50))]}]
    out = columns_for(events, make_cfg(observable={"range": [0.0, 1e4]}))
    assert out["pt_yy"][0] == pytest.approx(20.0, rel=1e-5)
    assert out["ptt_yy"][0] == pytest.approx(20.0, rel=1e-5)
    assert out["phi_yy"][0] == pytest.approx(math.pi / 2, rel=1e-5)
    assert out["deta_yy"][0] == pytest.approx(1.2, rel=1e-5)
    assert out["dphi_yy"][0] == pytest.approx(math.pi - 2 * math.atan2(10, 50), rel=1e-5)
    p1 = vector.obj(pt=math.hypot(50, 10), eta=0.8, phi=math.atan2(10, 50), E=math.hypot(50, 10) * math.cosh(0.8))
    p2 = vector.obj(pt=math.hypot(50, 10), eta=-0.4, phi=math.atan2(10, -50), E=math.hypot(50, 10) * math.cosh(0.4))
    assert out["y_yy"][0] == pytest.approx((p1 + p2).rapidity, rel=1e-5)
    assert out["m_yy"][0] == pytest.approx((p1 + p2).mass, rel=1e-5)


def test_mc_weight_formula_keeps_the_sign():
    cfg = make_cfg()
    mc = {"xsec": 0.11, "filteff": 0.9, "kfac": 1.2, "sum_of_weights": 2.0e5, "ScaleFactor_PHOTON": 0.97,
          "ScaleFactor_PILEUP": 1.03}
    events = as_events(build_branches([{**mc, "mcWeight": 2.5}, {**mc, "mcWeight": -1.5}]))
    weight = HYY.weights(events, cfg, is_mc=True).weight()
    f32 = np.float32
    expected = [
        float(f32(w)) * float(f32(0.97)) * float(f32(1.03)) * float(f32(0.11)) * float(f32(0.9))
        * float(f32(1.2)) * 36.1e3 / 2.0e5
        for w in (2.5, -1.5)
    ]
    np.testing.assert_allclose(weight, expected, rtol=1e-12)
    assert weight[1] < 0


def test_data_weight_is_one_and_kind_mismatches_are_errors():
    cfg = make_cfg()
    data = as_events(build_branches([{}, {}]))
    assert HYY.weights(data, cfg, is_mc=False).weight().tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="says this is MC but the file has xsec == 0"):
        HYY.weights(data, cfg, is_mc=True)
    mc = as_events(build_branches([{"xsec": 0.1, "filteff": 1.0, "kfac": 1.0}]))
    with pytest.raises(ValueError, match="says this is data"):
        HYY.weights(mc, cfg, is_mc=False)


def test_top_two_handles_empty_events_ties_and_single_candidates():
    offsets = np.array([0, 0, 3, 4, 6])
    pt = np.array([10.0, 30.0, 30.0, 50.0, 5.0, 7.0], dtype=np.float32)
    accepted = np.array([True, True, True, True, False, True])
    index, valid, n = top_two(pt, accepted, offsets)
    assert n.tolist() == [0, 3, 1, 1]
    assert valid.tolist() == [[False, True, True, True], [False, True, False, False]]
    assert index[:, 1].tolist() == [1, 2]  # a tie goes to the photon stored first
    assert index[0, 2] == 3 and index[0, 3] == 5


def test_delta_phi_wraps():
    np.testing.assert_allclose(delta_phi(np.array([3.0, -3.0, 0.5]), np.array([-3.0, 3.0, 0.2])),
                               [6.0 - 2 * math.pi, 2 * math.pi - 6.0, 0.3], atol=1e-12)
