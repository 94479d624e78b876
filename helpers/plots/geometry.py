"""Figures of facial geometry over time (notebook 05): action-unit proxy curves of a genuine and a posed video,
and the activity descriptors a Rank-SVM ensemble weighs most."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from helpers.plots.results import distinct_colours


def action_unit_curves(curves: dict[str, pd.DataFrame], proxies: list[str] | None = None, columns: int = 3,
                       title: str = "Action-unit proxies over time") -> Figure:
    """One panel per proxy, one line per video: ``curves`` maps a video's name to its proxies table (one row
    per kept frame, a ``time_s`` column for the x axis, else the frame position)."""
    first = next(iter(curves.values()))
    proxies = proxies or [column for column in first.columns if column != "time_s"]
    rows = int(np.ceil(len(proxies) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.3 * rows), sharex=True, squeeze=False)
    colours = distinct_colours(len(curves))
    for ax, proxy in zip(axes.flat, proxies):
        for colour, (name, table) in zip(colours, curves.items()):
            x = table["time_s"] if "time_s" in table else np.arange(len(table))
            ax.plot(x, table[proxy], color=colour, linewidth=1.5, label=name)
        ax.set_title(proxy, fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(proxies):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("time in the video (s)" if "time_s" in first else "kept frame", fontsize=8)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", ncol=len(curves), fontsize=8, bbox_to_anchor=(0.5, 1.0))
    fig.suptitle(title, y=1.04, fontsize=10)
    fig.tight_layout()
    return fig


def descriptor_weights(table: pd.DataFrame, top: int = 15, title: str = "Descriptors the ranker weighs most"
                       ) -> Figure:
    """Horizontal bars of the ``top`` descriptors by absolute mean weight (``weight``; error bars ``weight_std``
    when present): positive weights push a video towards "genuine", negative ones towards "posed"."""
    shown = table.reindex(table["weight"].abs().sort_values(ascending=False).index).head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(shown) + 1.2))
    colours = np.where(shown["weight"] > 0, "tab:green", "tab:red")
    ax.barh(shown["descriptor"], shown["weight"], xerr=shown.get("weight_std"), color=colours, alpha=0.85,
            error_kw={"elinewidth": 0.8, "capsize": 2})
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("weight on the standardised descriptor (green: more genuine, red: more posed)")
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
