"""Figures of the data (notebook 01) and of the frame extraction (notebook 02)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from helpers import labels
from helpers.geometry import registration


def presence_matrix(index: pd.DataFrame, subjects: Sequence[str] | None = None) -> Figure:
    """Subjects × codes: which videos exist, which are missing and which cannot be read."""
    subjects = list(subjects if subjects is not None else index["subject"].drop_duplicates())
    status = pd.DataFrame(0, index=subjects, columns=list(labels.CODES))
    for row in index.itertuples():
        status.loc[row.subject, row.code] = 2 if row.readable else 1
    height = max(2.5, 0.22 * len(subjects) + 1.2)
    fig, ax = plt.subplots(figsize=(8, height))
    cmap = plt.matplotlib.colors.ListedColormap(["#d62728", "#ff7f0e", "#2ca02c"])
    ax.imshow(status.to_numpy(), cmap=cmap, vmin=0, vmax=2, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(labels.CODES)), labels.CODES, rotation=45, ha="right")
    ax.set_yticks(range(len(subjects)), subjects, fontsize=7 if len(subjects) > 20 else 9)
    ax.axvline(len(labels.GENUINE_CODES) - 0.5, color="white", linewidth=3)
    ax.set_title("Videos per subject (green: present, orange: unreadable, red: missing)")
    ax.set_xlabel("genuine codes | posed codes")
    fig.tight_layout()
    return fig


def counts_by_emotion(index: pd.DataFrame) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    sns.countplot(data=index, x="emotion", hue="authenticity", order=list(labels.EMOTIONS),
                  hue_order=["genuine", "posed"], ax=ax)
    ax.set_title("Videos per emotion and authenticity")
    ax.set_xlabel("")
    fig.tight_layout()
    return fig


def video_properties(index: pd.DataFrame) -> Figure:
    """Distributions of duration, frame rate and resolution of the readable videos."""
    readable = index[index["readable"]].copy()
    readable["resolution"] = readable["width"].astype(int).astype(str) + "×" + readable["height"].astype(int).astype(str)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    sns.histplot(data=readable, x="duration", hue="authenticity", hue_order=["genuine", "posed"],
                 multiple="stack", ax=axes[0])
    axes[0].set_xlabel("duration (s)")
    sns.countplot(data=readable, x=readable["fps"].round(2).astype(str), ax=axes[1], color="#4c72b0")
    axes[1].set_xlabel("frames per second")
    sns.countplot(data=readable, x="resolution", ax=axes[2], color="#55a868")
    axes[2].set_xlabel("resolution (pixels)")
    for ax in axes:
        ax.set_ylabel("videos")
    fig.suptitle("Video properties")
    fig.tight_layout()
    return fig


def frame_grid(rows: Sequence[tuple[str, Sequence[np.ndarray]]], column_titles: Sequence[str],
               title: str = "") -> Figure:
    """A grid of frames: one row per (name, frames) pair, one column per moment of the video."""
    n_rows, n_cols = len(rows), len(column_titles)
    height, width = rows[0][1][0].shape[:2]
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.4 * n_cols, 2.4 * n_rows * height / width + 0.5),
                             squeeze=False)
    for r, (name, frames) in enumerate(rows):
        for c, frame in enumerate(frames):
            ax = axes[r, c]
            ax.imshow(frame)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(column_titles[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def channel_statistics(stats: dict, reference: dict | None = None) -> Figure:
    """Per-channel mean ± std of the dataset, beside a reference (ImageNet's) when given."""
    channels = ["red", "green", "blue"]
    table = [dict(channel=c, source="this dataset", mean=m, std=s)
             for c, m, s in zip(channels, stats["mean"], stats["std"])]
    if reference:
        table += [dict(channel=c, source="ImageNet", mean=m, std=s)
                  for c, m, s in zip(channels, reference["mean"], reference["std"])]
    frame = pd.DataFrame(table)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    sources = frame["source"].unique()
    width = 0.8 / len(sources)
    for i, source in enumerate(sources):
        part = frame[frame["source"] == source]
        x = np.arange(3) + i * width
        ax.bar(x, part["mean"], width, yerr=part["std"], capsize=4, label=source)
    ax.set_xticks(np.arange(3) + width * (len(sources) - 1) / 2, channels)
    ax.set_ylim(0, 1)
    ax.set_ylabel("pixel value (0-1), mean ± std")
    ax.legend()
    ax.set_title("Per-channel statistics for normalisation")
    fig.tight_layout()
    return fig


def subjects_per_fold(splits: pd.DataFrame) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 2.8))
    counts = splits.groupby("fold")["subject"].count()
    ax.bar(counts.index.astype(str), counts.to_numpy(), color="#8172b2")
    ax.set_xlabel("fold")
    ax.set_ylabel("test subjects")
    ax.set_title("Subject-independent folds")
    fig.tight_layout()
    return fig


