"""Confound baselines: what a trivial model gets from what should not tell a genuine expression from a posed one.

A model that beats chance by reading *how long a video is*, or *the first kept frame alone* (before the
expression unfolds), has found something about how the videos were made, not about the expression. Each
baseline is a standardised logistic regression with fixed settings (nothing is chosen, so nothing can be
chosen on test subjects), fitted for each fold on the fold's training subjects and scored on its test
subjects. Its rows have the columns of ``compare.video_scores``, so every table and interval of 06 reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from helpers import frames, labels, train
from helpers.data import splits as data_splits

APPROACH = "confound baseline"
VIDEO_LENGTH = f"{APPROACH}/video length alone"
FIRST_FRAME = f"{APPROACH}/first kept frame alone"
FIRST_FRAME_SIZE = 16  # the first crop is read as a grey FIRST_FRAME_SIZE x FIRST_FRAME_SIZE image
N_CLASSES = len(labels.CLASS_NAMES)


def video_length_features(videos: pd.DataFrame) -> np.ndarray:
    """One feature per video: its duration in seconds (frames / fps where the duration is missing)."""
    duration = pd.to_numeric(videos["duration"], errors="coerce")
    fallback = pd.to_numeric(videos["frames"], errors="coerce") / pd.to_numeric(videos["fps"], errors="coerce")
    return duration.fillna(fallback).to_numpy(dtype=float)[:, None]


def first_frame_features(videos: pd.DataFrame, crops_dir: str | Path) -> np.ndarray:
    """The first kept face crop of each video, grey and shrunk to ``FIRST_FRAME_SIZE`` pixels a side, flattened."""
    rows = [grey_thumbnail(frames.load_crops(crops_dir, video.subject, video.code)[0]) for video in videos.itertuples()]
    return np.array(rows).reshape(len(videos), -1)


def grey_thumbnail(crop: np.ndarray, size: int = FIRST_FRAME_SIZE) -> np.ndarray:
    """A colour crop ``[H, W, 3]`` as grey, shrunk to ``size`` pixels a side by averaging blocks, flattened."""
    grey = np.asarray(crop, dtype=float).mean(axis=2)
    step = max(1, grey.shape[0] // size)
    return grey[: step * size, : step * size].reshape(size, step, size, step).mean(axis=(1, 3)).ravel()


def fold_baseline(videos: pd.DataFrame, splits: pd.DataFrame, features: np.ndarray, model: str,
                  folds: Sequence[int]) -> pd.DataFrame:
    """Video scores of one baseline: for each fold, a logistic regression fitted on the training subjects'
    ``features`` (rows of ``videos``) scores the test subjects' videos."""
    parts = []
    subjects = videos["subject"].astype(str)
    genuine = np.array([labels.parse_code(code).genuine for code in videos["code"]])
    for fold in folds:
        train_subjects, test_subjects = data_splits.fold_subjects(splits, fold)
        train, test = subjects.isin(train_subjects).to_numpy(), subjects.isin(test_subjects).to_numpy()
        if not test.any() or len(set(genuine[train])) < 2:
            continue
        classifier = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
        classifier.fit(features[train], genuine[train])
        p_genuine = classifier.predict_proba(features[test])[:, list(classifier.classes_).index(True)]
        parts.append(score_rows(videos[test], p_genuine, model, fold))
    return pd.concat(parts, ignore_index=True) if parts else score_rows(videos.iloc[:0], np.empty(0), model, 0)


def score_rows(videos: pd.DataFrame, p_genuine: np.ndarray, model: str, fold: int,
               approach: str = APPROACH) -> pd.DataFrame:
    """Rows of ``compare.video_scores`` for a real/fake-only model (no 12-class probabilities)."""
    codes = [labels.parse_code(code) for code in videos["code"]]
    table = pd.DataFrame({
        "model": model, "approach": approach, "run": model.split("/", 1)[1], "fold": int(fold),
        "subject": videos["subject"].astype(str).to_numpy(), "code": [code.code for code in codes],
        "label": [code.label for code in codes], "emotion_label": [code.emotion_index for code in codes],
        "authenticity_label": [code.authenticity_index for code in codes], "p_genuine": p_genuine, "pred": -1})
    for k in range(N_CLASSES):
        table[f"prob_{k}"] = np.nan
    return table


def baseline_scores(videos: pd.DataFrame, splits: pd.DataFrame, folds: Sequence[int],
                    crops_dir: str | Path | None = None,
                    progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Video scores of the confound baselines on ``videos`` (the usable rows of the index): video length alone
    and, with ``crops_dir`` (02's face crops), the first kept frame alone."""
    usable = videos[videos["subject"].astype(str).isin(splits["subject"].astype(str))].reset_index(drop=True)
    parts = [fold_baseline(usable, splits, video_length_features(usable), VIDEO_LENGTH, folds)]
    if crops_dir is not None:
        # videos without crops (no face found, unreadable) are left out, as training leaves them out
        cropped = usable[[frames.video_files(Path(crops_dir), row.subject, row.code)["face"].exists()
                          for row in usable.itertuples()]].reset_index(drop=True)
        if progress:
            progress(f"reading the first kept crop of {len(cropped)} videos")
        parts.append(fold_baseline(cropped, splits, first_frame_features(cropped, crops_dir), FIRST_FRAME, folds))
    return pd.concat(parts, ignore_index=True)


def latest_crops_dir(crops_root: str | Path) -> Path | None:
    """The folder of the most recently finished extraction under ``crops_root``: the crops the runner trains
    on (``train.latest_extraction``), so the baseline reads what the models read. None when 02 never ran."""
    latest = train.latest_extraction(crops_root) if Path(crops_root).exists() else None
    return Path(crops_root) / latest.name if latest is not None else None
