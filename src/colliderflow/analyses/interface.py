"""What an analysis is, as one typed object that every generic stage reads.

An analysis subclasses :class:`Analysis` and declares everything analysis-shaped: the ntuple
format it reads, its cuts, event selection, weights and output columns, the observable the
result is measured in, its processes, and its own piece of the config schema (whose defaults
are also its fit recipe: signal and background model candidates, how the background function
is chosen, the systematics). The generic stages (skim, features, ml, optimise, inference,
report) never name a branch, a column, a process or an experiment: they ask this object.

Built-in analyses live in ``colliderflow.analyses.<name>``; a package of your own registers
its class under the entry-point group ``colliderflow.analyses``::

    [project.entry-points."colliderflow.analyses"]
    dimuon = "mypackage.dimuon:DimuonAnalysis"

and a config with ``analysis: dimuon`` runs it, with no colliderflow file edited.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ..simulation import Simulation

if TYPE_CHECKING:  # only for annotations: importing them costs time at every command start
    import pyarrow as pa
    from coffea.analysis_tools import PackedSelection, Weights

    from ..ntuples import NtupleFormat


@dataclass(frozen=True)
class Observable:
    """The quantity the result is measured in (an invariant mass, usually).

    ``range`` is the half-open interval [lo, hi) that the skim keeps and in which the
    classifiers train, the optimisation counts and the fit runs; ``window`` the signal region
    inside it, [lo, hi): s and b are counted there, and it is left out of data used as a
    sideband (classifier training on sidebands, background-function choice) when ``blind``.
    Column, label and unit come from the analysis; range, window, bin width and blinding from
    the config's ``observable`` section (whose defaults the analysis declares).
    """

    column: str
    label: str
    unit: str
    range: tuple[float, float]
    window: tuple[float, float]
    bin_width: float
    blind: bool = True
    sideband: str = "both"
    sideband_gap: float = 0.0

    @property
    def axis_label(self) -> str:
        return f"{self.label} [{self.unit}]" if self.unit else self.label

    def in_range(self, values):
        """Mask of values inside [lo, hi)."""
        lo, hi = self.range
        return (values >= lo) & (values < hi)

    def in_window(self, values):
        """Mask of values inside the signal window [lo, hi)."""
        lo, hi = self.window
        return (values >= lo) & (values < hi)

    def sideband_intervals(self, window=None) -> list[tuple[float, float]]:
        """The [lo, hi) parts of the range whose data are the sideband background around
        ``window`` (default: the observable's): both sides, or one (``sideband``), kept
        ``sideband_gap`` away from it (e.g. to leave out a misreconstructed background next to
        the peak). ValueError naming the keys when nothing is left."""
        (lo, hi), (wlo, whi) = self.range, (self.window if window is None else window)
        sides = {"lower": (lo, wlo - self.sideband_gap), "upper": (whi + self.sideband_gap, hi)}
        chosen = [sides[name] for name in (("lower", "upper") if self.sideband == "both" else (self.sideband,))]
        chosen = [(float(a), float(b)) for a, b in chosen if a < b]
        if not chosen:
            raise ValueError(f"observable.sideband = {self.sideband!r} with observable.sideband_gap = "
                             f"{self.sideband_gap} leaves no sideband in [{lo}, {hi}) around [{wlo:.2f}, {whi:.2f}); "
                             "lower observable.sideband_gap or widen observable.range")
        return chosen

    def in_sidebands(self, values, window=None):
        """Mask of values inside the sideband intervals (``sideband_intervals``)."""
        mask = False
        for lo, hi in self.sideband_intervals(window):
            mask = mask | ((values >= lo) & (values < hi))
        return mask


@dataclass(frozen=True)
class Process:
    """A physics process of the analysis: its role in the result and how plots draw it."""

    name: str
    role: Literal["signal", "background", "data"]
    label: str
    colour: str


class Analysis(ABC):
    """One analysis: subclass it and fill in the class attributes and the three methods.

    Class attributes:

    - ``name``: the config's ``analysis`` value; results go to ``results/<name>/``.
    - ``title``: a line for tables and plots (e.g. ``H -> yy``).
    - ``ntuple``: the experiment format read (``colliderflow.ntuples``): tree, weight recipe.
    - ``scale_factors``: the format's scale-factor branches in this analysis's MC weight.
    - ``cut_order``: the cutflow's cut names, in order (after the implicit ``all``).
    - ``schema``: the ``pyarrow.Schema`` of the skim Parquet (one row per selected event). The
      later stages need ``eventNumber`` (uint64: the split is a hash of it), ``sample``
      (string), ``weight`` (float64) and the observable column; ``process``, ``kind``,
      ``label`` and ``split`` are added by the features stage and must not be skim columns.
      The registry checks this when it loads the analysis.
    - ``observable_column``, ``observable_label``, ``observable_unit``: the observable.
    - ``peak_label``: how plots name the fitted peak position (e.g. ``$m_H$``).
    - ``processes``: the processes by name (catalogue ``process`` values), with role and colour.
    - ``nan_when_missing``: the skim columns that are NaN when the event lacks the object they
      describe (e.g. the second jet's pT); NaN anywhere else, and inf anywhere, is refused when
      the features are built.

    In the folder of the module the registry names (``BUILT_IN``, or the entry point's module),
    ``config.schema.yaml`` is the analysis's piece of
    the config schema (YAML, the same form as the properties of the root schema; found by
    name, so reading a config imports no analysis code). It declares the ``selection``
    section (cuts and object definitions) and the defaults of the generic sections for this
    analysis: the ``observable`` range and window, the ``fit`` recipe (signal shape,
    background candidates, normalisation systematics), the classifier ``ml.features`` and
    objects, the ``simulate`` settings of its embedded simulation.
    - ``simulation``: the embedded simulation, or None.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    ntuple: ClassVar["NtupleFormat"]
    scale_factors: ClassVar[tuple[str, ...]] = ()
    cut_order: ClassVar[tuple[str, ...]]
    schema: ClassVar["pa.Schema"]
    observable_column: ClassVar[str]
    observable_label: ClassVar[str]
    observable_unit: ClassVar[str]
    peak_label: ClassVar[str] = "peak position"
    processes: ClassVar[dict[str, Process]]
    nan_when_missing: ClassVar[tuple[str, ...]] = ()
    simulation: ClassVar[Simulation | None] = None

    # ------------------------------------------------------------------ what stages ask

    def observable(self, cfg: dict) -> Observable:
        """The observable with the range, window and binning of a resolved config."""
        section = cfg["observable"]
        return Observable(
            column=self.observable_column,
            label=self.observable_label,
            unit=self.observable_unit,
            range=tuple(section["range"]),
            window=tuple(section["window"]),
            bin_width=float(section["bin_width"]),
            blind=bool(section["blind"]),
            sideband=section["sideband"],
            sideband_gap=float(section["sideband_gap"]),
        )

    def process(self, name: str) -> Process:
        """The process called ``name``; a process the analysis does not declare is drawn grey."""
        return self.processes.get(name) or Process(name, "background", name, "#999999")

    # ------------------------------------------------------------------ the skim

    @abstractmethod
    def branches(self, cfg: dict) -> list[str]:
        """The branches to read with this config, nothing more."""

    @abstractmethod
    def select(self, events, cfg: dict, is_mc: bool) -> tuple["PackedSelection", tuple[str, ...], Any]:
        """The event selection on one chunk: (PackedSelection with a bit per cut of
        ``cut_order``, the cut order, anything ``columns`` may reuse)."""

    def weights(self, events, cfg: dict, is_mc: bool) -> "Weights":
        """The event weight (coffea ``Weights``): by default the ntuple format's recipe."""
        return self.ntuple.weights(events, cfg, is_mc, self.scale_factors)

    def observable_candidates(self, derived) -> Any:
        """The observable of each event's candidate before any cut on it (NaN or absent where
        there is none), from ``select``'s ``derived``; the skim uses it to recognise ntuples
        in the wrong energy unit. None (the default) skips that check."""
        return None

    @abstractmethod
    def columns(self, events, mask, cfg: dict, sample: str, weight, derived) -> "pa.Table":
        """The output rows (``schema``) of the events where ``mask`` is true."""

    def empty_table(self) -> "pa.Table":
        """Zero rows with the skim schema (a file where nothing passes is still a valid skim)."""
        return self.schema.empty_table()
