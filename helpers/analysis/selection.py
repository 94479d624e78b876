"""Choosing among configurations and approaches on the validation subjects of each fold, never on the test
subjects, and never on validation scores pooled across folds.

Every fold of every run records its scores on the fold's *validation* subjects (training subjects held out,
``metrics["validation"]``). A fold's validation subjects are test subjects of *other* folds, so a choice
made on validation scores averaged over folds has seen the test subjects of the folds it is then scored on:
configurations equal in expectation come out better than they are. So every choice is made per fold:

- ``selected_per_fold`` / ``chosen_runs``: for each test fold, the configuration of an approach with the best
  validation score of *that* fold (``SELECTION_METRICS``, in order); its test predictions on that fold are
  what the approach reports (``selected_scores``: a "selected" model made of one configuration per fold);
- ``selected_models``: the selected model of every approach, and the choices behind it;
- ``leaders``: for each fold, the approaches' selected models ranked by that fold's validation scores; the
  model "ranked first on validation" is, in each fold, the approach that led that fold's validation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers import results
from helpers.analysis import presentation

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
    # a fold whose validation subjects form no complete pair still chooses, by the next metrics
    table = validation_table(runs).dropna(subset=list(SELECTION_METRICS), how="all")
    if table.empty:
        raise ValueError("no run has validation scores to choose by: retrain them with this version "
                         "(validation predictions are kept since the runs record a run_id)")
    return {int(fold): str(_ranked(part)["run_id"].iloc[0]) for fold, part in table.groupby("fold")}


def chosen_folds(runs: Sequence[results.RunArtifacts]) -> dict[str, list[int]]:
    """``{"<approach>/<run_id>": [folds]}``: the folds in which each run was chosen among its approach's runs
    on the fold's validation subjects (an empty list: never; runs of an approach without validation scores too)."""
    folds: dict[str, list[int]] = {}
    for approach in dict.fromkeys(run.config.get("approach") for run in runs):
        of_approach = [run for run in runs if run.config.get("approach") == approach]
        try:
            chosen = selected_per_fold(of_approach)
        except ValueError:
            chosen = {}
        for run_id in dict.fromkeys(run.run_id for run in of_approach):
            folds[f"{approach}/{run_id}"] = sorted(fold for fold, chosen_id in chosen.items() if chosen_id == run_id)
    return folds


def with_chosen_folds(summary: pd.DataFrame, runs: Sequence[results.RunArtifacts]) -> pd.DataFrame:
    """``summary`` (one row per run, with a ``run_id`` column, or a ``model`` = ``<approach>/<run_id>``) with
    ``chosen_in_folds``: the folds whose validation subjects chose the run (``"0, 2"``; ``"-"``: none)."""
    chosen = chosen_folds(runs)
    if "run_id" in summary:  # a per-approach table, whose "model" may name the backbone
        names = summary["run_id"].map({run.run_id: f"{run.config.get('approach')}/{run.run_id}" for run in runs})
    else:
        names = summary["model"]
    # "-": a run no fold chose; "": a row that is no single run (a selected model, an ensemble)
    text = names.map(lambda name: "" if name not in chosen else ", ".join(map(str, chosen[name])) or "-")
    return summary.assign(chosen_in_folds=text)


def describe_choice(runs: Sequence[results.RunArtifacts]) -> str:
    """In words, which configuration each fold chose, by its short name among ``runs``
    (``presentation.short_names``): ``"resnet18, focal (every fold)"`` or ``"fold 0: focal, fold 1: ..."``."""
    chosen = selected_per_fold(runs)
    approach_of = {run.run_id: run.config.get("approach") for run in runs}
    names = presentation.short_names(f"{approach_of[run_id]}/{run_id}" for run_id in approach_of)
    named = {fold: names[f"{approach_of[run_id]}/{run_id}"] for fold, run_id in chosen.items()}
    if len(set(named.values())) == 1:
        return f"{next(iter(named.values()))} (every fold)"
    return ", ".join(f"fold {fold}: {name}" for fold, name in sorted(named.items()))


