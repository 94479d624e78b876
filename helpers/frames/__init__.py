"""Face crops and landmarks from the videos: decode once, detect and track the face, store packed files per video.

For every video: decode the kept frames of a window (default 40-90 %, as the thesis did, about
``target_fps`` a second) with PyAV; detect the face (Haar, the thesis baseline, or MTCNN) on a downscaled
copy; smooth the detections into a track (interpolation, a temporal median against outliers, a Gaussian
against jitter); crop a square face and a wider *context* crop from the same frame; fit dlib's 68 landmarks
in the same box (``landmarks=True``, :mod:`~helpers.frames.landmarks`). Each video gets
``<subject>/<CODE>.face.npy`` and ``.context.npy`` (uint8 ``T x size x size x 3``, :func:`load_crops`),
``.landmarks.npy`` (float32 ``T x 68 x 2`` in the original frame's pixels, :func:`load_landmarks`),
``.frames.csv`` (one row per kept frame: boxes, where each came from, landmark checks) and ``.summary.json``.

Frames without a face keep the nearest usable box and are flagged (``box_source == "fallback"``); a video
with too few detections gets status ``no_face``, an unreadable one ``error`` with a message naming the file,
and the run carries on. Files are written atomically and the summary last, so a re-run skips finished videos;
each configuration writes its own folder (``<crops root>/<config.name>/``), so crops are never mixed.
Command line: ``python -m helpers.frames --profile smoke`` (:mod:`~helpers.frames.cli`, not imported here, as
it needs :mod:`helpers.data`).

Modules (this ``__init__`` only re-exports their public names): :mod:`~helpers.frames.config` (the
configuration, sampling, vocabularies, errors), :mod:`~helpers.frames.detectors`,
:mod:`~helpers.frames.tracking`, :mod:`~helpers.frames.landmarks`, :mod:`~helpers.frames.storage` (file names,
atomic writes), :mod:`~helpers.frames.one_video` (one video's extraction), :mod:`~helpers.frames.dataset_run`
(a dataset: process pool, resumption, tables), :mod:`~helpers.frames.reading` (loading crops, landmarks and
tables back; clip positions), :mod:`~helpers.frames.quality` (jitter and ground-truth IoU tables),
:mod:`~helpers.frames.identity` (face identity from the kept crops, and the genuine/posed pairs of one emotion
found by it without subject ids).
"""

from helpers.frames.config import (ALGORITHM_VERSION, BOX_SOURCES, DETECTORS, KINDS, STATUSES, ConfigMismatchError,
                                   ExtractionConfig, sampled_indices)
from helpers.frames.dataset_run import (Extraction, assemble, extract_dataset, extraction_dir, list_extractions,
                                        list_videos, prepare_output)
from helpers.frames.detectors import (HAAR_CASCADE, SEARCH_MIN_FACE_PIXELS, TRACK_REGION, TRACK_SIZE_RANGE,
                                      Detections, Detector, HaarDetector, MTCNNDetector, detect_face,
                                      detect_in_frame, detect_near, make_detector)
from helpers.frames.landmarks import (LandmarkFit, LandmarksUnavailable, VideoLandmarks, cached_predictor, fit_frame,
                                      fit_landmarks, is_good_fit, landmark_quality, to_crop_coordinates)
from helpers.frames.one_video import extract_video, is_finished
from helpers.frames.quality import ground_truth_iou, jitter_table
from helpers.frames.reading import (clip_indices, crops_with_landmarks, load_crops, load_landmarks, load_manifest,
                                    load_videos)
from helpers.frames.storage import (CONFIG_FILE, FRAME_COLUMNS, MANIFEST_FILE, VIDEOS_FILE, DamagedArrayError,
                                    array_shape, save_array, video_files)
from helpers.frames.tracking import (StreamingTracker, box_iou, box_sources, boxes_to_track, crop_square, crops_for,
                                     fill_track, jitter, smooth_track, track_to_boxes)
from helpers.storage import DiskFullError, FolderLockedError

__all__ = [
    # configuration
    "ALGORITHM_VERSION", "BOX_SOURCES", "DETECTORS", "KINDS", "STATUSES", "ConfigMismatchError", "DiskFullError",
    "ExtractionConfig", "sampled_indices",
    # detectors and the search for the face
    "HAAR_CASCADE", "SEARCH_MIN_FACE_PIXELS", "TRACK_REGION", "TRACK_SIZE_RANGE", "Detections", "Detector",
    "HaarDetector", "MTCNNDetector", "detect_face", "detect_in_frame", "detect_near", "make_detector",
    # boxes, tracks and crops
    "StreamingTracker", "box_iou", "box_sources", "boxes_to_track", "crop_square", "crops_for", "fill_track",
    "jitter", "smooth_track", "track_to_boxes",
    # facial landmarks
    "LandmarkFit", "LandmarksUnavailable", "VideoLandmarks", "cached_predictor", "fit_frame", "fit_landmarks",
    "is_good_fit", "landmark_quality", "to_crop_coordinates",
    # files on disk
    "CONFIG_FILE", "FRAME_COLUMNS", "MANIFEST_FILE", "VIDEOS_FILE", "DamagedArrayError", "FolderLockedError",
    "array_shape", "save_array", "video_files",
    # one video, a whole dataset
    "extract_video", "is_finished", "Extraction", "assemble", "extract_dataset", "extraction_dir",
    "list_extractions", "list_videos", "prepare_output",
    # reading back, quality tables, command line
    "clip_indices", "crops_with_landmarks", "load_crops", "load_landmarks", "load_manifest", "load_videos",
    "ground_truth_iou", "jitter_table",
]
