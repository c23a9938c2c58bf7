"""colliderflow.fetch and colliderflow.datasets, against a local HTTP server (no internet).

The server on 127.0.0.1 serves a real ATLAS Open Data file and can misbehave on purpose:
cut the connection mid-transfer, ignore Range, serve truncated or corrupted bytes, fail.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import logging
import random
import re
import shutil
import sys
import threading
import types
import zlib
from pathlib import Path

import pytest
import yaml

from colliderflow import cli, config, datasets, fetch

REPO = Path(__file__).resolve().parents[2]
REAL_FILE = (REPO.parent / "shared" / "data" / "atlas-opendata"
             / "ODEO_FEB2025_v0_exactly4lep_data15_periodD.exactly4lep.root")
REAL_SHA256 = "dd4ac1bb823a9dd908564485eb274504d955be7629386a5f2bf917a24129a954"
REAL_ADLER32 = "35ffb644"  # computed from the file (test_real_file_is_the_expected_one checks both)
REAL_SIZE = 2219662
ATLAS_2025 = REPO / "config" / "atlas-2025.yaml"
ATLAS_2025_HZZ4L = REPO / "config" / "atlas-2025-hzz4l.yaml"
# Published by the CERN Open Data record of the GamGam collision data (quoted in issue 9).
GAMGAM_D15D = ("ODEO_FEB2025_v0_GamGam_data15_periodD.GamGam", 17541818, "037f48e7")

# Tiny backoff and frequent progress so that every test runs in well under a second.
FAST = dict(retries=2, backoff=0.001, backoff_max=0.01, timeout=5.0, chunk_bytes=64 * 1024, progress_interval=0.0)
FETCH_SECTION = {
    "protocol": "auto", "retries": 2, "backoff_s": 0.001, "backoff_max_s": 0.01, "timeout_s": 5.0,
    "chunk_bytes": 65536, "progress_interval_s": 0.0, "expect_tree": "analysis",
    "xrootd_mirrors": {"https://opendata.cern.ch/eos/opendata/": "root://eospublic.cern.ch//eos/opendata/"},
}


# --------------------------------------------------------------------------- test server


class ServerState:
    def __init__(self, payload: bytes):
        self.payload = payload
        self.etag = '"v1"'
        self.cut_after: int | None = None  # first GET: send this many bytes, then drop the connection
        self.ignore_range = False
        self.status: int | None = None  # answer every GET with this error status
        self.body_override: bytes | None = None  # serve these bytes instead (truncated/corrupted file)
        self.requests: list[dict] = []

    def body(self) -> bytes:
        return self.payload if self.body_override is None else self.body_override


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def _headers(self, status: int, length: int, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", self.server.state.etag)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def do_HEAD(self):
        state = self.server.state
        state.requests.append({"method": "HEAD", "headers": dict(self.headers)})
        self._headers(200, len(state.body()))

    def do_GET(self):
        state = self.server.state
        state.requests.append({"method": "GET", "headers": dict(self.headers)})
        if state.status:
            self.send_error(state.status)
            return
        body = state.body()
        total = len(body)
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if wanted and not state.ignore_range and (if_range is None or if_range == state.etag):
            start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1))
            if start >= total:
                self._headers(416, 0, {"Content-Range": f"bytes */{total}"})
                return
            data = body[start:]
            self._headers(206, len(data), {"Content-Range": f"bytes {start}-{total - 1}/{total}"})
        else:
            data = body
            self._headers(200, total)
        if state.cut_after is not None:
            data, state.cut_after = data[: state.cut_after], None
        try:
            self.wfile.write(data)
        except ConnectionError:  # the client gave up early (e.g. it refused the announced size)
            pass


@pytest.fixture(scope="module")
def payload() -> bytes:
    if not REAL_FILE.is_file():
        pytest.skip(f"real test file {REAL_FILE} is not available")
    return REAL_FILE.read_bytes()


@pytest.fixture
def server(payload):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.state = ServerState(payload)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    state = httpd.state
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/eos/opendata/atlas/file.root"
    yield state
    httpd.shutdown()
    httpd.server_close()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir())


# --------------------------------------------------------------------------- downloads


def test_real_file_is_the_expected_one(payload):
    assert hashlib.sha256(payload).hexdigest() == REAL_SHA256
    assert f"{zlib.adler32(payload) & 0xFFFFFFFF:08x}" == REAL_ADLER32
    assert len(payload) == REAL_SIZE


def test_normal_download_matches_checksum_and_leaves_no_partial(server, payload, tmp_path, caplog):
    out = tmp_path / "data" / "file.root"
    with caplog.at_level(logging.INFO, logger="colliderflow.fetch"):
        fetch.fetch_file(server.url, out, size=len(payload), sha256=REAL_SHA256, **FAST)
    assert sha(out) == REAL_SHA256
    assert leftovers(out) == ["file.root"]  # no .part, no sidecar
    assert len(server.requests) == 1 and "Range" not in server.requests[0]["headers"]
    assert any("MB/s" in r.getMessage() and "%" in r.getMessage() for r in caplog.records)


def test_cut_mid_transfer_is_resumed_with_a_range_request(server, payload, tmp_path):
    server.cut_after = 700_000
    out = tmp_path / "file.root"
    fetch.fetch_file(server.url, out, size=len(payload), sha256=REAL_SHA256, **FAST)
    assert out.read_bytes() == payload
    assert len(server.requests) == 2
    assert server.requests[1]["headers"]["Range"] == "bytes=700000-"
    assert server.requests[1]["headers"]["If-Range"] == '"v1"'
    assert leftovers(out) == ["file.root"]


def test_partial_from_an_interrupted_run_is_resumed_by_the_next_run(server, payload, tmp_path):
    server.status = 503
    server.cut_after = None
    out = tmp_path / "file.root"
    part, meta = fetch.part_paths(out)
    # a previous run got 1 MB, then died
    part.write_bytes(payload[:1_000_000])
    meta.write_text('{"url": "%s", "total": %d, "etag": "\\"v1\\""}' % (server.url, len(payload)))
    with pytest.raises(fetch.FetchError, match="giving up.*partial download .* is kept"):
        fetch.fetch_file(server.url, out, size=len(payload), **FAST)
    assert not out.exists() and part.stat().st_size == 1_000_000
    server.status = None
    server.requests.clear()
    fetch.fetch_file(server.url, out, size=len(payload), sha256=REAL_SHA256, **FAST)
    assert out.read_bytes() == payload
    assert [r["headers"].get("Range") for r in server.requests] == ["bytes=1000000-"]


def test_server_ignoring_range_restarts_from_scratch(server, payload, tmp_path, caplog):
    server.ignore_range = True
    out = tmp_path / "file.root"
    part, meta = fetch.part_paths(out)
    part.write_bytes(b"\0" * 500_000)  # junk that must not end up in the file
    meta.write_text('{"url": "%s", "total": %d}' % (server.url, len(payload)))
    with caplog.at_level(logging.WARNING, logger="colliderflow.fetch"):
        fetch.fetch_file(server.url, out, sha256=REAL_SHA256, **FAST)
    assert out.read_bytes() == payload
    assert server.requests[0]["headers"]["Range"] == "bytes=500000-"
    assert any("ignored the Range" in r.getMessage() for r in caplog.records)


def test_changed_server_file_is_not_glued_to_an_old_partial(server, payload, tmp_path):
    out = tmp_path / "file.root"
    part, meta = fetch.part_paths(out)
    part.write_bytes(b"\0" * 300_000)  # from an older version of the file
    meta.write_text('{"url": "%s", "etag": "\\"v0\\""}' % server.url)
    fetch.fetch_file(server.url, out, sha256=REAL_SHA256, **FAST)  # If-Range "v0" != "v1": whole file
    assert out.read_bytes() == payload


def test_complete_partial_gets_416_and_is_verified(server, payload, tmp_path):
    out = tmp_path / "file.root"
    part, meta = fetch.part_paths(out)
    part.write_bytes(payload)
    meta.write_text('{"url": "%s", "total": %d, "etag": "\\"v1\\""}' % (server.url, len(payload)))
    fetch.fetch_file(server.url, out, size=len(payload), sha256=REAL_SHA256, **FAST)
    assert out.read_bytes() == payload and not part.exists()
    assert len(server.requests) == 1


def test_truncated_file_is_refused_by_size(server, payload, tmp_path):
    server.body_override = payload[: len(payload) // 2]
    out = tmp_path / "file.root"
    with pytest.raises(fetch.IntegrityError) as err:
        fetch.fetch_file(server.url, out, size=len(payload), **FAST)
    message = str(err.value)
    assert server.url in message and str(out) in message and str(len(payload)) in message
    assert leftovers(out) == []


def test_truncated_file_without_known_size_is_refused_as_not_root(server, payload, tmp_path):
    server.body_override = payload[: len(payload) // 2]
    out = tmp_path / "file.root"
    with pytest.raises(fetch.IntegrityError, match="not a readable ROOT file"):
        fetch.fetch_file(server.url, out, **FAST)
    assert leftovers(out) == []


def test_corrupt_file_is_refused_by_sha256(server, payload, tmp_path):
    corrupt = bytearray(payload)
    corrupt[len(corrupt) // 2] ^= 0xFF  # one flipped byte in a basket: still opens as ROOT
    server.body_override = bytes(corrupt)
    out = tmp_path / "file.root"
    with pytest.raises(fetch.IntegrityError, match=f"SHA-256 .* expects {REAL_SHA256}") as err:
        fetch.fetch_file(server.url, out, size=len(payload), sha256=REAL_SHA256, **FAST)
    assert server.url in str(err.value)
    assert leftovers(out) == []


def test_corrupt_file_without_checksum_is_refused_as_not_root(server, payload, tmp_path):
    server.body_override = b"<html>Service unavailable</html>" + payload[32:]
    out = tmp_path / "file.root"
    with pytest.raises(fetch.IntegrityError, match="not a readable ROOT file"):
        fetch.fetch_file(server.url, out, size=len(payload), **FAST)
    assert leftovers(out) == []


def test_root_file_without_the_expected_tree_is_refused(server, payload, tmp_path):
    out = tmp_path / "file.root"
    with pytest.raises(fetch.IntegrityError, match="no TTree 'mini'.*analysis"):
        fetch.fetch_file(server.url, out, **{**FAST, "expect_tree": "mini"})
    assert leftovers(out) == []


def test_retries_with_backoff_exhausted_give_a_clear_error(server, tmp_path, monkeypatch):
    server.status = 503
    sleeps = []
    monkeypatch.setattr(fetch.time, "sleep", sleeps.append)
    out = tmp_path / "file.root"
    with pytest.raises(fetch.FetchError, match=r"giving up on .*file.root after 3 attempts.*HTTP 503") as err:
        fetch.fetch_file(server.url, out, **{**FAST, "backoff": 1.0, "backoff_max": 1.5})
    assert server.url in str(err.value)
    assert len(server.requests) == 3  # first try + retries=2
    assert sleeps == [1.0, 1.5]  # exponential, capped at backoff_max
    assert not out.exists()


def test_permanent_http_error_is_not_retried(server, tmp_path):
    server.status = 404
    with pytest.raises(fetch.FetchError, match="HTTP 404"):
        fetch.fetch_file(server.url, tmp_path / "file.root", **FAST)
    assert len(server.requests) == 1


def test_connection_refused_is_retried_then_reported(tmp_path):
    import socket

    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/file.root"
    with pytest.raises(fetch.FetchError, match="after 3 attempts.*cannot connect"):
        fetch.fetch_file(url, tmp_path / "file.root", **FAST)


def test_existing_good_output_is_not_downloaded_again(server, payload, tmp_path):
    out = tmp_path / "file.root"
    out.write_bytes(payload)
    fetch.fetch_file(server.url, out, size=len(payload), sha256=REAL_SHA256, **FAST)
    assert server.requests == []


def test_existing_bad_output_is_replaced(server, payload, tmp_path):
    out = tmp_path / "file.root"
    out.write_bytes(payload[:1000])
    fetch.fetch_file(server.url, out, size=len(payload), **FAST)
    assert out.read_bytes() == payload


# --------------------------------------------------------------------------- adler32 and the one-read checksums


def test_file_checksums_streams_adler32_and_sha256_in_chunks(payload, tmp_path):
    path = tmp_path / "f.root"
    path.write_bytes(payload)
    # a block that does not divide the file: the streamed adler32 must equal the whole-file one
    assert fetch.file_checksums(path, block=65_537) == {"sha256": REAL_SHA256, "adler32": REAL_ADLER32}
    assert fetch.file_checksums(path, sha256=False) == {"adler32": REAL_ADLER32}
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert fetch.file_checksums(empty, sha256=False) == {"adler32": "00000001"}  # leading zeros kept


def test_adler32_is_accepted_without_a_no_checksum_warning(server, payload, tmp_path, caplog):
    out = tmp_path / "file.root"
    with caplog.at_level(logging.INFO, logger="colliderflow.fetch"):
        fetch.fetch_file(server.url, out, size=len(payload), adler32=REAL_ADLER32.upper(), **FAST)
    assert out.read_bytes() == payload
    assert leftovers(out) == ["file.root"]
    assert any("size, adler32 match" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_corrupt_file_is_refused_by_adler32_with_a_one_line_message(server, payload, tmp_path):
    corrupt = bytearray(payload)
    corrupt[len(corrupt) // 2] ^= 0xFF  # same size, still opens as ROOT: only a checksum sees it
    server.body_override = bytes(corrupt)
    actual = f"{zlib.adler32(bytes(corrupt)) & 0xFFFFFFFF:08x}"
    out = tmp_path / "file.root"
    with pytest.raises(fetch.IntegrityError) as err:
        fetch.fetch_file(server.url, out, size=len(payload), adler32=REAL_ADLER32, **FAST)
    message = str(err.value)
    assert "\n" not in message
    assert f"refusing download of {server.url} to {out}" in message
    assert f"has adler32 {actual} but the catalogue expects {REAL_ADLER32}" in message
    assert "fetch again" in message and "colliderflow datasets resolve" in message
    assert leftovers(out) == []  # no output, no partial, no sidecar


def test_cli_refuses_an_adler32_mismatch_in_one_line(server, payload, tmp_path, monkeypatch, cfg_loader, capsys):
    monkeypatch.chdir(tmp_path)
    cfg = catalogue_cfg(server.url, len(payload))
    cfg["samples"]["data"]["files"][0]["adler32"] = "037f48e7"  # another file's checksum
    cfg_loader["cfg"] = cfg
    assert cli.main(["fetch", "--file", "real_file"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "refusing download of" in err[0] and "real_file.root" in err[0]
    assert f"adler32 {REAL_ADLER32} but the catalogue expects 037f48e7" in err[0]
    assert leftovers(tmp_path / "resources" / "testset" / "real_file.root") == []  # no file, no partial


def test_size_only_download_is_kept_with_a_warning_naming_it(server, payload, tmp_path, caplog):
    out = tmp_path / "file.root"
    with caplog.at_level(logging.WARNING, logger="colliderflow.fetch"):
        fetch.fetch_file(server.url, out, size=len(payload), **FAST)
    assert out.read_bytes() == payload
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "file.root: fetched without a checksum" in warnings[0] and "only its size and ROOT" in warnings[0]
    # a size mismatch is still refused with size alone
    server.body_override = payload[:-1]
    with pytest.raises(fetch.IntegrityError, match=f"catalogue expects {len(payload)}"):
        fetch.fetch_file(server.url, tmp_path / "other.root", size=len(payload), **FAST)


def test_sha256_and_adler32_are_checked_in_one_read(server, payload, tmp_path, monkeypatch):
    opened = []
    real_open = open

    def spy(path, mode="r", *args, **kwargs):
        if "r" in mode and "b" in mode:
            opened.append(Path(path).name)
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(fetch, "open", spy, raising=False)
    out = tmp_path / "file.root"
    fetch.fetch_file(server.url, out, size=len(payload), sha256=REAL_SHA256, adler32=REAL_ADLER32, **FAST)
    assert out.read_bytes() == payload
    assert opened == ["file.root.part"]  # one read of the download for both checksums
    # both are compared: the right SHA-256 does not excuse a wrong adler32
    opened.clear()
    with pytest.raises(fetch.IntegrityError, match="adler32 35ffb644 but the catalogue expects 00000000"):
        fetch.fetch_file(server.url, tmp_path / "again.root", sha256=REAL_SHA256, adler32="00000000", **FAST)
    assert opened == ["again.root.part"]
    assert not (tmp_path / "again.root").exists()


def test_existing_output_with_a_wrong_adler32_is_downloaded_again(server, payload, tmp_path):
    out = tmp_path / "file.root"
    corrupt = bytearray(payload)
    corrupt[1000] ^= 0x01
    out.write_bytes(bytes(corrupt))
    fetch.fetch_file(server.url, out, size=len(payload), adler32=REAL_ADLER32, **FAST)
    assert out.read_bytes() == payload and len(server.requests) == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"adler32": "37f48e7"}, "not 8 hex digits"),
    ({"adler32": "adler32:zz"}, "not 8 hex digits"),
    ({"sha256": "abc"}, "not 64 hex digits"),
])
def test_malformed_checksum_is_refused_before_downloading(server, tmp_path, kwargs, message):
    with pytest.raises(fetch.FetchError, match=message):
        fetch.fetch_file(server.url, tmp_path / "file.root", **kwargs, **FAST)
    assert server.requests == [] and leftovers(tmp_path / "file.root") == []


def test_cli_fetch_url_with_adler32(server, payload, tmp_path, monkeypatch, cfg_loader):
    monkeypatch.chdir(tmp_path)
    cfg_loader["cfg"] = catalogue_cfg(server.url)
    assert cli.main(["fetch", "--url", server.url, "--out", "m.root", "--adler32", "adler32:" + REAL_ADLER32]) == 0
    assert sha(tmp_path / "m.root") == REAL_SHA256
    assert cli.main(["fetch", "--file", "real_file", "--adler32", REAL_ADLER32]) == 2  # only with --url


# --------------------------------------------------------------------------- protocols


MIRRORS = {"https://opendata.cern.ch/eos/opendata/": "root://eospublic.cern.ch//eos/opendata/"}
HTTPS = "https://opendata.cern.ch/eos/opendata/atlas/rucio/opendata/f.root"
ROOT = "root://eospublic.cern.ch//eos/opendata/atlas/rucio/opendata/f.root"


@pytest.mark.parametrize(
    "url, protocol, client, expected",
    [
        (HTTPS, "auto", None, HTTPS),
        (HTTPS, "auto", "xrdcp", ROOT),
        (HTTPS, "auto", "python", ROOT),
        (HTTPS, "https", "xrdcp", HTTPS),
        (ROOT, "auto", None, HTTPS),
        (ROOT, "https", "python", HTTPS),
        (ROOT, "root", "xrdcp", ROOT),
        ("https://elsewhere.org/f.root", "auto", "xrdcp", "https://elsewhere.org/f.root"),
    ],
)
def test_choose_url(url, protocol, client, expected):
    assert fetch.choose_url(url, protocol, MIRRORS, client) == expected


@pytest.mark.parametrize(
    "url, protocol, client, message",
    [
        (HTTPS, "root", None, "no XRootD client"),
        ("https://elsewhere.org/f.root", "root", "xrdcp", "no root:// location"),
        ("root://other//f.root", "auto", None, "no XRootD client is installed"),
        (HTTPS, "ftp", None, "auto, https or root"),
    ],
)
def test_choose_url_errors(url, protocol, client, message):
    with pytest.raises(fetch.FetchError, match=message):
        fetch.choose_url(url, protocol, MIRRORS, client)


@pytest.fixture
def fake_xrdcp(tmp_path, monkeypatch):
    """An ``xrdcp`` on PATH that copies <FAKE_XRD_DIR>/<basename> and logs its arguments."""
    bindir, store = tmp_path / "bin", tmp_path / "eos"
    bindir.mkdir()
    store.mkdir()
    script = bindir / "xrdcp"
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, shutil, sys\n"
        "open(os.environ['FAKE_XRD_LOG'], 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        "src = os.path.join(os.environ['FAKE_XRD_DIR'], os.path.basename(sys.argv[-2]))\n"
        "if not os.path.exists(src):\n"
        "    sys.exit('[ERROR] Server responded with an error: [3011] No such file')\n"
        "shutil.copy(src, sys.argv[-1])\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("FAKE_XRD_DIR", str(store))
    monkeypatch.setenv("FAKE_XRD_LOG", str(tmp_path / "xrdcp.log"))
    monkeypatch.setattr(fetch.importlib.util, "find_spec", lambda name: None)  # no python client
    return store, tmp_path / "xrdcp.log"


def test_xrdcp_is_used_for_the_root_mirror_of_an_https_url(fake_xrdcp, tmp_path):
    store, calls = fake_xrdcp
    shutil.copy(REAL_FILE, store / "f.root")
    assert fetch.xrootd_available() == "xrdcp"
    out = tmp_path / "out" / "f.root"
    fetch.fetch_file(HTTPS, out, sha256=REAL_SHA256, mirrors=MIRRORS, **FAST)
    assert sha(out) == REAL_SHA256
    assert ROOT in calls.read_text()
    assert leftovers(out) == ["f.root"]


def test_xrdcp_failure_is_retried_then_reported(fake_xrdcp, tmp_path):
    _, calls = fake_xrdcp
    out = tmp_path / "out" / "f.root"
    with pytest.raises(fetch.FetchError, match="after 3 attempts.*xrdcp exited with 1.*3011"):
        fetch.fetch_file(ROOT, out, mirrors=MIRRORS, **FAST)
    assert len(calls.read_text().splitlines()) == 3
    assert not out.exists()


def test_xrootd_python_client_resumes_after_a_failed_read(payload, tmp_path, monkeypatch):
    """With a stand-in for XRootD.client.File that fails one read mid-file."""
    reads = []

    class Status:
        def __init__(self, ok=True, message=""):
            self.ok, self.message, self.errno = ok, message, 0

    class File:
        fail_at = 600_000

        def open(self, url, timeout=0):
            assert url == ROOT
            return Status(), None

        def stat(self, timeout=0):
            return Status(), types.SimpleNamespace(size=len(payload))

        def read(self, offset, size, timeout=0):
            reads.append(offset)
            if File.fail_at is not None and offset >= File.fail_at:
                File.fail_at = None
                return Status(False, "[ERROR] Socket error"), None
            return Status(), payload[offset: offset + size]

        def close(self, timeout=0):
            return Status(), None

    module = types.ModuleType("XRootD")
    module.client = types.SimpleNamespace(File=File)
    monkeypatch.setitem(sys.modules, "XRootD", module)
    monkeypatch.setattr(fetch, "xrootd_available", lambda: "python")
    out = tmp_path / "f.root"
    fetch.fetch_file(HTTPS, out, size=len(payload), sha256=REAL_SHA256, mirrors=MIRRORS, **FAST)
    assert out.read_bytes() == payload
    failed_at = next(o for o in reads if o >= 600_000)
    assert reads.count(failed_at) == 2  # the failed offset was read again, nothing before it


# --------------------------------------------------------------------------- catalogue and CLI


def catalogue_cfg(url: str, size: int | None = None, sha256: str | None = None) -> dict:
    entry = {"name": "real_file", "url": url}
    if size is not None:
        entry["size"] = size
    if sha256:
        entry["sha256"] = sha256
    return {
        "dataset": {"name": "testset", "simulated": False},
        "samples": {"data": {"kind": "data", "process": "data", "files": [entry, {"name": "no_url"}]}},
        "fetch": dict(FETCH_SECTION),
    }


def test_catalogue_file_goes_to_resources(server, payload, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = fetch.fetch_catalogue_file(catalogue_cfg(server.url, len(payload), REAL_SHA256), "real_file")
    assert out == Path("resources/testset/real_file.root")
    assert sha(tmp_path / out) == REAL_SHA256


def test_catalogue_errors_name_the_file():
    cfg = catalogue_cfg("http://127.0.0.1:9/x.root")
    with pytest.raises(KeyError, match="'real' is not in the config's samples.*real_file"):
        fetch.fetch_catalogue_file(cfg, "real")
    with pytest.raises(ValueError, match="'no_url' has no url"):
        fetch.fetch_catalogue_file(cfg, "no_url")


@pytest.fixture
def cfg_loader(monkeypatch):
    """config.load returning a Python-built cfg (the fetch section is not in the schema yet)."""
    holder = {}
    monkeypatch.setattr(config, "load", lambda configfile=None, settings=None: holder["cfg"])
    return holder


def test_cli_fetch_url_and_file(server, payload, tmp_path, monkeypatch, cfg_loader):
    monkeypatch.chdir(tmp_path)
    cfg_loader["cfg"] = catalogue_cfg(server.url, len(payload))
    assert cli.main(["fetch", "--url", server.url, "--out", "manual.root", "--sha256", REAL_SHA256]) == 0
    assert sha(tmp_path / "manual.root") == REAL_SHA256
    assert cli.main(["fetch", "--file", "real_file"]) == 0
    assert sha(tmp_path / "resources" / "testset" / "real_file.root") == REAL_SHA256


def test_cli_fetch_refusal_is_one_line(server, payload, tmp_path, monkeypatch, cfg_loader, capsys):
    monkeypatch.chdir(tmp_path)
    server.body_override = payload[:1000]
    cfg_loader["cfg"] = catalogue_cfg(server.url, len(payload))
    assert cli.main(["fetch", "--file", "real_file"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "colliderflow fetch: error: refusing download of" in err[0]
    assert not (tmp_path / "resources" / "testset" / "real_file.root").exists()


def test_settings_kwargs_maps_the_config_section():
    kwargs = fetch.settings_kwargs({"fetch": FETCH_SECTION})
    assert kwargs["retries"] == 2 and kwargs["chunk_bytes"] == 65536 and kwargs["expect_tree"] == "analysis"
    with pytest.raises(KeyError, match="fetch.protocol, fetch.retries, .*fetch.xrootd_mirrors missing"):
        fetch.settings_kwargs({"fetch": {}})
    with pytest.raises(KeyError, match="fetch.timeout_s missing"):
        fetch.settings_kwargs({"fetch": {k: v for k, v in FETCH_SECTION.items() if k != "timeout_s"}})


# --------------------------------------------------------------------------- config/atlas-2025.yaml


def test_atlas_2025_catalogue_validates_and_lists_the_real_skim():
    with open(ATLAS_2025) as handle:
        raw = yaml.safe_load(handle)
    cfg = config.validate(raw, str(ATLAS_2025))
    assert cfg["dataset"] == {"name": "atlas-2025", "simulated": False, "lumi_known": True,
                              "sqrt_s_tev": 13.0}
    assert cfg["lumi_fb"] == 36.1
    data = cfg["samples"]["data"]["files"]
    periods = [re.search(r"(data1[56]_period[A-Z])", f["name"]).group(1) for f in data]
    assert periods == [f"data15_period{p}" for p in "DEFGHJ"] + [f"data16_period{p}" for p in "ABCDEFGIKL"]
    dsids = {s: [re.search(r"mc_(\d+)", f["name"]).group(1) for f in spec["files"]]
             for s, spec in cfg["samples"].items() if s != "data"}
    assert dsids == {"ggH": ["343981"], "VBF": ["346214"], "WH": ["345317", "345318"], "ZH": ["345319"],
                     "ttH": ["346525"], "yy": ["302521"]}
    assert {s: spec["kind"] for s, spec in cfg["samples"].items()} == {
        "data": "data", "ggH": "signal", "VBF": "signal", "WH": "signal", "ZH": "signal", "ttH": "signal",
        "yy": "background"}
    for spec in cfg["samples"].values():
        for entry in spec["files"]:
            assert entry["url"].startswith(
                "https://opendata.cern.ch/eos/opendata/atlas/rucio/opendata/ODEO_FEB2025_v0_GamGam_")
            assert entry["url"].rsplit("/", 1)[1] == entry["name"] + ".root"


SHIPPED = sorted((REPO / "config").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_catalogue_checksum_fields_are_well_formed(path):
    with open(path) as handle:
        samples = (yaml.safe_load(handle) or {}).get("samples") or {}
    for sample, spec in samples.items():
        for entry in spec.get("files", []):
            where = f"{path.name}: {sample}: {entry['name']}"
            if "size" in entry:
                assert type(entry["size"]) is int and entry["size"] > 0, where
            if "sha256" in entry:
                assert re.fullmatch(r"[0-9a-f]{64}", str(entry["sha256"])), where
            if "adler32" in entry:
                # a string of 8 lowercase hex digits (YAML would read an unquoted all-digit value as a number)
                assert isinstance(entry["adler32"], str) and re.fullmatch(r"[0-9a-f]{8}", entry["adler32"]), where
            if "sha256" in entry or "adler32" in entry:
                assert "size" in entry, f"{where}: a checksum without the size"


def catalogue_checksums(path: Path) -> dict[str, tuple]:
    with open(path) as handle:
        samples = yaml.safe_load(handle)["samples"]
    return {e["name"]: (e.get("size"), e.get("adler32"), e.get("sha256"))
            for spec in samples.values() for e in spec["files"] if "size" in e or "adler32" in e}


def test_real_data_catalogues_carry_the_checksums_established_offline(payload):
    """Which entries carry size and adler32, and that the values are the published/computed ones.

    Only these two are known without network: the rest need `datasets resolve --record`.
    """
    name, size, adler32 = GAMGAM_D15D
    assert catalogue_checksums(ATLAS_2025) == {
        name: (size, adler32, "01bfa7cee25c7f32c3701e458d171f65def834d96e6071e119532421a64bd5f7")}
    assert catalogue_checksums(ATLAS_2025_HZZ4L) == {
        "ODEO_FEB2025_v0_exactly4lep_data15_periodD.exactly4lep": (len(payload), REAL_ADLER32, REAL_SHA256)}


# --------------------------------------------------------------------------- datasets resolve


def committed_urls() -> dict[str, list[str]]:
    """atlasopenmagic key -> root:// URLs, as its API stores them, from the committed catalogue."""
    with open(ATLAS_2025) as handle:
        samples = yaml.safe_load(handle)["samples"]
    keys: dict[str, list[str]] = {}
    for sample, spec in samples.items():
        for entry in spec["files"]:
            key = "data" if sample == "data" else re.search(r"mc_(\d+)", entry["name"]).group(1)
            root = entry["url"].replace("https://opendata.cern.ch/", "root://eospublic.cern.ch:1094//")
            keys.setdefault(key, []).append(root)
    for urls in keys.values():
        random.Random(1).shuffle(urls)  # the API's order is not ours
    return keys


