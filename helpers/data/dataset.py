"""The one call of every notebook: :func:`prepare_dataset` and the :class:`Dataset` it returns.

It locates the data (synthetic generator, a folder or archive given as DATASET_DIR, or a Google Drive id),
records where it came from in the work folder (:func:`read_dataset_record`) so that later notebooks need
no parameter, then indexes, validates and splits it with the other modules of :mod:`helpers.data`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from helpers import profiles, results, synthetic
from helpers.data.archive import EXTRACTED_MARKER, check_archive_file, safe_extract
from helpers.data.common import DatasetError, file_md5
from helpers.data.drive import download_from_drive, parse_drive_id
from helpers.data.index import cached_index, usable_rows
from helpers.data.layout import find_dataset_root
from helpers.data.report import LayoutReport, validate_layout
from helpers.data.splits import ensure_splits, split_index

SOURCE_HINT = "set DATASET_DIR or SASE_FE_DRIVE_ID in the parameters cell"


@dataclass
class Dataset:
    """An indexed, validated and split SASE-FE (or synthetic) dataset."""

    root: Path
    index: pd.DataFrame
    report: LayoutReport
    splits: pd.DataFrame
    profile: profiles.Profile

    @property
    def n_folds(self) -> int:
        return int(self.splits["fold"].nunique())

    @property
    def readable(self) -> pd.DataFrame:
        """The index without the unreadable videos (still with the identical ones: see ``usable``)."""
        return self.index[self.index["readable"]].reset_index(drop=True)

    @property
    def usable(self) -> pd.DataFrame:
        """The index rows that frame extraction, training and evaluation use: readable videos whose bytes
        are not those of another video (identical files under different labels are label noise)."""
        return self.index[usable_rows(self.index)].reset_index(drop=True)

    def fold(self, fold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(training rows, test rows) of the usable videos for ``fold``."""
        return split_index(self.usable, self.splits, fold)

    def describe(self) -> str:
        """A short text for the top of a notebook."""
        readable = self.readable
        sizes = self.splits.groupby("fold")["subject"].count().tolist()
        identical = self.report.n_identical
        left_out = f", {identical} identical under different labels left out" if identical else ""
        text = (
            f"profile {self.profile.name} ({'synthetic' if self.profile.uses_synthetic_data else 'real'} "
            f"SASE-FE) at {self.root}: {self.report.n_subjects} subjects, {self.report.n_videos} videos "
            f"({self.report.n_unreadable} unreadable, {self.report.n_missing} missing{left_out}); "
            f"{self.n_folds} subject-independent folds of {'/'.join(map(str, sizes))} subjects"
        )
        if len(readable):
            text += (
                f"; median {readable['fps'].median():g} fps, {readable['duration'].median():.1f} s, "
                f"{int(readable['width'].median())}x{int(readable['height'].median())} px"
            )
        return text

    def __str__(self) -> str:
        return self.describe()


def prepare_dataset(
    profile: str,
    paths: profiles.RunPaths | None = None,
    drive_id: str | None = None,
    dataset_dir: Path | str | None = None,
    md5: str | None = None,
    workers: int = 4,
    keep_archive: bool = False,
) -> Dataset:
    """Get, index, validate and split the dataset of ``profile``; prints the layout report.

    * synthetic profiles (``smoke``, ``demo``): generated under ``paths.dataset`` if missing;
    * ``full``: ``dataset_dir`` if given: the folder holding the subject folders (or one above it), e.g.
      on a mounted Drive, or a .zip/.tar(.gz) of it, extracted into ``paths.extraction`` (the archive
      itself is left alone); else the archive ``drive_id`` is downloaded into ``paths.downloads`` and
      extracted into ``paths.extraction`` (once: the download is deleted after a successful extraction
      unless ``keep_archive``). ``md5`` checks the archive before it is extracted.
      Where the dataset came from is recorded in ``paths.dataset_record``; a call without ``drive_id``
      and ``dataset_dir`` (notebooks 03-05) uses that record, and locates the dataset the same way again
      (e.g. re-extracts the archive when a new Colab VM lost the extracted copy). Arguments win over the
      record, and update it.

    The index is cached in ``paths.index`` (re-made when the video files change) and the folds are
    saved once in ``paths.splits`` with ``profile.n_folds`` folds.
    """
    spec = profiles.get_profile(profile)
    paths = paths or profiles.paths_for(profile)
    if paths.profile != spec.name:
        raise ValueError(f"paths are for profile {paths.profile!r}, not {spec.name!r}")
    root = _locate_root(spec, paths, drive_id, dataset_dir, md5, workers, keep_archive)
    index = cached_index(root, paths.index, workers=workers)
    report = validate_layout(root, index)
    print(report.summary())
    if report.n_videos == 0:
        raise DatasetError(f"no videos found under {root}: nothing to work with")
    splits = ensure_splits(index, paths.splits, spec.n_folds)
    return Dataset(root, index, report, splits, spec)


def _locate_root(
    spec: profiles.Profile,
    paths: profiles.RunPaths,
    drive_id: str | None,
    dataset_dir: Path | str | None,
    md5: str | None,
    workers: int,
    keep_archive: bool,
) -> Path:
    if spec.synthetic is not None:
        if drive_id or dataset_dir:
            print(f"profile {spec.name} uses synthetic data: DATASET_DIR / SASE_FE_DRIVE_ID are ignored")
        return find_dataset_root(synthetic.ensure_dataset(paths.dataset, spec.synthetic, workers=workers))
    if drive_id or dataset_dir:
        source = _source(drive_id, dataset_dir, md5)
        root = _locate_real(paths, source, keep_archive)
    else:
        source = _recorded_source(paths, md5)
        try:
            root = _locate_real(paths, source, keep_archive)
        except DatasetError as error:
            raise DatasetError(
                f"the dataset location recorded in {paths.dataset_record} ({_describe_source(source)}) does "
                f"not work now: {error}\nTo use another location, {SOURCE_HINT} (this updates the record)."
            ) from error
    _record_source(paths, source, root)
    return root


