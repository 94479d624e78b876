"""helpers.geometry: registration onto the mean face, action-unit proxies, facial activity descriptors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import signal
from sklearn.linear_model import LogisticRegression

from helpers import geometry, labels

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = geometry.mean_face()
LINE_POINTS = (8, 27, 28, 29, 30, 33, 51, 57, 62, 66)  # on the face's midline: their own mirror image


def rotation(degrees: float) -> np.ndarray:
    angle = np.radians(degrees)
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def a_video(frames: int = 30, seed: int = 0) -> np.ndarray:
    """The mean face in pixels (inter-ocular distance 80), smiling and raising its brows over time, with
    jitter: T x 68 x 2."""
    rng = np.random.default_rng(seed)
    faces = np.repeat(TEMPLATE[None], frames, axis=0).copy()
    ramp = np.linspace(0, 1, frames)
    faces[:, 48, 0] -= 0.15 * ramp
    faces[:, 54, 0] += 0.1 * ramp
    faces[:, 17:27, 1] -= 0.08 * np.sin(np.pi * ramp)[:, None]
    faces += rng.normal(0, 0.01, faces.shape)
    return faces * 80 + np.array([320.0, 240.0])


def proxies_of(face: np.ndarray) -> pd.Series:
    return pd.Series(geometry.frame_proxies(face[None])[0], index=geometry.PROXIES)


def moved(changes: dict[tuple[int, ...], tuple[float, float]]) -> np.ndarray:
    """The template with some points moved by (dx, dy), in inter-ocular units (y down)."""
    face = TEMPLATE.copy()
    for points, shift in changes.items():
        face[list(points)] += shift
    return face


# --- the template and its mirror ---------------------------------------------------------------------


def test_mirror_permutation_swaps_sides_and_is_its_own_inverse():
    mirror = np.array(geometry.MIRROR)
    assert sorted(mirror) == list(range(68))
    assert (mirror[mirror] == np.arange(68)).all()
    assert set(np.flatnonzero(mirror == np.arange(68))) == set(LINE_POINTS)
    assert (mirror[36], mirror[39], mirror[48], mirror[0], mirror[17], mirror[31]) == (45, 42, 54, 16, 26, 35)
    face = np.random.default_rng(1).normal(size=(68, 2))
    np.testing.assert_allclose(geometry.mirror(geometry.mirror(face, 3.5), 3.5), face)
    assert not np.allclose(geometry.mirror(face), face)


def test_mirroring_an_image_of_the_template_gives_the_template_back():
    """Flip the template about x = 0 (as a mirror image would) and renumber: it is nearly symmetric."""
    assert np.abs(geometry.mirror(TEMPLATE) - TEMPLATE).max() < 1e-3
    video = a_video(4)
    np.testing.assert_allclose(geometry.mirror(geometry.mirror(video, 320.0), 320.0), video)


def test_template_is_a_normalised_real_face():
    assert TEMPLATE.shape == (68, 2) and np.isfinite(TEMPLATE).all()
    left, right = geometry.eye_centres(TEMPLATE)
    np.testing.assert_allclose(left, [-0.5, 0], atol=1e-5)
    np.testing.assert_allclose(right, [0.5, 0], atol=1e-5)
    y = lambda points: TEMPLATE[list(points), 1].mean()  # noqa: E731
    assert y(range(17, 27)) < y(range(36, 48)) < y(range(31, 36)) < y(range(48, 60)) < TEMPLATE[8, 1]
    assert TEMPLATE[36, 0] < TEMPLATE[39, 0] < 0 < TEMPLATE[42, 0] < TEMPLATE[45, 0]
    record = geometry.mean_face_record()
    assert record["faces"] >= 50 and {"skimage.data.astronaut", "matplotlib grace_hopper.jpg"} <= set(record["sources"])
    assert len(record["spread"]) == 68 and max(record["spread"]) < 0.5


def test_mean_face_ships_as_package_data():
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "geometry/*.json" in package_data["helpers"]
    assert geometry.MEAN_FACE_FILE.parent.name == "geometry" and geometry.MEAN_FACE_FILE.suffix == ".json"


# --- registration ------------------------------------------------------------------------------------


def test_registration_maps_a_moved_template_back_onto_it():
    face = 57.0 * TEMPLATE @ rotation(-30).T + np.array([100.0, 40.0])
    np.testing.assert_allclose(geometry.register(face), TEMPLATE, atol=1e-9)


def test_registration_removes_rotation_scale_and_translation():
    video = a_video(30)
    frames = len(video)
    angles, scales = np.linspace(-35, 35, frames), np.linspace(0.4, 3.0, frames)
    shifts = np.stack([np.linspace(-200, 500, frames), np.linspace(90, -60, frames)], axis=1)
    moved_video = np.stack([s * f @ rotation(a).T + t for f, a, s, t in zip(video, angles, scales, shifts)])
    np.testing.assert_allclose(geometry.register(moved_video), geometry.register(video), atol=1e-9)
    before, after = geometry.au_proxies(video), geometry.au_proxies(moved_video)
    np.testing.assert_allclose(after.to_numpy(), before.to_numpy(), atol=1e-5)
    assert before["lip_corner_pull"].iloc[-1] > before["lip_corner_pull"].iloc[0] + 0.1  # the smile is kept


def test_registration_never_reflects():
    transform = geometry.fit_similarity(geometry.mirror(TEMPLATE)[None], TEMPLATE)
    assert np.linalg.det(transform.rotation[0]) == pytest.approx(1.0)
    flipped = TEMPLATE * np.array([-1.0, 1.0])  # a reflection without renumbering cannot be undone
    assert np.abs(geometry.register(flipped) - TEMPLATE).max() > 0.5


def test_nan_frames_stay_nan_and_leave_the_others_alone():
    video = a_video(6)
    broken = video.copy()
    broken[2, 39] = np.nan  # a stable point: no transform for that frame
    broken[4, 60] = np.nan  # an inner lip point: only it is unknown
    registered, clean = geometry.register(broken), geometry.register(video)
    assert np.isnan(registered[2]).all()
    assert np.isnan(registered[4, 60]).all() and np.isfinite(np.delete(registered[4], 60, axis=0)).all()
    keep = [0, 1, 3, 5]
    np.testing.assert_allclose(registered[keep], clean[keep])


def test_procrustes_mean_of_moved_copies_is_the_normalised_face():
    face = a_video(1)[0]
    copies = np.stack([s * face @ rotation(a).T + t for a, s, t in [(0, 1, 0), (20, 2, 5), (-40, 0.5, -9)]])
    mean, aligned = geometry.procrustes_mean(copies)
    np.testing.assert_allclose(mean, geometry.normalise_face(face), atol=1e-8)
    np.testing.assert_allclose(aligned, np.repeat(mean[None], 3, axis=0), atol=1e-8)


# --- action-unit proxies -----------------------------------------------------------------------------

LIFT = 0.1
MOVES = {
    "raise inner brows": ({(20, 21, 22, 23): (0, -LIFT)}, {"inner_brow_raise": LIFT, "brow_lowerer": -LIFT}),
    "raise outer brows": ({(17, 18, 25, 26): (0, -LIFT)}, {"outer_brow_raise": LIFT}),
    "brows down and together": (
        {(21,): (0.05, 0.05), (22,): (-0.05, 0.05)}, {"brow_lowerer": LIFT, "inner_brow_raise": -0.025}
    ),
    "widen mouth": ({(48,): (-LIFT, 0), (54,): (LIFT, 0)}, {"lip_corner_pull": LIFT}),
    "open inner lips": ({(61, 62, 63): (0, -0.05), (65, 66, 67): (0, 0.05)}, {"lips_part": LIFT}),
    "lift nose wings": ({(31, 32, 33, 34, 35): (0, -0.05)}, {"nose_wrinkle": 0.05}),
    "drop jaw": ({(8,): (0, 0.2)}, {"jaw_drop": 0.2}),
    "raise one lip corner": ({(54,): (0, -LIFT)}, {"lip_corner_pull": LIFT / 2, "lip_corner_asymmetry": LIFT}),
    "raise one brow": (
        {tuple(range(22, 27)): (0, -LIFT)},
        {"brow_asymmetry": LIFT, "inner_brow_raise": LIFT / 2, "outer_brow_raise": LIFT / 2, "brow_lowerer": -LIFT / 2},
    ),
}


@pytest.mark.parametrize("move", MOVES, ids=str)
def test_each_proxy_moves_by_what_its_landmarks_moved(move):
    """The template's proxies are all 0; moving points that registration does not use changes exactly
    the proxies that measure them, by the distance moved (inter-ocular units)."""
    changes, expected = MOVES[move]
    assert np.abs(proxies_of(TEMPLATE)).max() < 1e-9
    got = proxies_of(moved(changes))
    want = pd.Series(0.0, index=geometry.PROXIES)
    want[list(expected)] = list(expected.values())
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), atol=1e-9, err_msg=f"{move}: {got.round(4)}")


def test_closing_the_eyes_lowers_the_aperture_and_raising_the_lower_lids_the_cheeks():
    closed = TEMPLATE.copy()
    closed[[37, 38, 43, 44]] = TEMPLATE[[41, 40, 47, 46]]
    assert proxies_of(closed)["eye_aperture"] < -0.2
    one_closed = TEMPLATE.copy()
    one_closed[[37, 38]] = TEMPLATE[[41, 40]]
    assert proxies_of(one_closed)["eye_asymmetry"] > 0.2
    squint = proxies_of(moved({(40, 41, 46, 47): (0, -0.05)}))
    assert squint["cheek_raise"] == pytest.approx(0.05) and squint["eye_aperture"] < 0


def test_failed_frames_are_interpolated_from_their_neighbours():
    faces = np.stack([moved({(48,): (-w, 0), (54,): (w, 0)}) for w in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)]) * 50 + 100
    ok = np.array([False, True, False, True, True, True])
    faces[3] = np.nan  # a frame dlib missed: NaN although ok says True
    proxies = geometry.au_proxies(faces, ok)
    assert list(proxies.columns) == list(geometry.PROXIES) and len(proxies) == 6
    np.testing.assert_allclose(proxies["lip_corner_pull"], [0.1, 0.1, 0.2, 0.3, 0.4, 0.5], atol=1e-9)
    assert np.isfinite(proxies.to_numpy()).all()
    np.testing.assert_array_equal(geometry.good_frames(faces, ok), [False, True, False, False, True, True])


def test_a_video_without_a_good_frame_is_refused():
    faces = a_video(4)
    with pytest.raises(ValueError, match="no frame"):
        geometry.au_proxies(faces, ok=np.zeros(4, bool))
    with pytest.raises(ValueError, match="no frame"):
        geometry.au_proxies(np.full((3, 68, 2), np.nan))
    with pytest.raises(ValueError, match="ok has 3 values"):
        geometry.au_proxies(faces, ok=np.ones(3, bool))
    with pytest.raises(ValueError, match="68 x 2"):
        geometry.au_proxies(faces[:, :5])


# --- smoothing ---------------------------------------------------------------------------------------


def gain(frequency: float, fps: float) -> float:
    """Amplitude after smoothing over amplitude before, of a sine, away from the ends of a 40 s series."""
    t = np.arange(0, 40, 1 / fps)
    sine = np.sin(2 * np.pi * frequency * t)
    middle = slice(len(t) // 4, 3 * len(t) // 4)
    return float(np.ptp(geometry.smooth(sine, fps)[middle]) / np.ptp(sine[middle]))


@pytest.mark.parametrize("fps", [100.0, 25.0, 10.0, 25 / 3])
def test_smoothing_keeps_slow_motion_and_removes_fast_motion_at_any_frame_rate(fps):
    assert gain(0.2, fps) > 0.9
    assert gain(4.0, fps) < 0.1
    assert gain(1.0, fps) == pytest.approx(0.5, abs=0.03)  # the cut-off: 1 Hz whatever the sampling rate


def test_smoothing_is_zero_phase():
    fps = 25.0
    t = np.arange(0, 12, 1 / fps)
    bump = np.exp(-((t - 5.0) ** 2) / (2 * 0.5**2))
    peak = int(np.argmax(bump))
    assert abs(int(np.argmax(geometry.smooth(bump, fps))) - peak) <= 1
    b, a = signal.butter(1, 1.0 / (fps / 2))
    assert int(np.argmax(signal.lfilter(b, a, bump))) - peak > 3  # one pass alone would delay the peak


def test_short_series_are_smoothed_without_failing():
    for n in (2, 3, 5, 6, 7):
        series = np.arange(n, dtype=float) ** 2
        smoothed = geometry.smooth(series, 10.0)
        assert smoothed.shape == (n,) and np.isfinite(smoothed).all()
    np.testing.assert_array_equal(geometry.smooth([4.0], 10.0), [4.0])
    np.testing.assert_array_equal(geometry.smooth([1.0, 5.0, 2.0], 1.5), [1.0, 5.0, 2.0])  # 1 Hz >= Nyquist
    with pytest.raises(ValueError, match="fps"):
        geometry.smooth([1.0, 2.0], 0)


def test_derivatives_are_per_second():
    fps = 10.0
    ramp = np.arange(60) / fps * 0.3  # rises 0.3 per second
    d0, d1, d2 = geometry.activity_series(ramp, fps)
    middle = slice(10, 50)
    np.testing.assert_allclose(d1[middle], 0.3, atol=0.01)
    np.testing.assert_allclose(d2[middle], 0.0, atol=0.01)
    np.testing.assert_allclose(d0[middle], ramp[middle], atol=0.01)


# --- statistics and descriptors ----------------------------------------------------------------------


def test_statistics_by_hand():
    got = dict(zip(geometry.STATISTICS, geometry.statistics(np.array([0.0, 1.0, 3.0, 2.0, 0.0]))))
    expected = {
        "mean": 1.2, "median": 1.0, "min": 0.0, "max": 3.0, "range": 3.0, "std": np.sqrt(6.8 / 5),
        "iqr": 2.0, "spread_10_90": 2.6, "mean_abs_dev": 1.04,
        "time_of_max": 0.5,  # sample 2 of 0..4
        "share_above_mean": 0.4, "share_above_low": 0.6,  # above 1.2: 3, 2; above (0 + 1.2) / 2: 1, 3, 2
        "runs_above_mean": 1, "runs_above_low": 1,
        "area_above_min": 1.2, "area_ratio": 0.4, "max_after_mean_cross": 0.0,  # crosses the mean at sample 2
    }
    assert set(got) == set(expected) and len(geometry.STATISTICS) == 17
    for name, value in expected.items():
        assert got[name] == pytest.approx(value), name
    zigzag = dict(zip(geometry.STATISTICS, geometry.statistics(np.array([2.0, 0, 2, 0, 2, 0]))))
    assert zigzag["runs_above_mean"] == 3 and zigzag["share_above_mean"] == 0.5 and zigzag["time_of_max"] == 0
    assert zigzag["max_after_mean_cross"] == pytest.approx(-0.2)  # max at 0, first crossing at sample 1 of 5
    flat = dict(zip(geometry.STATISTICS, geometry.statistics(np.full(4, 0.7))))
    assert flat["mean"] == pytest.approx(0.7) and flat["runs_above_mean"] == 0 and flat["area_ratio"] == 0
    columns = geometry.statistics(np.array([[0.0, 2.0], [1, 0], [3, 2], [2, 0], [0, 2]]))
    assert columns.shape == (17, 2) and columns[9, 0] == 0.5 and columns[12, 1] == 3


def test_descriptor_vector_has_the_documented_names_and_length():
    names = geometry.DESCRIPTOR_NAMES
    assert len(names) == len(set(names)) == len(geometry.PROXIES) * 3 * 17 + len(labels.EMOTIONS)
    assert "lip_corner_pull:d1:max" in names and names[-6:] == tuple(f"emotion:{e}" for e in labels.EMOTIONS)
    proxies = geometry.au_proxies(a_video(40))
    vector = geometry.video_descriptors(proxies, 10.0, "happy")
    assert list(vector.index) == list(names) and np.isfinite(vector.to_numpy()).all()
    shuffled = proxies[list(reversed(geometry.PROXIES))]
    pd.testing.assert_series_equal(geometry.video_descriptors(shuffled, 10.0, "happy"), vector)
    pd.testing.assert_series_equal(geometry.video_descriptors(proxies, 10.0, "happy"), vector)  # deterministic
    assert vector["lip_corner_pull:d0:time_of_max"] > 0.9  # the smile grows to the end
    assert vector["lip_corner_pull:d1:mean"] > 0  # and its speed is positive
    with pytest.raises(ValueError, match="lacks lips_part"):
        geometry.video_descriptors(proxies.drop(columns="lips_part"), 10.0, "happy")


def test_a_linear_model_has_one_weight_per_descriptor():
    videos = [geometry.video_descriptors(geometry.au_proxies(a_video(12 + 3 * i, seed=i)), 8.3, emotion)
              for i, emotion in enumerate(labels.EMOTIONS * 2)]
    features = np.stack([v.to_numpy() for v in videos])
    model = LogisticRegression(max_iter=200).fit(features, np.arange(len(videos)) % 2)
    assert model.coef_.shape == (1, len(geometry.DESCRIPTOR_NAMES))


@pytest.mark.parametrize("frames", [1, 2, 5])
def test_short_videos_get_finite_descriptors(frames):
    vector = geometry.video_descriptors(geometry.au_proxies(a_video(frames)), 25 / 3, "surprise")
    assert len(vector) == len(geometry.DESCRIPTOR_NAMES) and np.isfinite(vector.to_numpy()).all()


def test_emotion_code_is_one_hot_in_label_order():
    for index, emotion in enumerate(labels.EMOTIONS):
        code = geometry.emotion_code(emotion.upper())
        assert code.sum() == 1 and code[index] == 1
    vector = geometry.video_descriptors(geometry.au_proxies(a_video(5)), 10.0, "contempt")
    assert vector[list(geometry.EMOTION_DESCRIPTOR_NAMES)].tolist() == [0, 0, 0, 0, 1, 0]
    with pytest.raises(ValueError, match="unknown emotion"):
        geometry.emotion_code("fear")


def test_descriptors_refuse_missing_values():
    proxies = geometry.au_proxies(a_video(5))
    proxies.iloc[2, 0] = np.nan
    with pytest.raises(ValueError, match="missing"):
        geometry.activity_descriptors(proxies, 10.0)
    with pytest.raises(ValueError, match="at least one frame"):
        geometry.activity_descriptors(proxies.iloc[:0], 10.0)