def selected_scores(scores: pd.DataFrame, runs: Sequence[results.RunArtifacts], approach: str) -> pd.DataFrame:
    """The video scores (``compare.video_scores``) of ``approach``'s selected configuration: for each fold, the
    test rows of the run chosen on that fold's validation subjects, as one model ``<approach>/selected on
    validation`` (its ``run`` column says which configuration each fold used)."""
    chosen = selected_per_fold([run for run in runs if run.config.get("approach") == approach])
    parts = [scores[(scores["model"] == f"{approach}/{run_id}") & (scores["fold"] == fold)]
             for fold, run_id in chosen.items()]
    table = pd.concat(parts, ignore_index=True) if parts else scores.iloc[:0].copy()
    return table.assign(model=f"{approach}/{SELECTED}")


def chosen_runs(runs: Sequence[results.RunArtifacts], approach: str | None = None) -> list[results.RunArtifacts]:
    """The fold runs an approach's selected configuration is made of (one per fold, each chosen on its fold's
    validation subjects); ``approach`` picks the approach among ``runs`` (all of them when None)."""
    of_approach = [run for run in runs if approach is None or run.config.get("approach") == approach]
    chosen = selected_per_fold(of_approach)
    return [run for run in of_approach if chosen.get(int(run.config.get("fold", -1))) == run.run_id]


def first_chosen_run(runs: Sequence[results.RunArtifacts], approach: str) -> results.RunArtifacts | None:
    """The run ``approach`` chose on its first fold's validation subjects (None: no run of it, or none with
    validation scores)."""
    of_approach = [run for run in runs if run.config.get("approach") == approach]
    try:
        return min(chosen_runs(of_approach), key=lambda run: int(run.config.get("fold", -1)), default=None)
    except ValueError:
        return None


def selected_models(scores: pd.DataFrame, runs: Sequence[results.RunArtifacts]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every approach's selected configuration (``selected_scores``), and ``choices``: one row per approach and
    fold with the configuration chosen and its validation scores; approaches without validation scores are
    left out. The models come in the order of the approaches in ``runs``: no score orders them."""
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


LEADER = "ranked {rank} on validation"
LEADER_APPROACH = "per fold"
ORDINALS = {1: "first", 2: "second", 3: "third"}


def leader_name(rank: int) -> str:
    """The model name of the rank-th approach on each fold's validation: ``"per fold/ranked first on validation"``."""
    return f"{LEADER_APPROACH}/" + LEADER.format(rank=ORDINALS.get(rank, f"#{rank}"))


def ranked_per_fold(choices: pd.DataFrame) -> pd.DataFrame:
    """``fold, rank, model``: in each fold, the selected models ranked by that fold's validation scores alone
    (``choices`` from ``selected_models``; ties go to the next metric, then the name)."""
    rows = []
    for fold, part in choices.groupby("fold", sort=True):
        ordered = _ranked(part.assign(run_id=part["model"]))
        rows += [{"fold": int(fold), "rank": rank, "model": model}
                 for rank, model in enumerate(ordered["model"], start=1)]
    return pd.DataFrame(rows, columns=["fold", "rank", "model"])


def leaders(selected: pd.DataFrame, choices: pd.DataFrame, ranks: int = 2) -> pd.DataFrame:
    """Video scores of the models "ranked first (second ...) on validation": for each fold, the test rows of the
    selected model that ranked so on *that* fold's validation subjects (``leader_name``; its ``run`` column says
    which approach and configuration each fold used). Ranks that not every fold has are left out."""
    order = ranked_per_fold(choices)
    parts = []
    for rank in range(1, ranks + 1):
        at_rank = order[order["rank"] == rank]
        if at_rank.empty or len(at_rank) < order["fold"].nunique():
            continue
        for row in at_rank.itertuples():
            part = selected[(selected["model"] == row.model) & (selected["fold"] == row.fold)]
            parts.append(part.assign(run=row.model.split("/")[0] + ": " + part["run"].astype(str),
                                     model=leader_name(rank), approach=LEADER_APPROACH))
    return pd.concat(parts, ignore_index=True) if parts else selected.iloc[:0].copy()


def leader_choices(choices: pd.DataFrame, rank: int = 1) -> dict[int, str]:
    """``{fold: model}``: which approach's selected model was ranked ``rank`` on each fold's validation."""
    order = ranked_per_fold(choices)
    return {int(row.fold): str(row.model) for row in order[order["rank"] == rank].itertuples()}
