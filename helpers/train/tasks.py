"""Tasks: how a batch becomes a loss and per-sample outputs, the part of training that depends on the heads.

The training loop (``helpers.train.loop.fit``) knows nothing about images or labels: a task turns a batch
into a loss and outputs (``Task.step``) and the outputs of an epoch into metrics (``Task.epoch_metrics``).

- ``ClassificationTask``: one head (12 classes, emotion or authenticity) against ``batch[target]``;
- ``MultiTaskTask``: an emotion and an authenticity head, their losses combined by a ``LossWeighting``
  (``helpers.models.weighting``); the outputs hold the 12-class probabilities ``p(emotion) * p(authenticity)``
  (``combine_probabilities``), so predictions look like a 12-class model's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers import labels
from helpers.models import TWO_TASK_HEADS, VARIANTS
from helpers.models.weighting import LossWeighting

# CLASS_INDEX[e, a]: the 12-class index of emotion e with authenticity a (0 posed, 1 genuine)
CLASS_INDEX = np.array([[labels.class_index(e, bool(a)) for a in range(2)] for e in labels.EMOTIONS])


@dataclass
class StepResult:
    """What a task returns for one batch: the loss to minimise and per-sample outputs (first dim = batch)
    that are gathered over the epoch (and over processes) for ``Task.epoch_metrics`` and predictions."""

    loss: Tensor
    outputs: dict[str, Tensor]


def step_result(loss: Tensor, outputs: dict[str, Tensor], batch: Mapping[str, Any]) -> StepResult:
    """The result of a step, its outputs tagged with the batch's ``video`` and ``frame`` (for predictions)."""
    return StepResult(loss, {**outputs, **{key: batch[key] for key in ("video", "frame") if key in batch}})


