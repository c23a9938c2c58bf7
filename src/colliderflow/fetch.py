"""``colliderflow fetch``: download the input ROOT files, resumably and verified.

The real ATLAS Open Data files are tens to hundreds of MB on a public server that
sometimes drops connections. So a download

- goes to ``<out>.part`` (with a small ``<out>.part.json`` saying which URL and server
  version it holds) and is renamed to ``<out>`` only after every check passed, so a
  killed job never leaves a file that looks whole;
- resumes after an interruption with an HTTP ``Range`` request, guarded by ``If-Range``
  so that bytes of a changed server file are never glued to an old partial; a server
  that ignores ``Range`` (HTTP 200) is handled by starting again;
- retries transient failures (connection drops, timeouts, HTTP 5xx/408/429) with
  exponential backoff; an attempt that received new bytes resets the count, so only
  attempts that make no progress use up ``retries``;
- checks the size against the catalogue and the server, whichever checksums the
  catalogue knows (SHA-256 and/or adler32, the checksum the CERN Open Data records
  publish for every file; both computed in one read of the file), and that the file
  opens as ROOT with the expected TTree; a failed check deletes the partial, names the
  URL and file, the expected and actual value and what to do, and leaves no output;
  a file with no checksum in the catalogue is kept with a warning naming it.

root:// URLs (or https URLs with an XRootD mirror in ``fetch.xrootd_mirrors``) use the
XRootD python client or ``xrdcp`` when one is installed; otherwise https is used.
file:// URLs (a file already on a local or mounted disk, e.g. a copy made by hand on a
machine without network) are copied, with the same checks as a download.
Only the standard library speaks HTTP here.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

from . import __version__

log = logging.getLogger(__name__)

USER_AGENT = f"colliderflow/{__version__}"
# HTTP statuses worth retrying: the server or a proxy is busy or broke, not the request.
TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ADLER32 = re.compile(r"[0-9a-f]{8}")


class FetchError(ValueError):
    """A download failed for good (a ValueError so the CLI prints it as one line)."""


class IntegrityError(FetchError):
    """The downloaded bytes are not the expected file (size, checksum or ROOT structure)."""


class _Transient(Exception):
    """An attempt failed in a way that another attempt may fix."""


# --------------------------------------------------------------------------- helpers


def part_paths(out_path: str | Path) -> tuple[Path, Path]:
    """The partial-download file and its sidecar for ``out_path``."""
    out_path = Path(out_path)
    part = out_path.with_name(out_path.name + ".part")
    return part, part.with_name(part.name + ".json")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _discard(*paths: Path) -> None:
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _read_meta(meta_path: Path) -> dict:
    try:
        with open(meta_path) as handle:
            meta = json.load(handle)
        return meta if isinstance(meta, dict) else {}
    except (FileNotFoundError, ValueError):
        return {}


def _write_meta(meta_path: Path, meta: dict) -> None:
    tmp = meta_path.with_name(meta_path.name + ".tmp")
    with open(tmp, "w") as handle:
        json.dump(meta, handle)
    os.replace(tmp, meta_path)


def _fmt_mb(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:.1f} MB"


class _Progress:
    """Logs percent done and transfer rate at most every ``interval`` seconds."""

    def __init__(self, label: str, interval: float):
        self.label = label
        self.interval = interval
        self.total: int | None = None
        self.start_time = time.monotonic()
        self.start_bytes = 0
        self.last_log = self.start_time

    def begin(self, done: int, total: int | None) -> None:
        self.total = total
        self.start_time = self.last_log = time.monotonic()
        self.start_bytes = done
        where = f" (resuming at {_fmt_mb(done)})" if done else ""
        size = _fmt_mb(total) if total is not None else "unknown size"
        log.info("%s: downloading %s%s", self.label, size, where)

    def rate(self, done: int) -> float:
        elapsed = max(time.monotonic() - self.start_time, 1e-9)
        return (done - self.start_bytes) / elapsed / 1e6

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_log < self.interval:
            return
        self.last_log = now
        if self.total:
            log.info(
                "%s: %5.1f%% (%s of %s) at %.2f MB/s",
                self.label, 100.0 * done / self.total, _fmt_mb(done), _fmt_mb(self.total), self.rate(done),
            )
        else:
            log.info("%s: %s at %.2f MB/s", self.label, _fmt_mb(done), self.rate(done))


def xrootd_available() -> str | None:
    """Which XRootD client is installed: 'python' (resumable), 'xrdcp', or None."""
    if importlib.util.find_spec("XRootD") is not None:
        return "python"
    if shutil.which("xrdcp"):
        return "xrdcp"
    return None


def choose_url(url: str, protocol: str = "auto", mirrors: dict[str, str] | None = None,
               xrootd: str | None = None) -> str:
    """The URL to download ``url`` from, given the protocol preference.

    ``mirrors`` maps an https prefix to its root:// equivalent (both directions are used).
    auto: root:// when an XRootD client is installed and the file has a root:// location,
    else https. https / root: that protocol or a clear error.
    """
    mirrors = mirrors or {}
    if protocol not in ("auto", "https", "root"):
        raise FetchError(f"fetch.protocol must be auto, https or root, not {protocol!r}")
    if url.startswith("file:"):  # a local file has one location, whatever the protocol preference
        return url

    def swap(u: str, table: dict[str, str]) -> str | None:
        for prefix, other in table.items():
            if u.startswith(prefix):
                return other + u[len(prefix):]
        return None

    is_root = url.startswith("root://")
    as_root = url if is_root else swap(url, mirrors)
    as_https = swap(url, {v: k for k, v in mirrors.items()}) if is_root else url

    if protocol == "root" or (protocol == "auto" and xrootd and as_root):
        if not xrootd:
            raise FetchError(
                f"fetch.protocol is root but no XRootD client is installed for {url}: "
                "install xrootd (python bindings or xrdcp), or set fetch.protocol to auto or https"
            )
        if as_root is None:
            raise FetchError(
                f"no root:// location for {url}: add its https prefix to fetch.xrootd_mirrors "
                "or set fetch.protocol to auto or https"
            )
        return as_root
    if as_https is None:
        need = "fetch.protocol is https" if protocol == "https" else "no XRootD client is installed"
        raise FetchError(
            f"cannot download {url}: {need} and fetch.xrootd_mirrors gives no https equivalent; "
            "add one there, install xrootd, or give an https url in the catalogue"
        )
    return as_https


# --------------------------------------------------------------------------- transports


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")


def _http_attempt(url: str, part: Path, meta_path: Path, *, expected_size: int | None,
                  timeout: float, chunk_bytes: int, progress: _Progress) -> int | None:
    """One HTTP GET into ``part``, resuming where it stopped. Returns the file's total size.

    Raises _Transient for failures worth retrying, FetchError/IntegrityError otherwise.
    """
    meta = _read_meta(meta_path)
    if _size(part) and meta.get("url") != url:
        log.info("%s: partial download is from another URL; starting again", part.name)
        _discard(part, meta_path)
        meta = {}
    offset = _size(part)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        validator = meta.get("etag") or meta.get("last_modified")
        if validator:
            # If the file changed on the server since the partial was written, the server
            # answers 200 with the whole new file instead of the missing tail of the old one.
            headers["If-Range"] = validator

    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            match = _UNSATISFIED_RANGE.search(err.headers.get("Content-Range", "") or "")
            total = int(match.group(1)) if match else meta.get("total")
            if total is not None and offset == total:
                log.info("%s: partial download is already complete (%s)", part.name, _fmt_mb(offset))
                return total
            _discard(part, meta_path)
            raise _Transient(f"HTTP 416 for a partial of {offset} bytes (server size {total}); starting again")
        if err.code in TRANSIENT_HTTP:
            raise _Transient(f"HTTP {err.code} {err.reason}") from err
        raise FetchError(f"HTTP {err.code} {err.reason} for {url}: check the url in the catalogue") from err
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        reason = getattr(err, "reason", err)
        raise _Transient(f"cannot connect: {reason}") from err

    with response:
        status = response.status
        length = response.headers.get("Content-Length")
        if status == 206:
            match = _CONTENT_RANGE.search(response.headers.get("Content-Range", "") or "")
            if not match or int(match.group(1)) != offset:
                _discard(part, meta_path)
                raise _Transient(
                    f"server answered Range bytes={offset}- with Content-Range "
                    f"{response.headers.get('Content-Range')!r}; starting again"
                )
            total = int(match.group(3)) if match.group(3) != "*" else None
            mode = "ab"
        elif status == 200:
            if offset:
                log.warning("%s: server ignored the Range request (HTTP 200): restarting from byte 0", part.name)
            offset = 0
            total = int(length) if length is not None else None
            mode = "wb"
        else:
            raise FetchError(f"unexpected HTTP {status} for {url}")

        if expected_size is not None and total is not None and total != expected_size:
            _discard(part, meta_path)
            raise IntegrityError(
                f"server reports {total} bytes for {url} but the catalogue expects {expected_size}: "
                "the server file is not the catalogued one (truncated or replaced); "
                "check the url/size, or refresh the catalogue with `colliderflow datasets resolve`"
            )
        _write_meta(meta_path, {
            "url": url,
            "total": total,
            "etag": response.headers.get("ETag"),
            "last_modified": response.headers.get("Last-Modified"),
        })

        done = offset
        progress.begin(done, total)
        try:
            with open(part, mode) as handle:
                while True:
                    chunk = response.read(chunk_bytes)
                    if not chunk:
                        break
                    handle.write(chunk)
                    done += len(chunk)
                    if total is not None and done > total:
                        raise IntegrityError(f"server sent more than the {total} bytes it announced for {url}")
                    progress.update(done)
        except (http.client.HTTPException, OSError) as err:
            raise _Transient(f"transfer interrupted after {_fmt_mb(done)}: {err or type(err).__name__}") from err
        # http.client returns b"" (no error) when the server closes the connection early.
        if total is not None and done < total:
            raise _Transient(f"connection closed after {done} of {total} bytes")
        progress.update(done, force=True)
        return total if total is not None else done


def _xrootd_python_attempt(url: str, part: Path, meta_path: Path, *, expected_size: int | None,
                           timeout: float, chunk_bytes: int, progress: _Progress) -> int:
    """One transfer with the XRootD python client: stat, then read from the partial's end."""
    from XRootD import client  # noqa: PLC0415 (optional dependency)

    meta = _read_meta(meta_path)
    remote = client.File()
    status, _ = remote.open(url, timeout=int(timeout))
    if not status.ok:
        if getattr(status, "errno", 0) == 3011:  # kXR_NotFound
            raise FetchError(f"{url} not found: {status.message}")
        raise _Transient(f"cannot open: {status.message}")
    try:
        status, info = remote.stat(timeout=int(timeout))
        if not status.ok:
            raise _Transient(f"cannot stat: {status.message}")
        total = int(info.size)
        if expected_size is not None and total != expected_size:
            _discard(part, meta_path)
            raise IntegrityError(
                f"server reports {total} bytes for {url} but the catalogue expects {expected_size}: "
                "check the url/size, or refresh the catalogue with `colliderflow datasets resolve`"
            )
        if _size(part) and (meta.get("url") != url or meta.get("total") != total or _size(part) > total):
            log.info("%s: partial download does not match the server file; starting again", part.name)
            _discard(part, meta_path)
        _write_meta(meta_path, {"url": url, "total": total})
        done = _size(part)
        progress.begin(done, total)
        with open(part, "ab") as handle:
            while done < total:
                status, data = remote.read(done, min(chunk_bytes, total - done), timeout=int(timeout))
                if not status.ok or not data:
                    raise _Transient(f"read failed after {_fmt_mb(done)}: {status.message}")
                handle.write(data)
                done += len(data)
                progress.update(done)
        progress.update(done, force=True)
        return total
    finally:
        remote.close()


