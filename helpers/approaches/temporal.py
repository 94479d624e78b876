"""Temporal (video) models of notebook 05: clips of face crops instead of single frames.

Authenticity cues live in the *dynamics* of an expression (how fast and how smoothly it starts, whether
both halves of the face move together), which a single frame cannot show. The clip models (CNN-RNNs, 3D
CNNs, ResNet3D, X3D-S, Slow-R50) are in ``helpers.models.clips``; this module is the approach:

- ``TemporalConfig``: the shared experiment settings plus the clips' (length, stride, window, clips per
  video) and the heads (12 classes, or emotion + authenticity combined as in 04); its hooks build the clip
  model, its task and clip loaders, and, for a CNN-RNN with a frozen CNN, cache the per-frame features once
  (``helpers.train.features``) so that only the recurrent part trains;
- artifacts under ``results/<profile>/temporal/<run>/fold_<k>/`` (``predictions.csv``: one row per clip,
  ``frame`` = the clip's first crop; ``evaluate.video_level`` averages the clips of a video);
- ``sliding_scores``: p(genuine) of clips sliding over one video, for plots.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from accelerate import PartialState
from torch import nn

from helpers import frames, labels, profiles
from helpers.metrics import evaluate
from helpers.models import TWO_TASK_HEADS, build_temporal_model, losses, temporal_entry
from helpers.models.weighting import attach_weighting, build_weighting
from helpers.train.config import ExperimentConfig, FoldSetup, identity_hash
from helpers.train.crops import CROP_PATH_COLUMN
from helpers.train.datasets import ClipDataset, FeatureClipDataset
from helpers.train.features import cache_frame_features, feature_cache_dir
from helpers.train.folds import FoldData
from helpers.train.loaders import fold_loaders, worker_size
from helpers.train.tasks import ClassificationTask, MultiTaskTask
from helpers.train.transforms import BatchTransform, IdentityTransform, normalization_stats


@dataclass
class TemporalConfig(ExperimentConfig):
    """One cross-validated temporal experiment: the shared settings (``loss`` is each head's) plus the clips'."""

    APPROACH = "temporal"
    DISPLAY_NAME = "temporal clips (05)"
    NOTEBOOK = "05_temporal"
    PREDICTION_UNIT = "clip"
    model: str = "simple_cnn_lstm"
    batch_size: int = 8  # clips per batch
    heads: str = "label"  # label (12 classes) | two_task (emotion + authenticity)
    loss_weighting: str = "sum"  # two_task: sum | fixed | precision | uncertainty (helpers.models.weighting)
    cache_features: bool = False  # CNN-RNN with a frozen backbone: train the RNN on cached features
    hidden: int = 256
    clip_len: int | None = 8  # crops per clip; None: the model's own (Slow-R50 8, X3D-S 13, others 16)
    stride: int = 1
    window: str = "all"  # all | onset_apex
    clips_per_video: int = 4  # training clips per video and epoch (random starts)
    eval_clips_per_video: int = 4  # test clips per video (evenly spaced; scores averaged per video)

    def __post_init__(self):
        super().__post_init__()
        if self.heads not in ("label", "two_task"):
            raise ValueError(f"heads must be 'label' or 'two_task', got {self.heads!r}")
        entry = temporal_entry(self.model)
        if self.clip_len is None:
            self.clip_len = entry.default_clip_len

    @property
    def run_name(self) -> str:
        if self.name:
            return self.name
        name = self.model + ("-two_task" if self.heads == "two_task" else "")
        if losses.canonical_name(self.loss) != "cross_entropy":
            name += f"-{losses.canonical_name(self.loss)}"
        if self.heads == "two_task" and self.loss_weighting != "sum":
            name += f"-{self.loss_weighting}"
        return name

    @property
    def uses_cache(self) -> bool:
        return self.cache_features and self.freeze_backbone and temporal_entry(self.model).kind == "rnn"

    @property
    def input_size(self) -> int:
        return self.image_size or temporal_entry(self.model).default_image_size

    @property
    def head_classes(self) -> int | dict[str, int]:
        return TWO_TASK_HEADS if self.heads == "two_task" else len(labels.CLASS_NAMES)

    def build_model(self, untrained: bool = False) -> nn.Module:
        model = build_temporal_model(self.model, self.head_classes, None if untrained else self.weights,
                                     self.freeze_backbone, self.input_size, self.dropout, self.hidden)
        if self.heads == "two_task":  # attached: its parameters are optimised and its state checkpointed
            attach_weighting(model, build_weighting(self.loss_weighting))
        return model

    def prepare(self, model: nn.Module, fold: FoldData, paths: profiles.RunPaths) -> FoldSetup:
        preprocess = clip_transform(self, model.pretrained, paths.results, fold)
        feature_tables = cached_features(self, model, fold, paths, preprocess) if self.uses_cache else None
        task = self.task(model, IdentityTransform() if feature_tables is not None else preprocess)
        return FoldSetup(task, clip_loaders(self, fold, feature_tables), preprocess)

    def task(self, model: nn.Module, preprocess: nn.Module):
        """12 classes: a ``ClassificationTask``; two heads: a ``MultiTaskTask`` with the model's weighting."""
        if self.heads == "two_task":
            head_losses = {head: losses.build_loss(self.loss) for head in TWO_TASK_HEADS}
            return MultiTaskTask(head_losses, model.loss_weighting, preprocess, "shared")
        return ClassificationTask(losses.build_loss(self.loss), "label", preprocess)

    def fold_metrics(self, outcome, model: nn.Module) -> dict[str, Any]:
        return {**super().fold_metrics(outcome, model),
                "loss_weighting": self.loss_weighting if self.heads == "two_task" else None, "heads": self.heads,
                "level_note": "frame level = clip level", "clip_len": self.clip_len, "stride": self.stride}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "model": temporal_entry(self.model).display_name, "heads": self.heads,
                "frozen CNN, cached features": self.uses_cache, "clip": f"{self.clip_len} crops, stride {self.stride}",
                "test clips/video": self.eval_clips_per_video}


