"""Temporal models, clip sampling, feature caching and a tiny temporal experiment (tiny sizes, CPU)."""

import sys

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import approaches, labels, models, train
from helpers.approaches import temporal

T, SIZE = 4, 32
LARGE = {"vgg16_lstm", "resnet50_lstm", "seresnet50_lstm", "r3d_18", "r2plus1d_18", "slow_r50"}  # 5-20 s each
# every model with a 12-class head; the two-head module is the same for every model: checked on three
CASES = [(name, 12) for name in models.TEMPORAL_MODELS] + [
    (name, models.TWO_TASK_HEADS) for name in ("simple_cnn_lstm", "conv3d", "x3d_s")]
CASES = [pytest.param(*case, marks=pytest.mark.slow, id=f"{case[0]}-{case[1] == 12 and 'label' or 'two_task'}")
         if case[0] in LARGE else pytest.param(*case, id=f"{case[0]}-{case[1] == 12 and 'label' or 'two_task'}")
         for case in CASES]


def write_clips(folder, n_videos=4, frames=12, size=SIZE, onset=(4, 8)):
    """Fake packed crops: flat grey, then a ramp between ``onset`` frames, then flat (an 'apex')."""
    rows = []
    for v in range(n_videos):
        level = np.interp(np.arange(frames), onset, (20, 220))
        array = np.broadcast_to(level[:, None, None, None], (frames, size, size, 3)).astype(np.uint8).copy()
        array[:, 0, 0, 0] = v  # tell videos apart
        path = folder / f"s{v}_{labels.CODES[v]}.npy"
        np.save(path, array)
        rows.append({"subject": f"s{v}", "code": labels.CODES[v], "label": v, "crop_path": str(path)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("name", "heads"), CASES)
def test_every_registry_model_runs_forward_and_backward_at_tiny_size(name, heads):
    torch.manual_seed(0)
    model = models.build_temporal_model(name, heads, weights=None, image_size=SIZE, hidden=16)
    clips = torch.randn(2, T, 3, SIZE, SIZE)
    out = model(clips)
    logits = out if heads == 12 else out["authenticity"]
    assert logits.shape == (2, 12 if heads == 12 else 2)
    loss = logits.sum() if heads == 12 else sum(v.sum() for v in out.values())
    loss.backward()
    assert any(p.grad is not None for p in model.backbone.parameters())


def test_pytorchvideo_transforms_import_with_the_shim():
    models.install_pytorchvideo_shim()
    import pytorchvideo.transforms  # noqa: F401

    assert "torchvision.transforms.functional_tensor" in sys.modules


def test_frozen_rnn_trains_on_cached_features(tmp_path):
    videos = write_clips(tmp_path)
    model = models.build_temporal_model("simple_cnn_lstm", 12, None, freeze_backbone=True, image_size=SIZE,
                                          hidden=8)
    preprocess = train.BatchTransform([0.5] * 3, [0.25] * 3, SIZE)
    features = train.cache_frame_features(model.backbone, videos, tmp_path / "features", preprocess)
    assert np.load(features["crop_path"][0]).shape == (12, model.backbone.feature_dim)
    dataset = train.FeatureClipDataset(features, clip_len=T, clips_per_video=2)
    item = dataset[0]
    assert item["image"].shape == (T, model.backbone.feature_dim)
    # the cached path gives the same logits as running the CNN on the pixels
    pixels = train.ClipDataset(videos, clip_len=T, clips_per_video=2)[0]["image"][None]
    model.eval()
    with torch.no_grad():
        direct = model(preprocess(pixels))
        cached = model(item["image"][None])
    assert torch.allclose(direct, cached, atol=1e-2)
    mtime = (tmp_path / "features" / "s0" / f"{labels.CODES[0]}.npy").stat().st_mtime_ns
    train.cache_frame_features(model.backbone, videos, tmp_path / "features", preprocess)  # reused
    assert (tmp_path / "features" / "s0" / f"{labels.CODES[0]}.npy").stat().st_mtime_ns == mtime


def test_clip_sampling_modes_and_onset_apex_window(tmp_path):
    videos = write_clips(tmp_path, frames=20, onset=(8, 12))
    crops = np.load(videos["crop_path"][0])
    start, end = train.onset_apex_segment(crops)
    assert 6 <= start <= 9 and 11 <= end <= 15
    segment = train.ClipDataset(videos, clip_len=T, clips_per_video=3, window="onset_apex")
    assert (segment.clips >= start).all() and (segment.clips < end).all()
    uniform = train.ClipDataset(videos, clip_len=T, stride=2, clips_per_video=3)
    assert uniform.clips[:3, 0].tolist() == [0, 6, 13] and (np.diff(uniform.clips[0]) == 2).all()
    random_set = train.ClipDataset(videos, clip_len=T, clips_per_video=2, mode="random")
    torch.manual_seed(0)
    starts = {random_set[0]["frame"] for _ in range(20)}
    assert len(starts) > 3 and max(starts) <= 20 - T
    with pytest.raises(ValueError):
        train.ClipDataset(videos, mode="sideways")


def test_a_tiny_fold_trains_evaluates_and_writes_artifacts(tmp_path):
    from helpers import profiles, results

    videos = write_clips(tmp_path, n_videos=6)
    videos["subject"] = ["a", "a", "b", "b", "c", "c"]
    fold = train.FoldData(0, videos.iloc[:2], videos.iloc[2:4], videos.iloc[4:])
    paths = profiles.paths_for("smoke", tmp_path / "work", tmp_path / "results")
    for heads, weighting in (("label", "sum"), ("two_task", "uncertainty")):
        config = approaches.TemporalConfig(model="conv3d", heads=heads, loss_weighting=weighting, weights=None,
                                         image_size=SIZE, clip_len=T,
                                         clips_per_video=2, eval_clips_per_video=3, batch_size=2, workers=0,
                                         normalization="imagenet",
                                         train=train.TrainConfig(epochs=1, progress=False, verbose=False))
        metrics = train.run_fold(config, fold, paths)
        run = results.load_run(results.run_dir(paths.results, "temporal", config.run_id, 0))
        assert metrics["n_videos"] == 2 and metrics["n_frames"] == 6  # 3 clips per test video
        assert {f"prob_{k}" for k in range(12)} <= set(run.predictions.columns)
        assert run.metrics["authenticity"]["video"]["n"] == 2
        reloaded = train.load_trained_model(config, 0, paths)  # the saved weights, for later plots
        assert reloaded is not None and (heads == "label") == (not hasattr(reloaded, "loss_weighting"))


def test_sliding_scores_cover_the_video(tmp_path):
    videos = write_clips(tmp_path, frames=12)
    model = models.build_temporal_model("simple_cnn_gru", 12, None, image_size=SIZE, hidden=8)
    table = temporal.sliding_scores(model, np.load(videos["crop_path"][0]), clip_len=T, hop=2)
    assert len(table) == 5 and table["p_genuine"].between(0, 1).all()


def test_a_failed_download_says_so(monkeypatch):
    from urllib.error import URLError

    from torchvision.models._api import WeightsEnum

    def offline(self, *args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(WeightsEnum, "get_state_dict", offline)
    with pytest.raises(models.WeightsUnavailableError, match="r3d_18.*weights=None"):
        models.build_temporal_model("r3d_18", 12, "default", image_size=SIZE)
    with pytest.raises(ValueError, match="no pretrained weights"):
        models.build_temporal_model("conv3d", 12, "kinetics")