def _xrdcp_attempt(url: str, part: Path, meta_path: Path, *, expected_size: int | None,
                   timeout: float, chunk_bytes: int, progress: _Progress) -> int | None:
    """One transfer with the ``xrdcp`` executable (whole file; it has no resume we can rely on)."""
    _discard(part, meta_path)
    progress.begin(0, expected_size)
    env = dict(os.environ, XRD_REQUESTTIMEOUT=str(int(timeout)))
    result = subprocess.run(
        ["xrdcp", "--force", "--nopbar", url, str(part)],
        capture_output=True, text=True, env=env, check=False,
    )
    if result.returncode != 0:
        _discard(part)
        message = (result.stderr or result.stdout).strip().splitlines()
        raise _Transient(f"xrdcp exited with {result.returncode}: {message[-1] if message else ''}")
    progress.update(_size(part), force=True)
    return None


def _local_attempt(url: str, part: Path, meta_path: Path, *, expected_size: int | None,
                   timeout: float, chunk_bytes: int, progress: _Progress) -> int:
    """Copy a local file whole; a missing file is a permanent failure. ``file:///abs/path`` is
    absolute; ``file:rel/path`` is relative to the working directory (the workflow's), so a
    catalogue can name a file beside the repository (``file:../shared/...``)."""
    if url.startswith("file://"):
        source = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    else:
        source = Path(urllib.request.url2pathname(url[len("file:"):]))
    if not source.is_file():
        raise FetchError(f"{url}: no such file {source}; fix the url in the catalogue or put the file there")
    _discard(part, meta_path)
    total = source.stat().st_size
    progress.begin(0, total)
    shutil.copyfile(source, part)
    progress.update(_size(part), force=True)
    return total


