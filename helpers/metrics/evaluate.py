"""Evaluation: frame- and video-level metrics, collapsed views of the 12-class problem, paired real/fake
accuracy, and tables of results across folds.

Everything here works on **predictions tables** (one row per frame: ``subject, code, frame, label,
emotion_label, authenticity_label, target, pred, prob_0 ... prob_{C-1}``), the same table every run saves as
``predictions.csv``, so notebooks 03-06 and the book can recompute any metric from the artifacts alone.

- *frame level*: every frame is a sample;
- *video level*: the frame probabilities of each video are averaged, then the argmax is the prediction;
- *collapsed views* of the 12-class problem: the probability of an emotion is the sum of the
  probabilities of its genuine and posed classes; the probability of "genuine" is the sum over the six
  genuine classes (marginalising, rather than collapsing the argmax, keeps the evidence of all classes);
- *paired accuracy, pairs known*: for each subject and emotion with both videos, is the genuine one given
  the higher probability of being genuine? (The ChaLearn 2017 challenge scored each video alone: its
  *challenge accuracy* is the real/fake video accuracy; see ``helpers.metrics.challenge``.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from helpers import labels, results
from helpers.metrics import scoring

VIEWS_OF_TARGET = {"label": ("label", "emotion", "authenticity"), "emotion": ("emotion",),
                   "authenticity": ("authenticity",)}
TRUE_COLUMN = {"label": "label", "emotion": "emotion_label", "authenticity": "authenticity_label"}
KEY_COLUMNS = ["subject", "code"]


def prob_columns(n_classes: int) -> list[str]:
    return [f"prob_{k}" for k in range(n_classes)]


def predictions_table(outputs: dict[str, np.ndarray], videos: pd.DataFrame, target: str) -> pd.DataFrame:
    """Per-frame predictions from the gathered outputs of a prediction pass.

    ``outputs`` holds ``probs`` ``[N, C]``, ``video`` (row of ``videos``) and ``frame``; ``videos`` is the
    dataset's videos table. Rows are sorted by video and frame.
    """
    probs = np.asarray(outputs["probs"], dtype=np.float32)  # as the model gave them: no rounding (no false ties)
    video_ids = np.asarray(outputs["video"], dtype=np.int64)
    videos = videos.reset_index(drop=True)
    truth = labels.video_targets(videos).to_numpy()[video_ids]
    table = pd.DataFrame({
        "subject": videos["subject"].astype(str).to_numpy()[video_ids],
        "code": videos["code"].astype(str).to_numpy()[video_ids],
        "frame": np.asarray(outputs["frame"], dtype=np.int64),
        "label": truth[:, 0], "emotion_label": truth[:, 1], "authenticity_label": truth[:, 2],
    })
    table["target"] = table[TRUE_COLUMN[target]]
    table["pred"] = probs.argmax(axis=1)
    for k, column in enumerate(prob_columns(probs.shape[1])):
        table[column] = probs[:, k]
    order = np.lexsort((table["frame"].to_numpy(), video_ids))
    return table.iloc[order].reset_index(drop=True)


def video_level(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per video: frame probabilities averaged, argmax taken again, ``frames`` counted."""
    columns = [c for c in predictions.columns if c.startswith("prob_")]
    label_columns = ["label", "emotion_label", "authenticity_label", "target"]
    grouped = predictions.groupby(KEY_COLUMNS, sort=False)
    table = grouped[label_columns].first().join(grouped[columns].mean()).join(grouped.size().rename("frames"))
    table["pred"] = table[columns].to_numpy().argmax(axis=1)
    return table.reset_index()


def collapse(probs: np.ndarray, view: str) -> np.ndarray:
    """12-class probabilities summed into the 6 emotions or the 2 authenticities (posed, genuine)."""
    if view == "label":
        return probs
    position = 0 if view == "emotion" else 1
    groups = np.array([labels.split_class_index(k)[position] for k in range(probs.shape[1])])
    return np.stack([probs[:, groups == g].sum(axis=1) for g in range(labels.num_classes(view))], axis=1)


def view_probs(table: pd.DataFrame, target: str, view: str) -> tuple[np.ndarray, np.ndarray]:
    """(true classes, probabilities) of ``view`` from a frame or video table of a ``target`` task."""
    probs = table[prob_columns(labels.num_classes(target))].to_numpy(dtype=np.float64)
    if view != target:
        if target != "label":
            raise ValueError(f"a {target} model has no {view} view")
        probs = collapse(probs, view)
    return table[TRUE_COLUMN[view]].to_numpy(dtype=np.int64), probs


