"""PyTorch datasets over the packed face crops of notebook 02, and the loaders that feed the training loop.

Each video's crops are one uint8 ``.npy`` array ``T x H x W x 3`` (see ``helpers.frames``). A
``FrameDataset`` indexes (video, frame) pairs and reads single frames from **memory-mapped** arrays: only
the pages of the frames actually used are read, and each DataLoader worker opens the files lazily (an
open memory map is never pickled into a worker).

The workers do only the deterministic part (read a frame, optionally shrink it) and return **uint8**
tensors, which are 4x cheaper to copy to the GPU than floats. ``BatchTransform`` then does the rest on
the training device, on the whole batch: scale to [0, 1], optional augmentation (horizontal flip, small
rotation, colour jitter, per sample), resize to the model's input size and normalise. Augmentation draws
from torch's global RNG, which the training loop seeds per epoch, so a resumed run draws the same
augmentations as an uninterrupted one (random state inside persistent workers would not survive a resume).

The thesis found that augmentation *hurt* on SASE-FE, so it is off unless asked for.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Sampler

from helpers import labels, results
from helpers.models import IMAGENET_NORMALIZATION, model_entry

TARGETS = {"label": len(labels.CLASS_NAMES), "emotion": len(labels.EMOTIONS), "authenticity": len(labels.AUTHENTICITY)}
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "label": labels.CLASS_NAMES, "emotion": labels.EMOTIONS, "authenticity": labels.AUTHENTICITY,
}
CROP_PATH_COLUMN = "crop_path"


def num_classes(target: str) -> int:
    """Number of classes of a task: ``label`` (12 classes), ``emotion`` (6) or ``authenticity`` (2)."""
    try:
        return TARGETS[target]
    except KeyError:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}") from None


# --------------------------------------------------------------------------------------------------
# Packed arrays
# --------------------------------------------------------------------------------------------------


def packed_shape(path: str | os.PathLike) -> tuple[int, ...]:
    """Shape of a ``.npy`` file, read from its header only (no data, no memory map kept open)."""
    with open(path, "rb") as file:
        version = np.lib.format.read_magic(file)
        if version == (1, 0):
            return tuple(np.lib.format.read_array_header_1_0(file)[0])
        if version == (2, 0):
            return tuple(np.lib.format.read_array_header_2_0(file)[0])
    return tuple(np.load(path, mmap_mode="r").shape)  # rarer header versions


def select_frames(n_frames: int, frames_per_video: int | None) -> np.ndarray:
    """Indices of ``frames_per_video`` frames spread evenly over ``n_frames`` (all when ``None`` or more)."""
    if n_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    if frames_per_video is None or frames_per_video >= n_frames:
        return np.arange(n_frames, dtype=np.int64)
    return np.unique(np.linspace(0, n_frames - 1, num=max(1, frames_per_video)).round().astype(np.int64))


def video_targets(videos: pd.DataFrame) -> pd.DataFrame:
    """The three labels of each video (12-class, emotion, authenticity) as int64 columns."""
    label = videos["label"].astype("int64").to_numpy()
    emotion = np.array([labels.split_class_index(int(v))[0] for v in label], dtype=np.int64)
    authenticity = np.array([labels.split_class_index(int(v))[1] for v in label], dtype=np.int64)
    return pd.DataFrame({"label": label, "emotion": emotion, "authenticity": authenticity}, index=videos.index)


class FrameDataset(torch.utils.data.Dataset):
    """Single frames of packed face-crop videos, with the labels of their video.

    ``videos``: one row per video with ``subject``, ``code``, ``label`` (0-11) and ``crop_path`` (the packed
    ``.npy``; see ``attach_crop_paths``). Each item is a dict:
    ``image`` uint8 ``[3, H, W]``; ``label`` (0-11), ``emotion`` (0-5), ``authenticity`` (0 posed, 1 genuine);
    ``video`` (row number in ``videos``, to aggregate predictions per video) and ``frame`` (index in the
    packed array).

    ``frames_per_video`` keeps that many evenly spaced frames of each video (``None``: all of them).
    ``size`` resizes frames in the worker (``None``: keep the stored size; the device-side ``BatchTransform``
    resizes to the model's input size anyway, so shrinking here only saves copying).
    """

    def __init__(self, videos: pd.DataFrame, frames_per_video: int | None = None, size: int | None = None):
        missing = {"subject", "code", "label", CROP_PATH_COLUMN} - set(videos.columns)
        if missing:
            raise ValueError(f"the videos table lacks {', '.join(sorted(missing))} (see attach_crop_paths)")
        self.videos = videos.reset_index(drop=True)
        self.paths = [str(p) for p in self.videos[CROP_PATH_COLUMN]]
        self.targets = video_targets(self.videos).to_numpy()
        self.size = size
        self.frames_per_video = frames_per_video
        video_ids, frame_ids = [], []
        for video_id, path in enumerate(self.paths):
            chosen = select_frames(packed_shape(path)[0], frames_per_video)
            video_ids.append(np.full(len(chosen), video_id, dtype=np.int64))
            frame_ids.append(chosen)
        self.video_ids = np.concatenate(video_ids) if video_ids else np.zeros(0, dtype=np.int64)
        self.frame_ids = np.concatenate(frame_ids) if frame_ids else np.zeros(0, dtype=np.int64)
        self._arrays: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.video_ids)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_arrays"] = {}  # each worker opens its own memory maps
        return state

    def array(self, video_id: int) -> np.ndarray:
        """The packed crops of one video, memory-mapped on first use in this process."""
        array = self._arrays.get(video_id)
        if array is None:
            array = self._arrays[video_id] = np.load(self.paths[video_id], mmap_mode="r")
        return array

    def image(self, video_id: int, frame: int) -> Tensor:
        # HWC -> CHW in NumPy: one copy out of the memory map (torch's permute().contiguous() on uint8 is
        # ~10x slower here), and a writable array for torch
        image = torch.from_numpy(np.ascontiguousarray(self.array(video_id)[frame].transpose(2, 0, 1)))
        if self.size is not None and image.shape[-2:] != (self.size, self.size):
            image = resize_uint8(image, self.size)
        return image

    def __getitem__(self, index: int) -> dict[str, Tensor | int]:
        video_id, frame = int(self.video_ids[index]), int(self.frame_ids[index])
        label, emotion, authenticity = self.targets[video_id]
        return {"image": self.image(video_id, frame), "label": int(label), "emotion": int(emotion),
                "authenticity": int(authenticity), "video": video_id, "frame": frame}

    def frame_table(self) -> pd.DataFrame:
        """One row per item: which video and frame it is (for predictions files)."""
        table = self.videos.iloc[self.video_ids][["subject", "code"]].reset_index(drop=True)
        table.insert(2, "frame", self.frame_ids)
        return table


class ClipDataset(FrameDataset):
    """Clips of consecutive crops for temporal models: ``image`` is uint8 ``[T, 3, H, W]``.

    Each video gives ``clips_per_video`` clips of ``clip_len`` crops taken every ``stride`` crops
    (``helpers.frames.clip_indices``; a video shorter than a clip repeats its last crop). ``frame`` is the
    position of the clip's first crop. Several clips per video at test time give several rows per video in
    the predictions; ``evaluate.video_level`` averages their scores.

    ``mode``: ``"uniform"`` spreads the clips evenly (deterministic: validation and test);
    ``"random"`` draws each clip's start again at every access (training-time jitter), from torch's global
    RNG, which the training loop reseeds per epoch (reproducible with ``workers=0``).
    ``window``: ``"all"`` samples over the whole stored crops; ``"onset_apex"`` only over the onset-to-apex
    segment of each video found by ``onset_apex_segment`` (the authenticity cues live in the dynamics).
    """

    def __init__(self, videos: pd.DataFrame, clip_len: int = 8, stride: int = 1, clips_per_video: int = 1,
                 size: int | None = None, mode: str = "uniform", window: str = "all"):
        from helpers import frames

        if mode not in ("uniform", "random"):
            raise ValueError(f"mode must be 'uniform' or 'random', got {mode!r}")
        if window not in ("all", "onset_apex"):
            raise ValueError(f"window must be 'all' or 'onset_apex', got {window!r}")
        super().__init__(videos, frames_per_video=None, size=size)
        self.clip_len, self.stride, self.clips_per_video = clip_len, stride, clips_per_video
        self.mode, self.window = mode, window
        clips, video_ids, segments = [], [], []
        for video_id, path in enumerate(self.paths):
            n_frames = packed_shape(path)[0]
            start, end = onset_apex_segment(self.array(video_id)) if window == "onset_apex" else (0, n_frames)
            chosen = frames.clip_indices(end - start, clip_len, stride, "uniform", clips_per_video) + start
            clips.append(np.minimum(chosen, n_frames - 1))
            video_ids.append(np.full(len(chosen), video_id, dtype=np.int64))
            segments.append((start, end))
        self._arrays = {}  # opened above for the segments: each worker opens its own
        self.segments = np.array(segments, dtype=np.int64).reshape(-1, 2)  # [start, end) per video
        self.clips = np.concatenate(clips) if clips else np.zeros((0, clip_len), dtype=np.int64)
        self.video_ids = np.concatenate(video_ids) if video_ids else np.zeros(0, dtype=np.int64)
        self.frame_ids = self.clips[:, 0] if len(self.clips) else np.zeros(0, dtype=np.int64)

    def positions(self, index: int) -> np.ndarray:
        """The crops of clip ``index`` (drawn afresh in ``"random"`` mode)."""
        if self.mode == "uniform":
            return self.clips[index]
        start, end = (int(v) for v in self.segments[self.video_ids[index]])
        span = (self.clip_len - 1) * self.stride + 1
        first = start + int(torch.randint(0, max(0, end - start - span) + 1, ()).item())
        return np.minimum(first + self.stride * np.arange(self.clip_len), end - 1)

    def clip(self, video_id: int, positions: np.ndarray) -> Tensor:
        # one fancy-indexed read per clip, then HWC -> CHW per crop in NumPy
        pixels = np.ascontiguousarray(self.array(video_id)[positions].transpose(0, 3, 1, 2))
        clip = torch.from_numpy(pixels)
        if self.size is not None and clip.shape[-2:] != (self.size, self.size):
            clip = torch.stack([resize_uint8(image, self.size) for image in clip])
        return clip

    def __getitem__(self, index: int) -> dict[str, Tensor | int]:
        video_id = int(self.video_ids[index])
        label, emotion, authenticity = self.targets[video_id]
        positions = self.positions(index)
        return {"image": self.clip(video_id, positions), "label": int(label), "emotion": int(emotion),
                "authenticity": int(authenticity), "video": video_id, "frame": int(positions[0])}


def onset_apex_segment(crops: np.ndarray, low: float = 0.1, high: float = 0.9, margin: int = 1,
                       min_length: int = 4) -> tuple[int, int]:
    """``[start, end)`` of the onset-to-apex segment of one video's crops ``T x H x W x 3``, from pixels.

    The change of each crop from the first one (mean absolute difference of 16x16 grey thumbnails) rises
    from neutral to apex; the onset starts where it first exceeds ``low`` of its range and the apex is where
    it first reaches ``high``. ``margin`` crops are added on both sides and the segment is widened to at
    least ``min_length`` crops. A video without a clear rise gives the whole video.

    A heuristic: head motion and lighting change the pixels too. On the synthetic demo crops (17 per video)
    its boundaries are off by about 3 crops each on average against the ground truth, so check it on your
    data (or pass known segments) before relying on ``window="onset_apex"``.
    """
    n = len(crops)
    if n < 3:
        return 0, n
    step = max(1, min(crops.shape[1], crops.shape[2]) // 16)
    grey = np.asarray(crops[:, ::step, ::step], dtype=np.float32).mean(axis=-1)
    change = np.abs(grey - grey[:1]).mean(axis=(1, 2))
    change = np.convolve(np.pad(change, 1, mode="edge"), np.ones(3) / 3, mode="valid")  # light smoothing
    lo, hi = float(change.min()), float(change.max())
    if hi - lo < 1e-6:
        return 0, n
    level = (change - lo) / (hi - lo)
    start = int(np.argmax(level > low))
    apex = int(np.argmax(level >= high))
    start, end = max(0, start - margin), min(n, max(apex, start) + 1 + margin)
    while end - start < min(min_length, n):
        start, end = max(0, start - 1), min(n, end + 1)
    return start, end


def resize_uint8(image: Tensor, size: int) -> Tensor:
    """Resize a uint8 ``[3, H, W]`` image to ``size x size`` (antialiased when shrinking)."""
    resized = F.interpolate(image[None].float(), size=(size, size), mode="bilinear", antialias=True,
                            align_corners=False)
    return resized[0].round().clamp(0, 255).to(torch.uint8)


def attach_crop_paths(videos: pd.DataFrame, crops_dir: str | os.PathLike, kind: str = "face",
                      drop_missing: bool = True) -> pd.DataFrame:
    """``videos`` with a ``crop_path`` column pointing at each video's packed crops in ``crops_dir`` (the
    folder of one extraction configuration, ``helpers.frames.Extraction.root``).

    Videos without crops (no face found, undecodable) are dropped with a warning (or kept with an empty
    path when ``drop_missing=False``).
    """
    from helpers import frames

    table = videos.copy()
    table[CROP_PATH_COLUMN] = [str(frames.video_files(Path(crops_dir), s, c)[kind])
                               for s, c in zip(table["subject"].astype(str), table["code"].astype(str))]
    exists = table[CROP_PATH_COLUMN].map(lambda p: Path(p).exists())
    if not exists.all():
        lost = table.loc[~exists, ["subject", "code"]].astype(str).agg("/".join, axis=1).tolist()
        warnings.warn(f"{len(lost)} video(s) have no crops in {crops_dir} and are left out: {', '.join(lost[:8])}"
                      + (" ..." if len(lost) > 8 else ""), stacklevel=2)
        if drop_missing:
            table = table[exists]
        else:
            table.loc[~exists, CROP_PATH_COLUMN] = ""
    return table.reset_index(drop=True)


def stage_locally(crops_dir: str | os.PathLike, local_root: str | os.PathLike,
                  patterns: tuple[str, ...] = ("*.face.npy", "*.context.npy", "*.json", "*.csv")) -> Path:
    """Copy a crops folder to a local disk (``<local_root>/<folder name>``) and return the copy.

    On Colab the crops live on the mounted Google Drive, where random reads of memory-mapped files are
    slow; training reads from a local copy instead. Files already copied (same size) are skipped, so
    calling this again costs only a directory listing.
    """
    import shutil

    source = Path(crops_dir)
    target = Path(local_root) / source.name
    for pattern in patterns:
        for path in source.rglob(pattern):
            if path.name.startswith("."):
                continue  # temporary files of an extraction in progress
            destination = target / path.relative_to(source)
            if destination.exists() and destination.stat().st_size == path.stat().st_size:
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            partial = destination.with_name(f".{destination.name}.partial")
            shutil.copyfile(path, partial)
            os.replace(partial, destination)  # a disconnect never leaves a truncated file under the real name
    return target


# --------------------------------------------------------------------------------------------------
# Normalisation and the device-side batch transform
# --------------------------------------------------------------------------------------------------


def dataset_channel_stats(results_dir: str | os.PathLike) -> dict | None:
    """``channel_stats`` ({mean, std}) from notebook 01's ``<results>/<profile>/dataset/summary.json``."""
    path = Path(results_dir) / "dataset" / "summary.json"
    if not path.exists():
        return None
    stats = results.read_json(path).get("channel_stats")
    return {"mean": list(stats["mean"]), "std": list(stats["std"])} if stats else None


