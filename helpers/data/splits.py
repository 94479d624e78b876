"""Subject-independent folds: every subject in one fold, made once, saved, and the same in every notebook.

:func:`make_splits` deals shuffled subjects round-robin, :func:`save_splits` / :func:`load_splits` keep them
in ``splits.csv``, :func:`ensure_splits` refuses to re-split silently, and :func:`fold_subjects` /
:func:`split_index` give the training and test side of one fold (never a subject on both).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from helpers import results
from helpers.data.common import DatasetError, preview, sorted_subjects

def make_splits(index: pd.DataFrame, n_folds: int, seed: int = 0) -> pd.DataFrame:
    """Assign every subject to one of ``n_folds`` folds: ``DataFrame(subject, fold)``.

    Subjects are shuffled with ``seed`` and dealt round-robin, so fold sizes differ by at most one
    subject and the same subjects and seed always give the same folds.
    """
    subjects = sorted_subjects(index["subject"])
    if n_folds < 2:
        raise DatasetError(f"n_folds must be at least 2, got {n_folds}")
    if len(subjects) < n_folds:
        raise DatasetError(
            f"cannot make {n_folds} subject-independent folds from {len(subjects)} subject(s) "
            f"({', '.join(subjects)}): every fold needs at least one subject. Use fewer folds or more subjects."
        )
    order = np.random.default_rng(seed).permutation(len(subjects))
    folds = {subjects[position]: rank % n_folds for rank, position in enumerate(order)}
    return pd.DataFrame({"subject": subjects, "fold": [folds[subject] for subject in subjects]}).astype(
        {"subject": str, "fold": "int64"}
    )


def save_splits(splits: pd.DataFrame, path: Path) -> Path:
    """Write the folds as CSV, atomically."""
    return results.write_csv(path, splits[["subject", "fold"]])


def load_splits(path: Path) -> pd.DataFrame:
    """Read folds written by :func:`save_splits` (subjects stay text: ``"01"`` is not ``1``)."""
    path = Path(path)
    damaged = (f"{path} is damaged or not a splits file (columns subject, fold; one row per subject, each with "
               "its fold): delete it to make the folds again (then re-run the notebooks that trained on them)")
    try:
        splits = pd.read_csv(path, dtype={"subject": str}, keep_default_na=False)
        if list(splits.columns[:2]) != ["subject", "fold"] or splits["subject"].duplicated().any():
            raise DatasetError(damaged)
        return splits[["subject", "fold"]].astype({"subject": str, "fold": "int64"})
    except (ValueError, UnicodeDecodeError) as error:  # EmptyDataError, ParserError, a cut "fold" value
        raise DatasetError(f"{damaged} ({type(error).__name__}: {error})") from error


def ensure_splits(index: pd.DataFrame, path: Path, n_folds: int, seed: int = 0) -> pd.DataFrame:
    """The saved folds at ``path``, created on first use; never silently re-split.

    Every notebook must use the same folds, so an existing file whose subjects or number of folds
    differ from ``index`` is an error saying what differs (delete the file to re-split on purpose).
    """
    path = Path(path)
    if not path.exists():
        splits = make_splits(index, n_folds, seed)
        save_splits(splits, path)
        return splits
    splits = load_splits(path)
    wanted, saved = set(sorted_subjects(index["subject"])), set(splits["subject"])
    problems = []
    if wanted - saved:
        problems.append(f"subjects not in the file: {preview(sorted_subjects(wanted - saved))}")
    if saved - wanted:
        problems.append(f"subjects in the file but not in the data: {preview(sorted_subjects(saved - wanted))}")
    saved_folds = splits["fold"].nunique()
    if saved_folds != n_folds:
        problems.append(f"the file has {saved_folds} folds, {n_folds} are asked for")
    if problems:
        raise DatasetError(
            f"the saved folds in {path} do not match this dataset: {'; '.join(problems)}. Every notebook "
            "must use the same folds, so they are not re-made silently: if the dataset changed on purpose, "
            "delete the file to re-split (and re-run the notebooks that trained on the old folds)."
        )
    return splits


def fold_subjects(splits: pd.DataFrame, fold: int) -> tuple[list[str], list[str]]:
    """(training subjects, test subjects) of ``fold``, each in natural order."""
    folds = sorted(int(value) for value in splits["fold"].unique())
    if int(fold) not in folds:
        raise ValueError(f"fold {fold} does not exist; the splits have folds {folds}")
    is_test = splits["fold"].astype(int) == int(fold)
    return sorted_subjects(splits.loc[~is_test, "subject"]), sorted_subjects(splits.loc[is_test, "subject"])


def split_index(index: pd.DataFrame, splits: pd.DataFrame, fold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, test rows) of ``index`` for ``fold``; no subject is ever on both sides."""
    train_subjects, test_subjects = fold_subjects(splits, fold)
    unassigned = set(index["subject"].astype(str)) - set(train_subjects) - set(test_subjects)
    if unassigned:
        raise DatasetError(
            f"subjects without a fold: {preview(sorted_subjects(unassigned))}; re-create the splits"
        )
    subjects = index["subject"].astype(str)
    train = index[subjects.isin(train_subjects)].reset_index(drop=True)
    test = index[subjects.isin(test_subjects)].reset_index(drop=True)
    overlap = set(train["subject"]) & set(test["subject"])
    if overlap:  # not `assert`: this must hold under `python -O` too
        raise AssertionError(f"subjects on both sides of fold {fold}: {sorted(overlap)}")
    return train, test

