"""Tests of helpers.synthetic: layout, determinism, timelines, authenticity cues, detectability, resume, CLI.

Cue tests measure pixels, not the generator's own bookkeeping: an expression is the mean absolute
difference between a frame and the subject's neutral face, inside the face region. The test that frames
alone cannot tell the classes apart by their target intensity uses the plans (no pixels needed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from helpers import labels, synthetic
from helpers.frames import ExtractionConfig, sampled_indices
from helpers.profiles import PROFILES, SyntheticSpec
from helpers.synthetic import CueConfig
from helpers.video import probe, read_frames

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = SyntheticSpec(subjects=2, fps=10, seconds=1.0, width=96, height=72, seed=3)
SMOKE = PROFILES["smoke"].synthetic
DEMO = PROFILES["demo"].synthetic
# Cue measurements: smoke's frame rate and length (the onset needs time resolution), a smaller frame,
# and no head motion or noise, so that every pixel change is the expression's.
CUE_SPEC = SyntheticSpec(subjects=2, fps=SMOKE.fps, seconds=SMOKE.seconds, width=128, height=96, seed=0)
QUIET = CueConfig(head_motion=0.0, noise=0.0)
CUE_SUBJECTS = (0, 1)  # one of each base photo
CUE_EMOTIONS = ("happy", "sad", "surprise")  # mouth, brows, both; not contempt, one-sided by design


# ------------------------------------------------------------------------------------------------
# Shared fixtures and measurements
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("synthetic") / "FakeTrue_DB"
    table = synthetic.generate_dataset(root, TINY, progress=False)
    return root, table


def _code(emotion: str, genuine: bool) -> str:
    return labels.CODES[labels.class_index(emotion, genuine)]


def _change(frames: np.ndarray, neutral: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
    """Per frame: mean |frame - neutral| inside ``region`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = region
    difference = np.abs(frames[:, y0:y1, x0:x1].astype(np.float32) - neutral[y0:y1, x0:x1].astype(np.float32))
    return difference.mean(axis=(1, 2, 3))


def _rise_frames(curve: np.ndarray, phases: np.ndarray) -> float:
    """Frames the change takes from 10 % to 90 % of its peak, after any contrasting emotion."""
    usable = np.flatnonzero(phases != "contrast")
    values = curve[usable]
    peak = values.max()
    low = np.interp(0.1 * peak, *_rising_part(values))
    high = np.interp(0.9 * peak, *_rising_part(values))
    return float(high - low)


def _fade_frames(curve: np.ndarray, phases: np.ndarray) -> float:
    """Frames the change takes from 90 % back down to 10 % of its peak, after the peak (the rise of the
    time-reversed curve)."""
    return _rise_frames(curve[::-1], phases[::-1])


def _rising_part(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, frame positions) up to the peak, strictly increasing so np.interp can invert it.

    Of a run of equal values only the last frame is kept: the rise starts where the run ends.
    """
    rising = np.maximum.accumulate(values[: int(np.argmax(values)) + 1])
    positions = np.arange(len(rising), dtype=float)
    keep = np.concatenate([np.diff(rising) > 0, [True]])
    return rising[keep], positions[keep]


def _regions(subject_index: int) -> dict[str, list[tuple[int, int, int, int]]]:
    """Where to measure: the two halves of the face, and around the eyes and the mouth corners."""
    subject = synthetic.make_subject(subject_index, CUE_SPEC.width, CUE_SPEC.height, CUE_SPEC.seed)
    x0, y0, x1, y1 = synthetic.subject_look(subject_index, CUE_SPEC.width, CUE_SPEC.height, CUE_SPEC.seed).roi
    middle = int(round(subject.face_centre[0]))
    unit = subject.eye_distance

    def around(name: str, left: float, up: float, right: float, down: float) -> tuple[int, int, int, int]:
        x, y = subject.landmarks[name]
        return int(x - left * unit), int(y - up * unit), int(x + right * unit) + 1, int(y + down * unit) + 1

    return {
        "face": [(x0, y0, x1, y1)],
        "left": [(x0, y0, middle, y1)],
        "right": [(middle, y0, x1, y1)],
        # Lower lid and top of the cheek, where AU6 (eye involvement) shows.
        "eyes": [around(eye, 0.4, 0.1, 0.4, 0.45) for eye in ("eye_l", "eye_r")],
        "mouth": [around(corner, 0.3, 0.3, 0.3, 0.3) for corner in ("mouth_l", "mouth_r")],
    }


@cache
def _measure(subject_index: int, emotion: str, genuine: bool, cues: CueConfig) -> dict[str, float]:
    """Onset rise time, fade time after the peak, the change left at the last kept frame (relative to the
    peak), left/right balance at the apex, eye-region change relative to the mouth's."""
    neutral = synthetic.render_neutral(subject_index, CUE_SPEC)
    frames, truth = synthetic.render_video(subject_index, _code(emotion, genuine), CUE_SPEC, cues)
    phases = truth["phase"].to_numpy().astype(str)
    apex = phases == "apex"
    change = {
        name: np.mean([_change(frames, neutral, region) for region in regions], axis=0)
        for name, regions in _regions(subject_index).items()
    }
    last_kept = synthetic.kept_frames(len(frames), CUE_SPEC.fps)[-1]
    return {
        "rise": _rise_frames(change["face"], phases),
        "fade": _fade_frames(change["face"], phases),
        "left_at_end": float(change["face"][last_kept] / change["face"][phases != "contrast"].max()),
        "balance": float(np.log(change["left"][apex].mean() / change["right"][apex].mean())),
        "eye": float(change["eyes"][apex].mean() / change["mouth"][apex].mean()),
    }


def _cue_measurements(cues: CueConfig, emotions: tuple[str, ...] = CUE_EMOTIONS) -> pd.DataFrame:
    """One row per (subject, emotion, class). ``CueConfig.without`` only changes posed videos, so the
    genuine ones are rendered once, with ``QUIET``."""
    rows = []
    for subject_index in CUE_SUBJECTS:
        for emotion in emotions:
            for genuine in (True, False):
                values = _measure(subject_index, emotion, genuine, QUIET if genuine else cues)
                rows.append({"subject": subject_index, "emotion": emotion, "genuine": genuine, **values})
    return pd.DataFrame(rows)


def _by_class(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """``column`` side by side for genuine and posed of the same subject and emotion."""
    return table.pivot_table(index=["subject", "emotion"], columns="genuine", values=column)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    inter = max(0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0, min(ay + ah, by + bh) - max(ay, by))
    return inter / float(aw * ah + bw * bh - inter)


def _mtimes(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): path.stat().st_mtime_ns for path in sorted(root.glob("S*/*.MP4"))}


# ------------------------------------------------------------------------------------------------
# Layout and ground truth
# ------------------------------------------------------------------------------------------------


def test_layout_matches_sase_fe(tiny_dataset):
    root, _ = tiny_dataset
    subjects = sorted(path.name for path in root.iterdir() if path.is_dir())
    assert subjects == ["S01", "S02"]
    files_at_root = sorted(path.name for path in root.iterdir() if path.is_file())
    assert files_at_root == sorted([synthetic.GROUND_TRUTH_FILE, synthetic.PARAMETERS_FILE])
    for subject in subjects:
        assert sorted(path.name for path in (root / subject).iterdir()) == sorted(
            f"{c}.MP4" for c in labels.CODES
        )
        for code in labels.CODES:
            info = probe(root / subject / f"{code}.MP4")
            assert info.frames == round(TINY.fps * TINY.seconds)
            assert info.fps == pytest.approx(TINY.fps)
            assert (info.width, info.height) == (TINY.width, TINY.height)


def test_ground_truth_file_describes_every_frame(tiny_dataset):
    root, table = tiny_dataset
    written = pd.read_csv(root / synthetic.GROUND_TRUTH_FILE)
    assert list(written.columns) == list(synthetic.GROUND_TRUTH_COLUMNS)
    n_frames = synthetic.frame_count(TINY)
    assert len(written) == TINY.subjects * len(labels.CODES) * n_frames
    assert written.groupby(["subject", "code"]).size().eq(n_frames).all()
    assert set(written["phase"]) <= set(synthetic.PHASES)
    assert written["intensity"].between(0, 1).all()
    assert (written["x"] >= 0).all() and (written["x"] + written["w"] <= TINY.width).all()
    assert (written["y"] >= 0).all() and (written["y"] + written["h"] <= TINY.height).all()
    # Face about half the frame height or more, as the detector test assumes.
    assert written["h"].between(0.4 * TINY.height, 0.75 * TINY.height).all()
    assert written["time_s"].to_numpy() == pytest.approx(written["frame"].to_numpy() / TINY.fps)
    pd.testing.assert_frame_equal(written, table.astype(written.dtypes.to_dict()), check_dtype=False)
    recorded = json.loads((root / synthetic.PARAMETERS_FILE).read_text())
    assert recorded["complete"] is True
    assert recorded["seed"] == TINY.seed and recorded["version"] == synthetic.GENERATOR_VERSION
    assert recorded["cues"] == {name: float(value) for name, value in CueConfig().__dict__.items()}
    assert recorded["cues"]["posed_fade"] == 1.0 and recorded["cues"]["posed_onset"] == 0.0


# ------------------------------------------------------------------------------------------------
# Determinism
# ------------------------------------------------------------------------------------------------


def test_rendering_is_deterministic_and_seed_dependent():
    frames_a, truth_a = synthetic.render_video(1, "H2N2D", SMOKE)
    frames_b, truth_b = synthetic.render_video(1, "H2N2D", SMOKE)
    assert np.array_equal(frames_a, frames_b)
    pd.testing.assert_frame_equal(truth_a, truth_b)
    other_seed = SyntheticSpec(**{**SMOKE.__dict__, "seed": SMOKE.seed + 1})
    frames_c, truth_c = synthetic.render_video(1, "H2N2D", other_seed)
    assert not truth_a[["x", "y", "w", "h", "intensity"]].equals(truth_c[["x", "y", "w", "h", "intensity"]])
    assert np.abs(frames_a.astype(int) - frames_c.astype(int)).mean() > 5


def test_a_video_does_not_depend_on_how_many_subjects_there_are():
    few, _ = synthetic.render_video(1, "N2C", SyntheticSpec(**{**TINY.__dict__, "subjects": 2}))
    many, _ = synthetic.render_video(1, "N2C", SyntheticSpec(**{**TINY.__dict__, "subjects": 7}))
    assert np.array_equal(few, many)


def test_generation_is_deterministic_across_runs_and_workers(tiny_dataset, tmp_path):
    root, _ = tiny_dataset
    again = tmp_path / "again"
    synthetic.generate_dataset(again, TINY, workers=2, progress=False)
    assert (again / synthetic.GROUND_TRUTH_FILE).read_bytes() == (
        root / synthetic.GROUND_TRUTH_FILE
    ).read_bytes()
    for subject, code in [("S01", "N2H"), ("S02", "D2N2Sur")]:
        first = read_frames(root / subject / f"{code}.MP4").astype(int)
        second = read_frames(again / subject / f"{code}.MP4").astype(int)
        # Same frames in, same encoder settings: equal decoded frames (allow 1 level of encoder rounding).
        assert np.abs(first - second).max() <= 1


# ------------------------------------------------------------------------------------------------
# Timelines: what the videos show and when
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", labels.CODES)
def test_timeline_puts_onset_and_apex_in_the_kept_window(code):
    truth = synthetic.plan_video(0, code, SMOKE).ground_truth()
    fraction = truth["frame"].to_numpy() / len(truth)
    phase = truth["phase"].to_numpy().astype(str)
    video = labels.parse_code(code)
    assert phase[0] == ("neutral" if video.genuine else "contrast")
    assert ("contrast" in phase) == (not video.genuine)
    start, end = synthetic.KEPT_WINDOW
    # A posed step has no onset frames of its own; here the weaker side's delay gives it one or two.
    assert fraction[phase == "onset"].min() >= start and fraction[phase == "onset"].max() < end
    assert ((phase == "apex") & (fraction >= start) & (fraction < end)).sum() >= 2
    intensity = truth["intensity"].to_numpy()
    assert intensity[0] == 0 and intensity[phase == "apex"].min() > 0.9
    if video.genuine:  # the apex is held until after the window
        assert phase[-1] == "offset" and intensity[(fraction >= 0.8) & (fraction < end)].min() > 0.9
    else:  # the fade back to neutral: after the apex, it ends about where the window does
        offset = fraction[phase == "offset"]
        assert offset.min() > fraction[phase == "apex"].max() and offset.min() < end - 0.2
        assert offset.max() < end + 3 / len(truth) and phase[-1] == "neutral"
        assert intensity[fraction >= end].max() < 0.1


def test_posed_videos_start_with_the_contrasting_emotion_in_pixels():
    short = SyntheticSpec(**{**SMOKE.__dict__, "seconds": 0.4})  # only the first frames matter here
    still = CueConfig(head_motion=0.0)  # keep the default noise: the contrast must stand out of it
    beyond_noise = 6 * still.noise  # a change this large is (practically) never noise
    for subject_index in (0, 1):
        neutral = synthetic.render_neutral(subject_index, short).astype(np.float32)
        changed = {}  # fraction of pixels of the first frame that differ from the neutral face
        for code in labels.CODES:
            frames, _ = synthetic.render_video(subject_index, code, short, still)
            changed[code] = (np.abs(frames[0].astype(np.float32) - neutral) > beyond_noise).any(axis=2).mean()
        genuine = max(changed[code] for code in labels.GENUINE_CODES)
        posed = min(changed[code] for code in labels.POSED_CODES)
        assert posed > 0 and posed > 10 * genuine, changed


def test_every_emotion_looks_different_at_its_apex():
    apex = {}
    neutral = synthetic.render_neutral(1, CUE_SPEC).astype(np.float32)
    for emotion in labels.EMOTIONS:
        frames, truth = synthetic.render_video(1, _code(emotion, True), CUE_SPEC, QUIET)
        apex[emotion] = frames[truth["phase"].to_numpy() == "apex"].mean(axis=0)
    strength = {emotion: np.abs(image - neutral).mean() for emotion, image in apex.items()}
    for i, first in enumerate(labels.EMOTIONS):
        for second in labels.EMOTIONS[i + 1 :]:
            distance = np.abs(apex[first] - apex[second]).mean()
            assert distance > 0.5 * min(strength[first], strength[second]), (first, second)


def test_kept_frames_are_those_the_frame_extraction_keeps():
    default = ExtractionConfig()
    assert synthetic.KEPT_WINDOW == default.window and synthetic.KEPT_FPS == default.target_fps
    for fps, seconds in [(25, 2.0), (25, 4.0), (10, 1.0), (29.97, 3.0), (100, 6.0), (12.5, 3.3), (5, 1.0)]:
        n_frames = synthetic.frame_count(SyntheticSpec(1, fps, seconds, 96, 72))
        assert np.array_equal(synthetic.kept_frames(n_frames, fps), sampled_indices(n_frames, fps, default))


def test_the_frame_extraction_loads_neither_the_dataset_nor_the_generator():
    """Each spawned extraction worker imports helpers.frames: it needs neither (they read its defaults)."""
    script = ("import sys, helpers.frames; "
              "print(sorted(m for m in sys.modules if m in ('helpers.data', 'helpers.synthetic')))")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[1])
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip() == "[]"


@pytest.mark.parametrize("fps, seconds", [(DEMO.fps, DEMO.seconds), (SMOKE.fps, SMOKE.seconds), (30, 3.0)])
def test_posed_timeline_is_the_genuine_one_reordered(fps, seconds):
    """Kept frames of a posed video show exactly the intensities of the same video without the onset cue
    (which rises and holds like a genuine one, with the same random timing): neutral, then the apex, then
    the rise's intermediate intensities in reverse order."""
    spec = SyntheticSpec(subjects=6, fps=fps, seconds=seconds, width=96, height=72, seed=1)
    kept = sampled_indices(synthetic.frame_count(spec), fps, ExtractionConfig())
    symmetric = CueConfig().without("asymmetry")  # no side delay: each side's curve is reordered too
    for subject_index in range(spec.subjects):
        for code in labels.POSED_CODES:
            for cues in (CueConfig(), symmetric):
                posed = synthetic.plan_video(subject_index, code, spec, cues)
                rising = synthetic.plan_video(subject_index, code, spec, cues.without("onset"))
                values, reference = posed.intensity[kept], rising.intensity[kept]
                np.testing.assert_allclose(np.sort(values), np.sort(reference), atol=1e-9)
                # the order: neutral, a step to the apex, then never rising again
                moving = np.flatnonzero(values > 0)
                assert values[moving[0]] == 1.0 and np.all(np.diff(values[moving[0] :]) <= 1e-12)
                assert np.all(np.diff(reference) >= -1e-12)
            np.testing.assert_allclose(  # with symmetric sides, every target curve is a reordering
                np.sort(posed.curves[kept], axis=0), np.sort(rising.curves[kept], axis=0), atol=1e-6
            )
            phases, rising_phases = posed.phase[kept], rising.phase[kept]
            for name in ("neutral", "contrast", "apex"):
                assert (phases == name).sum() == (rising_phases == name).sum(), (code, name)
            assert (phases == "offset").sum() == (rising_phases == "onset").sum() and "onset" not in phases


def _kept_intensities(spec: SyntheticSpec, cues: CueConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The target emotion's intensity at the frames extraction keeps: videos x kept frames, the class
    (genuine) and the subject of each video."""
    kept = sampled_indices(synthetic.frame_count(spec), spec.fps, ExtractionConfig())
    values, genuine, subjects = [], [], []
    for subject_index in range(spec.subjects):
        for code in labels.CODES:
            values.append(synthetic.plan_video(subject_index, code, spec, cues).intensity[kept])
            genuine.append(labels.parse_code(code).genuine)
            subjects.append(subject_index)
    return np.array(values), np.array(genuine), np.array(subjects)


def _cross_validated_accuracy(features: np.ndarray, target: np.ndarray, groups: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_score

    model = LogisticRegression(max_iter=1000)
    return float(cross_val_score(model, features, target, groups=groups, cv=GroupKFold(5)).mean())


def test_single_frames_do_not_show_the_temporal_cue_their_order_does():
    """Per-video histograms of the kept frames' target intensity are at chance for genuine vs posed (so
    neither is a single frame); the order of the same intensities tells the classes apart."""
    spec = SyntheticSpec(**{**DEMO.__dict__, "subjects": 40})
    values, genuine, subjects = _kept_intensities(spec, CueConfig())
    histograms = np.stack([np.histogram(row, bins=5, range=(0.0, 1.0))[0] / len(row) for row in values])
    frame_accuracy = _cross_validated_accuracy(histograms, genuine, subjects)
    assert 0.40 <= frame_accuracy <= 0.60, frame_accuracy
    # The classes share the share of neutral, intermediate and apex frames, not only the mean.
    for share in (lambda v: v == 0, lambda v: (v > 0) & (v < 0.99), lambda v: v >= 0.99, lambda v: v):
        assert share(values[genuine]).mean() == pytest.approx(share(values[~genuine]).mean(), abs=0.02)

    half = values.shape[1] // 2
    order = np.column_stack(
        [values[:, :half].mean(axis=1) - values[:, half:].mean(axis=1), values.argmax(axis=1) / values.shape[1]]
    )
    order_accuracy = _cross_validated_accuracy(order, genuine, subjects)
    assert order_accuracy >= 0.9, order_accuracy
    # Without the onset cue the order says nothing either.
    values, genuine, subjects = _kept_intensities(spec, CueConfig().without("onset"))
    order = np.column_stack(
        [values[:, :half].mean(axis=1) - values[:, half:].mean(axis=1), values.argmax(axis=1) / values.shape[1]]
    )
    assert 0.40 <= _cross_validated_accuracy(order, genuine, subjects) <= 0.60


# ------------------------------------------------------------------------------------------------
# Authenticity cues, and that switching a cue off removes its difference
# ------------------------------------------------------------------------------------------------


def test_genuine_onsets_are_slower_than_posed_ones():
    rise = _by_class(_cue_measurements(QUIET), "rise")
    assert (rise[True] > rise[False]).all()
    assert rise[True].mean() > 2 * rise[False].mean()


def test_posed_expressions_fade_as_slowly_as_genuine_ones_rise():
    table = _cue_measurements(QUIET)
    rise, fade, left = _by_class(table, "rise"), _by_class(table, "fade"), _by_class(table, "left_at_end")
    # The fade is a genuine onset reversed: as long (each video draws its own duration, +-15 %).
    assert (fade[False] / rise[True]).between(0.7, 1.4).all()
    assert fade[False].mean() == pytest.approx(rise[True].mean(), rel=0.2)
    # By the last kept frame a posed face is (nearly) neutral again; a genuine one holds its apex.
    assert (left[False] < 0.1).all() and (left[True] > 0.9).all()


def test_without_the_onset_cue_posed_onsets_are_as_slow():
    table = _cue_measurements(QUIET.without("onset"))
    rise, left = _by_class(table, "rise"), _by_class(table, "left_at_end")
    assert rise[False].mean() == pytest.approx(rise[True].mean(), rel=0.3)
    assert (left[False] > 0.9).all()  # and they hold the apex: no fade


def test_posed_expressions_are_more_asymmetric():
    with_cue = _by_class(_cue_measurements(QUIET), "balance")
    without_cue = _by_class(_cue_measurements(QUIET.without("asymmetry")), "balance")
    # Each face has its own left/right pixel balance; the cue shifts the posed one away from genuine.
    shift_with = (with_cue[False] - with_cue[True]).abs()
    shift_without = (without_cue[False] - without_cue[True]).abs()
    assert shift_with.mean() > 2.5 * shift_without.mean()
    assert (shift_with > shift_without).all()


def test_genuine_expressions_involve_the_eyes():
    # Eye-region change per unit of mouth-region change, in smiles (the Duchenne marker).
    eye = _by_class(_cue_measurements(QUIET, ("happy",)), "eye")
    assert (eye[True] > 1.5 * eye[False]).all()
    eye_off = _by_class(_cue_measurements(QUIET.without("eye"), ("happy",)), "eye")
    assert (eye_off[True] / eye_off[False]).between(0.8, 1.25).all()


def test_cue_switches_only_change_posed_videos():
    for cue in ("onset", "asymmetry", "eye"):
        switched = synthetic.plan_video(0, "N2S", CUE_SPEC, QUIET.without(cue))
        assert np.array_equal(switched.units, synthetic.plan_video(0, "N2S", CUE_SPEC, QUIET).units)
        posed = synthetic.plan_video(0, "H2N2S", CUE_SPEC, QUIET.without(cue))
        assert not np.array_equal(posed.units, synthetic.plan_video(0, "H2N2S", CUE_SPEC, QUIET).units)


def test_action_units_follow_the_cue_config():
    cues = CueConfig()
    genuine = synthetic.plan_video(0, "N2H", SMOKE, cues).action_units()
    posed = synthetic.plan_video(0, "S2N2H", SMOKE, cues).action_units()
    apex_g, apex_p = genuine[genuine.phase == "apex"], posed[posed.phase == "apex"]
    assert (
        apex_g[["AU6_left", "AU6_right"]].mean().mean() > 3 * apex_p[["AU6_left", "AU6_right"]].mean().mean()
    )
    lopsided_g = (apex_g.AU12_left - apex_g.AU12_right).abs().mean() / apex_g[
        ["AU12_left", "AU12_right"]
    ].mean().mean()
    lopsided_p = (apex_p.AU12_left - apex_p.AU12_right).abs().mean() / apex_p[
        ["AU12_left", "AU12_right"]
    ].mean().mean()
    assert lopsided_p > 2 * lopsided_g


def test_cue_config_without_rejects_unknown_cues():
    assert CueConfig().without("onset").posed_onset == CueConfig().genuine_onset
    assert CueConfig().without("onset").posed_fade == 0.0
    with pytest.raises(ValueError, match="unknown cue"):
        CueConfig().without("voice")


# ------------------------------------------------------------------------------------------------
# The face detector used on real data finds the synthetic faces where the ground truth says
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, subject_index, step",
    [(SMOKE, 0, 5), (SyntheticSpec(**{**DEMO.__dict__, "seconds": 1.0}), 1, 4)],
    ids=["smoke", "demo"],
)
def test_haar_detector_finds_the_faces(spec, subject_index, step):
    detector = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    assert not detector.empty()
    found, overlapping, total = 0, 0, 0
    size = spec.height // 5
    for code in labels.CODES:
        frames, truth = synthetic.render_video(subject_index, code, spec)
        for i in range(0, len(frames), step):
            gray = cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY)
            boxes = detector.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(size, size))
            total += 1
            if len(boxes):
                found += 1
                expected = truth.loc[i, ["x", "y", "w", "h"]].to_numpy()
                overlapping += max(_iou(box, expected) for box in boxes) > 0.5
    assert found / total >= 0.9
    assert overlapping / total >= 0.8


# ------------------------------------------------------------------------------------------------
# Resuming, regenerating, refusing foreign folders
# ------------------------------------------------------------------------------------------------


def test_generation_resumes_and_regenerates_on_new_parameters(tmp_path):
    root = tmp_path / "data"
    spec = SyntheticSpec(**{**TINY.__dict__, "subjects": 1})
    synthetic.generate_dataset(root, spec, progress=False)
    before = _mtimes(root)
    assert len(before) == len(labels.CODES)

    (root / "S01" / "N2S.MP4").unlink()
    assert synthetic.dataset_status(root, spec) == "incomplete"
    synthetic.generate_dataset(root, spec, progress=False)
    after = _mtimes(root)
    assert after.keys() == before.keys()
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {"S01/N2S.MP4"}

    assert synthetic.ensure_dataset(root, spec, progress=False) == root  # up to date: nothing redone
    assert _mtimes(root) == after

    more = SyntheticSpec(**{**spec.__dict__, "subjects": 2})  # more subjects: existing videos are kept
    synthetic.ensure_dataset(root, more, workers=1, progress=False)
    grown = _mtimes(root)
    assert {name: grown[name] for name in after} == after and len(grown) == 2 * len(labels.CODES)
    synthetic.ensure_dataset(root, spec, workers=1, progress=False)  # fewer again: S02 goes
    assert sorted(path.name for path in root.iterdir() if path.is_dir()) == ["S01"]

    reseeded = SyntheticSpec(**{**spec.__dict__, "seed": spec.seed + 1})
    assert synthetic.dataset_status(root, reseeded) == "outdated"
    synthetic.ensure_dataset(root, reseeded, workers=1, progress=False)
    regenerated = _mtimes(root)
    assert all(regenerated[name] != after[name] for name in after)
    assert synthetic.read_parameters(root)["seed"] == reseeded.seed

    weaker_cues = CueConfig(posed_asymmetry=0.0)
    assert synthetic.dataset_status(root, reseeded, weaker_cues) == "outdated"


def test_an_interrupted_run_is_finished_by_ensure_dataset(tmp_path, capsys):
    root = tmp_path / "data"
    spec = SyntheticSpec(**{**TINY.__dict__, "subjects": 1})
    synthetic.generate_dataset(root, spec, progress=False)
    parameters = synthetic.read_parameters(root)
    (root / synthetic.PARAMETERS_FILE).write_text(json.dumps({**parameters, "complete": False}))
    (root / synthetic.GROUND_TRUTH_FILE).unlink()
    kept = _mtimes(root)
    synthetic.ensure_dataset(root, spec, workers=1, progress=False)
    assert "incomplete" in capsys.readouterr().out
    assert _mtimes(root) == kept
    assert synthetic.dataset_status(root, spec) == "ok"


@pytest.mark.parametrize("change", [{"width": 97}, {"height": 20}, {"subjects": 0}, {"seconds": 0.0}])
def test_impossible_sizes_are_refused_before_anything_is_written(tmp_path, change):
    with pytest.raises(ValueError, match="invalid synthetic dataset size"):
        synthetic.generate_dataset(
            tmp_path / "data", SyntheticSpec(**{**TINY.__dict__, **change}), progress=False
        )
    assert not (tmp_path / "data").exists()


def test_a_folder_with_foreign_videos_is_never_overwritten(tmp_path):
    root = tmp_path / "FakeTrue_DB"
    (root / "S01").mkdir(parents=True)
    video = root / "S01" / "N2H.MP4"
    video.write_bytes(b"a real recording")
    with pytest.raises(FileExistsError, match="not a synthetic dataset"):
        synthetic.generate_dataset(root, TINY, progress=False)
    assert video.read_bytes() == b"a real recording"


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------


def test_command_line_generates_and_prints_the_folder(tmp_path, capsys):
    out = tmp_path / "cli data"
    arguments = ["--subjects", "1", "--out", str(out), "--fps", "5", "--seconds", "1",
                 "--width", "96", "--height", "72", "--workers", "1", "--no-progress"]  # fmt: skip
    command = [sys.executable, "-m", "helpers.synthetic", *arguments]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert str(out.resolve()) in result.stdout
    assert len(list(out.glob("S01/*.MP4"))) == len(labels.CODES)
    assert synthetic.main(arguments) == 0  # the same again, in this process: nothing to do
    assert "up to date" in capsys.readouterr().out


def test_command_line_explains_itself(capsys):
    with pytest.raises(SystemExit) as finished:
        synthetic.main(["--help"])
    assert finished.value.code == 0
    help_text = capsys.readouterr().out
    assert "--profile" in help_text and "--subjects" in help_text and "--out" in help_text
    with pytest.raises(SystemExit) as refused:
        synthetic.main([])
    assert refused.value.code == 2 and "--profile" in capsys.readouterr().err
