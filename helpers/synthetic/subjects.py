"""Synthetic subjects: everything about a person that does not change from frame to frame.

:func:`make_subject` draws who a subject is and where their face sits in the frame (no pixels, so the
ground truth can be computed without rendering); :func:`subject_look` precomputes their pixels at a
video's resolution: head layer, background and the action-unit fields over the face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from helpers.synthetic.action_units import SIDES, TRACKED_LANDMARKS, action_unit_fields
from helpers.synthetic.faces import BASE_FACES, BaseFace, load_base_face


@dataclass(frozen=True)
class Subject:
    """Who a synthetic subject is and where their face sits in the frame (cheap: no pixels).

    The random draws of a subject live here, so the ground truth can be computed without rendering.
    """

    index: int
    base: str  # which base photo
    mirrored: bool
    expressivity: float  # scales all of this subject's expressions
    contempt_side: str  # the side of the face that shows the one-sided contempt expression
    photo_scale: float  # base photo pixels -> frame pixels (before aspect and rotation)
    photo_to_frame: np.ndarray  # 2x3 affine from the *shrunk* photo to the frame
    colour: tuple[float, float, float, float, float]  # red/green/blue gains, contrast, brightness
    background_seed: int
    landmarks: dict[str, np.ndarray]  # frame coordinates; "_l"/"_r" = image left/right after mirroring
    face_corners: np.ndarray  # 4 x 2: the face box corners in frame coordinates
    face_centre: np.ndarray  # 2: centre of the face box (the head motion pivots here)
    face_height: float  # pixels
    eye_distance: float  # pixels (the face unit)


@dataclass(frozen=True)
class SubjectLook:
    """A subject's pixels, precomputed at the video's resolution.

    The action-unit fields only cover ``roi`` (the face and a margin), where all the per-frame warping
    happens; the rest of the head layer only moves with the head.
    """

    subject: Subject
    layer: np.ndarray  # H x W x 4 float32: premultiplied RGB and alpha of head and shoulders
    background: np.ndarray  # H x W x 3 float32
    roi: tuple[int, int, int, int]  # x0, y0, x1, y1 of the face region
    fields: np.ndarray  # N_CHANNELS x roi_h x roi_w x 2 float32: displacement of each channel
    shades: np.ndarray  # N_CHANNELS x roi_h x roi_w float32: darkening of each channel
    landmark_moves: np.ndarray  # N_CHANNELS x len(TRACKED_LANDMARKS) x 2: how each channel moves them

    @property
    def roi_grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel column and row coordinates over ``roi`` (the identity map of a remap)."""
        return _grid(self.roi[2] - self.roi[0], self.roi[3] - self.roi[1])


@lru_cache(maxsize=8)
def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))


def subject_name(subject_index: int, n_subjects: int = 0) -> str:
    """``S01``, ``S02``, ... (three digits once there are more than 99 subjects)."""
    return f"S{subject_index + 1:0{max(2, len(str(n_subjects)))}d}"


def _subject_rng(seed: int, subject_index: int) -> np.random.Generator:
    # Seeded by (seed, subject) only, so a subject does not depend on how many others there are.
    return np.random.default_rng([seed, subject_index, 0])


@lru_cache(maxsize=256)
def make_subject(subject_index: int, width: int, height: int, seed: int) -> Subject:
    """Draw a subject: base photo, mirroring, size, aspect, tilt, position, colours, expressivity."""
    rng = _subject_rng(seed, subject_index)
    base = load_base_face(BASE_FACES[subject_index % len(BASE_FACES)])
    mirrored = bool(rng.random() < 0.5)
    face_height = rng.uniform(0.52, 0.60) * height
    aspect = rng.uniform(0.9, 1.1)
    angle = math.radians(rng.uniform(-7.0, 7.0))
    centre = np.array([width * (0.5 + rng.uniform(-0.07, 0.07)), height * (0.55 + rng.uniform(-0.03, 0.03))])
    gains = rng.uniform(0.85, 1.15, size=3)
    contrast, brightness = rng.uniform(0.85, 1.15), rng.uniform(-25.0, 25.0)
    expressivity = float(rng.uniform(0.8, 1.2))
    contempt_side = SIDES[int(rng.integers(2))]
    background_seed = int(rng.integers(2**31))

    x0, y0, x1, y1 = base.face_box
    scale = face_height / (y1 - y0)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    linear = rotation @ np.diag([aspect * (-1.0 if mirrored else 1.0), 1.0])
    box_centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2]) * scale
    to_frame = np.hstack([linear, (centre - linear @ box_centre)[:, None]])

    def place(points: np.ndarray) -> np.ndarray:
        return points * scale @ linear.T + to_frame[:, 2]

    landmarks = {name: place(np.array(point)) for name, point in base.landmarks.items()}
    if mirrored:  # the subject's image-left features are now on the right
        landmarks = {_swap_side(name): point for name, point in landmarks.items()}
    corners = place(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float))
    return Subject(
        index=subject_index,
        base=base.name,
        mirrored=mirrored,
        expressivity=expressivity,
        contempt_side=contempt_side,
        photo_scale=scale,
        photo_to_frame=to_frame,
        colour=(*(float(g) for g in gains), float(contrast), float(brightness)),
        background_seed=background_seed,
        landmarks=landmarks,
        face_corners=corners,
        face_centre=corners.mean(axis=0),
        face_height=float(face_height),
        eye_distance=float(np.linalg.norm(landmarks["eye_r"] - landmarks["eye_l"])),
    )


