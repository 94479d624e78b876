"""Datasets over packed crops, the device-side batch transform and the loaders, on small fake packed arrays."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import labels, results, train


def write_packed(folder, n_videos=3, frames=10, size=24):
    """Fake packed crops whose pixels encode (video, frame): pixel value = 20 * video + frame."""
    rows = []
    for v in range(n_videos):
        array = np.empty((frames, size, size, 3), dtype=np.uint8)
        for t in range(frames):
            array[t] = 20 * v + t
        path = folder / f"s{v}_{labels.CODES[v]}.npy"
        np.save(path, array)
        rows.append({"subject": f"s{v}", "code": labels.CODES[v], "label": v, "crop_path": str(path)})
    return pd.DataFrame(rows)


@pytest.fixture
def videos(tmp_path):
    return write_packed(tmp_path)


def test_items_carry_the_right_frame_and_labels(videos):
    dataset = train.FrameDataset(videos)
    assert len(dataset) == 30
    item = dataset[13]  # video 1, frame 3
    assert item["image"].dtype == torch.uint8 and item["image"].shape == (3, 24, 24)
    assert int(item["image"][0, 0, 0]) == 20 * 1 + 3
    assert (item["video"], item["frame"]) == (1, 3)
    emotion, authenticity = labels.split_class_index(1)
    assert (item["label"], item["emotion"], item["authenticity"]) == (1, emotion, authenticity)


def test_frames_per_video_are_evenly_spread(videos):
    dataset = train.FrameDataset(videos, frames_per_video=4)
    assert len(dataset) == 12
    assert dataset.frame_ids[:4].tolist() == [0, 3, 6, 9]
    assert train.select_frames(3, 8).tolist() == [0, 1, 2]
    assert dataset.frame_table().iloc[5].to_dict() == {"subject": "s1", "code": labels.CODES[1], "frame": 3}


def test_expressive_frames_are_those_farthest_from_the_first(tmp_path):
    """A video that rises from a neutral first frame to an apex at frames 6-7 and fades back: the expressive
    selection keeps the frames around the apex, in order; the even one spreads over the video."""
    brightness = [0, 0, 1, 3, 6, 9, 12, 12, 8, 4]
    array = np.zeros((len(brightness), 24, 24, 3), dtype=np.uint8)
    for t, level in enumerate(brightness):
        array[t, 8:16, 8:16] = 10 * level  # the "expression": a patch that brightens and fades
    path = tmp_path / "video.npy"
    np.save(path, array)
    video = pd.DataFrame([{"subject": "s1", "code": labels.CODES[0], "label": 0, "crop_path": str(path)}])
    assert train.FrameDataset(video, 3, selection="expressive").frame_ids.tolist() == [5, 6, 7]
    assert train.FrameDataset(video, 3).frame_ids.tolist() == [0, 4, 9]
    assert train.FrameDataset(video, None, selection="expressive").frame_ids.tolist() == list(range(10))
    with pytest.raises(ValueError, match="selection"):
        train.FrameDataset(video, 3, selection="apex")


def test_packed_shape_reads_only_the_header(videos):
    assert train.packed_shape(videos["crop_path"][0]) == (10, 24, 24, 3)


def test_memory_maps_are_opened_lazily_and_never_pickled(videos):
    dataset = train.FrameDataset(videos)
    assert dataset._arrays == {}
    dataset[0]
    assert isinstance(dataset._arrays[0], np.memmap)
    assert pickle.loads(pickle.dumps(dataset))._arrays == {}


def test_resize_in_the_worker(videos):
    image = train.FrameDataset(videos, size=12)[0]["image"]
    assert image.shape == (3, 12, 12) and image.dtype == torch.uint8 and int(image[0, 5, 5]) == 0


def test_missing_columns_are_named(videos):
    with pytest.raises(ValueError, match="crop_path"):
        train.FrameDataset(videos.drop(columns=["crop_path"]))


def test_loader_with_workers_returns_every_frame_once(videos):
    dataset = train.FrameDataset(videos, frames_per_video=5)
    loader = train.make_loader(dataset, batch_size=4, train=False, workers=2)
    seen = [(int(v), int(f)) for batch in loader for v, f in zip(batch["video"], batch["frame"])]
    assert sorted(seen) == sorted(zip(dataset.video_ids.tolist(), dataset.frame_ids.tolist()))
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, 24, 24) and batch["label"].dtype == torch.int64


def test_training_loader_shuffles_by_epoch_and_drops_a_last_partial_batch(videos):
    dataset = train.FrameDataset(videos)
    loader = train.make_loader(dataset, batch_size=8, train=True, seed=3, workers=0)
    assert len(loader) == 3  # 30 frames: three full batches of 8, the last 6 dropped

    def order(epoch):
        loader.sampler.set_epoch(epoch)
        return list(loader.sampler)

    assert order(0) == order(0) and order(0) != order(1)
    assert sorted(order(1)) == list(range(30))


def test_batch_transform_scales_resizes_and_normalises():
    transform = train.BatchTransform([0.5, 0.5, 0.5], [0.25, 0.25, 0.25], image_size=16)
    images = torch.full((2, 3, 8, 8), 255, dtype=torch.uint8)
    out = transform(images)
    assert out.shape == (2, 3, 16, 16) and out.dtype == torch.float32
    assert torch.allclose(out, torch.full_like(out, (1.0 - 0.5) / 0.25))


def test_augmentation_only_when_training_and_asked():
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    plain = train.BatchTransform([0, 0, 0], [1, 1, 1])
    augmenting = train.BatchTransform([0, 0, 0], [1, 1, 1], augment=True)
    assert torch.equal(plain(images, training=True), plain(images))
    assert torch.equal(augmenting(images, training=False), plain(images))
    torch.manual_seed(0)
    first = augmenting(images, training=True)
    torch.manual_seed(0)
    assert torch.equal(first, augmenting(images, training=True)), "augmentation follows torch's seed"
    assert not torch.equal(first, plain(images)) and first.min() >= 0 and first.max() <= 1


def test_flip_only_augmentation_mirrors_some_samples():
    images = torch.arange(32, dtype=torch.uint8).repeat(16, 3, 32, 1)  # a horizontal ramp
    flip_only = train.BatchTransform([0, 0, 0], [1, 1, 1], augment=True, max_rotation=0, colour=0)
    torch.manual_seed(1)
    out = flip_only(images, training=True)
    flipped = out[:, 0, 0, 0] > out[:, 0, 0, -1]
    assert 0 < flipped.sum() < 16
    assert torch.allclose(out[flipped], images[flipped].flip(-1).float() / 255)


def test_normalization_sources(tmp_path):
    imagenet = train.normalization_stats("imagenet")
    assert imagenet["mean"] == [0.485, 0.456, 0.406]
    with pytest.warns(UserWarning, match="ImageNet"):
        assert train.normalization_stats("dataset", tmp_path) == imagenet
    results.write_json(tmp_path / "dataset" / "summary.json",
                       {"channel_stats": {"mean": [0.1, 0.2, 0.3], "std": [0.4, 0.5, 0.6]}})
    assert train.normalization_stats("dataset", tmp_path)["std"] == [0.4, 0.5, 0.6]
    assert train.normalization_stats("auto", tmp_path, "simple_cnn")["mean"] == [0.1, 0.2, 0.3]
    facenet = train.normalization_stats("auto", tmp_path, "inception_resnet_v1", pretrained=True)
    assert facenet["mean"][0] == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ValueError, match="imagenet"):
        train.normalization_stats("cifar")


def test_clips_of_consecutive_crops(videos):
    dataset = train.ClipDataset(videos, clip_len=4, stride=2, clips_per_video=2)
    assert len(dataset) == 6
    item = dataset[3]  # video 1, its second (last) clip: starts at 10 - 7 = 3
    assert item["image"].shape == (4, 3, 24, 24) and item["image"].dtype == torch.uint8
    assert [int(v) for v in item["image"][:, 0, 0, 0]] == [20 + 3, 20 + 5, 20 + 7, 20 + 9]
    assert (item["video"], item["frame"]) == (1, 3)
    batch = torch.stack([dataset[i]["image"] for i in range(4)])
    augmenting = train.BatchTransform([0, 0, 0], [1, 1, 1], image_size=16, augment=True, max_rotation=0, colour=0)
    out = augmenting(batch, training=True)
    assert out.shape == (4, 4, 3, 16, 16)
    # a clip is flipped as a whole or not at all: all its frames agree
    ramp = torch.arange(24, dtype=torch.uint8).repeat(8, 4, 3, 24, 1)
    torch.manual_seed(0)
    out = augmenting(ramp, training=True)
    flipped = out[:, :, 0, 0, 0] > out[:, :, 0, 0, -1]
    assert (flipped.all(dim=1) | (~flipped).all(dim=1)).all() and 0 < flipped[:, 0].sum() < 8


def test_stage_crops_on_a_local_disk(tmp_path):
    from helpers import frames

    source = tmp_path / "drive" / "haar_112px"
    frames.save_array(frames.video_files(source, "s1", "N2H")["face"], np.zeros((2, 4, 4, 3), np.uint8))
    (source / "videos.csv").write_text("subject,code\ns1,N2H\n")
    (source / "s1" / ".N2S.face.npy.tmp").write_text("in progress")
    local = train.stage_locally(source, tmp_path / "local")
    assert local == tmp_path / "local" / "haar_112px"
    assert sorted(p.name for p in local.rglob("*")) == ["N2H.face.npy", "s1", "videos.csv"]
    assert np.load(local / "s1" / "N2H.face.npy").shape == (2, 4, 4, 3)
    before = (local / "videos.csv").stat().st_mtime_ns
    train.stage_locally(source, tmp_path / "local")
    assert (local / "videos.csv").stat().st_mtime_ns == before, "copied files are not copied again"
