from pathlib import Path

import pytest
import yaml

from colliderflow import config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["config.yaml", "test.yaml", "atlas-2025.yaml", "studies.yaml"])
def test_shipped_configs_validate(name):
    cfg = config.load(REPO / "config" / name)
    assert cfg["analysis"] == "hyy"
    assert cfg["samples"], "a config without samples runs nothing"


def test_studies_config_enables_every_kind_and_the_multiclass_models():
    from colliderflow import registry
    from colliderflow.ml.settings import model_settings

    cfg = config.load(REPO / "config" / "studies.yaml")
    settings = [model_settings(cfg, name) for name in cfg["ml"]["enabled"]]  # refuses a bad multiclass model
    assert {s["type"] for s in settings} == set(registry.model_kinds())
    assert {s["type"] for s in settings if s["multiclass"]} == {"bdt", "mlp"}
    assert set(cfg["optimise"]["multiclass"]["n_categories"]) == set(cfg["ml"]["classes"])


def test_defaults_filled_and_every_key_documented():
    cfg = config.load(settings={})
    assert cfg["lumi_fb"] == 36.1
    schema = config.load_schema()

    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            assert "description" in sub, f"{path}{key} has no description"
            assert "default" in sub or key in node.get("required", []) or path.startswith("samples"), \
                f"{path}{key} has no default"
            walk(sub, f"{path}{key}.")

    walk(schema, "")


def test_wrong_key_type_and_value_are_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    for body, expected in [
        ({"lumi_fb": "lots"}, "lumi_fb"),
        ({"no_such_key": 1}, "no_such_key"),
        ({"dataset": {"simulated": "no"}}, "dataset.simulated"),
        ({"samples": {"x": {"kind": "mc", "files": [{"name": "f"}]}}}, "samples.x.kind"),
        ({"fit": {"contour_and_impacts": "some"}}, "fit.contour_and_impacts"),
        ({"ml": {"enabled": ["bdt"]}, "fit": {"contour_and_impacts": ["mlp"]}}, "fit.contour_and_impacts"),
    ]:
        bad.write_text(yaml.safe_dump(body))
        with pytest.raises(config.ConfigError) as err:
            config.load(bad)
        assert expected.split(".")[-1] in str(err.value)
        assert str(bad) in str(err.value)


def test_settings_json_overrides_file(tmp_path):
    cfg = config.load(REPO / "config" / "config.yaml", settings='{"lumi_fb": 10.0}')
    assert cfg["lumi_fb"] == 10.0
    with pytest.raises(config.ConfigError, match="does not exist"):
        config.load(tmp_path / "missing.yaml")


def test_config_readme_is_generated_from_the_schema():
    from colliderflow.config_cli import config_docs

    readme = (REPO / "config" / "README.md").read_text()
    assert readme == config_docs(), "config/README.md is stale: run `colliderflow config-docs > config/README.md`"


def test_section_fills_defaults_like_load_and_names_wrong_keys():
    full = config.load(settings={})
    assert config.section({}, "selection") == full["selection"]
    partial = {"selection": {"photon_pt_min": 30.0, "jets": {"pt_min": 30.0}}}
    selection = config.section(partial, "selection")
    assert selection["photon_pt_min"] == 30.0 and selection["jets"]["pt_min"] == 30.0
    assert selection["photon_eta_max"] == full["selection"]["photon_eta_max"]
    assert selection["jets"]["eta_max"] == full["selection"]["jets"]["eta_max"]
    assert partial == {"selection": {"photon_pt_min": 30.0, "jets": {"pt_min": 30.0}}}, "the caller's dict is left alone"
    with pytest.raises(config.ConfigError, match=r"selection\.photon_pt_min"):
        config.section({"selection": {"photon_pt_min": "high"}}, "selection")
    with pytest.raises(config.ConfigError, match="'bogus' was unexpected"):
        config.section({"skim": {"bogus": 1}}, "skim")
    with pytest.raises(config.ConfigError, match="no section 'nope'"):
        config.section({}, "nope")


def test_analysis_piece_sets_defaults_and_sections():
    """The analysis named in the config decides the selection section and the observable's defaults."""
    cfg = config.load(settings={"analysis": "hyy"})
    assert cfg["observable"] == {"range": [105.0, 160.0], "window": [120.0, 130.0], "bin_width": 1.0, "blind": True,
                                 "sideband": "both", "sideband_gap": 0.0}
    assert cfg["fit"]["systematics"]["yield"] == {"lumi": 0.021, "photon_id": 0.02, "photon_isolation": 0.01}
    assert cfg["fit"]["production_modes"]["VH"] == ["WH", "ZH"]
    assert "photon_pt_min" in cfg["selection"]
    generic = config.load_schema_file(config.schema_path())
    assert "selection" not in generic["properties"], "the generic schema knows no analysis's cuts"
    with pytest.raises(config.ConfigError, match="unknown analysis 'nope'"):
        config.load(settings={"analysis": "nope"})


def test_merge_is_recursive_and_leaves_inputs_alone():
    base = {"a": {"b": 1, "c": {"d": 2}}, "e": [1]}
    piece = {"a": {"c": {"d": 3, "f": 4}}, "e": [2]}
    assert config.merge(base, piece) == {"a": {"b": 1, "c": {"d": 3, "f": 4}}, "e": [2]}
    assert base == {"a": {"b": 1, "c": {"d": 2}}, "e": [1]}


def test_provenance_names_the_code_and_the_computing_packages(tmp_path):
    from colliderflow import io

    inputs = tmp_path / "in.txt"
    inputs.write_text("x")
    io.write_json(tmp_path / "out.json", {"value": float("nan")}, {"a": 1}, inputs=[inputs])
    written = io.read_json(tmp_path / "out.json")
    assert written["value"] is None, "strict JSON: a NaN is written as null"
    block = written["provenance"]
    assert set(io.COMPUTING_PACKAGES) <= set(block["packages"]) and block["packages"]["iminuit"]
    assert block["git_revision"] is None or len(block["git_revision"].split("-")[0]) == 40
    assert block["inputs"] == {str(inputs): io.sha256sum(inputs)}
