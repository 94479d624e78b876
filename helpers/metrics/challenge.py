"""The ChaLearn LAP 2017 metrics, named for what they are, and the challenge's prediction file.

- *challenge accuracy*: the challenge's own score. Every test video is judged on its own (``'true'`` genuine
  or ``'fake'`` posed) and the accuracy is over videos, with an exact binomial (Clopper-Pearson) interval:
  the winners' 66.7 % is 40 of 60 test videos, 95 % interval 53.3-78.3 %;
- *paired accuracy, pairs known*: for each subject and emotion with both videos, is the genuine one scored
  higher (:func:`helpers.metrics.scoring.paired_protocol`; needs subject ids);
- *paired accuracy, pairs found*: the same over pairs recovered without subject ids (e.g. by face identity),
  where a wrongly formed pair can also be half right (:func:`paired_accuracy_pairs_found`).

The winners judged each video by pairing it with the video they guessed was the same person's: that is a
*challenge accuracy* of :func:`paired_decisions` over pairs found.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from helpers import labels, results

#: How tables, notebooks and the book name each metric (summary columns on the left).
METRIC_NAMES: dict[str, str] = {
    "challenge_accuracy": "challenge accuracy",
    "paired_accuracy": "paired accuracy, pairs known",
    "paired_found_accuracy": "paired accuracy, pairs found",
}
PREDICTION_FILE = "test_prediction"


def exact_interval(correct: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval of a proportion ``correct / total`` (exact: from the binomial, never narrower
    than it should be); ``(nan, nan)`` for no trials."""
    if total <= 0:
        return float("nan"), float("nan")
    if not 0 <= correct <= total:
        raise ValueError(f"correct must be between 0 and total ({total}), got {correct}")
    alpha = 1 - level
    low = stats.beta.ppf(alpha / 2, correct, total - correct + 1) if correct > 0 else 0.0
    high = stats.beta.ppf(1 - alpha / 2, correct + 1, total - correct) if correct < total else 1.0
    return float(low), float(high)


def challenge_accuracy(truth: np.ndarray | pd.Series, genuine: np.ndarray | pd.Series, level: float = 0.95) -> dict:
    """Per-video accuracy of real/fake decisions: ``accuracy``, ``correct``, ``videos``, ``low`` and ``high``
    (the exact interval at ``level``). ``truth`` and ``genuine`` are booleans, one per video."""
    truth, genuine = np.asarray(truth, dtype=bool), np.asarray(genuine, dtype=bool)
    if truth.shape != genuine.shape:
        raise ValueError(f"{truth.size} true labels but {genuine.size} decisions: give one of each per video")
    correct, total = int((truth == genuine).sum()), int(truth.size)
    low, high = exact_interval(correct, total, level)
    return {"accuracy": correct / total if total else float("nan"), "correct": correct, "videos": total,
            "low": low, "high": high}


def format_challenge_accuracy(result: Mapping) -> str:
    """``66.7 % (53.3-78.3), 40 of 60 videos``."""
    return (f"{100 * result['accuracy']:.1f} % ({100 * result['low']:.1f}-{100 * result['high']:.1f}), "
            f"{result['correct']} of {result['videos']} videos")


def known_pairs(videos: pd.DataFrame) -> pd.DataFrame:
    """The true pairs where subjects are known, in the shape of pairs found: ``emotion``, ``video_a`` (the
    genuine video), ``video_b`` (the posed one) for each subject and emotion with both; ``videos`` needs
    ``video``, ``subject``, ``emotion`` and ``genuine``."""
    genuine = videos[videos["genuine"].astype(bool)].set_index(["subject", "emotion"])["video"].rename("video_a")
    posed = videos[~videos["genuine"].astype(bool)].set_index(["subject", "emotion"])["video"].rename("video_b")
    if genuine.index.duplicated().any() or posed.index.duplicated().any():
        raise ValueError("a subject has the same emotion and authenticity twice: give one video of each")
    pairs = pd.concat([genuine, posed], axis=1, join="inner").reset_index()
    return pairs[["emotion", "video_a", "video_b"]]


def _check_pairs(scores: pd.DataFrame, pairs: pd.DataFrame) -> None:
    members = pd.concat([pairs["video_a"], pairs["video_b"]])
    if members.duplicated().any():
        raise ValueError(f"videos in more than one pair: {sorted(set(members[members.duplicated()]))}")
    absent = sorted(set(members) - set(scores["video"]))
    if absent:
        raise ValueError(f"pairs name videos without a score: {absent[:5]}")


