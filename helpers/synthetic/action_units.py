"""Facial action units: which ones the generator uses, and how each moves the skin of a face.

An action unit (FACS AU) acts separately on the image-left and image-right half of the face: every
(action unit, side) pair is one *channel*. Each channel is a sum of Gaussian bumps around landmarks
(:data:`ACTION_UNIT_BUMPS`), turned into a displacement field and a shading map over a subject's face
by :func:`action_unit_fields`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTION_UNITS: tuple[str, ...] = (
    "AU1",
    "AU2",
    "AU4",
    "AU5",
    "AU6",
    "AU9",
    "AU12",
    "AU14",
    "AU15",
    "AU24",
    "AU26",
)
ACTION_UNIT_NAMES: dict[str, str] = {
    "AU1": "inner brow raiser",
    "AU2": "outer brow raiser",
    "AU4": "brow lowerer (brows down and together)",
    "AU5": "upper lid raiser (eyes wide)",
    "AU6": "cheek raiser and lid tightener (eye involvement, the Duchenne marker)",
    "AU9": "nose wrinkler with upper lip raiser (AU9+10)",
    "AU12": "lip corner puller (smile)",
    "AU14": "dimpler",
    "AU15": "lip corner depressor",
    "AU24": "lip pressor",
    "AU26": "jaw drop (mouth open)",
}
SIDES = ("left", "right")  # halves of the face as seen in the image


@dataclass(frozen=True)
class Bump:
    """A Gaussian-weighted move of the skin around a landmark, in face units (1 = the eye distance).

    ``offset`` and ``move`` use face axes: x points outward on the bump's side of the face (towards the
    ear), y points down (towards the chin). ``shade`` darkens (positive) the skin there instead of moving
    it, with widths ``sigma`` (along x) and ``sigma_y``.
    """

    anchor: str  # landmark name without the side suffix, or a central landmark
    offset: tuple[float, float] = (0.0, 0.0)
    move: tuple[float, float] = (0.0, 0.0)
    sigma: float = 0.2
    shade: float = 0.0
    sigma_y: float | None = None


# Displacements are "backward": a pixel shows the skin from ``-move`` away, so the skin moves by about
# ``+move``. Moves stay below ~1.6 sigma so that the warp does not fold over (except across the lips,
# which the drawn mouth opening covers).
ACTION_UNIT_BUMPS: dict[str, tuple[Bump, ...]] = {
    "AU1": (
        Bump("brow_in", move=(0.0, -0.17), sigma=0.2),
        Bump("brow_in", (-0.15, -0.25), shade=0.08, sigma=0.14, sigma_y=0.05),
    ),
    "AU2": (Bump("brow_out", move=(0.03, -0.17), sigma=0.2),),
    "AU4": (
        Bump("brow_in", move=(-0.08, 0.12), sigma=0.22),
        Bump("brow_out", move=(0.0, 0.05), sigma=0.2),
        Bump("brow_in", offset=(-0.13, 0.04), shade=0.14, sigma=0.05, sigma_y=0.12),
    ),
    "AU5": (
        Bump("eye", offset=(0.0, -0.14), move=(0.0, -0.08), sigma=0.11),
        Bump("eye", offset=(0.0, 0.12), move=(0.0, 0.03), sigma=0.1),
        Bump("eye", shade=-0.12, sigma=0.1, sigma_y=0.06),
    ),
    "AU6": (
        Bump("cheek", offset=(0.0, -0.05), move=(0.0, -0.12), sigma=0.24),
        Bump("eye", offset=(0.0, 0.13), move=(0.0, -0.08), sigma=0.1),
        Bump("eye", offset=(0.0, -0.15), move=(0.0, 0.03), sigma=0.1),
        Bump("eye", offset=(0.5, 0.05), shade=0.14, sigma=0.08, sigma_y=0.12),
        Bump("eye", offset=(0.0, 0.27), shade=0.1, sigma=0.15, sigma_y=0.05),
    ),
    "AU9": (
        Bump("nose", offset=(0.16, -0.15), move=(0.0, -0.08), sigma=0.14),
        Bump("lip_top", offset=(0.15, 0.0), move=(0.0, -0.11), sigma=0.15),
        Bump("nose", offset=(0.07, -0.6), shade=0.12, sigma=0.09, sigma_y=0.06),
        Bump("nose", offset=(0.3, 0.12), shade=0.12, sigma=0.06, sigma_y=0.14),
    ),
    "AU12": (
        Bump("mouth", move=(0.11, -0.17), sigma=0.2),
        Bump("mouth", offset=(0.12, -0.25), shade=0.1, sigma=0.06, sigma_y=0.14),
    ),
    "AU14": (
        Bump("mouth", move=(-0.03, -0.04), sigma=0.1),
        Bump("mouth", offset=(0.1, -0.02), shade=0.15, sigma=0.05, sigma_y=0.07),
    ),
    "AU15": (
        Bump("mouth", move=(0.02, 0.14), sigma=0.2),
        Bump("mouth", offset=(0.04, 0.16), shade=0.08, sigma=0.06, sigma_y=0.08),
    ),
    "AU24": (
        Bump("lip_top", offset=(0.15, 0.0), move=(0.0, 0.04), sigma=0.12),
        Bump("lip_bottom", offset=(0.15, 0.0), move=(0.0, -0.06), sigma=0.12),
        Bump("mouth", move=(-0.05, 0.0), sigma=0.12),
    ),
    "AU26": (
        Bump("lip_bottom", offset=(0.12, 0.12), move=(0.0, 0.17), sigma=0.2),
        Bump("chin", offset=(0.2, 0.0), move=(0.0, 0.16), sigma=0.4),
    ),
}
_CENTRAL_LANDMARKS = frozenset({"nose", "lip_top", "lip_bottom", "chin"})
# Landmarks whose displaced position the mouth-opening drawing needs every frame.
TRACKED_LANDMARKS = ("lip_top", "lip_bottom", "mouth_l", "mouth_r")
N_CHANNELS = 2 * len(ACTION_UNITS)  # every action unit on each side: all left ones, then all right ones


def channel(action_unit: str, side: str) -> int:
    """Index of one action unit on one side of the face among the ``N_CHANNELS`` channels."""
    return SIDES.index(side) * len(ACTION_UNITS) + ACTION_UNITS.index(action_unit)


def action_unit_fields(
    landmarks: dict[str, np.ndarray], roi: tuple[int, int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Displacement fields (C x h x w x 2) and shading maps (C x h x w) of every channel, over ``roi``."""
    eye_l, eye_r = landmarks["eye_l"], landmarks["eye_r"]
    unit = float(np.linalg.norm(eye_r - eye_l))
    across = (eye_r - eye_l) / unit  # image-left to image-right along the face
    down = np.array([-across[1], across[0]])  # towards the chin
    x0, y0, x1, y1 = roi
    rows, cols = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    fields = np.zeros((N_CHANNELS, y1 - y0, x1 - x0, 2), np.float32)
    shades = np.zeros((N_CHANNELS, y1 - y0, x1 - x0), np.float32)
    for side in SIDES:
        outward = across * (-1.0 if side == "left" else 1.0)
        for action_unit in ACTION_UNITS:
            index = channel(action_unit, side)
            for bump in ACTION_UNIT_BUMPS[action_unit]:
                anchor = bump.anchor if bump.anchor in _CENTRAL_LANDMARKS else f"{bump.anchor}_{side[0]}"
                centre = landmarks[anchor] + unit * (bump.offset[0] * outward + bump.offset[1] * down)
                dx, dy = cols - centre[0], rows - centre[1]
                if bump.shade:
                    along, below = dx * outward[0] + dy * outward[1], dx * down[0] + dy * down[1]
                    sigma_y = bump.sigma_y if bump.sigma_y is not None else bump.sigma
                    shades[index] += bump.shade * np.exp(
                        -(along**2) / (2 * (bump.sigma * unit) ** 2) - below**2 / (2 * (sigma_y * unit) ** 2)
                    )
                else:
                    weight = np.exp(-(dx**2 + dy**2) / (2 * (bump.sigma * unit) ** 2))
                    move = unit * (bump.move[0] * outward + bump.move[1] * down)
                    fields[index, ..., 0] += move[0] * weight
                    fields[index, ..., 1] += move[1] * weight
    return fields, shades
