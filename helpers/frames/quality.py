"""How good the boxes are: jitter of raw vs smoothed boxes, and IoU with the true boxes of synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.frames.tracking import box_iou, boxes_to_track, jitter


def jitter_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """Per video: how much the box centre moves between detections, raw vs smoothed.

    Both are measured on the same frames (those with a detection), in pixels and as a share of the box
    side, so that smoothing is judged on what it changes and not on the frames it interpolates.
    """
    rows = []
    for (subject, code), part in manifest.groupby(["subject", "code"], sort=False):
        found = part[part["detected"]]
        if len(found) < 3:
            continue
        raw = boxes_to_track(found[["raw_x", "raw_y", "raw_w", "raw_h"]].to_numpy(float))
        smoothed = boxes_to_track(found[["x", "y", "w", "h"]].to_numpy(float))
        side = float(np.median(raw[:, 2]))
        rows.append({"subject": subject, "code": code, "raw_px": jitter(raw), "smoothed_px": jitter(smoothed),
                     "raw_share": jitter(raw) / side, "smoothed_share": jitter(smoothed) / side})
    return pd.DataFrame(rows, columns=["subject", "code", "raw_px", "smoothed_px", "raw_share", "smoothed_share"])


def ground_truth_iou(manifest: pd.DataFrame, ground_truth: pd.DataFrame) -> pd.DataFrame:
    """IoU of the raw detections and of the smoothed boxes with the true boxes (synthetic data only).

    ``ground_truth``: columns subject, code, frame, x, y, w, h (``ground_truth.csv`` of helpers.synthetic).
    """
    truth = ground_truth[["subject", "code", "frame", "x", "y", "w", "h"]].rename(
        columns={c: f"true_{c}" for c in "xywh"}).astype({"subject": str, "code": str})
    merged = manifest.astype({"subject": str, "code": str}).merge(truth, on=["subject", "code", "frame"], how="inner")
    true_boxes = merged[[f"true_{c}" for c in "xywh"]].to_numpy(float)
    merged["iou_raw"] = box_iou(merged[["raw_x", "raw_y", "raw_w", "raw_h"]].to_numpy(float), true_boxes)
    merged["iou_smoothed"] = box_iou(merged[["x", "y", "w", "h"]].to_numpy(float), true_boxes)
    return merged
