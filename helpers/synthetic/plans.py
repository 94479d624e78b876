"""Per-video plans: what each frame of a video shows, computed without rendering a pixel.

The authenticity cues (:class:`CueConfig`) and each emotion's action units (:data:`EMOTION_ACTION_UNITS`)
decide the timelines of a video (:func:`plan_video`): per-frame action-unit intensities, phases, small
smooth head motion and the face box a detector should find.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np
import pandas as pd

from helpers import labels
from helpers.frames.config import ExtractionConfig, sampled_indices
from helpers.profiles import SyntheticSpec
from helpers.synthetic.action_units import ACTION_UNITS, N_CHANNELS, SIDES, channel
from helpers.synthetic.subjects import Subject, make_subject, subject_name

GROUND_TRUTH_COLUMNS = ("subject", "code", "frame", "time_s", "x", "y", "w", "h", "phase", "intensity")
PHASES = ("neutral", "contrast", "onset", "apex", "offset")

# Action-unit intensities of each emotion at its apex, before eye involvement (AU6), which the
# authenticity cues add. Contempt is one-sided: its values apply to one half of the face only.
EMOTION_ACTION_UNITS: dict[str, dict[str, float]] = {
    "happy": {"AU12": 1.0},
    "sad": {"AU1": 0.9, "AU4": 0.5, "AU15": 0.9},
    "disgust": {"AU9": 1.0, "AU4": 0.4, "AU15": 0.5},
    "anger": {"AU4": 1.0, "AU5": 0.6, "AU24": 0.9},
    "contempt": {"AU12": 0.8, "AU14": 1.0},
    "surprise": {"AU1": 1.0, "AU2": 1.0, "AU5": 0.9, "AU26": 1.0},
}
UNILATERAL_EMOTIONS = frozenset({"contempt"})

# Where a genuine onset of the target emotion is centred (fraction of the video) and the window the
# frame extraction keeps (``ExtractionConfig().window``): the onset and the apex lie inside the window,
# and so does a posed video's whole timeline (step, apex and fade).
ONSET_CENTRE = 0.57
KEPT_WINDOW = ExtractionConfig().window
KEPT_FPS = ExtractionConfig().target_fps  # the frame rate the extraction keeps by default


@dataclass(frozen=True)
class CueConfig:
    """Strengths of the cues that separate genuine from posed videos, and of the nuisance variation.

    Durations and delays are fractions of the video's length; amplitudes are fractions of an action
    unit's full intensity. ``without("onset", "asymmetry", "eye")`` switches cues off (posed then
    behaves like genuine for that cue), so experiments can measure what each cue contributes.

    The temporal cue changes only the *order* of a posed video's intensities, not which intensities it
    shows: in the kept window (:data:`KEPT_WINDOW`) a genuine expression is neutral, rises smoothly over
    ``genuine_onset`` and holds its apex; a posed one is neutral for as long, jumps to its apex at once
    (``posed_onset=0``), holds it for as long, then fades back through the same intermediate intensities
    in reverse order, over the same time, ending at the window's end. So a single frame's intensity says
    nothing about the class; only a clip shows whether the intermediate frames come before or after the
    apex.
    """

    # Temporal shape (Schmidt et al. 2006: deliberate expressions have faster onsets).
    genuine_onset: float = 0.30  # duration of a genuine onset (a smootherstep), and of a posed fade
    posed_onset: float = 0.0  # duration of a posed onset (a smootherstep); 0: a step, the apex within one
    # frame. Longer posed onsets put intermediate frames before the apex too, which genuine videos do not
    # balance: the per-frame intensity distribution of the classes then differs (by about
    # posed_onset / genuine_onset of the intermediate frames).
    posed_fade: float = 1.0  # how far a posed expression fades after its apex, back towards neutral over
    # the genuine onset's duration (1: to neutral, the distribution-matching construction; 0: no fade,
    # it holds the apex like a genuine one)
    # Eye involvement (Ekman, Davidson & Friesen 1990): AU6 intensity relative to the emotion's.
    genuine_eye_involvement: float = 0.6
    posed_eye_involvement: float = 0.1
    # Asymmetry (Ekman, Hager & Friesen 1981): deliberate actions are more asymmetric.
    posed_asymmetry: float = 0.35  # how much weaker one side of a posed expression is
    posed_side_delay: float = 0.03  # how much later that weaker side starts
    # Nuisance variation, the same for both classes (so the task is learnable, not trivial).
    natural_asymmetry: float = 0.08  # random weakening of one side in every video, up to this
    onset_jitter: float = 0.15  # relative random change of the onset (and fade) duration
    timing_jitter: float = 0.03  # random shift of the (genuine) onset's centre
    amplitude_jitter: float = 0.15  # relative random change of a video's expression amplitude
    head_motion: float = 0.02  # head translation amplitude, fraction of the face height
    noise: float = 2.0  # standard deviation of the pixel noise, in grey levels

    def without(self, *cues: str) -> CueConfig:
        """A copy with the named cues switched off: ``"onset"``, ``"asymmetry"`` or ``"eye"``.

        Without the onset cue a posed expression rises as slowly and smoothly as a genuine one and holds
        its apex (no fade).
        """
        changes: dict[str, float] = {}
        for cue in cues:
            if cue == "onset":
                changes.update(posed_onset=self.genuine_onset, posed_fade=0.0)
            elif cue == "asymmetry":
                changes.update(posed_asymmetry=0.0, posed_side_delay=0.0)
            elif cue == "eye":
                changes.update(posed_eye_involvement=self.genuine_eye_involvement)
            else:
                raise ValueError(f"unknown cue {cue!r}; expected 'onset', 'asymmetry' or 'eye'")
        return replace(self, **changes)


@dataclass(frozen=True)
class VideoPlan:
    """Everything about one video except its pixels.

    The expression is a sum of a few *components* (the target emotion on each side of the face, and for
    posed videos the contrasting emotion on each side), each a fixed action-unit pattern scaled by its
    own curve over time: ``units = curves @ components``.
    """

    subject: str
    code: str
    fps: float
    curves: np.ndarray  # T x K: strength of each component in each frame
    components: np.ndarray  # K x N_CHANNELS: action-unit intensities of each component at strength 1
    intensity: np.ndarray  # T: the target emotion's nominal intensity, 0..1
    phase: np.ndarray  # T: one of PHASES
    head: np.ndarray  # T x 4: dx, dy (pixels), scale factor, rotation (degrees)
    boxes: np.ndarray  # T x 4: x, y, w, h of the face box in the frame
    onset: tuple[float, float]  # start and end of the target emotion's onset, fractions of the video
    # (a posed step starts and ends at once: without the weaker side's delay, no frame is in its onset)
    noise_seed: int

    @property
    def frames(self) -> int:
        return len(self.intensity)

    @property
    def units(self) -> np.ndarray:
        """T x N_CHANNELS action-unit intensities (all image-left channels, then all image-right)."""
        return self.curves @ self.components

    @property
    def left(self) -> np.ndarray:
        """T x len(ACTION_UNITS) intensities on the image-left half of the face."""
        return self.units[:, : len(ACTION_UNITS)]

    @property
    def right(self) -> np.ndarray:
        return self.units[:, len(ACTION_UNITS) :]

    def action_units(self) -> pd.DataFrame:
        """Per-frame intensities as a table: frame, phase, then ``AU1_left`` ... ``AU26_right``."""
        table: dict[str, np.ndarray] = {"frame": np.arange(self.frames), "phase": self.phase}
        for side, values in (("left", self.left), ("right", self.right)):
            for index, unit in enumerate(ACTION_UNITS):
                table[f"{unit}_{side}"] = values[:, index]
        return pd.DataFrame(table)

    def ground_truth(self) -> pd.DataFrame:
        """The rows of ``ground_truth.csv`` for this video."""
        frame = np.arange(self.frames)
        return pd.DataFrame(
            {
                "subject": self.subject,
                "code": self.code,
                "frame": frame,
                "time_s": np.round(frame / self.fps, 6),
                "x": self.boxes[:, 0],
                "y": self.boxes[:, 1],
                "w": self.boxes[:, 2],
                "h": self.boxes[:, 3],
                "phase": self.phase.astype(str),
                "intensity": np.round(self.intensity, 4),
            },
            columns=list(GROUND_TRUTH_COLUMNS),
        )


def frame_count(spec: SyntheticSpec) -> int:
    return max(1, int(round(spec.fps * spec.seconds)))


def _smootherstep(u: np.ndarray) -> np.ndarray:
    """0 -> 1 with zero velocity and acceleration at both ends: a smooth, natural-looking rise."""
    u = np.clip(u, 0.0, 1.0)
    return u**3 * (u * (6 * u - 15) + 10)


def _rise(t: np.ndarray, start: float, duration: float) -> np.ndarray:
    """Onset curve: a smootherstep from ``start`` over ``duration``; a step (0, then 1 after ``start``)
    when ``duration`` is 0."""
    if duration <= 0:
        return (t > start).astype(float)
    return _smootherstep((t - start) / duration)


def _expression(emotion: str, side: str, contempt_side: str, eye_involvement: float) -> np.ndarray:
    """N_CHANNELS intensities of one emotion on one side of the face (zero on the other side)."""
    values = np.zeros(N_CHANNELS)
    if emotion in UNILATERAL_EMOTIONS and side != contempt_side:
        return values
    for unit, value in EMOTION_ACTION_UNITS.get(emotion, {}).items():
        values[channel(unit, side)] = value
    if emotion in EMOTION_ACTION_UNITS:
        values[channel("AU6", side)] += eye_involvement
    return values


def _video_rng(seed: int, subject_index: int, code: str) -> np.random.Generator:
    return np.random.default_rng([seed, subject_index, 1 + labels.CODES.index(code)])


def plan_video(
    subject_index: int, code: str, spec: SyntheticSpec, cues: CueConfig | None = None
) -> VideoPlan:
    """The per-frame action units, phases, head motion and face boxes of one video (no pixels)."""
    cues = cues or CueConfig()
    video = labels.parse_code(code)
    genuine = video.genuine
    subject = make_subject(subject_index, spec.width, spec.height, spec.seed)
    rng = _video_rng(spec.seed, subject_index, video.code)
    n_frames = frame_count(spec)
    t = np.arange(n_frames) / n_frames  # fraction of the video at each frame

    # Timing of the target emotion, drawn alike for both classes (the same random numbers, from the same
    # distributions), so that the classes differ only in how a posed video orders its intensities.
    jitter = 1 + rng.uniform(-1, 1) * cues.onset_jitter
    onset_duration = cues.genuine_onset * jitter
    onset_start = max(
        ONSET_CENTRE + rng.uniform(-1, 1) * cues.timing_jitter - onset_duration / 2, KEPT_WINDOW[0] + 0.01
    )
    onset_duration = max(min(onset_duration, 0.85 - onset_start), 1.0 / n_frames)
    apex_end = rng.uniform(0.90, 0.94)
    fall = 1 - 0.7 * _smootherstep((t - apex_end) / 0.12)  # a genuine video's offset, after the window
    delay = 0.0 if genuine else cues.posed_side_delay
    if genuine:
        rise_duration, shape = onset_duration, fall
    else:
        # A step at the genuine onset's start (posed_onset 0), the apex, then a fade that is the genuine
        # onset reversed in time, ending at the window's end.
        rise_duration = 0.0
        if cues.posed_onset > 0:  # a smootherstep, clamped as a genuine onset is
            rise_duration = max(min(cues.posed_onset * jitter, 0.85 - onset_start), 1.0 / n_frames)
        fade_start, fade_end = _posed_fade(onset_start, onset_duration, n_frames, spec.fps)
        fade = _smootherstep((fade_end - t) / onset_duration)
        shape = (1 - cues.posed_fade * (1 - fade)) * fall
    amplitude = subject.expressivity * (1 + rng.uniform(-1, 1) * cues.amplitude_jitter)
    eye = cues.genuine_eye_involvement if genuine else cues.posed_eye_involvement
    weaker_side = SIDES[int(rng.integers(2))]  # posed: the side that moves less and later
    natural_side, natural_weakening = SIDES[int(rng.integers(2))], rng.uniform(0, cues.natural_asymmetry)
    # The contrasting emotion a posed video starts with: shown from the first frame, then relaxed.
    contrast_end, contrast_relax = rng.uniform(0.10, 0.15), rng.uniform(0.08, 0.12)
    contrast_amplitude = rng.uniform(0.75, 1.0) * subject.expressivity
    contrast = 1 - _smootherstep((t - contrast_end) / contrast_relax)

    curves, components = [], []
    for side in SIDES:
        gain, start = 1.0, onset_start
        if side == natural_side:
            gain *= 1 - natural_weakening
        if not genuine and side == weaker_side:  # deliberate actions: one side weaker and later
            gain *= 1 - cues.posed_asymmetry
            start += delay
        curves.append(_rise(t, start, rise_duration) * shape * amplitude * gain)
        components.append(_expression(video.emotion, side, subject.contempt_side, eye))
        if not genuine:  # the contrasting emotion is acted too: same cues as the target
            curves.append(contrast * contrast_amplitude * gain)
            components.append(
                _expression(video.start_emotion, side, subject.contempt_side, cues.posed_eye_involvement)
            )

    phase = np.full(n_frames, "neutral", dtype=object)
    if not genuine:
        phase[t < contrast_end + contrast_relax] = "contrast"
    apex_start = onset_start + rise_duration + delay  # a posed step's onset: only the weaker side's delay
    phase[(t >= onset_start) & (t < apex_start)] = "onset"
    if genuine or cues.posed_fade <= 0:
        phase[(t >= apex_start) & (t < apex_end)] = "apex"
        phase[t >= apex_end] = "offset"
    else:
        phase[(t >= apex_start) & (t <= fade_start)] = "apex"
        phase[t > fade_start] = "offset"
        if cues.posed_fade >= 1:
            phase[t >= fade_end] = "neutral"  # faded back to neutral, until the video's end

    head = _head_motion(rng, n_frames, spec.fps, subject.face_height, cues.head_motion)
    return VideoPlan(
        subject=subject_name(subject_index, spec.subjects),
        code=video.code,
        fps=float(spec.fps),
        curves=np.stack(curves, axis=1).astype(np.float32),
        components=np.stack(components).astype(np.float32),
        intensity=np.clip(_rise(t, onset_start, rise_duration) * shape, 0.0, 1.0),
        phase=phase,
        head=head,
        boxes=np.stack([_face_box(subject, pose, spec.width, spec.height) for pose in head]),
        onset=(float(onset_start), float(onset_start + rise_duration)),
        noise_seed=int(rng.integers(2**31)),
    )


def kept_frames(n_frames: int, fps: float) -> np.ndarray:
    """The frames that notebook 02's default extraction keeps (:func:`helpers.frames.sampled_indices`)."""
    return sampled_indices(n_frames, fps, ExtractionConfig())