_TRANSPORTS = {"https": _http_attempt, "python": _xrootd_python_attempt, "xrdcp": _xrdcp_attempt,
               "file": _local_attempt}


# --------------------------------------------------------------------------- checks


def check_root_file(path: str | Path, tree: str) -> int:
    """Open ``path`` with uproot and return the number of entries of TTree ``tree``.

    Cheap (reads the header, the directory and the tree's metadata), and catches an HTML
    error page, a truncated file or a file of the wrong kind before any skim reads it.
    """
    import uproot  # noqa: PLC0415 (slow import; only needed here)

    try:
        with uproot.open(path) as handle:
            if tree not in handle:
                keys = ", ".join(sorted({k.split(";")[0] for k in handle.keys()})) or "none"
                raise IntegrityError(f"{path} has no TTree {tree!r} (keys: {keys})")
            obj = handle[tree]
            if not isinstance(obj, uproot.behaviors.TTree.TTree):
                raise IntegrityError(f"{path}: {tree!r} is a {type(obj).__name__}, not a TTree")
            return int(obj.num_entries)
    except IntegrityError:
        raise
    except Exception as err:  # uproot raises many kinds for a broken file
        raise IntegrityError(f"{path} is not a readable ROOT file: {type(err).__name__}: {err}") from err


def file_checksums(path: str | Path, *, sha256: bool = True, adler32: bool = True,
                   block: int = 1 << 20) -> dict[str, str]:
    """The SHA-256 and/or adler32 of ``path`` (lowercase hex; adler32 as 8 digits), in one read."""
    digest = hashlib.sha256() if sha256 else None
    value = 1  # adler32's starting value, as zlib.adler32(b"")
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(block), b""):
            if digest is not None:
                digest.update(chunk)
            if adler32:
                value = zlib.adler32(chunk, value)
    result = {}
    if digest is not None:
        result["sha256"] = digest.hexdigest()
    if adler32:
        result["adler32"] = f"{value & 0xFFFFFFFF:08x}"
    return result


