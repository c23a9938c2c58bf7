"""Model kind ``deepsets``: Zaheer et al. 2017, rho(pool_i phi(object_i), event features).

Invariant under object order; padded objects are masked out of the pooling (sum, mean or
max), so neither their number nor their values change the score. Settings: ``ml.network``
(the training loop) and ``ml.deepsets`` (see ``deepsets.schema.yaml``). Trained, saved and
exported by ``network``.
"""

from __future__ import annotations

import torch
from torch import nn

from . import models, network

INPUTS = ("features", "objects", "mask")
POSITIVE_WEIGHTS = False
MULTICLASS = True  # network.train sets n_outputs


class DeepSets(nn.Module):
    input_names = INPUTS

    def __init__(self, n_features: int, phi_hidden: list[int], latent: int, rho_hidden: list[int], pooling: str,
                 dropout: float, type_embedding: int, feature_mean, feature_std, object_mean, object_std,
                 n_outputs: int):
        super().__init__()
        self.pooling = pooling
        self.scale = models.Standardise(feature_mean, feature_std)
        self.object_inputs = models.ObjectInputs(object_mean, object_std, type_embedding)
        self.phi = models.mlp([self.object_inputs.width, *phi_hidden, latent], 0.0)
        self.rho = models.mlp([latent + n_features, *rho_hidden, n_outputs], dropout, final_activation=False)

    def forward(self, features: torch.Tensor, objects: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pooled = models.masked_pool(self.phi(self.object_inputs(objects)), mask, self.pooling)
        return models.logits(self.rho(torch.cat([pooled, self.scale(features)], dim=-1)))


def spec(settings: dict, inputs: tuple) -> dict:
    """Constructor arguments: architecture from the settings, standardisation from the training inputs."""
    return {**models.set_statistics(inputs), "phi_hidden": list(settings["phi_hidden"]), "latent": settings["latent"],
            "rho_hidden": list(settings["rho_hidden"]), "pooling": settings["pooling"], "dropout": settings["dropout"],
            "type_embedding": settings["type_embedding"]}


train, importance = network.kind(DeepSets, spec)
