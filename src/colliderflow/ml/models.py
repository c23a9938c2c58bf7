"""Building blocks of the torch kinds (``mlp``, ``deepsets``, ``transformer``, ``graph``, ``cnn``).

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

from .data import OBJECT_INPUTS

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


def object_field(objects: torch.Tensor, name: str) -> torch.Tensor:
    """One field (``data.OBJECT_INPUTS``) of the raw object tensor (events, objects, fields)."""
    return objects[..., OBJECT_INPUTS.index(name)]


def object_types(objects: torch.Tensor) -> torch.Tensor:
    """The one-hot type (events, objects, types) of the raw object tensor: one type per ``ml.objects`` prefix."""
    return objects[..., len(OBJECT_INPUTS):]


def abs_delta_phi(cos_a: torch.Tensor, sin_a: torch.Tensor, cos_b: torch.Tensor, sin_b: torch.Tensor) -> torch.Tensor:
    """|Delta phi| in [0, pi] from the cosines and sines of two azimuths (broadcast): acos of
    cos(a - b), so it wraps at pi without an atan2 (which ONNX lacks)."""
    return torch.acos((cos_a * cos_b + sin_a * sin_b).clamp(-1.0, 1.0))


def set_statistics(inputs: tuple[np.ndarray, ...]) -> dict:
    """Standardisation constructor arguments of a set model from its training inputs
    (features, objects, mask)."""
    features, objects, mask = inputs
    mean, std = feature_statistics(features)
    object_mean, object_std = feature_statistics(objects, mask)
    return {"n_features": features.shape[1], "feature_mean": mean.tolist(), "feature_std": std.tolist(),
            "object_mean": object_mean.tolist(), "object_std": object_std.tolist()}


class ObjectInputs(nn.Module):
    """The objects as a set model reads them: every field standardised, or, with
    ``type_embedding`` > 0, the fields standardised and the one-hot type replaced by a learned
    embedding of that width (the type's index is the position of its 1; padding gets type 0,
    which the model masks). ``width``: the number of values per object."""

    def __init__(self, object_mean, object_std, type_embedding: int):
        super().__init__()
        n_fields = len(OBJECT_INPUTS) if type_embedding else len(object_mean)
        self.scale = Standardise(object_mean[:n_fields], object_std[:n_fields])
        self.embedding = nn.Embedding(len(object_mean) - n_fields, type_embedding) if type_embedding else None
        self.width = n_fields + type_embedding

    def forward(self, objects: torch.Tensor) -> torch.Tensor:
        if self.embedding is None:
            return self.scale(objects)
        fields = self.scale(objects[..., :len(OBJECT_INPUTS)])
        return torch.cat([fields, self.embedding(object_types(objects).argmax(dim=-1))], dim=-1)


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
