"""Rendering: a video's plan and a subject's look turned into frames (expression warp, mouth, noise)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd

from helpers.profiles import SyntheticSpec
from helpers.synthetic.action_units import TRACKED_LANDMARKS
from helpers.synthetic.plans import CueConfig, head_matrix, plan_video
from helpers.synthetic.subjects import SubjectLook, subject_look


@dataclass(frozen=True)
class _VideoExpression:
    """A video's components turned into fields once, so that a frame only mixes K of them."""

    fields: np.ndarray  # K x roi_h x roi_w x 2
    shades: np.ndarray  # K x roi_h x roi_w
    moves: np.ndarray  # K x len(TRACKED_LANDMARKS) x 2

    @classmethod
    def of(cls, look: SubjectLook, components: np.ndarray) -> _VideoExpression:
        return cls(
            np.tensordot(components, look.fields, axes=1),
            np.tensordot(components, look.shades, axes=1),
            np.tensordot(components, look.landmark_moves, axes=1),
        )


def render_video(
    subject_index: int, code: str, spec: SyntheticSpec, cues: CueConfig | None = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Render one video in memory: ``(frames T x H x W x 3 uint8, ground-truth table)``."""
    cues = cues or CueConfig()
    plan = plan_video(subject_index, code, spec, cues)
    look = subject_look(subject_index, spec.width, spec.height, spec.seed)
    expression = _VideoExpression.of(look, plan.components)
    noise = _NoiseSource(plan.noise_seed, cues.noise, look.background.shape)
    frames = np.stack(
        [_render_frame(look, expression, plan.curves[i], plan.head[i], noise) for i in range(plan.frames)]
    )
    return frames, plan.ground_truth()


def render_neutral(subject_index: int, spec: SyntheticSpec) -> np.ndarray:
    """The subject's neutral face without head motion or noise (a reference for measuring expressions)."""
    look = subject_look(subject_index, spec.width, spec.height, spec.seed)
    return _render_frame(look, None, np.zeros(0), np.array([0.0, 0.0, 1.0, 0.0]), None)


_CAVITY_COLOUR = np.array([70.0, 25.0, 28.0], np.float32)  # the dark, reddish inside of an open mouth
_TEETH_COLOUR = np.array([225.0, 220.0, 205.0], np.float32)
# Creases darken skin less in red than in green and blue, so they look like skin in shadow, not ink.
_SHADE_TINT = np.array([0.75, 1.0, 1.0, 1.0], np.float32)


class _NoiseSource:
    """Gaussian pixel noise, cheaply: a bank of noise images, each drawn at random and randomly flipped.

    Drawing fresh Gaussian noise for every pixel of every frame would cost as much as rendering it.
    """

    BANK_SIZE = 8

    def __init__(self, seed: int, strength: float, shape: tuple[int, ...]):
        self.rng = np.random.default_rng(seed)
        self.bank = None
        if strength > 0:
            self.bank = self.rng.standard_normal((self.BANK_SIZE, *shape), dtype=np.float32) * strength

    def sample(self) -> np.ndarray | None:
        """The next frame's noise (None when there is no noise)."""
        if self.bank is None:
            return None
        index = self.rng.integers(self.BANK_SIZE)
        rows, cols = (-1 if self.rng.random() < 0.5 else 1 for _ in range(2))
        return self.bank[index, ::rows, ::cols]


def _render_frame(
    look: SubjectLook,
    expression: _VideoExpression | None,
    weights: np.ndarray,
    pose: np.ndarray,
    noise: _NoiseSource | None,
) -> np.ndarray:
    """Warp the face region by the expression, move the head by the pose, paste it, add noise."""
    layer = look.layer
    if expression is not None and np.any(np.abs(weights) > 1e-3):  # neutral frames skip the warp
        x0, y0, x1, y1 = look.roi
        field = np.tensordot(weights, expression.fields, axes=1)
        shade = np.tensordot(weights, expression.shades, axes=1)
        face = look.layer[y0:y1, x0:x1] * np.clip(1 - shade[..., None] * _SHADE_TINT, 0.3, 1.5)
        face[..., 3] = look.layer[y0:y1, x0:x1, 3]  # shading changes colour, not coverage
        cols, rows = look.roi_grid
        source_cols, source_rows = cols - field[..., 0], rows - field[..., 1]
        face = cv2.remap(face, source_cols, source_rows, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        _draw_mouth_opening(face, look, weights @ expression.moves.reshape(len(weights), -1))
        layer = look.layer.copy()
        layer[y0:y1, x0:x1] = face
    moved = cv2.warpAffine(
        layer, head_matrix(look.subject, pose), layer.shape[1::-1], flags=cv2.INTER_LINEAR
    )
    frame = look.background * (1 - moved[..., 3:4])
    frame += moved[..., :3]
    grain = noise.sample() if noise is not None else None
    if grain is not None:
        frame += grain
    frame += 0.5  # round, not truncate, in the conversion below
    return np.clip(frame, 0, 255, out=frame).astype(np.uint8)


def _draw_mouth_opening(face: np.ndarray, look: SubjectLook, moves: np.ndarray) -> None:
    """Paint the dark mouth cavity between parted lips (the warp alone would only stretch them).

    ``face`` is the face region of the layer, already warped; ``moves`` how far the tracked landmarks
    moved, flattened.
    """
    origin = np.array(look.roi[:2], dtype=float)
    moved = moves.reshape(len(TRACKED_LANDMARKS), 2)
    points = {
        name: look.subject.landmarks[name] - origin + moved[i] for i, name in enumerate(TRACKED_LANDMARKS)
    }
    rest_gap = np.linalg.norm(look.subject.landmarks["lip_bottom"] - look.subject.landmarks["lip_top"])
    opening = float(np.linalg.norm(points["lip_bottom"] - points["lip_top"]) - rest_gap)
    if opening < 0.03 * look.subject.eye_distance:
        return
    across = points["mouth_r"] - points["mouth_l"]
    mouth_width = float(np.linalg.norm(across))
    down = np.array([-across[1], across[0]]) / mouth_width
    centre = (points["lip_top"] + points["lip_bottom"]) / 2
    half_width = 0.36 * mouth_width * min(1.0, 0.6 + opening / look.subject.eye_distance)
    angle = math.degrees(math.atan2(across[1], across[0]))
    # Draw in a small window around the mouth only, with 2 fractional bits for sub-pixel smoothness.
    size = int(mouth_width + 2 * opening) + 6
    wx0, wy0 = (np.floor(centre) - size // 2).astype(int)
    wx0, wy0 = max(wx0, 0), max(wy0, 0)
    window = face[wy0 : wy0 + size, wx0 : wx0 + size]
    local = centre - (wx0, wy0)

    def soft_ellipse(middle: np.ndarray, axes: tuple[float, float]) -> np.ndarray:
        mask = np.zeros(window.shape[:2], np.float32)
        centre_fixed = tuple(int(round(v * 4)) for v in middle)
        axes_fixed = tuple(max(1, int(round(a * 4))) for a in axes)
        cv2.ellipse(mask, centre_fixed, axes_fixed, angle, 0, 360, 1.0, -1, cv2.LINE_AA, shift=2)
        return cv2.GaussianBlur(mask, (0, 0), 0.6)[..., None]

    # Fade a barely parted mouth in, so the cavity does not pop up as a dark dash.
    visibility = min(1.0, opening / (0.1 * look.subject.eye_distance))
    cavity = soft_ellipse(local, (half_width, opening / 2)) * window[..., 3:4] * visibility
    teeth = np.zeros_like(cavity)
    if opening > 0.12 * look.subject.eye_distance:  # the upper teeth show in a wide-open mouth
        teeth = soft_ellipse(local - 0.3 * opening * down, (0.75 * half_width, 0.13 * opening)) * cavity
    colour = (1 - teeth) * _CAVITY_COLOUR + teeth * _TEETH_COLOUR
    window[..., :3] = window[..., :3] * (1 - cavity) + colour * cavity
