"""The two base photos of the synthetic faces and their hand-placed landmarks.

Both photos ship inside installed packages (matplotlib's Grace Hopper, scikit-image's astronaut), so
the face detector used on real data finds the faces made from them. The astronaut's smile is closed
first, so that every expression starts from a neutral face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class BaseFace:
    """A face photo with hand-placed landmarks (pixel coordinates of that photo)."""

    name: str
    image: np.ndarray  # H x W x 3 float32 RGB, 0..255
    landmarks: dict[str, tuple[float, float]]  # "_l"/"_r": the image-left/right one
    face_box: tuple[float, float, float, float]  # x0, y0, x1, y1: forehead to chin, ear to ear
    head_axes: tuple[float, float]  # head-and-hair ellipse radii, in face-box widths and heights
    head_raise: float  # how far above the face box centre that ellipse is centred, in face-box heights


BASE_FACES = ("grace_hopper", "astronaut")

# Landmarks placed by hand and checked by drawing them on the photos. Eyes: pupil centres; brows: inner
# and outer ends; cheeks: the cheekbone below each eye; mouth: corners and lip centres; chin: its tip.
# One row a landmark: where it is in each photo of BASE_FACES, in that order.
_LANDMARKS = {
    "eye_l": ((221, 188), (203, 102)),
    "eye_r": ((305, 186), (246, 103)),
    "brow_in_l": ((245, 170), (211, 93)),
    "brow_out_l": ((190, 172), (192, 92)),
    "brow_in_r": ((283, 169), (238, 93)),
    "brow_out_r": ((335, 166), (258, 94)),
    "cheek_l": ((205, 235), (197, 124)),
    "cheek_r": ((318, 232), (252, 125)),
    "nose": ((263, 247), (224, 128)),
    "mouth_l": ((226, 277), (203, 142)),
    "mouth_r": ((297, 276), (243, 142)),
    "lip_top": ((262, 271), (222, 140)),
    "lip_bottom": ((262, 286), (222, 152)),
    "chin": ((262, 330), (220, 178)),
}
_ASTRONAUT_TEETH_ROWS = (143.0, 149.5)  # the visible teeth of her smile, between the lips


@cache
def load_base_face(name: str) -> BaseFace:
    """One of the two base photos (``BASE_FACES``), loaded from the installed packages."""
    if name == "grace_hopper":
        image = _read_packaged_image("matplotlib", "mpl-data/sample_data/grace_hopper.jpg")
        points = _landmarks("grace_hopper")
        return BaseFace(name, image, points, (153.0, 140.0, 373.0, 335.0), (0.5, 0.82), 0.12)
    if name == "astronaut":
        image = _read_packaged_image("skimage", "data/astronaut.png")
        points = _landmarks("astronaut")
        face = BaseFace(name, image, points, (180.0, 82.0, 272.0, 180.0), (0.72, 0.9), 0.2)
        return _close_smiling_mouth(face, *_ASTRONAUT_TEETH_ROWS)
    raise ValueError(f"unknown base face {name!r}; expected one of {', '.join(BASE_FACES)}")


def _read_packaged_image(package: str, relative_path: str) -> np.ndarray:
    """An RGB photo shipped inside an installed package, as float32 (found without importing it:
    importing matplotlib or skimage.data costs more than a second in every worker process)."""
    import importlib.util

    from PIL import Image

    spec = importlib.util.find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / relative_path
        if path.exists():
            with Image.open(path) as photo:
                return np.asarray(photo.convert("RGB"), dtype=np.float32)
    raise FileNotFoundError(
        f"{relative_path} not found in the installed {package!r} package (is it installed?)"
    )


def _landmarks(name: str) -> dict[str, tuple[float, float]]:
    """One base photo's landmarks (its column of ``_LANDMARKS``), as float pixel coordinates."""
    column = BASE_FACES.index(name)
    points = {landmark: positions[column] for landmark, positions in _LANDMARKS.items()}
    return {landmark: (float(x), float(y)) for landmark, (x, y) in points.items()}


def _close_smiling_mouth(face: BaseFace, teeth_top: float, teeth_bottom: float) -> BaseFace:
    """Bring the astronaut's broad smile closer to neutral: zip the lips together over the teeth.

    Every expression is a change from the neutral face; a base face that already smiles with its teeth
    would make "happy" hard to see and every other emotion look odd. The rows of teeth are squeezed out
    (the lips above and below slide together), a dark contact line is drawn where they meet, and the
    corners are pulled down a little.
    """
    points = face.landmarks
    (left_x, left_y), (right_x, right_y) = points["mouth_l"], points["mouth_r"]
    seam = (teeth_top + teeth_bottom) / 2
    reach = 3.0 * (teeth_bottom - teeth_top)  # how far above/below the seam the lips get stretched
    scale = math.dist(points["eye_l"], points["eye_r"])
    # Only a window around the mouth changes; beyond it every move below has faded to nothing.
    x0, x1 = int(left_x - 0.6 * scale), int(right_x + 0.6 * scale) + 1
    y0, y1 = int(seam - reach - 0.6 * scale), int(seam + reach + 0.6 * scale) + 1
    rows, cols = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    vertical = np.clip(1 - ((rows - seam) / reach) ** 2, 0, 1) ** 2
    horizontal = np.clip((np.minimum(cols - left_x, right_x - cols) + 3) / 4, 0, 1)
    weight = vertical * horizontal
    # Above the seam a pixel shows skin from higher up, below it from lower down: the band disappears.
    source_rows = rows + np.where(rows < seam, -(seam - teeth_top), teeth_bottom - seam) * weight
    # Corners down and slightly in, so the closed mouth does not keep smiling.
    for (corner_x, corner_y), inward in (((left_x, left_y), 1.0), ((right_x, right_y), -1.0)):
        bump = np.exp(-((cols - corner_x) ** 2 + (rows - corner_y) ** 2) / (2 * (0.15 * scale) ** 2))
        source_rows -= 0.06 * scale * bump
        cols = cols - inward * 0.02 * scale * bump
    image = face.image.copy()
    image[y0:y1, x0:x1] = cv2.remap(image, cols, source_rows.astype(np.float32), cv2.INTER_LINEAR)
    # The lips' contact line, curving up towards the corners a little, as a soft dark stroke.
    line = np.zeros(image.shape[:2], np.float32)
    middle_x = (left_x + right_x) / 2
    curve = np.array(
        [
            [x, seam + 0.6 - 2.5 * ((x - middle_x) / ((right_x - left_x) / 2)) ** 2]
            for x in np.linspace(left_x + 1, right_x - 1, 24)
        ]
    )
    cv2.polylines(line, [np.round(curve * 4).astype(np.int32)], False, 1.0, 1, cv2.LINE_AA, shift=2)
    line = cv2.GaussianBlur(line, (0, 0), 0.7)[..., None]
    image = image * (1 - 0.55 * line) + np.array([95.0, 45.0, 45.0], np.float32) * 0.55 * line
    moved = dict(points)
    moved.update(
        mouth_l=(left_x + 0.02 * scale, left_y + 0.06 * scale),
        mouth_r=(right_x - 0.02 * scale, right_y + 0.06 * scale),
        lip_top=(points["lip_top"][0], seam - 3.0),
        lip_bottom=(points["lip_bottom"][0], seam + 3.5),
    )
    return replace(face, image=image.astype(np.float32), landmarks=moved)
