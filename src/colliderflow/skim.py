"""``colliderflow skim``: one ROOT file in, one Parquet of selected events and a cutflow out.

The generic driver: it reads the file in chunks of ``skim.step_size`` events (memory stays
bounded whatever the file size; with ``--threads`` above 1 the baskets are decompressed in
parallel and the next chunk is read in a background thread meanwhile), asks the analysis
object (``colliderflow.analyses``) for the selection, weights and output columns of each
chunk, writes the Parquet chunk by chunk and accumulates the cutflow (raw events, sum of
weights and of squared weights passing each cut and all cuts before it). It knows no branch
names.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import uproot

from . import analyses, config, io

log = logging.getLogger(__name__)

# Energies in MeV under an analysis that reads GeV make every candidate's observable 1000 times
# larger. The skim refuses a chunk whose median candidate observable exceeds this many times the
# top of observable.range: in GeV that would be above the collision energy for any range above
# 136 GeV, while MeV inputs give about 1000 times a value near the range.
UNIT_CHECK_FACTOR = 100.0


def corrupt_input(path, err: BaseException) -> ValueError:
    """The one-line error for a ROOT file whose content cannot be read (uproot, awkward, zlib,
    struct or numpy failed on it): corruption or truncation, most often an interrupted copy."""
    detail = f"{type(err).__name__}: {_one_line(err)}"
    return ValueError(f"{path} is corrupt or truncated (reading its events failed: {detail}); "
                      "delete it and fetch or simulate it again")


def sample_is_mc(cfg: dict, sample: str) -> bool:
    """Whether ``sample`` is simulation, from the sample catalogue (cfg["samples"][sample]["kind"])."""
    samples = cfg.get("samples", {})
    if sample not in samples:
        known = ", ".join(sorted(samples)) or "none"
        raise KeyError(f"sample {sample!r} is not in the config's sample catalogue (samples: {known}); add it under 'samples'")
    return samples[sample]["kind"] != "data"


def open_root(path: str | Path):
    """The opened ROOT file, or a clear error if it is missing or not ROOT."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file {path} does not exist; run the data stage (simulate or fetch) first")
    try:
        handle = uproot.open(path)
    except Exception as err:  # uproot raises many types for a file that is not ROOT
        raise ValueError(f"{path} is not a readable ROOT file ({_one_line(err)}); "
                         "delete it and fetch or simulate it again") from err
    size, end = path.stat().st_size, handle.file.fEND
    if size < end:  # the header says where the file ends: a cut-off copy or download
        handle.close()
        raise ValueError(f"{path} is corrupt or truncated: its header says {end} bytes but it has {size}; "
                         "delete it and fetch or simulate it again")
    return handle


def _one_line(err: BaseException, limit: int = 200) -> str:
    """An exception as one short line (uproot's messages span several and end with the file)."""
    text = " ".join(str(err).split())
    return text.split(" in file ")[0].split(" for file path ")[0][:limit]


def find_tree(handle, path, analysis, branches: list[str]):
    """The analysis's tree in an open file, after checking that it holds every needed branch."""
    tree_name, format_name = analysis.ntuple.tree, analysis.ntuple.name
    try:
        present = tree_name in handle
        trees = [] if present else [key.split(";")[0] for key, cls in handle.classnames().items() if cls == "TTree"]
        tree = handle[tree_name] if present else None
        missing = [name for name in branches if name not in tree] if present else []
    except Exception as err:  # a damaged directory, streamer or tree header
        raise corrupt_input(path, err) from err
    if not present:
        raise KeyError(
            f"{path} has no tree {tree_name!r} (trees: {', '.join(trees) or 'none'}); analysis "
            f"{analysis.name} reads the {format_name} ntuple format: check that the file is one"
        )
    if missing:
        raise KeyError(
            f"{path}: tree {tree_name!r} lacks branch(es) {', '.join(missing)} that analysis {analysis.name} "
            f"reads; the file is not in its ntuple format ({format_name}), or the config names a branch that "
            "does not exist (check the trigger and ID settings of the selection section), or the file is damaged "
            "(then delete it and fetch or simulate it again)"
        )
    return tree


