"""Per-video plans: what each frame of a video shows, computed without rendering a pixel.

The authenticity cues (:class:`CueConfig`: effect sizes, each cue's strength drawn per video) and each
emotion's action units (:data:`EMOTION_ACTION_UNITS`) decide the timelines of a video (:func:`plan_video`):
per-frame action-unit intensities, phases, small smooth head motion and the face box a detector should find.
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

# Where an expression's onset starts (fraction of the video, before the timing jitter) and the window the
# frame extraction keeps (``ExtractionConfig().window``): the whole expression (onset, apex and offset) lies
# inside the window, with neutral frames before and after it, in both classes.
ONSET_START = 0.44
KEPT_WINDOW = ExtractionConfig().window
KEPT_FPS = ExtractionConfig().target_fps  # the frame rate the extraction keeps by default
CUES: tuple[str, ...] = ("onset", "eye", "asymmetry")  # the authenticity cues, each with its effect size


@dataclass(frozen=True)
class CueConfig:
    """Effect sizes of the cues that separate genuine from posed videos, and the nuisance variation.

    Every video draws, for each cue, a latent *strength* ``z`` from a normal distribution with unit standard
    deviation, centred on ``+effect / 2`` in genuine and ``-effect / 2`` in posed videos: ``effect`` is the
    cue's Cohen's d, and its AUC (the chance that a random genuine video shows more of the cue than a random
    posed one) is ``Phi(effect / sqrt(2))``. The classes overlap, so no cue decides a video on its own. The
    strength sets the cue through a monotone map (which keeps the AUC):

    * ``onset``: the share of the expression's changing time spent rising, ``0.1 + 0.8 Phi(z)``; the rest
      is spent fading after the apex. Genuine expressions tend to rise slowly and fade fast, posed ones to
      rise fast and fade slowly. Rise plus fade always take ``expression_duration``, so every video passes
      through the same intensities for as long: single frames do not show this cue, only their order.
    * ``eye``: eye involvement (AU6) relative to the emotion's intensity, ``eye_involvement * exp(eye_spread z)``.
    * ``asymmetry``: how much weaker one side of the face is, ``max_asymmetry * Phi(-z)``; that side also
      starts (and fades) later by ``side_delay_per_asymmetry`` times that weakening (fractions of the
      video), so every side holds its apex as long.

    ``without(...)`` sets named cues' effects to 0 (both classes then draw their strength alike);
    :meth:`cue_free` sets every one to 0 and drops the posed videos' contrasting start too: the negative
    control, on which nothing tells the classes apart.
    """

    # Effect sizes (Cohen's d of the latent strength), chosen so that an oracle linear model on descriptors
    # of the true action-unit intensities is 80-90 % right on the paired protocol (experiments/oracle.py).
    onset_effect: float = 1.1  # temporal shape (Schmidt et al. 2006: deliberate onsets are faster)
    eye_effect: float = 1.0  # eye involvement, AU6 (Ekman, Davidson & Friesen 1990)
    asymmetry_effect: float = 1.3  # asymmetry (Ekman, Hager & Friesen 1981)
    contrast_start: float = 1.0  # posed videos start with the contrasting emotion (SASE-FE); 0: neutral
    # How each strength becomes the cue.
    eye_involvement: float = 0.3  # AU6 relative to the emotion at strength 0
    eye_spread: float = 0.5  # log-scale spread of the eye involvement per unit of strength
    max_asymmetry: float = 0.5  # weakening of one side at the lowest strengths
    side_delay_per_asymmetry: float = 0.1  # the weaker side's delay (fraction of the video) per weakening
    # Timeline, the same distribution for both classes (fractions of the video).
    expression_duration: float = 0.26  # rise plus fade
    apex_duration: float = 0.08  # the apex held between them
    # Nuisance variation, the same for both classes.
    natural_asymmetry: float = 0.08  # random weakening of one side in every video, up to this
    onset_jitter: float = 0.15  # relative random change of the expression's and the apex's durations
    timing_jitter: float = 0.03  # random shift of the onset's start
    amplitude_jitter: float = 0.15  # relative random change of a video's expression amplitude
    head_motion: float = 0.02  # head translation amplitude, fraction of the face height
    noise: float = 2.0  # standard deviation of the pixel noise, in grey levels

    def without(self, *cues: str) -> CueConfig:
        """A copy with the named cues (of :data:`CUES`) switched off: effect size 0, both classes alike."""
        changes: dict[str, float] = {}
        for cue in cues:
            if cue not in CUES:
                raise ValueError(f"unknown cue {cue!r}; expected one of {', '.join(map(repr, CUES))}")
            changes[f"{cue}_effect"] = 0.0
        return replace(self, **changes)

    def only(self, cue: str) -> CueConfig:
        """A copy with every cue but ``cue`` switched off (for cue-ablation experiments)."""
        return self.without(*(other for other in CUES if other != cue)) if cue in CUES else self.without(cue)

    @classmethod
    def cue_free(cls, **changes: float) -> CueConfig:
        """The negative control: every cue's effect 0 and no contrasting start, so genuine and posed videos
        are drawn from the same distributions (only their random numbers differ)."""
        return replace(cls(**changes).without(*CUES), contrast_start=0.0)

    @property
    def effects(self) -> dict[str, float]:
        """Each cue's effect size (Cohen's d) by name."""
        return {cue: float(getattr(self, f"{cue}_effect")) for cue in CUES}


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
    onset: tuple[float, float]  # start and end of the target emotion's rise (stronger side), fractions
    # of the video
    noise_seed: int
    strengths: dict[str, float]  # each cue's latent strength in this video (see CueConfig), by cue name

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

    # Each cue's strength: unit normal, centred on +effect/2 (genuine) or -effect/2 (posed).
    sign = 0.5 if genuine else -0.5
    strengths = {cue: float(rng.standard_normal() + sign * effect) for cue, effect in cues.effects.items()}
    # Timing, drawn alike for both classes: the expression rises over a share of its changing time that
    # the onset cue sets, holds the apex, and fades over the rest, inside the kept window.
    duration = cues.expression_duration * (1 + rng.uniform(-1, 1) * cues.onset_jitter)
    apex_duration = cues.apex_duration * (1 + rng.uniform(-1, 1) * cues.onset_jitter)
    onset_start = ONSET_START + rng.uniform(-1, 1) * cues.timing_jitter
    rise_share = 0.1 + 0.8 * _normal_cdf(strengths["onset"])
    rise_duration = max(rise_share * duration, 1.0 / n_frames)
    fade_duration = max(duration - rise_duration, 1.0 / n_frames)
    fade_start = onset_start + rise_duration + apex_duration
    amplitude = subject.expressivity * (1 + rng.uniform(-1, 1) * cues.amplitude_jitter)
    eye = cues.eye_involvement * math.exp(cues.eye_spread * strengths["eye"])
    weakening = cues.max_asymmetry * _normal_cdf(-strengths["asymmetry"])
    delay = cues.side_delay_per_asymmetry * weakening
    weaker_side = SIDES[int(rng.integers(2))]  # the side that moves less and later
    natural_side, natural_weakening = SIDES[int(rng.integers(2))], rng.uniform(0, cues.natural_asymmetry)
    # The contrasting emotion a posed video starts with: shown from the first frame, then relaxed.
    contrast_end, contrast_relax = rng.uniform(0.10, 0.15), rng.uniform(0.08, 0.12)
    contrast_amplitude = rng.uniform(0.75, 1.0) * subject.expressivity * cues.contrast_start
    contrast = 1 - _smootherstep((t - contrast_end) / contrast_relax)

    curves, components = [], []
    for side in SIDES:
        gain, start = 1.0, onset_start
        if side == natural_side:
            gain *= 1 - natural_weakening
        if side == weaker_side:
            gain *= 1 - weakening
            start += delay
        lag = start - onset_start  # the weaker side starts and fades later by the same delay: every side
        # holds its apex for apex_duration (a longer apex on one side would be a timing cue of its own)
        shape = _rise(t, start, rise_duration) * (1 - _rise(t, fade_start + lag, fade_duration))
        curves.append(shape * amplitude * gain)
        components.append(_expression(video.emotion, side, subject.contempt_side, eye))
        if not genuine and contrast_amplitude > 0:  # the contrasting emotion is acted too, with the same cues
            curves.append(contrast * contrast_amplitude * gain)
            components.append(_expression(video.start_emotion, side, subject.contempt_side, eye))

    intensity = _rise(t, onset_start, rise_duration) * (1 - _rise(t, fade_start, fade_duration))
    phase = np.full(n_frames, "neutral", dtype=object)
    if not genuine and contrast_amplitude > 0:
        phase[t < contrast_end + contrast_relax] = "contrast"
    apex_start = onset_start + rise_duration  # phases follow the stronger side (the weaker one lags by delay)
    phase[(t >= onset_start) & (t < apex_start)] = "onset"
    phase[(t >= apex_start) & (t < fade_start)] = "apex"
    phase[(t >= fade_start) & (t < fade_start + delay + fade_duration)] = "offset"

    head = _head_motion(rng, n_frames, spec.fps, subject.face_height, cues.head_motion)
    return VideoPlan(
        subject=subject_name(subject_index, spec.subjects),
        code=video.code,
        fps=float(spec.fps),
        curves=np.stack(curves, axis=1).astype(np.float32),
        components=np.stack(components).astype(np.float32),
        intensity=np.clip(intensity, 0.0, 1.0),
        phase=phase,
        head=head,
        boxes=np.stack([_face_box(subject, pose, spec.width, spec.height) for pose in head]),
        onset=(float(onset_start), float(onset_start + rise_duration)),
        noise_seed=int(rng.integers(2**31)),
        strengths=strengths,
    )


def _normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def kept_frames(n_frames: int, fps: float) -> np.ndarray:
    """The frames that notebook 02's default extraction keeps (:func:`helpers.frames.sampled_indices`)."""
    return sampled_indices(n_frames, fps, ExtractionConfig())


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
