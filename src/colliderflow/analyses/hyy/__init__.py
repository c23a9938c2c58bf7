"""H -> gamma gamma on the ATLAS Open Data 2025 GamGam skim."""

from .analysis import HyyAnalysis

__all__ = ["HyyAnalysis"]
