"""``colliderflow datasets resolve``: refresh a config's sample catalogue with atlasopenmagic.

The file URLs of an ATLAS Open Data release come from the atlasopenmagic service, which
needs the network and can change. Runs must not depend on it: this command asks it once
and writes the answer into the config file (the ``samples`` section only, other keys and
comments untouched), which is then committed. Which samples to resolve is read from the
existing catalogue (the template): its kinds and processes, and the dataset IDs found in
its MC file names (``mc_<DSID>``); data samples take every data file of the skim.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from pathlib import Path
from typing import Any

import yaml

from . import config, io

log = logging.getLogger(__name__)

DATA_KEY = "data"  # atlasopenmagic's key for the collision data of a release
_DSID = re.compile(r"(?:^|[_.])mc_(\d+)(?=[._]|$)")
_FILE_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


def recipe_from_samples(samples: dict) -> dict[str, dict]:
    """Sample -> {kind, process, keys}: the atlasopenmagic keys that make up each sample."""
    recipe = {}
    for sample, spec in samples.items():
        kind = spec["kind"]
        if kind == "data":
            keys = [DATA_KEY]
        else:
            keys = []
            for entry in spec.get("files", []):
                match = _DSID.search(entry["name"])
                if not match:
                    raise ValueError(
                        f"cannot tell the dataset ID of file {entry['name']!r} in sample {sample!r}: "
                        "MC file names must contain mc_<DSID> (e.g. mc_343981.ggH125_gamgam)"
                    )
                if match.group(1) not in keys:
                    keys.append(match.group(1))
        recipe[sample] = {"kind": kind, "process": spec.get("process", sample), "keys": keys}
    return recipe


def file_entry(url: str) -> dict:
    """Catalogue entry for one URL: the name is the URL's basename without ``.root``."""
    url = url.removeprefix("simplecache::")  # atlasopenmagic adds it for https by default
    name = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".root")
    if not _FILE_NAME.match(name):
        raise ValueError(f"file name {name!r} from {url} has characters the catalogue does not allow")
    return {"name": name, "url": url}


def resolve_samples(recipe: dict[str, dict], *, release: str, skim: str, protocol: str = "https",
                    atom: Any = None) -> dict[str, dict]:
    """Ask atlasopenmagic for every sample's file URLs; return a ``samples`` section."""
    if atom is None:
        import atlasopenmagic as atom  # noqa: PLC0415 (network client; only this command needs it)
    if hasattr(atom, "set_verbosity"):
        atom.set_verbosity("warning")
    log.info("atlasopenmagic %s: release %s, skim %s", _version("atlasopenmagic"), release, skim)
    atom.set_release(release)
    samples: dict[str, dict] = {}
    for sample, spec in recipe.items():
        files: dict[str, dict] = {}
        for key in spec["keys"]:
            try:
                urls = atom.get_urls(key, skim=skim, protocol=protocol)
            except ValueError as err:
                raise ValueError(
                    f"atlasopenmagic gives no {skim!r} files for {key!r} (sample {sample!r}) "
                    f"in release {release}: {err}"
                ) from err
            if not urls:
                raise ValueError(f"atlasopenmagic lists no {skim!r} files for {key!r} (sample {sample!r})")
            for url in urls:
                entry = file_entry(url)
                files[entry["name"]] = entry
        log.info("%s: %d file(s)", sample, len(files))
        samples[sample] = {
            "kind": spec["kind"],
            "process": spec["process"],
            "files": [files[name] for name in sorted(files)],
        }
    return samples


def keep_known(new: dict[str, dict], old: dict[str, dict]) -> dict[str, dict]:
    """Copy size, sha256 and lumi_fb from ``old`` to files of ``new`` with the same url."""
    known = {}
    for spec in old.values():
        for entry in spec.get("files", []):
            if entry.get("url"):
                known[entry["url"]] = {k: entry[k] for k in ("size", "sha256", "lumi_fb") if k in entry}
    for spec in new.values():
        for entry in spec["files"]:
            for key, value in known.get(entry["url"], {}).items():
                entry.setdefault(key, value)
    return new


def fill_sizes(samples: dict[str, dict], timeout: float = 60.0) -> None:
    """Fill a missing size from the server's Content-Length (HTTP HEAD), where it gives one."""
    from .fetch import remote_size  # noqa: PLC0415

    for spec in samples.values():
        for entry in spec["files"]:
            if "size" not in entry and entry["url"].startswith(("http://", "https://")):
                size = remote_size(entry["url"], timeout)
                if size is not None:
                    entry["size"] = size


