"""The evaluation protocols every approach can run under: which videos train, choose and test.

- ``kfold`` (default): the subject-independent folds of ``splits.csv`` (:mod:`helpers.data.splits`);
- ``chalearn2017``: the ChaLearn LAP 2017 release (:mod:`helpers.data.challenge`): train on the training
  subjects, choose every configuration (and the best epoch) on the validation videos, test once on the test
  videos; one "fold" (0). The validation and test videos have no subject: each is stored and named by its
  split and video id (``test-0123456789``), so no pairs are known among them (they are found by face identity);
- ``fixed``: on a release in subject folders, whose official split is not public: a seeded split of the
  subjects shaped like the challenge's (40 / 5 / 5 of 50; a tenth each for validation and test, at least one,
  on smaller datasets), saved once beside ``splits.csv`` and reused by every notebook. Its numbers are
  *challenge-shaped, not the challenge's subjects*.

:func:`protocol_dataset` gives the :class:`~helpers.data.Dataset` a protocol trains on: its index (the
release's validation and test videos added for ``chalearn2017``) and a splits table with a ``part`` column
(``train`` / ``validation`` / ``test``) for fold 0, which ``helpers.train.folds.fold_data`` follows.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import results
from helpers.data.challenge import index_challenge, release_of
from helpers.data.common import DatasetError, preview, sorted_subjects
from helpers.data.dataset import Dataset

PROTOCOLS: tuple[str, ...] = ("kfold", "chalearn2017", "fixed")
DEFAULT_PROTOCOL = "kfold"
PARTS: tuple[str, ...] = ("train", "validation", "test")
#: The one fold of a protocol with a fixed test set.
PROTOCOL_FOLD = 0
#: What every number of the ``fixed`` protocol is labelled with.
FIXED_LABEL = "challenge-shaped, not the challenge's subjects"
#: The least subjects a ``fixed`` split takes: one each for validation and test, two to train on.
FIXED_MIN_SUBJECTS = 4
FIXED_FILE = "protocol_fixed.csv"


def check_protocol(protocol: str) -> str:
    """``protocol`` if it is one of ``PROTOCOLS``, else a ``ValueError`` naming them."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    return protocol


def independence_note(protocol: str) -> str:
    """What intervals and tests under ``protocol`` assume of their units, where it is not the subjects: the
    ``chalearn2017`` test videos carry no subject id, so each video counts as its own subject ("" otherwise)."""
    check_protocol(protocol)
    if protocol != "chalearn2017":
        return ""
    return ("its test videos carry no subject id, so intervals and tests count each video as independent: too "
            "narrow where videos share a person (the challenge's 60 test videos come from 5 people)")


def protocol_label(protocol: str) -> str:
    """How tables and headlines name a protocol, e.g. ``fixed (challenge-shaped, not the challenge's subjects)``."""
    check_protocol(protocol)
    return {"kfold": "kfold (subject-independent cross-validation)",
            "chalearn2017": "chalearn2017 (the challenge's training, validation and test sets)",
            "fixed": f"fixed 40/5/5-shaped split ({FIXED_LABEL})"}[protocol]


def fixed_split(subjects: list[str], seed: int = 0) -> pd.DataFrame:
    """``subject, part``: a seeded split shaped like the challenge's 40 / 5 / 5: ``round(n / 10)`` subjects
    (at least one) each for validation and test, the rest for training."""
    subjects = sorted_subjects(subjects)
    if len(subjects) < FIXED_MIN_SUBJECTS:
        raise DatasetError(
            f"the fixed protocol needs at least {FIXED_MIN_SUBJECTS} subjects (one for validation, one for "
            f"test, two to train on), this dataset has {len(subjects)} ({preview(subjects)}): use protocol "
            "'kfold' or a dataset with more subjects")
    held_out = max(1, round(len(subjects) / 10))
    order = [subjects[i] for i in np.random.default_rng(seed).permutation(len(subjects))]
    part = {subject: "validation" for subject in order[:held_out]}
    part.update({subject: "test" for subject in order[held_out:2 * held_out]})
    return pd.DataFrame({"subject": subjects, "part": [part.get(subject, "train") for subject in subjects]})


