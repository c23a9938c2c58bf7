"""``colliderflow datasets resolve``: refresh a config's sample catalogue with atlasopenmagic.

The file URLs of an ATLAS Open Data release come from the atlasopenmagic service, which
needs the network and can change. Runs must not depend on it: this command asks it once
and writes the answer into the config file (the ``samples`` section only, other keys and
comments untouched), which is then committed. Which samples to resolve is read from the
existing catalogue (the template): its kinds and processes, and the dataset IDs found in
its MC file names (``mc_<DSID>``); data samples take every data file of the skim.

atlasopenmagic gives URLs only: its metadata (``get_metadata``, ``get_urls``; version 1.10)
carries no file size or checksum. The CERN Open Data records do: the record JSON
(``<server>/api/records/<recid>``) lists every file with its ``size`` and ``checksum``
(``"adler32:037f48e7"``), under ``metadata.files`` or, for records with many files, under
``metadata._file_indices[].files`` (older records list a ``*_file_index.json`` file instead,
served at ``<server>/record/<recid>/files/<name>``). With ``--record`` (repeatable) the
command reads those records and writes each catalogue file's published ``size`` and
``adler32`` beside its URL (matched by file name), which ``colliderflow fetch`` then verifies.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import json
import logging
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from . import config, io
from .fetch import USER_AGENT, FetchError

log = logging.getLogger(__name__)

DATA_KEY = "data"  # atlasopenmagic's key for the collision data of a release
_DSID = re.compile(r"(?:^|[_.])mc_(\d+)(?=[._]|$)")
_FILE_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")
OPENDATA_SERVER = "https://opendata.cern.ch"
# The per-file keys a catalogue entry keeps across a resolve (for an unchanged url), in file order.
ENTRY_KEYS = ("name", "url", "size", "adler32", "sha256", "lumi_fb")


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
    """Copy size, adler32, sha256 and lumi_fb from ``old`` to files of ``new`` with the same url."""
    known = {}
    for spec in old.values():
        for entry in spec.get("files", []):
            if entry.get("url"):
                known[entry["url"]] = {k: entry[k] for k in ENTRY_KEYS[2:] if k in entry}
    for spec in new.values():
        for entry in spec["files"]:
            for key, value in known.get(entry["url"], {}).items():
                entry.setdefault(key, value)
    return new


def _basename(url: str) -> str:
    return url.removeprefix("simplecache::").rstrip("/").rsplit("/", 1)[-1]


def _get_json(url: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as err:
        raise FetchError(f"GET {url}: HTTP {err.code} {err.reason}: check the record id") from err
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        raise FetchError(f"cannot read {url}: {getattr(err, 'reason', err)} (needs the network)") from err
    except ValueError as err:
        raise FetchError(f"{url} did not answer with JSON ({err}): is it a CERN Open Data portal?") from err


def parse_checksum(checksum: Any) -> str | None:
    """The adler32 of a record's ``checksum`` field (``"adler32:037f48e7"`` -> ``"037f48e7"``).

    Other algorithms give None. A value written without its leading zeros is padded to 8 digits.
    """
    if not isinstance(checksum, str) or not checksum.lower().startswith("adler32:"):
        return None
    digits = checksum.split(":", 1)[1].strip().lower()
    if not re.fullmatch(r"[0-9a-f]{1,8}", digits):
        raise FetchError(f"record checksum {checksum!r} is not an adler32 (up to 8 hex digits)")
    return digits.zfill(8)


def record_files(recid: int | str, *, server: str = OPENDATA_SERVER, timeout: float = 60.0) -> dict[str, dict]:
    """File name (with .root) -> {size, adler32, record} as CERN Open Data record ``recid`` publishes them."""
    server = server.rstrip("/")
    url = f"{server}/api/records/{recid}"
    record = _get_json(url, timeout)
    metadata = record.get("metadata") if isinstance(record, dict) else None
    if not isinstance(metadata, dict):
        raise FetchError(f"{url} has no metadata: is {recid} a CERN Open Data record id?")
    entries = list(metadata.get("files") or [])
    indices = metadata.get("_file_indices") or []
    for index in indices:
        entries.extend(index.get("files") or [])
    if not indices:  # older records list their file indices as files of the record
        for entry in list(entries):
            key = entry.get("key") or _basename(entry.get("uri", ""))
            if key.endswith("_file_index.json"):
                listed = _get_json(f"{server}/record/{recid}/files/{key}", timeout)
                entries.extend(listed if isinstance(listed, list) else [])
    published: dict[str, dict] = {}
    for entry in entries:
        name = _basename(entry.get("uri") or entry.get("key") or "")
        if not name or name.endswith(("_file_index.json", "_file_index.txt")):
            continue
        info: dict[str, Any] = {}
        if isinstance(entry.get("size"), int) and entry["size"] >= 0:
            info["size"] = entry["size"]
        adler32 = parse_checksum(entry.get("checksum"))
        if adler32:
            info["adler32"] = adler32
        if info:
            published[name] = {**info, "record": recid}
    if not published:
        raise FetchError(f"record {recid} ({url}) lists no file with a size or checksum")
    log.info("record %s: %d file(s) with published size/checksum", recid, len(published))
    return published


def published_files(records: list[int | str], *, server: str = OPENDATA_SERVER,
                    timeout: float = 60.0) -> dict[str, dict]:
    """record_files over several records; a file two records describe differently is an error."""
    published: dict[str, dict] = {}
    for recid in records:
        for name, info in record_files(recid, server=server, timeout=timeout).items():
            seen = published.get(name)
            if seen and any(seen.get(k) != info.get(k) for k in ("size", "adler32")):
                raise FetchError(
                    f"{name}: record {seen['record']} publishes size {seen.get('size')} adler32 {seen.get('adler32')} "
                    f"but record {recid} size {info.get('size')} adler32 {info.get('adler32')}: "
                    "give only the record of the release you use"
                )
            published.setdefault(name, info)
    return published


def apply_published(samples: dict[str, dict], published: dict[str, dict]) -> list[str]:
    """Write the published size and adler32 into the entries of ``samples`` (matched by file name).

    A value that contradicts one the catalogue already holds is an error (the release replaced
    the file, or the catalogue is wrong). Returns the names of files no record describes.
    """
    missing = []
    for spec in samples.values():
        for entry in spec["files"]:
            if not entry.get("url"):
                continue
            info = published.get(_basename(entry["url"]))
            if info is None:
                missing.append(entry["name"])
                continue
            for key in ("size", "adler32"):
                if key not in info:
                    continue
                if key in entry and entry[key] != info[key]:
                    raise ValueError(
                        f"file {entry['name']!r}: record {info['record']} publishes {key} {info[key]} but the "
                        f"catalogue has {entry[key]}: the release replaced the file or the catalogue is wrong; "
                        "check which, remove the file's stale size/adler32/sha256 from the catalogue and resolve again"
                    )
                entry[key] = info[key]
    return missing


def fill_sizes(samples: dict[str, dict], timeout: float = 60.0) -> None:
    """Fill a missing size from the server's Content-Length (HTTP HEAD), where it gives one."""
    from .fetch import remote_size  # noqa: PLC0415

    for spec in samples.values():
        for entry in spec["files"]:
            if "size" not in entry and entry["url"].startswith(("http://", "https://")):
                size = remote_size(entry["url"], timeout)
                if size is not None:
                    entry["size"] = size


