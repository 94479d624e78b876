"""Scoring a new video with the saved fold models of a run (06's "analyse your own video")."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from helpers import data, frames, labels, models, profiles, results, train, video
from helpers.analysis import inference, widgets
from helpers.metrics import evaluate

from test_frames import face_frames

IMAGE_SIZE = 32
STATS = {"mean": [0.4, 0.5, 0.6], "std": [0.2, 0.25, 0.3]}


def save_fold(paths: profiles.RunPaths, fold: int, seed: int, save_weights: bool = True) -> torch.nn.Module:
    """A finished single-task fold as run_fold leaves it: artifacts in results/, weights in work/models."""
    torch.manual_seed(seed)
    model = models.build_model("simple_cnn", 12, None, False, IMAGE_SIZE, 0.0).eval()
    config = {"approach": "single_task", "run": "simple_cnn-cross_entropy", "fold": fold, "model": "simple_cnn",
              "target": "label", "image_size": IMAGE_SIZE, "dropout": 0.0, "freeze_backbone": False,
              "normalization_stats": STATS}
    metrics = {"fold": fold, "subjects": {"test": [f"S{fold}"]}}
    results.write_run(results.run_dir(paths.results, "single_task", config["run"], fold), metrics,
                      pd.DataFrame({"epoch": [1]}), pd.DataFrame({"frame": [0]}), config, {})
    if save_weights:
        path = train.model_weights_path(paths, "single_task", config["run"], fold)
        results.atomic_torch_save(path, model.state_dict())
    return model


@pytest.fixture()
def paths(tmp_path) -> profiles.RunPaths:
    return profiles.paths_for("smoke", tmp_path / "work", tmp_path / "results")


def run_folder(paths: profiles.RunPaths) -> Path:
    return paths.results / "single_task" / "simple_cnn-cross_entropy"


def expected_probs(model: torch.nn.Module, crops: np.ndarray) -> np.ndarray:
    images = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0
    mean, std = (torch.tensor(STATS[k]).view(1, 3, 1, 1) for k in ("mean", "std"))
    with torch.no_grad():
        return torch.softmax(model((images - mean) / std), dim=1).numpy()


def test_the_fold_models_are_rebuilt_and_averaged(paths):
    saved = [save_fold(paths, fold, seed=fold) for fold in range(2)]
    trained = inference.load_trained_models(run_folder(paths), paths)
    assert [t.fold for t in trained] == [0, 1] and trained[1].test_subjects == ["S1"]
    crops = np.random.default_rng(0).integers(0, 256, (5, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    scores = inference.score_crops(crops, trained, batch_size=2)
    probs = scores[evaluate.prob_columns(12)].to_numpy()
    expected = np.mean([expected_probs(m, crops) for m in saved], axis=0)
    assert np.allclose(probs, expected, atol=1e-5)
    genuine = [labels.class_index(e, True) for e in labels.EMOTIONS]
    assert np.allclose(scores["p_genuine"], expected[:, genuine].sum(axis=1), atol=1e-5)
    assert np.allclose(scores[list(labels.EMOTIONS)].sum(axis=1), 1.0, atol=1e-5)
    assert list(scores["frame"]) == list(range(5))
    assert inference.verdict(scores).startswith("called ")


def test_a_run_without_saved_weights_says_what_to_do(paths):
    save_fold(paths, 0, seed=0, save_weights=False)
    with pytest.raises(FileNotFoundError, match="SAVE_WEIGHTS"):
        inference.load_trained_models(run_folder(paths), paths)


def test_without_a_video_of_yours_a_fold_model_scores_videos_of_a_subject_it_never_saw(paths, tmp_path):
    for fold in range(2):
        save_fold(paths, fold, seed=fold)
    trained = inference.load_trained_models(run_folder(paths), paths)
    root = tmp_path / "dataset"
    for subject, codes in (("S0", ("N2H", "N2S")), ("S1", labels.CODES)):  # S0 has no posed happy video
        (root / subject).mkdir(parents=True)
        for code in codes:
            (root / subject / f"{code}.MP4").write_bytes(b"")
    data.save_index(data.index_videos(root, probe=False, progress=False), paths.index)
    examples = inference.example_videos(trained, paths.index)
    assert [(path.parent.name, path.name, [m.fold for m in members]) for path, members in examples] == [
        ("S1", "N2H.MP4", [1]), ("S1", "S2N2H.MP4", [1])]
    assert inference.example_videos(trained, paths.index, tmp_path / "mine.mp4") == [(tmp_path / "mine.mp4", trained)]
    with pytest.raises(FileNotFoundError, match="MY_VIDEO"):
        inference.example_videos(trained[:1], paths.index)


def test_a_video_is_extracted_scored_and_drawn(paths, tmp_path):
    save_fold(paths, 0, seed=0)
    trained = inference.load_trained_models(run_folder(paths), paths)
    clip = video.write_video(tmp_path / "my clip (1).mp4", face_frames(n_frames=30), fps=25)
    config = frames.ExtractionConfig(size=IMAGE_SIZE, context_scale=None)
    figure, scores = widgets.video_figure(clip, trained, config, tmp_path / "crops", model="m")
    assert len(scores) > 5 and scores["p_genuine"].between(0, 1).all()
    assert "my clip (1).mp4" in figure._suptitle.get_text()
    assert (tmp_path / "crops" / "uploads" / "my_clip_1.face.npy").exists()
    plt.close(figure)


def test_no_face_and_unreadable_files_name_the_file(tmp_path):
    config = frames.ExtractionConfig(size=IMAGE_SIZE, context_scale=None)
    blank = video.write_video(tmp_path / "wall.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 20, fps=25)
    with pytest.raises(inference.NoFaceError, match="wall.mp4"):
        inference.extract_faces(blank, tmp_path / "crops", config)
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("not a video")
    with pytest.raises(ValueError, match="notes.mp4"):
        inference.extract_faces(not_a_video, tmp_path / "crops", config)


def test_the_upload_panel_analyses_what_is_uploaded(paths, tmp_path, upload_as_the_browser_does):
    save_fold(paths, 0, seed=0)
    trained = inference.load_trained_models(run_folder(paths), paths)
    clip = video.write_video(tmp_path / "source.mp4", face_frames(n_frames=30), fps=25)
    panel = widgets.upload_panel(trained, frames.ExtractionConfig(size=IMAGE_SIZE, context_scale=None),
                                 tmp_path / "uploads")
    upload_as_the_browser_does(panel.controls["upload"], "Me smiling.MP4", clip.read_bytes())
    assert (tmp_path / "uploads" / "Me_smiling.mp4").read_bytes() == clip.read_bytes()
    assert (tmp_path / "uploads" / "crops" / "uploads" / "Me_smiling.face.npy").exists()
    plt.close("all")



def test_a_trained_folds_transform_is_rebuilt_from_its_config():
    run_config = {"run_id": "cnn-ce-1a2b3c", "fold": 0, "image_size": 24,
                  "normalization_stats": {"mean": [0.1, 0.2, 0.3], "std": [0.5, 0.5, 0.25]}}
    transform = train.BatchTransform.for_run(run_config)
    images = torch.full((2, 3, 8, 8), 255, dtype=torch.uint8)
    out = transform(images, training=True)  # no augmentation: an evaluation transform
    assert out.shape == (2, 3, 24, 24) and not transform.augment
    assert torch.allclose(out[:, :, 0, 0], torch.tensor([(1 - 0.1) / 0.5, (1 - 0.2) / 0.5, (1 - 0.3) / 0.25]))
    with pytest.raises(ValueError, match="cnn-ce-1a2b3c.*no normalization_stats"):
        train.BatchTransform.for_run({"run_id": "cnn-ce-1a2b3c", "fold": 0})
