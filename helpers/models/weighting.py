"""How the losses of several heads are combined into the one loss to minimise (multi-task heads of 04 and 05).

``LossWeighting`` modules: ``forward({head: loss}) -> total``:

- ``sum``: ``L_e + L_a``;
- ``fixed``: ``w_e L_e + w_a L_a``;
- ``precision`` (the thesis): ``precision_e L_e + precision_a L_a``, each precision (macro) measured on the
  training predictions of the previous epoch; the first epoch uses equal weights (1, 1);
- ``uncertainty`` (Kendall, Gal & Cipolla 2018): ``sum_i exp(-s_i) L_i + s_i`` with learnable log-variances
  ``s_i`` (initialised at 0).

The weighting module is registered inside the model (``attach_weighting``: ``model.loss_weighting``), so its
parameters (the ``s_i``) are seen by the optimiser that the training loop builds from
``model.parameters()``, and its state (the precision weights) is saved in every checkpoint, so a resumed run
continues with the same weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.metrics import precision_score
from torch import Tensor, nn

from helpers.models.heads import TWO_TASK_HEADS

HEADS = tuple(TWO_TASK_HEADS)


class LossWeighting(nn.Module):
    """Combines the per-head losses into the loss to minimise: ``forward({head: loss}) -> total``."""

    def __init__(self, heads: Sequence[str] = HEADS):
        super().__init__()
        self.heads = tuple(heads)

    def weights(self) -> dict[str, float]:
        """The current weight of each head's loss (for the history)."""
        return {head: 1.0 for head in self.heads}

    def end_epoch(self, outputs: Mapping[str, np.ndarray]) -> None:
        """Called with the training outputs of each finished epoch (precision weighting learns from them)."""

    def forward(self, head_losses: Mapping[str, Tensor]) -> Tensor:
        weights = self.weights()
        return sum(weights[head] * head_losses[head] for head in self.heads)


class SumWeighting(LossWeighting):
    """``total = sum_i L_i``."""


class FixedWeighting(LossWeighting):
    """``total = sum_i w_i L_i`` with fixed weights (``{"emotion": 1.0, "authenticity": 2.0}``)."""

    def __init__(self, weights: Mapping[str, float] | None = None, heads: Sequence[str] = HEADS):
        super().__init__(heads)
        weights = dict(weights or {})
        unknown = set(weights) - set(self.heads)
        if unknown:
            raise ValueError(f"weights for unknown heads {sorted(unknown)}; heads are {self.heads}")
        self.fixed = {head: float(weights.get(head, 1.0)) for head in self.heads}

    def weights(self) -> dict[str, float]:
        return dict(self.fixed)

    def extra_repr(self) -> str:
        return f"weights={self.fixed}"


class PrecisionWeighting(LossWeighting):
    """The thesis' weighting: ``total = precision_e L_e + precision_a L_a``, each the macro precision of that
    head on the training predictions of the previous epoch; the first epoch uses ``initial`` for all heads.

    The weights are a buffer (saved in checkpoints with the model); ``end_epoch`` updates them.
    """

    def __init__(self, heads: Sequence[str] = HEADS, initial: float = 1.0, floor: float = 0.0):
        super().__init__(heads)
        self.floor = float(floor)  # a head with precision 0 would otherwise stop learning
        self.register_buffer("precision", torch.full((len(self.heads),), float(initial)))

    def weights(self) -> dict[str, float]:
        return {head: float(w) for head, w in zip(self.heads, self.precision.tolist())}

    def end_epoch(self, outputs: Mapping[str, np.ndarray]) -> None:
        values = []
        for head in self.heads:
            truth, probs = outputs.get(f"target_{head}"), outputs.get(f"probs_{head}")
            if truth is None or len(truth) == 0:
                return
            values.append(max(self.floor, float(precision_score(
                truth, probs.argmax(axis=1), labels=list(range(probs.shape[1])), average="macro",
                zero_division=0))))
        self.precision.copy_(torch.tensor(values, dtype=self.precision.dtype))

    def forward(self, head_losses: Mapping[str, Tensor]) -> Tensor:
        return sum(self.precision[i].to(head_losses[h].dtype) * head_losses[h] for i, h in enumerate(self.heads))


class UncertaintyWeighting(LossWeighting):
    """Kendall et al. 2018: ``total = sum_i exp(-s_i) L_i + s_i`` with learnable ``s_i = log sigma_i^2``.

    The ``s_i`` are parameters of this module; put it in the model (``attach_weighting``) so that the
    optimiser trains them. The reported weight of a head is ``exp(-s_i)``.
    """

    def __init__(self, heads: Sequence[str] = HEADS, initial_log_variance: float = 0.0):
        super().__init__(heads)
        self.log_variance = nn.Parameter(torch.full((len(self.heads),), float(initial_log_variance)))

    def weights(self) -> dict[str, float]:
        return {head: float(w) for head, w in zip(self.heads, torch.exp(-self.log_variance.detach()).tolist())}

    def forward(self, head_losses: Mapping[str, Tensor]) -> Tensor:
        s = self.log_variance
        return sum(torch.exp(-s[i]) * head_losses[h].float() + s[i] for i, h in enumerate(self.heads))


WEIGHTINGS: dict[str, type[LossWeighting]] = {
    "sum": SumWeighting, "fixed": FixedWeighting, "precision": PrecisionWeighting, "uncertainty": UncertaintyWeighting,
}
WEIGHTING_NAMES = {"sum": "sum", "fixed": "fixed weights", "precision": "precision-weighted",
                   "uncertainty": "uncertainty (learned)"}


def build_weighting(name: str, heads: Sequence[str] = HEADS, **params: Any) -> LossWeighting:
    """A loss combination by name: ``sum``, ``fixed`` (``weights={...}``), ``precision``, ``uncertainty``."""
    try:
        return WEIGHTINGS[name.lower()](heads=heads, **params)
    except KeyError:
        raise ValueError(f"unknown loss weighting {name!r}; choose one of {', '.join(WEIGHTINGS)}") from None


def attach_weighting(model: nn.Module, weighting: LossWeighting) -> nn.Module:
    """Register ``weighting`` in ``model`` (as ``model.loss_weighting``): the optimiser then sees its parameters
    and checkpoints hold its state. Returns ``model``."""
    model.loss_weighting = weighting
    return model
