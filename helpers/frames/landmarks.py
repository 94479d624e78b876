"""68-point facial landmarks fitted inside the tracked face box (dlib's shape predictor), checked per frame.

Extraction already knows where the face is in every kept frame (the tracked, smoothed square box), so the
predictor is fitted inside that box on the full-resolution grey frame: no second face detector runs (dlib's
own HOG detector misses the small faces of low-resolution video). The points follow the iBUG 300-W order,
0-based: jaw 0-16, brows 17-26, nose 27-35 (tip 30), eyes 36-47 (outer corners 36 and 45), lips 48-67;
x and y are pixels of the original frame. :func:`to_crop_coordinates` maps them into the face (or
context) crops.

dlib and the model file are optional: nothing here imports dlib before a fit is asked for, so ``import
helpers`` and an extraction with ``landmarks=False`` never need it. The model ships in the
``face_recognition_models`` package, found without importing it (its ``__init__`` imports
``pkg_resources``, which recent setuptools no longer has). When either is missing,
:class:`LandmarksUnavailable` says what to install.

**The fit** (:func:`fit_landmarks`): a first fit in the tracked box, then a second in the box that dlib's HOG
detector, on whose boxes the predictor was trained, would draw around the first fit's points
(:func:`refit_box`); the second fit lies closer to hand-placed points.

**The checks** (:func:`is_good_fit`, ``landmarks_ok``): finite points, an inter-ocular distance plausible for
the box (:data:`INTEROCULAR_RANGE`), most points inside the box widened by :data:`BOX_WIDENING`, and points
held by the image rather than by the box. The predictor returns a face-shaped set of points in any box, so
only the last check catches a box over something that is not a face: re-fitted in the box shifted by
:data:`PROBE_SHIFT` of its side four ways, the inner points of a face stay on it, while elsewhere they move
with the box (:func:`box_follow`, :data:`MAX_BOX_FOLLOW`). A frame costs six fits (two, then four for the
check); :class:`VideoLandmarks` can run the check on key frames only (``landmark_keyframe_every``), which
lets a misfit between key frames pass, so the default checks every frame.

The measurements behind these choices are in the book's page "Design decisions and measurements"
(``book/decisions.md``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from helpers.frames.config import ExtractionConfig
from helpers.frames.tracking import boxes_to_track, track_to_boxes

N_POINTS = 68
OUTER_EYE_CORNERS = (36, 45)  # image-left and image-right outer eye corners
NOSE_TIP = 30
INNER_POINTS = slice(17, N_POINTS)  # brows, nose, eyes, lips: held by the image (the jaw line less so)
MODEL_PACKAGE = "face_recognition_models"
MODEL_FILE = "shape_predictor_68_face_landmarks.dat"
MODEL_INSTALL = "pip install face_recognition_models==0.3.0"
DLIB_INSTALL = "pip install dlib-bin==20.0.1.post1"

# dlib's HOG box of a face, from the 68 points it fits there (medians over real faces): side = 1.05 x the
# points' horizontal extent, centre = the centre of the points' bounding box raised by 0.09 of the side.
REFIT_SIDE = 1.05
REFIT_RAISE = 0.09
#: Inter-ocular distance (outer eye corners) over the tracked box side that a face can have: the range
#: measured on faces with Haar and MTCNN boxes, widened by about 25 %.
INTEROCULAR_RANGE = (0.3, 0.85)
BOX_WIDENING = 0.25  # the box is widened by this share of its side on each side before counting points out
PROBE_SHIFT = 0.1  # the box shifts by this share of its side for the box-follow check
MAX_BOX_FOLLOW = 0.5  # a face's inner points follow at most half of a shift of the box (see above)
#: A tracked box that moved or resized by more than this share of its side since the last key frame makes a
#: key frame (:class:`VideoLandmarks`): the box-follow check's own probe shift.
KEYFRAME_BOX_CHANGE = PROBE_SHIFT


class LandmarksUnavailable(RuntimeError):
    """dlib or its 68-point model is not installed (the message says what to install)."""


@dataclass(frozen=True)
class LandmarkFit:
    """One frame's landmarks and their checks."""

    points: np.ndarray  # 68 x 2 float32, pixels of the frame; NaN where nothing was fitted
    interocular: float  # distance of the outer eye corners (36, 45) in pixels
    box_follow: float  # share of a shift of the box that the inner points follow (0: held by the face)
    ok: bool  # the fit passed every check (is_good_fit)


