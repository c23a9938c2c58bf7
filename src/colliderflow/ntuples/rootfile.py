"""Writing a whole ROOT file so that the same content gives the same bytes, run after run.

uproot stamps three things into a file that do not come from its content: random UUIDs (the
file's and each directory's; ``uuid_function`` replaces them), the time of writing (the
TDatime of every key and directory; uproot has no option for it, but it encodes every one
with ``uproot._util.datetime_to_code``, replaced here while the file is written) and the
file's own name (so a file written under a temporary name and renamed would carry that name:
it is written under its final name in a temporary folder).
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import uuid
from pathlib import Path
from typing import Iterator
from unittest import mock

import uproot

from .. import io

# every date in the file: the start of ROOT's TDatime range, which says "not a write time"
FIXED_DATE = datetime.datetime(1995, 1, 1)
UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_OID, "colliderflow.ntuples.rootfile")


@contextlib.contextmanager
def recreate(path: str | Path, identity: str) -> Iterator:
    """``uproot.recreate(path)`` for a file written whole in the block: atomically (a killed
    job leaves no file) and reproducibly (the bytes depend only on what is written, uproot's
    version and ``identity``). ``identity`` says what makes the file unique (its name, seed
    and settings, say): the file's UUIDs derive from it, so different files get different ones.
    """
    uuids = (uuid.uuid5(UUID_NAMESPACE, f"{identity}/{index}") for index in itertools.count())
    fixed_code = uproot._util.datetime_to_code(FIXED_DATE)
    with (io.atomic_path(path, keep_name=True) as tmp,
          mock.patch.object(uproot._util, "datetime_to_code", lambda _when: fixed_code),
          uproot.recreate(tmp, uuid_function=lambda: next(uuids)) as handle):
        yield handle
