"""Confound baselines: a trivial model finds a confound when there is one, and nothing when there is none."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

from helpers import frames, labels
from helpers.analysis import compare, confounds
from helpers.metrics import scoring

SUBJECTS = [f"s{i:02d}" for i in range(12)]


def index_and_splits(posed_longer: float, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An index of 12 subjects x 12 videos whose posed videos last ``posed_longer`` seconds more on average."""
    rng = np.random.default_rng(seed)
    rows = []
    for subject in SUBJECTS:
        for code in labels.CODES:
            video = labels.parse_code(code)
            duration = 4.0 + rng.normal(0, 0.5) + (0 if video.genuine else posed_longer)
            rows.append({"subject": subject, "code": code, "duration": duration, "frames": int(duration * 100),
                         "fps": 100.0})
    splits = pd.DataFrame({"subject": SUBJECTS, "fold": [k % 3 for k in range(len(SUBJECTS))]})
    return pd.DataFrame(rows), splits


def test_video_length_is_found_when_it_is_a_confound():
    videos, splits = index_and_splits(posed_longer=2.0)
    scores = confounds.baseline_scores(videos, splits, folds=[0, 1, 2])
    assert set(scores["model"]) == {confounds.VIDEO_LENGTH}
    assert sorted(scores["fold"].unique()) == [0, 1, 2] and len(scores) == len(videos)  # every video once
    assert scoring.paired_protocol(scores)["accuracy"] > 0.95
    # and the tables of 06 read the rows like any model's
    summary = compare.score_summary(scores)
    assert summary.loc[0, "pairs"] == 72 and "12 subjects" in summary.loc[0, "paired_interval"]


def test_video_length_finds_nothing_when_the_classes_last_as_long():
    accuracies = [scoring.paired_protocol(confounds.baseline_scores(*index_and_splits(0.0, seed), folds=[0, 1, 2]))[
        "accuracy"] for seed in range(8)]
    assert abs(np.mean(accuracies) - 0.5) < 0.08, accuracies


def test_each_fold_is_fitted_without_its_test_subjects(monkeypatch):
    videos, splits = index_and_splits(posed_longer=2.0)
    seen = []
    original = confounds.LogisticRegression.fit

    def spy(self, features, target, *args, **kwargs):
        seen.append(len(features))
        return original(self, features, target, *args, **kwargs)

    monkeypatch.setattr(confounds.LogisticRegression, "fit", spy)
    confounds.baseline_scores(videos, splits, folds=[0])
    assert seen == [8 * 12]  # the 8 training subjects' videos, not the 4 test subjects'


def test_the_first_kept_frame_is_read_from_the_crops(tmp_path):
    videos, splits = index_and_splits(posed_longer=0.0)
    rng = np.random.default_rng(1)
    for video in videos.itertuples():
        genuine = labels.parse_code(video.code).genuine
        crops = rng.integers(0, 40, size=(3, 32, 32, 3), dtype=np.uint8)
        crops[0, :16] += 150 if genuine else 0  # the first frame gives the class away; the others do not
        frames.save_array(frames.video_files(tmp_path, video.subject, video.code)["face"], crops)
    scores = confounds.baseline_scores(videos, splits, folds=[0, 1, 2], crops_dir=tmp_path)
    first = scores[scores["model"] == confounds.FIRST_FRAME]
    assert len(first) == len(videos) and scoring.paired_protocol(first)["accuracy"] > 0.95
    assert confounds.first_frame_features(videos.head(2), tmp_path).shape == (2, confounds.FIRST_FRAME_SIZE ** 2)


def test_videos_without_crops_are_left_out_of_the_first_frame_baseline(tmp_path):
    videos, splits = index_and_splits(posed_longer=0.0)
    for video in videos.itertuples():
        if (video.subject, video.code) != ("s00", "N2H"):  # no face was found in this one
            frames.save_array(frames.video_files(tmp_path, video.subject, video.code)["face"],
                              np.zeros((2, 16, 16, 3), dtype=np.uint8))
    scores = confounds.baseline_scores(videos, splits, folds=[0, 1, 2], crops_dir=tmp_path)
    first = scores[scores["model"] == confounds.FIRST_FRAME]
    assert len(first) == len(videos) - 1 and not ((first["subject"] == "s00") & (first["code"] == "N2H")).any()
    assert len(scores[scores["model"] == confounds.VIDEO_LENGTH]) == len(videos)  # length needs no crops


def test_the_baseline_reads_the_latest_extraction(tmp_path):
    assert confounds.latest_crops_dir(tmp_path / "none") is None
    old, new = frames.ExtractionConfig(size=32), frames.ExtractionConfig(size=48)
    for settings, when in ((old, 1_000_000), (new, 2_000_000)):
        folder = tmp_path / settings.name
        folder.mkdir()
        (folder / frames.CONFIG_FILE).write_text(json.dumps({"config": settings.to_dict()}))
        (folder / frames.VIDEOS_FILE).write_text("subject,code\n")
        os.utime(folder / frames.VIDEOS_FILE, (when, when))
    assert confounds.latest_crops_dir(tmp_path) == tmp_path / new.name
