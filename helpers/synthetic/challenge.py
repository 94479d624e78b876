"""A stand-in for the ChaLearn LAP 2017 release, made from a synthetic SASE-FE-like dataset.

:func:`make_challenge_release` lays a generated dataset (``<root>/<subject>/<CODE>.MP4``) out as the challenge
gave its data: ``train/<subject>/<CODE>.MP4`` for the training subjects, and ``valid/`` and ``test/`` folders
of anonymised ``<10-digit id>_<EMOTION>.mp4`` videos (no subject id, no label), each with a ``labels.csv``
(``video,label``: ``true`` genuine, ``fake`` posed). The subjects stay in ``stand_in_truth.csv`` at the top
(a file the real release does not have), so that pairs found by face identity can be checked.
Files are hard links where the file system allows (no copy of the videos), copies otherwise.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import labels, results

TRUTH_FILE = "stand_in_truth.csv"
LABELS_FILE = "labels.csv"
FOLDERS: dict[str, str] = {"train": "train", "validation": "valid", "test": "test"}


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed: copy
        shutil.copyfile(source, target)


def split_subjects(subjects: list[str], held_out: int | None = None, seed: int = 0) -> dict[str, list[str]]:
    """Subjects of each split, the challenge's 40 / 5 / 5 in shape: ``held_out`` subjects each for validation
    and test (default: a tenth of them, at least one), the rest for training; seeded."""
    held_out = max(1, round(len(subjects) / 10)) if held_out is None else held_out
    if len(subjects) < 2 * held_out + 1:
        raise ValueError(f"{len(subjects)} subjects cannot give {held_out} validation and {held_out} test subjects "
                         "and at least one training subject")
    order = [subjects[i] for i in np.random.default_rng(seed).permutation(len(subjects))]
    return {"train": sorted(order[2 * held_out:]), "validation": sorted(order[:held_out]),
            "test": sorted(order[held_out:2 * held_out])}


def make_challenge_release(source: Path | str, out: Path | str, held_out: int | None = None,
                           seed: int = 0) -> pd.DataFrame:
    """Write the challenge-shaped stand-in of the dataset under ``source`` into ``out``; returns its truth
    table (split, video, subject, code, path: one row per video, as in ``stand_in_truth.csv``)."""
    source, out = Path(source), Path(out)
    videos = sorted((folder.name, item) for folder in source.iterdir() if folder.is_dir()
                    and not folder.name.startswith((".", "_")) for item in folder.iterdir()
                    if item.suffix.lower() == ".mp4" and labels.is_code(item.stem))
    if not videos:
        raise FileNotFoundError(f"no <subject>/<CODE>.MP4 videos under {source}: generate a synthetic dataset first "
                                "(python -m helpers.synthetic --out FOLDER)")
    splits = split_subjects(sorted({subject for subject, _ in videos}), held_out, seed)
    split_of = {subject: split for split, members in splits.items() for subject in members}
    rng = np.random.default_rng(seed + 1)
    ids = iter(rng.choice(9 * 10**9, size=len(videos), replace=False) + 10**9)  # distinct 10-digit ids
    if out.exists():
        shutil.rmtree(out)
    rows = []
    for subject, path in videos:
        split, video = split_of[subject], labels.parse_code(path.stem)
        if split == "train":
            target = out / FOLDERS[split] / subject / f"{video.code}.MP4"
        else:
            target = out / FOLDERS[split] / f"{next(ids):010d}_{labels.CHALLENGE_WORD_OF[video.emotion]}.mp4"
        _place(path, target)
        rows.append({"split": split, "video": target.name, "subject": subject, "code": video.code,
                     "genuine": video.genuine, "path": str(target)})
    truth = pd.DataFrame(rows)
    for split in ("validation", "test"):
        part = truth[truth["split"] == split].sort_values("video")
        results.write_csv(out / FOLDERS[split] / LABELS_FILE, pd.DataFrame(
            {"video": part["video"], "label": [labels.CHALLENGE_LABELS[bool(g)] for g in part["genuine"]]}))
    results.write_csv(out / TRUTH_FILE, truth)
    return truth