def normalization_stats(source: str | Mapping[str, Any] = "auto", results_dir: str | os.PathLike | None = None,
                        model: str | None = None, pretrained: bool = False) -> dict[str, list[float]]:
    """Mean and std to normalise with.

    ``"dataset"``: 01's measured statistics of this dataset (falls back to ImageNet's, with a warning, when
    01 has not run); ``"imagenet"``; ``"model"``: what the model's pretrained weights expect;
    ``"auto"``: ``"model"`` for a pretrained model, else ``"dataset"``; or an explicit ``{mean, std}``.
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
        stats = dataset_channel_stats(results_dir) if results_dir else None
        if stats:
            return stats
        warnings.warn("no channel statistics from notebook 01 (results/<profile>/dataset/summary.json): "
                      "normalising with ImageNet's", stacklevel=2)
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


# --------------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------------


class EpochShuffleSampler(Sampler[int]):
    """A random order that depends only on (seed, epoch): every process of a multi-GPU run draws the same
    order, and a resumed run continues with exactly the orders an uninterrupted run would have used."""

    def __init__(self, length: int, seed: int = 0):
        self.length = length
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.length, generator=generator).tolist())


def default_workers() -> int:
    """Loader processes: all but one CPU core, at most 8 (reading memory-mapped crops is light work)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(8, cpus - 1))


def make_loader(dataset: torch.utils.data.Dataset, batch_size: int, train: bool, seed: int = 0,
                workers: int | None = None, drop_last: bool | None = None) -> DataLoader:
    """A DataLoader for the training loop: shuffled by epoch when ``train``, in order otherwise.

    Workers stay alive between epochs (``persistent_workers``), pinned memory is used when a GPU is there,
    and the last incomplete training batch is dropped (a batch of one breaks batch norm) unless it is the
    only one.
    """
    workers = default_workers() if workers is None else workers
    if drop_last is None:
        drop_last = train and len(dataset) > batch_size
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochShuffleSampler(len(dataset), seed) if train else None,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        drop_last=drop_last,
    )
