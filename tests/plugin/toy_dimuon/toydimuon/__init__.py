"""A throwaway analysis outside colliderflow: a dimuon peak (toy Z -> mumu) over a falling
Drell-Yan continuum, in a toy ntuple format of its own, with its own embedded simulation.

It exists to show that a physicist adds an analysis without editing colliderflow: this
package registers ``DimuonAnalysis`` under the entry-point group ``colliderflow.analyses``
(``dimuon = toydimuon:DimuonAnalysis``) and a config with ``analysis: dimuon`` runs it. Its
piece of the config schema is ``config.schema.yaml`` beside this file (found by name).
"""

from .analysis import DimuonAnalysis

__all__ = ["DimuonAnalysis"]