@pytest.fixture
def offline_atlasopenmagic(monkeypatch):
    """The real atlasopenmagic with only its network layer replaced by committed_urls()."""
    import atlasopenmagic.metadata as md

    store = committed_urls()
    calls = []
    monkeypatch.setattr(md, "current_release", md.current_release)
    monkeypatch.setattr(md, "_metadata", {})
    monkeypatch.setattr(md, "_fetch_and_cache_release_data", lambda release, **kw: calls.append(release))

    def get_all_info(key, var=None):
        key = str(key)
        if key not in store:
            raise ValueError(f"Dataset '{key}' not found in release '{md.current_release}'")
        return {"dataset_number": key, "file_list": ["root://x//noskim.root"],
                "skims": [{"skim_type": "GamGam", "file_list": store[key]},
                          {"skim_type": "exactly4lep", "file_list": ["root://x//4lep.root"]}]}

    monkeypatch.setattr(md, "get_all_info", get_all_info)
    return calls, store


def test_resolve_with_atlasopenmagic_reproduces_the_committed_catalogue(offline_atlasopenmagic, tmp_path):
    releases, _ = offline_atlasopenmagic
    out = tmp_path / "atlas-2025.yaml"
    shutil.copy(ATLAS_2025, out)
    assert cli.main(["datasets", "resolve", "--release", "2025e-13tev-beta", "--skim", "GamGam",
                     "--out", str(out)]) == 0
    assert releases == ["2025e-13tev-beta"]
    # same URLs, names and order, and the known size/sha256 kept: byte for byte the committed file
    assert out.read_text() == ATLAS_2025.read_text()


