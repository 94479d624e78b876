"""What 05's approaches over facial geometry share: models fitted from scratch on each fold on landmark
series held in memory, with no images, predicting whether each video is genuine."""

from __future__ import annotations

from dataclasses import dataclass

from helpers.train.config import ExperimentConfig


@dataclass
class GeometryExperimentConfig(ExperimentConfig):
    """The base of ``descriptors``, ``trajectories`` and ``lstm_pb``: nothing pretrained, no image size, no
    loader processes (the series are in memory: worker processes would only cost)."""

    weights: str | None = None
    workers: int | None = 0

    @property
    def input_size(self) -> None:
        return None  # no images

    @property
    def prediction_target(self) -> str:
        return "authenticity"
