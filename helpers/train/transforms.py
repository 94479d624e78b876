"""On the training device: the whole batch scaled, augmented (when asked), resized and normalised.

The loader workers return uint8 crops (4x cheaper to copy to the GPU than floats); ``BatchTransform`` does
the rest on the device. Augmentation draws from torch's global RNG, which the training loop seeds per epoch,
so a resumed run draws the same augmentations as an uninterrupted one. ``normalization_stats`` says what to
normalise with: notebook 01's statistics of the dataset, ImageNet's, or what a pretrained model expects.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers import results
from helpers.models import IMAGENET_NORMALIZATION, model_entry
from helpers.train.crops import crop_statistics


def resize_uint8(image: Tensor, size: int) -> Tensor:
    """Resize a uint8 ``[3, H, W]`` image to ``size x size`` (antialiased when shrinking)."""
    resized = F.interpolate(image[None].float(), size=(size, size), mode="bilinear", antialias=True,
                            align_corners=False)
    return resized[0].round().clamp(0, 255).to(torch.uint8)


def dataset_channel_stats(results_dir: str | os.PathLike) -> dict | None:
    """``channel_stats`` ({mean, std}) from notebook 01's ``<results>/<profile>/dataset/summary.json``."""
    path = Path(results_dir) / "dataset" / "summary.json"
    if not path.exists():
        return None
    stats = results.read_json(path).get("channel_stats")
    return {"mean": list(stats["mean"]), "std": list(stats["std"])} if stats else None


def normalization_stats(source: str | Mapping[str, Any] = "auto", results_dir: str | os.PathLike | None = None,
                        model: str | None = None, pretrained: bool = False,
                        train_videos: pd.DataFrame | None = None) -> dict[str, list[float]]:
    """Mean and std to normalise with.

    ``"dataset"``: measured on the fold's training crops (``train_videos``, with ``crop_path``; no test subject
    is looked at), else notebook 01's statistics of the whole frames (``results_dir``), else ImageNet's with a
    warning; ``"imagenet"``; ``"model"``: what the model's pretrained weights expect; ``"auto"``: ``"model"``
    for a pretrained model, else ``"dataset"``; or an explicit ``{mean, std}``.
    """
    if isinstance(source, Mapping):
        return {"mean": [float(v) for v in source["mean"]], "std": [float(v) for v in source["std"]]}
    if source == "auto":
        source = "model" if pretrained else "dataset"
    if source == "model":
        expected = model_entry(model).normalization if model else None
        if expected:
            return {"mean": list(expected["mean"]), "std": list(expected["std"])}
        source = "dataset"
    if source == "dataset":
        if train_videos is not None and len(train_videos):
            return crop_statistics(train_videos)
        stats = dataset_channel_stats(results_dir) if results_dir else None
        if stats:
            return stats
        warnings.warn("no training crops and no channel statistics from notebook 01 "
                      "(results/<profile>/dataset/summary.json): normalising with ImageNet's", stacklevel=2)
        source = "imagenet"
    if source == "imagenet":
        return {"mean": list(IMAGENET_NORMALIZATION["mean"]), "std": list(IMAGENET_NORMALIZATION["std"])}
    raise ValueError(f"unknown normalisation {source!r}: use auto, dataset, imagenet, model or {{mean, std}}")


class BatchTransform(nn.Module):
    """uint8 batch ``[B, 3, H, W]`` (or clips ``[B, T, 3, H, W]``) -> normalised float batch at ``image_size``,
    augmented when training.

    Runs on the training device. Augmentation (only with ``augment=True`` and ``training=True``), per sample
    (the frames of one clip share the same draw): horizontal flip (p = 0.5), rotation by up to
    ``max_rotation`` degrees, brightness/contrast/saturation scaled by a factor in [1 - colour, 1 + colour].
    """

    def __init__(self, mean: list[float], std: list[float], image_size: int | None = None, augment: bool = False,
                 max_rotation: float = 10.0, colour: float = 0.2):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.image_size = image_size
        self.augment = augment
        self.max_rotation = max_rotation
        self.colour = colour

    @classmethod
    def for_run(cls, run_config: Mapping[str, Any]) -> BatchTransform:
        """The evaluation transform of a trained fold (its ``config.json``): the normalisation it measured and
        its input size, no augmentation."""
        stats = run_config.get("normalization_stats")
        if not stats:
            raise ValueError(f"the run {run_config.get('run_id') or run_config.get('run')} (fold "
                             f"{run_config.get('fold')}) has no normalization_stats: it does not read images")
        return cls(stats["mean"], stats["std"], run_config.get("image_size"))

    def forward(self, images: Tensor, training: bool = False) -> Tensor:
        if images.ndim == 5:  # clips: frames of a clip are transformed alike
            batch, length = images.shape[:2]
            out = self._images(images.flatten(0, 1), training, repeats=length)
            return out.unflatten(0, (batch, length))
        return self._images(images, training)

    def _images(self, images: Tensor, training: bool, repeats: int = 1) -> Tensor:
        if self.mean.device != images.device:
            self.to(images.device)
        scale = 255.0 if images.dtype == torch.uint8 else 1.0
        x = images.float() if images.dtype != torch.float32 else images.clone()  # a fresh tensor: edited in place
        if self.image_size is not None and x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.image_size)
        if training and self.augment:
            x = self._augment(x / scale, repeats)
            scale = 1.0
        # (x / scale - mean) / std as one in-place multiply-add: no temporary batch-sized tensors
        return x.mul_(1.0 / (self.std * scale)).add_(-self.mean / self.std)

    def _augment(self, x: Tensor, repeats: int = 1) -> Tensor:
        groups = x.shape[0] // repeats

        def draw(*shape: int) -> Tensor:
            """Uniform [0, 1) numbers, one per group of ``repeats`` consecutive images."""
            return torch.rand(groups, *shape, device=x.device).repeat_interleave(repeats, dim=0)

        n = x.shape[0]
        flip = draw() < 0.5
        x = torch.where(flip.view(n, 1, 1, 1), x.flip(-1), x)
        if self.max_rotation > 0:
            angles = (draw() * 2 - 1) * math.radians(self.max_rotation)
            cos, sin = torch.cos(angles), torch.sin(angles)
            zeros = torch.zeros_like(cos)
            theta = torch.stack([torch.stack([cos, -sin, zeros], 1), torch.stack([sin, cos, zeros], 1)], 1)
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        if self.colour > 0:
            def factor() -> Tensor:
                return 1 + (draw(1, 1, 1) * 2 - 1) * self.colour

            x = x * factor()  # brightness
            grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
            mean_grey = grey.mean(dim=(2, 3), keepdim=True)
            x = (x - mean_grey) * factor() + mean_grey  # contrast
            grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
            x = (x - grey) * factor() + grey  # saturation
        return x.clamp_(0.0, 1.0)


class IdentityTransform(nn.Module):
    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        return x


