"""Multi-task learning of emotion and authenticity (notebook 04).

Three model variants, all trained by ``helpers.train.fit`` through one task class (``MultiTaskTask``):

- ``shared``: one backbone and two linear heads (``models.MultiHeadClassifier``: emotion 6, authenticity 2);
  the backbone runs **once** per forward pass and both heads read the same features.
- ``fusion``: in the spirit of Bendjoudi et al. 2021 (multi-label, multi-task CNN for context-based emotion
  recognition): two feature streams, the face crop and the wider *context* crop of the same frame (02's
  ``kind="context"`` packed files), fused by concatenation + MLP or by attention weights over the streams,
  then the two heads; trained with the multi-label focal loss by default (``FusionModel``,
  ``FaceContextDataset``).
- ``cascade``: stage 1 predicts the emotion; stage 2 judges genuine vs posed with one authenticity head per
  emotion, chosen by the **true** emotion while training (teacher forcing) and by the **predicted** emotion
  at test time, so emotion errors propagate to the real/fake decision (``CascadeModel``). With
  ``conditioning="embedding"`` one real/fake MLP reads the features plus a learned embedding of that emotion
  instead (run names ``cascade_embedding-...``).

The attention fusion records how much each test frame relied on the face and on the context stream
(``attention.csv`` next to the predictions; ``load_attention_weights``, ``fusion_attention_weights``).

Each head has its own loss (any of ``helpers.losses``: CE, FL, MFL, Euclidean); ``LossWeighting`` modules
combine them:

- ``sum``: ``L_e + L_a``;
- ``fixed``: ``w_e L_e + w_a L_a``;
- ``precision`` (the thesis): ``precision_e L_e + precision_a L_a``, each precision (macro) measured on the
  training predictions of the previous epoch; the first epoch uses equal weights (1, 1);
- ``uncertainty`` (Kendall, Gal & Cipolla 2018): ``sum_i exp(-s_i) L_i + s_i`` with learnable log-variances
  ``s_i`` (initialised at 0).

The weighting module is registered inside the model (``model.loss_weighting``), so its parameters (the
``s_i``) are seen by the optimiser that ``fit`` builds from ``model.parameters()``, and its state (the
precision weights) is saved in every checkpoint, so a resumed run continues with the same weights.

Predictions combine the heads into the 12 SASE-FE classes, ``p(emotion, authenticity) = p(emotion) *
p(authenticity)`` (cascade: ``p(emotion) * p(authenticity | predicted emotion)``), so the predictions
tables look like 03's: ``helpers.evaluate`` computes the 12-class view and, by marginalising, exactly the
two heads' emotion and real/fake predictions. The argmax of the product is the pair of the two heads'
argmaxes, so 12-class accuracy is the *combined* accuracy (both heads right).

Command line (like ``python -m helpers.train``): ``python -m helpers.multitask experiments/<file>.json
[--force]`` runs every fold of one multi-task configuration (``MultiTaskConfig`` keys, see ``load_config``).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import precision_score
from torch import Tensor, nn

from helpers import datasets, evaluate, labels, losses, models, profiles, results, train

if TYPE_CHECKING:
    from accelerate import Accelerator

    from helpers.data import Dataset

HEADS: dict[str, int] = {"emotion": len(labels.EMOTIONS), "authenticity": len(labels.AUTHENTICITY)}
VARIANTS = ("shared", "fusion", "cascade")
CONTEXT_PATH_COLUMN = "context_path"
# CLASS_INDEX[e, a]: the 12-class index of emotion e with authenticity a (0 posed, 1 genuine)
CLASS_INDEX = np.array([[labels.class_index(e, bool(a)) for a in range(2)] for e in labels.EMOTIONS])


# --------------------------------------------------------------------------------------------------
# Combining the heads into the 12 classes
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Combined losses
# --------------------------------------------------------------------------------------------------


class LossWeighting(nn.Module):
    """Combines the per-head losses into the loss to minimise: ``forward({head: loss}) -> total``."""

    def __init__(self, heads: Sequence[str] = tuple(HEADS)):
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

    def __init__(self, weights: Mapping[str, float] | None = None, heads: Sequence[str] = tuple(HEADS)):
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

    def __init__(self, heads: Sequence[str] = tuple(HEADS), initial: float = 1.0, floor: float = 0.0):
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

    def __init__(self, heads: Sequence[str] = tuple(HEADS), initial_log_variance: float = 0.0):
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


def build_weighting(name: str, heads: Sequence[str] = tuple(HEADS), **params: Any) -> LossWeighting:
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


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------


def build_shared_model(name: str, weights: str | bool | None = "default", image_size: int | None = None,
                       dropout: float = 0.0, freeze_backbone: bool = False) -> models.MultiHeadClassifier:
    """One backbone, an emotion head (6) and an authenticity head (2); the backbone runs once per pass."""
    model = models.MultiHeadClassifier(models.build_backbone(name, weights, image_size), HEADS, dropout)
    model.freeze_backbone(freeze_backbone)
    return model


def hidden_layer(in_features: int, hidden: int, dropout: float = 0.0) -> nn.Sequential:
    """``LayerNorm -> Linear -> GELU -> Dropout``: the hidden layer of the fusion and cascade MLPs.

    The norm centres the pooled backbone features (non-negative after the backbone's last ReLU) and puts
    inputs of different scales (two streams, features and an embedding) on one scale; GELU keeps a gradient
    below zero. With ``Linear -> ReLU`` on those features a from-scratch demo run of the embedding cascade
    kept 2 of 256 hidden units alive, and its real/fake head answered the same for every image.
    """
    return nn.Sequential(nn.LayerNorm(in_features), nn.Linear(in_features, hidden), nn.GELU(), nn.Dropout(dropout))


class FusionModel(models._FrozenBackboneMixin, nn.Module):
    """Face and context streams, fused, then an emotion and an authenticity head.

    ``forward(face, context) -> {head: logits}``. ``backbone`` is a ``ModuleDict`` (``face``, ``context``), so
    ``TrainConfig.backbone_lr`` and ``freeze_backbone`` apply to both streams.

    ``fusion="concat"``: ``MLP([f_face, f_context])``; ``fusion="attention"``: each stream is projected to
    ``hidden`` features, a small scorer gives each stream a weight (softmax over the two streams, per sample)
    and the weighted sum goes through the MLP. With attention the output also holds ``stream_weights``
    ``[B, 2]`` (face, context; rows sum to 1), and ``model.stream_weights`` keeps the last batch's. The
    output key, not the attribute, is what ``MultiTaskTask`` records: it survives DDP wrapping and is gathered
    across processes like the other outputs.
    """

    def __init__(self, face: models.Backbone, context: models.Backbone, heads: Mapping[str, int] = HEADS,
                 fusion: str = "concat", hidden: int = 256, dropout: float = 0.0):
        super().__init__()
        if fusion not in ("concat", "attention"):
            raise ValueError(f"unknown fusion {fusion!r}: concat or attention")
        self.backbone = nn.ModuleDict({"face": face, "context": context})
        self.fusion = fusion
        if fusion == "concat":
            self.project = nn.ModuleDict()
            fused = face.feature_dim + context.feature_dim
        else:
            self.project = nn.ModuleDict({"face": nn.Linear(face.feature_dim, hidden),
                                          "context": nn.Linear(context.feature_dim, hidden)})
            self.score = nn.Sequential(nn.Tanh(), nn.Linear(hidden, 1))
            fused = hidden
        self.mlp = hidden_layer(fused, hidden, dropout)
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, n) for name, n in heads.items()})
        self.stream_weights: Tensor | None = None

    @property
    def pretrained(self) -> bool:
        return bool(self.backbone["face"].pretrained)

    def forward(self, face: Tensor, context: Tensor) -> dict[str, Tensor]:
        f_face, f_context = self.backbone["face"](face), self.backbone["context"](context)
        if self.fusion == "concat":
            fused = torch.cat([f_face, f_context], dim=1)
        else:
            streams = torch.stack([self.project["face"](f_face), self.project["context"](f_context)], dim=1)
            attention = torch.softmax(self.score(streams).squeeze(-1), dim=1)  # [B, 2]
            self.stream_weights = attention.detach()
            fused = (attention.unsqueeze(-1) * streams).sum(dim=1)
        shared = self.mlp(fused)
        out = {name: head(shared) for name, head in self.heads.items()}
        if self.fusion == "attention":
            out["stream_weights"] = attention
        return out


def build_fusion_model(name: str, weights: str | bool | None = "default", image_size: int | None = None,
                       fusion: str = "concat", hidden: int = 256, dropout: float = 0.0,
                       freeze_backbone: bool = False) -> FusionModel:
    """Two backbones of the same architecture (face, context), each with its own weights."""
    model = FusionModel(models.build_backbone(name, weights, image_size), models.build_backbone(name, weights, image_size),
                        HEADS, fusion, hidden, dropout)
    model.freeze_backbone(freeze_backbone)
    return model


CONDITIONINGS = ("heads", "embedding")


class CascadeModel(models._FrozenBackboneMixin, nn.Module):
    """Emotion first, then genuine vs posed *given* the emotion, on one shared backbone (run once).

    ``forward(images, emotion=None)`` returns ``emotion`` logits ``[B, 6]``, ``authenticity_per_emotion``
    ``[B, 6, 2]`` (the real/fake logits under each of the 6 emotions) and ``authenticity`` ``[B, 2]``: the
    logits under ``emotion`` when given (teacher forcing, in training), else under the *predicted* emotion
    (end to end, at test time).

    How stage 2 is conditioned on the emotion (``conditioning``):

    - ``heads``: one linear real/fake head per emotion; the emotion picks the head.
    - ``embedding``: one real/fake MLP (``hidden`` units) reads the shared features concatenated with a
      learned ``embedding_dim``-dimensional embedding of the emotion. The emotions share the real/fake
      weights (fewer parameters, each emotion's few videos help the others) and the embedding can change
      which features matter, which a linear layer on ``[features, embedding]`` could not: its embedding term
      would only shift the logits by a per-emotion bias.

    Training conditions stage 2 on the **true** emotion (teacher forcing) in both modes, not on the soft
    predicted distribution: the real/fake head then learns "genuine vs posed for *this* emotion" from the
    start instead of from early, mostly wrong stage-1 guesses; no real/fake gradient leaks into the
    emotion head through the distribution; and the two modes differ only in *how* they condition, so their
    comparison is fair. The price is exposure bias: at test time the (argmax) predicted emotion can be wrong,
    which is exactly what the end-to-end vs oracle comparison of notebook 04 measures.
    """

    def __init__(self, backbone: models.Backbone, dropout: float = 0.0, conditioning: str = "heads",
                 embedding_dim: int = 16, hidden: int = 128):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"unknown conditioning {conditioning!r}; choose one of {', '.join(CONDITIONINGS)}")
        self.backbone = backbone
        self.conditioning = conditioning
        self.n_emotions, self.n_authenticity = HEADS["emotion"], HEADS["authenticity"]
        if conditioning == "heads":
            authenticity = models._head(backbone.feature_dim, self.n_emotions * self.n_authenticity, dropout)
        else:
            self.emotion_embedding = nn.Embedding(self.n_emotions, embedding_dim)
            authenticity = nn.Sequential(nn.Dropout(dropout), hidden_layer(backbone.feature_dim + embedding_dim, hidden,
                                                                        dropout), nn.Linear(hidden, self.n_authenticity))
        self.heads = nn.ModuleDict({"emotion": models._head(backbone.feature_dim, self.n_emotions, dropout),
                                    "authenticity": authenticity})

    @property
    def pretrained(self) -> bool:
        return bool(self.backbone.pretrained)

    def authenticity_per_emotion(self, features: Tensor) -> Tensor:
        """Real/fake logits ``[B, 6, 2]`` of ``features`` ``[B, F]`` under each emotion (only the heads run
        6 times, not the backbone: the oracle metric needs the true emotion's logits, the prediction the
        predicted one's)."""
        if self.conditioning == "heads":
            return self.heads["authenticity"](features).view(-1, self.n_emotions, self.n_authenticity)
        batch = features.shape[0]
        embeddings = self.emotion_embedding.weight.unsqueeze(0).expand(batch, -1, -1)  # [B, 6, E]
        paired = torch.cat([features.unsqueeze(1).expand(-1, self.n_emotions, -1), embeddings], dim=2)
        return self.heads["authenticity"](paired)

    def forward(self, images: Tensor, emotion: Tensor | None = None) -> dict[str, Tensor]:
        features = self.backbone(images)
        emotion_logits = self.heads["emotion"](features)
        per_emotion = self.authenticity_per_emotion(features)
        chosen = emotion_logits.argmax(dim=1) if emotion is None else emotion.long()
        selected = per_emotion[torch.arange(per_emotion.shape[0], device=per_emotion.device), chosen]
        return {"emotion": emotion_logits, "authenticity": selected, "authenticity_per_emotion": per_emotion}


def build_cascade_model(name: str, weights: str | bool | None = "default", image_size: int | None = None,
                        dropout: float = 0.0, freeze_backbone: bool = False, conditioning: str = "heads",
                        embedding_dim: int = 16, hidden: int = 128) -> CascadeModel:
    """``CascadeModel`` on a registered backbone; ``conditioning``: ``heads`` (one real/fake head per emotion)
    or ``embedding`` (one real/fake MLP reading the features and a learned emotion embedding)."""
    model = CascadeModel(models.build_backbone(name, weights, image_size), dropout, conditioning, embedding_dim,
                         hidden)
    model.freeze_backbone(freeze_backbone)
    return model


def backbone_pretrained(model: nn.Module) -> bool:
    backbone = model.backbone
    if isinstance(backbone, nn.ModuleDict):
        return bool(backbone["face"].pretrained)
    return bool(backbone.pretrained)


# --------------------------------------------------------------------------------------------------
# Data: face and context crops of the same frames
# --------------------------------------------------------------------------------------------------


class FaceContextDataset(datasets.FrameDataset):
    """``FrameDataset`` items plus ``context``: the context crop (uint8 ``[3, H, W]``) of the same frame.

    ``videos`` needs a ``context_path`` column (``attach_context_paths``) besides ``crop_path``; the face and
    context arrays of a video have the same frames (02 cuts both from the same decoded frame).
    """

    def __init__(self, videos: pd.DataFrame, frames_per_video: int | None = None, size: int | None = None):
        if CONTEXT_PATH_COLUMN not in videos.columns:
            raise ValueError(f"the videos table lacks {CONTEXT_PATH_COLUMN} (see attach_context_paths)")
        super().__init__(videos, frames_per_video, size)
        self.context_paths = [str(p) for p in self.videos[CONTEXT_PATH_COLUMN]]
        self._context_arrays: dict[int, np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_context_arrays"] = {}
        return state

    def context(self, video_id: int, frame: int) -> Tensor:
        array = self._context_arrays.get(video_id)
        if array is None:
            array = self._context_arrays[video_id] = np.load(self.context_paths[video_id], mmap_mode="r")
        image = torch.from_numpy(np.ascontiguousarray(array[frame].transpose(2, 0, 1)))
        if self.size is not None and image.shape[-2:] != (self.size, self.size):
            image = datasets.resize_uint8(image, self.size)
        return image

    def __getitem__(self, index: int) -> dict[str, Tensor | int]:
        item = super().__getitem__(index)
        item["context"] = self.context(int(item["video"]), int(item["frame"]))
        return item


def attach_context_paths(videos: pd.DataFrame, crops_dir: str | Path) -> pd.DataFrame:
    """``videos`` (with ``crop_path``) plus ``context_path``; videos without a context crop are dropped."""
    with_context = datasets.attach_crop_paths(videos.drop(columns=[datasets.CROP_PATH_COLUMN], errors="ignore"),
                                              crops_dir, "context", drop_missing=False)
    table = videos.reset_index(drop=True).copy()
    table[CONTEXT_PATH_COLUMN] = with_context[datasets.CROP_PATH_COLUMN].to_numpy()
    return table[table[CONTEXT_PATH_COLUMN] != ""].reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# The task: how a batch becomes a combined loss and outputs
# --------------------------------------------------------------------------------------------------


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

    def __init__(self, head_losses: Mapping[str, nn.Module], weighting: LossWeighting,
                 preprocess: nn.Module | None = None, variant: str = "shared"):
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        if set(head_losses) != set(HEADS):
            raise ValueError(f"one loss per head is needed: {', '.join(HEADS)}")
        self.head_losses = dict(head_losses)
        self.weighting = weighting
        self.preprocess = preprocess
        self.variant = variant
        self._last_step_training = False

    def _prepare(self, images: Tensor, training: bool) -> Tensor:
        return self.preprocess(images, training=training) if self.preprocess is not None else images

    def step(self, model: nn.Module, batch: Mapping[str, Any], training: bool) -> train.StepResult:
        self._last_step_training = training
        images = self._prepare(batch["image"], training)
        if self.variant == "fusion":
            logits = model(images, self._prepare(batch["context"], training))
        elif self.variant == "cascade":
            logits = model(images, batch["emotion"]) if training else model(images)
        else:
            logits = model(images)
        per_head = {head: self.head_losses[head](logits[head], batch[head]) for head in HEADS}
        loss = self.weighting(per_head)
        probs = {head: F.softmax(logits[head].detach().float(), dim=1) for head in HEADS}
        size = probs["emotion"].shape[0]
        outputs = {"probs": combine_probabilities(probs["emotion"], probs["authenticity"]), "target": batch["label"],
                   **{f"probs_{h}": probs[h] for h in HEADS}, **{f"target_{h}": batch[h] for h in HEADS},
                   **{f"loss_{h}": per_head[h].detach().float().expand(size) for h in HEADS}}
        if "authenticity_per_emotion" in logits:
            per_emotion = logits["authenticity_per_emotion"].detach().float()
            oracle = per_emotion[torch.arange(size, device=per_emotion.device), batch["emotion"].long()]
            outputs["probs_authenticity_oracle"] = F.softmax(oracle, dim=1)
        if "stream_weights" in logits:
            outputs["stream_weights"] = logits["stream_weights"].detach().float()
        for key in ("video", "frame"):
            if key in batch:
                outputs[key] = batch[key]
        return train.StepResult(loss, outputs)

    def epoch_metrics(self, outputs: Mapping[str, np.ndarray]) -> dict[str, float]:
        if len(outputs.get("target", ())) == 0:
            return {}
        metrics = head_metrics(outputs)
        if "stream_weights" in outputs:  # history column <part>_face_attention: is the model drifting to one stream?
            metrics["face_attention"] = float(np.mean(outputs["stream_weights"][:, 0]))
        metrics.update({f"loss_{h}": float(np.mean(outputs[f"loss_{h}"])) for h in HEADS})
        # unweighted: comparable across weightings (monitor "val_loss_sum" rather than the weighted val_loss)
        metrics["loss_sum"] = float(sum(metrics[f"loss_{h}"] for h in HEADS))
        if self._last_step_training:  # the training pass of an epoch just ended (fit validates after it)
            self.weighting.end_epoch(outputs)
            # history column train_weight_<head>: the weights the next epoch uses (precision: measured on this one)
            metrics.update({f"weight_{h}": w for h, w in self.weighting.weights().items()})
        return metrics


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


# --------------------------------------------------------------------------------------------------
# Metrics of a fold, from its predictions table (the same format as 03's)
# --------------------------------------------------------------------------------------------------


def multitask_metrics(predictions: pd.DataFrame) -> dict[str, float]:
    """Emotion / real-fake / combined accuracy at frame and video level from a 12-class predictions table
    (the heads' probabilities are the table's marginals). At video level each head's probabilities are
    averaged over the frames first."""
    out: dict[str, float] = {}
    for level, table in (("frame", predictions), ("video", evaluate.video_level(predictions))):
        _, p_emotion = evaluate.view_probs(table, "label", "emotion")
        _, p_authenticity = evaluate.view_probs(table, "label", "authenticity")
        emotion = p_emotion.argmax(axis=1) == table["emotion_label"].to_numpy()
        authenticity = p_authenticity.argmax(axis=1) == table["authenticity_label"].to_numpy()
        out[f"emotion_{level}_accuracy"] = float(emotion.mean())
        out[f"authenticity_{level}_accuracy"] = float(authenticity.mean())
        out[f"combined_{level}_accuracy"] = float((emotion & authenticity).mean())
    return out


def oracle_metrics(outputs: Mapping[str, np.ndarray], predictions: pd.DataFrame) -> dict[str, float]:
    """Cascade only: real/fake accuracy if stage 1 were always right (the true emotion's head), frame and
    video level, next to the end-to-end numbers in ``multitask_metrics``."""
    if "probs_authenticity_oracle" not in outputs:
        return {}
    table = pd.DataFrame({"video": outputs["video"], "frame": outputs["frame"],
                          "truth": outputs["target_authenticity"]})
    table[["p0", "p1"]] = outputs["probs_authenticity_oracle"]
    frame = float((table[["p0", "p1"]].to_numpy().argmax(axis=1) == table["truth"]).mean())
    videos = table.groupby("video")[["p0", "p1", "truth"]].mean()
    video = float((videos[["p0", "p1"]].to_numpy().argmax(axis=1) == videos["truth"].round()).mean())
    return {"authenticity_oracle_frame_accuracy": frame, "authenticity_oracle_video_accuracy": video}


# --------------------------------------------------------------------------------------------------
# Attention fusion: how much each sample relies on the face and on the context stream
# --------------------------------------------------------------------------------------------------

ATTENTION_FILE = "attention.csv"  # per test frame, next to predictions.csv (attention fusion runs only)


def attention_table(outputs: Mapping[str, np.ndarray], videos: pd.DataFrame) -> pd.DataFrame:
    """Per-frame attention weights from the outputs of a prediction pass of an attention ``FusionModel``:
    ``subject``, ``code``, ``frame``, ``emotion``, ``authenticity`` (names), ``face_weight`` and
    ``context_weight`` (they sum to 1), sorted by video and frame."""
    if "stream_weights" not in outputs:
        raise ValueError("no stream_weights in the outputs: only a fusion model with fusion='attention' has them")
    video_ids = np.asarray(outputs["video"], dtype=np.int64)
    videos = videos.reset_index(drop=True)
    codes = videos["code"].astype(str).to_numpy()[video_ids]
    parsed = [labels.parse_code(code) for code in codes]
    weights = np.asarray(outputs["stream_weights"], dtype=np.float64)
    table = pd.DataFrame({
        "subject": videos["subject"].astype(str).to_numpy()[video_ids], "code": codes,
        "frame": np.asarray(outputs["frame"], dtype=np.int64), "emotion": [video.emotion for video in parsed],
        "authenticity": [labels.AUTHENTICITY[video.authenticity_index] for video in parsed],
        "face_weight": weights[:, 0].round(5), "context_weight": weights[:, 1].round(5),
    })
    return table.sort_values(["subject", "code", "frame"], kind="stable").reset_index(drop=True)


def fusion_attention_weights(model: FusionModel, loader: torch.utils.data.DataLoader,
                             preprocess: nn.Module | None = None, accelerator: Accelerator | None = None
                             ) -> pd.DataFrame:
    """The attention weights (``attention_table``) of ``model`` on every frame of ``loader`` (a
    ``FaceContextDataset`` loader; ``preprocess``: the training run's ``BatchTransform``)."""
    if getattr(model, "fusion", None) != "attention":
        raise ValueError("only a FusionModel with fusion='attention' weighs its streams")
    # the losses only make step() run: their values are not used
    task = MultiTaskTask({head: nn.CrossEntropyLoss() for head in HEADS}, SumWeighting(), preprocess, "fusion")
    outputs = train.predict(model, task, loader, accelerator)
    return attention_table(outputs, loader.dataset.videos)


def load_attention_weights(runs: Sequence[results.RunArtifacts]) -> pd.DataFrame:
    """The saved per-frame attention weights of ``runs`` (those that have them), with ``run`` and ``fold``
    columns; an empty table when none has."""
    tables = [pd.read_csv(run.folder / ATTENTION_FILE, dtype={"subject": str, "code": str}).assign(
        run=run.config.get("run"), fold=int(run.config.get("fold", -1)))
        for run in runs if (run.folder / ATTENTION_FILE).exists()]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(
        columns=["subject", "code", "frame", "emotion", "authenticity", "face_weight", "context_weight", "run", "fold"])


# --------------------------------------------------------------------------------------------------
# Experiments: one configuration, all folds, artifacts under results/<profile>/multitask/<run>/fold_<k>/
# --------------------------------------------------------------------------------------------------


@dataclass
class MultiTaskConfig(train.ExperimentConfig):
    """An ``ExperimentConfig`` (model, ``loss`` for both heads, training settings, folds...) plus the
    multi-task choices. ``target`` stays ``label``: predictions are 12-class, like 03's."""

    approach: str = "multitask"
    variant: str = "shared"  # shared | fusion | cascade
    weighting: str = "sum"  # sum | fixed | precision | uncertainty
    weighting_params: dict[str, Any] = field(default_factory=dict)  # e.g. {"weights": {"authenticity": 2.0}}
    authenticity_loss: str | None = None  # None: same as `loss`
    fusion: str = "concat"  # fusion only: concat | attention
    hidden: int = 256  # fusion: width of the fusion MLP; cascade with embedding: width of the real/fake MLP
    conditioning: str = "heads"  # cascade only: heads (one real/fake head per emotion) | embedding
    embedding_dim: int = 16  # cascade with embedding: size of the learned emotion embedding

    @property
    def run_name(self) -> str:
        if self.name:
            return self.name
        loss = losses.DISPLAY_NAMES[losses.canonical_name(self.loss)].lower()
        if self.authenticity_loss and losses.canonical_name(self.authenticity_loss) != losses.canonical_name(self.loss):
            loss += "+" + losses.DISPLAY_NAMES[losses.canonical_name(self.authenticity_loss)].lower()
        return f"{self.variant_name}-{self.model}-{loss}-{self.weighting}"

    def untrained_model(self) -> nn.Module:
        """This configuration's model with random weights, its loss weighting attached (what it will train)."""
        image_size = self.image_size or models.model_entry(self.model).default_image_size
        return attach_weighting(build_model(dataclasses.replace(self, weights=None), image_size),
                                build_weighting(self.weighting, **self.weighting_params))

    @property
    def variant_name(self) -> str:
        """``shared``, ``fusion_<fusion>``, ``cascade`` or ``cascade_embedding``: one run folder per design."""
        if self.variant == "fusion":
            return f"fusion_{self.fusion}"
        if self.variant == "cascade" and self.conditioning != "heads":  # "heads" keeps its original run names
            return f"cascade_{self.conditioning}"
        return self.variant


def build_model(config: MultiTaskConfig, image_size: int) -> nn.Module:
    weights = config.weights
    if config.variant == "shared":
        return build_shared_model(config.model, weights, image_size, config.dropout, config.freeze_backbone)
    if config.variant == "fusion":
        return build_fusion_model(config.model, weights, image_size, config.fusion, config.hidden, config.dropout,
                                  config.freeze_backbone)
    if config.variant == "cascade":
        return build_cascade_model(config.model, weights, image_size, config.dropout, config.freeze_backbone,
                                   config.conditioning, config.embedding_dim, config.hidden)
    raise ValueError(f"unknown variant {config.variant!r}; choose one of {', '.join(VARIANTS)}")


def build_task(config: MultiTaskConfig, model: nn.Module, image_size: int, results_dir: Path) -> MultiTaskTask:
    """The task of ``config``; also registers its loss weighting in ``model`` (see ``attach_weighting``)."""
    stats = datasets.normalization_stats(config.normalization, results_dir, config.model, backbone_pretrained(model))
    preprocess = datasets.BatchTransform(stats["mean"], stats["std"], image_size, config.augment)
    head_losses = {"emotion": losses.build_loss(config.loss, **config.loss_params),
                   "authenticity": losses.build_loss(config.authenticity_loss or config.loss, **config.loss_params)}
    weighting = build_weighting(config.weighting, **config.weighting_params)
    attach_weighting(model, weighting)
    return MultiTaskTask(head_losses, weighting, preprocess, config.variant)


def _loaders(fold: train.FoldData, config: MultiTaskConfig, image_size: int):
    dataset_class = FaceContextDataset if config.variant == "fusion" else datasets.FrameDataset
    return train._loaders(fold, config, image_size, dataset_class)


def fold_data(index: pd.DataFrame, splits: pd.DataFrame, fold: int, crops_dir: Path | str,
              config: MultiTaskConfig) -> train.FoldData:
    """``train.fold_data`` (the same subject-independent folds as 03), plus context crops for ``fusion``."""
    data = train.fold_data(index, splits, fold, crops_dir, config)
    if config.variant == "fusion":
        data = train.FoldData(data.fold, *(attach_context_paths(t, crops_dir) for t in (data.train, data.val, data.test)))
    return data


def run_fold(config: MultiTaskConfig, fold: train.FoldData, paths: profiles.RunPaths,
             accelerator: Accelerator | None = None) -> dict:
    """Train and test one fold of a multi-task configuration; write its artifacts; return its metrics."""
    image_size = models.check_image_size(
        config.model, config.image_size or models.model_entry(config.model).default_image_size)
    train.seed_everything(config.train.seed)
    model = build_model(config, image_size)
    task = build_task(config, model, image_size, paths.results)
    checkpoints = train.checkpoint_dir(paths, config, fold.fold)
    accelerator = accelerator or train.make_accelerator(config.train)
    outcome = train.fit_and_test(model, task, _loaders(fold, config, image_size), fold, config.train, checkpoints,
                                 accelerator)
    fitted, outputs, predictions, metrics = outcome.fitted, outcome.outputs, outcome.predictions, outcome.metrics
    metrics["multitask"] = {**multitask_metrics(predictions), **oracle_metrics(outputs, predictions)}
    attention = attention_table(outputs, outcome.test_videos) if "stream_weights" in outputs else None
    if attention is not None:
        metrics["multitask"]["face_attention_mean"] = float(attention["face_weight"].mean())
    metrics.update({
        "run": config.run_name, "approach": config.approach, "model": config.model, "variant": config.variant,
        "weighting": config.weighting, "loss": losses.canonical_name(config.loss),
        "final_loss_weights": task.weighting.weights(), "pretrained": backbone_pretrained(model),
        "image_size": image_size,
    })
    if accelerator.is_main_process:
        run_config = {**config.to_dict(), "fold": fold.fold, "run": config.run_name,
                      "loss": losses.canonical_name(config.loss), "image_size": image_size,
                      "normalization_stats": {"mean": task.preprocess.mean.flatten().tolist(),
                                              "std": task.preprocess.std.flatten().tolist()}}
        env = results.environment(config.profile, train._fingerprint(fold),
                                  mixed_precision=accelerator.mixed_precision, processes=accelerator.num_processes)
        folder = results.run_dir(paths.results, config.approach, config.run_name, fold.fold)
        if attention is not None:  # before write_run: metrics.json, written last, marks the folder complete
            results.write_csv(folder / ATTENTION_FILE, attention)
        results.write_run(folder, metrics, fitted.history, predictions, run_config, env)
        if train.keeps_weights(config.save_weights, config.folds, fold.fold):
            results.save_weights(train.model_weights_path(paths, config.approach, config.run_name, fold.fold),
                                 fitted.model)
        if not config.keep_checkpoints:
            shutil.rmtree(checkpoints, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.free_memory()
    return metrics


def run_experiment(config: MultiTaskConfig, dataset: Dataset | None = None, crops_dir: Path | str | None = None,
                   force: bool = False, accelerator: Accelerator | None = None) -> pd.DataFrame:
    """Every fold of ``config`` (folds with artifacts are skipped unless ``force``); returns its fold table
    (``multitask_fold_table``), also written as ``<results>/multitask/<run>/folds.csv``."""
    return train.cross_validate(config, run_fold, fold_data, multitask_fold_table, dataset, crops_dir, force,
                                accelerator)


MULTITASK_METRICS = ("emotion_frame_accuracy", "authenticity_frame_accuracy", "combined_frame_accuracy",
                     "emotion_video_accuracy", "authenticity_video_accuracy", "combined_video_accuracy")


def multitask_fold_table(runs: Sequence[results.RunArtifacts]) -> pd.DataFrame:
    """``evaluate.fold_table`` (12-class and collapsed views, as 03's) plus ``variant``, ``weighting``,
    the per-head and combined accuracies (``mt_<metric>``) and, for the cascade, the oracle real/fake accuracy."""
    runs = list(runs)
    table = evaluate.fold_table(runs)
    if not runs:
        return table
    table["variant"] = [run.config.get("variant") for run in runs]
    table["weighting"] = [run.config.get("weighting") for run in runs]
    for metric in (*MULTITASK_METRICS, "authenticity_oracle_video_accuracy"):
        table[f"mt_{metric}"] = [run.metrics.get("multitask", {}).get(metric, np.nan) for run in runs]
    return table


# --------------------------------------------------------------------------------------------------
# Command line: python -m helpers.multitask experiments/<file>.json
# --------------------------------------------------------------------------------------------------


def load_config(path: Path | str) -> MultiTaskConfig:
    """A ``MultiTaskConfig`` from a ``.json`` or ``.yaml``/``.yml`` file: ``train.ExperimentConfig``'s keys
    (profile, model, loss, folds, work_dir, results_dir, ``train``: TrainConfig's...) plus the multi-task
    ones (variant, weighting, fusion, conditioning...). ``approach`` may be omitted; if given it must be
    ``multitask`` (a single-task file would otherwise write multi-task runs under ``single_task/``)."""
    values = train.read_config_file(path)
    approach = values.get("approach", MultiTaskConfig.approach)
    if approach != MultiTaskConfig.approach:
        raise ValueError(f"{path} is a {approach!r} experiment: run it with its own module (helpers.train for "
                         f"single_task), or set \"approach\": \"{MultiTaskConfig.approach}\"")
    config = MultiTaskConfig.from_dict(values)
    _check_choices(config)
    return config


def _check_choices(config: MultiTaskConfig) -> None:
    """Fail on a misspelt choice when the file is read, not after the dataset is prepared."""
    choices = {"variant": VARIANTS, "weighting": tuple(WEIGHTINGS), "fusion": ("concat", "attention"),
               "conditioning": CONDITIONINGS}
    for key, allowed in choices.items():
        if getattr(config, key) not in allowed:
            raise ValueError(f"{key} {getattr(config, key)!r} is not one of {', '.join(allowed)}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m helpers.multitask", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", type=Path, help="experiment file (.json or .yaml)")
    parser.add_argument("--config", dest="config_option", type=Path, help="the same, as helpers.train takes it")
    parser.add_argument("--force", action="store_true", help="retrain folds whose results exist")
    args = parser.parse_args(argv)
    if (args.config is None) == (args.config_option is None):
        parser.error("give one experiment file")
    config = load_config(args.config or args.config_option)
    table = run_experiment(config, force=args.force)
    metrics = [*(f"mt_{m}" for m in MULTITASK_METRICS), "paired_accuracy"]
    summary = evaluate.aggregate_folds(table, metrics, by=("run", "variant", "weighting"))
    print(summary[["run", "folds", *[m for m in metrics if m in summary]]].to_string(index=False))


if __name__ == "__main__":
    main()
