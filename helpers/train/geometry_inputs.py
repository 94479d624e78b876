"""What the models of facial geometry over time read: each video's landmarks (notebook 02) turned into
activity descriptors (one vector per video) or into per-frame sequences.

A fold's tables point at each video's packed face crops (``crop_path``); the landmarks and the frames table
of the same extraction lie beside them (``helpers.frames``). ``video_geometry`` reads one video: its 68
landmarks per kept frame registered to the mean face, the frames whose fit failed, the rate of the kept
frames (SASE-FE keeps 10 of its 100 frames per second, the synthetic videos about 8 of 25) and the
action-unit proxies (``helpers.geometry``). Reading is cached per process: the grid's configurations and
folds read the same videos again and again.

- ``DescriptorDataset``: one item per video, ``features`` = its activity descriptors (``helpers.geometry``;
  which columns, squared terms or not, and from which source: ``DescriptorSettings``), its partner's
  (zeros without one) and, last, whether the video has a partner in its split (two videos of its subject
  and emotion);
- ``TrajectoryDataset``: one item per video, ``sequence`` = its per-frame features (registered landmarks or
  the proxies) padded to the longest video, then a channel marking real frames, then (for models given the
  emotion) the emotion's one-hot code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from helpers import frames, geometry, labels
from helpers.train.crops import CROP_PATH_COLUMN
from helpers.train import protocol_scoring

INPUTS = ("landmarks", "proxies")
LANDMARK_FRAMES = ("kept", "whole_video")


@dataclass(frozen=True)
class VideoGeometry:
    """One video's geometry: registered landmarks ``[T, 68, 2]``, which frames fitted well, the kept frames'
    times in the video (s) and rate, and the action-unit proxies (``[T, proxies]``, failed frames interpolated)."""

    points: np.ndarray
    ok: np.ndarray
    times: np.ndarray
    fps: float
    proxies: pd.DataFrame
    code: str  # the video's SASE-FE code (its emotion is part of the descriptors)

    crop_path: str = ""  # the face crops it belongs to (an AU model reads them)

    @cached_property
    def descriptors(self) -> np.ndarray:
        """The activity descriptors and emotion code (``geometry.DESCRIPTOR_NAMES``), computed once per video:
        every configuration and fold reads the same videos."""
        emotion = labels.parse_code(self.code).emotion
        return geometry.video_descriptors(self.proxies, self.fps, emotion).to_numpy()


@dataclass(frozen=True)
class DescriptorSettings:
    """What a video's descriptor vector holds: the action-unit set's columns (``geometry.ACTION_UNIT_SETS``),
    the squared statistics or not, and the source of the series: the landmark proxies or an AU model
    (``geometry.AU_SOURCES``; with an AU model, the set's columns that it gives)."""

    action_units: str = "proxies"
    squared_terms: bool = False
    au_source: str = geometry.LANDMARK_SOURCE
    landmark_frames: str = "kept"  # or "whole_video": every frame of the whole video (whole_video_landmarks)

    def __post_init__(self):
        geometry.action_unit_columns(self.action_units)
        geometry.check_au_source(self.au_source)
        if self.landmark_frames not in LANDMARK_FRAMES:
            raise ValueError(f"landmark_frames must be one of {', '.join(LANDMARK_FRAMES)}, got {self.landmark_frames!r}")
        if self.landmark_frames == "whole_video" and self.au_source != geometry.LANDMARK_SOURCE:
            raise ValueError("landmark_frames='whole_video' is for the landmark proxies: an AU model reads the face "
                             "crops (the kept frames)")

    @property
    def columns(self) -> tuple[str, ...]:
        columns = geometry.action_unit_columns(self.action_units)
        if self.au_source == geometry.LANDMARK_SOURCE:
            return columns
        return tuple(column for column in columns if column in geometry.AU_MODEL_COLUMNS.values())

    @property
    def names(self) -> tuple[str, ...]:
        return geometry.video_descriptor_names(self.columns, self.squared_terms)


def video_series(video: VideoGeometry, au_source: str) -> pd.DataFrame:
    """The per-frame series the descriptors summarise: the video's proxies, or its AU model's intensities on
    its face crops (cached per process like the geometry)."""
    if au_source == geometry.LANDMARK_SOURCE:
        return video.proxies
    key = (video.crop_path, au_source)
    if key not in _AU_SERIES:
        crop_path = Path(video.crop_path)
        faces = frames.load_crops(crop_path.parents[1], crop_path.parent.name, video.code, "face")
        source = f"AU source {au_source!r} on {crop_path.parent.name}/{video.code}"
        _AU_SERIES[key] = geometry.au_model_series(np.asarray(faces), geometry.load_au_detector(au_source), source)
    return _AU_SERIES[key]


def video_descriptors(video: VideoGeometry, settings: DescriptorSettings) -> np.ndarray:
    """One video's descriptor vector under ``settings`` (``settings.names``), computed once per process."""
    if settings == DescriptorSettings():
        return video.descriptors
    key = (video.crop_path, settings)
    if key not in _DESCRIPTORS:
        if settings.landmark_frames == "whole_video":
            video = video_geometry(video.crop_path, whole_video=True)
        emotion = labels.parse_code(video.code).emotion
        series = video_series(video, settings.au_source)
        _DESCRIPTORS[key] = geometry.video_descriptors(series, video.fps, emotion, columns=settings.columns,
                                                       squared_terms=settings.squared_terms).to_numpy()
    return _DESCRIPTORS[key]


_CACHE: dict[tuple[str, float], VideoGeometry] = {}
_AU_SERIES: dict[tuple[str, str], pd.DataFrame] = {}
_DESCRIPTORS: dict[tuple[str, DescriptorSettings], np.ndarray] = {}
_REPORTED: set[str] = set()


class GeometryUnavailable(ValueError):
    """A video whose geometry cannot be computed: fewer than two kept frames, or no frame whose landmarks
    passed their checks (a blurred or turned face). The message names the video."""


def kept_fps(times: np.ndarray) -> float:
    """The rate of a video's kept frames from their times in seconds (1 / the median step)."""
    steps = np.diff(np.asarray(times, dtype=float))
    steps = steps[steps > 0]
    if not len(steps):
        raise ValueError("a video needs two kept frames at different times to have a frame rate")
    return float(1.0 / np.median(steps))


def video_geometry(crop_path: str | Path, whole_video: bool = False) -> VideoGeometry:
    """The geometry of the video whose face crops are ``crop_path`` (its landmarks and frames table beside
    them; ``whole_video``: those of every frame of the whole video); raises ``FileNotFoundError`` naming
    notebook 02 (or the extraction setting) when the extraction kept no such landmarks."""
    crop_path = Path(crop_path)
    crops_dir, subject = crop_path.parents[1], crop_path.parent.name
    code = crop_path.name.split(".")[0]
    files = frames.video_files(crops_dir, subject, code)
    landmarks_file, frames_file = (files["whole_landmarks"], files["whole_frames"]) if whole_video else (
        files["landmarks"], files["frames"])
    if whole_video and not landmarks_file.exists():
        raise FileNotFoundError(f"no whole-video landmarks for {subject}/{code} in {crops_dir}: extract with "
                                "ExtractionConfig(whole_video_landmarks=True) (an experiment's setting "
                                "extraction: {whole_video_landmarks: true})")
    if not landmarks_file.exists():
        raise FileNotFoundError(f"no landmarks for {subject}/{code} in {crops_dir}: extract the faces with "
                                "landmarks (notebook 02, ExtractionConfig(landmarks=True), the default)")
    key = (str(landmarks_file), landmarks_file.stat().st_mtime)
    if key not in _CACHE:
        table = pd.read_csv(frames_file)
        points = np.load(landmarks_file) if whole_video else frames.load_landmarks(crops_dir, subject, code)
        ok = table["landmarks_ok"].to_numpy(bool) if "landmarks_ok" in table else np.isfinite(points).all(axis=(1, 2))
        times = table["time_s"].to_numpy(float)
        try:
            _CACHE[key] = VideoGeometry(geometry.register(points), ok, times, kept_fps(times),
                                        geometry.au_proxies(points, ok), code,  # au_proxies registers itself
                                        str(crop_path))
        except ValueError as error:
            raise GeometryUnavailable(f"{subject}/{code} ({crops_dir}): {error}") from error
    return _CACHE[key]


def with_geometry(videos: pd.DataFrame, report: bool = True) -> pd.DataFrame:
    """The rows of ``videos`` whose geometry can be computed; each video left out is named in one printed line
    with the reason (``report``), so that one unusable video costs its own prediction, not the fold's."""
    usable = []
    for path in videos[CROP_PATH_COLUMN]:
        try:
            video_geometry(path)
            usable.append(True)
        except GeometryUnavailable as error:
            usable.append(False)
            if report and str(error) not in _REPORTED:  # once per process, not once per configuration and fold
                _REPORTED.add(str(error))
                print(f"left out of the geometry models: {error}")
    return videos[np.asarray(usable, dtype=bool)] if len(videos) else videos


def pair_geometry(videos: pd.DataFrame, emotion: str = "happy") -> dict[str, pd.DataFrame]:
    """The action-unit proxies (with ``time_s``) of the genuine and the posed video of ``emotion`` of the first
    subject of ``videos`` (a fold's table) that has both: ``{"<subject> <code> (genuine)": table, ...}``."""
    genuine = labels.CODES[labels.class_index(emotion, True)]
    posed = labels.pair_code(genuine)
    table = videos.assign(subject=videos["subject"].astype(str), code=videos["code"].astype(str))
    table = with_geometry(table, report=False)
    subject = next((s for s, part in table.groupby("subject") if {genuine, posed} <= set(part["code"])), None)
    curves = {}
    for code in (genuine, posed) if subject is not None else ():
        video = video_geometry(table.loc[(table["subject"] == subject) & (table["code"] == code), CROP_PATH_COLUMN].iloc[0])
        kind = "genuine" if code == genuine else "posed"
        curves[f"{subject} {code} ({kind})"] = video.proxies.assign(time_s=video.times)
    return curves


def has_partner(videos: pd.DataFrame) -> np.ndarray:
    """Whether each video shares its subject and emotion with exactly one other video of ``videos`` (its pair
    in the challenge's sense; which of the two is genuine is what the model says). Only the emotion of the
    code is read, never its authenticity."""
    return partner_rows(videos) >= 0


def partner_rows(videos: pd.DataFrame) -> np.ndarray:
    """The row position of each video's partner in ``videos`` (the one other video of its subject and emotion),
    -1 where it has none or shares them with more than one."""
    emotion = [labels.parse_code(code).emotion for code in videos["code"].astype(str)]
    groups: dict[tuple[str, str], list[int]] = {}
    for row, key in enumerate(zip(videos["subject"].astype(str), emotion)):
        groups.setdefault(key, []).append(row)
    partner = np.full(len(videos), -1, dtype=np.int64)
    for rows in groups.values():
        if len(rows) == 2:
            partner[rows[0]], partner[rows[1]] = rows[1], rows[0]
    return partner


def descriptor_matrix(videos: pd.DataFrame, settings: DescriptorSettings | None = None) -> np.ndarray:
    """``[N, len(settings.names)]``: the activity descriptors and emotion code of every video."""
    settings = settings or DescriptorSettings()
    rows = [video_descriptors(video_geometry(path), settings) for path in videos[CROP_PATH_COLUMN]]
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), len(settings.names))