def model_path() -> Path:
    """Where the 68-point model lies inside the installed ``face_recognition_models`` (never imported)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if not folders:
        raise LandmarksUnavailable(f"facial landmarks need dlib's 68-point model from {MODEL_PACKAGE}, "
                                   f"which is not installed: {MODEL_INSTALL} (or ExtractionConfig(landmarks=False))")
    return Path(folders[0]) / "models" / MODEL_FILE


def load_predictor() -> Any:
    """A new ``dlib.shape_predictor`` for the 68 points (dlib imported only now; ~0.5 s, 100 MB)."""
    path = model_path()
    if not path.exists():
        raise LandmarksUnavailable(f"dlib's 68-point model is missing ({path}): {MODEL_INSTALL} "
                                   "(or ExtractionConfig(landmarks=False))")
    try:
        import dlib
    except (ImportError, OSError) as error:
        raise LandmarksUnavailable(f"facial landmarks need dlib, which cannot be imported ({error}): "
                                   f"{DLIB_INSTALL} (Colab preinstalls dlib; or ExtractionConfig(landmarks=False))"
                                   ) from error
    try:
        return dlib.shape_predictor(str(path))
    except RuntimeError as error:
        raise LandmarksUnavailable(f"dlib cannot read its model {path} ({error}): reinstall it with "
                                   f"pip install --force-reinstall face_recognition_models==0.3.0") from error


_PREDICTORS: dict[str, Any] = {}


def cached_predictor() -> Any:
    """One predictor per process (loading the model for every video would cost half a second each);
    raises :class:`LandmarksUnavailable` when dlib or the model is missing, so calling it once before a
    run fails early with what to install."""
    key = str(model_path())
    if key not in _PREDICTORS:
        _PREDICTORS[key] = load_predictor()
    return _PREDICTORS[key]


def no_fit() -> LandmarkFit:
    """What a frame without a box gets: NaN points, not ok."""
    return LandmarkFit(np.full((N_POINTS, 2), np.nan, np.float32), float("nan"), float("nan"), False)


def interocular_distance(points: np.ndarray) -> np.ndarray | float:
    """Distance of the outer eye corners (36, 45) of ``... x 68 x 2`` points, in their units."""
    points = np.asarray(points, float)
    distance = np.linalg.norm(points[..., OUTER_EYE_CORNERS[1], :] - points[..., OUTER_EYE_CORNERS[0], :], axis=-1)
    return float(distance) if np.ndim(distance) == 0 else distance


def refit_box(points: np.ndarray) -> np.ndarray:
    """The square x, y, w, h box dlib's HOG detector would frame these 68 points with (see REFIT_SIDE)."""
    low, high = np.min(points, axis=0), np.max(points, axis=0)
    side = REFIT_SIDE * (high[0] - low[0])
    centre_x, centre_y = (low + high) / 2
    return np.array([centre_x - side / 2, centre_y - REFIT_RAISE * side - side / 2, side, side])


def _shape(predictor: Any, grey: np.ndarray, box: np.ndarray) -> np.ndarray:
    import dlib

    x, y, w, h = (float(v) for v in box)
    rectangle = dlib.rectangle(int(round(x)), int(round(y)), int(round(x + w - 1)), int(round(y + h - 1)))
    shape = predictor(grey, rectangle)
    return np.array([(part.x, part.y) for part in shape.parts()], float)


def box_follow(predictor: Any, grey: np.ndarray, box: np.ndarray, points: np.ndarray) -> float:
    """How much of a shift of ``box`` the inner points fitted in it follow: the mean move of points 17-67
    when the box shifts by PROBE_SHIFT of its side (left, right, up, down), over that shift.
    About 0 when the face holds them, about 1 when only the box does (no face there)."""
    step = PROBE_SHIFT * box[2]
    moves = []
    for dx, dy in ((step, 0.0), (-step, 0.0), (0.0, step), (0.0, -step)):
        shifted = _shape(predictor, grey, np.asarray(box, float) + np.array([dx, dy, 0.0, 0.0]))
        moves.append(np.linalg.norm(shifted[INNER_POINTS] - points[INNER_POINTS], axis=1).mean() / step)
    return float(np.mean(moves))


