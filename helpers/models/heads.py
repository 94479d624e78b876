"""Heads on encoders, and the classifier every approach builds: one code path for frame and clip models.

An **encoder** maps its input to features: ``Backbone`` (images ``[B, 3, H, W]`` -> ``[B, D]``, see
``backbones``), ``FrameEncoder`` (a backbone on every frame of a clip: ``[B, T, 3, H, W]`` -> ``[B, T, D]``)
and ``VideoEncoder`` (a 3D CNN: clips -> ``[B, D]``, see ``clips``). **Heads** are linear layers on the
features: one head (``heads`` an int) gives logits, several (a mapping such as ``{"emotion": 6,
"authenticity": 2}``) give ``{name: logits}`` from the same features, so the encoder runs **once** per
forward pass. ``Classifier`` is encoder + heads, for the single-task (03), multi-task (04) and 3D-CNN clip
models (05) alike; the recurrent, fusion and cascade models reuse ``Heads`` and ``FreezableBackbone``.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from helpers import labels

#: The heads of the multi-task models (04) and of the two-head clip models (05): emotion and authenticity.
TWO_TASK_HEADS = {"emotion": len(labels.EMOTIONS), "authenticity": len(labels.AUTHENTICITY)}


class Encoder(nn.Module):
    """Maps an input to features of size ``feature_dim``; ``pretrained`` says whether its weights were loaded."""

    def __init__(self, name: str, network: nn.Module, feature_dim: int, pretrained: bool):
        super().__init__()
        self.name = name
        self.network = network
        self.feature_dim = feature_dim
        self.pretrained = pretrained

    def forward(self, x: Tensor) -> Tensor:
        return self.network(x)


def linear_head(in_features: int, out_features: int, dropout: float = 0.0) -> nn.Sequential:
    """``Dropout -> Linear``: one head."""
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, out_features))


def hidden_layer(in_features: int, hidden: int, dropout: float = 0.0) -> nn.Sequential:
    """``LayerNorm -> Linear -> GELU -> Dropout``: the hidden layer of the fusion and cascade MLPs.

    The norm centres the pooled backbone features (non-negative after the backbone's last ReLU) and puts
    inputs of different scales (two streams, features and an embedding) on one scale; GELU keeps a gradient
    below zero, where ``Linear -> ReLU`` on those features let most hidden units die (book/decisions.md).
    """
    return nn.Sequential(nn.LayerNorm(in_features), nn.Linear(in_features, hidden), nn.GELU(), nn.Dropout(dropout))


class Heads(nn.Module):
    """Linear heads on shared features: ``heads`` an int -> logits ``[B, heads]``; a mapping ``{name: classes}``
    -> ``{name: logits}``."""

    def __init__(self, feature_dim: int, heads: int | Mapping[str, int], dropout: float = 0.0):
        super().__init__()
        self.single = isinstance(heads, int)
        spec = {"logits": heads} if self.single else dict(heads)
        self.heads = nn.ModuleDict({name: linear_head(feature_dim, n, dropout) for name, n in spec.items()})

    def forward(self, features: Tensor) -> Tensor | dict[str, Tensor]:
        out = {name: head(features) for name, head in self.heads.items()}
        return out["logits"] if self.single else out


class FreezableBackbone:
    """Mixin for models with a ``backbone``: freezing keeps it in eval mode, so that its batch-norm statistics
    stay those it was trained with."""

    backbone: nn.Module
    backbone_frozen: bool = False

    @property
    def pretrained(self) -> bool:
        backbone = self.backbone
        if isinstance(backbone, nn.ModuleDict):  # two streams (fusion): built alike
            backbone = next(iter(backbone.values()))
        return bool(backbone.pretrained)

    def freeze_backbone(self, frozen: bool = True) -> None:
        """Frozen: only the head(s) train (feature extraction). Not frozen: full fine-tuning."""
        self.backbone_frozen = frozen
        self.backbone.requires_grad_(not frozen)
        if frozen:
            self.backbone.eval()

    def train(self, mode: bool = True):  # type: ignore[override]
        super().train(mode)  # type: ignore[misc]
        if self.backbone_frozen:
            self.backbone.eval()
        return self


class Classifier(FreezableBackbone, nn.Module):
    """An encoder and its head(s): ``forward(x) -> logits`` (one head) or ``{head: logits}`` (several)."""

    def __init__(self, backbone: Encoder, heads: int | Mapping[str, int], dropout: float = 0.0):
        super().__init__()
        self.backbone = backbone
        self.head = Heads(backbone.feature_dim, heads, dropout)

    @property
    def feature_dim(self) -> int:
        return self.backbone.feature_dim

    def features(self, x: Tensor) -> Tensor:
        return self.backbone(x)

    def forward(self, x: Tensor) -> Tensor | dict[str, Tensor]:
        return self.head(self.backbone(x))


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