def header(release: str, skim: str) -> str:
    return (
        "# Sample catalogue, resolved with atlasopenmagic. Regenerate it with\n"
        f"#   colliderflow datasets resolve --release {release} --skim {skim} --out <this file>\n"
        "# which rewrites this section only and keeps size/sha256 of files whose url is unchanged.\n"
        "# To add or drop a sample, edit the mc_<DSID> file names here and rerun it.\n"
    )


def render_samples(samples: dict[str, dict], head: str) -> str:
    """The ``samples`` section as YAML text, one key per line, in a stable order."""
    ordered = {}
    for sample, spec in samples.items():
        files = [
            {k: entry[k] for k in ("name", "url", "size", "sha256", "lumi_fb") if k in entry}
            for entry in spec["files"]
        ]
        ordered[sample] = {"kind": spec["kind"], "process": spec["process"], "files": files}
    body = yaml.safe_dump({"samples": ordered}, sort_keys=False, default_flow_style=False, width=1000)
    return head + body


def splice_samples(text: str, block: str) -> str:
    """Replace the top-level ``samples:`` block of YAML ``text`` (and the comment right above it)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(r"samples\s*:", line)), None)
    if start is None:
        return (text.rstrip("\n") + "\n\n" if text.strip() else "") + block
    end = start + 1
    while end < len(lines) and not re.match(r"[^\s#]", lines[end]):
        end += 1
    if end < len(lines):  # comments and blank lines just above the next key belong to it
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
            end -= 1
    while start > 0 and lines[start - 1].startswith("#"):
        start -= 1
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + block + ("\n" + tail if tail else "")


def resolve_to_file(out: str | Path, *, release: str, skim: str, template: str | Path | None = None,
                    protocol: str = "https", sizes: bool = False, timeout: float = 60.0,
                    atom: Any = None) -> dict[str, dict]:
    """Resolve the template's samples and rewrite the ``samples`` section of ``out``."""
    out = Path(out)
    template = Path(template) if template else out
    if not template.is_file():
        raise FileNotFoundError(
            f"template {template} does not exist: give --template with a samples section "
            "(config/config.yaml works: its file names carry the DSIDs)"
        )
    with open(template) as handle:
        old = (yaml.safe_load(handle) or {}).get("samples") or {}
    if not old:
        raise ValueError(f"{template} has no samples section to resolve")
    samples = resolve_samples(recipe_from_samples(old), release=release, skim=skim, protocol=protocol, atom=atom)
    keep_known(samples, old)
    if sizes:
        fill_sizes(samples, timeout)
    config.validate({"samples": samples}, source=f"resolved samples for {out}")
    text = out.read_text() if out.is_file() else ""
    new_text = splice_samples(text, render_samples(samples, header(release, skim)))
    with io.atomic_path(out) as tmp:
        tmp.write_text(new_text)
    n_files = sum(len(spec["files"]) for spec in samples.values())
    log.info("wrote %d samples, %d files to %s", len(samples), n_files, out)
    return samples


def register(sub) -> None:
    parser = sub.add_parser("datasets", help="manage the sample catalogue (resolve URLs with atlasopenmagic)")
    actions = parser.add_subparsers(dest="datasets_command", required=True, metavar="<action>")
    resolve = actions.add_parser(
        "resolve",
        help="ask atlasopenmagic for the files of the catalogue's samples and write them to a config",
        description=__doc__.splitlines()[0],
    )
    resolve.add_argument("--release", default="2025e-13tev-beta", help="atlasopenmagic release key")
    resolve.add_argument("--skim", default="GamGam", help="skim name (GamGam for H->yy)")
    resolve.add_argument("--out", default="config/atlas-2025.yaml", help="config file to rewrite (samples only)")
    resolve.add_argument("--template", help="config whose samples say what to resolve (default: --out)")
    resolve.add_argument("--protocol", choices=("https", "root"), default="https",
                         help="URL kind to write (https works everywhere; fetch maps it to root:// itself)")
    resolve.add_argument("--sizes", action="store_true", help="fill missing sizes with HTTP HEAD requests")
    resolve.add_argument("--timeout", type=float, default=60.0, help="seconds per HEAD request with --sizes")
    resolve.set_defaults(func=run)


def run(args) -> int:
    resolve_to_file(args.out, release=args.release, skim=args.skim, template=args.template,
                    protocol=args.protocol, sizes=args.sizes, timeout=args.timeout)
    return 0
