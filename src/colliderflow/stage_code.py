"""The source files a ``colliderflow`` sub-command runs: the ``code`` of its rule (their digest).

Derived from the imports themselves, so a rule reruns when, and only when, code its command
runs changes: the sub-command's module (``cli.STAGES``) and the transitive closure of its
imports inside the package, read statically (``import``/``from`` statements at any depth,
function bodies included, relative imports resolved, parent packages' ``__init__`` included
because importing a module runs them; imports under ``if TYPE_CHECKING:`` never run and are
skipped). ``cli.py`` itself is left out: it is the edge that only dispatches, so a new flag of
one command does not rerun every job. Registries import code by name at run time, which
no static scan sees: ``REGISTRIES`` says what each may load (the configured analysis's
package, with its schema piece and data; every registered model kind's module, with what it
imports and its schema piece), added where the registry is in the closure. The config schema
(its defaults: the generic one, the analysis's piece, every model kind's piece) counts where
``config`` is.

Parsing the ~70 files costs more than the rest of a Snakemake start, so each file's imports
are kept in ``IMPORTS_CACHE`` (beside Python's own bytecode cache) under its path with the
SHA-256 of the contents they were read from: an entry whose file changed in any way is read
again, whatever its time stamps say.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "colliderflow"
PACKAGE_DIR = Path(__file__).resolve().parent
EDGE = PACKAGE_DIR / "cli.py"
CONFIG = PACKAGE_DIR / "config.py"
SCHEMA = PACKAGE_DIR / "config.schema.yaml"
IMPORTS_CACHE = PACKAGE_DIR / "__pycache__" / "stage_code_imports.json"


def code_files(subcommand: str, analysis: str) -> list[str]:
    """Sorted paths of every file that ``colliderflow <subcommand>`` runs or reads as code,
    for a config whose ``analysis`` key is ``analysis``."""
    from . import registry
    from .cli import STAGES

    if subcommand not in STAGES:
        raise KeyError(f"unknown colliderflow sub-command {subcommand!r}; known: {', '.join(STAGES)}")
    roots = {PACKAGE: PACKAGE_DIR.parent}
    module = [STAGES[subcommand].module]
    files = import_closure(module, roots, exclude={EDGE})
    # config looks up the analysis's schema piece by name without importing the analysis, so
    # a registry reached only through config loads nothing: fetch does not rerun when an
    # analysis's selection or simulation changes
    loaders = import_closure(module, roots, exclude={EDGE, CONFIG})
    expanded: set[str] = set()
    while pending := [name for name in REGISTRIES
                      if name not in expanded and module_file(name, roots) in loaders]:
        for name in pending:  # what a registry loads may hold a registry in turn
            expanded.add(name)
            loaded = REGISTRIES[name](analysis)
            files |= loaded
            loaders |= loaded
    if CONFIG in files:
        files.add(SCHEMA)
        piece = registry.schema_file(analysis)
        if piece is not None:
            files.add(piece.resolve())
        files |= {registry.model_schema_file(kind).resolve() for kind in registry.model_kinds()}
    return sorted(str(path) for path in files)


def code_digest(subcommand: str, analysis: str) -> str:
    """One SHA-256 over the contents of ``code_files``, each named by its path below the folder
    holding colliderflow (absolute for another package's files): the same code gives the same
    digest in a checkout and in site-packages. A rule carries it as a param, so a code change
    reruns its jobs at O(1) cost per job; as inputs the files (~25) would be planned for
    every job."""
    digest = hashlib.sha256()
    for name in code_files(subcommand, analysis):
        path = Path(name)
        label = path.relative_to(PACKAGE_DIR.parent) if path.is_relative_to(PACKAGE_DIR.parent) else path
        digest.update(f"{label.as_posix()}\0".encode())
        digest.update(bytes.fromhex(content_hash(path)))
    return f"sha256:{digest.hexdigest()}"


@functools.lru_cache(maxsize=None)
def model_kind_files(analysis: str) -> frozenset[Path]:
    """The code of every registered model kind (``ml.kinds`` imports it by name when a model
    is used; the same for every analysis): its module and what it imports, in colliderflow
    or in its own package, and its schema piece."""
    from . import registry

    files: set[Path] = set()
    for kind in registry.model_kinds():
        module = registry.model_source(kind)
        files |= import_closure([module], _roots(module, f"model kind {kind!r}"), exclude={EDGE})
        files.add(registry.model_schema_file(kind).resolve())
    return frozenset(files)


def _roots(module: str, what: str) -> dict[str, Path]:
    """The import roots for code of ``module``: colliderflow's, and the folder holding the
    module's own top-level package if it is another one (found without importing it)."""
    top = module.split(".")[0]
    roots = {PACKAGE: PACKAGE_DIR.parent}
    if top != PACKAGE:
        spec = importlib.util.find_spec(top)
        if spec is None:
            raise ValueError(f"{what}: its module {module} is not importable; install the package that registers it")
        if spec.submodule_search_locations:  # a package: the folder holding it is its root
            roots[top] = Path(next(iter(spec.submodule_search_locations))).resolve().parent
        else:
            roots[top] = Path(spec.origin).resolve().parent
    return roots


@functools.lru_cache(maxsize=None)
def analysis_files(analysis: str) -> frozenset[Path]:
    """The configured analysis's package (every file in it: code, schema piece, data) and the
    colliderflow modules it imports. Built-ins live in ``colliderflow/analyses/<name>/``; an
    entry-point analysis is found with ``importlib.util.find_spec``, without importing it."""
    from . import registry

    module = registry.source(analysis).partition(":")[0]
    roots = _roots(module, f"analysis {analysis!r}")
    path = module_file(module, roots)
    if path is None:
        raise ValueError(f"analysis {analysis!r}: no source file for its module {module}")
    # the analysis's own package: the module if it is one, else the package that holds it
    folder = path.parent if path.name == "__init__.py" or "." in module else None
    files = {path} if folder is None else {
        item for item in folder.rglob("*") if item.is_file() and "__pycache__" not in item.parts
    }
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    modules = [package or module] + [
        _module_name(item, roots) for item in files if item.suffix == ".py"
    ]
    return frozenset(files | import_closure(modules, roots, exclude={EDGE}))


def import_closure(modules: list[str], roots: dict[str, Path], exclude: set[Path] = frozenset()) -> set[Path]:
    """Source files of ``modules`` and of everything they import, transitively, within the
    top-level packages ``roots`` (name -> the folder holding it); imports of other packages
    are not followed. Files in ``exclude`` are neither included nor followed."""
    found: set[Path] = set()
    pending = list(modules)
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name, roots)
        if path is None or path in exclude:
            continue
        found.add(path)
        parent = name.rpartition(".")[0]
        if parent:  # importing a.b runs a/__init__.py first
            pending.append(parent)
        pending.extend(_imports(path, name, roots))
    _imports_cache().save()
    return found


