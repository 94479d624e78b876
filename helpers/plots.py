"""Figures the notebooks show. Each function returns a matplotlib Figure and never calls ``show()``."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from helpers import labels


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


# --------------------------------------------------------------------------------------------------
# Training results (notebooks 03-06)
# --------------------------------------------------------------------------------------------------


def learning_curves(histories: pd.DataFrame, metrics: Sequence[str] = ("loss", "accuracy"),
                    title: str = "Learning curves (mean over folds)") -> Figure:
    """One panel per metric: training (solid, dots) and validation (dashed, crosses) curves of each run, averaged
    over folds; the markers keep the two apart when there is a single epoch.

    ``histories``: the history.csv rows of several runs/folds with columns ``run``, ``fold``, ``epoch``,
    ``train_<metric>`` and optionally ``val_<metric>``.
    """
    metrics = [m for m in metrics if f"train_{m}" in histories.columns]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 3.6), squeeze=False)
    colours = dict(zip(histories["run"].unique(), distinct_colours(histories["run"].nunique())))
    for ax, metric in zip(axes[0], metrics):
        for run, part in histories.groupby("run", sort=False):
            mean = part.groupby("epoch").mean(numeric_only=True)
            ax.plot(mean.index, mean[f"train_{metric}"], color=colours[run], marker="o", markersize=3,
                    label=f"{run} train")
            if f"val_{metric}" in mean and mean[f"val_{metric}"].notna().any():
                ax.plot(mean.index, mean[f"val_{metric}"], color=colours[run], linestyle="--", marker="x",
                        markersize=6, label=f"{run} val")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        epochs = sorted(histories["epoch"].unique())
        ax.set_xlim(0.5, max(epochs) + 0.5)
        if len(epochs) <= 20:
            ax.set_xticks(epochs)
    # one entry per run (its colour) and one per line style: a legend of runs x parts would hide the curves
    handles = [Line2D([], [], color=colour, linewidth=2, label=run) for run, colour in colours.items()]
    handles += [Line2D([], [], color="black", marker="o", markersize=3, label="train"),
                Line2D([], [], color="black", linestyle="--", marker="x", markersize=6, label="validation")]
    axes[0][-1].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def distinct_colours(n: int) -> list:
    """``n`` colours no two of which are the same (tab10 repeats itself after 10)."""
    palette = "tab10" if n <= 10 else "tab20" if n <= 20 else "husl"
    return sns.color_palette(palette, max(1, n))


def confusion_matrix(matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str = "",
                     normalize: bool = True, ax=None) -> Figure:
    """A confusion matrix (rows: true class, columns: predicted), as row percentages when ``normalize``."""
    counts = np.asarray(matrix, dtype=float)
    values = counts / np.clip(counts.sum(axis=1, keepdims=True), 1, None) * 100 if normalize else counts
    size = max(3.2, 0.5 * len(class_names) + 1.5)
    if ax is None:
        fig, ax = plt.subplots(figsize=(size + 1, size))
    else:
        fig = ax.figure
    sns.heatmap(values, annot=len(class_names) <= 12, fmt=".0f", cmap="Blues", vmin=0,
                vmax=100 if normalize else None, xticklabels=class_names, yticklabels=class_names, ax=ax,
                cbar_kws={"label": "% of true class" if normalize else "count"}, annot_kws={"fontsize": 7})
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.tick_params(axis="x", labelrotation=60, labelsize=8)
    ax.tick_params(axis="y", labelrotation=0, labelsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def authenticity_by_emotion(table: pd.DataFrame, title: str = "Real vs fake accuracy per emotion (video level)"
                            ) -> Figure:
    """Grouped bars: real/fake accuracy within each emotion, one bar per run (``run, emotion, accuracy``;
    several folds per run are averaged, with their standard deviation as error bar)."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    sns.barplot(data=table, x="emotion", y="accuracy", hue="run", order=list(labels.EMOTIONS), errorbar="sd",
                ax=ax)
    ax.axhline(0.5, color="black", linestyle=":", linewidth=1, label="chance")
    ax.set_ylim(0, 1)
    ax.set_xlabel("")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def fold_scores(folds: pd.DataFrame, metric: str = "video_accuracy", chance: float | None = None,
                title: str = "") -> Figure:
    """Each run's score per fold (dots) and mean ± std (bar), with the chance level as a line."""
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * folds["run"].nunique() + 2), 3.6))
    sns.barplot(data=folds, x="run", y=metric, errorbar="sd", color="#c6dbef", ax=ax)
    sns.stripplot(data=folds, x="run", y=metric, color="#08519c", size=5, ax=ax)
    if chance is not None:
        ax.axhline(chance, color="black", linestyle=":", linewidth=1)
        ax.annotate("chance", (ax.get_xlim()[1], chance), ha="right", va="bottom", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_xlabel("")
    ax.set_ylabel(metric.replace("_", " "))
    ax.tick_params(axis="x", labelrotation=30)
    ax.set_title(title or f"{metric.replace('_', ' ')} per fold (dots) and mean ± std (bars)")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
# Frame extraction (notebook 02)
# --------------------------------------------------------------------------------------------------


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


def genuineness_over_time(tables: dict[str, pd.DataFrame], title: str = "p(genuine) of sliding clips",
                          segments: dict[str, tuple[int, int]] | None = None) -> Figure:
    """p(genuine) of clips sliding over videos (``helpers.temporal.sliding_scores`` tables), one line per
    video, against the position of the clip's centre among the video's crops; ``segments`` shades each
    video's onset-to-apex segment."""
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    colours = distinct_colours(len(tables))
    for colour, (name, table) in zip(colours, tables.items()):
        ax.plot(table["centre"], table["p_genuine"], marker="o", markersize=3, color=colour, label=name)
        if segments and name in segments:
            start, end = segments[name]
            ax.axvspan(start, end - 1, color=colour, alpha=0.12)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("clip centre (crop index in the kept window)")
    ax.set_ylabel("p(genuine)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def metric_bars(table: pd.DataFrame, metrics: dict[str, str], by: str = "run", title: str = "",
                chance: dict[str, float] | None = None) -> Figure:
    """Grouped bars of several metrics (``{column: label}``, values in [0, 1]) per ``by`` (one row per fold:
    the bar is the mean, the error bar the std over folds); ``chance`` draws each metric's chance level."""
    long = table.melt(id_vars=[by], value_vars=list(metrics), var_name="metric", value_name="value")
    long["metric"] = long["metric"].map(metrics)
    width = min(11.0, max(6.5, 1.6 * len(metrics) + 0.25 * table[by].nunique() * len(metrics)))
    fig, ax = plt.subplots(figsize=(width, 3.8))
    sns.barplot(data=long, x="metric", y="value", hue=by, errorbar="sd", ax=ax)
    for position, column in enumerate(metrics):
        if chance and column in chance:
            ax.hlines(chance[column], position - 0.4, position + 0.4, color="black", linestyle=":", linewidth=1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
# Comparison (notebook 06)
# --------------------------------------------------------------------------------------------------


def confusion_matrices(matrices: dict[str, Sequence[Sequence[int]]], class_names: Sequence[str],
                       title: str = "", columns: int = 3) -> Figure:
    """Several confusion matrices side by side (row percentages), one per name of ``matrices``."""
    names = list(matrices)
    columns = max(1, min(columns, len(names)))
    rows = int(np.ceil(len(names) / columns))
    size = max(3.2, 0.42 * len(class_names) + 1.6)
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns + 0.8 * columns, size * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        confusion_matrix(matrices[name], class_names, title=name, ax=ax)
        ax.title.set_fontsize(9)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def fold_points(folds: pd.DataFrame, metric: str, by: str = "model", chance: float | None = None,
                title: str = "") -> Figure:
    """Horizontal point plot: each fold's score (small dots) and mean ± std (big dot, bar) per ``by``."""
    order = list(folds.groupby(by, sort=False)[metric].mean().sort_values(ascending=False).index)
    fig, ax = plt.subplots(figsize=(7.5, max(2.4, 0.42 * len(order) + 1.2)))
    sns.stripplot(data=folds, y=by, x=metric, order=order, color="#9ecae1", size=5, ax=ax)
    sns.pointplot(data=folds, y=by, x=metric, order=order, errorbar="sd", linestyle="none", color="#08519c",
                  capsize=0.2, ax=ax)
    if chance is not None:
        ax.axvline(chance, color="black", linestyle=":", linewidth=1)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylabel("")
    ax.set_xlabel(metric.replace("_", " "))
    ax.set_title(title or f"{metric.replace('_', ' ')}: folds (light) and mean ± std (dark)")
    fig.tight_layout()
    return fig


def prediction_timeline(crops: np.ndarray | None, table: pd.DataFrame, title: str = "", frame: int | None = None,
                        n_crops: int = 6) -> Figure:
    """One video's predictions over time: a strip of face crops (or the crop at ``frame``), the six emotion
    probabilities and p(genuine) per frame (``table``: ``frame``, ``p_genuine`` and one column per emotion,
    ``helpers.widgets.frame_scores``); ``frame`` draws a cursor."""
    fig = plt.figure(figsize=(9, 5.2))
    grid = fig.add_gridspec(2, 1, height_ratios=[1, 1.6])
    top = grid[0].subgridspec(1, 1 if frame is not None else n_crops)
    if crops is not None and len(crops):
        positions = ([int(np.clip(frame, 0, len(crops) - 1))] if frame is not None
                     else np.linspace(0, len(crops) - 1, n_crops).round().astype(int))
        for k, position in enumerate(positions):
            ax = fig.add_subplot(top[0, k])
            ax.imshow(np.asarray(crops[position]))
            ax.set_title(f"frame {position}", fontsize=8)
            ax.axis("off")
    ax = fig.add_subplot(grid[1])
    colours = sns.color_palette("tab10", len(labels.EMOTIONS))
    for colour, emotion in zip(colours, labels.EMOTIONS):
        if emotion in table:
            ax.plot(table["frame"], table[emotion], color=colour, linewidth=1.2, label=f"p({emotion})")
    ax.plot(table["frame"], table["p_genuine"], color="black", linewidth=2.2, label="p(genuine)")
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    if frame is not None:
        ax.axvline(frame, color="red", linewidth=1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("frame (crop index)")
    ax.set_ylabel("probability")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
# Multi-task (notebook 04): attention fusion
# --------------------------------------------------------------------------------------------------


def fusion_attention(table: pd.DataFrame, title: str = "Attention fusion: weight of the face stream") -> Figure:
    """Where the attention fusion model looks: the weight of the face stream (the context stream gets
    1 − it) per frame (histogram, left) and per video (mean over its frames, right) by emotion, posed vs
    genuine. ``table``: ``helpers.multitask.load_attention_weights`` (``face_weight``, ``emotion``,
    ``authenticity``, ``subject``, ``code``; ``run``/``fold`` when present keep videos apart)."""
    keys = [column for column in ("run", "fold", "subject", "code") if column in table.columns]
    videos = table.groupby(keys, sort=False).agg(emotion=("emotion", "first"), authenticity=("authenticity", "first"),
                                                 face_weight=("face_weight", "mean")).reset_index()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1, 2]})
    left.hist(table["face_weight"], bins=np.linspace(0, 1, 41), color="#4c72b0")
    left.axvline(0.5, color="black", linestyle=":", linewidth=1)
    left.set_xlim(0, 1)
    left.set_xlabel("face weight (context = 1 − face)")
    left.set_ylabel("frames")
    left.set_title(f"{len(table)} frames: mean {table['face_weight'].mean():.3f}, "
                   f"sd {table['face_weight'].std(ddof=0):.3f}", fontsize=9)
    order, hue_order = list(labels.EMOTIONS), list(labels.AUTHENTICITY)
    sns.stripplot(data=videos, x="emotion", y="face_weight", hue="authenticity", order=order, hue_order=hue_order,
                  dodge=True, size=3.5, alpha=0.5, legend=False, ax=right)
    sns.pointplot(data=videos, x="emotion", y="face_weight", hue="authenticity", order=order, hue_order=hue_order,
                  dodge=0.4, errorbar="sd", linestyle="none", markers="D", capsize=0.1, ax=right)
    right.axhline(0.5, color="black", linestyle=":", linewidth=1)  # equal weights: no stream preferred
    right.set_ylim(0, 1)
    right.set_xlabel("")
    right.set_ylabel("face weight, video mean")
    right.set_title(f"{len(videos)} videos, mean ± sd per group (dotted: equal weights)", fontsize=9)
    right.legend(title="", fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title)
    fig.tight_layout()
    return fig
