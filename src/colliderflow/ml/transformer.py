"""Model kind ``transformer``: a transformer encoder over the objects, then a network on the
pooled objects and the event-level features (as in particle transformers, on a few objects).

Each object (standardised fields) is embedded linearly; a learned summary token joins the
objects, so that every event has one key that is never padding; pre-norm encoder layers apply
multi-head self-attention (padded objects masked out as keys) and a feed-forward network;
the outputs of the real objects and the token are averaged (masked mean pooling). No position
encoding: the score does not depend on the order of the objects. Settings: ``ml.network``
(the training loop) and ``ml.transformer`` (see ``transformer.schema.yaml``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConfigError
from . import models, network

INPUTS = ("features", "objects", "mask")
POSITIVE_WEIGHTS = False
MULTICLASS = True  # network.train sets n_outputs


class EncoderLayer(nn.Module):
    """Pre-norm self-attention and feed-forward blocks, each added to its input."""

    def __init__(self, width: int, heads: int, feedforward: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm_attention = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm_feedforward = nn.LayerNorm(width)
        self.feedforward = nn.Sequential(nn.Linear(width, feedforward), nn.GELU(), nn.Dropout(dropout),
                                         nn.Linear(feedforward, width))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """``x``: (events, tokens, width); ``keys``: (events, tokens) bool, True where a token may be attended."""
        events, tokens, width = x.shape
        q, k, v = self.qkv(self.norm_attention(x)).reshape(events, tokens, 3, self.heads, width // self.heads) \
            .permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=keys[:, None, None, :])
        x = x + self.dropout(self.out(attended.transpose(1, 2).reshape(events, tokens, width)))
        return x + self.dropout(self.feedforward(self.norm_feedforward(x)))


class ObjectTransformer(nn.Module):
    input_names = INPUTS

    def __init__(self, n_features: int, embed_dim: int, heads: int, layers: int, feedforward: int,
                 head_hidden: list[int], dropout: float, type_embedding: int,
                 feature_mean, feature_std, object_mean, object_std, n_outputs: int):
        super().__init__()
        self.scale = models.Standardise(feature_mean, feature_std)
        self.object_inputs = models.ObjectInputs(object_mean, object_std, type_embedding)
        self.embed = nn.Linear(self.object_inputs.width, embed_dim)
        self.token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.layers = nn.ModuleList(EncoderLayer(embed_dim, heads, feedforward, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(embed_dim)
        self.head = models.mlp([embed_dim + n_features, *head_hidden, n_outputs], dropout, final_activation=False)

    def forward(self, features: torch.Tensor, objects: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        embedded = self.embed(self.object_inputs(objects))
        x = torch.cat([self.token.expand(embedded.shape[0], -1, -1), embedded], dim=1)
        valid = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
        keys = valid > 0
        for layer in self.layers:
            x = layer(x, keys)
        pooled = models.masked_pool(self.norm(x), valid, "mean")
        return models.logits(self.head(torch.cat([pooled, self.scale(features)], dim=-1)))


def spec(settings: dict, inputs: tuple) -> dict:
    """Constructor arguments: architecture from the settings, standardisation from the training inputs."""
    if settings["embed_dim"] % settings["heads"]:
        raise ConfigError(f"model {settings['name']}: embed_dim {settings['embed_dim']} is not a multiple of heads "
                          f"{settings['heads']} (ml.transformer or its ml.models entry)")
    return {**models.set_statistics(inputs), "dropout": settings["dropout"],
            **{key: settings[key] for key in ("embed_dim", "heads", "layers", "feedforward", "type_embedding")},
            "head_hidden": list(settings["head_hidden"])}


train, importance = network.kind(ObjectTransformer, spec)
