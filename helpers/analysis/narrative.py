"""Prose that follows what ran: the sentences of notebooks 03 and 04 that depend on which configurations trained
and what they learned, written from the results (Markdown, shown with ``IPython.display.Markdown``), so a page
never describes a run that did not happen. A section whose model did not run says so in one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from helpers import approaches, labels, results
from helpers.analysis import presentation
from helpers.data import protocols

#: The settings that tell the configurations of a grid apart, in the order a sentence names them.
AXES = ("variant", "model", "loss", "weighting", "fusion", "conditioning", "heads", "inputs", "C")
#: Below this standard deviation over frames, attention weights have not moved from where they started.
FLAT_ATTENTION_SD = 0.02


def setting(config: Any, axis: str) -> Any:
    """``axis`` of a configuration given as a run's ``config.json`` dict or as an ``ExperimentConfig``."""
    return config.get(axis) if isinstance(config, Mapping) else getattr(config, axis, None)


def readable_run(name: str) -> str:
    """A run name as words: ``04: cascade_embedding-simple_cnn-ce`` -> ``04: cascade embedding, simple CNN, ce``."""
    prefix, _, run = str(name).rpartition(": ")
    words = ", ".join(presentation.readable_token(part) for part in presentation.HASH.sub("", run).split("-"))
    return f"{prefix}: {words}" if prefix else words


def axes_text(configs: Sequence[Any]) -> str:
    """``2 models (resnet50, vgg16) × 1 loss (focal)`` when the configurations are every combination of their
    settings, else the settings listed (``3 variants (...), 2 losses (...)``)."""
    parts, counts = [], []
    for axis in AXES:
        values = list(dict.fromkeys(str(setting(c, axis)) for c in configs if setting(c, axis) not in (None, "")))
        if values:
            noun = axis if len(values) == 1 else (f"{axis}es" if axis.endswith("s") else f"{axis}s")
            parts.append(f"{len(values)} {noun} ({', '.join(presentation.readable_token(v) for v in values)})")
            counts.append(len(values))
    return (" × " if int(np.prod(counts)) == len(configs) else ", ").join(parts)


def ran_configs(runs: Iterable[results.RunArtifacts]) -> tuple[list[dict], list[int]]:
    """One config per configuration that has results, and the folds they were tested on."""
    runs = list(runs)
    configs = list({run.run_id: run.config for run in runs}.values())
    return configs, sorted({int(run.config.get("fold", -1)) for run in runs})


def grid_note(runs: Iterable[results.RunArtifacts], approach: str, profile: str,
              protocol: str = protocols.DEFAULT_PROTOCOL) -> str:
    """What trained in this notebook against what the full profile's grid file trains."""
    configs, folds = ran_configs(runs)
    full = approaches.grid("full", approach)
    tested = (f"each tested on {len(folds)} subject-independent fold{'s' if len(folds) != 1 else ''}"
              if protocol == protocols.DEFAULT_PROTOCOL else
              f"each tested once on the test set of protocol {protocols.protocol_label(protocol)}")
    text = (f"**What ran.** {len(configs)} configuration{'s' if len(configs) != 1 else ''} of the `{profile}` grid, "
            f"{axes_text(configs)}, {tested}")
    if profile == "full":
        return text + "."
    return (text + f". The full profile's grid (`{approaches.grid_file('full', approach).name}` of "
            f"`helpers/grids/full/`) trains {len(full)}: {axes_text(full)}, on the real SASE-FE.")


def not_run(what: str, approach: str, profile: str, variant: str, axis: str | None = None) -> str:
    """The one line a section shows when its model is not in this profile's results."""
    full = [c for c in approaches.grid("full", approach) if setting(c, "variant") == variant]
    kinds = sorted({str(setting(c, axis)) for c in full}) if axis else []
    where = (f"the full profile's grid trains {len(full)}" + (f" ({', '.join(kinds)})" if kinds else "")
             if full else "no profile's grid trains one")
    return f"**Not run here.** No {what} is in the `{profile}` results ({where})."


