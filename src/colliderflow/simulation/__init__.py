"""Shared machinery of the embedded simulations (toy physics, no analysis names).

Each analysis that brings an embedded simulation (``analyses/<name>/simulation.py``) writes
only its generators, catalogue and file plan; everything else is here:

- ``kinematics``: four-vectors as (n, 4) arrays, boosts, two-body decays, samplers, masses;
- ``truth``: the generator-level ``Truth`` of a batch of events, and how batches are cut,
  stacked and interleaved;
- ``production``: recoil and decay building blocks (ISR jets, W/Z/tau/top decays);
- ``higgs``: the Higgs production modes (their recoil systems); the decay is the analysis's;
- ``detector``: the toy ATLAS-like detector response (photons, jets, leptons, missing
  momentum, triggers) shared by the ATLAS analyses;
- ``catalogue``: the sample catalogue as simulate reads it, file plans (pseudo-data
  components and yields, MC weights), data periods;
- ``seeds``: per-file seed sequences, random streams, event numbers;
- ``embedded``: ``EmbeddedSimulation``, the base class that turns an analysis's generators
  into files (the chunk loop, the atomic ROOT write, the ``colliderflow_simulation`` record).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path


class Simulation(ABC):
    """An analysis's embedded simulation: writes ntuples a reader cannot tell from the real
    ones by schema, with known truth (see ``colliderflow.simulate``, the generic driver)."""

    @abstractmethod
    def simulate_file(self, cfg: dict, file_name: str, out_path: str | Path) -> dict:
        """Write one file of the sample catalogue; return a summary with the truth."""

    @abstractmethod
    def truth(self, cfg: dict) -> dict:
        """What the simulation injects with this config, which the summary compares the fit with:
        ``mu``, the true signal yield over the signal MC's expected yield (so the true signal
        after any selection is mu times the MC's expectation there), ``mass``, the peak
        position, and optionally ``width``, the true resolution of the peak (the observable's
        unit), and other numbers the summary shows as they are."""

    @staticmethod
    def catalogue_entry(cfg: dict, file_name: str) -> tuple[str, dict, dict]:
        """(sample name, sample spec, file entry) of ``file_name`` in the config's catalogue."""
        for sample, spec in cfg["samples"].items():
            for entry in spec["files"]:
                if entry["name"] == file_name:
                    return sample, spec, entry
        raise KeyError(f"file {file_name!r} is not in the sample catalogue (samples: ... files: - name:)")
