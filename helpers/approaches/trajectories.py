"""Landmark trajectories + a supervised recurrent network (notebook 05): facial geometry over time, this
project's own baseline (no paper's method), trained by the project's training loop. HCILab's LSTM with
parametric bias is the ``lstm_pb`` approach.

Each video is the sequence of its kept frames' registered landmarks (or of their action-unit proxies,
``inputs``), read by ``helpers.models.trajectories.LandmarkRNN``. With ``target: authenticity`` the model
says genuine or posed and is given the video's emotion, as the challenge gave it (06 compares its real/fake
scores); with ``target: label`` it predicts the 12 classes from geometry alone, like 03-05's image models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from helpers import labels, profiles
from helpers.approaches.geometry_base import GeometryExperimentConfig
from helpers.models import losses
from helpers.models.trajectories import CELLS, LandmarkRNN
from helpers.train.config import FoldSetup
from helpers.train.folds import FoldData
from helpers.train.geometry_inputs import INPUTS, TrajectoryDataset, n_frame_features
from helpers.train.loaders import fold_loaders
from helpers.train.tasks import ClassificationTask
from helpers.train.transforms import IdentityTransform

MODELS = {f"landmark_{cell}": cell for cell in CELLS}


@dataclass
class TrajectoryConfig(GeometryExperimentConfig):
    """One cross-validated landmark-trajectory experiment: which per-frame inputs, the recurrent cell, target."""

    APPROACH = "trajectories"
    DISPLAY_NAME = "landmark trajectories (05)"
    NOTEBOOK = "05_temporal"
    PREDICTION_UNIT = "video"
    model: str = "landmark_gru"  # landmark_gru | landmark_lstm
    inputs: str = "landmarks"  # landmarks (68 registered points) | proxies (the action-unit proxies)
    target: str = "authenticity"  # authenticity (the emotion given, as in the challenge) | label (12 classes)
    hidden: int = 64
    layers: int = 1
    bidirectional: bool = False
    batch_size: int = 16  # videos per batch

    def __post_init__(self):
        super().__post_init__()
        if self.model not in MODELS:
            raise ValueError(f"unknown trajectory model {self.model!r}; choose one of {', '.join(MODELS)}")
        if self.inputs not in INPUTS:
            raise ValueError(f"inputs must be one of {', '.join(INPUTS)}, got {self.inputs!r}")
        if self.target not in ("authenticity", "label"):
            raise ValueError(f"target must be 'authenticity' or 'label', got {self.target!r}")

    @property
    def run_name(self) -> str:
        if self.name:
            return self.name
        name = f"{self.model}-{self.inputs}" + ("-12class" if self.target == "label" else "")
        loss = losses.canonical_name(self.loss)
        return name + (f"-{loss}" if loss != "cross_entropy" else "")

    @property
    def emotion_given(self) -> bool:
        return self.target == "authenticity"

    @property
    def prediction_target(self) -> str:
        return self.target

    def build_model(self, untrained: bool = False) -> nn.Module:
        return LandmarkRNN(n_frame_features(self.inputs), labels.num_classes(self.target), self.hidden, self.layers,
                           MODELS[self.model], self.dropout, len(labels.EMOTIONS) if self.emotion_given else 0,
                           self.bidirectional)

    def prepare(self, model: nn.Module, fold: FoldData, paths: profiles.RunPaths) -> FoldSetup:
        sets = {part: TrajectoryDataset(getattr(fold, part), self.inputs, self.emotion_given)
                for part in ("train", "val", "test")}
        model.set_statistics(*sets["train"].frame_statistics())  # the training videos' only
        task = ClassificationTask(losses.build_loss(self.loss, **self.loss_params), self.target, input_key="sequence")
        return FoldSetup(task, fold_loaders(self, sets["train"], sets["val"], sets["test"]), IdentityTransform())

    def fold_metrics(self, outcome, model: nn.Module) -> dict[str, Any]:
        return {**super().fold_metrics(outcome, model), "inputs": self.inputs, "hidden": self.hidden,
                "emotion_given": self.emotion_given}

    def describe(self) -> dict[str, Any]:
        return {"run": self.run_name, "model": f"{MODELS[self.model].upper()} on {self.inputs} over time",
                "target": self.target, "emotion given": self.emotion_given, "hidden": self.hidden,
                "epochs": self.train.epochs, "folds": len(self.folds) if self.folds is not None else "all"}
