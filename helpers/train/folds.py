"""The videos of one fold: training, validation and test tables, never a subject on two sides.

The test subjects are the fold's (``helpers.data`` made the folds once, by subject); a reproducible share of
the training subjects is held out for validation (early stopping, the LR schedule, the best epoch), so the
test subjects are never seen, not even to choose an epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import data, results
from helpers.data import protocols
from helpers.train.crops import CROP_PATH_COLUMN, attach_crop_paths, packed_shape


def validation_subjects(subjects: Sequence[str], fraction: float, seed: int = 0) -> list[str]:
    """A reproducible share of the training subjects kept aside for validation (at least one, unless
    ``fraction`` is 0 or there are fewer than two subjects)."""
    subjects = sorted(map(str, subjects))
    if fraction <= 0 or len(subjects) < 2:
        return []
    count = min(len(subjects) - 1, max(1, round(fraction * len(subjects))))
    chosen = np.random.default_rng(seed).choice(len(subjects), size=count, replace=False)
    return sorted(subjects[i] for i in chosen)


@dataclass
class FoldData:
    """The three video tables of one fold (with crop paths)."""

    fold: int
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame


def fold_data(index: pd.DataFrame, splits: pd.DataFrame, fold: int, crops_dir: Path | str, val_fraction: float = 0.15,
              seed: int = 0, crop_kind: str = "face") -> FoldData:
    """Split the usable videos of ``fold`` (readable, and not identical to another video: see
    ``data.usable_rows``) into train / validation (training subjects) / test (the fold). Splits of a protocol
    with a fixed test set (a ``part`` column: ``helpers.data.protocols``) give the three parts as they are."""
    usable = index[data.usable_rows(index)] if "readable" in index.columns else index
    if "part" in splits.columns:
        if int(fold) != protocols.PROTOCOL_FOLD:
            raise ValueError(f"fold {fold} does not exist: a protocol with a fixed test set has one fold, "
                             f"{protocols.PROTOCOL_FOLD}")
        parts = protocols.protocol_parts(usable, splits)
        train, val, test = parts["train"], parts["validation"], parts["test"]
    else:
        train, test = data.split_index(usable, splits, fold)
        held_out = validation_subjects(train["subject"].unique(), val_fraction, seed + fold)
        is_val = train["subject"].astype(str).isin(held_out)
        train, val = train[~is_val], train[is_val]
    tables = [attach_crop_paths(t, crops_dir, crop_kind) for t in (train, val, test)]
    return FoldData(int(fold), *tables)


def fingerprint(fold: FoldData) -> str:
    """A short hash of which videos (and how many crops of each) a fold trained, validated and tested on."""
    tables = []
    for part, table in (("train", fold.train), ("val", fold.val), ("test", fold.test)):
        frames = [packed_shape(p)[0] for p in table[CROP_PATH_COLUMN]]
        tables.append(pd.DataFrame({"part": part, "subject": table["subject"].astype(str), "code": table["code"],
                                    "crop_frames": frames}))
    return results.table_fingerprint(pd.concat(tables, ignore_index=True))