def test_resolve_from_the_simulated_config_as_template(offline_atlasopenmagic, tmp_path):
    _, store = offline_atlasopenmagic
    # the simulated config's continuum sample carries DSID 364352 (a made-up file name here)
    store["364352"] = ["root://eospublic.cern.ch:1094//eos/opendata/atlas/rucio/opendata/"
                       "ODEO_FEB2025_v0_GamGam_mc_364352.diphoton.GamGam.root"]
    out = tmp_path / "new.yaml"
    out.write_text("# my run\nanalysis: hyy\nsamples: {}\n# the end\nlumi_fb: 36.1\n")
    samples = datasets.resolve_to_file(out, release="2025e-13tev-beta", skim="GamGam",
                                       template=REPO / "config" / "config.yaml")
    text = out.read_text()
    assert text.startswith("# my run\nanalysis: hyy\n# Sample catalogue")
    assert text.endswith("\n# the end\nlumi_fb: 36.1\n")
    cfg = yaml.safe_load(text)
    assert cfg["analysis"] == "hyy" and cfg["lumi_fb"] == 36.1
    assert len(cfg["samples"]["data"]["files"]) == 16  # every data period, not the 4 simulated ones
    assert cfg["samples"] == samples
    assert [f["name"] for f in samples["yy"]["files"]] == ["ODEO_FEB2025_v0_GamGam_mc_364352.diphoton.GamGam"]
    assert samples["WH"]["process"] == "WH" and len(samples["WH"]["files"]) == 2


