"""What the full profile costs on Colab, worked out before a GPU hour is spent: the GPU hours of each training
notebook's grid, the Drive space of the crops and the kept weights, and a thesis-sized grid.

The reproduce page (``book/reproduce_on_colab.md``) quotes these numbers; ``tests/test_colab_plan.py`` keeps
page and code in step. The GPU hours rest on an assumed training throughput per model on a T4
(``ASSUMED_T4_IMAGES_PER_SECOND``), not on a measurement: notebooks 03-05 measure the real one on the GPU they
find (``helpers.train.estimate_grid_time``) before they train.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from helpers import approaches, frames, profiles
from helpers.train import budget
from helpers.train.config import ExperimentConfig
from helpers.train.estimate import COLAB_SESSION_HOURS

#: SASE-FE as 01 indexes it (book/dataset.md) and its video geometry as ``benchmarks/extraction.py --size
#: sase-fe`` takes it: 1280x720 at 100 fps, 4 s a video.
SASE_FE_VIDEOS = 643
SASE_FE_FPS = 100.0
SASE_FE_SECONDS = 4.0
LANDMARK_POINTS = 68
FLOAT32_BYTES = 4

#: Training images (frames; a clip of n frames counts n) a T4 processes per second with mixed precision, at
#: each model's input size. An assumption of this order of magnitude, not a measurement: replace it by what
#: notebooks 03-05 measure on your GPU (their estimate cell) once they ran.
ASSUMED_T4_IMAGES_PER_SECOND: dict[str, float] = {
    "vgg16": 100, "resnet50": 250, "efficientnet_v2_m": 100, "vit_b_16": 90, "inception_resnet_v1": 350,
    "vgg16_lstm": 100, "resnet50_lstm": 250, "seresnet50_lstm": 200,
    "conv3d": 2000, "r3d_18": 500, "x3d_s": 600, "slow_r50": 250,
}

#: A grid a thesis can train in about one free Colab session per notebook, every fold kept (each subject tested
#: once): the thesis' strongest backbone and a cheaper one with the two losses it compared first, the shared
#: multi-task model with its two adaptive combinations, two temporal models with one head, and the geometry
#: models as their files say (minutes on a CPU, but for the LSTM-PB, whose time is not estimated). ``{approach: (GRID, SETTINGS)}`` of the parameters cells.
THESIS_GRIDS: dict[str, tuple[dict, dict]] = {
    "single_task": ({"model": ["inception_resnet_v1", "resnet50"], "loss": ["cross_entropy", "focal"]}, {}),
    "multitask": ({"variant": ["shared"], "loss": ["cross_entropy"], "weighting": ["precision", "uncertainty"]}, {}),
    "temporal": ({"model": ["resnet50_lstm", "r3d_18"], "heads": ["label"]}, {}),
    "descriptors": ({}, {}),
    "trajectories": ({}, {}),
    "lstm_pb": ({}, {}),
}


@dataclass
class NotebookCost:
    """One notebook's full grid: configurations x folds, GPU hours at the assumed rates, kept weights."""

    notebook: str
    configurations: int = 0
    folds: int = 0
    gpu_hours: float = 0.0
    weights_bytes: int = 0
    not_estimated: list[str] = field(default_factory=list)

    @property
    def sessions(self) -> int:
        """Free Colab sessions of ``COLAB_SESSION_HOURS`` the GPU hours span (0: no GPU needed)."""
        return math.ceil(self.gpu_hours / COLAB_SESSION_HOURS) if self.gpu_hours else 0


def kept_frames(extraction: frames.ExtractionConfig | None = None) -> int:
    """Frames 02 keeps of one SASE-FE video: its window (40-90 %) sampled at ``target_fps``."""
    total = int(SASE_FE_FPS * SASE_FE_SECONDS)
    return len(frames.sampled_indices(total, SASE_FE_FPS, extraction or frames.ExtractionConfig()))


def fold_videos(n_folds: int, val_fraction: float) -> tuple[float, float, float]:
    """Videos of one fold (on average): training, validation (a share of the training subjects), test."""
    test = SASE_FE_VIDEOS / n_folds
    rest = SASE_FE_VIDEOS - test
    return rest * (1 - val_fraction), rest * val_fraction, test


