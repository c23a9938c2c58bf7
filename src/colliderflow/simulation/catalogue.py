"""The sample catalogue as a simulation reads it, and the plan of one file.

A catalogue file is data (pseudo-data: a Poisson mix of components at the file's
luminosity) or MC of one process (a fixed number of generated events with signed weights).
What the processes are, their cross sections and which components the pseudo-data hold is
the analysis's; the checks and the bookkeeping here are the same for every analysis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..ntuples.atlas2025 import F4, U4

_DSID = re.compile(r"(?:^|[_.])mc_(\d+)(?=[._]|$)")
_W_CHARGE = re.compile(r"W([pm])H")


@dataclass(frozen=True)
class FileSpec:
    """One file of the sample catalogue and how simulate makes it."""

    name: str
    sample: str
    kind: str  # data | signal | background
    process: str
    lumi_fb: float | None
    xsec_pb: float = 0.0  # MC: cross section written to the file (0 for data)
    dsid: int = 0  # MC: channelNumber
    w_charge: int = 0  # W-associated production only: +1 (W+ files), -1 (W- files), 0 (both)


def read_catalogue(cfg: dict, processes: dict[str, tuple[str, ...]], analysis: str) -> dict[str, FileSpec]:
    """Every simulated file of ``cfg["samples"]`` (the entries without a ``url``: those with one
    are real files, fetched), checked, with its DSID (cross sections still 0: the analysis
    sets them).

    ``processes``: kind (signal, background) -> the processes the analysis's simulation can
    make. Raises ValueError for entries simulate cannot make: an unknown process, a data file
    without lumi_fb, simulated data luminosities that do not add up to ``lumi_fb``, an MC file
    name without mc_<DSID>, a file listed twice.
    """
    samples = {sample: {**spec, "files": [entry for entry in spec["files"] if not entry.get("url")]}
               for sample, spec in (cfg.get("samples") or {}).items()}
    data_lumi = 0.0
    out: dict[str, FileSpec] = {}
    for sample, spec in samples.items():
        kind = spec["kind"]
        process = spec.get("process", sample)
        if not spec["files"]:
            continue
        if kind == "data":
            for entry in spec["files"]:
                if "lumi_fb" not in entry:
                    raise ValueError(
                        f"data file {entry['name']!r} of sample {sample!r} has no lumi_fb: simulate needs each "
                        "data file's luminosity to share the pseudo-data; add lumi_fb to the catalogue entry")
                data_lumi += float(entry["lumi_fb"])
        elif process not in processes.get(kind, ()):
            raise ValueError(f"{kind} sample {sample!r} has process {process!r}; the {analysis} simulation can make "
                             f"{', '.join(processes.get(kind, ())) or 'none'} as {kind}")
        for entry in spec["files"]:
            name = entry["name"]
            if name in out:
                raise ValueError(f"file {name!r} appears twice in the sample catalogue")
            out[name] = FileSpec(name, sample, kind, process, entry.get("lumi_fb"), dsid=_dsid(name, sample, kind))
    if data_lumi and abs(data_lumi - float(cfg["lumi_fb"])) > 1e-6 * float(cfg["lumi_fb"]):
        raise ValueError(
            f"the data files' lumi_fb add up to {data_lumi:g} fb^-1 but lumi_fb is {cfg['lumi_fb']:g}: the MC would "
            "be normalised to another luminosity than the pseudo-data hold; make them agree")
    return out


def _dsid(name: str, sample: str, kind: str) -> int:
    """The DSID an MC file name carries (mc_<DSID>); 0 for data."""
    if kind == "data":
        return 0
    match = _DSID.search(name)
    if not match:
        raise ValueError(f"MC file name {name!r} (sample {sample!r}) must contain mc_<DSID>, "
                         "e.g. sim_mc_343981.ggH125_gamgam: simulate writes the DSID as channelNumber")
    return int(match.group(1))


def split_wh_cross_section(total: float, name: str, sample: str, files: list[dict],
                           wplus_fraction: float) -> tuple[float, int]:
    """(cross section in pb, W charge) of the file ``name`` of a WH sample of cross section
    ``total``: files named ``WpH``/``WmH`` share the W+ (``wplus_fraction``) / W- parts;
    without such names every file gets an equal share of both charges (charge 0)."""
    charges = [_W_CHARGE.search(f["name"]) for f in files]
    if not any(charges):
        return total / len(files), 0
    if not all(charges):
        raise ValueError(f"sample {sample!r}: either every WH file name says WpH or WmH, or none does")
    mine = _W_CHARGE.search(name).group(1)
    same = sum(1 for c in charges if c.group(1) == mine)
    share = wplus_fraction if mine == "p" else 1.0 - wplus_fraction
    return total * share / same, (1 if mine == "p" else -1)


def data_period(file_name: str, run_ranges: dict) -> str:
    """The data period (a key of ``run_ranges``, e.g. data16_periodA) the file name contains."""
    matches = [p for p in run_ranges if p in file_name]
    if not matches:
        raise ValueError(f"cannot tell the data period of file {file_name!r}: its name contains none of the periods "
                         f"in simulate.run_ranges ({', '.join(sorted(run_ranges))}); rename it or add the period")
    return max(matches, key=len)


@dataclass(frozen=True)
class Component:
    """One component of the pseudo-data: its label in the truth record, the generator that
    makes it, the MC file it mirrors (signal) and its expected number of generated events."""

    label: str
    generator: str
    spec: FileSpec | None
    expected: float


@dataclass
class Plan:
    """What one file holds: how many events of which component, and its metadata."""

    spec: FileSpec
    n_generated: int
    labels: np.ndarray | None  # data: component index per generated event
    components: list[Component]  # data: the components, in label order
    mc_weight: np.ndarray | None  # MC: mcWeight of every generated event
    run_numbers: np.ndarray | None  # data: the runs of the file
    category: str
    truth: dict = field(default_factory=dict)

    @property
    def is_data(self) -> bool:
        return self.spec.kind == "data"

    def sums_of_weights(self) -> tuple[float, float]:
        """(sum, sum of squares) of mcWeight over all generated events; (1, 1) for data."""
        if self.mc_weight is None:
            return 1.0, 1.0
        w = self.mc_weight.astype(np.float64)
        return float(w.sum()), float((w**2).sum())


def plan_data_file(rng, spec: FileSpec, components: list[Component], run_ranges: dict, runs_per_file: int) -> Plan:
    """Pseudo-data: Poisson yields of ``components`` in a random order, and the file's runs
    (``runs_per_file`` runs of its period, the first and last included). The category is the
    period's year (data15, data16) as in the real files."""
    period = data_period(spec.name, run_ranges)
    counts = rng.poisson([c.expected for c in components])
    labels = rng.permutation(np.repeat(np.arange(len(components), dtype=np.int16), counts))
    first, last = run_ranges[period]
    runs = np.sort(rng.choice(np.arange(first, last + 1), size=min(runs_per_file, last - first + 1), replace=False))
    runs[0], runs[-1] = first, last
    truth = {"expected": {c.label: c.expected for c in components},
             "generated": {c.label: int(k) for c, k in zip(components, counts)}}
    return Plan(spec, int(counts.sum()), labels, list(components), None, runs.astype(U4), period.split("_")[0], truth)


def plan_mc_file(rng, spec: FileSpec, n_generated: int, negative_fraction: float, weight_spread: float,
                 category: str) -> Plan:
    """MC: the signed mcWeight of every generated event (a fraction ``negative_fraction``
    negative, |w| log-normal of mean 1), drawn before any event so that sum_of_weights is
    known when the first chunk is written (the weights do not depend on the kinematics)."""
    negative = rng.uniform(size=n_generated) < negative_fraction
    magnitude = rng.lognormal(-0.5 * weight_spread**2, weight_spread, n_generated)
    weight = np.where(negative, -magnitude, magnitude).astype(F4)
    return Plan(spec, n_generated, None, [], weight, None, category)


def data_lumi_share(cfg: dict, spec: FileSpec) -> tuple[float, float]:
    """(the data file's luminosity in pb^-1, its share of the total ``lumi_fb``)."""
    file_lumi_pb = float(spec.lumi_fb) * 1000.0
    return file_lumi_pb, file_lumi_pb / (float(cfg["lumi_fb"]) * 1000.0)
