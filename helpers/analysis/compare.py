"""Comparing every trained approach from its artifacts alone (notebook 06): tables with intervals over
subjects, the metrics of the ChaLearn 2017 challenge by name (``helpers.metrics.challenge``), and what
distinguishes runs.

Everything starts from the saved ``predictions.csv`` of each fold (``helpers.results``), reduced to
**video scores** (``video_scores``): one row per model, test fold and video with the true labels, the
video-level 12-class probabilities (when the model predicts the 12 classes) and the video's
**genuineness** ``p_genuine`` (the sum of the six genuine-class probabilities, or the authenticity head's
probability of "genuine"). Each row is an *out-of-fold* prediction: the run of fold k only ever scores the
subjects of fold k, which it never saw in training. The approaches, their names in tables and the notebooks
that train them come from ``helpers.approaches``' registry (``load_all``, ``missing_approaches``, ``approach_name``).

- *challenge accuracy* (``authenticity_video_accuracy``): real/fake per video, each video judged on its own:
  what the challenge scored;
- *paired accuracy, pairs known* (``paired_protocol`` of ``scoring``): for each subject and emotion, the video
  with the higher genuineness is called genuine; pair accuracy, ties counting half; videos without their partner
  are skipped and counted (the challenge's test videos have no subject: there, pairs are found, not known);
- ``summary_table`` / ``interval_table``: mean ± std over folds, and pooled scores with 95 % intervals from
  resampling *subjects* (``stats``); no score orders the rows; ``selection`` says which fold chose what;
- the published SASE-FE numbers beside the selected models' live in ``published``;
- tests between models and ensembles live in ``stats`` and ``ensembles``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from helpers import approaches, labels, results
from helpers.analysis import selection, stats
from helpers.metrics import challenge, evaluate
from helpers.metrics.scoring import correct, paired_protocol

ENSEMBLE = "ensemble"  # the approach column of ensembles' rows (``helpers.analysis.ensembles``)
ENSEMBLE_NAME = "ensemble (06)"
KEYS = ["fold", "subject", "code"]
PROBS = evaluate.prob_columns(len(labels.CLASS_NAMES))


# --------------------------------------------------------------------------------------------------
# Reading the artifacts
# --------------------------------------------------------------------------------------------------


def model_name(config: dict) -> str:
    """``<approach>/<run id>``: unique across the notebooks (run names alone may repeat between approaches, and
    between settings: the run id holds the hash of the settings)."""
    return f"{config.get('approach')}/{config.get('run_id') or config.get('run')}"


class NothingToCompare(Exception):
    """Stops "Run all" with its message only (no traceback): there is nothing to compare yet."""

    def _render_traceback_(self):  # IPython shows these lines instead of a traceback
        return [f"NothingToCompare: {self}"]


def approach_name(approach: str) -> str:
    """How tables name ``approach``: its registered ``DISPLAY_NAME``; ensembles, and the results of an approach
    no longer registered, by their own name."""
    if approach == ENSEMBLE:
        return ENSEMBLE_NAME
    return approaches.display_name(approach) if approach in approaches.APPROACHES else approach


def load_all(profile_results, names: Sequence[str] | None = None, predictions: bool = True
             ) -> list[results.RunArtifacts]:
    """Every complete run of the approaches ``names`` (default: every registered one) under
    ``<results>/<profile>``."""
    return [run for approach in (names or list(approaches.APPROACHES))
            for run in evaluate.load_runs(profile_results, approach, predictions=predictions)]


def missing_approaches(profile_results, names: Sequence[str] | None = None) -> list[str]:
    """The approaches of ``names`` (default: every registered one) with no complete run yet (the notebooks to
    run are ``approaches.notebook_of(...)``)."""
    return [a for a in (names or list(approaches.APPROACHES)) if not results.find_runs(profile_results, a)]


def load_comparable(profile_results, profile: str) -> list[results.RunArtifacts]:
    """``load_all``, or ``NothingToCompare`` naming the notebooks to run when no approach has results."""
    runs = load_all(profile_results)
    if not runs:
        numbers = sorted({approaches.notebook_of(a).split("_")[0] for a in approaches.APPROACHES})
        listed = f"{', '.join(numbers[:-1])} and {numbers[-1]}" if len(numbers) > 1 else numbers[0]
        raise NothingToCompare(f"no results in {profile_results}: run notebooks {listed} with PROFILE = {profile!r} "
                               "first (or set RESULTS_DIR to where they saved them)")
    return runs


def p_genuine(table: pd.DataFrame, target: str) -> np.ndarray:
    """Genuineness of each row: the summed genuine-class probabilities (12 classes) or p(genuine)."""
    if target == "emotion":
        raise ValueError("an emotion-only model has no genuineness")
    _, probs = evaluate.view_probs(table, target, "authenticity")
    return probs[:, 1]


def video_scores(runs: Iterable[results.RunArtifacts]) -> pd.DataFrame:
    """One row per (model, test fold, video): ``model, approach, run, fold, subject, code, label,
    emotion_label, authenticity_label, p_genuine, pred`` (12-class argmax, -1 when the model has no 12
    classes) and ``prob_0..prob_11`` (NaN without 12 classes). Emotion-only models are left out."""
    frames = []
    for run in runs:
        target = run.config.get("target", "label")
        if run.predictions is None or target == "emotion":
            continue
        videos = evaluate.video_level(run.predictions)
        table = videos[["subject", "code", "label", "emotion_label", "authenticity_label"]].copy()
        table.insert(0, "fold", int(run.config.get("fold", run.metrics.get("fold", -1))))
        table.insert(0, "run", run.config.get("run"))
        table.insert(0, "approach", run.config.get("approach"))
        table.insert(0, "model", model_name(run.config))
        table["p_genuine"] = p_genuine(videos, target)
        for column in PROBS:
            table[column] = videos[column] if target == "label" else np.nan
        table["pred"] = videos["pred"] if target == "label" else -1
        frames.append(table)
    columns = ["model", "approach", "run", *KEYS, "label", "emotion_label", "authenticity_label", "p_genuine",
               "pred", *PROBS]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


# --------------------------------------------------------------------------------------------------
# Per-fold scores from video scores
# --------------------------------------------------------------------------------------------------


def fold_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Per model and fold: ``authenticity_video_accuracy``, ``video_accuracy`` (12-class; NaN without it),
    ``paired_accuracy`` and ``pairs``."""
    rows = []
    for (model, fold), part in scores.groupby(["model", "fold"], sort=False):
        paired = paired_protocol(part)
        has_classes = (part["pred"] >= 0).all()
        rows.append({"model": model, "approach": part["approach"].iloc[0], "fold": fold,
                     "authenticity_video_accuracy": float(correct(part).mean()),
                     "video_accuracy": float(correct(part, "label").mean()) if has_classes else np.nan,
                     "paired_accuracy": paired["accuracy"], "pairs": paired["pairs"]})
    return pd.DataFrame(rows)


