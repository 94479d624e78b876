"""How one video and one pair are scored: the item-level truth every metric of 06 is a mean of.

- ``correct``: is a video's real/fake decision (``p_genuine > 0.5``) or its 12-class prediction right?
- ``pair_table`` / ``paired_protocol``: *paired accuracy, pairs known*: for each subject and emotion with
  both videos, the one with the higher genuineness is called genuine (1 right, 0.5 tie, 0 wrong). The
  ChaLearn 2017 challenge itself scored each video alone (*challenge accuracy*: ``helpers.metrics.challenge``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers import labels


def correct(scores: pd.DataFrame, task: str = "authenticity") -> np.ndarray:
    """Is each video right? ``authenticity``: p(genuine) > 0.5 agrees with the truth; ``label``: 12-class."""
    if task == "authenticity":
        return (scores["p_genuine"].to_numpy() > 0.5) == scores["authenticity_label"].to_numpy().astype(bool)
    if task == "label":
        return scores["pred"].to_numpy() == scores["label"].to_numpy()
    raise ValueError(f"task must be 'authenticity' or 'label', got {task!r}")


def pair_table(videos: pd.DataFrame, score: str = "p_genuine") -> pd.DataFrame:
    """One row per (subject, emotion) with both videos: the two genuineness scores and the pair's score
    (1 genuine scored higher, 0.5 tie, 0 posed scored higher). ``videos`` needs ``subject``, ``code``
    and ``score`` (emotion and authenticity come from the code)."""
    table = videos[["subject", "code", score]].copy()
    parsed = [labels.parse_code(c) for c in table["code"]]
    table["emotion"] = [v.emotion for v in parsed]
    table["genuine"] = [v.genuine for v in parsed]
    genuine = table[table["genuine"]].set_index(["subject", "emotion"])[score].rename("genuine_score")
    posed = table[~table["genuine"]].set_index(["subject", "emotion"])[score].rename("posed_score")
    if genuine.index.duplicated().any() or posed.index.duplicated().any():
        raise ValueError("a subject has the same video twice: score one model and fold at a time")
    pairs = pd.concat([genuine, posed], axis=1, join="inner").reset_index()
    difference = pairs["genuine_score"] - pairs["posed_score"]
    pairs["score"] = np.where(difference > 0, 1.0, np.where(difference == 0, 0.5, 0.0))
    return pairs


def paired_protocol(videos: pd.DataFrame, score: str = "p_genuine") -> dict:
    """``accuracy`` over the complete pairs (ties count half), ``pairs``, ``ties`` and ``skipped``: the
    videos whose partner (same subject and emotion, other authenticity) is missing."""
    pairs = pair_table(videos, score)
    return {"accuracy": float(pairs["score"].mean()) if len(pairs) else float("nan"), "pairs": int(len(pairs)),
            "ties": int((pairs["score"] == 0.5).sum()), "skipped": int(len(videos) - 2 * len(pairs))}
