"""The H -> ZZ* -> 4l analysis: selection on hand-built events, the decay angles, and the
real exactly4lep data file through the generic skim (and its file:// config entry)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import vector
import yaml

from colliderflow import analyses, config, fetch, skim
from colliderflow.analyses.hzz4l import analysis as hzz4l

REPO = Path(__file__).resolve().parents[2]
REAL_DATA = REPO.parent / "shared" / "data" / "atlas-opendata"
REAL_4LEP = REAL_DATA / "ODEO_FEB2025_v0_exactly4lep_data15_periodD.exactly4lep.root"
REAL_FILE_CONFIG = REPO / "config" / "hzz4l-real-file.yaml"
MZ = 91.1876


def make_cfg(**selection) -> dict:
    """A validated hzz4l config whose observable range lets every four-lepton mass through."""
    return config.validate({
        "analysis": "hzz4l",
        "selection": selection,
        "observable": {"range": [0.0, 2000.0], "window": [115.0, 130.0]},
        "samples": {"ggH": {"kind": "signal", "process": "ggH", "files": [{"name": "x"}]}},
    })


def lep(flavour, charge, pt, eta, phi, **fields) -> dict:
    """One massless lepton (e = pT cosh eta) passing every quality criterion unless overridden."""
    out = {"type": {"e": 11, "mu": 13}[flavour], "charge": charge, "pt": pt, "eta": eta, "phi": phi,
           "e": pt * np.cosh(eta), "ptvarcone30": 0.0, "topoetcone20": 0.0, "z0": 0.0, "d0sig": 0.0,
           "isLooseID": True, "isMediumID": True, "isTightID": True, "isLooseIso": True, "isTightIso": True,
           "isTrigMatched": True}
    out.update(fields)
    return out


def make_events(events: list[dict]) -> ak.Array:
    """Events as the skim reads them: {"leptons": [...], optional "jets", "trigE", "trigM"}."""
    columns: dict[str, list] = {}
    for number, event in enumerate(events):
        row = {"eventNumber": number, "runNumber": 284500, "channelNumber": 345060,
               "trigE": event.get("trigE", True), "trigM": event.get("trigM", False),
               "met": 10.0, "met_phi": 0.5}
        for name in ("type", "charge", "pt", "eta", "phi", "e", "ptvarcone30", "topoetcone20", "z0", "d0sig",
                     "isLooseID", "isMediumID", "isTightID", "isLooseIso", "isTightIso", "isTrigMatched"):
            row[f"lep_{name}"] = [lepton[name] for lepton in event["leptons"]]
        jets = event.get("jets", [])
        for name in ("pt", "eta", "phi", "e"):
            row[f"jet_{name}"] = [float(jet[name]) for jet in jets]
        row["jet_btag_quantile"] = [1 for _ in jets]
        row["jet_jvt"] = [True for _ in jets]
        for key, value in row.items():
            columns.setdefault(key, []).append(value)
    arrays = {key: ak.Array(values) for key, values in columns.items()}
    for name in ("jet_pt", "jet_eta", "jet_phi", "jet_e"):  # typed even when every event has no jet
        arrays[name] = ak.values_astype(arrays[name], np.float32)
    arrays["jet_btag_quantile"] = ak.values_astype(arrays["jet_btag_quantile"], np.int32)
    arrays["jet_jvt"] = ak.values_astype(arrays["jet_jvt"], bool)
    for name in ("lep_pt", "lep_eta", "lep_phi", "lep_e", "lep_ptvarcone30", "lep_topoetcone20", "lep_z0",
                 "lep_d0sig"):
        arrays[name] = ak.values_astype(arrays[name], np.float32)
    for name in ("lep_type", "lep_charge"):
        arrays[name] = ak.values_astype(arrays[name], np.int32)
    return ak.Array(arrays)


def first_failure(selection, n: int) -> list:
    """Per event, the first cut of the cut order it fails (None if it passes them all)."""
    out = [None] * n
    passed = np.ones(n, dtype=bool)
    for cut in hzz4l.CUT_ORDER:
        passed_now = passed & selection.all(cut)
        for i in np.flatnonzero(passed & ~passed_now):
            out[i] = cut
        passed = passed_now
    return out


def pair_mass(a: dict, b: dict) -> float:
    """Invariant mass of two massless leptons, written independently of the analysis code."""
    return float(np.sqrt(2 * a["pt"] * b["pt"] * (np.cosh(a["eta"] - b["eta"]) - np.cos(a["phi"] - b["phi"]))))


def expected_pairing(leptons: list[dict]) -> tuple[float, float]:
    """(m_Z1, m_Z2) by brute force over the three pairings (ATLAS rule)."""
    best = None
    for first in itertools.combinations(range(4), 2):
        second = tuple(i for i in range(4) if i not in first)
        pairs = [(leptons[i], leptons[j]) for i, j in (first, second)]
        if all(a["type"] == b["type"] and a["charge"] == -b["charge"] for a, b in pairs):
            m1, m2 = (pair_mass(a, b) for a, b in pairs)
            if best is None or abs(m1 - MZ) < abs(best[0] - MZ):
                best = (m1, m2)
    return best


# Four muons whose Z1 is *not* the leading pair: pairing {(0, 2), (1, 3)} has m_Z1 = 79.7 GeV,
# closer to m_Z than 66.6 GeV of the pairing {(0, 1), (2, 3)}.
def four_muons(**overrides):
    leptons = [lep("mu", +1, 50.0, 0.1, 0.0), lep("mu", -1, 40.0, -0.3, 1.6),
               lep("mu", -1, 30.0, 0.6, 3.0), lep("mu", +1, 20.0, 1.0, 1.0)]
    for index, fields in overrides.items():
        leptons[int(index[1:])].update(fields)
    return leptons


def flavours(leptons, kinds, charges=None):
    """The same kinematics with other flavours (and charges)."""
    out = []
    for k, lepton in enumerate(leptons):
        out.append(lep(kinds[k], charges[k] if charges else lepton["charge"], lepton["pt"], lepton["eta"],
                       lepton["phi"]))
    return out


def test_hzz4l_is_registered_with_its_schema_piece():
    analysis = analyses.get("hzz4l")
    assert isinstance(analysis, hzz4l.Hzz4lAnalysis)
    assert analysis.observable_column == "m_4l" and "m_4l" in analysis.schema.names
    assert analysis.scale_factors == ("ScaleFactor_ELE", "ScaleFactor_MUON", "ScaleFactor_LepTRIGGER")
    cfg = make_cfg()
    assert cfg["selection"]["lepton_pt_min"] == [20.0, 15.0, 10.0]
    assert cfg["fit"]["signal_shape"] == "dscb" and cfg["ml"]["mass_ratio_suffix"] == "_over_m4l"
    # no classifier input together with its m_4l-scaled twin, and never m_4l itself
    features = cfg["ml"]["features"]
    assert "m_4l" not in features
    assert not [f for f in features if f.endswith("_over_m4l") and f[: -len("_over_m4l")] in features]
    assert set(features) <= set(analysis.schema.names)
    assert {p.role for p in analysis.processes.values()} == {"signal", "background", "data"}
    assert set(analysis.branches(cfg)) >= {"lep_isLooseID", "lep_isMediumID", "lep_isLooseIso", "lep_isTrigMatched"}


def test_every_config_of_the_analysis_validates():
    for name in ("hzz4l.yaml", "test-hzz4l.yaml", "hzz4l-real-file.yaml", "atlas-2025-hzz4l.yaml"):
        cfg = config.load(REPO / "config" / name)
        assert cfg["analysis"] == "hzz4l"
        for sample, spec in cfg["samples"].items():
            assert spec["process"] in analyses.get("hzz4l").processes, (name, sample)


def test_selection_on_hand_built_events():
    muons = four_muons()
    cases = {
        "4mu, Z1 from the cross pairing": (muons, None),
        "2e2mu": (flavours(muons, ["mu", "e", "mu", "e"]), None),
        "ee and mumu both same-charge (total charge 0)": (
            flavours(muons, ["e", "mu", "mu", "e"], [+1, -1, -1, +1]), "sfos_pairs"),
        "4e with charges +++-": (flavours(muons, ["e"] * 4, [+1, +1, +1, -1]), "sfos_pairs"),
        "third lepton below 10 GeV": (four_muons(l2={"pt": 9.5}, l3={"pt": 8.0}), "lepton_pt"),
        "leading lepton below 20 GeV": (
            four_muons(l0={"pt": 19.0}, l1={"pt": 18.0}, l2={"pt": 17.0}, l3={"pt": 16.0}), "lepton_pt"),
        "electron at |eta| 2.5 is no candidate": (
            flavours(muons, ["e"] * 4)[:3] + [lep("e", +1, 20.0, 2.5, 1.0)], "four_leptons"),
        "muon at |eta| 2.5 is a candidate": (four_muons(l3={"eta": 2.5, "e": 20.0 * np.cosh(2.5)}), None),
        "a fifth lepton below 7 GeV is ignored": (muons + [lep("e", -1, 6.0, 0.0, 0.0)], None),
        "five candidates": (muons + [lep("e", -1, 8.0, 0.0, 0.0)], "four_leptons"),
        "no lepton matched to the trigger": (
            [dict(lepton, isTrigMatched=False) for lepton in muons], "trigger"),
        "muon failing medium ID": (four_muons(l1={"isMediumID": False}), "lepton_id"),
        "muon with d0 significance 4": (four_muons(l1={"d0sig": 4.0}), "impact_parameter"),
        "muon with |z0 sin theta| 0.6 mm": (four_muons(l1={"z0": 0.6 * np.cosh(-0.3)}), "impact_parameter"),
        "non-isolated muon": (four_muons(l3={"isLooseIso": False}), "isolation"),
        "Z2 below 12 GeV": ([lep("mu", +1, 45.5, 0.0, 0.0), lep("mu", -1, 45.5, 0.0, np.pi),
                             lep("mu", +1, 15.0, 0.5, 1.5), lep("mu", -1, 12.0, 0.5, 2.0)], "z2_mass"),
        "Z1 above 106 GeV": ([lep("e", +1, 60.0, 0.0, 0.0), lep("e", -1, 60.0, 0.0, np.pi),  # 120 GeV
                              lep("mu", +1, 30.0, 1.0, 1.5), lep("mu", -1, 20.0, 0.5, 0.5)], "z1_mass"),
        "e and mu within Delta R 0.2": (
            [lep("mu", +1, 50.0, 0.1, 0.0), lep("e", -1, 40.0, -0.3, 1.6),
             lep("mu", -1, 30.0, 0.6, 3.0), lep("e", +1, 20.0, 0.2, 0.12)], "separation"),
        "J/psi-like pair in the other pairing": (
            [lep("mu", +1, 50.0, 0.0, 0.0), lep("mu", -1, 45.0, 0.3, 2.9),
             lep("mu", +1, 15.0, 0.4, 3.01), lep("mu", -1, 25.0, -1.0, -1.5)], "separation"),
    }
    names = list(cases)
    events = make_events([{"leptons": cases[name][0]} for name in names])
    selection, cut_order, derived = hzz4l.select(events, make_cfg(), is_mc=True)
    assert cut_order == hzz4l.CUT_ORDER
    got = dict(zip(names, first_failure(selection, len(names))))
    assert got == {name: expected for name, (_, expected) in cases.items()}


def test_trigger_and_working_points_follow_the_config():
    muons = four_muons(l1={"isMediumID": False, "d0sig": 4.0})
    events = make_events([{"leptons": muons}, {"leptons": four_muons(), "trigE": False}])
    selection, _, _ = hzz4l.select(events, make_cfg(muon_id="loose", muon_d0sig_max=5.0), is_mc=True)
    assert first_failure(selection, 2) == [None, "trigger"]
    selection, _, _ = hzz4l.select(events, make_cfg(muon_id="loose", muon_d0sig_max=5.0, trigger=[]), is_mc=True)
    assert first_failure(selection, 2) == [None, None]

    # isolation by cones: track isolation 0.1 passes, 0.2 fails (ptvarcone30_max 0.15)
    cones = [four_muons(l2={"ptvarcone30": 0.1 * 30.0, "isLooseIso": False}),
             four_muons(l2={"ptvarcone30": 0.2 * 30.0})]
    selection, _, _ = hzz4l.select(make_events([{"leptons": c} for c in cones]), make_cfg(isolation="cones"),
                                   is_mc=True)
    assert first_failure(selection, 2) == [None, "isolation"]

    # the mass window is the observable range
    cfg = make_cfg()
    cfg["observable"]["range"] = [105.0, 130.0]  # the four muons have m_4l = 138.7 GeV
    selection, _, _ = hzz4l.select(make_events([{"leptons": four_muons()}]), cfg, is_mc=True)
    assert first_failure(selection, 1) == ["mass_window"]


def test_columns_of_the_selected_events():
    muons = four_muons()
    mixed = flavours(muons, ["e", "mu", "e", "mu"])  # Z1 = the electrons (0, 2), Z2 = the muons
    swapped = flavours(muons, ["mu", "e", "mu", "e"])
    jets = [{"pt": 60.0, "eta": 2.0, "phi": 0.5, "e": 60.0 * np.cosh(2.0)},
            {"pt": 40.0, "eta": -2.5, "phi": -2.0, "e": 40.0 * np.cosh(2.5)},
            {"pt": 35.0, "eta": 0.1, "phi": 0.0, "e": 35.0 * np.cosh(0.1)}]  # on top of a lepton: removed
    events = make_events([{"leptons": muons, "jets": jets}, {"leptons": mixed}, {"leptons": swapped},
                          {"leptons": four_muons(l1={"charge": +1})}])  # no SFOS pairs
    cfg = make_cfg()
    selection, _, derived = hzz4l.select(events, cfg, is_mc=True)
    mask = selection.all(*hzz4l.CUT_ORDER)
    assert mask.tolist() == [True, True, True, False]
    table = hzz4l.columns(events, mask, cfg, "ggH", np.ones(4), derived)
    assert table.schema == hzz4l.SCHEMA and table.num_rows == 3
    rows = table.to_pylist()
    for row, leptons in zip(rows, (muons, mixed, swapped)):
        m_z1, m_z2 = expected_pairing(leptons)
        assert row["m_z1"] == pytest.approx(m_z1, rel=1e-5) and row["m_z2"] == pytest.approx(m_z2, rel=1e-5)
        assert row["m_4l"] == pytest.approx(138.71, abs=0.01)
        assert row["l1_pt_over_m4l"] == pytest.approx(50.0 / row["m_4l"], rel=1e-6)
        assert row["lep_pt"] == [50.0, 40.0, 30.0, 20.0] == [row[f"l{i}_pt"] for i in (1, 2, 3, 4)]
        assert row["lep_type"] == [lepton["type"] for lepton in leptons]
        assert row["lep_charge"] == [1, -1, -1, 1]
        assert -1 <= row["cos_theta_star"] <= 1 and abs(row["phi_decay_planes"]) <= np.pi
    assert rows[0]["m_z1"] == pytest.approx(79.70, abs=0.01)  # the cross pairing, not (0, 1) at 66.6
    assert [row["channel"] for row in rows] == ["4mu", "2e2mu", "2mu2e"]
    assert rows[0]["n_jets"] == 2 and rows[0]["jet_pt"] == [60.0, 40.0]
    assert rows[0]["m_jj"] == pytest.approx(pair_mass(
        {"pt": 60.0, "eta": 2.0, "phi": 0.5}, {"pt": 40.0, "eta": -2.5, "phi": -2.0}), rel=1e-5)
    assert rows[1]["n_jets"] == 0 and np.isnan(rows[1]["j1_pt"])

    with pytest.raises(ValueError, match="sfos_pairs"):
        hzz4l.columns(events, np.array([False, False, False, True]), cfg, "ggH", np.ones(4), derived)
    empty = hzz4l.columns(events, np.zeros(4, dtype=bool), cfg, "ggH", np.ones(4), derived)
    assert empty.num_rows == 0 and empty.schema == hzz4l.SCHEMA


def boosted(v, beta_z):
    return v.boostZ(beta=beta_z * np.ones(len(v)))


def test_decay_angles_of_a_known_configuration():
    # 4l system at rest; Z1 (91.19 GeV) along +x and Z2 (30 GeV) along -x with equal momentum.
    # Z1's negative lepton at 60 degrees from Z1's flight direction, in the x-y plane; Z2's at
    # 45 degrees from Z2's flight direction, in the x-z plane: the decay planes are perpendicular.
    m1, m2, p = MZ, 30.0, 20.0

    def decay(mass, theta, plane, momentum_x):
        half = mass / 2
        direction = np.array([np.cos(theta), np.sin(theta) * (plane == "xy"), np.sin(theta) * (plane == "xz")])
        minus = vector.array({"px": [half * direction[0]], "py": [half * direction[1]],
                              "pz": [half * direction[2]], "E": [half]})
        plus = vector.array({"px": [-half * direction[0]], "py": [-half * direction[1]],
                             "pz": [-half * direction[2]], "E": [half]})
        energy = np.hypot(mass, momentum_x)
        beta = vector.array({"x": [momentum_x / energy], "y": [0.0], "z": [0.0]})
        return minus.boost_beta3(beta), plus.boost_beta3(beta)

    l1m, l1p = decay(m1, np.radians(60), "xy", p)
    # Z2 flies along -x: its leptons' angle is measured from -x
    l2m, l2p = decay(m2, np.pi - np.radians(45), "xz", -p)
    angles = hzz4l.decay_angles(l1m, l1p, l2m, l2p)
    assert angles["cos_theta_star"][0] == pytest.approx(0.0, abs=1e-9)
    assert angles["cos_theta1"][0] == pytest.approx(np.cos(np.radians(60)), abs=1e-9)
    assert angles["cos_theta2"][0] == pytest.approx(np.cos(np.radians(45)), abs=1e-9)
    assert abs(angles["phi_decay_planes"][0]) == pytest.approx(np.pi / 2, abs=1e-9)

    # the angles do not change under a boost along the beam or a rotation about it
    moved = [boosted(v, 0.6).rotateZ(0.7) for v in (l1m, l1p, l2m, l2p)]
    again = hzz4l.decay_angles(*moved)
    for name, value in angles.items():
        assert again[name][0] == pytest.approx(value[0], abs=1e-9), name


# --------------------------------------------------------------------------- the real file


needs_real_file = pytest.mark.skipif(not REAL_4LEP.is_file(), reason=f"real data file {REAL_4LEP} not present")


@needs_real_file
def test_real_exactly4lep_file_through_the_generic_skim(tmp_path):
    cfg = config.load(REAL_FILE_CONFIG)
    cfg["observable"]["range"] = [105.0, 160.0]  # the analysis's default range around the Higgs
    out, flow = tmp_path / "data.parquet", tmp_path / "data.cutflow.json"
    skim.skim_file(cfg, "data", REAL_4LEP, out, flow)
    cutflow = json.loads(flow.read_text())
    counts = {cut["name"]: cut["raw"] for cut in cutflow["cuts"]}
    print("exactly4lep data15 period D cutflow:", counts)
    # the skim is mostly fake and non-prompt leptons: ID, impact parameters and isolation
    # leave two events, both on-shell ZZ -> 4l far above the Higgs range
    assert counts == {"all": 3424, "trigger": 395, "four_leptons": 395, "lepton_id": 12, "impact_parameter": 10,
                      "isolation": 2, "lepton_pt": 2, "sfos_pairs": 2, "z1_mass": 2, "z2_mass": 2,
                      "separation": 2, "mass_window": 0}
    assert pq.read_table(out).num_rows == 0

    cfg = config.load(REAL_FILE_CONFIG)  # its observable range: the whole spectrum, 80-500 GeV
    skim.skim_file(cfg, "data", REAL_4LEP, out, flow)
    table = pq.read_table(out).to_pydict()
    assert len(table["m_4l"]) == 2 and table["weight"] == [1.0, 1.0]
    assert sorted(round(m) for m in table["m_4l"]) == [264, 472]
    assert all(80 < m < 100 for m in table["m_z1"] + table["m_z2"])  # both Z on shell
    assert sorted(table["channel"]) == ["2e2mu", "4e"]


@needs_real_file
def test_real_file_config_copies_its_file_url_with_the_checks(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # the workflow runs from the repository root
    cfg = config.load(REAL_FILE_CONFIG)
    # the real data file is fetched (copied), the MC samples come from the embedded simulation
    (name, entry), = [(n, e) for n, e in fetch.catalogue_files(cfg).items() if e.get("url")]
    assert cfg["samples"]["data"]["files"] == [entry]
    assert all(not e.get("url") for s, spec in cfg["samples"].items() if s != "data" for e in spec["files"])
    # relative to the repository root, where ../shared lies beside the checkout
    assert entry["url"] == f"file:../shared/data/atlas-opendata/{REAL_4LEP.name}"
    assert not cfg["dataset"]["simulated"] and not cfg["dataset"]["lumi_known"]
    out = fetch.fetch_catalogue_file(cfg, name, tmp_path / "copy.root")
    assert out.read_bytes() == REAL_4LEP.read_bytes()
    assert not list(tmp_path.glob("*.part*"))
    entry["url"] = REAL_4LEP.as_uri()  # the absolute form copies the same file
    assert fetch.fetch_catalogue_file(cfg, name, tmp_path / "copy2.root").read_bytes() == REAL_4LEP.read_bytes()

    wrong = dict(cfg, samples=yaml.safe_load(yaml.safe_dump(cfg["samples"])))
    wrong["samples"]["data"]["files"][0]["size"] = entry["size"] + 1
    with pytest.raises(fetch.IntegrityError, match="catalogue expects"):
        fetch.fetch_catalogue_file(wrong, name, tmp_path / "bad.root")
    assert not (tmp_path / "bad.root").exists()
    with pytest.raises(fetch.FetchError, match="no such file"):
        fetch.fetch_file(f"file://{tmp_path}/missing.root", tmp_path / "missing.root", expect_tree=None)
