"""Ensembles of the approaches (notebook 06): several different models, one decision (the redundancy
principle). Every member's rows are *out-of-fold* video scores: the run of fold k scored the subjects of fold
k only, which it never saw in training.

- ``aligned``: the videos every member scored, one column block per member;
- ``ensemble``: averaging, majority voting and a stacked logistic regression over the members' genuineness;
  the stacker of test fold k is fit only on the rows of the *other* folds (``stacked_scores``), never on
  fold k's subjects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from helpers.analysis.compare import ENSEMBLE, KEYS, PROBS


def aligned(scores: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """The videos every one of ``models`` scored (same fold, subject and code), one column block each:
    ``<model>:p_genuine``, ``<model>:pred``, ``<model>:prob_k``, plus the true labels."""
    truth = ["label", "emotion_label", "authenticity_label"]
    merged = None
    for model in models:
        part = scores[scores["model"] == model].set_index(KEYS)
        if part.empty:
            raise ValueError(f"no video scores for model {model!r}")
        block = part[["p_genuine", "pred", *PROBS]].add_prefix(f"{model}:")
        merged = part[truth].join(block) if merged is None else merged.join(block, how="inner")
    return merged.reset_index()


ENSEMBLE_METHODS = ("average", "vote", "stacked")


def stacking_features(table: pd.DataFrame, members: Sequence[str]) -> np.ndarray:
    """The stacker's inputs: each member's genuineness as a logit (clipped away from 0 and 1)."""
    p = np.clip(table[[f"{m}:p_genuine" for m in members]].to_numpy(dtype=float), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def stacked_scores(table: pd.DataFrame, members: Sequence[str], C: float = 1.0) -> tuple[np.ndarray, dict]:
    """Out-of-fold stacking: for each test fold k a logistic regression is fit on the rows of the other
    folds only (themselves out-of-fold predictions of the members' other runs) and scores fold k. Returns
    the scores and, per fold, the subjects the stacker of that fold was trained on (to check for leaks).
    A fold whose other folds do not hold both classes (one test set, as under a ``chalearn2017`` or ``fixed``
    protocol, has no other folds) has nothing to learn from: its scores stay NaN."""
    features = stacking_features(table, members)
    target = table["authenticity_label"].to_numpy(dtype=int)
    folds = table["fold"].to_numpy()
    out = np.full(len(table), np.nan)
    trained_on: dict[int, set] = {}
    for fold in np.unique(folds):
        test, train_rows = folds == fold, folds != fold
        trained_on[int(fold)] = set(table.loc[train_rows, "subject"])
        if not others_hold_both_classes(folds, target, fold):  # nothing to learn from
            continue
        stacker = LogisticRegression(C=C).fit(features[train_rows], target[train_rows])
        out[test] = stacker.predict_proba(features[test])[:, 1]
    return out, trained_on


def stacking_possible(scores: pd.DataFrame) -> bool:
    """Whether every test fold of ``scores`` has other folds with genuine and posed videos to fit a stacker on
    (not so under a protocol with one test set)."""
    folds = scores["fold"].to_numpy()
    genuine = scores["authenticity_label"].to_numpy()
    return all(others_hold_both_classes(folds, genuine, fold) for fold in np.unique(folds))


def others_hold_both_classes(folds: np.ndarray, genuine: np.ndarray, fold: Any) -> bool:
    """Whether the rows outside test fold ``fold`` hold genuine and posed videos (a stacker can be fit)."""
    return len(np.unique(genuine[folds != fold])) == 2


def ensemble(scores: pd.DataFrame, members: Sequence[str], name: str = "ensemble") -> pd.DataFrame:
    """Video scores (the format of ``video_scores``) of three ensembles of ``members`` on the videos they
    all scored: ``<name>:average`` (mean genuineness; mean 12-class probabilities when every member has
    them), ``<name>:vote`` (genuineness = share of members voting genuine; 12-class: the most voted class)
    and ``<name>:stacked`` (out-of-fold logistic regression on the members' genuineness, ``stacked_scores``;
    left out when some fold has no other folds to fit it on: ``stacking_possible``)."""
    members = list(members)
    table = aligned(scores, members)
    p = table[[f"{m}:p_genuine" for m in members]].to_numpy(dtype=float)
    probs = np.stack([table[[f"{m}:{c}" for c in PROBS]].to_numpy(dtype=float) for m in members])
    has_classes = not np.isnan(probs).any()
    base = table[[*KEYS, "label", "emotion_label", "authenticity_label"]]
    frames = []

    def add(method: str, genuineness: np.ndarray, class_probs: np.ndarray | None) -> None:
        frame = base.copy()
        frame.insert(0, "run", f"{name}:{method}")
        frame.insert(0, "approach", ENSEMBLE)
        frame.insert(0, "model", f"{ENSEMBLE}/{name}:{method}")
        frame["p_genuine"] = genuineness
        frame["pred"] = class_probs.argmax(axis=1) if class_probs is not None else -1
        for k, column in enumerate(PROBS):
            frame[column] = class_probs[:, k] if class_probs is not None else np.nan
        frames.append(frame)

    add("average", p.mean(axis=1), probs.mean(axis=0) if has_classes else None)
    votes = None
    if has_classes:
        counts = np.stack([(probs.argmax(axis=2) == k).sum(axis=0) for k in range(probs.shape[2])], axis=1)
        votes = (counts + 1e-6 * probs.mean(axis=0)) / len(members)  # vote shares; ties go to the mean probability
    add("vote", (p > 0.5).mean(axis=1), votes)
    stacked, _ = stacked_scores(table, members)
    if not np.isnan(stacked).any():
        add("stacked", stacked, None)
    return pd.concat(frames, ignore_index=True)
