"""Scoring a new video with a trained model: "analyse your own video" in notebook 06.

A single-task run of notebook 03 keeps each fold's final weights (``train.model_weights_path``) beside
its ``config.json``, which names the architecture, the task, the input size and the normalisation. From
these ``load_trained_models`` rebuilds the fold models, ``extract_faces`` runs the same face extraction as
02 on the video, and ``score_crops`` gives per-frame probabilities: with several fold models, their
average (each fold model saw different subjects, so averaging them is a small ensemble). Without a video of
yours, ``example_videos`` picks a genuine and a posed video of the dataset for a fold model that never saw
their subject.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from helpers import approaches, data, frames, labels, profiles, results, train
from helpers.metrics import evaluate


class NoFaceError(RuntimeError):
    """The video could be read but no face was found in it."""


@dataclass
class TrainedModel:
    """One fold's model of a finished run, ready to score crops."""

    model: nn.Module
    preprocess: train.BatchTransform
    config: dict
    fold: int

    @property
    def target(self) -> str:
        return self.config.get("target", "label")

    @property
    def test_subjects(self) -> list[str]:
        """The subjects this fold model never saw (its test fold)."""
        return [str(s) for s in self.config.get("test_subjects", [])]


def load_trained_models(run_folder: str | Path, paths: profiles.RunPaths) -> list[TrainedModel]:
    """Every fold of a single-task run (``<results>/<profile>/single_task/<run>``) whose weights were kept.

    Raises ``FileNotFoundError`` naming the run and what to do when no fold has its weights."""
    run_folder = Path(run_folder)
    loaded = []
    for fold_folder in results.find_runs(run_folder.parent.parent, run_folder.parent.name, run_folder.name):
        config = results.read_json(fold_folder / "config.json")
        weights = train.model_weights_path(paths, config["approach"], config.get("run_id") or config["run"],
                                           int(config["fold"]))
        if weights.exists():
            metrics = results.read_json(fold_folder / results.METRICS_FILE)
            config = {**config, "test_subjects": metrics.get("subjects", {}).get("test", [])}
            loaded.append(_rebuild(config, weights))
    if not loaded:
        raise FileNotFoundError(
            f"no saved weights for the run {run_folder}: they are kept in {paths.work / 'models'} by notebook 03 "
            "with SAVE_WEIGHTS = \"all\" or \"first\" (the full profile's default); run 03 again with FORCE_RETRAIN = True "
            "to create them")
    return loaded


def _rebuild(config: dict, weights: Path) -> TrainedModel:
    """The fold's model (its approach's architecture, random weights, then the kept ones) and its transform."""
    model = train.model_with_weights(approaches.config_from_run(config), weights)
    return TrainedModel(model, train.BatchTransform.for_run(config), config, int(config["fold"]))


EXAMPLE_CODES = ("N2H", "S2N2H")  # a genuine and a posed happy video


def example_videos(trained: Sequence[TrainedModel], index_path: str | Path, my_video: str | Path | None = None,
                   codes: Sequence[str] = EXAMPLE_CODES) -> list[tuple[Path, list[TrainedModel]]]:
    """What "analyse your own video" scores, each video with the fold models that score it: ``my_video`` with
    every fold model; without it, the ``codes`` videos of the first test subject of the first fold model that
    has them all (from the dataset's index), scored by that fold model alone, which never saw the subject."""
    if my_video:
        return [(Path(my_video), list(trained))]
    index = data.load_index(Path(index_path))
    for member in trained:
        for subject in member.test_subjects:
            videos = index[(index["subject"].astype(str) == subject) & index["code"].isin(codes)]
            paths = {code: Path(path) for code, path in zip(videos["code"], videos["path"])}
            if all(code in paths for code in codes):
                return [(paths[code], [member]) for code in codes]
    raise FileNotFoundError(f"no test subject of the fold models has the videos {', '.join(codes)} in {index_path}: "
                            "set MY_VIDEO to a video file to analyse")


def safe_stem(name: str) -> str:
    """A file-system-safe name for an uploaded file (letters, digits, ``-`` and ``_``)."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(name).stem).strip("_")
    return stem or "video"


def extract_faces(video_path: str | Path, out_dir: str | Path, config: frames.ExtractionConfig,
                  subject: str = "uploads", whole_video: bool = True) -> np.ndarray:
    """The face crops of one video, extracted as notebook 02 does (``T x size x size x 3`` uint8).
    ``whole_video``: ignore the extraction's window, which cuts SASE-FE videos to their apex part (a video
    of yours has no such known structure).

    Raises ``NoFaceError`` or ``ValueError`` with the file's name when nothing usable comes out."""
    code = safe_stem(str(video_path))
    config = dataclasses.replace(config, landmarks=False)  # the frame models read crops only: no dlib needed
    if whole_video:
        config = dataclasses.replace(config, window=(0.0, 1.0))
    summary = frames.extract_video(video_path, out_dir, subject, code, config)
    if summary["status"] == "no_face":
        raise NoFaceError(f"no face was found in {video_path}: use a video where one face is visible, "
                          "frontal and well lit")
    if summary["status"] != "ok":
        raise ValueError(f"{video_path} could not be read: {summary['error']} (is it a video file?)")
    return frames.load_crops(out_dir, subject, code, mmap=False)


def score_crops(crops: np.ndarray, trained: list[TrainedModel], batch_size: int = 64) -> pd.DataFrame:
    """Per frame: ``frame``, ``prob_0..prob_k`` (mean over the given fold models), ``p_genuine`` and, for
    12-class models, one probability per emotion (genuine + posed summed)."""
    if not trained:
        raise ValueError("no trained model to score with")
    target = trained[0].target
    images = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2)
    probs = np.mean([_probabilities(images, member, batch_size) for member in trained], axis=0)
    table = pd.DataFrame(probs, columns=evaluate.prob_columns(probs.shape[1]))
    table.insert(0, "frame", np.arange(len(table)))
    return add_views(table, target)


def add_views(table: pd.DataFrame, target: str) -> pd.DataFrame:
    """``p_genuine`` and (12 classes only) the six emotion probabilities, from a table of ``prob_*``."""
    probs = table[evaluate.prob_columns(labels.num_classes(target))].to_numpy(dtype=np.float64)
    if target == "emotion":
        raise ValueError("an emotion-only model has no genuineness")
    table = table.copy()
    table["p_genuine"] = (evaluate.collapse(probs, "authenticity") if target == "label" else probs)[:, 1]
    if target == "label":
        emotions = evaluate.collapse(probs, "emotion")
        for k, emotion in enumerate(labels.EMOTIONS):
            table[emotion] = emotions[:, k]
    return table


@torch.no_grad()
def _probabilities(images: torch.Tensor, member: TrainedModel, batch_size: int) -> np.ndarray:
    out = []
    for start in range(0, len(images), batch_size):
        logits = member.model(member.preprocess(images[start:start + batch_size]))
        out.append(torch.softmax(logits.float(), dim=1).numpy())
    return np.concatenate(out)


def verdict(scores: pd.DataFrame) -> str:
    """``called genuine (mean p(genuine) 0.71), most likely emotion: happy``."""
    p = float(scores["p_genuine"].mean())
    text = f"called {'genuine' if p > 0.5 else 'posed'} (mean p(genuine) {p:.2f})"
    emotions = [e for e in labels.EMOTIONS if e in scores]
    if emotions:
        text += f", most likely emotion: {scores[emotions].mean().idxmax()}"
    return text
