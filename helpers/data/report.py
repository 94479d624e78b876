"""The layout report: what is present, missing, unknown, unreadable, renamed and identical under a root.

:func:`validate_layout` compares an index with the 12 codes every subject should have and lists the files
the index does not use; :class:`LayoutReport` holds the tables, counts them and prints a short summary
(the real SASE-FE has 643 of the 648 possible videos: missing ones are normal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from helpers import labels, profiles
from helpers.data.common import preview, sorted_subjects
from helpers.data.index import INDEX_COLUMNS, as_bool, text_column, video_key
from helpers.data.layout import scan

def _empty_rows(*columns: str) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


def _count(table: str, doc: str) -> property:
    """A ``LayoutReport`` property: the number of rows of one of its tables."""
    return property(lambda report: len(getattr(report, table)), doc=doc)


@dataclass
class LayoutReport:
    """What is present, missing, unknown, unreadable, renamed and duplicated under a SASE-FE root."""

    root: Path
    subjects: list[str]
    n_videos: int
    missing: pd.DataFrame  # subject, code: pairs with no video
    unknown: pd.DataFrame  # subject, name, path, reason: entries of subject folders that are not videos
    unreadable: pd.DataFrame  # the index rows with readable == False
    # subject, name, code, path: files named with a variant spelling, indexed under their code
    mapped: pd.DataFrame = field(default_factory=lambda: _empty_rows("subject", "name", "code", "path"))
    # the index rows with the same bytes as another video (identical_to not empty): left out
    identical: pd.DataFrame = field(default_factory=lambda: _empty_rows(*INDEX_COLUMNS))

    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

    @property
    def n_expected(self) -> int:
        return self.n_subjects * len(labels.CODES)

    n_missing = _count("missing", "Videos of the 12 codes that no subject folder has.")
    n_unknown = _count("unknown", "Entries of subject folders that are not videos of a code.")
    n_unreadable = _count("unreadable", "Videos that cannot be decoded (skipped).")
    n_mapped = _count("mapped", "File names in a variant spelling of their code.")
    n_identical = _count("identical", "Videos that have the same bytes as at least one other (all of them are left out).")

    @property
    def identical_groups(self) -> list[list[str]]:
        """``[["12/N2H", "12/N2S", "12/N2D"], ...]``: each set of identical videos once, in index order."""
        keys = [video_key(row.subject, row.code) for row in self.identical.itertuples()]
        position = {key: number for number, key in enumerate(keys)}
        groups: dict[tuple[str, ...], None] = {}
        for key, others in zip(keys, self.identical["identical_to"].astype(str)):
            members = sorted({key, *others.split()}, key=lambda member: position.get(member, len(keys)))
            groups.setdefault(tuple(members), None)
        return [list(group) for group in groups]

    @property
    def counts(self) -> dict[str, int]:
        return {"subjects": self.n_subjects, "videos": self.n_videos, "expected": self.n_expected,
                "missing": self.n_missing, "unknown": self.n_unknown, "unreadable": self.n_unreadable,
                "mapped": self.n_mapped, "identical": self.n_identical}

    @property
    def ok(self) -> bool:
        """Usable as is: at least one video and none unreadable (missing and unknown files are normal)."""
        return self.n_videos > 0 and self.n_unreadable == 0

    def summary(self) -> str:
        """A few lines for a human, e.g. ``643 of 648 videos present (5 missing: ...)``."""
        missing = [f"{row.subject}/{row.code}" for row in self.missing.itertuples()]
        unknown = [f"{row.subject}/{row.name} ({row.reason})" for row in self.unknown.itertuples()]
        unreadable = [
            f"{row.subject}/{Path(row.path).name} ({row.error})" for row in self.unreadable.itertuples()
        ]
        mapped = [f"{row.subject}/{row.name} -> {row.code}" for row in self.mapped.itertuples()]
        identical = [" = ".join(group) for group in self.identical_groups]
        lines = [
            f"SASE-FE layout of {profiles.display_path(self.root)}: {self.n_subjects} subjects",
            f"  {self.n_videos} of {self.n_expected} videos present"
            + (f" ({self.n_missing} missing: {preview(missing)})" if missing else " (none missing)"),
            f"  {self.n_unreadable} unreadable"
            + (f" (skipped; re-copy or remove them): {preview(unreadable, 5)}" if unreadable else ""),
            f"  {self.n_unknown} unknown file{'s' if self.n_unknown != 1 else ''}"
            + (f" (ignored): {preview(unknown)}" if unknown else ""),
            f"  {self.n_mapped} file name{'s' if self.n_mapped != 1 else ''} mapped to "
            f"{'their' if self.n_mapped != 1 else 'its'} code" + (f": {preview(mapped)}" if mapped else ""),
            f"  {self.n_identical} identical video{'s' if self.n_identical != 1 else ''} under different labels"
            + (f", left out of training and evaluation: {preview(identical, 5)}" if identical else ""),
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def validate_layout(root: Path, index: pd.DataFrame) -> LayoutReport:
    """Compare ``index`` with the expected 12 codes per subject and list the files it does not use."""
    root = Path(root)
    subjects = sorted_subjects(index["subject"])
    present = set(zip(index["subject"].astype(str), index["code"].astype(str)))
    missing = pd.DataFrame(
        [(subject, code) for subject in subjects for code in labels.CODES if (subject, code) not in present],
        columns=["subject", "code"],
    )
    used = set(index["path"].astype(str))
    unknown = [row for row in scan(root).unknown if row["path"] not in used]
    unknown_frame = pd.DataFrame(unknown, columns=["subject", "name", "path", "reason"])
    unreadable = index[~as_bool(index["readable"])].reset_index(drop=True)
    renamed = index[text_column(index, "mapped_from") != ""].reset_index(drop=True)
    mapped = pd.DataFrame(
        {"subject": renamed["subject"].astype(str), "name": [Path(path).name for path in renamed["path"]],
         "code": renamed["code"].astype(str), "path": renamed["path"].astype(str)},
        columns=["subject", "name", "code", "path"],
    ).reset_index(drop=True)
    identical = index[text_column(index, "identical_to") != ""].reset_index(drop=True)
    return LayoutReport(root, subjects, len(index), missing, unknown_frame, unreadable, mapped, identical)