def frame_features(video: VideoGeometry, inputs: str) -> np.ndarray:
    """``[T, F]`` per-frame features: the registered landmarks (x, y of the 68 points) or the proxies."""
    if inputs == "landmarks":
        points = video.points.copy()
        points[~video.ok] = np.nan  # failed fits: interpolated from their neighbours, as the proxies are
        flat = pd.DataFrame(points.reshape(len(points), -1)).interpolate(limit_direction="both").to_numpy()
        return np.nan_to_num(flat).astype(np.float32)
    if inputs == "proxies":
        return video.proxies.to_numpy(np.float32)
    raise ValueError(f"inputs must be one of {', '.join(INPUTS)}, got {inputs!r}")


def n_frame_features(inputs: str) -> int:
    return 68 * 2 if inputs == "landmarks" else len(geometry.PROXIES)


class _VideoItems(torch.utils.data.Dataset):
    """One item per video of ``videos`` whose geometry can be computed (:func:`with_geometry`), with its three
    labels, ``video`` (row) and ``frame`` 0."""

    def __init__(self, videos: pd.DataFrame):
        self.videos = with_geometry(videos).reset_index(drop=True)
        self.targets = labels.video_targets(self.videos).to_numpy()

    def __len__(self) -> int:
        return len(self.videos)

    def labels_of(self, index: int) -> dict[str, int]:
        label, emotion, authenticity = self.targets[index]
        return {"label": int(label), "emotion": int(emotion), "authenticity": int(authenticity), "video": index,
                "frame": 0}


