"""Registration of 68-point facial landmarks onto a mean face: head roll, distance and position removed.

The landmarks follow the iBUG 300-W 68-point order (0-based; dlib's ``shape_predictor_68_face_landmarks``
uses it): jaw 0-16, brows 17-21 and 22-26, nose bridge 27-30, nose base 31-35, eyes 36-41 and 42-47,
outer lips 48-59, inner lips 60-67. "Left" and "right" are the image-left and image-right halves, as in
:mod:`helpers.synthetic` (points 36-41 are the eye on the image left, the subject's right eye).

The template (:func:`mean_face`) is the mean of real faces fitted by dlib (``tools/mean_face.py`` made it
from the face photos that ship with scikit-image and matplotlib, each also mirrored); it is normalised so
that the eye centres are 1 apart, their midpoint is the origin and they lie on the x axis (x to the image
right, y down, as in an image). :func:`register` maps each frame onto it with the similarity transform
(rotation, uniform scale, translation; never a reflection) that best fits the *stable* points
(:data:`STABLE_POINTS`: eye corners and nose bridge, which expressions hardly move), so what is left
is the expression, in inter-ocular units.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

N_LANDMARKS = 68
MEAN_FACE_FILE = Path(__file__).with_name("mean_face.json")

# Groups of the 68 points (0-based, image-left before image-right).
JAW = tuple(range(0, 17))
BROW_LEFT, BROW_RIGHT = tuple(range(17, 22)), tuple(range(22, 27))
NOSE_BRIDGE, NOSE_BASE = tuple(range(27, 31)), tuple(range(31, 36))
EYE_LEFT, EYE_RIGHT = tuple(range(36, 42)), tuple(range(42, 48))
OUTER_LIPS, INNER_LIPS = tuple(range(48, 60)), tuple(range(60, 68))

#: Points that expressions hardly move: the four eye corners (36, 39, 42, 45) and the nose bridge down to
#: the tip (27-30). The nose base (31-35) is left out: the nose wrinkler (AU9) lifts the nostril wings,
#: and fitting them would hide that movement. The lids, brows and lips move with expressions.
STABLE_POINTS: tuple[int, ...] = (27, 28, 29, 30, 36, 39, 42, 45)


def _mirror_permutation() -> tuple[int, ...]:
    pairs = [(i, 16 - i) for i in range(17)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows
    pairs += [(i, i) for i in NOSE_BRIDGE] + [(31 + i, 35 - i) for i in range(5)]  # nose
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48 + i, 54 - i) for i in range(7)] + [(55 + i, 59 - i) for i in range(5)]  # outer lips
    pairs += [(60 + i, 64 - i) for i in range(5)] + [(65, 67), (66, 66), (67, 65)]  # inner lips
    permutation = dict(pairs) | {b: a for a, b in pairs}
    return tuple(permutation[i] for i in range(N_LANDMARKS))


#: The left/right mirror permutation: point ``MIRROR[i]`` of a face is point ``i`` of its mirror image
#: (36, the image-left outer eye corner, becomes 45; the nose bridge, 33, 51, 57, 62 and 66 stay).
MIRROR: tuple[int, ...] = _mirror_permutation()


def mirror(points: np.ndarray, axis_x: float = 0.0) -> np.ndarray:
    """The landmarks of the mirror image of a face: x reflected about ``axis_x``, then left and right
    swapped (:data:`MIRROR`) so the result is in iBUG order again.

    Works on one face (68 x 2) or a video (T x 68 x 2). For an image of width W in pixel coordinates whose
    pixel centres are the integers (dlib's), mirror about ``axis_x = (W - 1) / 2``.
    """
    points = np.asarray(points, dtype=float)
    flipped = points.copy()
    flipped[..., 0] = 2.0 * axis_x - flipped[..., 0]
    return flipped[..., list(MIRROR), :]


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(image-left, image-right) eye centres: the means of points 36-41 and 42-47 (... x 2 each)."""
    points = np.asarray(points, dtype=float)
    return points[..., list(EYE_LEFT), :].mean(axis=-2), points[..., list(EYE_RIGHT), :].mean(axis=-2)


def interocular_distance(points: np.ndarray) -> np.ndarray:
    """Distance between the eye centres (:func:`eye_centres`) of each face: the unit of the template."""
    left, right = eye_centres(points)
    return np.linalg.norm(right - left, axis=-1)


def normalise_face(points: np.ndarray) -> np.ndarray:
    """One face (68 x 2) moved, rotated and scaled so that its eye centres are at (-0.5, 0) and (0.5, 0)."""
    points = np.asarray(points, dtype=float)
    left, right = eye_centres(points)
    across = right - left
    distance = float(np.hypot(*across))
    if not np.isfinite(distance) or distance <= 0:
        raise ValueError("the eye centres of this face coincide or are not finite: cannot normalise it")
    cos, sin = across / distance
    rotation = np.array([[cos, sin], [-sin, cos]])  # turns `across` onto +x
    return (points - (left + right) / 2) @ rotation.T / distance


@cache
def _load_mean_face() -> np.ndarray:
    if not MEAN_FACE_FILE.exists():
        raise FileNotFoundError(f"{MEAN_FACE_FILE} is missing: run `python tools/mean_face.py` to make it")
    record = json.loads(MEAN_FACE_FILE.read_text())
    points = np.asarray(record["points"], dtype=float)
    if points.shape != (N_LANDMARKS, 2):
        raise ValueError(f"{MEAN_FACE_FILE}: expected {N_LANDMARKS} x 2 points, found {points.shape}")
    points.setflags(write=False)
    return points


def mean_face() -> np.ndarray:
    """The template: 68 x 2 mean landmarks of real faces (read-only), normalised as the module says."""
    return _load_mean_face()


def mean_face_record() -> dict:
    """Everything ``mean_face.json`` records: the points, the faces they came from, the spread of each
    point across those faces (in inter-ocular units) and how the file was made."""
    return json.loads(MEAN_FACE_FILE.read_text())


@dataclass(frozen=True)
class Similarity:
    """Similarity transforms of a batch (``y = scale * x @ rotation.T + translation`` for each frame)."""

    scale: np.ndarray  # T
    rotation: np.ndarray  # T x 2 x 2, determinant +1
    translation: np.ndarray  # T x 2

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Transform each frame's points (T x N x 2) by its own transform."""
        moved = np.einsum("tij,tnj->tni", self.rotation, np.asarray(points, dtype=float))
        return self.scale[:, None, None] * moved + self.translation[:, None, :]


def fit_similarity(source: np.ndarray, target: np.ndarray) -> Similarity:
    """Least-squares similarity transforms (Umeyama 1991) from each frame of ``source`` onto ``target``.

    ``source`` is T x N x 2, ``target`` N x 2 or T x N x 2. Reflections are excluded (the determinant of
    each rotation is +1). Frames whose source points are not finite or all coincide get NaN transforms.
    """
    source = np.asarray(source, dtype=float)
    target = np.broadcast_to(np.asarray(target, dtype=float), source.shape)
    source_mean, target_mean = source.mean(axis=1), target.mean(axis=1)
    x, y = source - source_mean[:, None], target - target_mean[:, None]
    covariance = np.einsum("tni,tnj->tij", y, x) / source.shape[1]
    variance = (x**2).sum(axis=(1, 2)) / source.shape[1]
    good = np.isfinite(covariance).all(axis=(1, 2)) & np.isfinite(target_mean).all(axis=1) & (variance > 1e-12)
    covariance[~good] = np.eye(2)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    sign[sign == 0] = 1.0
    correction = np.stack([np.ones_like(sign), sign], axis=1)  # diag(1, sign) keeps det(rotation) = +1
    rotation = np.einsum("tij,tj,tjk->tik", u, correction, vt)
    scale = (singular * correction).sum(axis=1) / np.where(good, variance, 1.0)
    translation = target_mean - scale[:, None] * np.einsum("tij,tj->ti", rotation, source_mean)
    scale[~good], rotation[~good], translation[~good] = np.nan, np.nan, np.nan
    return Similarity(scale, rotation, translation)


def procrustes_mean(
    shapes: np.ndarray, iterations: int = 100, tolerance: float = 1e-10
) -> tuple[np.ndarray, np.ndarray]:
    """Generalised Procrustes analysis of faces (F x 68 x 2): ``(mean face, faces aligned onto it)``.

    Every face is fitted onto the current mean with a similarity transform over all 68 points, the mean
    of the aligned faces becomes the next mean, normalised by :func:`normalise_face` (which fixes the
    scale, rotation and position the analysis leaves free), until it moves less than ``tolerance``.
    """
    shapes = np.asarray(shapes, dtype=float)
    if shapes.ndim != 3 or shapes.shape[1:] != (N_LANDMARKS, 2) or not np.isfinite(shapes).all():
        raise ValueError(f"expected finite F x {N_LANDMARKS} x 2 faces, got shape {shapes.shape}")
    mean = normalise_face(shapes[0])
    aligned = shapes
    for _ in range(iterations):
        aligned = fit_similarity(shapes, mean).apply(shapes)
        new_mean = normalise_face(aligned.mean(axis=0))
        moved = float(np.abs(new_mean - mean).max())
        mean = new_mean
        if moved < tolerance:
            break
    return mean, fit_similarity(shapes, mean).apply(shapes)


def register(
    points: np.ndarray, template: np.ndarray | None = None, stable: tuple[int, ...] = STABLE_POINTS
) -> np.ndarray:
    """Each frame's landmarks (T x 68 x 2, or one face 68 x 2) mapped onto the template (float64).

    The similarity transform of each frame is the least-squares fit of its ``stable`` points onto the
    template's (:func:`fit_similarity`), so the result no longer depends on where the head was, how
    large it appeared or how it was rolled in the image plane. A frame with a NaN among its stable points
    comes back all NaN; a NaN elsewhere stays NaN. ``template`` defaults to :func:`mean_face`.
    """
    points = np.asarray(points, dtype=float)
    single = points.ndim == 2
    frames = points[None] if single else points
    if frames.ndim != 3 or frames.shape[1:] != (N_LANDMARKS, 2):
        raise ValueError(f"expected T x {N_LANDMARKS} x 2 landmarks, got shape {points.shape}")
    template = mean_face() if template is None else np.asarray(template, dtype=float)
    index = list(stable)
    transform = fit_similarity(frames[:, index], template[index])
    registered = transform.apply(frames)
    return registered[0] if single else registered
