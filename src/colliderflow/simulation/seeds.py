"""Seeds, random streams and event numbers of the embedded simulations.

Each file is generated on its own from a seed sequence derived from ``(seed, file name)``:
the workflow runs one job per file, and a file does not depend on which other files are
made, nor in which order.
"""

from __future__ import annotations

import hashlib

import numpy as np

PLAN_STREAM = 0  # child stream of the file-level numbers (yields, weights, runs)
CHUNK_STREAM = 1  # child streams of the events, one per chunk
EVENT_NUMBER_STREAM = 9


def file_seed(seed: int, file_name: str) -> np.random.SeedSequence:
    """The file's own seed sequence: from the master seed and a stable hash of the name."""
    digest = hashlib.sha256(file_name.encode()).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    return np.random.SeedSequence([int(seed), *words])


def child_rng(seq: np.random.SeedSequence, *key: int) -> np.random.Generator:
    """An independent random stream of the file, named by ``key`` (e.g. the chunk index)."""
    child = np.random.SeedSequence(seq.entropy, spawn_key=tuple(seq.spawn_key) + tuple(key))
    return np.random.default_rng(child)


def event_numbers(seq: np.random.SeedSequence, start: int, count: int) -> np.ndarray:
    """Unique event numbers of generated events [start, start + count): an odd-multiplier
    bijection of the generated-event index (plus a per-file offset) mod 2^32."""
    offset = int(np.random.default_rng(np.random.SeedSequence(seq.entropy, spawn_key=(EVENT_NUMBER_STREAM,)))
                 .integers(0, 2**31))
    index = (np.arange(start, start + count, dtype=np.uint64) + np.uint64(offset)) % np.uint64(2**32)
    return (index * np.uint64(2654435761) + np.uint64(1)) % np.uint64(2**32)
