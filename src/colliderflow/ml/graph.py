"""Model kind ``graph``: a graph network over the objects (EdgeConv, Wang et al. 2019), then a
network on the pooled objects and the event-level features.

The nodes are the real objects of an event (padding takes no part); the edges join objects
close in (eta, phi), per ``edges``: ``knn``, each object to itself and its ``k`` - 1 nearest
others in Delta R (all of them where the event has fewer; equal distances all join);
``radius``, to every object within Delta R <= ``radius``; ``full``, to every object. Each
layer replaces an object x_i by the ``aggregation`` (max or mean) over its edges (i, j) of
h(x_i, x_j - x_i), h a linear layer and SiLU (``EdgeConv``). The graph is built once per event from the
input positions inside ``forward`` with tensor operations (pairwise Delta R, top-k), so the
ONNX export takes the same inputs as the other set models. The objects are pooled (sum, mean
or max) and joined to the event-level features. Invariant under object order. Settings:
``ml.network`` (the training loop) and ``ml.graph`` (see ``graph.schema.yaml``).

Mother-daughter edges would need the decay history of each object, which the features stage
does not write; the edges come from the geometry only.
"""

from __future__ import annotations

import torch
from torch import nn

from . import models, network

INPUTS = ("features", "objects", "mask")
POSITIVE_WEIGHTS = False
MULTICLASS = True  # network.train sets n_outputs


def delta_r2(objects: torch.Tensor) -> torch.Tensor:
    """Squared Delta R (events, objects, objects) between the objects (raw object tensor)."""
    eta = models.object_field(objects, "eta")
    cos, sin = models.object_field(objects, "cos_dphi"), models.object_field(objects, "sin_dphi")
    dphi = models.abs_delta_phi(cos[:, :, None], sin[:, :, None], cos[:, None, :], sin[:, None, :])
    return (eta[:, :, None] - eta[:, None, :]) ** 2 + dphi**2


class EdgeConv(nn.Module):
    """x_i -> aggregation over the edges (i, j) of SiLU(Theta (x_j - x_i) + Phi x_i); 0 for an object without
    edges. Written as SiLU(A x_i + B x_j) (A = Phi - Theta, B = Theta): two linear maps of the objects, then a
    sum per pair, instead of a linear map of every pair's concatenated inputs (n times fewer products)."""

    def __init__(self, n_in: int, n_out: int, aggregation: str):
        super().__init__()
        self.centre = nn.Linear(n_in, n_out)
        self.neighbour = nn.Linear(n_in, n_out, bias=False)
        self.activation = nn.SiLU()
        self.aggregation = aggregation

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """``x``: (events, objects, width); ``adjacency``: (events, objects, objects) float, 1 for an edge i -> j."""
        events, n, _ = x.shape
        messages = self.activation(self.centre(x)[:, :, None, :] + self.neighbour(x)[:, None, :, :])
        pooled = models.masked_pool(messages.reshape(events * n, n, -1), adjacency.reshape(events * n, n),
                                    self.aggregation)
        return pooled.reshape(events, n, -1)


class ObjectGraph(nn.Module):
    input_names = INPUTS

    def __init__(self, n_features: int, n_objects: int, edges: str, k: int, radius: float, convolutions: list[int],
                 aggregation: str, pooling: str, head_hidden: list[int], dropout: float, type_embedding: int,
                 n_outputs: int, feature_mean, feature_std, object_mean, object_std):
        super().__init__()
        self.edges, self.radius, self.pooling = edges, radius, pooling
        self.k = min(k, n_objects)  # top-k needs k <= the number of object slots
        self.scale = models.Standardise(feature_mean, feature_std)
        self.object_inputs = models.ObjectInputs(object_mean, object_std, type_embedding)
        widths = [self.object_inputs.width, *convolutions]
        self.convolutions = nn.ModuleList(EdgeConv(n_in, n_out, aggregation) for n_in, n_out in zip(widths, widths[1:]))
        self.head = models.mlp([widths[-1] + n_features, *head_hidden, n_outputs], dropout, final_activation=False)

    def adjacency(self, objects: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(events, objects, objects) float: 1 where object i takes a message from j; both are real."""
        real = mask > 0
        both = real[:, :, None] & real[:, None, :]
        if self.edges == "full":
            return both.float()
        distance = delta_r2(objects)
        # itself exactly 0 (acos of a rounded cos(0) is not), padding beyond every real object
        itself = torch.eye(distance.shape[1], dtype=torch.bool, device=distance.device)
        distance = torch.where(itself, torch.zeros_like(distance), distance)
        distance = torch.where(real[:, None, :], distance, torch.full_like(distance, torch.inf))
        if self.edges == "radius":
            return (both & (distance <= self.radius**2)).float()
        kth = distance.topk(self.k, dim=-1, largest=False).values[..., -1:]
        return (both & (distance <= kth)).float()

    def forward(self, features: torch.Tensor, objects: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        adjacency = self.adjacency(objects, mask)
        x = self.object_inputs(objects)
        for convolution in self.convolutions:
            x = convolution(x, adjacency)
        pooled = models.masked_pool(x, mask, self.pooling)
        return models.logits(self.head(torch.cat([pooled, self.scale(features)], dim=-1)))


def spec(settings: dict, inputs: tuple) -> dict:
    """Constructor arguments: architecture from the settings, standardisation from the training inputs."""
    return {**models.set_statistics(inputs), "n_objects": inputs[1].shape[1], "dropout": settings["dropout"],
            **{key: settings[key] for key in ("edges", "k", "radius", "aggregation", "pooling", "type_embedding")},
            "convolutions": list(settings["convolutions"]), "head_hidden": list(settings["head_hidden"])}


train, importance = network.kind(ObjectGraph, spec)
