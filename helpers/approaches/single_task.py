"""Single-task classification of frames (notebook 03): one head, 12 classes (or emotion, or authenticity).

The approach supplies the frame classifier (``helpers.models.build_model``), its task (a loss against one
target) and frame loaders; ``helpers.train.runner`` does the rest. Its loaders and batch transform serve the
multi-task approach too (``frame_loaders``, ``frame_transform``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd
from torch import nn

from helpers import labels, models, profiles
from helpers.models import losses
from helpers.train.config import ExperimentConfig, FoldSetup
from helpers.train.datasets import FRAME_SELECTIONS, FrameDataset
from helpers.train.folds import FoldData
from helpers.train.loaders import fold_loaders, worker_size
from helpers.train.tasks import ClassificationTask
from helpers.train.transforms import BatchTransform, normalization_stats


@dataclass
class FrameExperimentConfig(ExperimentConfig):
    """What the frame approaches (03, 04) share: how many frames of each video they see."""

    ADDED_SETTINGS: ClassVar[Mapping[str, Any]] = {**ExperimentConfig.ADDED_SETTINGS, "frame_selection": "even"}

    target: str = "label"  # label (12 classes) | emotion | authenticity
    frames_per_video: int | None = 16  # training frames per video (which ones: frame_selection); None: all
    val_frames_per_video: int | None = 8  # validation frames per video (early stopping only needs a sample)
    eval_frames_per_video: int | None = None  # test frames per video; None: all
    # which frames of a video those are: "even" (evenly spaced) | "expressive" (farthest from its first frame)
    frame_selection: str = "even"

    def __post_init__(self):
        super().__post_init__()
        if self.frame_selection not in FRAME_SELECTIONS:
            raise ValueError(f"frame_selection must be one of {', '.join(FRAME_SELECTIONS)}, "
                             f"got {self.frame_selection!r}")

    @property
    def input_size(self) -> int:
        return models.check_image_size(self.model, self.image_size or models.model_entry(self.model).default_image_size)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "model": models.model_entry(self.model).display_name,
                "train frames/video": self.frames_per_video, "test frames/video": self.eval_frames_per_video or "all",
                **({"frames": self.frame_selection} if self.frame_selection != "even" else {})}


@dataclass
class SingleTaskConfig(FrameExperimentConfig):
    """One cross-validated single-task experiment: a backbone, a loss and a target, on frames."""

    APPROACH = "single_task"
    DISPLAY_NAME = "single-task (03)"
    NOTEBOOK = "03_single_task"

    def __post_init__(self):
        super().__post_init__()
        labels.num_classes(self.target)  # a misspelt target fails when the file is read

    @property
    def prediction_target(self) -> str:
        return self.target

    def build_model(self, untrained: bool = False) -> nn.Module:
        return models.build_model(self.model, labels.num_classes(self.target), None if untrained else self.weights,
                                  self.freeze_backbone, self.input_size, self.dropout)

    def prepare(self, model: nn.Module, fold: FoldData, paths: profiles.RunPaths) -> FoldSetup:
        preprocess = frame_transform(self, model, paths, fold)
        task = ClassificationTask(losses.build_loss(self.loss, **self.loss_params), self.target, preprocess)
        return FoldSetup(task, frame_loaders(fold, self), preprocess)


def frame_transform(config: FrameExperimentConfig, model: nn.Module, paths: profiles.RunPaths,
                    fold: FoldData) -> BatchTransform:
    """The batch transform of a frame model: its normalisation (``config.normalization``; the dataset's is
    measured on the fold's training crops), input size, augmentation."""
    stats = normalization_stats(config.normalization, paths.results, config.model, model.pretrained, fold.train)
    return BatchTransform(stats["mean"], stats["std"], config.input_size, config.augment)


def frame_loaders(fold: FoldData, config: FrameExperimentConfig, dataset_class: type[FrameDataset] = FrameDataset
                  ) -> tuple:
    """``(train, validation or None, test, test dataset)`` loaders of single frames of ``fold``'s videos."""
    def dataset(videos: pd.DataFrame, frames: int | None):
        return dataset_class(videos, frames_per_video=frames, size=worker_size(videos, config.input_size),
                             selection=config.frame_selection)

    return fold_loaders(config, dataset(fold.train, config.frames_per_video),
                        dataset(fold.val, config.val_frames_per_video) if len(fold.val) else None,
                        dataset(fold.test, config.eval_frames_per_video))