def detection_rates(videos: pd.DataFrame, subjects: Sequence[str] | None = None) -> Figure:
    """Subjects × codes: share of the frames the detector ran on where it found a face (blank: no crops)."""
    subjects = list(subjects if subjects is not None else videos["subject"].drop_duplicates())
    codes = [c for c in labels.CODES if c in set(videos["code"])] or sorted(videos["code"].unique())
    rates = videos.pivot_table(index="subject", columns="code", values="detection_rate", aggfunc="first")
    rates = rates.reindex(index=subjects, columns=codes).astype(float)
    status = videos.set_index(["subject", "code"])["status"]
    notes = [[("" if (s, c) not in status.index or status[(s, c)] == "ok" else
               {"no_face": "no face", "error": "error"}.get(status[(s, c)], status[(s, c)]))
              for c in codes] for s in subjects]
    annotations = np.where(np.array(notes) != "", np.array(notes),
                           np.vectorize(lambda v: "" if np.isnan(v) else f"{v:.0%}")(rates.to_numpy()))
    height = max(2.5, 0.3 * len(subjects) + 1.4)
    fig, ax = plt.subplots(figsize=(max(7, 0.75 * len(codes) + 2), height))
    sns.heatmap(rates, vmin=0, vmax=1, cmap="RdYlGn", annot=annotations if len(subjects) <= 30 else False,
                fmt="", annot_kws={"fontsize": 7}, cbar_kws={"label": "detection rate"}, ax=ax)
    ax.set_xlabel("")
    ax.set_ylabel("subject")
    ax.set_title("Face found in the frames the detector ran on, per video")
    fig.tight_layout()
    return fig


def box_track(frames_table: pd.DataFrame, title: str = "") -> Figure:
    """Box centre and size over time: raw detections (dots) and the smoothed box used for the crop (line)."""
    table = frames_table.sort_values("time_s")
    raw_centre_x, raw_centre_y = table["raw_x"] + table["raw_w"] / 2, table["raw_y"] + table["raw_h"] / 2
    raw_side = np.maximum(table["raw_w"], table["raw_h"])
    series = [("centre x (px)", raw_centre_x, table["x"] + table["w"] / 2),
              ("centre y (px)", raw_centre_y, table["y"] + table["h"] / 2),
              ("box side (px)", raw_side, table["w"])]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), sharex=True)
    for ax, (name, raw, smoothed) in zip(axes, series):
        ax.plot(table["time_s"], raw, "o", markersize=4, color="#dd8452", label="raw detection")
        ax.plot(table["time_s"], smoothed, "-", color="#4c72b0", linewidth=2, label="smoothed (used)")
        fallback = table["fell_back"].astype(bool)
        if fallback.any():
            ax.plot(table.loc[fallback, "time_s"], smoothed[fallback], "x", color="#c44e52", label="fell back")
        ax.set_xlabel("time (s)")
        ax.set_ylabel(name)
    axes[0].legend(fontsize=8)
    fig.suptitle(title or "Face box over time")
    fig.tight_layout()
    return fig


def iou_distribution(scored: pd.DataFrame, threshold: float = 0.5) -> Figure:
    """Histogram of the IoU between detected and true boxes, raw and smoothed (synthetic data)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    bins = np.linspace(0, 1, 41)
    # shares, not counts: raw boxes exist only where the detector ran, smoothed ones on every frame
    for column, name, colour in (("iou_raw", "raw detection", "#dd8452"), ("iou_smoothed", "smoothed box", "#4c72b0")):
        values = scored[column].dropna()
        ax.hist(values, bins=bins, alpha=0.6, color=colour, weights=np.full(len(values), 1 / max(1, len(values))),
                label=f"{name} ({len(values)} frames)")
    ax.axvline(threshold, color="black", linestyle=":", linewidth=1)
    ax.set_xlabel("IoU with the true face box")
    ax.set_ylabel("share of frames")
    ax.legend(fontsize=8)
    ax.set_title("Detected vs true face boxes")
    fig.tight_layout()
    return fig


def extraction_speed(videos: pd.DataFrame) -> Figure:
    """Frames kept per second of work, per video (each worker's own time, not the wall clock)."""
    done = videos[(videos["status"] == "ok") & (videos["seconds"] > 0)]
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.hist(done["frames"] / done["seconds"], bins=20, color="#55a868")
    ax.set_xlabel("frames per second (one worker)")
    ax.set_ylabel("videos")
    ax.set_title("Extraction speed per video")
    fig.tight_layout()
    return fig


# The 68-point outline drawn over a face: (points, closed) of each contour (iBUG 300-W order, 0-based).
_LANDMARK_CONTOURS = ((registration.JAW, False), (registration.BROW_LEFT, False), (registration.BROW_RIGHT, False),
                      (registration.NOSE_BRIDGE, False), (registration.NOSE_BASE, False),
                      (registration.EYE_LEFT, True), (registration.EYE_RIGHT, True),
                      (registration.OUTER_LIPS, True), (registration.INNER_LIPS, True))


def landmark_grid(rows: Sequence[tuple[str, Sequence[np.ndarray], Sequence[np.ndarray]]],
                  column_titles: Sequence[str], title: str = "", ok: Sequence[Sequence[bool]] | None = None) -> Figure:
    """Face crops with their 68 landmarks drawn on them: one row per (name, crops, points in crop pixels).

    A frame whose fit failed its checks (``ok`` False, same layout as the crops) is drawn in red, so a
    wrong fit is seen, not hidden.
    """
    fig = frame_grid([(name, crops) for name, crops, _ in rows], column_titles, title=title)
    for r, (_, _, points) in enumerate(rows):
        for c, frame_points in enumerate(points):
            ax = fig.axes[r * len(column_titles) + c]
            good = ok is None or bool(ok[r][c])
            colour = "#39ff14" if good else "#ff3030"
            for points_of_contour, closed in _LANDMARK_CONTOURS:
                contour = np.asarray(frame_points, float)[list(points_of_contour)]
                if closed:
                    contour = np.vstack([contour, contour[:1]])
                ax.plot(contour[:, 0], contour[:, 1], "-", color=colour, linewidth=0.8)
            ax.plot(frame_points[:, 0], frame_points[:, 1], ".", color=colour, markersize=2)
            if not good:
                ax.set_xlabel("fit failed its checks", fontsize=7, color=colour)
    return fig