def iterate_chunks(tree, branches: list[str], step_size: int, threads: int = 1):
    """The tree's chunks of ``step_size`` events with only ``branches``.

    With ``threads`` above 1, a pool of that many threads decompresses the baskets (zlib,
    which ROOT files mostly use, releases the GIL) and a background thread reads the next
    chunk while the caller processes the current one, so two chunks are in memory instead
    of one. The chunks are the same whatever the number of threads.
    """
    if threads <= 1:
        yield from tree.iterate(filter_name=branches, step_size=step_size, library="ak")
        return
    with (ThreadPoolExecutor(max_workers=threads, thread_name_prefix="skim-decompress") as decompress,
          ThreadPoolExecutor(max_workers=1, thread_name_prefix="skim-read-ahead") as reader):
        chunks = tree.iterate(filter_name=branches, step_size=step_size, library="ak",
                              decompression_executor=decompress)
        pending = reader.submit(next, chunks, None)
        while True:
            events = pending.result()
            if events is None:
                return
            pending = reader.submit(next, chunks, None)
            yield events


def skim_file(cfg: dict, sample: str, in_path, out_parquet, out_cutflow, threads: int = 1) -> dict:
    """Skim one file: write the Parquet of selected events and the cutflow JSON; return the cutflow.

    The cutflow is cumulative: each row counts the events passing every cut up to and
    including it (raw count, sum of weights, sum of squared weights). ``threads`` read the
    file (``iterate_chunks``); the results do not depend on their number.
    """
    analysis = analyses.get(cfg["analysis"])
    is_mc = sample_is_mc(cfg, sample)
    branches = analysis.branches(cfg)
    # the input's checksum (for the cutflow's provenance) is computed meanwhile, on another core
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="skim-checksum") as pool:
        checksum = pool.submit(io.sha256sum, in_path)
        with open_root(in_path) as handle:
            tree = find_tree(handle, in_path, analysis, branches)
            cutflow = _skim_tree(cfg, analysis, tree, sample, is_mc, branches, in_path, out_parquet, threads)
        io.write_json(out_cutflow, cutflow,
                      cfg={k: cfg.get(k) for k in ("analysis", "lumi_fb", "skim", "selection", "observable")},
                      inputs={in_path: checksum.result()})
    return cutflow


def _skim_tree(cfg, analysis, tree, sample, is_mc, branches, in_path, out_parquet, threads) -> dict:
    """The chunk loop: Parquet written chunk by chunk, cutflow accumulated; returns the cutflow."""
    scfg = cfg["skim"]
    n_entries = tree.num_entries
    names = ("all",) + tuple(analysis.cut_order)
    raw = np.zeros(len(names), dtype=np.int64)
    sumw = np.zeros(len(names), dtype=np.float64)
    sumw2 = np.zeros(len(names), dtype=np.float64)
    n_written = 0
    n_chunks = 0
    start_time = time.perf_counter()
    log.info("skim %s (sample %s, %s): %d events in chunks of %d", in_path, sample,
             "MC" if is_mc else "data", n_entries, scfg["step_size"])

    seconds = dict.fromkeys(("read", "select", "cutflow", "columns", "write"), 0.0)
    with io.atomic_path(out_parquet) as tmp:
        # Dictionary encoding only where it pays (the constant sample name): on float columns
        # it costs write time and saves nothing. No column statistics either: later stages
        # read whole files, and statistics cost a tenth of the write time.
        with pq.ParquetWriter(tmp, analysis.schema, compression=scfg["compression"],
                              use_dictionary=["sample"], write_statistics=False) as writer:
            chunks = iterate_chunks(tree, branches, scfg["step_size"], threads)
            while True:
                tick = time.perf_counter()
                try:
                    events = next(chunks, None)
                except Exception as err:  # uproot, awkward, zlib, struct, numpy: damaged bytes
                    raise corrupt_input(in_path, err) from err
                if events is None:
                    break
                tock = _add_time(seconds, "read", tick)
                try:
                    selection, cut_order, derived = analysis.select(events, cfg, is_mc)
                    weight_obj = analysis.weights(events, cfg, is_mc)
                except ValueError as err:
                    raise ValueError(f"{in_path}: {err}") from err
                if tuple(cut_order) != names[1:]:
                    raise RuntimeError(f"analysis returned cuts {cut_order}, expected {names[1:]}")
                check_energy_unit(analysis, cfg, derived, in_path)
                tock = _add_time(seconds, "select", tock)
                weight = weight_obj.weight()
                mask = _accumulate_cutflow(selection, cut_order, weight, raw, sumw, sumw2)
                tock = _add_time(seconds, "cutflow", tock)
                table = analysis.columns(events, mask, cfg, sample, weight, derived)
                tock = _add_time(seconds, "columns", tock)
                if table.num_rows:
                    writer.write_table(table)
                _add_time(seconds, "write", tock)
                n_written += table.num_rows
                n_chunks += 1
                done = int(raw[0])
                elapsed = time.perf_counter() - start_time
                log.info("%s: chunk %d, %d/%d events (%.0f%%), %d selected so far, %.0f events/s",
                         Path(in_path).name, n_chunks, done, n_entries, 100.0 * done / max(n_entries, 1),
                         n_written, done / max(elapsed, 1e-9))
            if n_written == 0:
                writer.write_table(analysis.empty_table())
        # Checked before the rename, so an inconsistent skim never appears as a finished file.
        if raw[0] != n_entries or raw[-1] != n_written:
            raise RuntimeError(
                f"{in_path}: cutflow inconsistent (read {raw[0]} of {n_entries} events, "
                f"{raw[-1]} passed but {n_written} rows written)"
            )
    cutflow = {
        "analysis": analysis.name,
        "sample": sample,
        "kind": cfg["samples"][sample]["kind"],
        "input": str(in_path),
        "tree": analysis.ntuple.tree,
        "n_entries": int(n_entries),
        "n_selected": int(n_written),
        "step_size": scfg["step_size"],
        "n_chunks": n_chunks,
        "cuts": [
            {"name": name, "raw": int(r), "sumw": float(w), "sumw2": float(w2)}
            for name, r, w, w2 in zip(names, raw, sumw, sumw2)
        ],
    }
    elapsed = time.perf_counter() - start_time
    log.info("wall time per step (s; with threads, read is the wait for the reader): %s", ", ".join(f"{k} {v:.2f}" for k, v in seconds.items()))
    log.info("skim %s: %d of %d events selected in %.1f s (%.0f events/s) -> %s",
             in_path, n_written, n_entries, elapsed, n_entries / max(elapsed, 1e-9), out_parquet)
    return cutflow