def clip_transform(config: TemporalConfig, pretrained: bool, results_dir: Path, fold: FoldData) -> BatchTransform:
    """The batch transform of a clip model: what its pretrained weights expect (Kinetics', ImageNet's), or the
    statistics of the fold's training crops."""
    entry = temporal_entry(config.model)
    source = config.normalization
    if source in ("auto", "model"):
        source = entry.normalization if (pretrained and entry.normalization) else "dataset"
    stats = normalization_stats(source, results_dir, train_videos=fold.train)
    return BatchTransform(stats["mean"], stats["std"], config.input_size, config.augment)


def cached_features(config: TemporalConfig, model: nn.Module, fold: FoldData, paths: profiles.RunPaths,
                    preprocess: nn.Module) -> dict[str, pd.DataFrame]:
    """Each part of ``fold`` pointing at the cached features of the frozen per-frame CNN (made now if missing)."""
    crops_dir = Path(fold.train[CROP_PATH_COLUMN].iloc[0]).parents[1]
    # the features depend on the normalisation, which is measured per fold: its values name the cache
    stats = [round(v, 6) for v in (*preprocess.mean.flatten().tolist(), *preprocess.std.flatten().tolist())]
    normalization = identity_hash({"normalization": stats})
    cache = feature_cache_dir(paths.work, crops_dir, config.model, model.pretrained, config.input_size,
                              config.train.seed, normalization)
    started = time.perf_counter()
    state = PartialState()  # several processes: the main one writes the cache, the others then read it
    with state.main_process_first():
        tables = {part: cache_frame_features(model.backbone, getattr(fold, part), cache, preprocess,
                                             device=str(state.device)) for part in ("train", "val", "test")}
    print(f"per-frame features cached in {profiles.display_path(cache)} ({time.perf_counter() - started:.1f} s)")
    return tables


def clip_loaders(config: TemporalConfig, fold: FoldData, feature_tables: dict | None) -> tuple:
    """``(train, validation or None, test, test dataset)`` loaders of clips (or of clips of cached features)."""
    def dataset(part: str, mode: str, clips: int):
        table = getattr(fold, part)
        if feature_tables is not None:
            return FeatureClipDataset(feature_tables[part], config.clip_len, config.stride, clips, mode, config.window,
                                      segments_from=table)
        return ClipDataset(table, config.clip_len, config.stride, clips, worker_size(table, config.input_size), mode,
                           config.window)

    return fold_loaders(config, dataset("train", "random", config.clips_per_video),
                        dataset("val", "uniform", config.eval_clips_per_video) if len(fold.val) else None,
                        dataset("test", "uniform", config.eval_clips_per_video))


@torch.no_grad()
def sliding_scores(model: nn.Module, crops: np.ndarray, clip_len: int, stride: int = 1, hop: int = 1,
                   preprocess: nn.Module | None = None, batch_size: int = 16) -> pd.DataFrame:
    """p(genuine) of clips sliding over one video's crops ``T x H x W x 3``, ``hop`` crops apart.

    Returns one row per clip: ``start``, ``centre`` (crop positions) and ``p_genuine`` (a 12-class model's
    probabilities summed over the genuine classes, or a two-task model's authenticity head).
    """
    model.eval()
    device = next(model.parameters()).device
    clips = frames.clip_indices(len(crops), clip_len, stride, "all", hop=hop)
    scores = []
    for start in range(0, len(clips), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(np.asarray(crops)[clips[start:start + batch_size]]
                                                      .transpose(0, 1, 4, 2, 3))).to(device)
        x = preprocess(batch, training=False) if preprocess is not None else batch.float() / 255
        out = model(x)
        if isinstance(out, dict):
            p = F.softmax(out["authenticity"].float(), 1)[:, 1]
        else:
            p = torch.from_numpy(evaluate.collapse(F.softmax(out.float(), 1).cpu().numpy(), "authenticity")[:, 1])
        scores.append(p.cpu())
    p = torch.cat(scores).numpy() if scores else np.zeros(0)
    return pd.DataFrame({"start": clips[:, 0], "centre": (clips[:, 0] + clips[:, -1]) / 2, "p_genuine": p})


def pair_curves(config: TemporalConfig, fold: FoldData, model: nn.Module, preprocess: nn.Module,
                emotion: str = "happy") -> dict[str, pd.DataFrame]:
    """``sliding_scores`` of ``model`` over the genuine and the posed video of ``emotion`` of the first test
    subject of ``fold`` that has both (``{"<subject> <code> (genuine)": table, ...}``); empty when none has."""
    genuine_code = labels.CODES[labels.class_index(emotion, True)]
    posed_code = labels.pair_code(genuine_code)
    test = fold.test.assign(code=fold.test["code"].astype(str), subject=fold.test["subject"].astype(str))
    subject = next((s for s, part in test.groupby("subject") if {genuine_code, posed_code} <= set(part["code"])), None)
    curves = {}
    for code in (genuine_code, posed_code) if subject is not None else ():
        crops = np.load(test[(test["subject"] == subject) & (test["code"] == code)][CROP_PATH_COLUMN].iloc[0])
        name = f"{subject} {code} ({'genuine' if labels.parse_code(code).genuine else 'posed'})"
        curves[name] = sliding_scores(model, crops, config.clip_len, config.stride, hop=1, preprocess=preprocess)
    return curves