def test_resolve_reports_an_unknown_dataset(offline_atlasopenmagic, tmp_path):
    out = tmp_path / "x.yaml"
    out.write_text(yaml.safe_dump({"samples": {"Zp": {"kind": "signal", "files": [{"name": "mc_999999.Zprime"}]}}}))
    with pytest.raises(ValueError, match="no 'GamGam' files for '999999' \\(sample 'Zp'\\)"):
        datasets.resolve_to_file(out, release="2025e-13tev-beta", skim="GamGam")


def test_recipe_needs_a_dsid_in_mc_file_names():
    with pytest.raises(ValueError, match="mc_<DSID>"):
        datasets.recipe_from_samples({"yy": {"kind": "background", "files": [{"name": "diphoton"}]}})
    recipe = datasets.recipe_from_samples(
        {"data": {"kind": "data", "files": [{"name": "anything"}]},
         "WH": {"kind": "signal", "process": "WH", "files": [{"name": "sim_mc_345317.a"}, {"name": "mc_345318.b"}]}})
    assert recipe == {"data": {"kind": "data", "process": "data", "keys": ["data"]},
                      "WH": {"kind": "signal", "process": "WH", "keys": ["345317", "345318"]}}


def test_resolve_fills_sizes_from_head_requests(server, payload, tmp_path):
    class Atom:
        def set_release(self, release):
            self.release = release

        def get_urls(self, key, skim="noskim", protocol="root"):
            return ["simplecache::" + server.url]

    out = tmp_path / "c.yaml"
    out.write_text(yaml.safe_dump({"samples": {"ggH": {"kind": "signal", "files": [{"name": "mc_343981.x"}]}}}))
    samples = datasets.resolve_to_file(out, release="r", skim="GamGam", sizes=True, atom=Atom())
    assert samples["ggH"]["files"] == [{"name": "file", "url": server.url, "size": len(payload)}]
    assert [r["method"] for r in server.requests] == ["HEAD"]