class DescriptorDataset(_VideoItems):
    """Videos as activity-descriptor vectors: ``features`` ``[2 D + 1]`` (descriptors, the partner's
    descriptors or zeros, then the partner flag). Partners share subject and emotion, or, with ``pairs``
    (``protocol_scoring.found_pairs``), are the pairs found by face identity."""

    def __init__(self, videos: pd.DataFrame, settings: DescriptorSettings | None = None,
                 pairs: pd.DataFrame | None = None):
        super().__init__(videos)
        self.descriptors = descriptor_matrix(self.videos, settings)
        # partners of one subject and emotion, or, where subjects are not to be read, the pairs found
        partner = partner_rows(self.videos) if pairs is None else protocol_scoring.partner_rows_from_pairs(
            self.videos, pairs)
        self.partnered = partner >= 0
        self.videos["partnered"] = self.partnered
        # what a ranker fitted on these videos pairs them by: the subject, or the pair found (its first video)
        rows = np.arange(len(partner))
        first_of_pair = np.minimum(rows, np.where(self.partnered, partner, rows))
        names = np.array(protocol_scoring.video_names(self.videos), dtype=object)
        self.videos["ranking_group"] = (self.videos["subject"].astype(str).to_numpy() if pairs is None
                                        else names[first_of_pair])
        partners = np.where(self.partnered[:, None], self.descriptors[np.maximum(partner, 0)], 0.0)
        self.inputs = torch.from_numpy(np.column_stack([self.descriptors, partners,
                                                        self.partnered.astype(np.float32)]).astype(np.float32))

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"features": self.inputs[index], **self.labels_of(index)}


