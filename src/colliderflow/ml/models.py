"""Building blocks of the torch kinds (``mlp``, ``deepsets``, ``transformer``).

Each model holds its own input standardisation (means and widths from the training split, as
buffers) and replaces missing values (NaN: events without jets) by the mean, so a saved model
or its ONNX export takes the raw feature columns. Every model takes the keyword ``n_outputs``
(the width of its last layer: 1 for signal against background, the number of classes for a
multiclass model; ``network.train`` sets it) and its ``forward`` returns logits, (events,) for
one output, else (events, n_outputs); ``ScoreModel`` wraps a model to return the sigmoid
score in [0, 1] or the softmax class probabilities (what ONNX exports and ``apply`` writes).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "mish": nn.Mish, "silu": nn.SiLU}


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


def mlp(sizes: list[int], dropout: float, final_activation: bool = True, activation: str = "silu",
        batch_norm: bool = False) -> nn.Sequential:
    """Linear layers with (BatchNorm,) the activation and dropout between them (and after the
    last if asked)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if final_activation or i < len(sizes) - 2:
            if batch_norm:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def masked_pool(embedded: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool (events, objects, width) over the objects with ``mask`` (events, objects) = 1 for
    a real one: sum, mean or max; padding never counts, and an event without objects pools to 0."""
    valid = mask.unsqueeze(-1) > 0
    if pooling == "max":
        lowest = torch.finfo(embedded.dtype).min
        pooled = torch.where(valid, embedded, torch.full_like(embedded, lowest)).amax(dim=1)
        return torch.where(valid.any(dim=1), pooled, torch.zeros_like(pooled))
    pooled = (embedded * mask.unsqueeze(-1)).sum(dim=1)
    if pooling == "mean":
        pooled = pooled / mask.sum(dim=1, keepdim=True).clamp_min(1.0)
    return pooled


def set_statistics(inputs: tuple[np.ndarray, ...]) -> dict:
    """Standardisation constructor arguments of a set model from its training inputs
    (features, objects, mask)."""
    features, objects, mask = inputs
    mean, std = feature_statistics(features)
    object_mean, object_std = feature_statistics(objects, mask)
    return {"n_features": features.shape[1], "n_object_fields": objects.shape[2], "feature_mean": mean.tolist(),
            "feature_std": std.tolist(), "object_mean": object_mean.tolist(), "object_std": object_std.tolist()}


def logits(output: torch.Tensor) -> torch.Tensor:
    """A last layer's (events, n_outputs) output as the model's logits: (events,) for one output
    (the shape is static, so the ONNX export has no Squeeze for several)."""
    return output.squeeze(-1) if output.shape[-1] == 1 else output


class ScoreModel(nn.Module):
    """sigmoid(logit) or softmax(logits): the score in [0, 1] or the class probabilities, what
    is exported to ONNX and written by apply."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.input_names = model.input_names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        logits = self.model(*inputs)
        return torch.sigmoid(logits) if logits.dim() == 1 else torch.softmax(logits, dim=-1)
