"""Figures in one style (mplhep ATLAS): the style, the experiment label, atomic saving.

Every figure made from the embedded dataset says "Simulation" in its label.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402

from .io import atomic_path  # noqa: E402


def use_style() -> None:
    mplhep.style.use("ATLAS")


def experiment_label(ax, simulated: bool, lumi_fb: float | None = None, data: bool = True) -> None:
    """ATLAS Open Data label; 'Simulation' whenever the inputs are the embedded dataset."""
    # data=True stops mplhep from adding its own "Simulation" word; ours says it instead.
    text = "Open Data Simulation" if simulated else "Open Data"
    mplhep.atlas.label(text=text, data=True, lumi=lumi_fb, ax=ax, loc=0)


def save(fig, path: str | Path) -> None:
    """Save a figure atomically (the temp name keeps the real suffix so the format is right)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp.with_suffix(path.suffix), bbox_inches="tight")
        tmp.with_suffix(path.suffix).replace(tmp)
    plt.close(fig)
