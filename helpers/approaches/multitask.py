"""Multi-task learning of emotion and authenticity (notebook 04).

Three model variants, all trained by the one training loop through one task class (``MultiTaskTask``):

- ``shared``: one backbone and two linear heads (``helpers.models.Classifier``: emotion 6, authenticity 2);
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

Each head has its own loss (any of ``helpers.models.losses``: CE, FL, MFL, Euclidean); a ``LossWeighting``
(``helpers.models.weighting``: sum, fixed, the thesis' precision weighting, Kendall et al.'s learned
uncertainty) combines them. It is registered inside the model, so its parameters are optimised and its state
is checkpointed with the model.

Predictions combine the heads into the 12 SASE-FE classes, ``p(emotion, authenticity) = p(emotion) *
p(authenticity)`` (cascade: ``p(emotion) * p(authenticity | predicted emotion)``), so the predictions
tables look like 03's: ``helpers.metrics.evaluate`` computes the 12-class view and, by marginalising, exactly the
two heads' emotion and real/fake predictions. The argmax of the product is the pair of the two heads'
argmaxes, so 12-class accuracy is the *combined* accuracy (both heads right).

The models live in ``helpers.models.fusion``, the loss weightings in ``helpers.models.weighting``, the task in
``helpers.train.tasks``; this module is the approach: its configuration and hooks, its metrics and artifacts.
Command line: ``python -m helpers.train --config FILE`` with ``"approach": "multitask"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from accelerate import Accelerator
from torch import nn

from helpers import labels, profiles, results
from helpers.approaches.single_task import FrameExperimentConfig, frame_loaders, frame_transform
from helpers.metrics import evaluate
from helpers.models import (
    CONDITIONINGS, FUSIONS, TWO_TASK_HEADS, VARIANTS, FusionModel, build_cascade_model, build_fusion_model,
    build_shared_model, losses,
)
from helpers.models.weighting import WEIGHTING_NAMES, WEIGHTINGS, SumWeighting, attach_weighting, build_weighting
from helpers.train.config import FoldSetup
from helpers.train.crops import attach_context_paths
from helpers.train.datasets import FaceContextDataset, FrameDataset
from helpers.train.folds import FoldData
from helpers.train.loop import predict
from helpers.train.tasks import MultiTaskTask


@dataclass
class MultiTaskConfig(FrameExperimentConfig):
    """The frame settings of 03 (model, ``loss`` for both heads, training settings, folds...) plus the
    multi-task choices. ``target`` stays ``label``: predictions are 12-class, like 03's."""

    APPROACH = "multitask"
    DISPLAY_NAME = "multi-task (04)"
    NOTEBOOK = "04_multi_task"
    variant: str = "shared"  # shared | fusion | cascade
    weighting: str = "sum"  # sum | fixed | precision | uncertainty
    # the options of each weighting, e.g. {"fixed": {"weights": {"authenticity": 2.0}}}: the chosen one's are used
    weighting_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    authenticity_loss: str | None = None  # None: same as `loss`
    fusion: str = "concat"  # fusion only: concat | attention
    hidden: int = 256  # fusion: width of the fusion MLP; cascade with embedding: width of the real/fake MLP
    conditioning: str = "heads"  # cascade only: heads (one real/fake head per emotion) | embedding
    embedding_dim: int = 16  # cascade with embedding: size of the learned emotion embedding

    @property
    def run_name(self) -> str:
        if self.name:
            return self.name
        loss = losses.display_name(self.loss).lower()
        if self.authenticity_loss and losses.canonical_name(self.authenticity_loss) != losses.canonical_name(self.loss):
            loss += "+" + losses.display_name(self.authenticity_loss).lower()
        return f"{self.variant_name}-{self.model}-{loss}-{self.weighting}"

    @property
    def variant_name(self) -> str:
        """``shared``, ``fusion_<fusion>``, ``cascade`` or ``cascade_embedding``: one run folder per design."""
        if self.variant == "fusion":
            return f"fusion_{self.fusion}"
        if self.variant == "cascade" and self.conditioning != "heads":  # "heads" keeps its original run names
            return f"cascade_{self.conditioning}"
        return self.variant

    def __post_init__(self):
        super().__post_init__()
        if self.target != "label":
            raise ValueError("a multi-task experiment predicts the 12 classes through its two heads: target must be "
                             f"'label', got {self.target!r}")
        choices = {"variant": VARIANTS, "weighting": tuple(WEIGHTINGS), "fusion": FUSIONS, "conditioning": CONDITIONINGS}
        for key, allowed in choices.items():  # a misspelt choice fails when the file is read, not after hours
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key} {getattr(self, key)!r} is not one of {', '.join(allowed)}")
        unknown = set(self.weighting_params) - set(WEIGHTINGS)
        if unknown:
            raise ValueError(f"weighting_params holds the options of each weighting by name ({', '.join(WEIGHTINGS)}), "
                             f"e.g. {{'fixed': {{'weights': {{'authenticity': 2.0}}}}}}; got {', '.join(sorted(unknown))}")

    def build_model(self, untrained: bool = False) -> nn.Module:
        """The variant's model, its loss weighting attached (``attach_weighting``: optimised and checkpointed)."""
        weights = None if untrained else self.weights
        if self.variant == "shared":
            model = build_shared_model(self.model, weights, self.input_size, self.dropout, self.freeze_backbone)
        elif self.variant == "fusion":
            model = build_fusion_model(self.model, weights, self.input_size, self.fusion, self.hidden, self.dropout,
                                       self.freeze_backbone)
        else:
            model = build_cascade_model(self.model, weights, self.input_size, self.dropout, self.freeze_backbone,
                                        self.conditioning, self.embedding_dim, self.hidden)
        return attach_weighting(model, build_weighting(self.weighting, **self.weighting_options))

    def identity(self) -> dict[str, Any]:
        """The shared identity, with the options of the chosen weighting only (the others change nothing)."""
        return {**super().identity(), "weighting_params": self.weighting_options}

    @property
    def weighting_options(self) -> dict[str, Any]:
        """The options of the chosen weighting (``weighting_params[weighting]``)."""
        return dict(self.weighting_params.get(self.weighting) or {})

    def prepare(self, model: nn.Module, fold: FoldData, paths: profiles.RunPaths) -> FoldSetup:
        preprocess = frame_transform(self, model, paths, fold)
        head_losses = {"emotion": losses.build_loss(self.loss, **self.loss_params),
                       "authenticity": losses.build_loss(self.authenticity_loss or self.loss, **self.loss_params)}
        task = MultiTaskTask(head_losses, model.loss_weighting, preprocess, self.variant)
        dataset_class = FaceContextDataset if self.variant == "fusion" else FrameDataset
        return FoldSetup(task, frame_loaders(fold, self, dataset_class), preprocess)

    def fold_data(self, index: pd.DataFrame, splits: pd.DataFrame, fold: int, crops_dir: Path | str) -> FoldData:
        """03's fold (the same subject-independent folds), plus context crops for ``fusion``."""
        data = super().fold_data(index, splits, fold, crops_dir)
        if self.variant != "fusion":
            return data
        return FoldData(data.fold, *(attach_context_paths(t, crops_dir) for t in (data.train, data.val, data.test)))

    def fold_metrics(self, outcome, model: nn.Module) -> dict[str, Any]:
        extra = {**multitask_metrics(outcome.predictions), **oracle_metrics(outcome.outputs, outcome.predictions)}
        if "stream_weights" in outcome.outputs:
            # the mean face weight over the test frames (attention_table's face_weight, without building it twice)
            face_weights = np.asarray(outcome.outputs["stream_weights"], np.float32)[:, 0]
            extra["face_attention_mean"] = float(face_weights.mean())
        return {**super().fold_metrics(outcome, model), "variant": self.variant, "weighting": self.weighting,
                "final_loss_weights": outcome.fitted.model.loss_weighting.weights(), "multitask": extra}

    def fold_files(self, outcome) -> dict[str, pd.DataFrame]:
        if "stream_weights" not in outcome.outputs:
            return {}
        return {ATTENTION_FILE: attention_table(outcome.outputs, outcome.test_videos)}

    @classmethod
    def fold_table(cls, runs: Sequence[results.RunArtifacts]) -> pd.DataFrame:
        return multitask_fold_table(runs)

    def describe(self) -> dict[str, Any]:
        loss = losses.display_name(self.loss)
        return {**super().describe(), "variant": self.variant_name, "head loss": loss,
                "combination": WEIGHTING_NAMES[self.weighting]}


