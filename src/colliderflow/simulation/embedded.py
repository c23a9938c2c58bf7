"""``EmbeddedSimulation``: an analysis's generators turned into ntuple files.

An analysis's simulation subclasses it and declares its generators, its catalogue (which
processes it can make, their cross sections), the plan of a file (the pseudo-data's
components and yields, or the MC's size), its detector settings, the skim its files
mirror, and the truth it injects. This class does the rest, the same for every analysis:

- a file is generated from its own seed (``seeds.file_seed(seed, file name)``), in chunks
  of ``chunk_size`` generated events (bounded memory), each from its own random stream;
- each chunk: truth -> detector -> triggers -> the format's branches, then the skim;
- the file is written atomically (a killed job leaves no file) and reproducibly (same
  settings, same bytes: ``ntuples.rootfile``) in the 2025 ntuple format
  with, next to the tree, a ``colliderflow_simulation`` TObjString (JSON) that says the file
  is simulated and records the truth, the seed and a hash of the settings.

Settings read here from the analysis's ``simulate`` section: ``seed``, ``chunk_size``,
``mc_run_number``, ``pileup_sf_spread`` (every analysis's section declares them).
"""

from __future__ import annotations

import json
import logging
import time
from abc import abstractmethod
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

from .. import __version__, config
from . import Simulation
from ..ntuples import atlas2025
from .catalogue import FileSpec, Plan
from .detector import Detector, Reco, reconstruct, triggers
from .seeds import CHUNK_STREAM, child_rng, event_numbers, file_seed
from .truth import Truth, interleave

log = logging.getLogger(__name__)

METADATA_KEY = "colliderflow_simulation"
Generator = Callable[[np.random.Generator, int, dict, "FileSpec | None"], Truth]