def fold_images(config: ExperimentConfig, n_folds: int) -> float | None:
    """Images one fold of ``config`` passes through its model: every epoch's training and validation items,
    then the test items once (validation and test counted like training steps, as the notebooks' estimate
    does); None when ``config`` trains no network on crops (Rank-SVMs, landmark sequences)."""
    if not hasattr(config, "input_size") or config.input_size is None:
        return None
    train, val, test = fold_videos(n_folds, config.val_fraction)
    every = kept_frames()
    if getattr(config, "clip_len", None):  # clips of clip_len frames
        clip = config.clip_len
        per_epoch = train * config.clips_per_video * clip + val * config.eval_clips_per_video * clip
        tested = test * config.eval_clips_per_video * clip
    else:
        streams = 2 if getattr(config, "variant", None) == "fusion" else 1  # face and context crops
        per_epoch = streams * (train * (config.frames_per_video or every)
                               + val * (getattr(config, "val_frames_per_video", None) or every))
        tested = streams * test * (config.eval_frames_per_video or every)
    return config.train.epochs * per_epoch + tested


def grid_costs(profile: str = "full", grids: Mapping[str, tuple[dict, dict]] | None = None
               ) -> dict[str, NotebookCost]:
    """``{notebook: cost}`` of every registered approach's grid of ``profile`` (changed by ``grids``:
    ``{approach: (GRID, SETTINGS)}``, the other approaches as their files say; only those named when given)."""
    n_folds = profiles.get_profile(profile).n_folds
    costs: dict[str, NotebookCost] = {}
    for approach in approaches.APPROACHES:
        if grids is not None and approach not in grids:
            continue
        grid, settings = (grids or {}).get(approach, ({}, {}))
        configs = approaches.grid(profile, approach, grid, settings)
        cost = costs.setdefault(approaches.notebook_of(approach), NotebookCost(approaches.notebook_of(approach)))
        for config in configs:
            cost.configurations += 1
            cost.folds += len(config.folds)
            images = fold_images(config, n_folds)
            rate = ASSUMED_T4_IMAGES_PER_SECOND.get(config.model)
            if images is None or rate is None:
                cost.not_estimated.append(f"{approach}/{config.run_name}")
                continue
            cost.gpu_hours += len(config.folds) * images / rate / 3600
        pending = [(config, fold) for config in configs for fold in config.folds]
        cost.weights_bytes += sum(item.total for item in budget.grid_items(pending) if item.what == "weights")
    return dict(sorted(costs.items()))


def crops_bytes(extraction: frames.ExtractionConfig | None = None) -> int:
    """The packed crops 02 writes for SASE-FE (uint8, face and context)."""
    extraction = extraction or frames.ExtractionConfig()
    index = pd.DataFrame({"frames": [int(SASE_FE_FPS * SASE_FE_SECONDS)] * SASE_FE_VIDEOS,
                          "fps": [SASE_FE_FPS] * SASE_FE_VIDEOS})
    return budget.crop_bytes(index, extraction)


def landmarks_bytes(extraction: frames.ExtractionConfig | None = None) -> int:
    """The 68 landmarks of every kept frame (float32 x and y)."""
    return SASE_FE_VIDEOS * kept_frames(extraction) * LANDMARK_POINTS * 2 * FLOAT32_BYTES


def gigabytes(size: float) -> str:
    """``1.94 GB`` (10^9 bytes: what Drive counts)."""
    return f"{size / 1e9:.2f} GB"


def hours(value: float) -> str:
    return f"{value:.1f} h"


def page_numbers() -> dict[str, Any]:
    """Every number the reproduce page quotes, formatted as it shows them."""
    default = frames.ExtractionConfig()
    large = frames.ExtractionConfig(size=224)
    full = grid_costs("full")
    thesis = grid_costs("full", THESIS_GRIDS)
    return {
        "kept_frames": kept_frames(default),
        "crops_112": gigabytes(crops_bytes(default)),
        "crops_224": gigabytes(crops_bytes(large)),
        "landmarks": f"{landmarks_bytes(default) / 1e6:.1f} MB",
        "full": {name: (cost.configurations, cost.folds, hours(cost.gpu_hours), cost.sessions,
                        gigabytes(cost.weights_bytes)) for name, cost in full.items()},
        "thesis": {name: (cost.configurations, cost.folds, hours(cost.gpu_hours), cost.sessions,
                          gigabytes(cost.weights_bytes)) for name, cost in thesis.items()},
        "full_total": hours(sum(cost.gpu_hours for cost in full.values())),
        "thesis_total": hours(sum(cost.gpu_hours for cost in thesis.values())),
    }