def fold_spread_note(fold_table: pd.DataFrame, metric: str, chance: float, what: str, by: str = "run") -> str:
    """What a per-fold score figure shows: the means, how far the folds of one configuration (rows of one ``by``)
    spread, and chance."""
    scores = fold_table.dropna(subset=[metric]).groupby(by, sort=False)[metric]
    if not len(scores):
        return f"No fold has a {what}."
    means, spread = scores.mean() * 100, (scores.max() - scores.min()) * 100
    folds = int(scores.size().max())
    text = (f"**What this shows.** Mean {what} {means.min():.1f}-{means.max():.1f} % over the models shown "
            f"(chance {chance * 100:.1f} %)")
    if folds > 1:
        text += (f"; the folds of one model lie up to {spread.max():.1f} points apart, so models whose means differ "
                 "by less than that are not told apart by these folds")
    else:
        text += "; one fold each: no spread to judge differences by"
    return text + "."


def learning_note(history: pd.DataFrame, loss: str = "loss") -> str:
    """What learning curves show: the epoch of the lowest validation loss, and whether training went on past it."""
    train, val = f"train_{loss}", f"val_{loss}"
    if history.empty or train not in history or val not in history or history[val].isna().all():
        return ""
    mean = history.groupby(["run", "epoch"], sort=False)[[train, val]].mean().reset_index()
    epochs = int(mean["epoch"].max())
    if epochs <= 1:
        return "**What this shows.** One epoch: the curves are single points, which show that the losses are recorded."
    rows = []
    for run, curve in mean.groupby("run", sort=False):
        best = curve.loc[curve[val].idxmin()]
        after = curve[curve["epoch"] > best["epoch"]]
        overfit = (not after.empty and after[train].iloc[-1] < best[train] and after[val].iloc[-1] > best[val])
        rows.append(f"{run}: lowest at epoch {int(best['epoch'])} of {int(curve['epoch'].max())}"
                    + (", then training loss fell while validation loss rose (overfitting)" if overfit else ""))
    return ("**What this shows.** Validation loss (mean over folds) per configuration: " + "; ".join(rows)
            + ". The weights of each fold's best validation epoch are the ones tested.")


def leaning_note(authenticity_confusion: np.ndarray) -> str:
    """What a real/fake confusion matrix shows: the accuracy, and how far the calls lean to one answer."""
    counts = np.asarray(authenticity_confusion, dtype=float)
    total = counts.sum()
    if total == 0:
        return ""
    genuine = labels.AUTHENTICITY.index("genuine")
    called_genuine = counts[:, genuine].sum() / total
    text = (f"**What this shows.** Real vs fake is right for {np.trace(counts) / total:.0%} of the {int(total)} "
            f"videos, and {called_genuine:.0%} of them are called genuine (half are)")
    if abs(called_genuine - 0.5) >= 0.15:
        text += (": the calls lean to one side, which costs per-video accuracy but not the paired accuracy, "
                 "which only asks which video of a pair looks more genuine")
    return text + "."


def cascade_note(cascade: pd.DataFrame, profile: str) -> str:
    """What the cascade table shows (``run``, ``folds`` and the ``_mean`` columns of ``aggregate_folds``), or
    the line saying that no cascade ran."""
    if cascade.empty:
        return not_run("cascade", "multitask", profile, "cascade", "conditioning")
    rows = []
    for row in cascade.itertuples():
        end, oracle = row.mt_authenticity_video_accuracy_mean, row.mt_authenticity_oracle_video_accuracy_mean
        rows.append(f"{row.run}: {end:.1f} % end to end, {oracle:.1f} % given the true emotion "
                    f"({oracle - end:+.1f} points, {row.folds} folds)")
    return ("**What this shows.** " + "; ".join(rows) + ". A positive gap is what stage-1 emotion errors cost "
            "the real/fake decision; a gap within the folds' spread is not one.")


