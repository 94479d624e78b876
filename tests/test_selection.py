"""Choosing configurations on the validation subjects: a run that is better on the test subjects but worse on
validation is never the one reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import labels, results
from helpers.analysis import compare, selection
from helpers.metrics import scoring


def test_scores(run_id: str, fold: int, subjects, right: bool) -> pd.DataFrame:
    """Video scores of one fold: every pair ordered right (``right``) or wrong."""
    rows = []
    for subject in subjects:
        for code in labels.CODES:
            video = labels.parse_code(code)
            rows.append({"model": f"single_task/{run_id}", "approach": "single_task", "run": run_id, "fold": fold,
                         "subject": subject, "code": code, "label": video.label, "emotion_label": video.emotion_index,
                         "authenticity_label": video.authenticity_index, "pred": video.label,
                         "p_genuine": 0.8 if video.genuine == right else 0.2})
    return pd.DataFrame(rows)


test_scores.__test__ = False  # a builder, not a test


def run(run_id: str, fold: int, validation_paired: float | None, approach: str = "single_task") -> results.RunArtifacts:
    validation = None if validation_paired is None else {
        "paired_accuracy": validation_paired, "authenticity_video_accuracy": 0.5, "video_accuracy": 0.1, "pairs": 6}
    metrics = {"fold": fold, **({"validation": validation} if validation else {})}
    config = {"approach": approach, "run": run_id.split("-")[0], "run_id": run_id, "fold": fold}
    return results.RunArtifacts(Path("unused") / run_id / f"fold_{fold}", metrics, config, {}, pd.DataFrame(), None)


FOLDS = {0: ("s1", "s2"), 1: ("s3", "s4")}


def two_configurations():
    """``honest`` is better on validation in both folds; ``lucky`` is perfect on the test subjects."""
    runs = [run("honest-111111", fold, 0.75) for fold in FOLDS] + [run("lucky-222222", fold, 0.55) for fold in FOLDS]
    scores = pd.concat([test_scores("honest-111111", fold, subjects, right=False) for fold, subjects in FOLDS.items()]
                       + [test_scores("lucky-222222", fold, subjects, right=True) for fold, subjects in FOLDS.items()],
                       ignore_index=True)
    return runs, scores


def test_the_configuration_better_on_test_is_not_selected():
    runs, scores = two_configurations()
    assert selection.selected_per_fold(runs) == {0: "honest-111111", 1: "honest-111111"}
    assert selection.best_on_validation(runs) == "honest-111111"
    chosen = selection.selected_scores(scores, runs, "single_task")
    assert set(chosen["run"]) == {"honest-111111"} and set(chosen["model"]) == {"single_task/selected on validation"}
    assert sorted(chosen["fold"].unique()) == [0, 1] and len(chosen) == 2 * 2 * 12  # every fold, once
    assert scoring.paired_protocol(chosen)["accuracy"] == 0.0  # what honest scored on test, not lucky's 1.0


def test_each_fold_chooses_on_its_own_validation_subjects():
    runs = [run("a-111111", 0, 0.9), run("a-111111", 1, 0.4), run("b-222222", 0, 0.6), run("b-222222", 1, 0.7)]
    assert selection.selected_per_fold(runs) == {0: "a-111111", 1: "b-222222"}
    scores = pd.concat([test_scores(run_id, fold, FOLDS[fold], right=(run_id, fold) == ("b-222222", 1))
                        for run_id in ("a-111111", "b-222222") for fold in FOLDS], ignore_index=True)
    chosen = selection.selected_scores(scores, runs, "single_task")
    assert chosen.groupby("fold")["run"].first().to_dict() == {0: "a-111111", 1: "b-222222"}
    assert len(chosen) == 2 * 2 * 12


def test_ties_on_validation_go_to_the_next_metric_then_the_name():
    tied = [run("b-222222", 0, 0.6), run("a-111111", 0, 0.6)]
    assert selection.selected_per_fold(tied) == {0: "a-111111"}
    tied[0].metrics["validation"]["authenticity_video_accuracy"] = 0.9
    assert selection.selected_per_fold(tied) == {0: "b-222222"}


def test_runs_without_validation_scores_cannot_be_chosen_among():
    with pytest.raises(ValueError, match="no run has validation scores"):
        selection.selected_per_fold([run("old-333333", 0, None)])
    assert selection.selected_per_fold([run("old-333333", 0, None), run("new-444444", 0, 0.5)]) == {0: "new-444444"}


def test_selected_models_are_ranked_by_validation():
    runs = [run("x-111111", fold, 0.6) for fold in FOLDS] + [run("y-222222", fold, 0.8, "temporal") for fold in FOLDS]
    runs += [run("old-333333", 0, None, "multitask")]  # no validation scores: left out, not guessed
    scores = pd.concat([test_scores("x-111111", fold, subjects, right=True) for fold, subjects in FOLDS.items()]
                       + [test_scores("y-222222", fold, subjects, right=False).assign(
                           model="temporal/y-222222", approach="temporal") for fold, subjects in FOLDS.items()],
                       ignore_index=True)
    selected, choices = selection.selected_models(scores, runs)
    assert set(choices["approach"]) == {"single_task", "temporal"} and len(choices) == 4
    ranked = selection.ranking(choices)
    assert ranked == ["temporal/selected on validation", "single_task/selected on validation"]
    summary = compare.score_summary(selected, ranked)
    assert list(summary["model"]) == ranked  # shown in the validation order, the better test score second
    assert np.isclose(summary.loc[1, "paired_accuracy_mean"], 100.0)