def normalise_checksums(sha256: str | None = None, adler32: str | None = None,
                        where: str = "the catalogue") -> tuple[str | None, str | None]:
    """Lowercase expected checksums (``adler32:`` prefix allowed) or a FetchError naming ``where``."""
    if sha256:
        sha256 = sha256.strip().lower()
        if not _SHA256.fullmatch(sha256):
            raise FetchError(f"sha256 {sha256!r} for {where} is not 64 hex digits: fix or remove it")
    if adler32:
        adler32 = adler32.strip().lower().removeprefix("adler32:")
        if not _ADLER32.fullmatch(adler32):
            raise FetchError(f"adler32 {adler32!r} for {where} is not 8 hex digits "
                             "(e.g. 037f48e7, leading zeros kept): fix or remove it")
    return sha256 or None, adler32 or None


_MISMATCH_HINT = ("the bytes are corrupt or not the catalogued file: fetch again to download it afresh; "
                  "if the same value comes back, the server file differs from the catalogue, so check the url "
                  "and refresh the catalogue with `colliderflow datasets resolve --record <id>`")


def verify_file(path: str | Path, *, size: int | None = None, sha256: str | None = None,
                adler32: str | None = None, expect_tree: str | None = None,
                server_size: int | None = None) -> None:
    """Raise IntegrityError unless ``path`` has the expected size, SHA-256, adler32 and ROOT tree.

    The size comes first (free); SHA-256 and adler32, where known, are computed in one read.
    """
    path = Path(path)
    sha256, adler32 = normalise_checksums(sha256, adler32, str(path))
    actual = path.stat().st_size
    if server_size is not None and actual != server_size:
        raise IntegrityError(f"{path} has {actual} bytes but the server announced {server_size}")
    if size is not None and actual != size:
        raise IntegrityError(f"{path} has {actual} bytes but the catalogue expects {size} (truncated or wrong file)")
    if sha256 or adler32:
        sums = file_checksums(path, sha256=bool(sha256), adler32=bool(adler32))
        if sha256 and sums["sha256"] != sha256:
            raise IntegrityError(f"{path} has SHA-256 {sums['sha256']} but the catalogue expects {sha256}: "
                                 + _MISMATCH_HINT)
        if adler32 and sums["adler32"] != adler32:
            raise IntegrityError(f"{path} has adler32 {sums['adler32']} but the catalogue expects {adler32}: "
                                 + _MISMATCH_HINT)
    if expect_tree:
        check_root_file(path, expect_tree)