def paired_decisions(scores: pd.DataFrame, pairs: pd.DataFrame, score: str = "p_genuine") -> pd.Series:
    """Each video's real/fake decision (True genuine), indexed by ``video``: within a pair the video with the
    higher score is genuine and the other posed; a video in no pair, or in a pair of equal scores, is judged
    alone (``score > 0.5``). ``scores`` has ``video`` and ``score``; ``pairs`` has ``video_a`` and ``video_b``."""
    _check_pairs(scores, pairs)
    value = scores.set_index("video")[score].astype(float)
    decisions = value > 0.5
    for pair in pairs.itertuples():
        a, b = value[pair.video_a], value[pair.video_b]
        if a != b:
            decisions[pair.video_a], decisions[pair.video_b] = a > b, b > a
    return decisions


def paired_accuracy_pairs_found(scores: pd.DataFrame, pairs: pd.DataFrame, score: str = "p_genuine") -> dict:
    """*Paired accuracy, pairs found*: over the pairs formed without subject ids, the share of their videos
    judged right when the higher score of a pair is called genuine (a true pair scores 1, 0.5 on a tie, or 0;
    a pair of two genuine or two posed videos is always half right). ``scores`` needs ``video``, ``score`` and
    ``genuine`` (the truth). ``accuracy``, ``pairs``, ``true_pairs`` (one genuine and one posed video)
    and ``unpaired`` (videos in no pair)."""
    _check_pairs(scores, pairs)
    table = scores.set_index("video")
    value, truth = table[score].astype(float), table["genuine"].astype(bool)
    points = []
    for pair in pairs.itertuples():
        a, b = pair.video_a, pair.video_b
        if value[a] == value[b]:
            points.append(0.5)
        else:
            called_a = bool(value[a] > value[b])
            points.append((int(called_a == truth[a]) + int((not called_a) == truth[b])) / 2)
    true_pairs = int(sum(truth[pair.video_a] != truth[pair.video_b] for pair in pairs.itertuples()))
    return {"accuracy": float(np.mean(points)) if points else float("nan"), "pairs": len(points),
            "true_pairs": true_pairs, "unpaired": int(len(table) - 2 * len(points))}


def write_prediction_file(decisions: Mapping[str, bool], folder: Path | str, name: str = PREDICTION_FILE) -> dict[str, Path]:
    """Write ``{video file name: 'true' | 'fake'}`` as the challenge took it: a pickle ``<name>.pkl`` of that dict
    (protocol 2, which the challenge's Python 2 scorer reads), with the same in ``<name>.json`` and
    ``<name>.csv`` (``video,label``) beside it. Returns the three paths."""
    folder = Path(folder)
    bad = [video for video in decisions if not isinstance(video, str) or not video.lower().endswith(".mp4")]
    if bad:
        raise ValueError(f"the challenge names videos by their file name (<id>_<EMOTION>.mp4), got {bad[:3]}")
    content = {video: labels.CHALLENGE_LABELS[bool(genuine)] for video, genuine in sorted(decisions.items())}
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"pickle": folder / f"{name}.pkl", "json": folder / f"{name}.json", "csv": folder / f"{name}.csv"}
    results.atomic_write_bytes(paths["pickle"], pickle.dumps(content, protocol=2))
    results.write_json(paths["json"], content)
    results.write_csv(paths["csv"], pd.DataFrame({"video": list(content), "label": list(content.values())}))
    return paths


def protocol_metrics(scores: pd.DataFrame, found: pd.DataFrame, subjects_known: bool, score: str = "p_genuine") -> dict:
    """The metrics of a test set under a protocol with a fixed test set, each named for what it is.

    ``scores``: one row per test video with ``video``, ``emotion``, ``genuine`` (the truth), ``score`` and, where
    ``subjects_known``, ``subject``; ``found``: the pairs found without subject ids (``video_a``, ``video_b``).
    ``challenge_accuracy``: each video judged alone (``score > 0.5``); ``challenge_accuracy_pairs_found``: each
    video judged within its pair found, as the winners did (:func:`paired_decisions`); ``paired_found``:
    :func:`paired_accuracy_pairs_found`; where subjects are known, ``paired_known`` (the same over the true
    pairs: *paired accuracy, pairs known*) and ``pairs_known`` (how many true pairs there are)."""
    truth = scores["genuine"].astype(bool).to_numpy()
    decided = paired_decisions(scores, found, score).reindex(scores["video"]).to_numpy()
    metrics = {"challenge_accuracy": challenge_accuracy(truth, scores[score].to_numpy(dtype=float) > 0.5),
               "challenge_accuracy_pairs_found": challenge_accuracy(truth, decided),
               "paired_found": paired_accuracy_pairs_found(scores, found, score)}
    if subjects_known:
        known = known_pairs(scores)
        metrics["paired_known"] = paired_accuracy_pairs_found(scores, known, score)
        metrics["pairs_known"] = int(len(known))
    return metrics