def header(release: str, skim: str, records: list[int | str] | None = None) -> str:
    record_args = "".join(f" --record {recid}" for recid in records or [])
    return (
        "# Sample catalogue, resolved with atlasopenmagic. Regenerate it with\n"
        f"#   colliderflow datasets resolve --release {release} --skim {skim}{record_args} --out <this file>\n"
        "# which rewrites this section only and keeps size/adler32/sha256 of files whose url is unchanged;\n"
        "# each --record <CERN Open Data record id> adds the size and adler32 that record publishes.\n"
        "# To add or drop a sample, edit the mc_<DSID> file names here and rerun it.\n"
    )


def render_samples(samples: dict[str, dict], head: str) -> str:
    """The ``samples`` section as YAML text, one key per line, in a stable order."""
    ordered = {}
    for sample, spec in samples.items():
        files = [{k: entry[k] for k in ENTRY_KEYS if k in entry} for entry in spec["files"]]
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
                    records: list[int | str] | None = None, opendata_server: str = OPENDATA_SERVER,
                    atom: Any = None) -> dict[str, dict]:
    """Resolve the template's samples and rewrite the ``samples`` section of ``out``.

    ``records``: CERN Open Data record ids whose published size and adler32 go into the entries.
    """
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
    if records:
        published = published_files(records, server=opendata_server, timeout=timeout)
        missing = apply_published(samples, published)
        if missing:
            log.warning("%d file(s) are in none of the records %s, so they get no published size/adler32: %s",
                        len(missing), ", ".join(map(str, records)), ", ".join(missing))
    if sizes:
        fill_sizes(samples, timeout)
    unchecked = [entry["name"] for spec in samples.values() for entry in spec["files"]
                 if entry.get("url") and not (entry.get("adler32") or entry.get("sha256"))]
    if unchecked:
        log.warning("%d file(s) have no checksum in %s (fetch will only check their size and ROOT structure; "
                    "add the record that publishes them with --record): %s", len(unchecked), out, ", ".join(unchecked))
    config.validate({"samples": samples}, source=f"resolved samples for {out}")
    text = out.read_text() if out.is_file() else ""
    new_text = splice_samples(text, render_samples(samples, header(release, skim, records)))
    with io.atomic_path(out) as tmp:
        tmp.write_text(new_text)
    n_files = sum(len(spec["files"]) for spec in samples.values())
    log.info("wrote %d samples, %d files to %s", len(samples), n_files, out)
    return samples


def register(sub) -> None:
    parser = sub.add_parser("datasets")
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
    resolve.add_argument("--record", dest="records", action="append", metavar="RECID",
                         help="CERN Open Data record id whose published file sizes and adler32 checksums to write "
                         "into the catalogue (repeatable: the records of the release's data and MC files); "
                         "atlasopenmagic gives URLs only")
    resolve.add_argument("--opendata-server", default=OPENDATA_SERVER,
                         help="CERN Open Data portal to read --record from")
    resolve.add_argument("--sizes", action="store_true", help="fill missing sizes with HTTP HEAD requests")
    resolve.add_argument("--timeout", type=float, default=60.0, help="seconds per request (--record, --sizes)")
    resolve.set_defaults(func=run)


def run(args) -> int:
    records = [recid.strip() for recid in args.records or []]
    bad = [recid for recid in records if not recid.isdigit()]
    if bad:
        raise ValueError(f"--record takes a numeric CERN Open Data record id, not {', '.join(map(repr, bad))}")
    resolve_to_file(args.out, release=args.release, skim=args.skim, template=args.template,
                    protocol=args.protocol, sizes=args.sizes, timeout=args.timeout,
                    records=[int(recid) for recid in records], opendata_server=args.opendata_server)
    return 0
