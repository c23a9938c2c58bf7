"""Torch classifiers: an MLP on the event-level features and a DeepSets model over objects.

Each model holds its own input standardisation (means and widths from the training split, as
buffers) and replaces missing values (NaN: events without jets) by the mean, so a saved model
or its ONNX export takes the raw feature columns. ``forward`` returns logits; ``ScoreModel``
wraps a model to return sigmoid scores in [0, 1] (what ONNX exports and ``apply`` writes).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class Standardise(nn.Module):
    """(x - mean) / std with NaN -> 0 (the training mean); statistics fixed at construction."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        return torch.where(torch.isnan(x), torch.zeros_like(x), x)


def feature_statistics(values: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std over the last axis, ignoring NaN and (optionally) padded entries."""
    flat = values.reshape(-1, values.shape[-1]).astype(np.float64)
    if valid is not None:
        flat = flat[valid.reshape(-1) > 0]
    mean = np.nan_to_num(np.nanmean(flat, axis=0)) if len(flat) else np.zeros(flat.shape[1])
    std = np.nan_to_num(np.nanstd(flat, axis=0)) if len(flat) else np.ones(flat.shape[1])
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)


def mlp(sizes: list[int], dropout: float, final_activation: bool = True) -> nn.Sequential:
    """Linear layers with SiLU and dropout between them (and after the last if asked)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if final_activation or i < len(sizes) - 2:
            layers.append(nn.SiLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class EventMLP(nn.Module):
    """Fully connected network on the event-level features; one logit per event."""

    input_names = ("features",)

    def __init__(self, n_features: int, hidden: list[int], dropout: float, feature_mean, feature_std):
        super().__init__()
        self.scale = Standardise(feature_mean, feature_std)
        self.net = mlp([n_features, *hidden, 1], dropout, final_activation=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(self.scale(features)).squeeze(-1)


class DeepSets(nn.Module):
    """Zaheer et al. 2017: rho(pool_i phi(object_i), event features); invariant under object order.

    Padded objects are masked out of the pooling (their embedding is multiplied by 0), so
    neither their number nor their values change the score.
    """

    input_names = ("features", "objects", "mask")

    def __init__(self, n_features: int, n_object_fields: int, phi_hidden: list[int], latent: int,
                 rho_hidden: list[int], pooling: str, dropout: float,
                 feature_mean, feature_std, object_mean, object_std):
        super().__init__()
        self.pooling = pooling
        self.scale = Standardise(feature_mean, feature_std)
        self.scale_objects = Standardise(object_mean, object_std)
        self.phi = mlp([n_object_fields, *phi_hidden, latent], 0.0)
        self.rho = mlp([latent + n_features, *rho_hidden, 1], dropout, final_activation=False)

    def forward(self, features: torch.Tensor, objects: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        embedded = self.phi(self.scale_objects(objects)) * mask.unsqueeze(-1)
        pooled = embedded.sum(dim=1)
        if self.pooling == "mean":
            pooled = pooled / mask.sum(dim=1, keepdim=True).clamp_min(1.0)
        return self.rho(torch.cat([pooled, self.scale(features)], dim=-1)).squeeze(-1)


class ScoreModel(nn.Module):
    """sigmoid(logit): the score in [0, 1] that is exported to ONNX and written by apply."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.input_names = model.input_names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(*inputs))


def build(spec: dict) -> nn.Module:
    """A model from its spec (type and constructor arguments), as saved in model.pt."""
    kwargs = dict(spec["kwargs"])
    if spec["type"] == "mlp":
        return EventMLP(**kwargs)
    if spec["type"] == "deepsets":
        return DeepSets(**kwargs)
    raise ValueError(f"unknown torch model type '{spec['type']}'")


def make_spec(settings: dict, train_inputs: tuple[np.ndarray, ...]) -> dict:
    """The spec of a new model: architecture from the settings, standardisation from the training inputs."""
    features = train_inputs[0]
    mean, std = feature_statistics(features)
    kwargs = {"n_features": features.shape[1], "dropout": settings["dropout"],
              "feature_mean": mean.tolist(), "feature_std": std.tolist()}
    if settings["type"] == "mlp":
        kwargs["hidden"] = list(settings["hidden"])
    elif settings["type"] == "deepsets":
        objects, mask = train_inputs[1], train_inputs[2]
        object_mean, object_std = feature_statistics(objects, mask)
        kwargs.update(n_object_fields=objects.shape[2], phi_hidden=list(settings["phi_hidden"]),
                      latent=settings["latent"], rho_hidden=list(settings["rho_hidden"]),
                      pooling=settings["pooling"], object_mean=object_mean.tolist(), object_std=object_std.tolist())
    else:
        raise ValueError(f"model type '{settings['type']}' is not a torch model")
    return {"type": settings["type"], "kwargs": kwargs}