def _source(drive_id: str | None, dataset_dir: Path | str | None, md5: str | None) -> dict:
    """What the record keeps: the parsed Drive id, the absolute DATASET_DIR (notebooks run from other
    folders than the one the path was typed in) and the md5."""
    return {
        "drive_id": parse_drive_id(drive_id) if drive_id else None,
        "dataset_dir": str(Path(dataset_dir).expanduser().absolute()) if dataset_dir else None,
        "md5": md5.strip().lower() if md5 else None,
    }


def _describe_source(source: dict) -> str:
    if source.get("dataset_dir"):
        return f"DATASET_DIR {source['dataset_dir']}"
    return f"SASE_FE_DRIVE_ID {source.get('drive_id')}"


def read_dataset_record(paths: profiles.RunPaths) -> dict | None:
    """The content of ``paths.dataset_record`` (drive_id, dataset_dir, md5, root, recorded_at), None when
    no notebook has recorded the dataset's location yet."""
    path = paths.dataset_record
    if not path.is_file():
        return None
    try:
        record = results.read_json(path)
    except (OSError, ValueError) as error:
        raise DatasetError(
            f"cannot read the dataset record {path} ({error}): delete it, and {SOURCE_HINT} of notebook 01 "
            "to record the location again."
        ) from error
    if not isinstance(record, dict) or not (record.get("drive_id") or record.get("dataset_dir")):
        raise DatasetError(
            f"{path} is not a dataset record (it names neither a drive_id nor a dataset_dir): delete it, and "
            f"{SOURCE_HINT} of notebook 01 to record the location again."
        )
    return record


def _recorded_source(paths: profiles.RunPaths, md5: str | None) -> dict:
    record = read_dataset_record(paths)
    if record is None:
        raise DatasetError(
            f"profile {paths.profile} needs the real SASE-FE, and no notebook has recorded where it is yet "
            f"({paths.dataset_record} does not exist): {SOURCE_HINT}. DATASET_DIR: the FakeTrue_DB folder, or "
            "a .zip/.tar.gz of it, e.g. on a mounted Drive (/content/drive/MyDrive/...); SASE_FE_DRIVE_ID: "
            "the id or link of a zip of FakeTrue_DB on Google Drive, shared as 'Anyone with the link'. "
            "Notebook 01 records the location in the work directory for the later notebooks: run it first "
            "with one of the two set (and the same work directory)."
        )
    return {"drive_id": record.get("drive_id"), "dataset_dir": record.get("dataset_dir"),
            "md5": md5.strip().lower() if md5 else record.get("md5")}


def _record_source(paths: profiles.RunPaths, source: dict, root: Path) -> None:
    """Write the record when what it says changes (not on every call: it may live on a mounted Drive)."""
    wanted = {**source, "root": str(root)}
    try:
        previous = read_dataset_record(paths)
    except DatasetError:
        previous = None  # unreadable: replaced by the good one
    if previous is not None and {key: previous.get(key) for key in wanted} == wanted:
        return
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results.write_json(paths.dataset_record, {**wanted, "profile": paths.profile, "recorded_at": stamp})


def _locate_real(paths: profiles.RunPaths, source: dict, keep_archive: bool) -> Path:
    """The root of the real SASE-FE from ``source`` (a folder, an archive file, or a Drive id)."""
    if source["dataset_dir"]:
        location = Path(source["dataset_dir"])
        if location.is_file():
            return find_dataset_root(_extract_archive_file(location, paths.extraction, source["md5"]))
        return find_dataset_root(location)
    file_id = source["drive_id"]
    archive = paths.downloads / f"sase-fe-{file_id}.archive"
    extracted = _extracted_archive_name(paths.extraction)
    if extracted is not None and extracted != archive.name:  # say so before downloading gigabytes
        raise DatasetError(
            f"{paths.extraction} holds the extraction of {extracted}, not of Google Drive file {file_id}: "
            "delete that folder to use the new archive."
        )
    if extracted is None:
        download_from_drive(file_id, archive, md5=source["md5"])
        safe_extract(archive, paths.extraction)
        if not keep_archive:
            archive.unlink()  # the marker in paths.extraction records that this archive is extracted
    return find_dataset_root(paths.extraction)


def _extract_archive_file(archive: Path, destination: Path, md5: str | None) -> Path:
    """Extract an archive the user gave as DATASET_DIR (never deleting it: it is the user's copy)."""
    check_archive_file(
        archive, f"DATASET_DIR {archive}", "Set DATASET_DIR to the FakeTrue_DB folder or to a .zip/.tar.gz of it."
    )
    if md5 and _extracted_archive_name(destination) != archive.name:  # checked once, before extracting
        actual = file_md5(archive)
        if actual != md5:
            raise DatasetError(
                f"DATASET_DIR {archive} has md5 {actual}, expected {md5}: the copy is damaged or another "
                "version of the archive; nothing was extracted. Copy it again, or correct (or remove) the md5."
            )
    return safe_extract(archive, destination)


def _extracted_archive_name(destination: Path) -> str | None:
    try:
        return json.loads((destination / EXTRACTED_MARKER).read_text(encoding="utf-8")).get("archive")
    except (OSError, ValueError, AttributeError):
        return None