def check_energy_unit(analysis, cfg: dict, derived, in_path) -> None:
    """Refuse a chunk whose candidates' observable looks MeV-scaled under a GeV analysis: the
    median exceeds ``UNIT_CHECK_FACTOR`` times the top of observable.range (the analysis's
    ``observable_candidates``; no check when it gives none)."""
    candidates = analysis.observable_candidates(derived)
    if candidates is None:
        return
    values = np.asarray(candidates, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return
    median, top = float(np.median(values)), float(cfg["observable"]["range"][1])
    if median > UNIT_CHECK_FACTOR * top:
        unit = analysis.ntuple.energy_unit
        raise ValueError(
            f"{in_path}: energies look like MeV: the median {analysis.observable_column} of the candidate events is "
            f"{median:.4g}, over {UNIT_CHECK_FACTOR:g} times the top of observable.range ({top:g} {unit}); "
            f"this analysis reads {unit} ntuples ({analysis.ntuple.name}): convert the file to {unit}"
        )


def _accumulate_cutflow(selection, cut_order, weight, raw, sumw, sumw2) -> np.ndarray:
    """Add one chunk's cumulative cutflow to raw/sumw/sumw2 (in place); return the final mask.

    Row 0 is all events, row i the events passing cuts 1..i (PackedSelection.all). Sums
    of weights are sums of weight * mask: no copy of the selected weights, and several
    times faster than indexing or a dot product with a boolean array.
    """
    weight2 = weight * weight
    mask = np.ones(len(weight), dtype=bool)
    for i in range(len(cut_order) + 1):
        if i:
            mask = selection.all(*cut_order[:i])
        raw[i] += np.count_nonzero(mask)
        sumw[i] += np.sum(weight * mask)
        sumw2[i] += np.sum(weight2 * mask)
    return mask


def _add_time(seconds: dict, step: str, since: float) -> float:
    now = time.perf_counter()
    seconds[step] += now - since
    return now


def register(sub) -> None:
    parser = sub.add_parser("skim")
    config.add_arguments(parser)
    parser.add_argument("--sample", required=True, help="sample name in the config's sample catalogue")
    parser.add_argument("--input", required=True, help="input ROOT file")
    parser.add_argument("--out", required=True, help="output Parquet file (one row per selected event)")
    parser.add_argument("--cutflow", required=True, help="output cutflow JSON")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads reading the file: above 1, parallel decompression and read-ahead")
    parser.set_defaults(func=run)


def run(args) -> int:
    cfg = config.load(args.configfile, args.settings)
    skim_file(cfg, args.sample, args.input, args.out, args.cutflow, args.threads)
    return 0
