"""The stage table (cli.STAGES) and the code each workflow rule derives from it (a digest in its params)."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from colliderflow import registry, stage_code
from colliderflow.cli import STAGES, main
from colliderflow.stage_code import PACKAGE_DIR, REGISTRIES, code_digest, code_files, import_closure

RULES = Path(__file__).resolve().parents[2] / "workflow" / "rules"


def _rules() -> dict[str, str]:
    """rule name -> its text, for every rule of workflow/rules/*.smk."""
    found = {}
    for path in sorted(RULES.glob("*.smk")):
        blocks = re.split(r"(?m)^(?=[ \t]*rule \w+:)", path.read_text())
        for block in blocks[1:]:
            name = re.match(r"\s*rule (\w+):", block).group(1)
            found[f"{path.name}:{name}"] = block
    return found


def _code(names) -> set[str]:
    return {str(PACKAGE_DIR / name) for name in names}


# ----------------------------------------------------------------- rules and the table


def test_every_rule_code_is_that_of_the_command_it_runs():
    rules = _rules()
    assert len(rules) >= 10, sorted(rules)
    checked = 0
    for rule, text in rules.items():
        shell = re.search(r"shell:\s*\"colliderflow ([\w-]+)", text)
        if shell is None:
            assert "colliderflow" not in text.partition("shell:")[2], f"{rule}: cannot read its colliderflow command"
            continue
        command = shell.group(1)
        assert command in STAGES, f"{rule} runs colliderflow {command}, which is not in cli.STAGES"
        code = re.findall(r"\bcode=(.*),", text)
        assert code == [f'stage_code("{command}")'], (
            f"{rule} runs colliderflow {command}: its params must hold code=stage_code(\"{command}\"), not {code}")
        checked += 1
    assert checked >= 10


def test_no_stage_imports_the_cli_and_no_rule_depends_on_it():
    cli = PACKAGE_DIR / "cli.py"
    for command, stage in STAGES.items():
        # without excluding it: nothing a stage imports leads back to the edge (no import cycle)
        assert cli not in import_closure([stage.module], {"colliderflow": PACKAGE_DIR.parent}), stage.module
        assert str(cli) not in code_files(command, "hyy"), command


def _digest_in(package_parent: Path, command: str) -> str:
    probe = f"from colliderflow.stage_code import code_digest; print(code_digest({command!r}, 'hyy'))"
    env = {"PYTHONPATH": str(package_parent), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_code_digest_follows_the_contents_not_the_location(tmp_path):
    """The same code installed elsewhere gives the same digest; a change in a file the command
    runs changes it, a change elsewhere does not."""
    copies = []
    for name in ("a", "b"):
        shutil.copytree(PACKAGE_DIR, tmp_path / name / "colliderflow", ignore=shutil.ignore_patterns("__pycache__"))
        copies.append(tmp_path / name)
    assert _digest_in(copies[0], "skim") == _digest_in(copies[1], "skim") == code_digest("skim", "hyy")
    with open(copies[1] / "colliderflow" / "skim.py", "a") as handle:
        handle.write("\n# changed\n")
    assert _digest_in(copies[1], "skim") != _digest_in(copies[0], "skim")
    assert _digest_in(copies[1], "limit") == _digest_in(copies[0], "limit")


# ----------------------------------------------------------------- known facts


def _imports_module(folder: Path, module: str) -> bool:
    """Whether a file in ``folder`` (a subpackage of colliderflow) imports colliderflow.<module>."""
    pattern = re.compile(rf"from \.\.{module} import|from \.\. import [^\n]*\b{module}\b|colliderflow\.{module}\b")
    return any(pattern.search(path.read_text()) for path in folder.glob("*.py"))


def test_fetch_and_simulate_run_their_own_code_not_the_cli():
    for command in ("fetch", "simulate"):
        files = code_files(command, "hyy")
        assert str(PACKAGE_DIR / f"{command}.py") in files
        assert str(PACKAGE_DIR / "cli.py") not in files
        # config.load validates with the generic schema and the analysis's piece
        assert _code(["config.schema.yaml", "analyses/hyy/config.schema.yaml"]) <= set(files), command
        # no code of those stages (the model kinds' schema pieces are in ml/: defaults, like the generic schema)
        assert not any(("/ml/" in path or "/inference/" in path or "/stats/" in path) and path.endswith(".py")
                       for path in files), command


def test_the_inference_stage_code_follows_its_imports():
    files = set(code_files("signal-model", "hyy"))
    assert _code(["inference/__init__.py", "inference/inputs.py", "config.py", "config.schema.yaml"]) <= files
    if _imports_module(PACKAGE_DIR / "inference", "optimise"):
        assert str(PACKAGE_DIR / "optimise.py") in files
    # the analysis the config names, with its piece of the schema
    assert _code(["analyses/__init__.py", "analyses/hyy/analysis.py", "analyses/hyy/config.schema.yaml"]) <= files


def test_the_summary_code_is_what_report_imports():
    files = set(code_files("summary", "hyy"))
    report = ast.parse((PACKAGE_DIR / "report.py").read_text())
    imported = {node.module for node in ast.walk(report)
                if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module}
    imported |= {alias.name for node in ast.walk(report)
                 if isinstance(node, ast.ImportFrom) and node.level == 1 and not node.module for alias in node.names}
    assert imported, "report.py imports nothing of colliderflow?"
    for module in imported:
        target = PACKAGE_DIR / f"{module.replace('.', '/')}.py"
        package = PACKAGE_DIR / module.replace(".", "/") / "__init__.py"
        assert str(target) in files or str(package) in files, module
    assert str(PACKAGE_DIR / "report.py") in files


def test_model_kinds_are_code_of_the_ml_commands():
    kinds = [f"ml/{kind}{suffix}" for kind in registry.BUILT_IN_MODELS for suffix in (".py", ".schema.yaml")]
    for command in ("train", "apply"):
        files = set(code_files(command, "hyy"))
        assert _code([*kinds, "ml/network.py", "ml/models.py"]) <= files, command
    # every kind's schema piece holds defaults, which every command reading a config uses
    assert _code([f"ml/{kind}.schema.yaml" for kind in registry.BUILT_IN_MODELS]) <= set(code_files("fetch", "hyy"))


def test_an_entry_point_model_kind_is_code_of_the_ml_commands(tmp_path, monkeypatch):
    from colliderflow import stage_code

    _write(tmp_path, {
        "toykind/__init__.py": "from .net import Net\n\ndef train():\n    from colliderflow.ml import network\n",
        "toykind/net.py": "",
        "toykind/config.schema.yaml": "description: toy\n",
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_registered", lambda group=registry.ENTRY_POINT_GROUP, built_in=registry.BUILT_IN: (
        {**built_in, "toy": "toykind"} if group == registry.MODEL_ENTRY_POINT_GROUP else dict(built_in)))
    stage_code.model_kind_files.cache_clear()
    try:
        files = set(code_files("train", "hyy"))
    finally:
        stage_code.model_kind_files.cache_clear()
    toy = {str((tmp_path / name).resolve()) for name in
           ("toykind/__init__.py", "toykind/net.py", "toykind/config.schema.yaml")}
    assert toy <= files and str(PACKAGE_DIR / "ml" / "network.py") in files


def test_only_the_known_registries_import_code_by_name():
    """A module that imports by name (import_module, __import__, entry points) hides its imports
    from the scan: it must be a key of stage_code.REGISTRIES, which says what it loads."""
    dynamic = {"import_module", "__import__", "entry_points"}
    # registry.py reads entry points' names only; analyses.get (a REGISTRIES key) loads them
    allowed = {PACKAGE_DIR / "cli.py", PACKAGE_DIR / "registry.py"} | {
        PACKAGE_DIR.joinpath(*name.split(".")[1:]).with_suffix(".py") for name in REGISTRIES}
    allowed |= {path.with_suffix("") / "__init__.py" for path in allowed}
    for path in PACKAGE_DIR.rglob("*.py"):
        names = {node.attr if isinstance(node, ast.Attribute) else node.id
                 for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, (ast.Attribute, ast.Name))}
        if names & dynamic:
            assert path in allowed, f"{path} imports by name: add what it loads to stage_code.REGISTRIES"


@pytest.mark.parametrize("command", ["fetch", "signal-model"])
def test_static_closure_covers_what_importing_the_stage_loads(command):
    """Whatever importing the stage module and registering it loads of colliderflow is in its code."""
    probe = (
        "import argparse, importlib, sys\n"
        f"importlib.import_module({STAGES[command].module!r}).register(argparse.ArgumentParser().add_subparsers())\n"
        "print('\\n'.join(m.__file__ for n, m in list(sys.modules.items())"
        " if n.startswith('colliderflow') and getattr(m, '__file__', None)))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout.split()
    assert loaded
    files = set(code_files(command, "hyy"))
    assert {str(Path(path).resolve()) for path in loaded} <= files


# ----------------------------------------------------------------- the AST closure itself


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_closure_follows_function_level_and_relative_imports(tmp_path):
    _write(tmp_path, {
        "toypkg/__init__.py": "",
        "toypkg/entry.py": "import os\n\ndef run():\n    from .sub import worker\n    return worker\n",
        "toypkg/sub/__init__.py": "from . import helper\n",
        "toypkg/sub/helper.py": "def later():\n    from ..edge import main\n",  # edge.py: excluded below
        "toypkg/sub/worker.py": "import numpy\nfrom ..shared import value\n\nclass K:\n    def m(self):\n"
                                "        import toypkg.deep.leaf\n",
        "toypkg/shared.py": "from typing import TYPE_CHECKING\nvalue = 1\nif TYPE_CHECKING:\n"
                            "    from . import typing_only\nelse:\n    from . import runtime_only\n",
        "toypkg/deep/__init__.py": "",
        "toypkg/deep/leaf.py": "",
        "toypkg/typing_only.py": "",
        "toypkg/runtime_only.py": "",
        "toypkg/unused.py": "",
        "toypkg/edge.py": "from . import unused\n",
    })
    root = {"toypkg": tmp_path}
    found = import_closure(["toypkg.entry"], root, exclude={(tmp_path / "toypkg/edge.py").resolve()})
    names = sorted(str(path.relative_to(tmp_path.resolve())) for path in found)
    assert names == sorted([
        "toypkg/__init__.py", "toypkg/entry.py", "toypkg/sub/__init__.py", "toypkg/sub/helper.py",
        "toypkg/sub/worker.py", "toypkg/shared.py", "toypkg/deep/__init__.py", "toypkg/deep/leaf.py",
        "toypkg/runtime_only.py",
    ])
    # the excluded edge.py is neither included nor followed (to unused.py); without the
    # exclusion it is both
    assert {"toypkg/edge.py", "toypkg/unused.py"} <= {
        str(path.relative_to(tmp_path.resolve())) for path in import_closure(["toypkg.entry"], root)}


def test_an_entry_point_analysis_brings_its_own_package(tmp_path, monkeypatch):
    _write(tmp_path, {
        "toyana/__init__.py": "from .analysis import Toy\n",
        "toyana/analysis.py": "from colliderflow.analyses import Analysis\n\ndef f():\n"
                              "    from colliderflow.columnar import flat\n",
        "toyana/config.schema.yaml": "selection: {}\n",
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    real_source = registry.source
    monkeypatch.setattr(registry, "source", lambda name: "toyana:Toy" if name == "toy" else real_source(name))
    files = set(code_files("skim", "toy"))
    toy = {str((tmp_path / name).resolve()) for name in
           ("toyana/__init__.py", "toyana/analysis.py", "toyana/config.schema.yaml")}
    assert toy <= files
    assert str(PACKAGE_DIR / "columnar.py") in files
    assert not any("/analyses/hyy/" in path for path in files)


# ----------------------------------------------------------------- the command line


def test_top_level_help_lists_every_stage_and_imports_none():
    probe = (
        "import contextlib, io, sys\nfrom colliderflow.cli import main\nout = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n    try:\n        main(['--help'])\n"
        "    except SystemExit as exit:\n        assert exit.code == 0\n"
        "print(out.getvalue())\n"
        "print('LOADED', *sorted(n for n in sys.modules if n.startswith('colliderflow') or n == 'numpy'))\n"
    )
    output = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    help_text, _, loaded = output.rpartition("LOADED")
    assert loaded.split() == ["colliderflow", "colliderflow.cli"]
    for command in STAGES:
        assert re.search(rf"^\s+{re.escape(command)}\b", help_text, re.MULTILINE), command


@pytest.mark.parametrize("command", list(STAGES))
def test_every_stage_help(command, capsys):
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: colliderflow {command} ")


def test_unknown_stage_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["no-such-stage"])
    assert exit.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_fetch_runs_no_analysis_code_but_reads_its_schema_piece():
    """Reading a config finds the analysis's schema piece by name, without importing the
    analysis: a change of its selection or simulation must not rerun (re-download) fetch."""
    from colliderflow.stage_code import code_files

    files = [Path(f) for f in code_files("fetch", "hyy")]
    assert any(f.name == "config.schema.yaml" and f.parent.name == "hyy" for f in files)
    assert not any(f.suffix == ".py" and "hyy" in f.parts for f in files), files
    assert not any("simulation" in f.parts for f in files), files
    simulate = [Path(f) for f in code_files("simulate", "hyy")]
    assert any(f.name == "simulation.py" and "hyy" in f.parts for f in simulate)


# ----------------------------------------------------------------- the imports cache


@pytest.fixture
def imports_cache(tmp_path, monkeypatch):
    """The imports cache in a file of its own, read afresh (as by a new process)."""
    path = tmp_path / "cache" / "imports.json"
    monkeypatch.setattr(stage_code, "IMPORTS_CACHE", path)
    monkeypatch.setattr(stage_code, "_LOADED", {})
    return path


def _toy_closure(root: Path) -> list[str]:
    found = import_closure(["toypkg.entry"], {"toypkg": root})
    return sorted(str(path.relative_to(root.resolve())) for path in found)


def test_the_imports_cache_spares_parsing_an_unchanged_file(tmp_path, imports_cache, monkeypatch):
    _write(tmp_path, {"toypkg/__init__.py": "", "toypkg/entry.py": "from . import a\n", "toypkg/a.py": ""})
    first = _toy_closure(tmp_path)
    assert imports_cache.is_file()
    monkeypatch.setattr(stage_code, "_LOADED", {})  # a new process: the cache file is all it has
    monkeypatch.setattr(stage_code, "_parsed_imports", lambda path: pytest.fail(f"{path} parsed again"))
    assert _toy_closure(tmp_path) == first == ["toypkg/__init__.py", "toypkg/a.py", "toypkg/entry.py"]


def test_a_changed_file_is_read_again_even_with_its_old_size_and_time(tmp_path, imports_cache, monkeypatch):
    """The cache is keyed on the contents: a change that keeps the file's size and modification
    time (a checkout, a copy with preserved times) still reaches the closure and the digest."""
    _write(tmp_path, {"toypkg/__init__.py": "", "toypkg/entry.py": "from . import a\n",
                      "toypkg/a.py": "", "toypkg/b.py": ""})
    assert _toy_closure(tmp_path) == ["toypkg/__init__.py", "toypkg/a.py", "toypkg/entry.py"]
    entry = tmp_path / "toypkg" / "entry.py"
    before = entry.stat()
    entry.write_text("from . import b\n")
    os.utime(entry, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert entry.stat().st_size == before.st_size and entry.stat().st_mtime_ns == before.st_mtime_ns
    for _ in range(2):  # in this process, then in a new one that has only the cache file
        assert _toy_closure(tmp_path) == ["toypkg/__init__.py", "toypkg/b.py", "toypkg/entry.py"]
        monkeypatch.setattr(stage_code, "_LOADED", {})


def test_a_damaged_imports_cache_is_read_as_empty(tmp_path, imports_cache):
    _write(tmp_path, {"toypkg/__init__.py": "", "toypkg/entry.py": "import toypkg.a\n", "toypkg/a.py": ""})
    imports_cache.parent.mkdir()
    imports_cache.write_text('{"cut sho')
    assert _toy_closure(tmp_path) == ["toypkg/__init__.py", "toypkg/a.py", "toypkg/entry.py"]
    assert json.loads(imports_cache.read_text())  # rewritten whole


def test_digests_with_and_without_the_imports_cache_agree(imports_cache, monkeypatch):
    cached = {command: code_digest(command, "hyy") for command in STAGES}
    monkeypatch.setattr(stage_code, "_LOADED", {})
    assert {command: code_digest(command, "hyy") for command in STAGES} == cached  # read from the file
    imports_cache.unlink()
    monkeypatch.setattr(stage_code, "_LOADED", {})
    assert {command: code_digest(command, "hyy") for command in STAGES} == cached  # parsed afresh


def test_the_imports_cache_forgets_files_that_are_gone(tmp_path, imports_cache, monkeypatch):
    gone, kept = tmp_path / "gone", tmp_path / "kept"
    for root in (gone, kept):
        _write(root, {"toypkg/__init__.py": "", "toypkg/entry.py": "from . import a\n", "toypkg/a.py": ""})
    _toy_closure(gone)
    shutil.rmtree(gone)
    monkeypatch.setattr(stage_code, "_LOADED", {})
    _toy_closure(kept)
    cached = json.loads(imports_cache.read_text())
    assert cached and all(path.startswith(str(kept.resolve())) for path in cached)