def _warn_unverified(out_path: Path, size: int | None, kept: bool) -> None:
    checked = "its size and ROOT structure" if size is not None else "its ROOT structure (and the server's size)"
    log.warning(
        "%s: %s without a checksum: the catalogue has no sha256 or adler32 for it, so only %s were checked; "
        "record the published size and adler32 with `colliderflow datasets resolve --record <id>`",
        out_path.name, "kept" if kept else "fetched", checked,
    )


# --------------------------------------------------------------------------- main entry


def fetch_file(url: str, out_path: str | Path, size: int | None = None, sha256: str | None = None, *,
               adler32: str | None = None, retries: int = 5, backoff: float = 2.0, backoff_max: float = 120.0,
               timeout: float = 60.0, chunk_bytes: int = 1 << 20, progress_interval: float = 10.0,
               expect_tree: str | None = "analysis", protocol: str = "auto",
               mirrors: dict[str, str] | None = None) -> Path:
    """Download ``url`` to ``out_path`` (resumable, verified, atomic); return ``out_path``.

    An existing ``out_path`` that passes the checks is kept without any network access.
    On failure ``out_path`` does not exist afterwards; a partial download is kept for the
    next run only when the bytes so far are not known to be bad. ``size``, ``sha256`` and
    ``adler32`` (8 hex digits, as the CERN Open Data records publish it) are each checked
    when given; without either checksum the file is kept with a warning naming it.
    """
    sha256, adler32 = normalise_checksums(sha256, adler32, url)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    part, meta_path = part_paths(out_path)

    if out_path.exists():
        try:
            verify_file(out_path, size=size, sha256=sha256, adler32=adler32, expect_tree=expect_tree)
            log.info("%s exists and passes the checks; not downloading again", out_path)
            if not (sha256 or adler32):
                _warn_unverified(out_path, size, kept=True)
            return out_path
        except IntegrityError as err:
            log.warning("%s exists but fails the checks (%s); downloading again", out_path, err)

    xrootd = xrootd_available() if protocol != "https" else None
    source = choose_url(url, protocol, mirrors, xrootd)
    if source.startswith("file:"):
        transport = "file"
    else:
        transport = "https" if source.startswith(("http://", "https://")) else xrootd
    attempt = _TRANSPORTS[transport]
    progress = _Progress(out_path.name, progress_interval)
    log.info("fetching %s -> %s (via %s)", source, out_path, transport)

    failures = 0
    while True:
        before = _size(part)
        try:
            total = attempt(source, part, meta_path, expected_size=size, timeout=timeout,
                            chunk_bytes=chunk_bytes, progress=progress)
            break
        except IntegrityError as err:
            _discard(part, meta_path)
            raise IntegrityError(f"refusing download of {source} to {out_path}: {err}") from err
        except FetchError:
            raise
        except _Transient as err:
            failures = 0 if _size(part) > before else failures + 1
            if failures > retries:
                kept = f"; the partial download {part} is kept, rerun to resume" if _size(part) else ""
                raise FetchError(
                    f"giving up on {source} -> {out_path} after {failures} attempts without progress "
                    f"(fetch.retries={retries}): {err}{kept}"
                ) from err
            delay = min(backoff_max, backoff * 2 ** max(failures - 1, 0))
            log.warning("%s: %s; retrying in %.1f s (%d of %d retries left)",
                        out_path.name, err, delay, retries - failures, retries)
            time.sleep(delay)

    try:
        verify_file(part, size=size, sha256=sha256, adler32=adler32, expect_tree=expect_tree, server_size=total)
    except IntegrityError as err:
        _discard(part, meta_path)
        raise IntegrityError(f"refusing download of {source} to {out_path}: {err}") from err
    os.replace(part, out_path)
    _discard(meta_path)
    matched = [name for name, known in (("size", size is not None), ("SHA-256", sha256), ("adler32", adler32))
               if known]
    log.info("%s: complete, %s, checks passed%s", out_path, _fmt_mb(out_path.stat().st_size),
             f" ({', '.join(matched)} match)" if matched else "")
    if not (sha256 or adler32):
        _warn_unverified(out_path, size, kept=False)
    return out_path


