"""What a fold adds to its metrics under a protocol with a fixed test set (``chalearn2017``, ``fixed``).

Its test videos are scored as the ChaLearn 2017 challenge scored them (:func:`helpers.metrics.challenge.
protocol_metrics`): *challenge accuracy* (each video judged alone, with its exact interval), the same with
each video judged within the pair found by face identity, *paired accuracy, pairs found* and, where subjects
are known (``fixed``), *paired accuracy, pairs known*. The pairs are found once per test set and crops
(:func:`found_pairs`, dlib's face-recognition descriptors of the kept face crops) and kept in the work folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import frames, labels, results
from helpers.data import protocols
from helpers.frames import identity
from helpers.metrics import challenge, evaluate
from helpers.train.crops import CROP_PATH_COLUMN

PAIRS_FOLDER = "protocol_pairs"


def video_names(videos: pd.DataFrame) -> list[str]:
    """How the challenge names each video: its file name where the release gives one (``video``), else
    ``<subject>/<CODE>``."""
    if "video" in videos.columns:
        return [str(name) if isinstance(name, str) and name else f"{s}/{c}"
                for name, s, c in zip(videos["video"], videos["subject"].astype(str), videos["code"].astype(str))]
    return [f"{s}/{c}" for s, c in zip(videos["subject"].astype(str), videos["code"].astype(str))]


def test_video_scores(predictions: pd.DataFrame, test_videos: pd.DataFrame, target: str) -> pd.DataFrame:
    """One row per test video: ``video``, ``subject``, ``code``, ``emotion``, ``genuine`` and ``p_genuine`` (the
    video's frame probabilities averaged, then summed over the genuine classes)."""
    videos = evaluate.video_level(predictions)
    _, probs = evaluate.view_probs(videos, target, "authenticity")
    keys = list(zip(test_videos["subject"].astype(str), test_videos["code"].astype(str)))
    names = dict(zip(keys, video_names(test_videos)))
    parsed = [labels.parse_code(code) for code in videos["code"].astype(str)]
    scored = zip(videos["subject"].astype(str), videos["code"].astype(str))
    return pd.DataFrame({"video": [names[key] for key in scored],
                         "subject": videos["subject"].astype(str), "code": videos["code"].astype(str),
                         "emotion": [video.emotion for video in parsed], "genuine": [video.genuine for video in parsed],
                         "p_genuine": probs[:, 1]})


def found_pairs(test_videos: pd.DataFrame, margin: float, cache: Path) -> pd.DataFrame:
    """The pairs found among ``test_videos`` (``video``-named as :func:`video_names`, with ``emotion`` and
    ``crop_path``) by face identity; read from ``cache`` when it was made for the same videos and crops."""
    names = video_names(test_videos)
    emotions = [labels.parse_code(code).emotion for code in test_videos["code"].astype(str)]
    key = results.table_fingerprint(pd.DataFrame({"video": names, "crop_path": test_videos[CROP_PATH_COLUMN]}))
    if cache.exists():
        stored = results.read_json(cache)
        if isinstance(stored, dict) and stored.get("key") == key:
            return pd.DataFrame(stored["pairs"], columns=["emotion", "video_a", "video_b", "distance"])
    descriptors = np.stack([identity.video_descriptor(np.load(path, mmap_mode="r"), margin)
                            for path in test_videos[CROP_PATH_COLUMN]]) if len(names) else np.zeros((0, 128))
    pairs = identity.find_pairs(pd.DataFrame({"video": names, "emotion": emotions}), descriptors)
    results.write_json(cache, {"key": key, "pairs": pairs.to_dict("records")})
    return pairs


def pairs_of(protocol: str, extraction: dict[str, Any] | None, videos: pd.DataFrame, work: Path,
             part: str = "test") -> pd.DataFrame:
    """The pairs found among one side of a protocol's fold (``part``: ``test`` or ``val``), cached in ``work``
    per protocol, side and crops."""
    settings = frames.ExtractionConfig.from_dict(extraction) if extraction else frames.ExtractionConfig()
    crops_root = Path(videos[CROP_PATH_COLUMN].iloc[0]).parent.parent.name if len(videos) else "none"
    name = f"{protocol}_{crops_root}" + ("" if part == "test" else f"_{part}")
    return found_pairs(videos, settings.margin, work / PAIRS_FOLDER / f"{name}.json")


def partner_rows_from_pairs(videos: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
    """The row position in ``videos`` of each video's partner in ``pairs`` (as :func:`found_pairs` gives them),
    -1 where the video was left unpaired or its partner is not among ``videos``."""
    position = {name: row for row, name in enumerate(video_names(videos))}
    partner = np.full(len(videos), -1, dtype=np.int64)
    for a, b in zip(pairs["video_a"], pairs["video_b"]):
        if a in position and b in position:
            partner[position[a]], partner[position[b]] = position[b], position[a]
    return partner


def protocol_fold_metrics(protocol: str, extraction: dict[str, Any] | None, predictions: pd.DataFrame,
                          test_videos: pd.DataFrame, target: str, work: Path) -> dict[str, Any]:
    """``{"protocol": ..., "challenge": {...}}`` for a fold under ``protocol`` (nothing under ``kfold``, or for a
    model without an authenticity view)."""
    if protocol == protocols.DEFAULT_PROTOCOL:
        return {}
    if "authenticity" not in evaluate.VIEWS_OF_TARGET[target]:
        return {"protocol": protocol}
    pairs = pairs_of(protocol, extraction, test_videos, work)
    scores = test_video_scores(predictions, test_videos, target)
    metrics = challenge.protocol_metrics(scores, pairs, subjects_known=protocol == "fixed")
    if protocol == "fixed":  # subjects known: how many of the pairs found are true pairs
        metrics["pair_agreement"] = identity.pair_agreement(pairs, scores[["video", "subject", "emotion", "genuine"]])
    decisions = challenge.paired_decisions(scores, pairs)  # what the prediction file of 06 says of each video
    metrics["pairs"] = [[str(a), str(b)] for a, b in zip(pairs["video_a"], pairs["video_b"])]
    metrics["decisions"] = {str(video): bool(genuine) for video, genuine in decisions.items()}
    return {"protocol": protocol, "challenge": metrics}
