"""ROOT files written whole by colliderflow: the same content gives the same bytes."""

from __future__ import annotations

import time

import numpy as np
import pytest
import uproot

from colliderflow.ntuples import rootfile


def write(path, identity="file-a", x=np.arange(1000.0)):
    with rootfile.recreate(path, identity) as handle:
        handle["note"] = "hello"
        tree = handle.mktree("events", {"x": "f8"})
        tree.extend({"x": x})
        tree.extend({"x": x + 1})


def test_same_content_same_bytes_at_another_time_and_place(tmp_path):
    first, second = tmp_path / "one" / "f.root", tmp_path / "two" / "f.root"
    write(first)
    time.sleep(1.1)  # uproot's dates have one-second resolution: the clock has moved on
    write(second)
    assert first.read_bytes() == second.read_bytes()
    with uproot.open(second) as handle:
        assert handle["events"]["x"].array(library="np").sum() == 2 * np.arange(1000.0).sum() + 1000
        fixed = uproot._util.datetime_to_code(rootfile.FIXED_DATE)
        assert handle.fDatimeC == handle.fDatimeM == handle.key("note").fDatime == fixed


def test_identity_decides_the_uuid(tmp_path):
    write(tmp_path / "a.root", identity="file-a")
    write(tmp_path / "b.root", identity="file-b")
    uuids = [uproot.open(tmp_path / name).file.uuid for name in ("a.root", "b.root")]
    assert uuids[0] != uuids[1]


def test_a_failed_write_leaves_nothing_and_restores_the_clock(tmp_path):
    before = uproot._util.datetime_to_code
    with pytest.raises(RuntimeError, match="killed"):
        with rootfile.recreate(tmp_path / "f.root", "file-a") as handle:
            handle["note"] = "hello"
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    assert uproot._util.datetime_to_code is before
