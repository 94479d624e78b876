"""Figures of trained runs (notebooks 03-06): learning curves, confusion matrices, scores per fold,
metrics side by side, genuineness over time, the prediction timeline, attention weights."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from helpers import labels


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
    fig, ax = plt.subplots(figsize=(10, 3.6))
    sns.barplot(data=table, x="emotion", y="accuracy", hue="run", order=list(labels.EMOTIONS), errorbar="sd",
                palette=distinct_colours(table["run"].nunique()), ax=ax)
    ax.axhline(0.5, color="black", linestyle=":", linewidth=1, label="chance")
    ax.set_ylim(0, 1)
    ax.set_xlabel("")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, never over them
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


def genuineness_over_time(tables: dict[str, pd.DataFrame], title: str = "p(genuine) of sliding clips",
                          segments: dict[str, tuple[int, int]] | None = None) -> Figure:
    """p(genuine) of clips sliding over videos (``helpers.approaches.temporal.sliding_scores`` tables), one line per
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
    sns.barplot(data=long, x="metric", y="value", hue=by, errorbar="sd", ax=ax,
                palette=distinct_colours(long[by].nunique()))
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


def confusion_matrices(matrices: dict[str, Sequence[Sequence[int]]], class_names: Sequence[str],
                       title: str = "", columns: int | None = None) -> Figure:
    """Several confusion matrices (row percentages), one per name of ``matrices``: side by side (``columns``,
    default 3) when they have few classes, one under the other when they have more than 6, so that each
    keeps the size at which its labels are read (a page scales a wide figure down to its column)."""
    names = list(matrices)
    columns = columns or (1 if len(class_names) > 6 else 3)
    columns = max(1, min(columns, len(names)))
    rows = int(np.ceil(len(names) / columns))
    size = max(3.2, 0.5 * len(class_names) + 1.5)
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns + 0.8 * columns, size * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        confusion_matrix(matrices[name], class_names, title=name, ax=ax)
        ax.title.set_fontsize(9)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    # leave the suptitle its own band above the panels' titles (tight_layout alone lets them overlap)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_size_inches()[1]) if title else None)
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
    ``helpers.analysis.widgets.frame_scores``); ``frame`` draws a cursor."""
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


def fusion_attention(table: pd.DataFrame, title: str = "Attention fusion: weight of the face stream") -> Figure:
    """Where the attention fusion model looks: the weight of the face stream (the context stream gets
    1 − it) per frame (histogram, left) and per video (mean over its frames, right) by emotion, posed vs
    genuine. ``table``: ``helpers.approaches.multitask.load_attention_weights`` (``face_weight``, ``emotion``,
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
