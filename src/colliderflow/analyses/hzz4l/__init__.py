"""H -> ZZ* -> 4l on the ATLAS Open Data 2025 exactly4lep skim."""

from .analysis import Hzz4lAnalysis

__all__ = ["Hzz4lAnalysis"]