def attention_note(attention: pd.DataFrame, profile: str) -> str:
    """What the attention fusion's face weights show (``run``, ``face_weight``, ``authenticity``), or the line
    saying that no attention fusion ran."""
    if attention.empty:
        return not_run("attention fusion", "multitask", profile, "fusion", "fusion")
    rows = []
    for run, weights in attention.groupby("run", sort=False):
        by_kind = weights.groupby("authenticity")["face_weight"].mean()
        sd = weights["face_weight"].std()
        text = f"{readable_run(run)}: face weight {weights['face_weight'].mean():.2f} on average (sd {sd:.3f} over frames)"
        if sd < FLAT_ATTENTION_SD:
            text += (", almost the same for every frame: the weights have not moved from where training started, "
                     "so they say nothing about face or context")
        elif {"genuine", "posed"} <= set(by_kind.index):
            text += f", {by_kind['genuine']:.2f} in genuine and {by_kind['posed']:.2f} in posed videos"
        rows.append(text)
    return "**What this shows.** " + "; ".join(rows) + "."


def versus_note(table: pd.DataFrame, columns: Mapping[str, str]) -> str:
    """What a 03-vs-04 table (``run`` and ``<metric>_mean`` columns) shows: which run leads each measure."""
    rows = []
    for metric, name in columns.items():
        column = f"{metric}_mean"
        if column in table and table[column].notna().any():
            best = table.loc[table[column].idxmax()]
            rows.append(f"{name}: {readable_run(best['run'])} ({best[column]:.1f} %)")
    if not rows:
        return ""
    return ("**What this shows.** Highest mean on the shared folds, by measure: " + "; ".join(rows)
            + ". Read each against the folds' spread in the figure below before calling one better.")


def confound_note(baselines: pd.DataFrame, selected: pd.DataFrame) -> str:
    """What the confound baselines show (``score_summary`` tables of the baselines and of the selected models,
    ``paired_accuracy_mean`` in percent): how far above chance the trivial models get, and how many selected
    models stand above the best of them."""
    if baselines.empty or "paired_accuracy_mean" not in baselines:
        return "No confound baseline was computed."
    best = baselines.loc[baselines["paired_accuracy_mean"].idxmax()]
    name = str(best["model"]).split("/")[-1]
    text = (f"**What this shows.** The best trivial model, {name}, reaches {best['paired_accuracy_mean']:.1f} % "
            "paired (chance 50 %)")
    if "paired_accuracy_mean" in selected and selected["paired_accuracy_mean"].notna().any():
        above = int((selected["paired_accuracy_mean"] > best["paired_accuracy_mean"]).sum())
        text += (f"; {above} of the {len(selected)} rows of the selected models' table "
                 f"{'stands' if above == 1 else 'stand'} above it")
    return text + (". A score no higher than a baseline's says nothing about expressions, however far above "
                   "chance it is.")


def oracle_note(oracle: pd.DataFrame, selected: pd.DataFrame) -> str:
    """What the oracle's row says (``score_summary`` tables of the oracle and of the selected models,
    ``paired_accuracy_mean`` in percent): how far a good model of the synthetic cues gets, against the best
    selected model; "" without an oracle (real data)."""
    if oracle.empty or "paired_accuracy_mean" not in oracle:
        return ""
    text = (f"The oracle, a logistic regression on descriptors of the generator's true action units (which no "
            f"model sees), reaches {oracle['paired_accuracy_mean'].iloc[0]:.1f} % paired on the same folds: what a "
            "good model of the synthetic cues can do")
    if "paired_accuracy_mean" in selected and selected["paired_accuracy_mean"].notna().any():
        text += f"; the selected models reach up to {selected['paired_accuracy_mean'].max():.1f} %"
    return text + "."