class Task(Protocol):
    """The part of training that depends on the approach; ``fit`` does the rest."""

    def step(self, model: nn.Module, batch: Mapping[str, Any], training: bool) -> StepResult: ...

    def epoch_metrics(self, outputs: Mapping[str, np.ndarray]) -> dict[str, float]: ...

    def end_training_epoch(self, outputs: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Called by ``fit`` once per epoch with the training pass's outputs, before validation: what the task
        learns from them (e.g. loss weights), returned as more ``train_`` history columns."""
        return {}


class ClassificationTask:
    """Single-task classification of frames: ``model(images) -> logits`` against ``batch[target]``.

    ``preprocess`` (a ``datasets.BatchTransform``) runs on the device: scaling, augmentation when training,
    resizing and normalisation.
    """

    monitor = "val_loss"  # what the training loop judges epochs by, unless told otherwise

    def __init__(self, loss: nn.Module, target: str = "label", preprocess: nn.Module | None = None,
                 input_key: str = "image"):
        labels.num_classes(target)  # validates the name
        self.loss = loss
        self.target = target
        self.preprocess = preprocess
        self.input_key = input_key

    def step(self, model: nn.Module, batch: Mapping[str, Any], training: bool) -> StepResult:
        images = batch[self.input_key]
        if self.preprocess is not None:
            images = self.preprocess(images, training=training)
        logits = model(images)
        target = batch[self.target]
        loss = self.loss(logits, target)
        outputs = {"probs": F.softmax(logits.detach().float(), dim=1), "target": target}
        return step_result(loss, outputs, batch)

    def epoch_metrics(self, outputs: Mapping[str, np.ndarray]) -> dict[str, float]:
        if len(outputs.get("target", ())) == 0:
            return {}
        return {"accuracy": float((outputs["probs"].argmax(axis=1) == outputs["target"]).mean())}

    def end_training_epoch(self, outputs: Mapping[str, np.ndarray]) -> dict[str, float]:
        return {}  # nothing learned between epochs


def combine_probabilities(p_emotion: Tensor, p_authenticity: Tensor) -> Tensor:
    """12-class probabilities ``[B, 12]`` from ``p(emotion)`` ``[B, 6]`` and ``p(authenticity)`` ``[B, 2]``:
    ``p(class(e, a)) = p(e) * p(a)`` (in ``labels.CLASS_NAMES`` order)."""
    joint = p_emotion.unsqueeze(2) * p_authenticity.unsqueeze(1)  # [B, 6, 2]
    out = torch.empty(p_emotion.shape[0], len(labels.CLASS_NAMES), dtype=joint.dtype, device=joint.device)
    out[:, torch.as_tensor(CLASS_INDEX.reshape(-1), device=joint.device)] = joint.reshape(joint.shape[0], -1)
    return out


def pair_to_class(emotion: np.ndarray, authenticity: np.ndarray) -> np.ndarray:
    """12-class indices of predicted (emotion, authenticity) pairs."""
    return CLASS_INDEX[np.asarray(emotion, dtype=np.int64), np.asarray(authenticity, dtype=np.int64)]


class MultiTaskTask:
    """Two heads, two losses, one combined loss, for ``train.fit``.

    ``variant``: ``shared`` (``model(images)``), ``fusion`` (``model(images, context)``) or ``cascade``
    (``model(images, emotion=true emotion)`` when training, ``model(images)`` otherwise).

    Outputs per sample: ``probs`` (12 classes, the product of the heads), ``probs_emotion``,
    ``probs_authenticity``, ``target`` (12-class), ``target_emotion``, ``target_authenticity``, ``video``,
    ``frame``, and each head's batch loss (``loss_<head>``, repeated per sample so that the epoch mean is the
    per-sample mean). The cascade adds ``probs_authenticity_oracle`` (the head of the true emotion), the
    attention fusion ``stream_weights`` ``[B, 2]`` (face, context).
    """

    # judge epochs by the unweighted sum of the head losses: the weighted loss changes scale with its weights,
    # and a collapsing head can lower it (under precision weighting its weight falls as it collapses)
    monitor = "val_loss_sum"

    def __init__(self, head_losses: Mapping[str, nn.Module], weighting: LossWeighting,
                 preprocess: nn.Module | None = None, variant: str = "shared"):
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        if set(head_losses) != set(TWO_TASK_HEADS):
            raise ValueError(f"one loss per head is needed: {', '.join(TWO_TASK_HEADS)}")
        self.head_losses = dict(head_losses)
        self.weighting = weighting
        self.preprocess = preprocess
        self.variant = variant

    def _prepare(self, images: Tensor, training: bool) -> Tensor:
        return self.preprocess(images, training=training) if self.preprocess is not None else images

    def step(self, model: nn.Module, batch: Mapping[str, Any], training: bool) -> StepResult:
        images = self._prepare(batch["image"], training)
        if self.variant == "fusion":
            logits = model(images, self._prepare(batch["context"], training))
        elif self.variant == "cascade":
            logits = model(images, batch["emotion"]) if training else model(images)
        else:
            logits = model(images)
        per_head = {head: self.head_losses[head](logits[head], batch[head]) for head in TWO_TASK_HEADS}
        loss = self.weighting(per_head)
        probs = {head: F.softmax(logits[head].detach().float(), dim=1) for head in TWO_TASK_HEADS}
        size = probs["emotion"].shape[0]
        outputs = {"probs": combine_probabilities(probs["emotion"], probs["authenticity"]), "target": batch["label"],
                   **{f"probs_{h}": probs[h] for h in TWO_TASK_HEADS}, **{f"target_{h}": batch[h] for h in TWO_TASK_HEADS},
                   **{f"loss_{h}": per_head[h].detach().float().expand(size) for h in TWO_TASK_HEADS}}
        if "authenticity_per_emotion" in logits:
            per_emotion = logits["authenticity_per_emotion"].detach().float()
            oracle = per_emotion[torch.arange(size, device=per_emotion.device), batch["emotion"].long()]
            outputs["probs_authenticity_oracle"] = F.softmax(oracle, dim=1)
        if "stream_weights" in logits:
            outputs["stream_weights"] = logits["stream_weights"].detach().float()
        return step_result(loss, outputs, batch)

    def epoch_metrics(self, outputs: Mapping[str, np.ndarray]) -> dict[str, float]:
        if len(outputs.get("target", ())) == 0:
            return {}
        metrics = head_metrics(outputs)
        if "stream_weights" in outputs:  # history column <part>_face_attention: is the model drifting to one stream?
            metrics["face_attention"] = float(np.mean(outputs["stream_weights"][:, 0]))
        metrics.update({f"loss_{h}": float(np.mean(outputs[f"loss_{h}"])) for h in TWO_TASK_HEADS})
        # unweighted: comparable across weightings (monitor "val_loss_sum" rather than the weighted val_loss)
        metrics["loss_sum"] = float(sum(metrics[f"loss_{h}"] for h in TWO_TASK_HEADS))
        return metrics

    def end_training_epoch(self, outputs: Mapping[str, np.ndarray]) -> dict[str, float]:
        """The weighting learns from the training pass (precision: the heads' losses); history columns
        ``train_weight_<head>``: the weights the next epoch uses."""
        if len(outputs.get("target", ())) == 0:
            return {}
        self.weighting.end_epoch(outputs)
        return {f"weight_{h}": w for h, w in self.weighting.weights().items()}


def head_metrics(outputs: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Emotion, real/fake, combined (both right) and 12-class accuracy of per-sample outputs."""
    emotion = outputs["probs_emotion"].argmax(axis=1) == outputs["target_emotion"]
    authenticity = outputs["probs_authenticity"].argmax(axis=1) == outputs["target_authenticity"]
    metrics = {"accuracy": float((outputs["probs"].argmax(axis=1) == outputs["target"]).mean()),
               "emotion_accuracy": float(emotion.mean()), "authenticity_accuracy": float(authenticity.mean()),
               "combined_accuracy": float((emotion & authenticity).mean())}
    if "probs_authenticity_oracle" in outputs:
        oracle = outputs["probs_authenticity_oracle"].argmax(axis=1) == outputs["target_authenticity"]
        metrics["authenticity_oracle_accuracy"] = float(oracle.mean())
    return metrics


