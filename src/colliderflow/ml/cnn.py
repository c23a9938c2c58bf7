"""Model kind ``cnn``: the event drawn as an image in (eta, phi), a small convolutional
network on it, then a network on its output and the event-level features.

Each real object is a disc of radius ``alpha`` ln(pT) around its (eta, phi) on a grid of
``pixels_eta`` x ``pixels_phi`` (eta in ``eta_range``, phi relative to the leading object
as in the object tensor, wrapping at pi), in the channel of its type (one per ``ml.objects``
prefix); a pixel holds the number of discs of that type over its centre. The disc is at
least half a pixel diagonal wide, so every object on the grid marks the pixel it falls in
(pT of the ``ml.mass_scaled_objects`` is pT / observable, whose logarithm is small or below 0).

The image is drawn inside ``forward`` from the object tensor (fixed geometry, no trained
parameters): the model and its ONNX export take the same inputs as the other set models,
and a batch's images exist only while it is used (drawn in the data loader, the images of
all events would be held in memory, and apply would need to draw them too). Padding draws
nothing, so the score ignores the order and the padding of the objects. Each convolution
(3 x 3, SiLU) halves the grid by 2 x 2 max pooling; the last one is averaged over the
grid. Settings: ``ml.network`` (the training loop) and ``ml.cnn`` (see ``cnn.schema.yaml``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import ConfigError
from . import models, network

INPUTS = ("features", "objects", "mask")
POSITIVE_WEIGHTS = False
MULTICLASS = True  # network.train sets n_outputs


class EventImage(nn.Module):
    """(events, objects, fields), (events, objects) -> (events, types, pixels_eta, pixels_phi) disc counts."""

    def __init__(self, pixels_eta: int, pixels_phi: int, eta_range: list[float], alpha: float):
        super().__init__()
        low, high = eta_range
        eta_step, phi_step = (high - low) / pixels_eta, 2 * math.pi / pixels_phi
        phi = -math.pi + phi_step * (torch.arange(pixels_phi, dtype=torch.float32) + 0.5)
        self.register_buffer("eta", low + eta_step * (torch.arange(pixels_eta, dtype=torch.float32) + 0.5))
        self.register_buffer("cos_phi", torch.cos(phi))
        self.register_buffer("sin_phi", torch.sin(phi))
        self.alpha = alpha
        self.min_radius = 0.5 * math.hypot(eta_step, phi_step)

    def forward(self, objects: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        radius = (self.alpha * models.object_field(objects, "log_pt")).clamp_min(self.min_radius)
        eta = models.object_field(objects, "eta")
        cos, sin = models.object_field(objects, "cos_dphi"), models.object_field(objects, "sin_dphi")
        deta2 = (eta[..., None] - self.eta) ** 2  # (events, objects, pixels_eta)
        dphi2 = models.abs_delta_phi(cos[..., None], sin[..., None], self.cos_phi, self.sin_phi) ** 2
        distance2 = deta2[..., :, None] + dphi2[..., None, :]  # (events, objects, pixels_eta, pixels_phi)
        inside = (distance2 <= (radius**2)[..., None, None]) & (mask > 0)[..., None, None]
        return torch.einsum("eohw,eot->ethw", inside.float(), models.object_types(objects))


class EventCNN(nn.Module):
    input_names = INPUTS

    def __init__(self, n_features: int, n_types: int, pixels_eta: int, pixels_phi: int, eta_range: list[float],
                 alpha: float, channels: list[int], head_hidden: list[int], dropout: float, n_outputs: int,
                 feature_mean, feature_std):
        super().__init__()
        self.image = EventImage(pixels_eta, pixels_phi, eta_range, alpha)
        self.scale = models.Standardise(feature_mean, feature_std)
        layers: list[nn.Module] = []
        widths = [n_types, *channels]
        for n_in, n_out in zip(widths, widths[1:]):
            layers += [nn.Conv2d(n_in, n_out, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2)]
        self.convolutions = nn.Sequential(*layers)
        self.head = models.mlp([widths[-1] + n_features, *head_hidden, n_outputs], dropout, final_activation=False)

    def forward(self, features: torch.Tensor, objects: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pooled = self.convolutions(self.image(objects, mask)).mean(dim=(2, 3))
        return models.logits(self.head(torch.cat([pooled, self.scale(features)], dim=-1)))


def spec(settings: dict, inputs: tuple) -> dict:
    """Constructor arguments: architecture and image from the settings, standardisation from the training inputs."""
    name, depth = settings["name"], len(settings["channels"])
    low, high = settings["eta_range"]
    if not low < high:
        raise ConfigError(f"model {name}: eta_range {[low, high]} must be increasing (ml.cnn or its ml.models entry)")
    if min(settings["pixels_eta"], settings["pixels_phi"]) < 2**depth:
        raise ConfigError(f"model {name}: {depth} convolutions halve the grid {depth} times, so pixels_eta and "
                          f"pixels_phi must be at least {2**depth} (ml.cnn or its ml.models entry)")
    features, objects, _ = inputs
    mean, std = models.feature_statistics(features)
    return {"n_features": features.shape[1], "n_types": objects.shape[2] - len(models.OBJECT_INPUTS),
            "feature_mean": mean.tolist(), "feature_std": std.tolist(), "dropout": settings["dropout"],
            **{key: settings[key] for key in ("pixels_eta", "pixels_phi", "alpha")},
            "eta_range": [low, high], "channels": list(settings["channels"]),
            "head_hidden": list(settings["head_hidden"])}


train, importance = network.kind(EventCNN, spec)
