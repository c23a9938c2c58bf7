"""The ATLAS Open Data 2025 ntuple format (release ``2025e-13tev-beta``): tree ``analysis``,
GeV, RVec branches, per-event metadata and the release's MC weight convention.

One format serves every skim of the release (GamGam, exactly4lep, ...): the branches are
the same, only the events differ. See ``../shared/reference/atlas-open-data.md``.
"""

from __future__ import annotations

from typing import ClassVar

import awkward as ak
import numpy as np

from . import NtupleFormat


class Atlas2025(NtupleFormat):
    name: ClassVar[str] = "atlas2025"
    tree: ClassVar[str] = "analysis"
    energy_unit: ClassVar[str] = "GeV"
    event_branches: ClassVar[tuple[str, ...]] = ("eventNumber", "runNumber", "channelNumber")
    # the normalisation factors of every MC event, whatever the analysis
    normalisation_branches: ClassVar[tuple[str, ...]] = (
        "mcWeight", "ScaleFactor_PILEUP", "xsec", "filteff", "kfac", "sum_of_weights")

    def weight_branches(self, scale_factors: tuple[str, ...] = ()) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.normalisation_branches + tuple(scale_factors)))

    def weights(self, events, cfg: dict, is_mc: bool, scale_factors: tuple[str, ...] = ()):
        """Data get 1. MC: ``mcWeight * ScaleFactor_PILEUP * (the analysis's scale factors) *
        xsec * filteff * kfac * lumi_pb / sum_of_weights`` (the release's own convention;
        mcWeight keeps its sign). The file's metadata cross-check the catalogue: data carry
        xsec == 0, MC xsec > 0.
        """
        from coffea.analysis_tools import Weights

        n = len(events)
        result = Weights(n)
        xsec = ak.to_numpy(events["xsec"]).astype(np.float64)
        if not is_mc:
            if np.any(xsec != 0):
                raise ValueError(
                    "the sample catalogue says this is data (kind: data) but the file has xsec != 0 "
                    "as MC files do; fix the sample's kind in the config or the file list"
                )
            return result
        if np.any(xsec <= 0):
            raise ValueError(
                "the sample catalogue says this is MC but the file has xsec == 0 as data files do; "
                "fix the sample's kind (data) in the config or the file list"
            )
        sum_of_weights = ak.to_numpy(events["sum_of_weights"]).astype(np.float64)
        if np.any(sum_of_weights <= 0):
            raise ValueError("branch sum_of_weights is <= 0 for some MC events; the file's metadata are broken")
        lumi_pb = float(cfg["lumi_fb"]) * 1000.0
        for branch in ("mcWeight", *scale_factors, "ScaleFactor_PILEUP"):
            result.add(branch, ak.to_numpy(events[branch]).astype(np.float64))
        normalisation = (
            xsec
            * ak.to_numpy(events["filteff"]).astype(np.float64)
            * ak.to_numpy(events["kfac"]).astype(np.float64)
            * lumi_pb
            / sum_of_weights
        )
        result.add("normalisation", normalisation)
        return result


FORMAT = Atlas2025()