class EmbeddedSimulation(Simulation):
    """The generic file machinery; subclasses bring the physics (see the module docstring)."""

    analysis: ClassVar[str]  # the analysis's name (the config's ``analysis``)
    skim: ClassVar[str]  # the skim of the real release the files mirror, e.g. GamGam
    generators: ClassVar[dict[str, Generator]]  # generator key -> (rng, n, settings, file spec) -> Truth

    # ------------------------------------------------------------------ what an analysis declares

    def settings(self, cfg: dict) -> dict:
        """The analysis's ``simulate`` section, validated, every default filled. A ``cfg`` from
        ``config.load`` is already complete; tests may pass a partial one."""
        return config.section({**(cfg or {}), "analysis": self.analysis}, "simulate")

    @abstractmethod
    def catalogue(self, cfg: dict) -> dict[str, FileSpec]:
        """Every file of ``cfg["samples"]`` with its cross section (ValueError for files the
        simulation cannot make)."""

    @abstractmethod
    def plan(self, cfg: dict, spec: FileSpec, s: dict, seq: np.random.SeedSequence) -> Plan:
        """The file-level numbers, from the stream ``child_rng(seq, PLAN_STREAM)``."""

    @abstractmethod
    def detector(self, s: dict) -> Detector:
        """The detector response for these settings."""

    @abstractmethod
    def passes_skim(self, reco: Reco) -> np.ndarray:
        """Mask of the reconstructed events the skim keeps."""

    def truth(self, cfg: dict) -> dict:
        s = self.settings(cfg)
        return {"mu": float(s["signal_strength"]), "mass": float(s["higgs_mass"])}

    @abstractmethod
    def truth_record(self, s: dict) -> dict:
        """The true parameters injected (signal strength, masses, ...), for the file's record."""

    def mc_scale_factors(self, rng: np.random.Generator, reco: Reco, s: dict) -> dict:
        """The analysis's MC scale-factor branches (the others are 1); drawn before the pile-up one."""
        return {}

    def truth_collections(self, truth: Truth) -> dict:
        """The MC truth collections the analysis fills (flat objects with ``event``), e.g. truth_photon."""
        return {}

    # ------------------------------------------------------------------ the machinery

    def chunk_truth(self, rng: np.random.Generator, plan: Plan, s: dict, start: int, stop: int) -> Truth:
        """Generated events [start, stop) of the file: one process (MC) or the pseudo-data mix."""
        if plan.labels is None:
            return self.generators[plan.spec.process](rng, stop - start, s, plan.spec)
        labels = plan.labels[start:stop]
        parts = []
        for index, component in enumerate(plan.components):
            count = int(np.count_nonzero(labels == index))
            if count:
                parts.append(self.generators[component.generator](rng, count, s, component.spec))
        return interleave(parts, labels)

    def build_chunk(self, plan: Plan, s: dict, seq: np.random.SeedSequence, chunk: int, start: int, stop: int,
                    sums: tuple[float, float]) -> dict:
        """The branches of generated events [start, stop) that pass the skim."""
        rng = child_rng(seq, CHUNK_STREAM, chunk)
        truth = self.chunk_truth(rng, plan, s, start, stop)
        reco = reconstruct(rng, truth, self.detector(s))
        n = truth.n
        kept = self.passes_skim(reco)
        scalars = atlas2025.trigger_branches(triggers(rng, reco))
        collections = {"photon": reco.photons, "jet": reco.jets, "lep": reco.leptons}
        if plan.is_data:
            run_index = (np.arange(start, stop) * len(plan.run_numbers)) // max(plan.n_generated, 1)
            scalars.update(atlas2025.data_metadata(plan.run_numbers[run_index], plan.category))
            scalars.update(atlas2025.missing_momentum(reco.met, None))
        else:
            scalars.update(atlas2025.mc_metadata(
                plan.mc_weight[start:stop], num_events=plan.n_generated, sum_of_weights=sums[0],
                sum_of_weights_squared=sums[1], xsec_pb=plan.spec.xsec_pb, dsid=plan.spec.dsid,
                run_number=s["mc_run_number"], category=plan.category))
            scalars.update(self.mc_scale_factors(rng, reco, s))
            scalars["ScaleFactor_PILEUP"] = pileup_scale_factor(rng, n, s["pileup_sf_spread"])
            scalars.update(atlas2025.missing_momentum(reco.met, truth.invisible))
            collections.update(self.truth_collections(truth))
        scalars["eventNumber"] = event_numbers(seq, start, n)
        branches = atlas2025.event_branches(n, scalars, collections)
        return {name: value[kept] for name, value in branches.items()}

    def simulate_file(self, cfg: dict, file_name: str, out_path: str | Path) -> dict:
        """Generate one file of the catalogue and write it atomically to ``out_path``.

        Returns a summary: events generated and written, sums of weights, truth, seconds.
        """
        from ..ntuples import rootfile  # uproot: only the simulate jobs pay its import

        t0, cpu0 = time.perf_counter(), time.process_time()
        s = self.settings(cfg)
        cat = self.catalogue(cfg)
        if file_name not in cat:
            raise KeyError(f"file {file_name!r} is not a simulated file of the sample catalogue (samples: ... "
                           f"files: - name:, without url); known files: {', '.join(sorted(cat)) or 'none'}")
        spec = cat[file_name]
        seq = file_seed(s["seed"], file_name)
        plan = self.plan(cfg, spec, s, seq)
        sums = plan.sums_of_weights()
        record = {
            "simulated": True,
            "note": f"SIMULATED by colliderflow ({self.analysis} embedded simulation): not ATLAS data, "
                    "not ATLAS simulation",
            "colliderflow_version": __version__,
            "analysis": self.analysis,
            "skim": self.skim,
            "file": file_name,
            "sample": spec.sample,
            "kind": spec.kind,
            "process": spec.process,
            "seed": s["seed"],
            "truth": {**self.truth_record(s), **plan.truth},
            "simulate_settings_hash": config.config_hash(s),
        }
        written = 0
        chunk_size = s["chunk_size"]
        starts = list(range(0, plan.n_generated, chunk_size)) or [0]
        record_json = json.dumps(record, sort_keys=True)
        with rootfile.recreate(out_path, identity=record_json) as handle:
            handle[METADATA_KEY] = record_json
            tree = handle.mktree(atlas2025.FORMAT.tree, atlas2025.tree_types(),
                                 counter_name=atlas2025.counter_name, field_name=atlas2025.field_name,
                                 title="SIMULATED (colliderflow)")
            for chunk, start in enumerate(starts):
                stop = min(start + chunk_size, plan.n_generated)
                branches = self.build_chunk(plan, s, seq, chunk, start, stop, sums)
                if len(branches["eventNumber"]):
                    tree.extend(branches)
                written += len(branches["eventNumber"])
                log.info("%s: chunk %d/%d, generated %d/%d, written %d", file_name, chunk + 1, len(starts), stop,
                         plan.n_generated, written)
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
        log.info("%s: %d events generated, %d written (%s skim) in %.1f s (%.1f s CPU)", file_name,
                 plan.n_generated, written, self.skim, seconds, cpu_seconds)
        return {"file": file_name, "kind": spec.kind, "process": spec.process, "generated": plan.n_generated,
                "written": written, "sum_of_weights": sums[0], "sum_of_weights_squared": sums[1],
                "xsec_pb": spec.xsec_pb, "truth": record["truth"], "seconds": seconds, "cpu_seconds": cpu_seconds}


def pileup_scale_factor(rng: np.random.Generator, n: int, spread: float) -> np.ndarray:
    """ScaleFactor_PILEUP of MC events: gamma-distributed with mean 1 and the given spread."""
    k = 1.0 / spread**2
    return rng.gamma(k, 1.0 / k, n).astype(atlas2025.F4)


def read_metadata(path: str | Path) -> dict:
    """The simulation record a simulated file carries (KeyError if it has none)."""
    import uproot  # here: every stage imports the analyses, with their simulations; few read ROOT

    with uproot.open(path) as handle:
        if METADATA_KEY not in handle:
            raise KeyError(f"{path} has no {METADATA_KEY} record: it was not written by colliderflow simulate")
        return json.loads(str(handle[METADATA_KEY]))