@lru_cache(maxsize=4)
def subject_look(subject_index: int, width: int, height: int, seed: int) -> SubjectLook:
    """Precompute a subject's head layer, background and action-unit fields."""
    subject = make_subject(subject_index, width, height, seed)
    base = load_base_face(subject.base)
    # Shrink the photo with area averaging first: warpAffine alone would alias a 3x reduction.
    small = cv2.resize(
        base.image, None, fx=subject.photo_scale, fy=subject.photo_scale, interpolation=cv2.INTER_AREA
    )
    alpha = _head_and_shoulders_mask(base, subject.photo_scale, small.shape)
    *gains, contrast, brightness = subject.colour
    rgb = np.clip((small - 128.0) * contrast * np.array(gains) + 128.0 + brightness, 0, 255)
    premultiplied = np.dstack([rgb * alpha[..., None], alpha]).astype(np.float32)
    layer = cv2.warpAffine(
        premultiplied, subject.photo_to_frame, (width, height), flags=cv2.INTER_LINEAR, borderValue=0
    )
    roi = _face_region(subject.landmarks, subject.eye_distance, width, height)
    fields, shades = action_unit_fields(subject.landmarks, roi)
    tracked = [subject.landmarks[name] - roi[:2] for name in TRACKED_LANDMARKS]
    moves = np.stack([[_sample(field, point) for point in tracked] for field in fields]).astype(np.float32)
    background = _background(np.random.default_rng(subject.background_seed), width, height)
    return SubjectLook(subject, layer, background, roi, fields, shades, moves)


def _swap_side(name: str) -> str:
    if name.endswith("_l"):
        return name[:-2] + "_r"
    if name.endswith("_r"):
        return name[:-2] + "_l"
    return name


def _face_region(
    landmarks: dict[str, np.ndarray], unit: float, width: int, height: int
) -> tuple[int, int, int, int]:
    """Landmarks' bounding box plus a margin beyond which every action-unit field has faded out."""
    points = np.stack(list(landmarks.values()))
    x0, y0 = np.floor(points.min(axis=0) - 0.9 * unit).astype(int)
    x1, y1 = np.ceil(points.max(axis=0) + 0.9 * unit).astype(int)
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def _head_and_shoulders_mask(base: BaseFace, scale: float, shape: tuple[int, ...]) -> np.ndarray:
    """Soft alpha (0..1) covering head, hair, neck and shoulders, in the shrunk photo (``shape``)."""
    x0, y0, x1, y1 = (v * scale for v in base.face_box)
    face_w, face_h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    mask = np.zeros(shape[:2], np.float32)
    head_centre = (int(cx), int(cy - base.head_raise * face_h))
    head_axes = (int(base.head_axes[0] * face_w), int(base.head_axes[1] * face_h))
    cv2.ellipse(mask, head_centre, head_axes, 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    shoulders_axes = (int(1.3 * face_w), int(0.95 * face_h))
    cv2.ellipse(mask, (int(cx), int(y1 + 1.05 * face_h)), shoulders_axes, 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    neck = (int(cx - 0.3 * face_w), int(cy)), (int(cx + 0.3 * face_w), int(y1 + 0.4 * face_h))
    cv2.rectangle(mask, *neck, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), 0.03 * face_h)


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A per-subject wall: a base colour, a gentle gradient and blurry low-frequency texture."""
    colour = rng.uniform(60.0, 200.0) + rng.normal(0.0, 25.0, size=3)  # muted, like a room's wall
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    direction = rng.normal(size=2)
    gradient = (direction[0] * (cols / width - 0.5) + direction[1] * (rows / height - 0.5)) * 30.0
    texture = cv2.resize(
        rng.normal(size=(6, 8, 3)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC
    )
    return np.clip(colour + gradient[..., None] + texture * rng.uniform(8.0, 22.0), 0, 255).astype(np.float32)


def _sample(field: np.ndarray, point: np.ndarray) -> np.ndarray:
    """A field's value at the nearest pixel to ``point`` (clipped to the field)."""
    height, width = field.shape[:2]
    x = int(np.clip(round(point[0]), 0, width - 1))
    y = int(np.clip(round(point[1]), 0, height - 1))
    return field[y, x]