def classification_report(y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix (rows: truth)."""
    classes = list(range(len(class_names)))
    y_pred = probs.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=classes,
                                                                     zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else float("nan"),
        "macro_f1": float(f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)),
        "chance": 1.0 / len(classes),
        "class_names": list(class_names),
        "per_class": {name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for name, p, r, f, s in zip(class_names, precision, recall, f1, support)},
        "confusion": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
    }


def paired_accuracy(videos: pd.DataFrame, p_genuine: np.ndarray) -> dict:
    """Share of (subject, emotion) pairs whose genuine video gets the higher p(genuine); ties count half
    (``scoring.paired_protocol`` on one row per video with ``subject`` and ``code``)."""
    result = scoring.paired_protocol(videos.assign(p_genuine=p_genuine))
    return {"accuracy": result["accuracy"], "pairs": result["pairs"]}


def authenticity_by_emotion(videos: pd.DataFrame, authenticity_probs: np.ndarray) -> dict[str, float]:
    """Video-level real/fake accuracy within each emotion."""
    correct = authenticity_probs.argmax(axis=1) == videos["authenticity_label"].to_numpy()
    by = pd.Series(correct).groupby(videos["emotion_label"].to_numpy()).mean()
    return {labels.EMOTIONS[int(e)]: float(v) for e, v in by.items()}


def evaluate_predictions(predictions: pd.DataFrame, target: str) -> dict:
    """All metrics of one fold from its per-frame predictions (see the module docstring)."""
    videos = video_level(predictions)
    metrics: dict = {"target": target, "n_frames": int(len(predictions)), "n_videos": int(len(videos))}
    for view in VIEWS_OF_TARGET[target]:
        metrics[view] = {}
        for level, table in (("frame", predictions), ("video", videos)):
            y_true, probs = view_probs(table, target, view)
            metrics[view][level] = classification_report(y_true, probs, labels.TARGET_CLASSES[view])
        if view == "authenticity":
            _, probs = view_probs(videos, target, view)
            metrics[view]["paired"] = paired_accuracy(videos, probs[:, 1])
            metrics[view]["by_emotion"] = authenticity_by_emotion(videos, probs)
    return metrics


SUMMARY_METRICS = ("frame_accuracy", "frame_macro_f1", "video_accuracy", "video_macro_f1",
                   "emotion_video_accuracy", "authenticity_video_accuracy", "paired_accuracy",
                   "challenge_accuracy", "paired_found_accuracy")


def summary_row(metrics: dict) -> dict[str, float]:
    """The headline numbers of one fold as a flat dict (missing views give NaN)."""
    target = metrics["target"]
    main = metrics[target]

    def get(view: str, level: str, key: str = "accuracy") -> float:
        return float(metrics.get(view, {}).get(level, {}).get(key, float("nan")))

    row = {
        "frame_accuracy": main["frame"]["accuracy"], "frame_macro_f1": main["frame"]["macro_f1"],
        "video_accuracy": main["video"]["accuracy"], "video_macro_f1": main["video"]["macro_f1"],
        "emotion_video_accuracy": get("emotion", "video"),
        "authenticity_video_accuracy": get("authenticity", "video"),
        "paired_accuracy": get("authenticity", "paired"),
    }
    if "challenge" in metrics:  # a protocol with a fixed test set (helpers.data.protocols)
        row["challenge_accuracy"] = float(metrics["challenge"]["challenge_accuracy"]["accuracy"])
        row["paired_found_accuracy"] = float(metrics["challenge"]["paired_found"]["accuracy"])
    return row


def selection_row(metrics: dict) -> dict[str, float]:
    """The numbers a configuration may be chosen by, from the metrics of its *validation* subjects'
    predictions (``summary_row``, with the number of pairs behind the paired accuracy)."""
    paired = metrics.get("authenticity", {}).get("paired", {})
    return {**summary_row(metrics), "pairs": int(paired.get("pairs", 0))}


RUN_KEYS = ("approach", "run_id", "run", "model", "loss", "target")


def fold_table(runs: Iterable[results.RunArtifacts]) -> pd.DataFrame:
    """One row per trained fold: what ran (approach, run id, run, model, loss, target, fold) and its headline
    numbers; ``run_id`` tells runs of the same name made under different settings apart."""
    rows = []
    for run in runs:
        row = {key: run.config.get(key) for key in RUN_KEYS}
        row["run_id"] = run.run_id
        row["fold"] = int(run.metrics.get("fold", run.config.get("fold", -1)))
        row.update(summary_row(run.metrics))
        row["best_epoch"] = run.metrics.get("best_epoch")
        row["train_seconds"] = run.metrics.get("train_seconds")
        rows.append(row)
    return pd.DataFrame(rows)


def load_fold_table(profile_results, approach: str | None = None) -> pd.DataFrame:
    """``fold_table`` of every complete run saved under ``<results>/<profile>`` (optionally one approach)."""
    runs = [results.load_run(folder, predictions=False) for folder in results.find_runs(profile_results, approach)]
    return fold_table(runs)


def aggregate_folds(folds: pd.DataFrame, metrics: Sequence[str] = SUMMARY_METRICS,
                    by: Sequence[str] = ("approach", "run_id", "run", "model", "loss", "target"),
                    percent: bool = True) -> pd.DataFrame:
    """Mean ± std across folds (sample std, ddof=1) of each metric, one row per run.

    Returns ``<metric>_mean``, ``<metric>_std`` and a text column ``<metric>`` ("54.6 ± 3.1", in percent
    when ``percent``), plus ``folds`` (how many folds were aggregated).
    """
    by = [column for column in by if column in folds.columns]
    metrics = [m for m in metrics if m in folds.columns]
    grouped = folds.groupby(by, sort=False, dropna=False)
    table = grouped.size().rename("folds").to_frame()
    scale = 100.0 if percent else 1.0
    for metric in metrics:
        mean = grouped[metric].mean() * scale
        std = grouped[metric].std(ddof=1) * scale
        table[f"{metric}_mean"], table[f"{metric}_std"] = mean, std
        table[metric] = [_mean_pm_std(m, s, percent) for m, s in zip(mean, std)]
    return table.reset_index()


def _mean_pm_std(mean: float, std: float, percent: bool) -> str:
    if np.isnan(mean):
        return "n/a"
    digits = 1 if percent else 3
    return f"{mean:.{digits}f}" + ("" if np.isnan(std) else f" ± {std:.{digits}f}")


# --------------------------------------------------------------------------------------------------
# Reading many runs back (notebooks 03-06 and the book read only artifacts)
# --------------------------------------------------------------------------------------------------


def load_runs(profile_results, approach: str | None = None, runs: Sequence[str] | None = None,
              predictions: bool = False) -> list[results.RunArtifacts]:
    """The complete runs under ``<results>/<profile>`` (optionally one approach, and only the run ids in
    ``runs``: a configuration's ``run_id``). Only those are read: a damaged fold of another run stops nothing."""
    wanted = None if runs is None else set(runs)
    folders = [folder for folder in results.find_runs(profile_results, approach)
               if wanted is None or folder.parent.name in wanted]  # a run's folder is named by its run id
    loaded = [results.load_run(folder, predictions) for folder in folders]
    return [run for run in loaded if wanted is None or run.run_id in wanted]


def histories(runs: Iterable[results.RunArtifacts]) -> pd.DataFrame:
    """Every epoch of every run and fold: ``run, run_id, fold, epoch, train_loss, ...`` (for learning curves)."""
    frames = [run.history.assign(run=run.config.get("run"), run_id=run.run_id, fold=int(run.config.get("fold", -1)))
              for run in runs]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def summed_confusion(runs: Iterable[results.RunArtifacts], view: str = "label", level: str = "video") -> np.ndarray:
    """Confusion matrices of ``view`` at ``level`` added over runs (e.g. the folds of one configuration)."""
    matrices = [np.asarray(run.metrics[view][level]["confusion"]) for run in runs if view in run.metrics]
    if not matrices:
        raise ValueError(f"none of the runs has a {view!r} view")
    return np.sum(matrices, axis=0)


def authenticity_by_emotion_table(runs: Iterable[results.RunArtifacts]) -> pd.DataFrame:
    """``run, run_id, fold, emotion, accuracy``: video-level real/fake accuracy within each emotion, per fold."""
    rows = [{"run": run.config.get("run"), "run_id": run.run_id, "fold": int(run.config.get("fold", -1)),
             "emotion": emotion, "accuracy": accuracy}
            for run in runs for emotion, accuracy in run.metrics.get("authenticity", {}).get("by_emotion", {}).items()]
    return pd.DataFrame(rows, columns=["run", "run_id", "fold", "emotion", "accuracy"])
