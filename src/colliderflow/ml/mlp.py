"""Model kind ``mlp``: a fully connected torch network on the event-level features.

Settings: ``ml.network`` (the training loop) and ``ml.mlp`` (``hidden``, ``activation``,
``batch_norm``), see ``mlp.schema.yaml``. Trained, saved and exported by ``network``.
"""

from __future__ import annotations

import torch
from torch import nn

from . import models, network

INPUTS = ("features",)
POSITIVE_WEIGHTS = False
MULTICLASS = True  # network.train sets n_outputs


class EventMLP(nn.Module):
    """Fully connected network on the event-level features; n_outputs logits per event."""

    input_names = INPUTS

    def __init__(self, n_features: int, hidden: list[int], dropout: float, activation: str, batch_norm: bool,
                 feature_mean, feature_std, n_outputs: int):
        super().__init__()
        self.scale = models.Standardise(feature_mean, feature_std)
        self.net = models.mlp([n_features, *hidden, n_outputs], dropout, final_activation=False, activation=activation,
                              batch_norm=batch_norm)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return models.logits(self.net(self.scale(features)))


def spec(settings: dict, inputs: tuple) -> dict:
    """Constructor arguments: architecture from the settings, standardisation from the training inputs."""
    mean, std = models.feature_statistics(inputs[0])
    return {"n_features": inputs[0].shape[1], "hidden": list(settings["hidden"]), "dropout": settings["dropout"],
            "activation": settings["activation"], "batch_norm": settings["batch_norm"],
            "feature_mean": mean.tolist(), "feature_std": std.tolist()}


train, importance = network.kind(EventMLP, spec)
