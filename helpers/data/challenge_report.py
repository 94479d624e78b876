"""What a ChaLearn 2017 release holds, what is wrong with it, and what each later notebook can do with it.

:func:`validate_challenge` counts the videos per emotion and split, lists what is missing (the challenge had
10 validation and 10 test videos per emotion; the training subjects are checked as the full release is),
unlabelled, unknown, unreadable and duplicated; :meth:`ChallengeReport.abilities` says, per notebook, what
this release allows (e.g. a challenge accuracy only where the test labels are there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers import labels
from helpers.data.challenge import (
    CHALLENGE_NAME,
    SPLITS,
    VIDEOS_PER_EMOTION,
    ChallengeLayout,
    index_challenge,
    labels_file_in,
    release_of,
)
from helpers.data.common import preview
from helpers.data.report import LayoutReport, validate_layout


@dataclass
class ChallengeReport:
    """The state of a challenge release: counts, and the tables of what needs attention."""

    layout: ChallengeLayout
    counts: pd.DataFrame  # one row per emotion, one column per split: usable videos
    missing: pd.DataFrame  # split, emotion, expected, present (validation and test)
    unlabelled: pd.DataFrame  # the index rows of validation and test videos without a label
    unknown: pd.DataFrame  # split, name, path, reason: files of the validation and test folders that are not videos
    unreadable: pd.DataFrame  # the index rows with readable == False
    duplicated: pd.DataFrame  # the index rows with the same bytes, or the same id, as another video
    train: LayoutReport | None  # the training subject folders, checked as the full release is

    def n(self, split: str) -> int:
        return int(self.counts[split].sum()) if split in self.counts else 0

    @property
    def labelled(self) -> dict[str, bool]:
        """Does every usable video of the split have a label (no video: False)?"""
        unlabelled = set(self.unlabelled["split"])
        return {split: self.n(split) > 0 and split not in unlabelled for split in ("validation", "test")}

    def summary(self) -> str:
        lines = [f"ChaLearn LAP 2017 release of SASE-FE at {self.layout.root}",
                 "  " + ", ".join(f"{split}: {self.n(split)} videos" for split in SPLITS)]
        if self.train is not None:
            lines.append(f"  training: {self.train.n_subjects} subjects, {self.train.n_missing} of "
                         f"{self.train.n_expected} videos missing")
        for row in self.missing.itertuples():
            lines.append(f"  {row.split}: {row.present} of {row.expected} {row.emotion} videos")
        for split in ("validation", "test"):
            rows = self.unlabelled[self.unlabelled["split"] == split]
            if len(rows):
                lines.append(f"  {split}: {len(rows)} videos without a label (no labels file in its folder)")
        if len(self.unknown):
            lines.append(f"  {len(self.unknown)} unknown files (ignored): "
                         + preview([f"{row.split}/{row.name} ({row.reason})" for row in self.unknown.itertuples()]))
        if len(self.unreadable):
            lines.append(f"  {len(self.unreadable)} unreadable (skipped): {preview(list(self.unreadable['video']))}")
        if len(self.duplicated):
            lines.append(f"  {len(self.duplicated)} duplicated (left out): "
                         + preview([f"{row.split}/{row.video} = {row.identical_to}" for row in self.duplicated.itertuples()]))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def abilities(self) -> pd.DataFrame:
        """One row per later notebook: what it can do with this release."""
        has = {split: self.n(split) > 0 for split in SPLITS}
        known = self.labelled
        train = ("train on the training subjects" if has["train"] else
                 "nothing to train on: the training subject folders are missing")
        choose = ("choose every configuration on the labelled validation videos" if known["validation"] else
                  "choose configurations on folds of the training subjects (the validation videos have no labels)")
        if known["test"]:
            score = ("challenge accuracy on the test videos (each judged alone, exact 95 % interval) and paired "
                     "accuracy with pairs found by face identity; no pairs known (the test videos have no subject)")
        else:
            score = "no accuracy (the test videos have no labels): writes the challenge's prediction file to submit"
        rows = [
            ("02", f"face crops and landmarks of all {sum(self.n(split) for split in SPLITS)} usable videos"),
            ("03-05", f"{train}; {choose}" if has["train"] else train),
            ("06", f"{score}; pairs found needs 02's face crops of the test videos" if has["test"] else
             "no test videos: nothing to score or submit"),
        ]
        return pd.DataFrame(rows, columns=["notebook", "what it can do with this release"])


def _unknown_files(layout: ChallengeLayout) -> pd.DataFrame:
    rows = []
    for split in ("validation", "test"):
        folder = layout.folder(split)
        if folder is None:
            continue
        label_file = labels_file_in(folder)
        for item in sorted(folder.iterdir()):
            if item.name.startswith((".", "_")) or item == label_file or CHALLENGE_NAME.match(item.name):
                continue
            reason = "folder" if item.is_dir() else "not a <10-digit id>_<EMOTION>.mp4 video"
            rows.append({"split": split, "name": item.name, "path": str(item), "reason": reason})
    return pd.DataFrame(rows, columns=["split", "name", "path", "reason"])


def validate_challenge(layout: ChallengeLayout, index: pd.DataFrame) -> ChallengeReport:
    """Check an index made by :func:`helpers.data.challenge.index_challenge` against the challenge's shape."""
    usable = index[index["usable"].astype(bool)]
    counts = (pd.crosstab(usable["emotion"], usable["split"]).reindex(index=list(labels.EMOTIONS), columns=list(SPLITS))
              .fillna(0).astype(int))
    counts.index.name, counts.columns.name = "emotion", None
    missing = [{"split": split, "emotion": emotion, "expected": VIDEOS_PER_EMOTION, "present": int(counts.at[emotion, split])}
               for split in ("validation", "test") if layout.folder(split) is not None
               for emotion in labels.EMOTIONS if counts.at[emotion, split] < VIDEOS_PER_EMOTION]
    others = index[index["split"] != "train"]
    unlabelled = others[~others["labelled"].astype(bool)].reset_index(drop=True)
    repeated_id = index["video_id"].ne("") & index["video_id"].duplicated(keep=False)
    duplicated = index[(index["identical_to"] != "") | repeated_id].reset_index(drop=True)
    train = None
    if layout.train is not None:
        train = validate_layout(Path(layout.train), index[index["split"] == "train"].drop(
            columns=["split", "video", "video_id", "labelled"]).assign(genuine=lambda rows: rows["genuine"].astype(bool)))
    return ChallengeReport(layout, counts, pd.DataFrame(missing, columns=["split", "emotion", "expected", "present"]),
                           unlabelled, _unknown_files(layout), index[~index["readable"].astype(bool)].reset_index(drop=True),
                           duplicated, train)


