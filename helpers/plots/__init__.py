"""Figures the notebooks show. Each function returns a matplotlib Figure and never calls ``show()``.

- ``data``: the videos (presence, counts, properties, frames, channel statistics, folds) and the extraction
  (detection rates, the face box over time, IoU with the true boxes, speed, landmarks drawn on crops);
- ``geometry``: facial geometry over time (action-unit proxy curves, the descriptors a ranker weighs most);
- ``results``: trained runs (learning curves, confusion matrices, scores per fold and per emotion, metrics
  side by side, genuineness over time, the prediction timeline, attention weights).
"""

from helpers.plots.data import (
    box_track, channel_statistics, counts_by_emotion, detection_rates, extraction_speed, frame_grid, iou_distribution,
    landmark_grid, presence_matrix, subjects_per_fold, video_properties,
)
from helpers.plots.geometry import action_unit_curves, descriptor_weights
from helpers.plots.results import (
    authenticity_by_emotion, confusion_matrices, confusion_matrix, distinct_colours, fold_points, fold_scores,
    fusion_attention, genuineness_over_time, learning_curves, metric_bars, prediction_timeline,
)

__all__ = ["action_unit_curves", "authenticity_by_emotion", "box_track", "channel_statistics", "confusion_matrices", "confusion_matrix",
           "counts_by_emotion", "descriptor_weights", "detection_rates", "distinct_colours", "extraction_speed", "fold_points", "fold_scores",
           "frame_grid", "fusion_attention", "genuineness_over_time", "iou_distribution", "landmark_grid", "learning_curves",
           "metric_bars", "prediction_timeline", "presence_matrix", "subjects_per_fold", "video_properties"]
