"""Facial geometry: from 68-point landmarks to facial activity descriptors of a video.

The pipeline, after the ChaLearn LAP 2017 real-vs-fake winners (NIT-OVGU: Saxen, Werner & Al-Hamadi,
"Learning to Rank Authenticity From Facial Activity Descriptors", ICCV 2017 workshops):

1. **Landmarks** (not made here): dlib's 68 points per kept frame, fitted by the frame extraction in the
   tracked face box (``<subject>/<CODE>.landmarks.npy``, T x 68 x 2 in original pixels, with the frames
   table's ``landmarks_ok``).
2. **Registration** (:mod:`~helpers.geometry.registration`): each frame mapped onto a mean face of real
   faces by the similarity transform that best fits its eye corners and nose bridge (:func:`register`),
   which removes the head's roll, size and position, not the expression.
3. **Action-unit proxies** (:mod:`~helpers.geometry.action_units`): per frame, one geometric measure per
   FACS action unit (inner and outer brow raise, brow lowerer, eye aperture, cheek raise, nose wrinkle,
   lip-corner pull, lips part, jaw drop) and three left/right asymmetries (:data:`PROXIES`), in
   inter-ocular units relative to the mean face; failed frames interpolated (:func:`au_proxies`).
4. **Activity descriptors** (:mod:`~helpers.geometry.descriptors`): each proxy series smoothed (zero-phase
   1st-order Butterworth, 1 Hz), with its smoothed 1st and 2nd derivatives, summarised by 17 statistics
   each (:data:`STATISTICS`), plus a one-hot code of the emotion: :func:`video_descriptors`, 618 values
   named :data:`DESCRIPTOR_NAMES`, the input of a linear (ranking) model; or NIT-OVGU's seven action units
   (:data:`NIT_OVGU_ACTION_UNITS`) with the squares of 11 statistics (:data:`SQUARED_STATISTICS`).
5. **AU intensities from an AU model** (:mod:`~helpers.geometry.au_model`): py-feat's AU detector on the face
   crops, each AU in the role of its proxy, as a second source of the same descriptors.

Where this differs from the paper:

* **Landmark proxies instead of AU intensities** (by default). The paper used the per-frame intensities of
  the team's own AU estimator (trained on DISFA), which is not available; each AU is stood in for by a
  landmark distance, or estimated by py-feat's AU model (step 5). Landmarks see shape, not texture:
  wrinkles and furrows (AU6's crow's feet, AU9's nose wrinkles) show only through the landmarks they move.
* **The frame rate.** The paper filtered 100 fps series of the whole video with a 1 Hz cut-off. The
  extraction here keeps frames at about 10 fps (SASE-FE, every 10th frame of 100 fps) or 8.3 fps (the
  25 fps synthetic videos, every 3rd) in the 40-90 % window, unless it also fits every frame of the whole
  video (``ExtractionConfig(whole_video_landmarks=True)``); the cut-off stays 1 Hz because :func:`smooth`
  scales it to each video's rate. Short series
  are padded less, so 5-frame videos still get descriptors.
* **Length-independent statistics.** Times are fractions of the video and areas means, not seconds and
  sums (see :mod:`~helpers.geometry.descriptors`).

The mean face (``mean_face.json``, package data) is made by ``tools/mean_face.py`` with dlib; this package
itself needs numpy, scipy and pandas only.
"""

from helpers.geometry.action_units import (
    ACTION_UNIT_SETS,
    NIT_OVGU_ACTION_UNITS,
    PROXIES,
    PROXY_ACTION_UNITS,
    action_unit_columns,
    au_proxies,
    frame_proxies,
    good_frames,
)
from helpers.geometry.au_model import (
    AU_MODEL_COLUMNS,
    AU_SOURCES,
    LANDMARK_SOURCE,
    AUModelUnavailable,
    au_model_series,
    check_au_source,
    load_au_detector,
)
from helpers.geometry.descriptors import (
    ACTIVITY_DESCRIPTOR_NAMES,
    CUTOFF_HZ,
    DESCRIPTOR_NAMES,
    EMOTION_DESCRIPTOR_NAMES,
    FILTER_ORDER,
    SERIES,
    SQUARED_STATISTICS,
    STATISTICS,
    activity_descriptors,
    activity_series,
    derivative,
    descriptor_names,
    emotion_code,
    smooth,
    statistics,
    video_descriptor_names,
    video_descriptors,
)
from helpers.geometry.registration import (
    MEAN_FACE_FILE,
    MIRROR,
    N_LANDMARKS,
    STABLE_POINTS,
    Similarity,
    eye_centres,
    fit_similarity,
    interocular_distance,
    mean_face,
    mean_face_record,
    mirror,
    normalise_face,
    procrustes_mean,
    register,
)

__all__ = [
    "ACTION_UNIT_SETS", "AU_MODEL_COLUMNS", "AU_SOURCES", "AUModelUnavailable", "LANDMARK_SOURCE",
    "NIT_OVGU_ACTION_UNITS", "SQUARED_STATISTICS", "action_unit_columns", "au_model_series", "check_au_source",
    "load_au_detector", "video_descriptor_names",
    "ACTIVITY_DESCRIPTOR_NAMES", "CUTOFF_HZ", "DESCRIPTOR_NAMES", "EMOTION_DESCRIPTOR_NAMES", "FILTER_ORDER",
    "MEAN_FACE_FILE", "MIRROR", "N_LANDMARKS", "PROXIES", "PROXY_ACTION_UNITS", "SERIES", "STABLE_POINTS",
    "STATISTICS", "Similarity", "activity_descriptors", "activity_series", "au_proxies", "derivative",
    "descriptor_names", "emotion_code", "eye_centres", "fit_similarity", "frame_proxies", "good_frames",
    "interocular_distance", "mean_face", "mean_face_record", "mirror", "normalise_face", "procrustes_mean",
    "register", "smooth", "statistics", "video_descriptors",
]
