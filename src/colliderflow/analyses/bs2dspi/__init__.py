"""Bs0 -> Ds- pi+ (Ds- -> K+ K- pi-) on an LHCb DecayTreeTuple-style ntuple."""

from .analysis import Bs2DspiAnalysis

__all__ = ["Bs2DspiAnalysis"]
