"""The sWeights of a model's fit (``colliderflow sweights``): per fitted data event, the signal
and background sWeights (sPlot, ``stats.sweights``) of its category in the headline fit.

Each category is one extended fit of the observable, so its sWeights come from its own signal
and background densities and yields at the fitted values (the model written in fit.json). The
signal sWeights of a category sum to its fitted signal yield; weighting any variable that is
independent of the observable within each component gives that variable's signal distribution.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..analyses import Observable
from ..stats.model import Model
from ..stats.sweights import sweights


def event_sweights(model: Model, part: pd.DataFrame, observable: Observable) -> pd.DataFrame:
    """eventNumber, sample, category (name), the observable, ``sweight_signal`` and
    ``sweight_background`` of every data event of ``part`` (``inputs.prepare``), from ``model``
    at its stored (fitted) values; an empty table with these columns when ``part`` holds no
    data (then ``model`` may be None)."""
    column = observable.column
    frames = [pd.DataFrame({"eventNumber": part["eventNumber"].to_numpy()[:0], "sample": pd.Series([], dtype=str),
                            "category": pd.Series([], dtype=str), column: np.zeros(0),
                            "sweight_signal": np.zeros(0), "sweight_background": np.zeros(0)})]
    for k, name in enumerate(part.attrs["categories"]):
        rows = part[(part["kind"] == "data") & (part["category"] == k)]
        if rows.empty:
            continue
        values = model.values()
        x = rows[column].to_numpy(dtype=float)
        channel = model.channel(name)
        densities = [c.shape.density(x, *c.shape_values(values)) for c in (channel.signal, channel.background)]
        yields = model.yields(values)[name]
        weights = sweights(densities, [yields["signal"], yields["background"]])
        frames.append(pd.DataFrame({"eventNumber": rows["eventNumber"].to_numpy(), "sample": rows["sample"].to_numpy(),
                                    "category": name, column: x, "sweight_signal": weights[0],
                                    "sweight_background": weights[1]}))
    return pd.concat(frames, ignore_index=True)