def multitask_metrics(predictions: pd.DataFrame) -> dict[str, float]:
    """Emotion / real-fake / combined accuracy at frame and video level from a 12-class predictions table
    (the heads' probabilities are the table's marginals; at video level each is averaged over the frames).

    *Combined* (both heads right) has one definition at every level: the 12-class prediction is right. At frame
    level that is exactly both heads' argmaxes right (the argmax of a product of two distributions is the pair
    of their argmaxes); at video level it is the argmax of the frame-averaged 12-class probabilities, the
    12-class video accuracy of every other table."""
    out: dict[str, float] = {}
    for level, table in (("frame", predictions), ("video", evaluate.video_level(predictions))):
        _, p_emotion = evaluate.view_probs(table, "label", "emotion")
        _, p_authenticity = evaluate.view_probs(table, "label", "authenticity")
        truth, p_label = evaluate.view_probs(table, "label", "label")
        out[f"emotion_{level}_accuracy"] = float((p_emotion.argmax(axis=1) == table["emotion_label"].to_numpy()).mean())
        out[f"authenticity_{level}_accuracy"] = float(
            (p_authenticity.argmax(axis=1) == table["authenticity_label"].to_numpy()).mean())
        out[f"combined_{level}_accuracy"] = float((p_label.argmax(axis=1) == truth).mean())
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
    weights = np.asarray(outputs["stream_weights"], dtype=np.float32)
    table = pd.DataFrame({
        "subject": videos["subject"].astype(str).to_numpy()[video_ids], "code": codes,
        "frame": np.asarray(outputs["frame"], dtype=np.int64), "emotion": [video.emotion for video in parsed],
        "authenticity": [labels.AUTHENTICITY[video.authenticity_index] for video in parsed],
        "face_weight": weights[:, 0], "context_weight": weights[:, 1],
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
    task = MultiTaskTask({head: nn.CrossEntropyLoss() for head in TWO_TASK_HEADS}, SumWeighting(), preprocess, "fusion")
    outputs = predict(model, task, loader, accelerator)
    return attention_table(outputs, loader.dataset.videos)


def load_attention_weights(runs: Sequence[results.RunArtifacts]) -> pd.DataFrame:
    """The saved per-frame attention weights of ``runs`` (those that have them), with ``run`` and ``fold``
    columns; an empty table when none has."""
    tables = [results.read_table(run.folder, ATTENTION_FILE).assign(
        run=run.config.get("run"), fold=int(run.config.get("fold", -1)))
        for run in runs if (run.folder / ATTENTION_FILE).exists()]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(
        columns=["subject", "code", "frame", "emotion", "authenticity", "face_weight", "context_weight", "run", "fold"])


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
