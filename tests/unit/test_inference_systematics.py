"""The analysis's systematics and production modes as the statistics library takes them."""

import numpy as np
import pandas as pd
import pytest

from colliderflow import config
from colliderflow.inference import systematics
from colliderflow.inference.workspace import shifted_events, signal_events

FIT = config.validate({"analysis": "hyy"})["fit"]


def test_the_hyy_recipe_declares_every_systematic():
    declared = {s["name"]: s for s in systematics.declared(FIT)}
    assert declared["lumi"] == {"name": "lumi", "effect": "yield", "size": 0.021}
    assert declared["theory_VH"]["modes"] == ["VH"] and declared["theory_VH"]["effect"] == "yield"
    assert declared["photon_energy_scale"]["effect"] == "position"
    assert declared["photon_energy_resolution"]["effect"] == "width"


def test_yields_by_mode_and_bad_recipes():
    category = {"name": "cat0", "yield": 10.0, "yield_by_process": {"ggH": 8.0, "WH": 1.0, "ZH": 0.5, "VBF": 0.5}}
    assert systematics.yield_by_mode(FIT, category) == {"ggH": 8.0, "VBF": 0.5, "VH": 1.5, "ttH": 0.0}
    no_modes = dict(FIT, production_modes={}, systematics=dict(FIT["systematics"], theory={}))
    assert systematics.yield_by_mode(no_modes, category) == 10.0
    with pytest.raises(ValueError, match=r"theory names mode\(s\) \['ggH', 'ttH'"):
        systematics.declared(dict(FIT, production_modes={"VBF": ["VBF"], "VH": ["WH", "ZH"]}))
    with pytest.raises(ValueError, match="signal process 'ggH' is in no mode"):
        systematics.yield_by_mode(dict(FIT, production_modes={"VBF": ["VBF"]}), category)
    with pytest.raises(ValueError, match="process 'WH' is in modes 'VH' and 'W'"):
        systematics.mode_of_process(dict(FIT, production_modes={"VH": ["WH"], "W": ["WH"]}))


def test_workspace_signal_by_mode_and_its_shifted_templates():
    part = pd.DataFrame({"kind": ["signal"] * 3 + ["data"], "category": [0, 0, 1, 0],
                         "process": ["ggH", "ZH", "ggH", "data"], "m_yy": [124.0, 126.0, 125.0, 130.0],
                         "weight": [0.5, 0.25, 1.0, 1.0]})
    part.attrs["observable"] = "m_yy"
    events = signal_events(FIT, part, 0)
    assert events["ggH"][0].tolist() == [124.0] and events["VH"][1].tolist() == [0.25] and events["ttH"][0].size == 0
    up, down = shifted_events({"effect": "position", "size": 0.01}, np.array([124.0]), 125.0)
    assert up.tolist() == [125.25] and down.tolist() == [122.75]
    up, down = shifted_events({"effect": "width", "size": 0.1}, np.array([124.0]), 125.0)
    assert up.tolist() == pytest.approx([123.9]) and down.tolist() == pytest.approx([124.1])
