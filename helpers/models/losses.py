"""Classification losses compared in notebook 03, all with the same signature: ``loss(logits, target)``.

``logits`` is ``[batch, classes]`` (raw scores, before softmax/sigmoid) and ``target`` the integer class
of each sample (``[batch]``). Every loss returns the mean over the batch.

- ``cross_entropy``: softmax cross-entropy (optionally with label smoothing).
- ``focal``: softmax focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection"):
  ``-alpha_t (1 - p_t)^gamma log p_t`` with ``p_t`` the softmax probability of the true class. It
  down-weights easy, well-classified samples. ``alpha`` is one weight for all classes or one per class.
- ``multilabel_focal``: the thesis' "MFL": the *sigmoid* (binary) focal loss applied to every class
  against the one-hot target, as in the original paper (``alpha`` for the positive, ``1 - alpha`` for the
  negatives), summed over classes.
- ``euclidean``: mean squared error between the softmax probabilities and the one-hot target (what Keras
  calls ``mean_squared_error`` on a softmax output: mean over classes, then over the batch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _class_weights(alpha: float | Sequence[float] | None, logits: Tensor) -> Tensor | None:
    if alpha is None:
        return None
    if isinstance(alpha, (int, float)):
        return torch.full((logits.shape[1],), float(alpha), dtype=logits.dtype, device=logits.device)
    weights = torch.as_tensor(alpha, dtype=logits.dtype, device=logits.device)
    if weights.shape != (logits.shape[1],):
        raise ValueError(f"alpha has {weights.numel()} weights for {logits.shape[1]} classes")
    return weights


class FocalLoss(nn.Module):
    """Softmax focal loss. ``gamma=0`` and ``alpha=None`` give plain cross-entropy."""

    def __init__(self, alpha: float | Sequence[float] | None = 0.25, gamma: float = 2.0):
        super().__init__()
        self.alpha = alpha
        self.gamma = float(gamma)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        # computed in float32: under fp16 autocast (1 - p)^gamma of a confident prediction underflows
        log_p = F.log_softmax(logits.float(), dim=1).gather(1, target.long().unsqueeze(1)).squeeze(1)
        p = log_p.exp()
        loss = -((1.0 - p).clamp(min=0.0) ** self.gamma) * log_p
        weights = _class_weights(self.alpha, logits.float())
        if weights is not None:
            loss = loss * weights[target.long()]
        return loss.mean()

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, gamma={self.gamma}"


class MultiLabelFocalLoss(nn.Module):
    """Sigmoid focal loss over the one-hot target, summed over classes, averaged over the batch."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0):
        super().__init__()
        self.alpha = float(alpha)
        self.gamma = float(gamma)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        logits = logits.float()
        one_hot = F.one_hot(target.long(), logits.shape[1]).to(logits.dtype)
        # BCE-with-logits is the numerically stable -log(p_t)
        bce = F.binary_cross_entropy_with_logits(logits, one_hot, reduction="none")
        p = torch.sigmoid(logits)
        p_t = p * one_hot + (1 - p) * (1 - one_hot)
        alpha_t = self.alpha * one_hot + (1 - self.alpha) * (1 - one_hot)
        return (alpha_t * (1 - p_t) ** self.gamma * bce).sum(dim=1).mean()

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, gamma={self.gamma}"


class EuclideanLoss(nn.Module):
    """Mean squared error between softmax probabilities and the one-hot target."""

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        probabilities = F.softmax(logits.float(), dim=1)
        one_hot = F.one_hot(target.long(), logits.shape[1]).to(probabilities.dtype)
        return F.mse_loss(probabilities, one_hot)


class CrossEntropyLoss(nn.CrossEntropyLoss):
    """``nn.CrossEntropyLoss`` computed in float32 (stable under mixed precision)."""

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return super().forward(logits.float(), target.long())


LOSSES: dict[str, Callable[..., nn.Module]] = {
    "cross_entropy": CrossEntropyLoss,
    "focal": FocalLoss,
    "multilabel_focal": MultiLabelFocalLoss,
    "euclidean": EuclideanLoss,
}
ALIASES = {"ce": "cross_entropy", "fl": "focal", "mfl": "multilabel_focal", "mse": "euclidean"}
DISPLAY_NAMES = {"cross_entropy": "CE", "focal": "FL", "multilabel_focal": "MFL", "euclidean": "Euclidean"}


def canonical_name(name: str) -> str:
    """The registry key of a loss name or alias (``"MFL"`` -> ``"multilabel_focal"``)."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)} (or {', '.join(ALIASES)})")
    return key


def display_name(name: str) -> str:
    """The short name the thesis' tables use: ``focal`` -> ``FL``."""
    return DISPLAY_NAMES[canonical_name(name)]


def build_loss(name: str, **params: Any) -> nn.Module:
    """A loss by name, e.g. ``build_loss("focal", alpha=0.25, gamma=2)``."""
    return LOSSES[canonical_name(name)](**params)