def module_file(name: str, roots: dict[str, Path]) -> Path | None:
    """The source file of module ``name`` under ``roots``, or None (another package, or a
    name that is an attribute, not a module)."""
    parts = name.split(".")
    if parts[0] not in roots:
        return None
    base = roots[parts[0]].joinpath(*parts)
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate.resolve()
    return None


def _module_name(path: Path, roots: dict[str, Path]) -> str:
    for root in roots.values():
        if path.is_relative_to(root):
            parts = list(path.relative_to(root).with_suffix("").parts)
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise ValueError(f"{path} is under none of {sorted(map(str, roots.values()))}")


def _imports(path: Path, name: str, roots: dict[str, Path]) -> list[str]:
    """Absolute names of what the module ``name`` at ``path`` imports (``from X import y``
    gives both X and X.y: y may be a submodule)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = []
    for level, module, aliases, line in _import_statements(path):
        if level is None:  # import a, b.c
            names.extend(aliases)
            continue
        if level:
            anchor = package.split(".")
            if level - 1 > len(anchor) - 1:
                raise ValueError(f"{path}:{line}: relative import beyond the top-level package")
            anchor = anchor[: len(anchor) - (level - 1)]
            base = ".".join(anchor + ([module] if module else []))
        else:
            base = module
        names.append(base)
        names.extend(f"{base}.{alias}" for alias in aliases if alias != "*")
    return [item for item in names if item.split(".")[0] in roots]


def content_hash(path: Path) -> str:
    """The SHA-256 (hex) of a file's contents."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _import_statements(path: Path) -> list[list]:
    """Every import statement of a file as ``[level, module, names, line]`` (level None for
    ``import names``), from the cache when the file's contents are those it was read from."""
    cache = _imports_cache()
    contents = content_hash(path)
    cached = cache.entries.get(str(path))
    if cached is not None and cached["sha256"] == contents:
        return cached["imports"]
    statements = [
        [None, None, [alias.name for alias in node.names], node.lineno] if isinstance(node, ast.Import)
        else [node.level, node.module, [alias.name for alias in node.names], node.lineno]
        for node in _parsed_imports(path)
    ]
    cache.entries[str(path)] = {"sha256": contents, "imports": statements}
    cache.changed = True
    return statements


def _parsed_imports(path: Path) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a file, at any depth, except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    return [node for node in _statements(tree.body) if isinstance(node, (ast.Import, ast.ImportFrom))]


class _ImportsCache:
    """The file ``IMPORTS_CACHE``: path -> {"sha256": contents, "imports": statements}."""

    def __init__(self, path: Path):
        self.path = path
        self.changed = False
        try:
            self.entries = json.loads(path.read_text())
        except (OSError, ValueError):  # none yet, or cut short: every file is parsed again
            self.entries = {}

    def save(self) -> None:
        """Write the entries if any changed. Atomically (parallel starts each write a whole
        file; the last one stays), and not at all where the folder is read-only (an
        installed package): the cache only saves time. Entries of files gone (a test's
        temporary package) are dropped, so the file does not grow without end."""
        if not self.changed:
            return
        self.entries = {path: entry for path, entry in self.entries.items() if os.path.exists(path)}
        try:
            self.path.parent.mkdir(exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        except OSError:
            return
        try:
            with os.fdopen(handle, "w") as out:
                json.dump(self.entries, out)
            os.replace(temporary, self.path)
        except OSError:
            Path(temporary).unlink(missing_ok=True)
            return
        self.changed = False


_LOADED: dict[Path, _ImportsCache] = {}


def _imports_cache() -> _ImportsCache:
    """The cache at ``IMPORTS_CACHE``, read once per process."""
    if IMPORTS_CACHE not in _LOADED:
        _LOADED[IMPORTS_CACHE] = _ImportsCache(IMPORTS_CACHE)
    return _LOADED[IMPORTS_CACHE]


def _statements(body: list) -> Iterator[ast.AST]:
    """The statements of ``body`` and of every block nested in them (imports are statements,
    so expressions need no visit)."""
    for node in body:
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _statements(node.orelse)
            continue
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                yield from _statements(block)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


# module -> what it imports by name at run time (a function of the config's analysis)
REGISTRIES = {
    f"{PACKAGE}.analyses": analysis_files,
    f"{PACKAGE}.ml.kinds": model_kind_files,
}
