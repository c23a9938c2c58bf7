"""The HEPData record's building blocks on small inputs (the whole record from real fit outputs:
tests/unit/test_analysis_fit.py)."""

import pytest
import yaml
from hepdata_lib import Submission

from colliderflow import analyses, config
from colliderflow.hepdata import Record, _dependent, _expected_band, _independent, _table, write

RECORD = Record(title="T", observable=analyses.get("hyy").observable(config.validate({})), peak="$m_H$",
                qualifiers=(("SQRT(S)", 13000.0, "GeV"),), cmenergy_gev=13000.0, models={})


def _submission(*variables):
    table = _table(RECORD, "limits", "upper limits", "summary.md")
    table.add_variable(_independent("Model", ["a", "b"]))
    for variable in variables:
        table.add_variable(variable)
    sub = Submission()
    sub.add_table(table)
    return sub


def test_expected_bands_and_missing_numbers_validate(tmp_path):
    nan = float("nan")
    band = _expected_band(RECORD, "UL expected", [[1.0, 2.0, 3.0, 4.5, 5.0], [nan] * 5])
    write(_submission(band, _dependent(RECORD, "UL observed", [2.5, None])), RECORD, tmp_path / "out",
          tmp_path / "out.tar.gz")
    table = yaml.safe_load((tmp_path / "out" / "limits.yaml").read_text())
    expected, observed = table["dependent_variables"]
    assert expected["values"][0] == {"value": 3.0, "errors": [{"asymerror": {"minus": -1.0, "plus": 1.5},
                                                               "label": "1 sigma"},
                                                              {"symerror": 2.0, "label": "2 sigma"}]}
    assert expected["values"][1] == {"value": "-"} and observed["values"][1] == {"value": "-"}
    assert expected["qualifiers"] == [{"name": "SQRT(S)", "value": 13000.0, "units": "GeV"}]


def test_an_invalid_record_names_the_problem_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"invalid \(hepdata-validator\): limits.yaml.*Inconsistent length"):
        write(_submission(_dependent(RECORD, "UL observed", [2.5])), RECORD, tmp_path / "out", tmp_path / "out.tar.gz")
    assert list(tmp_path.iterdir()) == []