def _posed_fade(
    onset_start: float, onset_duration: float, n_frames: int, fps: float
) -> tuple[float, float]:
    """Start and end (fractions of the video) of a posed video's fade: the genuine onset, reversed in time.

    The kept frames (:func:`kept_frames`) after ``onset_start`` are mirrored onto themselves: frame ``i``
    of the posed video shows what frame ``a + b - i`` of the genuine curve with the same timing shows,
    ``a`` and ``b`` the first and the last of those frames. So the kept frames of both show the same
    intensities, in another order. The fade ends at ``(a + b) / n - onset_start``, about the window's end,
    and starts one onset duration earlier. (Aligning the mirror with the kept frames, rather than with
    every frame, keeps the classes alike for the frames a model is given: mirrored about another point,
    the posed video's kept frames would sample the genuine curve at other offsets from its start.)
    """
    t = np.arange(n_frames) / n_frames
    kept = kept_frames(n_frames, fps)
    after = kept[t[kept] > onset_start]  # the frames where a genuine curve has left neutral
    fade_end = (after[0] + after[-1]) / n_frames - onset_start if len(after) else KEPT_WINDOW[1]
    return fade_end - onset_duration, fade_end


def _head_motion(
    rng: np.random.Generator, n_frames: int, fps: float, face_height: float, strength: float
) -> np.ndarray:
    """Smooth small head movements: sums of slow sines for shift, scale and roll."""
    seconds = np.arange(n_frames) / fps
    amplitudes = np.array([strength * face_height, strength * face_height, 0.75 * strength, 60.0 * strength])
    motion = np.zeros((n_frames, 4))
    for column, amplitude in enumerate(amplitudes):
        for _ in range(2):
            frequency, phase = rng.uniform(0.15, 0.7), rng.uniform(0, 2 * math.pi)
            motion[:, column] += amplitude / 2 * np.sin(2 * math.pi * frequency * seconds + phase)
    motion[:, 2] += 1.0  # scale factor around 1
    return motion


def head_matrix(subject: Subject, pose: np.ndarray) -> np.ndarray:
    """2x3 affine of one frame's head pose, pivoting on the face centre."""
    dx, dy, scale, degrees = pose
    centre = (float(subject.face_centre[0]), float(subject.face_centre[1]))
    matrix = cv2.getRotationMatrix2D(centre, float(degrees), float(scale))
    matrix[:, 2] += (dx, dy)
    return matrix


def _face_box(subject: Subject, pose: np.ndarray, width: int, height: int) -> np.ndarray:
    """The face box (x, y, w, h) a detector should find: the moved face corners' bounding box."""
    matrix = head_matrix(subject, pose)
    corners = subject.face_corners @ matrix[:, :2].T + matrix[:, 2]
    x0, y0 = np.clip(corners.min(axis=0), 0, [width, height])
    x1, y1 = np.clip(corners.max(axis=0), 0, [width, height])
    return np.round([x0, y0, x1 - x0, y1 - y0]).astype(int)
