"""Face crops and landmarks from the videos: decode once, detect and track the face, store packed files per video.

For every video this package

1. decodes the frames of a window of the video (default 40-90 %, as the thesis did) with PyAV
   (:mod:`helpers.video`), keeping every ``step``-th frame so that about ``target_fps`` frames per second
   are kept (SASE-FE records at 100 fps: ``target_fps=10`` keeps every 10th frame);
2. detects the face (OpenCV Haar, the thesis baseline, or MTCNN from facenet-pytorch) on a *downscaled
   copy* of the frame, optionally only on every ``detect_every``-th kept frame;
3. turns the detections into a smooth track: frames between detections are interpolated, a temporal
   median removes outlier detections and a Gaussian removes the jitter of the detector;
4. crops a square face (box plus a margin) and a wider *context* crop (``context_scale`` times the face
   box, for the fusion model) from the same decoded frame, both resized to ``size`` pixels;
5. fits dlib's 68 facial landmarks inside the same box on the full-resolution frame (``landmarks=True``,
   the default; :mod:`~helpers.frames.landmarks`) and checks each fit;
6. writes ``<subject>/<CODE>.face.npy`` and ``<CODE>.context.npy`` (uint8 ``T x size x size x 3``, load
   them with ``np.load(path, mmap_mode="r")`` or :func:`load_crops`), ``<CODE>.landmarks.npy`` (float32
   ``T x 68 x 2`` in the original frame's pixels, :func:`load_landmarks`), ``<CODE>.frames.csv`` (one row per
   kept frame: raw and smoothed box, score, where the box came from, inter-ocular distance, whether the
   landmarks passed their checks) and ``<CODE>.summary.json``.

Frames without a face keep the nearest usable box: interpolated between the detections around them or,
past the first/last detection, copied from the nearest one. They are flagged (``box_source ==
"fallback"``, ``fell_back``), counted per video and reported. A video where the face is found in fewer
than ``min_detection_rate`` of the frames the detector ran on gets status ``no_face`` and no crops; a video
that cannot be decoded gets status ``error`` with a message naming the file; the run carries on with the
other videos in both cases.

Every file is written to a temporary name and renamed (``os.replace``), and the per-video summary is
written last, so it marks a finished video: a re-run skips finished videos and a killed run loses at most
the videos in progress. The outputs of one configuration live in their own folder,
``<crops root>/<config.name>/``, with its ``config.json``, so that crops of different configurations are
never mixed; ``videos.csv`` (one row per video) and ``manifest.csv`` (one row per crop) are assembled
from the per-video parts at the end of each run.

Command line: ``python -m helpers.frames --profile smoke`` or
``python -m helpers.frames --dataset DIR --out DIR [--detector haar|mtcnn --size 112 --target-fps 10
--window 0.4 0.9 --workers N]``.

Modules (this package's ``__init__`` only re-exports their public names; importing it has no side effects):

- :mod:`~helpers.frames.config`: :class:`ExtractionConfig`, the sampling arithmetic (:func:`sampled_indices`),
  the vocabularies (detectors, kinds, statuses, box sources) and the errors of a run;
- :mod:`~helpers.frames.detectors`: the Haar and MTCNN detectors, plug-in factories (:func:`make_detector`)
  and the search for the face near the last one or in the whole frame (:func:`detect_face`);
- :mod:`~helpers.frames.tracking`: boxes, filling and smoothing tracks, :class:`StreamingTracker`, square crops;
- :mod:`~helpers.frames.landmarks`: dlib's 68 points inside the tracked box (:func:`fit_landmarks`; a video's
  frames with checks on key frames: :class:`VideoLandmarks`), their
  checks (:func:`is_good_fit`), the points in crop pixels (:func:`to_crop_coordinates`), :func:`landmark_quality`;
- :mod:`~helpers.frames.storage`: file names, the columns of the frame tables, one video's files
  (:func:`video_files`) and atomic writes (:func:`save_array`);
- :mod:`~helpers.frames.one_video`: one video's extraction (:func:`extract_video`, run by the worker
  processes) and :func:`is_finished`;
- :mod:`~helpers.frames.dataset_run`: a whole dataset (:func:`extract_dataset`: process pool, resumption,
  disk-full handling), :func:`assemble`, :func:`prepare_output`, :func:`list_extractions`, :func:`list_videos`;
- :mod:`~helpers.frames.reading`: reading crops, landmarks and tables back (:func:`load_crops`,
  :func:`load_landmarks`, :func:`crops_with_landmarks`, :func:`load_manifest`, :func:`load_videos`) and clip
  positions (:func:`clip_indices`);
- :mod:`~helpers.frames.quality`: jitter and ground-truth IoU tables;
- :mod:`~helpers.frames.identity`: face identity from the kept crops (dlib's face-recognition descriptors)
  and the genuine/posed pairs of one emotion found by it without subject ids (:func:`~helpers.frames.identity.find_pairs`);
- :mod:`~helpers.frames.cli`: the command line (:func:`~helpers.frames.cli.main`; ``__main__.py`` runs it; not
  imported with the package, as it needs :mod:`helpers.data`, which needs this package's defaults).
"""

from helpers.frames.config import (ALGORITHM_VERSION, BOX_SOURCES, DETECTORS, KINDS, STATUSES, ConfigMismatchError,
                                   DiskFullError, ExtractionConfig, sampled_indices)
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
from helpers.frames.storage import CONFIG_FILE, FRAME_COLUMNS, MANIFEST_FILE, VIDEOS_FILE, save_array, video_files
from helpers.frames.tracking import (StreamingTracker, box_iou, box_sources, boxes_to_track, crop_square, crops_for,
                                     fill_track, jitter, smooth_track, track_to_boxes)

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
    "CONFIG_FILE", "FRAME_COLUMNS", "MANIFEST_FILE", "VIDEOS_FILE", "save_array", "video_files",
    # one video, a whole dataset
    "extract_video", "is_finished", "Extraction", "assemble", "extract_dataset", "extraction_dir",
    "list_extractions", "list_videos", "prepare_output",
    # reading back, quality tables, command line
    "clip_indices", "crops_with_landmarks", "load_crops", "load_landmarks", "load_manifest", "load_videos",
    "ground_truth_iou", "jitter_table",
]
