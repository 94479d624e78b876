"""PyTorch datasets over the packed face crops of notebook 02: frames (03, 04), face + context (04's fusion),
clips (05) and clips of cached features (05).

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

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from helpers import frames, labels
from helpers.train.crops import CONTEXT_PATH_COLUMN, CROP_PATH_COLUMN, packed_shape, select_frames
from helpers.train.transforms import resize_uint8


FRAME_SELECTIONS = ("even", "expressive")


class FrameDataset(torch.utils.data.Dataset):
    """Single frames of packed face-crop videos, with the labels of their video.

    ``videos``: one row per video with ``subject``, ``code``, ``label`` (0-11) and ``crop_path`` (the packed
    ``.npy``; see ``attach_crop_paths``). Each item is a dict:
    ``image`` uint8 ``[3, H, W]``; ``label`` (0-11), ``emotion`` (0-5), ``authenticity`` (0 posed, 1 genuine);
    ``video`` (row number in ``videos``, to aggregate predictions per video) and ``frame`` (index in the
    packed array).

    ``frames_per_video`` keeps that many frames of each video (``None``: all of them): evenly spaced
    (``selection="even"``) or those farthest from the video's first frame (``"expressive"``, ``expressive_frames``).
    ``size`` resizes frames in the worker (``None``: keep the stored size; the device-side ``BatchTransform``
    resizes to the model's input size anyway, so shrinking here only saves copying).
    """

    def __init__(self, videos: pd.DataFrame, frames_per_video: int | None = None, size: int | None = None,
                 selection: str = "even"):
        if selection not in FRAME_SELECTIONS:
            raise ValueError(f"selection must be one of {', '.join(FRAME_SELECTIONS)}, got {selection!r}")
        missing = {"subject", "code", "label", CROP_PATH_COLUMN} - set(videos.columns)
        if missing:
            raise ValueError(f"the videos table lacks {', '.join(sorted(missing))} (see attach_crop_paths)")
        self.videos = videos.reset_index(drop=True)
        self.paths = [str(p) for p in self.videos[CROP_PATH_COLUMN]]
        self.targets = labels.video_targets(self.videos).to_numpy()
        self.size = size
        self.frames_per_video = frames_per_video
        video_ids, frame_ids = [], []
        for video_id, path in enumerate(self.paths):
            n_frames = packed_shape(path)[0]  # a damaged file is named here, whatever the selection
            chosen = (expressive_frames(np.load(path, mmap_mode="r"), frames_per_video) if selection == "expressive"
                      else select_frames(n_frames, frames_per_video))
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


def change_from_first(crops: np.ndarray) -> np.ndarray:
    """How far each crop of one video (``T x H x W x 3``) is from its first: the mean absolute difference of
    about 16 x 16 grey thumbnails (the expression's rise from a neutral start, plus head motion and lighting)."""
    step = max(1, min(crops.shape[1], crops.shape[2]) // 16)
    grey = np.asarray(crops[:, ::step, ::step], dtype=np.float32).mean(axis=-1)
    return np.abs(grey - grey[:1]).mean(axis=(1, 2))


def expressive_frames(crops: np.ndarray, frames_per_video: int | None) -> np.ndarray:
    """Indices, in order, of the ``frames_per_video`` crops farthest from the video's first (``change_from_first``):
    the frames where the expression shows most, if the video starts neutral (all frames when ``None`` or more)."""
    if frames_per_video is None or frames_per_video >= len(crops):
        return np.arange(len(crops), dtype=np.int64)
    farthest = np.argsort(-change_from_first(crops), kind="stable")[: max(1, frames_per_video)]
    return np.sort(farthest).astype(np.int64)


def onset_apex_segment(crops: np.ndarray, low: float = 0.1, high: float = 0.9, margin: int = 1,
                       min_length: int = 4) -> tuple[int, int]:
    """``[start, end)`` of the onset-to-apex segment of one video's crops ``T x H x W x 3``, from pixels.

    The change of each crop from the first one (mean absolute difference of 16x16 grey thumbnails) rises
    from neutral to apex; the onset starts where it first exceeds ``low`` of its range and the apex is where
    it first reaches ``high``. ``margin`` crops are added on both sides and the segment is widened to at
    least ``min_length`` crops. A video without a clear rise gives the whole video.

    A heuristic: head motion and lighting change the pixels too, so check it on your data (or pass known
    segments) before relying on ``window="onset_apex"``.
    """
    n = len(crops)
    if n < 3:
        return 0, n
    change = change_from_first(crops)
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


class FaceContextDataset(FrameDataset):
    """``FrameDataset`` items plus ``context``: the context crop (uint8 ``[3, H, W]``) of the same frame.

    ``videos`` needs a ``context_path`` column (``attach_context_paths``) besides ``crop_path``; the face and
    context arrays of a video have the same frames (02 cuts both from the same decoded frame).
    """

    def __init__(self, videos: pd.DataFrame, frames_per_video: int | None = None, size: int | None = None,
                 selection: str = "even"):
        if CONTEXT_PATH_COLUMN not in videos.columns:
            raise ValueError(f"the videos table lacks {CONTEXT_PATH_COLUMN} (see attach_context_paths)")
        super().__init__(videos, frames_per_video, size, selection)
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
            image = resize_uint8(image, self.size)
        return image

    def __getitem__(self, index: int) -> dict[str, Tensor | int]:
        item = super().__getitem__(index)
        item["context"] = self.context(int(item["video"]), int(item["frame"]))
        return item


class FeatureClipDataset(ClipDataset):
    """``ClipDataset`` over cached features: ``image`` is float ``[T, D]`` (same sampling options).

    ``videos[crop_path]`` points at feature files (``cache_frame_features``); ``window="onset_apex"`` needs
    the pixels, so pass ``segments_from`` (the crops table) to find the segments on them.
    """

    def __init__(self, videos: pd.DataFrame, clip_len: int = 8, stride: int = 1, clips_per_video: int = 1,
                 mode: str = "uniform", window: str = "all", segments_from: pd.DataFrame | None = None):
        super().__init__(videos, clip_len, stride, clips_per_video, None, mode, "all")
        if window == "onset_apex":
            if segments_from is None:
                raise ValueError("window='onset_apex' on features needs segments_from (the crops table)")
            pixels = ClipDataset(segments_from, clip_len, stride, clips_per_video, None, mode, window)
            self.window, self.segments, self.clips = window, pixels.segments, pixels.clips
            self.video_ids, self.frame_ids = pixels.video_ids, pixels.frame_ids

    def clip(self, video_id: int, positions: np.ndarray) -> Tensor:
        return torch.from_numpy(np.asarray(self.array(video_id)[positions], dtype=np.float32))