def is_good_fit(points: np.ndarray, box: np.ndarray, follow: float) -> bool:
    """The quality rule (module docstring): finite points, an inter-ocular distance plausible for the box,
    most points inside the widened box, and points held by the image rather than by the box."""
    points, box = np.asarray(points, float), np.asarray(box, float)
    if not (np.isfinite(points).all() and np.isfinite(box).all() and np.isfinite(follow)) or box[2] <= 0:
        return False
    low, high = INTEROCULAR_RANGE
    if not low <= interocular_distance(points) / box[2] <= high:
        return False
    margin = BOX_WIDENING * box[2]
    inside = ((points[:, 0] >= box[0] - margin) & (points[:, 0] <= box[0] + box[2] + margin)
              & (points[:, 1] >= box[1] - margin) & (points[:, 1] <= box[1] + box[3] + margin))
    return bool(inside.mean() > 0.5 and follow <= MAX_BOX_FOLLOW)


def _usable(box: np.ndarray) -> bool:
    return bool(np.isfinite(box).all() and box[2] >= 2 and box[3] >= 2)


def _two_fits(grey: np.ndarray, box: np.ndarray, predictor: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The points of the second fit and the box it used (the first fit's re-derived box); None without one."""
    second_box = refit_box(_shape(predictor, grey, box))  # where dlib's detector would have put the box
    if not _usable(second_box):
        return None
    return _shape(predictor, grey, second_box), second_box


def _checked_fit(points: np.ndarray, box: np.ndarray, follow: float) -> LandmarkFit:
    return LandmarkFit(points.astype(np.float32), float(interocular_distance(points)), follow,
                       is_good_fit(points, box, follow))


def fit_landmarks(grey: np.ndarray, box: np.ndarray, predictor: Any | None = None) -> LandmarkFit:
    """The 68 landmarks of the face in ``box`` (x, y, w, h in ``grey``'s pixels), fitted twice (in the box,
    then in the box re-derived from the first fit) and checked. ``grey``: the full-resolution uint8 frame."""
    box = np.asarray(box, float).reshape(4)
    if not _usable(box):
        return no_fit()
    predictor = predictor if predictor is not None else cached_predictor()
    grey = np.ascontiguousarray(grey)
    fitted = _two_fits(grey, box, predictor)
    if fitted is None:
        return no_fit()
    points, second_box = fitted
    return _checked_fit(points, box, box_follow(predictor, grey, second_box, points))


def _grey(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))


def fit_frame(frame: np.ndarray, track_row: np.ndarray, predictor: Any | None = None) -> LandmarkFit:
    """:func:`fit_landmarks` on an RGB frame inside a track row (centre x, centre y, side) of extraction."""
    return fit_landmarks(_grey(frame), track_to_boxes(track_row)[0], predictor)


def _differs(box: np.ndarray, reference: np.ndarray, tolerance: float) -> bool:
    """Has the square box's centre moved, or its side changed, by more than ``tolerance`` of the reference's side?"""
    shift = np.hypot(*(box[:2] + box[2] / 2 - reference[:2] - reference[2] / 2))
    return bool(shift > tolerance * reference[2] or abs(box[2] / reference[2] - 1) > tolerance)


class VideoLandmarks:
    """A video's landmarks, fitted frame after frame in its tracked boxes as :func:`fit_frame` fits them, with
    the box-follow check (four of its six fits) run on key frames only: the extractor's landmark stage.

    Every frame gets the same two fits, so the points are exactly :func:`fit_frame`'s; the check asks whether
    a face holds them, which changes only with what lies under the box. A frame is a **key frame**, where the
    check runs, when:

    * ``keyframe_every`` kept frames have passed since the last one (1: every frame is one);
    * its box fell back (the detector found nothing there and nothing near: no fresh evidence of a face);
    * its tracked box moved, or its side changed, by more than :data:`KEYFRAME_BOX_CHANGE` of the side since
      the last key frame (the check's own probe shift): something else may lie under it now;
    * the last key frame failed the check (every frame is then checked until one passes);
    * its points fail the other checks of :func:`is_good_fit` with the last key frame's answer, so that no
      frame is flagged without its own check.

    Between key frames a frame takes the last key frame's box-follow share (``LandmarkFit.box_follow``).
    """

    def __init__(self, predictor: Any, keyframe_every: int = 1):
        if keyframe_every < 1:
            raise ValueError(f"keyframe_every must be >= 1, got {keyframe_every}")
        self.predictor = predictor
        self.keyframe_every = keyframe_every
        self.keyframes = 0  # frames checked so far
        self._key_box: np.ndarray | None = None  # tracked box of the last key frame, if it passed
        self._follow = float("nan")  # its box-follow share
        self._since_key = 0

    def fit(self, frame: np.ndarray, track_row: np.ndarray, fell_back: bool = False) -> LandmarkFit:
        """The landmarks of the next kept frame inside its track row (centre x, centre y, side)."""
        box = track_to_boxes(track_row)[0]
        if not _usable(box):
            return no_fit()
        grey = _grey(frame)
        fitted = _two_fits(grey, box, self.predictor)
        if fitted is None:
            self._key_box = None
            return no_fit()
        points, second_box = fitted
        fit = _checked_fit(points, box, self._follow)
        if self._is_key(box, fell_back) or not fit.ok:
            fit = _checked_fit(points, box, box_follow(self.predictor, grey, second_box, points))
            self.keyframes += 1
            self._since_key = 0
            self._key_box, self._follow = (box, fit.box_follow) if fit.ok else (None, float("nan"))
        else:
            self._since_key += 1
        return fit

    def _is_key(self, box: np.ndarray, fell_back: bool) -> bool:
        return (self._key_box is None or fell_back or self._since_key + 1 >= self.keyframe_every
                or _differs(box, self._key_box, KEYFRAME_BOX_CHANGE))


def to_crop_coordinates(points: np.ndarray, boxes: pd.DataFrame | pd.Series | np.ndarray,
                        config: ExtractionConfig, kind: str = "face") -> np.ndarray:
    """Landmarks in frame pixels -> pixels of the crops cut from the same frames (``T x 68 x 2`` or ``68 x 2``).

    ``boxes``: each frame's square box before the margin (x, y, w, h), as rows of the frames table or the
    manifest (columns x, y, w, h), one such row, or an array ``T x 4``. The crop is that box plus
    ``config.margin`` of its side on each side (``kind="context"``: ``config.context_scale`` times the box),
    rounded to whole pixels as :func:`helpers.frames.crop_square` cuts it, and resized to ``config.size``.
    """
    points = np.asarray(points, float)
    single = points.ndim == 2
    if isinstance(boxes, (pd.DataFrame, pd.Series)):
        boxes = boxes[["x", "y", "w", "h"]].to_numpy(float)
    track = boxes_to_track(np.asarray(boxes, float).reshape(-1, 4))
    points = points.reshape(-1, N_POINTS, 2)
    if len(track) != len(points):
        raise ValueError(f"{len(points)} frames of landmarks but {len(track)} boxes")
    if kind == "face":
        scale = 1 + 2 * config.margin
    elif kind == "context" and config.context_scale:
        scale = config.context_scale
    else:
        raise ValueError(f"no {kind!r} crops in this configuration (kinds: {', '.join(config.kinds)})")
    side = np.maximum(1, np.round(track[:, 2] * scale))
    corner = np.round(track[:, :2] - side[:, None] / 2)  # crop_square's left and top pixel
    # pixel centres: source pixel i + 0.5 sits at (i + 0.5) * size / side in the resized crop
    mapped = (points - corner[:, None, :] + 0.5) * (config.size / side)[:, None, None] - 0.5
    return (mapped[0] if single else mapped).astype(np.float32)


def landmark_quality(frames_table: pd.DataFrame) -> dict[str, float]:
    """Landmark quality over a manifest or frames table: frames, how many and which share fitted well,
    and the median inter-ocular distance (pixels) of those."""
    ok = frames_table["landmarks_ok"].astype(bool) if "landmarks_ok" in frames_table else pd.Series(dtype=bool)
    good = frames_table.loc[ok, "interocular"] if ok.any() else pd.Series(dtype=float)
    return {"frames": int(len(frames_table)), "fitted": int(ok.sum()),
            "share_fitted": float(ok.mean()) if len(ok) else float("nan"),
            "interocular_median": float(good.median()) if len(good) else float("nan")}
