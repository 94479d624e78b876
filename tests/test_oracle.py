"""The oracle beside the approaches (06): scored on their folds, never fitted on a test subject, absent where
there is no generator's truth to read."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from helpers.analysis import compare, narrative, oracle
from helpers.metrics import scoring
from helpers.profiles import PROFILES
from helpers.synthetic import generate

DEMO = PROFILES["demo"].synthetic


def write_record(folder, spec=DEMO, cues=None, version=None):
    parameters = generate.dataset_parameters(spec, cues)
    if version is not None:
        parameters["version"] = version
    folder.mkdir(parents=True, exist_ok=True)
    (folder / generate.PARAMETERS_FILE).write_text(json.dumps(parameters))
    return folder


def subject_folds(n_subjects: int, n_folds: int = 4) -> pd.DataFrame:
    return pd.DataFrame({"subject": [f"S{index + 1:02d}" for index in range(n_subjects)],
                         "fold": [index % n_folds for index in range(n_subjects)]})


def test_the_oracle_scores_every_video_once_on_the_folds_and_never_fits_a_test_subject(tmp_path, monkeypatch):
    splits = subject_folds(DEMO.subjects)
    fitted_on = []
    original = oracle.fitted_oracle

    def spy(x, genuine, subjects):
        fitted_on.append(set(subjects))
        return original(x, genuine, subjects)

    monkeypatch.setattr(oracle, "fitted_oracle", spy)
    scores = oracle.oracle_scores(write_record(tmp_path / "data"), splits, [0, 1, 2, 3])
    assert len(scores) == 12 * DEMO.subjects and not scores.duplicated(["subject", "code"]).any()
    assert set(scores["model"]) == {oracle.ORACLE} and set(scores["approach"]) == {"oracle"}
    fold_of = dict(zip(splits["subject"], splits["fold"]))
    assert (scores["fold"] == scores["subject"].map(fold_of)).all()  # each video by its own subject's fold
    for fold, training in enumerate(fitted_on):
        assert training.isdisjoint(splits.loc[splits["fold"] == fold, "subject"])
    paired = scoring.paired_protocol(scores)
    assert paired["pairs"] == 6 * DEMO.subjects
    assert 0.75 <= paired["accuracy"] <= 0.95, paired  # experiments/oracle.py: 84.4 % with GroupKFold's folds
    summary = compare.score_summary(scores)
    assert narrative.oracle_note(summary, summary).startswith("The oracle, a logistic regression")


@pytest.mark.parametrize("record", ["none", "older version"])
def test_without_the_generators_truth_there_is_no_oracle(tmp_path, record):
    if record == "older version":
        write_record(tmp_path, version=generate.GENERATOR_VERSION - 1)
    assert oracle.oracle_scores(tmp_path, subject_folds(DEMO.subjects), [0]) is None
    assert narrative.oracle_note(pd.DataFrame(), pd.DataFrame({"paired_accuracy_mean": [np.nan]})) == ""