def authenticity_by_emotion(scores: pd.DataFrame) -> pd.DataFrame:
    """``model, fold, emotion, accuracy``: video-level real/fake accuracy within each emotion."""
    table = scores[["model", "fold"]].copy()
    table["emotion"] = [labels.EMOTIONS[int(e)] for e in scores["emotion_label"]]
    table["accuracy"] = correct(scores).astype(float)
    return table.groupby(["model", "fold", "emotion"], sort=False)["accuracy"].mean().reset_index()


# --------------------------------------------------------------------------------------------------
# The comparison table
# --------------------------------------------------------------------------------------------------

TABLE_METRICS = {"frame_accuracy": "12-class, frame (or clip)", "video_accuracy": "12-class, video",
                 "emotion_video_accuracy": "emotion, video",
                 "authenticity_video_accuracy": f"real/fake, video ({challenge.METRIC_NAMES['challenge_accuracy']})",
                 "paired_accuracy": f"real/fake, {challenge.METRIC_NAMES['paired_accuracy']}"}


def comparison_folds(runs: Sequence[results.RunArtifacts]) -> pd.DataFrame:
    """``evaluate.fold_table`` of every run, its ``model`` column renamed ``backbone`` and ``model`` naming
    the run (``approach/run``), the 12-class columns NaN for models of another target, and, where the run
    saved them, the multi-task per-head frame accuracies (``emotion_frame_accuracy``,
    ``authenticity_frame_accuracy``) that the thesis reported."""
    runs = list(runs)
    table = evaluate.fold_table(runs)
    if table.empty:
        return table
    table = table.rename(columns={"model": "backbone"})
    table.insert(0, "model", [model_name(run.config) for run in runs])
    # the table's frame and video accuracy columns are the 12 classes': a real/fake or emotion model has none
    other_target = table["target"].fillna("label") != "label"
    table.loc[other_target, ["frame_accuracy", "frame_macro_f1", "video_accuracy", "video_macro_f1"]] = np.nan
    for view in ("emotion", "authenticity"):
        table[f"{view}_frame_accuracy"] = [run.metrics.get(view, {}).get("frame", {}).get("accuracy", np.nan)
                                           for run in runs]
    return table