def remote_size(url: str, timeout: float = 60.0) -> int | None:
    """The server's Content-Length for ``url`` (HTTP HEAD), or None when it gives none."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": USER_AGENT,
                                                                 "Accept-Encoding": "identity"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
    except (urllib.error.URLError, http.client.HTTPException, OSError, socket.timeout) as err:
        raise FetchError(f"HEAD {url} failed: {getattr(err, 'reason', err)}") from err
    return int(length) if length is not None else None


# --------------------------------------------------------------------------- catalogue + CLI


FETCH_KEYS = ("protocol", "retries", "backoff_s", "backoff_max_s", "timeout_s", "chunk_bytes",
              "progress_interval_s", "expect_tree", "xrootd_mirrors")


def settings_kwargs(cfg: dict) -> dict:
    """fetch_file keyword arguments from the config's ``fetch`` section."""
    section = cfg.get("fetch", {})
    missing = [key for key in FETCH_KEYS if key not in section]
    if missing:
        raise KeyError(
            f"config key(s) {', '.join('fetch.' + k for k in missing)} missing: the fetch section of "
            "the config schema (colliderflow/config.schema.yaml) gives their defaults (see config/README.md)"
        )
    return {
        "retries": int(section["retries"]),
        "backoff": float(section["backoff_s"]),
        "backoff_max": float(section["backoff_max_s"]),
        "timeout": float(section["timeout_s"]),
        "chunk_bytes": int(section["chunk_bytes"]),
        "progress_interval": float(section["progress_interval_s"]),
        "expect_tree": section["expect_tree"],
        "protocol": section["protocol"],
        "mirrors": dict(section["xrootd_mirrors"]),
    }