FULL_RELEASE = "the full SASE-FE release"
CHALLENGE_RELEASE = "the ChaLearn LAP 2017 release (training subjects, anonymised validation and test videos)"
FULL_RELEASE_ABILITIES = pd.DataFrame([
    ("02", "face crops and landmarks of every usable video"),
    ("03-05", "train and test on the subject-independent folds (every subject is tested once)"),
    ("06", "challenge accuracy (per video) and paired accuracy with pairs known, 95 % intervals over subjects"),
], columns=["notebook", "what it can do with this release"])


@dataclass
class ReleaseOverview:
    """Which release a dataset folder is, and what the later notebooks can do with it (notebook 01)."""

    kind: str  # FULL_RELEASE or CHALLENGE_RELEASE
    report: ChallengeReport | None  # None for the full release
    abilities: pd.DataFrame

    def summary(self) -> str:
        if self.report is None:
            return f"Layout: {self.kind}: subject folders only, no validation or test videos of the challenge."
        return f"Layout: {self.kind}.\n{self.report.summary()}"


def release_overview(training_root: Path, train_index: pd.DataFrame, workers: int = 4,
                     progress: bool = True) -> ReleaseOverview:
    """The release that ``training_root`` (``Dataset.root``) belongs to, checked: a full release, or the
    challenge's, whose validation and test videos are indexed here (the training ones reuse ``train_index``)."""
    layout = release_of(training_root)
    if layout is None:
        return ReleaseOverview(FULL_RELEASE, None, FULL_RELEASE_ABILITIES)
    index = index_challenge(layout, workers=workers, progress=progress, train_index=train_index)
    report = validate_challenge(layout, index)
    return ReleaseOverview(CHALLENGE_RELEASE, report, report.abilities())