def interval_table(scores: pd.DataFrame, task: str = "paired", n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per model: the ``task`` metric pooled over its test folds with a 95 % interval from resampling subjects
    (``stats.cluster_bootstrap``): ``model, estimate, ci_low, ci_high, items, subjects, interval`` (text)."""
    rows = []
    for model, part in scores.groupby("model", sort=False):
        if task == "label" and (part["pred"] < 0).any():
            continue  # no 12-class predictions
        if stats.item_scores(part, task).empty:  # no pair known, e.g. among the test videos of chalearn2017
            rows.append({"model": model, "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "items": 0,
                         "subjects": 0, "interval": f"n/a (no {stats.UNIT_OF_TASK[task]})"})
            continue
        result = stats.cluster_bootstrap(stats.totals(part, task), n_boot=n_boot, seed=seed)
        rows.append({"model": model, "estimate": result["estimate"], "ci_low": result["ci_low"],
                     "ci_high": result["ci_high"], "items": result["n_items"], "subjects": result["n_subjects"],
                     "interval": stats.format_interval(result)})
    return pd.DataFrame(rows, columns=["model", "estimate", "ci_low", "ci_high", "items", "subjects", "interval"])


def real_fake_intervals(scores: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per model: real/fake accuracy of each video alone and of the pairs, both pooled over the test folds with
    95 % intervals from resampling subjects: ``model, video (95 % CI), paired (95 % CI)`` (text), the point
    estimates ``video_accuracy``, ``paired_accuracy`` and the counts behind them."""
    video = interval_table(scores, "authenticity", n_boot, seed).set_index("model")
    paired = interval_table(scores, "paired", n_boot, seed).set_index("model")
    table = pd.DataFrame({"video (95 % CI over subjects)": video["interval"], "paired (95 % CI over subjects)":
                          paired["interval"], "video_accuracy": video["estimate"], "paired_accuracy": paired["estimate"],
                          "videos": video["items"], "pairs": paired["items"], "subjects": video["subjects"]})
    return table.rename_axis("model").reset_index()


def paired_columns(scores: pd.DataFrame) -> pd.DataFrame:
    """Per model of ``scores``: ``model``, its pooled paired accuracy with the 95 % interval over subjects
    (``paired_interval``) and its ``pairs``: the columns every summary merges in."""
    return interval_table(scores)[["model", "interval", "items"]].rename(
        columns={"interval": "paired_interval", "items": "pairs"})


def summary_table(folds: pd.DataFrame, scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean ± std over folds (in percent) of each model, in the order of ``folds`` (no score orders the rows);
    with ``scores``, its paired accuracy pooled over the folds with a 95 % interval over subjects and the
    number of pairs (``paired_interval``). ``selection.with_chosen_folds`` adds which folds chose each model."""
    metrics = [*TABLE_METRICS, "emotion_frame_accuracy", "authenticity_frame_accuracy"]
    table = evaluate.aggregate_folds(folds, metrics=metrics, by=("approach", "model", "target"))
    if scores is not None:
        table = table.merge(paired_columns(scores), on="model", how="left")
    return table.reset_index(drop=True)


SCORE_METRICS = ("video_accuracy", "authenticity_video_accuracy", "paired_accuracy")


def score_summary(scores: pd.DataFrame, order: Sequence[str] | None = None) -> pd.DataFrame:
    """Per model of ``scores`` (video scores): mean ± std over folds of the 12-class and real/fake video
    accuracy and the paired accuracy, the paired accuracy pooled over folds with its 95 % interval over
    subjects (``paired_interval``) and its pairs; in the ``order`` of model names given (never a test score's)."""
    folds = fold_scores(scores)
    table = evaluate.aggregate_folds(folds, metrics=SCORE_METRICS, by=("approach", "model"))
    table = table.merge(paired_columns(scores), on="model", how="left")
    if order is not None:
        position = {model: rank for rank, model in enumerate(order)}
        table = table.assign(rank=table["model"].map(position).fillna(len(position))).sort_values(["rank", "model"])
        table = table.drop(columns="rank")
    return table.reset_index(drop=True)


def with_paired_intervals(summary: pd.DataFrame, runs: Sequence[results.RunArtifacts]) -> pd.DataFrame:
    """``summary`` (``evaluate.aggregate_folds`` of runs, with ``run_id``) with each run's paired accuracy
    pooled over its folds, its 95 % interval over subjects and its pairs (``paired_interval``, ``pairs``).
    The runs need their predictions (``evaluate.load_runs(..., predictions=True)``): the intervals resample them."""
    missing = [model_name(run.config) for run in runs if run.predictions is None]
    if missing:
        raise ValueError(f"{len(missing)} runs were loaded without their predictions ({missing[0]}, ...): load them "
                         "with evaluate.load_runs(..., predictions=True) for paired intervals")
    intervals = paired_columns(video_scores(runs))
    run_ids = intervals.pop("model").str.split("/", n=1).str[1]  # model names are "<approach>/<run_id>"
    return summary.merge(intervals.assign(run_id=run_ids), on="run_id", how="left")


DISPLAY_EXTRA = {"paired_interval": f"{challenge.METRIC_NAMES['paired_accuracy']}, pooled (95 % CI over subjects)",
                 "chosen_in_folds": "chosen on validation in folds"}


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The text columns of ``summary_table`` or ``score_summary`` with readable headers."""
    extra = [column for column in (*DISPLAY_EXTRA, "pairs") if column in summary]
    shown = [column for column in ("approach", "model", "target", "folds", *TABLE_METRICS) if column in summary]
    table = summary[[*shown, *extra]].copy()
    table["approach"] = table["approach"].map(approach_name)
    return table.rename(columns={**TABLE_METRICS, **DISPLAY_EXTRA})


def chosen_fold_metrics(folds: pd.DataFrame, choices: pd.DataFrame) -> pd.DataFrame:
    """Per approach: mean ± std over folds (percent text, ``aggregate_folds``) of every metric of ``folds``
    (``comparison_folds``), each fold's row being the configuration chosen on that fold's validation
    (``choices`` from ``selection.selected_models``): the measures the video scores do not have (frames)."""
    chosen = {(row.approach, int(row.fold)): f"{row.approach}/{row.configuration}" for row in choices.itertuples()}
    keep = [chosen.get((row.approach, int(row.fold))) == row.model for row in folds.itertuples()]
    metrics = [m for m in (*TABLE_METRICS, "emotion_frame_accuracy", "authenticity_frame_accuracy") if m in folds]
    return evaluate.aggregate_folds(folds[keep], metrics=metrics, by=("approach",))


def run_differences(runs: Sequence[results.RunArtifacts]) -> pd.DataFrame:
    """What distinguishes runs of the same name made under different settings: ``run``, ``run_id`` and one
    column per setting whose values differ between them (empty when every run name has one identity)."""
    by_id = {}
    for run in runs:
        if run.config.get("identity") is not None:
            by_id.setdefault((run.config.get("approach"), run.config.get("run"), run.run_id), run.config["identity"])
    rows = []
    for (approach, name), group in pd.Series(by_id).groupby(level=[0, 1]):
        if len(group) < 2:
            continue
        flat = {run_id: _flatten(identity) for (_, _, run_id), identity in group.items()}
        keys = sorted({key for values in flat.values() for key in values})
        differing = [key for key in keys if len({repr(values.get(key)) for values in flat.values()}) > 1]
        rows += [{"approach": approach, "run": name, "run_id": run_id, **{key: values.get(key) for key in differing}}
                 for run_id, values in flat.items()]
    return pd.DataFrame(rows)


def _flatten(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_same_test_subjects(runs: Iterable[results.RunArtifacts]) -> None:
    """Raise ``ValueError`` when two runs' folds of the same number tested different subjects (their scores
    would not be comparable fold by fold: the notebooks that made them used different folds)."""
    seen: dict[int, set] = {}
    for run in runs:
        seen.setdefault(int(run.config["fold"]), set()).add(tuple(run.metrics["subjects"]["test"]))
    differing = sorted(fold for fold, subjects in seen.items() if len(subjects) > 1)
    if differing:
        raise ValueError(f"the runs tested different subjects in fold(s) {differing}: run the notebooks 01-05 of "
                         "this profile on the same folds (splits.csv) before comparing them")


def fold_table_against(baseline: Sequence[results.RunArtifacts], runs: Sequence[results.RunArtifacts],
                       baseline_name: str, name: str) -> pd.DataFrame:
    """The folds of ``baseline``'s configuration chosen on each fold's validation subjects (``selection``) and of
    every one of ``runs``, on the folds both have, their ``run`` column prefixed with ``baseline_name`` /
    ``name`` (e.g. ``03: ...`` and ``04: ...``), after checking that each fold tested the same subjects."""
    check_same_test_subjects([*baseline, *runs])
    chosen = selection.chosen_runs(baseline)
    base_table, table = evaluate.fold_table(chosen), evaluate.fold_table(runs)
    common = set(base_table["fold"]) & set(table["fold"])
    compared = pd.concat([base_table.assign(run=f"{baseline_name}: {selection.SELECTED}"),
                          table.assign(run=f"{name}: " + table["run"])], ignore_index=True)
    return compared[compared["fold"].isin(common)].reset_index(drop=True)
