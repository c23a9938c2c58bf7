from pathlib import Path

import pytest
import yaml

from colliderflow import config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["config.yaml", "test.yaml", "atlas-2025.yaml"])
def test_shipped_configs_validate(name):
    cfg = config.load(REPO / "config" / name)
    assert cfg["analysis"] == "hyy"
    assert cfg["samples"], "a config without samples runs nothing"


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
        ({"dataset": {"source": "ftp"}}, "dataset.source"),
        ({"samples": {"x": {"kind": "mc", "files": [{"name": "f"}]}}}, "samples.x.kind"),
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
    assert config.section({}, "skim") == full["skim"]
    partial = {"skim": {"selection": {"photon_pt_min": 30.0}}}
    skim = config.section(partial, "skim")
    assert skim["selection"]["photon_pt_min"] == 30.0
    assert skim["selection"]["photon_eta_max"] == full["skim"]["selection"]["photon_eta_max"]
    assert skim["step_size"] == full["skim"]["step_size"]
    assert partial == {"skim": {"selection": {"photon_pt_min": 30.0}}}, "the caller's dict is left alone"
    with pytest.raises(config.ConfigError, match=r"skim\.selection\.photon_pt_min"):
        config.section({"skim": {"selection": {"photon_pt_min": "high"}}}, "skim")
    with pytest.raises(config.ConfigError, match="'bogus' was unexpected"):
        config.section({"skim": {"bogus": 1}}, "skim")
    with pytest.raises(config.ConfigError, match="no section 'nope'"):
        config.section({}, "nope")