class TrajectoryDataset(_VideoItems):
    """Videos as padded sequences of per-frame features (see the module docstring)."""

    def __init__(self, videos: pd.DataFrame, inputs: str = "landmarks", emotion_given: bool = False):
        super().__init__(videos)
        self.n_features = n_frame_features(inputs)
        sequences = [frame_features(video_geometry(path), inputs) for path in self.videos[CROP_PATH_COLUMN]]
        length = max((len(s) for s in sequences), default=1)
        width = self.n_features + 1 + (len(labels.EMOTIONS) if emotion_given else 0)
        padded = np.zeros((len(sequences), length, width), dtype=np.float32)
        for row, sequence in enumerate(sequences):
            padded[row, :len(sequence), :self.n_features] = sequence
            padded[row, :len(sequence), self.n_features] = 1.0  # real frames
            if emotion_given:
                padded[row, :, self.n_features + 1 + int(self.targets[row, 1])] = 1.0
        self.sequences = torch.from_numpy(padded)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"sequence": self.sequences[index], **self.labels_of(index)}

    def frame_statistics(self) -> tuple[Tensor, Tensor]:
        """Per-feature mean and standard deviation over the real frames of every video (for the model)."""
        real = self.sequences[..., self.n_features] > 0.5
        values = self.sequences[..., :self.n_features][real]
        return values.mean(dim=0), values.std(dim=0)


def geometry_timing(crops_dir: str | Path, videos: pd.DataFrame, runs: list) -> pd.DataFrame:
    """The CPU time of each stage of the geometry models: 02's extraction (from its per-video summaries: face
    detection, tracking and crops apart from the landmark fits), the descriptors (measured now on ``videos``,
    a table with crop paths, every video read again from disk) and each approach's training (``runs``' mean
    ``train_seconds`` per fold)."""
    summaries = frames.load_videos(crops_dir)
    summaries = summaries[summaries["status"] == "ok"]
    landmark = summaries["landmark_seconds"] if "landmark_seconds" in summaries else pd.Series(np.nan, summaries.index)
    rows = [("02: decode, detect, track, crop", (summaries["seconds"] - landmark.fillna(0)).mean(),
             summaries["seconds"].sum() - landmark.fillna(0).sum(), f"{len(summaries)} videos"),
            ("02: 68 landmarks per kept frame", landmark.mean(), landmark.sum(),
             f"{landmark.sum() / max(1, summaries['frames'].sum()) * 1000:.1f} ms a frame")]
    _CACHE.clear()  # time the reading too, as a new session would
    started = time.perf_counter()
    descriptor_matrix(with_geometry(videos, report=False))
    seconds = time.perf_counter() - started
    rows.append(("registration, proxies, activity descriptors", seconds / max(1, len(videos)), seconds,
                 f"{len(videos)} videos"))
    for approach, stage in (("descriptors", "Rank-SVM ensembles: fit"), ("trajectories", "recurrent model: train"),
                            ("lstm_pb", "LSTM-PB networks, PB inference, boosting: fit")):
        fitted = [run.metrics.get("train_seconds", np.nan) for run in runs if run.config.get("approach") == approach]
        if fitted:
            rows.append((f"{stage} (per fold)", np.nan, float(np.nanmean(fitted)),
                         f"mean of {len(fitted)} fits (configurations x folds)"))
    table = pd.DataFrame(rows, columns=["stage", "seconds per video", "seconds", "note"])
    return table.assign(**{"seconds per video": table["seconds per video"].round(4), "seconds": table["seconds"].round(2)})