def test_splice_samples_keeps_everything_else():
    block = "# head\nsamples:\n  a: 1\n"
    assert datasets.splice_samples("", block) == block
    assert datasets.splice_samples("x: 1\n", block) == "x: 1\n\n" + block
    text = "x: 1\n# old head\nsamples:\n  old: 2\n\n  # inner\n  more: 3\n\n# about y\ny: 2\n"
    assert datasets.splice_samples(text, block) == "x: 1\n" + block + "\n\n# about y\ny: 2\n"


# --------------------------------------------------------------------------- datasets resolve --record


class RoutesHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        body = self.server.routes.get(self.path)
        if body is None:
            self.send_error(404)
            return
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def portal():
    """A stand-in for the CERN Open Data portal on 127.0.0.1: path -> JSON document."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RoutesHandler)
    httpd.daemon_threads = True
    httpd.routes, httpd.requests = {}, []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


EOS = "root://eospublic.cern.ch//eos/opendata/atlas/rucio/opendata/"


def record_entry(name: str, size: int, checksum: str) -> dict:
    return {"key": name, "uri": EOS + name, "size": size, "checksum": checksum, "availability": "online"}


def test_resolve_writes_published_size_and_adler32_from_the_records(offline_atlasopenmagic, portal, tmp_path, caplog):
    name, size, adler32 = GAMGAM_D15D
    # data record: a file index (the form of records with many files); one value published without leading zeros
    portal.routes["/api/records/93915"] = {"id": 93915, "metadata": {
        "files": [record_entry("data_file_index.json", 800, "adler32:0badf00d")],
        "_file_indices": [{"key": "data_file_index.json", "files": [
            record_entry(name + ".root", size, "adler32:" + adler32),
            record_entry("ODEO_FEB2025_v0_GamGam_data15_periodE.GamGam.root", 123456, "adler32:7f48e7"),
        ]}]}}
    # an MC record with its file directly under files
    ggh = "ODEO_FEB2025_v0_GamGam_mc_343981.PowhegPythia8EvtGen_NNLOPS_nnlo_30_ggH125_gamgam.GamGam"
    portal.routes["/api/records/93911"] = {"id": 93911, "metadata": {
        "files": [record_entry(ggh + ".root", 9_876_543, "adler32:a1b2c3d4")]}}
    out = tmp_path / "atlas-2025.yaml"
    shutil.copy(ATLAS_2025, out)
    with caplog.at_level(logging.WARNING, logger="colliderflow.datasets"):
        assert cli.main(["datasets", "resolve", "--skim", "GamGam", "--out", str(out), "--record", "93915",
                         "--record", "93911", "--opendata-server", portal.url]) == 0
    assert portal.requests == ["/api/records/93915", "/api/records/93911"]
    text = out.read_text()
    assert "--skim GamGam --record 93915 --record 93911 --out <this file>" in text
    entries = {e["name"]: e for spec in yaml.safe_load(text)["samples"].values() for e in spec["files"]}
    assert entries[name]["size"] == size and entries[name]["adler32"] == adler32
    assert entries[name]["sha256"].startswith("01bfa7ce")  # the known SHA-256 is kept
    assert (entries["ODEO_FEB2025_v0_GamGam_data15_periodE.GamGam"]["size"],
            entries["ODEO_FEB2025_v0_GamGam_data15_periodE.GamGam"]["adler32"]) == (123456, "007f48e7")
    assert (entries[ggh]["size"], entries[ggh]["adler32"]) == (9_876_543, "a1b2c3d4")
    assert sum("adler32" in e for e in entries.values()) == 3
    assert "      size: 17541818\n      adler32: 037f48e7\n      sha256: 01bf" in text  # quoted-free 8-digit strings
    config.validate(yaml.safe_load(text), str(out))
    # the files no record describes are named
    missing = [r.getMessage() for r in caplog.records if "in none of the records 93915, 93911" in r.getMessage()]
    assert len(missing) == 1 and "20 file(s)" in missing[0] and "data16_periodL" in missing[0]
    # a second resolve without --record keeps what was written
    assert cli.main(["datasets", "resolve", "--skim", "GamGam", "--out", str(out)]) == 0
    again = {e["name"]: e for spec in yaml.safe_load(out.read_text())["samples"].values() for e in spec["files"]}
    assert again == entries


def test_record_with_a_file_index_listed_as_a_file(portal):
    """Older records list <name>_file_index.json as a file, served at /record/<recid>/files/<name>."""
    portal.routes["/api/records/5"] = {"metadata": {"files": [
        record_entry("x_file_index.json", 100, "adler32:00000001"),
        record_entry("x_file_index.txt", 50, "adler32:00000002"),
        {"uri": EOS + "md5only.root", "size": 7, "checksum": "md5:abc"}]}}
    portal.routes["/record/5/files/x_file_index.json"] = [record_entry("a.root", 10, "adler32:DEADBEEF")]
    published = datasets.record_files(5, server=portal.url, timeout=5)
    assert published == {"a.root": {"size": 10, "adler32": "deadbeef", "record": 5},
                         "md5only.root": {"size": 7, "record": 5}}


def test_resolve_refuses_a_published_value_that_contradicts_the_catalogue(offline_atlasopenmagic, portal, tmp_path):
    name, size, _ = GAMGAM_D15D
    portal.routes["/api/records/1"] = {"metadata": {"files": [
        record_entry(name + ".root", size + 1, "adler32:037f48e7")]}}
    out = tmp_path / "atlas-2025.yaml"
    shutil.copy(ATLAS_2025, out)
    before = out.read_text()
    with pytest.raises(ValueError, match=f"{name}.*record 1 publishes size {size + 1} but the catalogue has {size}"):
        datasets.resolve_to_file(out, release="2025e-13tev-beta", skim="GamGam", records=[1],
                                 opendata_server=portal.url, timeout=5)
    assert out.read_text() == before  # nothing written


@pytest.mark.parametrize("routes, message", [
    ({}, "HTTP 404.*check the record id"),
    ({"/api/records/7": b"<html>portal down</html>"}, "did not answer with JSON"),
    ({"/api/records/7": {"metadata": {"files": []}}}, "lists no file with a size or checksum"),
    ({"/api/records/7": {"metadata": {"files": [record_entry("a.root", 1, "adler32:xyz")]}}}, "not an adler32"),
])
def test_record_errors_are_one_line(portal, routes, message):
    portal.routes.update(routes)
    with pytest.raises(fetch.FetchError, match=message) as err:
        datasets.record_files(7, server=portal.url, timeout=5)
    assert "\n" not in str(err.value)


def test_resolve_record_must_be_numeric(tmp_path):
    with pytest.raises(ValueError, match="numeric CERN Open Data record id"):
        datasets.run(types.SimpleNamespace(records=["93915x"], out=str(tmp_path / "c.yaml")))
