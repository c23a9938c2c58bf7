"""Experiment ntuple formats: what a file of one experiment's open data looks like.

A format says which tree holds the events, the unit of energies, which branches carry the
event identity, and how an event's weight is made (the experiment's MC normalisation
convention, with the checks that tell data from simulation). Analyses name the format
they read (``Analysis.ntuple``); simulations write it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar


class NtupleFormat(ABC):
    """One experiment's ntuple convention."""

    name: ClassVar[str]
    tree: ClassVar[str]
    energy_unit: ClassVar[str]
    event_branches: ClassVar[tuple[str, ...]]

    @abstractmethod
    def weight_branches(self, scale_factors: tuple[str, ...]) -> tuple[str, ...]:
        """The branches ``weights`` reads."""

    @abstractmethod
    def weights(self, events, cfg: dict, is_mc: bool, scale_factors: tuple[str, ...] = ()):
        """The event weight as coffea ``Weights``, after checking the file is the kind the
        catalogue says (data or MC); raises ValueError naming the mismatch."""
