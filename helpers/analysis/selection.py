"""Choosing among configurations on the validation subjects only, never on the test subjects.

Every fold of every run records its scores on the fold's *validation* subjects (training subjects held out,
``metrics["validation"]``). A configuration, an ensemble member or anything else chosen on the *test*
subjects would report a score it was picked for: with many configurations, the best test score is an
optimistic one. So:

- ``selected_per_fold``: for each test fold, the configuration of an approach with the best validation score
  (``SELECTION_METRICS``, in order: paired accuracy, then real/fake and 12-class video accuracy); its test
  predictions on that fold are what the approach reports (``selected_scores``: a "selected" model made of
  one configuration per fold, each chosen without looking at that fold's test subjects);
- ``best_on_validation``: the configuration with the best validation score averaged over folds (what a
  notebook shows confusion matrices and curves of).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers import results

#: What a configuration is chosen by on the validation subjects, in order (ties go to the next).
SELECTION_METRICS = ("paired_accuracy", "authenticity_video_accuracy", "video_accuracy")
SELECTED = "selected on validation"


def validation_table(runs: Sequence[results.RunArtifacts]) -> pd.DataFrame:
    """One row per run and fold: ``approach, run_id, run, fold`` and the validation scores (NaN where a run
    has none: runs made before validation predictions were kept, or folds without validation subjects)."""
    rows = []
    for run in runs:
        scores = run.metrics.get("validation") or {}
        rows.append({"approach": run.config.get("approach"), "run_id": run.run_id, "run": run.config.get("run"),
                     "fold": int(run.config.get("fold", -1)),
                     **{metric: scores.get(metric, np.nan) for metric in (*SELECTION_METRICS, "pairs")}})
    return pd.DataFrame(rows, columns=["approach", "run_id", "run", "fold", *SELECTION_METRICS, "pairs"])


def _ranked(table: pd.DataFrame) -> pd.DataFrame:
    """Best first by the selection metrics; equal scores keep the runs' name order (a fixed, blind tie-break)."""
    return table.sort_values([*SELECTION_METRICS, "run_id"], ascending=[False] * len(SELECTION_METRICS) + [True],
                             na_position="last", kind="stable")


def selected_per_fold(runs: Sequence[results.RunArtifacts]) -> dict[int, str]:
    """``{fold: run_id}``: for each fold, the run with the best validation score (runs of one approach).
    Raises ``ValueError`` when no run has validation scores."""
    table = validation_table(runs).dropna(subset=[SELECTION_METRICS[0]])
    if table.empty:
        raise ValueError("no run has validation scores to choose by: retrain them with this version "
                         "(validation predictions are kept since the runs record a run_id)")
    return {int(fold): str(_ranked(part)["run_id"].iloc[0]) for fold, part in table.groupby("fold")}


def best_on_validation(runs: Sequence[results.RunArtifacts]) -> str:
    """The run id with the best validation score averaged over its folds."""
    table = validation_table(runs).dropna(subset=[SELECTION_METRICS[0]])
    if table.empty:
        raise ValueError("no run has validation scores to choose by")
    means = table.groupby("run_id")[list(SELECTION_METRICS)].mean().reset_index()
    return str(_ranked(means)["run_id"].iloc[0])


def selected_scores(scores: pd.DataFrame, runs: Sequence[results.RunArtifacts], approach: str) -> pd.DataFrame:
    """The video scores (``compare.video_scores``) of ``approach``'s selected configuration: for each fold, the
    test rows of the run chosen on that fold's validation subjects, as one model ``<approach>/selected on
    validation`` (its ``run`` column says which configuration each fold used)."""
    chosen = selected_per_fold([run for run in runs if run.config.get("approach") == approach])
    parts = [scores[(scores["model"] == f"{approach}/{run_id}") & (scores["fold"] == fold)]
             for fold, run_id in chosen.items()]
    table = pd.concat(parts, ignore_index=True) if parts else scores.iloc[:0].copy()
    return table.assign(model=f"{approach}/{SELECTED}")


def chosen_runs(runs: Sequence[results.RunArtifacts], approach: str) -> list[results.RunArtifacts]:
    """The fold runs ``approach``'s selected configuration is made of (one per fold, chosen on validation)."""
    of_approach = [run for run in runs if run.config.get("approach") == approach]
    chosen = selected_per_fold(of_approach)
    return [run for run in of_approach if chosen.get(int(run.config.get("fold", -1))) == run.run_id]


def selected_models(scores: pd.DataFrame, runs: Sequence[results.RunArtifacts]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every approach's selected configuration (``selected_scores``), and ``choices``: one row per approach and
    fold with the configuration chosen and its validation scores; approaches without validation scores are
    left out. The selected models are ranked by the mean validation score of their choices (``ranking``)."""
    parts, rows = [], []
    table = validation_table(runs)
    for approach in dict.fromkeys(run.config.get("approach") for run in runs):
        try:
            chosen = selected_per_fold([run for run in runs if run.config.get("approach") == approach])
        except ValueError:
            continue
        parts.append(selected_scores(scores, runs, approach))
        for fold, run_id in chosen.items():
            row = table[(table["run_id"] == run_id) & (table["fold"] == fold)].iloc[0]
            rows.append({"approach": approach, "model": f"{approach}/{SELECTED}", "fold": fold, "configuration": run_id,
                         **{metric: row[metric] for metric in (*SELECTION_METRICS, "pairs")}})
    choices = pd.DataFrame(rows, columns=["approach", "model", "fold", "configuration", *SELECTION_METRICS, "pairs"])
    selected = pd.concat(parts, ignore_index=True) if parts else scores.iloc[:0].copy()
    return selected, choices


def ranking(choices: pd.DataFrame) -> list[str]:
    """The selected models, best first by their choices' mean validation scores (never by a test score)."""
    means = choices.groupby("model")[list(SELECTION_METRICS)].mean().reset_index().assign(run_id=lambda t: t["model"])
    return list(_ranked(means)["model"])
