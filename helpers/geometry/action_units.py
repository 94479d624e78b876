"""Action-unit proxies: per-frame geometric measures of registered landmarks, one per FACS action unit.

The AU intensity estimator of the ChaLearn 2017 winners NIT-OVGU (their own, trained on DISFA) is not
available, so each action unit is stood in for by a distance on the 68 landmarks after :func:`~helpers.geometry.register`
(eyes 1 apart, the head's roll, size and position removed). Every proxy is measured relative to the mean
face (:func:`~helpers.geometry.mean_face` gives 0 for each), and grows with its action unit. Distances are
in inter-ocular units; vertical ones along the registered y axis (the eyes' line is horizontal), with
"up" positive. Points are iBUG 68 (0-based); left/right are the image-left and image-right halves.

``PROXIES`` is the column order of :func:`au_proxies`; beside each, the action unit it stands for and how
it is measured, on each side and then averaged over the two unless it is central.

Limits: a similarity registration removes roll, size and position only; turning (yaw) or nodding (pitch)
the head changes the proxies too (a turned face looks asymmetric), and a subject's own face shape offsets
every proxy by a constant (compare a subject's videos with each other, as the paired protocol does).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.geometry.registration import N_LANDMARKS, mean_face, register

PROXIES: tuple[str, ...] = (
    "inner_brow_raise",  # AU1: height of the inner brow (20, 21 | 22, 23) above the inner eye corner (39 | 42)
    "outer_brow_raise",  # AU2: height of the outer brow (17, 18 | 25, 26) above the outer eye corner (36 | 45)
    # AU4: how far the inner brow ends (21 | 22) are drawn together and down: minus (half their horizontal gap
    # + their height above 39 | 42)
    "brow_lowerer",
    # AU5/AU7: the eye aspect ratio (|37-41| + |38-40|) / (2 |36-39|), and (|43-47| + |44-46|) / (2 |42-45|);
    # unitless. Up: eyes wide (AU5); down: lids tightened (AU7), narrowed by AU6, or closed
    "eye_aperture",
    # AU6: height of the lower lid (40, 41 | 46, 47) above the line of that eye's corners (36, 39 | 42, 45):
    # the eye narrowed from below
    "cheek_raise",
    # AU9: minus the drop from the eye corners' line (36, 39, 42, 45) to the nose base (31-35), which AU9
    # shortens by lifting the wings
    "nose_wrinkle",
    # AU12: how far the mouth corner (48 | 54) is out from the midline (mean x of the nose bridge 27-30) plus
    # its height above the mouth centre (mean of 51, 57, 62, 66): half the mouth width plus the corners'
    # elevation, which opening the mouth hardly changes. AU15 lowers it
    "lip_corner_pull",
    # AU25: mean drop from 61, 62, 63 to 67, 66, 65 (the inner lips). The mean face's lips are parted by 0.12
    # (many of its faces smile), so closed lips give about -0.12
    "lips_part",
    "jaw_drop",  # AU26: drop from the nose tip (30) to the chin (8)
    # AU1/2/4: absolute left-right difference of the mean brow height (17-21 | 22-26) above the eye corners'
    # line (36, 39 | 42, 45)
    "brow_asymmetry",
    "eye_asymmetry",  # AU5/6/7: absolute left-right difference of eye_aperture
    "lip_corner_asymmetry",  # AU12/15: absolute left-right difference of lip_corner_pull
)
PROXY_ACTION_UNITS: dict[str, str] = {
    "inner_brow_raise": "AU1",
    "outer_brow_raise": "AU2",
    "brow_lowerer": "AU4",
    "eye_aperture": "AU5/AU7",
    "cheek_raise": "AU6",
    "nose_wrinkle": "AU9",
    "lip_corner_pull": "AU12",
    "lips_part": "AU25",
    "jaw_drop": "AU26",
    "brow_asymmetry": "AU1/AU2/AU4",
    "eye_asymmetry": "AU5/AU6/AU7",
    "lip_corner_asymmetry": "AU12/AU15",
}
#: NIT-OVGU's action units (Saxen et al. 2017: AU1, 2, 4, 6, 9, 12 and 25, from their own AU intensity
#: estimator), each with the proxy that stands for it: every one of the seven has its own proxy.
NIT_OVGU_ACTION_UNITS: dict[str, str] = {
    "AU1": "inner_brow_raise",
    "AU2": "outer_brow_raise",
    "AU4": "brow_lowerer",
    "AU6": "cheek_raise",
    "AU9": "nose_wrinkle",
    "AU12": "lip_corner_pull",
    "AU25": "lips_part",
}
#: The descriptors' column sets by name: every proxy (the default) or NIT-OVGU's seven action units.
ACTION_UNIT_SETS: dict[str, tuple[str, ...]] = {
    "proxies": PROXIES,
    "nit_ovgu": tuple(NIT_OVGU_ACTION_UNITS.values()),
}


def action_unit_columns(name: str) -> tuple[str, ...]:
    """The proxy columns of an action-unit set of :data:`ACTION_UNIT_SETS`."""
    if name not in ACTION_UNIT_SETS:
        raise ValueError(f"unknown action-unit set {name!r}: use one of {', '.join(ACTION_UNIT_SETS)}")
    return ACTION_UNIT_SETS[name]


# The points each side's measures use: (image-left, image-right).
_SIDES = {
    "inner_brow": ((20, 21), (22, 23)),
    "outer_brow": ((17, 18), (25, 26)),
    "brow": (tuple(range(17, 22)), tuple(range(22, 27))),
    "brow_end": ((21,), (22,)),
    "inner_corner": ((39,), (42,)),
    "outer_corner": ((36,), (45,)),
    "corners": ((36, 39), (42, 45)),
    "upper_lid": ((37, 38), (43, 44)),
    "lower_lid": ((41, 40), (47, 46)),
    "mouth_corner": ((48,), (54,)),
}
_NOSE_BRIDGE, _NOSE_TIP, _NOSE_BASE, _CHIN = (27, 28, 29, 30), 30, (31, 32, 33, 34, 35), 8
_MOUTH_CENTRE = (51, 57, 62, 66)  # outer and inner lip centres
_INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))


def _y(points: np.ndarray, index) -> np.ndarray:
    """Mean y of some points of every frame (T)."""
    return points[:, list(np.atleast_1d(index)), 1].mean(axis=1)


def _distance(points: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(points[:, a] - points[:, b], axis=-1)


def _side_measures(points: np.ndarray, side: int) -> dict[str, np.ndarray]:
    """The one-sided measures of every registered frame (T each) on one side (0: image-left)."""
    part = {name: pair[side] for name, pair in _SIDES.items()}
    corner_line = _y(points, part["corners"])
    upper, lower = part["upper_lid"], part["lower_lid"]
    (outer,), (inner,) = part["outer_corner"], part["inner_corner"]
    opening = sum(_distance(points, u, v) for u, v in zip(upper, lower)) / len(upper)
    (corner,) = part["mouth_corner"]
    midline = points[:, list(_NOSE_BRIDGE), 0].mean(axis=1)
    return {
        "inner_brow": _y(points, inner) - _y(points, part["inner_brow"]),
        "outer_brow": _y(points, outer) - _y(points, part["outer_brow"]),
        "brow_end": -(np.abs(points[:, part["brow_end"][0], 0] - midline) + _y(points, inner)
                      - _y(points, part["brow_end"])),
        "brow": corner_line - _y(points, part["brow"]),
        "aperture": opening / _distance(points, outer, inner),
        "lower_lid": corner_line - _y(points, lower),
        "lip_corner": np.abs(points[:, corner, 0] - midline) + _y(points, _MOUTH_CENTRE) - points[:, corner, 1],
    }


def _measures(registered: np.ndarray) -> dict[str, np.ndarray]:
    """Every proxy of registered frames (T x 68 x 2), not yet relative to the mean face."""
    left, right = _side_measures(registered, 0), _side_measures(registered, 1)
    both = {name: (left[name] + right[name]) / 2 for name in left}
    eye_line = _y(registered, (36, 39, 42, 45))
    return {
        "inner_brow_raise": both["inner_brow"],
        "outer_brow_raise": both["outer_brow"],
        "brow_lowerer": both["brow_end"],
        "eye_aperture": both["aperture"],
        "cheek_raise": both["lower_lid"],
        "nose_wrinkle": eye_line - _y(registered, _NOSE_BASE),
        "lip_corner_pull": both["lip_corner"],
        "lips_part": sum(registered[:, b, 1] - registered[:, a, 1] for a, b in _INNER_LIP_PAIRS) / 3,
        "jaw_drop": registered[:, _CHIN, 1] - registered[:, _NOSE_TIP, 1],
        # signed for now: made relative to the (symmetric) mean face first, then absolute
        "brow_asymmetry": left["brow"] - right["brow"],
        "eye_asymmetry": left["aperture"] - right["aperture"],
        "lip_corner_asymmetry": left["lip_corner"] - right["lip_corner"],
    }


_ASYMMETRIES = ("brow_asymmetry", "eye_asymmetry", "lip_corner_asymmetry")


def frame_proxies(points: np.ndarray) -> np.ndarray:
    """T x len(PROXIES) proxies of every frame of landmarks (T x 68 x 2, any pixel coordinates), no
    interpolation: a frame with NaN landmarks gets NaN proxies. Registered first (:func:`register`)."""
    points = np.asarray(points, dtype=float)
    if points.ndim != 3 or points.shape[1:] != (N_LANDMARKS, 2):
        raise ValueError(f"expected T x {N_LANDMARKS} x 2 landmarks, got shape {points.shape}")
    with np.errstate(invalid="ignore", divide="ignore"):
        values = _measures(register(points))
        neutral = _measures(mean_face()[None])
    columns = []
    for name in PROXIES:
        value = values[name] - neutral[name]
        columns.append(np.abs(value) if name in _ASYMMETRIES else value)
    return np.stack(columns, axis=1)


def good_frames(points: np.ndarray, ok: np.ndarray | None = None) -> np.ndarray:
    """Which frames have usable landmarks: ``ok`` (all when None) and every point finite (T booleans)."""
    points = np.asarray(points, dtype=float)
    good = np.isfinite(points).all(axis=(1, 2)) if points.ndim == 3 else np.zeros(0, bool)
    if ok is not None:
        ok = np.asarray(ok, dtype=bool).reshape(-1)
        if len(ok) != len(good):
            raise ValueError(f"ok has {len(ok)} values for {len(good)} frames of landmarks")
        good &= ok
    return good


def au_proxies(points: np.ndarray, ok: np.ndarray | None = None) -> pd.DataFrame:
    """Action-unit proxies of a video: T rows (index: the frame's position), one column per ``PROXIES``.

    ``points`` are a video's landmarks (T x 68 x 2, e.g. the ``<CODE>.landmarks.npy`` of the extraction,
    in original pixel coordinates; already registered points do too: registering them again changes
    nothing); ``ok`` the frames where the landmarks were fitted (the frames table's
    ``landmarks_ok``). Frames with ``ok`` False or any NaN point get proxies interpolated linearly from the
    nearest good frames on both sides; before the first (after the last) good frame, the first (last) good
    frame's values are repeated. Raises ValueError when no frame is good.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 3 or points.shape[1:] != (N_LANDMARKS, 2):
        raise ValueError(f"expected T x {N_LANDMARKS} x 2 landmarks, got shape {points.shape}")
    values = frame_proxies(points)
    good = good_frames(points, ok) & np.isfinite(values).all(axis=1)
    if not good.any():
        raise ValueError(f"no frame with usable landmarks in this video (all {len(good)} frames failed or are "
                         f"NaN): there is nothing to interpolate from")
    if not good.all():
        frames, known = np.arange(len(good)), np.flatnonzero(good)
        values = np.stack([np.interp(frames, known, column[known]) for column in values.T], axis=1)
    return pd.DataFrame(values, columns=list(PROXIES), index=pd.RangeIndex(len(values), name="frame"))