def catalogue_files(cfg: dict) -> dict[str, dict]:
    """File name -> catalogue entry (name, url, size?, sha256?, adler32?), over every sample."""
    files: dict[str, dict] = {}
    for sample, spec in cfg.get("samples", {}).items():
        for entry in spec.get("files", []):
            if entry["name"] in files:
                raise ValueError(f"file name {entry['name']!r} appears twice in samples (second in {sample!r})")
            files[entry["name"]] = entry
    return files


def default_output(cfg: dict, name: str) -> Path:
    return Path("resources") / cfg["dataset"]["name"] / f"{name}.root"


def fetch_catalogue_file(cfg: dict, name: str, out: str | Path | None = None) -> Path:
    """Download the catalogue file ``name`` to ``out`` (default resources/<dataset>/<name>.root)."""
    files = catalogue_files(cfg)
    if name not in files:
        close = [n for n in files if name.lower() in n.lower()][:5]
        hint = f" (did you mean: {', '.join(close)}?)" if close else ""
        raise KeyError(f"file {name!r} is not in the config's samples{hint}")
    entry = files[name]
    if not entry.get("url"):
        raise ValueError(f"file {name!r} has no url in the config's samples: "
                         "add one, or leave it out of the catalogue's fetched files so the embedded simulation makes it")
    return fetch_file(entry["url"], out or default_output(cfg, name), entry.get("size"), entry.get("sha256"),
                      adler32=entry.get("adler32"), **settings_kwargs(cfg))


def register(sub) -> None:
    from . import config  # noqa: PLC0415

    parser = sub.add_parser(
        "fetch",
        description="Download catalogue files (--file NAME, --all) or any URL (--url URL --out PATH). "
        "Settings come from the config's fetch section.",
    )
    config.add_arguments(parser)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--file", metavar="NAME", help="catalogue file name (a samples.*.files[].name)")
    what.add_argument("--all", action="store_true", help="every catalogue file with a url")
    what.add_argument("--url", help="download this URL instead of a catalogue file (needs --out)")
    parser.add_argument("--out", help="output path (default resources/<dataset.name>/<name>.root)")
    parser.add_argument("--size", type=int, help="with --url: expected size in bytes")
    parser.add_argument("--sha256", help="with --url: expected SHA-256")
    parser.add_argument("--adler32", help="with --url: expected adler32 (8 hex digits, as CERN Open Data publishes it)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from . import config  # noqa: PLC0415

    cfg = config.load(args.configfile, args.settings)
    if args.url:
        if not args.out:
            raise ValueError("--url needs --out PATH")
        fetch_file(args.url, args.out, args.size, args.sha256, adler32=args.adler32, **settings_kwargs(cfg))
        return 0
    if args.size is not None or args.sha256 or args.adler32:
        raise ValueError("--size, --sha256 and --adler32 go with --url; catalogue files take them from the config")
    if args.file:
        fetch_catalogue_file(cfg, args.file, args.out)
        return 0
    if args.out:
        raise ValueError("--all writes to resources/<dataset.name>/; drop --out")
    names = [name for name, entry in catalogue_files(cfg).items() if entry.get("url")]
    if not names:
        raise ValueError("no file in the config's samples has a url: nothing to fetch")
    failed = []
    for i, name in enumerate(names, 1):
        log.info("[%d/%d] %s", i, len(names), name)
        try:
            fetch_catalogue_file(cfg, name)
        except FetchError as err:
            log.error("%s", err)
            failed.append(name)
    if failed:
        raise FetchError(f"{len(failed)} of {len(names)} downloads failed: {', '.join(failed)} (see the log above)")
    return 0