def ensure_fixed_split(index: pd.DataFrame, path: Path | str, seed: int = 0) -> pd.DataFrame:
    """The fixed split saved at ``path``, made on first use and never re-made silently (as ``splits.csv``):
    a saved file whose subjects differ from ``index``'s is an error saying what differs."""
    path = Path(path)
    if not path.exists():
        split = fixed_split(list(index["subject"].astype(str).unique()), seed)
        results.write_csv(path, split)
        return split
    damaged = (f"{path} is damaged or not a fixed protocol split (columns subject, part; part train, validation "
               "or test): delete it to make the split again (then re-run the notebooks that trained on it)")
    try:
        split = pd.read_csv(path, dtype={"subject": str, "part": str}, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as error:
        raise DatasetError(f"{damaged} ({type(error).__name__}: {error})") from error
    if list(split.columns) != ["subject", "part"] or not split["part"].isin(PARTS).all() \
            or split["subject"].duplicated().any():
        raise DatasetError(damaged)
    wanted, saved = set(index["subject"].astype(str)), set(split["subject"])
    if wanted != saved:
        raise DatasetError(
            f"the fixed protocol split in {path} does not match this dataset (subjects not in the file: "
            f"{preview(sorted_subjects(wanted - saved)) or 'none'}; in the file but not in the data: "
            f"{preview(sorted_subjects(saved - wanted)) or 'none'}). Every notebook must use the same split: "
            "if the dataset changed on purpose, delete the file (and re-run the notebooks that trained on it)")
    return split


def storage_subject(split: str, video_id: str) -> str:
    """The subject folder that stores a validation or test video of the challenge: ``test-0123456789``."""
    return f"{split}-{video_id}"


def challenge_protocol_index(dataset: Dataset) -> pd.DataFrame:
    """The index the ``chalearn2017`` protocol trains on: the training subjects' videos, then the labelled
    validation and test videos under their storage subjects (:func:`storage_subject`), with ``split`` and
    ``video`` columns. Refuses a subject-folder release and validation or test videos without labels."""
    layout = release_of(dataset.root)
    if layout is None:
        raise DatasetError(
            f"protocol 'chalearn2017' needs the ChaLearn 2017 release (valid/ and test/ folders of "
            f"<id>_<EMOTION>.mp4 videos beside the training subject folders), but {dataset.root} is a release "
            "in subject folders: use protocol 'fixed' (a challenge-shaped split of its subjects) or 'kfold'")
    missing = [split for split in ("validation", "test") if layout.folder(split) is None]
    if missing:
        raise DatasetError(f"protocol 'chalearn2017' needs the {' and '.join(missing)} videos of the release at "
                           f"{layout.root}: put them in a 'valid'/'test' folder there, or use protocol 'fixed'")
    index = index_challenge(layout, progress=False, train_index=dataset.index)
    held = index["split"] != "train"
    unlabelled = index[held & ~index["labelled"].astype(bool)]
    if len(unlabelled):
        raise DatasetError(
            f"protocol 'chalearn2017' chooses on the validation videos and scores the test videos, so it needs "
            f"their labels; {len(unlabelled)} have none ({preview(unlabelled['video'].tolist())}): put a "
            "labels.csv (video,label with true/fake) or the challenge's labels file in the valid/ and test/ folders")
    index.loc[held, "subject"] = [storage_subject(split, video_id)
                                  for split, video_id in zip(index.loc[held, "split"], index.loc[held, "video_id"])]
    index["genuine"] = index["genuine"].astype(bool)
    return index.reset_index(drop=True)


def protocol_splits(index: pd.DataFrame, parts: pd.Series, protocol: str) -> pd.DataFrame:
    """``subject, fold, part, protocol``: every subject of ``index`` in fold ``PROTOCOL_FOLD`` with its part."""
    subjects = sorted_subjects(index["subject"])
    return pd.DataFrame({"subject": subjects, "fold": PROTOCOL_FOLD, "part": [parts[subject] for subject in subjects],
                         "protocol": protocol}).astype({"subject": str, "fold": "int64"})


def protocol_of(dataset: Dataset) -> str:
    """The protocol whose split ``dataset`` carries (``kfold`` for the folds of ``splits.csv``)."""
    splits = dataset.splits
    return str(splits["protocol"].iloc[0]) if "protocol" in splits.columns and len(splits) else DEFAULT_PROTOCOL


def protocol_dataset(dataset: Dataset, protocol: str, fixed_path: Path | str, seed: int = 0) -> Dataset:
    """The dataset as ``protocol`` uses it (``kfold``: ``dataset`` itself); ``fixed_path``: where the fixed
    split is saved (beside ``splits.csv``)."""
    check_protocol(protocol)
    prepared = protocol_of(dataset)
    if prepared == protocol:
        return dataset
    if prepared != DEFAULT_PROTOCOL:
        raise ValueError(f"this dataset was prepared for protocol {prepared!r}, not {protocol!r}: give every "
                         "configuration of a notebook the same protocol")
    if protocol == "chalearn2017":
        index = challenge_protocol_index(dataset)
        parts = index.groupby(index["subject"].astype(str))["split"].first()
    else:
        if release_of(dataset.root) is not None:
            raise DatasetError(f"{dataset.root} is the ChaLearn 2017 release, which has its own split: use "
                               "protocol 'chalearn2017' (the 'fixed' split is for a release in subject folders)")
        index = dataset.index
        parts = ensure_fixed_split(dataset.usable, fixed_path, seed).set_index("subject")["part"]
        index = index[index["subject"].astype(str).isin(parts.index)].reset_index(drop=True)
    return dataclasses.replace(dataset, index=index, splits=protocol_splits(index, parts, protocol))


def fixed_split_path(splits_path: Path | str) -> Path:
    """Where the fixed protocol's split is saved: beside ``splits.csv``."""
    return Path(splits_path).with_name(FIXED_FILE)


def protocol_parts(index: pd.DataFrame, splits: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The rows of ``index`` in each part (``train``, ``validation``, ``test``) of a protocol's splits."""
    part_of = splits.set_index(splits["subject"].astype(str))["part"]
    part = index["subject"].astype(str).map(part_of)
    if part.isna().any():
        raise DatasetError(f"subjects without a part in the protocol's split: "
                           f"{preview(sorted_subjects(index.loc[part.isna(), 'subject']))}; delete the saved split")
    return {name: index[part == name].reset_index(drop=True) for name in PARTS}
