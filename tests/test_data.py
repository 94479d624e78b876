"""Tests of helpers.data on a tiny fake SASE-FE tree, hand-made archives and a fake Google Drive.

Nothing here touches the network: Google Drive is replaced by a fake ``requests.Session.get`` that
speaks just enough of the protocol (attachments, HTML pages, byte ranges) for the real gdown code
(``tools/rehearsal/fake_drive.py``, which the rehearsal uses too).
"""

from __future__ import annotations

import dataclasses
import errno
import importlib
import io
import json
import os
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import data, labels, profiles, results, video
from helpers.data import archive as data_archive  # patched where the code looks names up
from helpers.data import index as data_index

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools" / "rehearsal"))
import fake_drive  # noqa: E402  (the fake Google Drive shared with the rehearsal)

# --------------------------------------------------------------------------------------------------
# A tiny SASE-FE tree: three subjects, some codes missing, one lower-case file, two broken videos,
# three unknown files and several entries that must be ignored.
# --------------------------------------------------------------------------------------------------

TREE = {
    "1": list(labels.CODES),
    "2": [code for code in labels.CODES if code != "N2S"],
    "10": [code for code in labels.CODES if code not in ("H2N2C", "D2N2Sur")],
}
LOWER_CASE = ("2", "N2Sur")  # stored as n2sur.mp4
CORRUPT = ("10", "N2D")  # random bytes
TRUNCATED = ("2", "H2N2A")  # the first half of a real video
UNKNOWN = {("10", "notes.txt"), ("10", "N2X.MP4"), ("1", "n2a.mp4")}  # n2a.mp4 duplicates N2A.MP4
IGNORED = ("ground_truth.csv", "synthetic.json", ".DS_Store")


def _noise_video(path: Path, seed: int = 0, frames: int = 8, size: int = 32) -> Path:
    rng = np.random.default_rng(seed)
    frames_rgb = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(frames)]
    return video.write_video(path, frames_rgb, 25)


def _file_name(subject: str, code: str) -> str:
    return f"{code.lower()}.mp4" if (subject, code) == LOWER_CASE else f"{code}.MP4"


def _build_tree(base: Path) -> Path:
    root = base / profiles.DATASET_DIRNAME
    template = _noise_video(base / "template.mp4")
    for number, (subject, code) in enumerate(_expected_pairs(), start=1):
        # every video different: identical bytes under two labels would be left out as label noise
        _noise_video(root / subject / _file_name(subject, code), seed=number)
    good = template.read_bytes()
    (root / CORRUPT[0] / f"{CORRUPT[1]}.MP4").write_bytes(np.random.default_rng(1).bytes(4096))
    (root / TRUNCATED[0] / f"{TRUNCATED[1]}.MP4").write_bytes(good[: len(good) // 2])
    (root / "10" / "notes.txt").write_text("recorded on a Tuesday")
    shutil.copy(template, root / "10" / "N2X.MP4")
    shutil.copy(template, root / "1" / "n2a.mp4")
    for name in IGNORED:
        (root / name).write_text("not a subject")
    (root / "1" / ".DS_Store").write_bytes(b"\0")
    (root / "1" / "._N2H.MP4").write_bytes(b"\0")  # macOS resource fork
    macosx = root / "__MACOSX" / "3"
    macosx.mkdir(parents=True)
    shutil.copy(template, macosx / "N2H.MP4")
    template.unlink()
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """Read-only tiny tree shared by the tests of this module (copy it before changing it)."""
    return _build_tree(tmp_path_factory.mktemp("sase"))


@pytest.fixture(scope="module")
def index(tree) -> pd.DataFrame:
    return data.index_videos(tree, workers=2, progress=False)


@pytest.fixture
def own_tree(tmp_path) -> Path:
    return _build_tree(tmp_path)


def _expected_pairs() -> list[tuple[str, str]]:
    return [(subject, code) for subject, codes in TREE.items() for code in labels.CODES if code in codes]


# --------------------------------------------------------------------------------------------------
# index_videos
# --------------------------------------------------------------------------------------------------


def test_index_has_one_row_per_video_in_subject_then_code_order(index):
    assert list(index.columns) == list(data.INDEX_COLUMNS)
    assert list(zip(index["subject"], index["code"])) == _expected_pairs()  # "2" sorts before "10"


def test_index_labels_agree_with_the_labels_module(index):
    for row in index.itertuples():
        code = labels.parse_code(row.code)
        assert row.code == code.code
        assert (row.emotion, row.genuine, row.label, row.emotion_label) == (
            code.emotion, code.genuine, code.label, code.emotion_index)
        assert row.authenticity == ("genuine" if row.genuine else "posed")
        assert Path(row.path).is_absolute() and Path(row.path).parent.name == row.subject
        assert row.size == Path(row.path).stat().st_size


def test_lower_case_file_gets_the_canonical_code(index):
    row = index[(index["subject"] == LOWER_CASE[0]) & (index["code"] == LOWER_CASE[1])]
    assert len(row) == 1 and Path(row["path"].iloc[0]).name == f"{LOWER_CASE[1].lower()}.mp4"


def test_readable_videos_have_their_metadata(index):
    readable = index[index["readable"]]
    assert len(readable) == len(index) - 2
    assert (readable["error"] == "").all()
    assert np.allclose(readable["fps"], 25)
    assert (readable["frames"] == 8).all() and (readable["width"] == 32).all() and (readable["height"] == 32).all()
    assert np.allclose(readable["duration"], readable["frames"].astype(float) / readable["fps"])


def test_corrupt_and_truncated_videos_are_reported_not_raised(index):
    broken = index[~index["readable"]]
    assert set(zip(broken["subject"], broken["code"])) == {CORRUPT, TRUNCATED}
    assert (broken["error"].str.len() > 0).all()
    assert broken["frames"].isna().all()


def test_index_without_probing_opens_no_video(tree, monkeypatch):
    def refuse(path):
        raise AssertionError(f"probed {path}")

    monkeypatch.setattr(video, "probe", refuse)
    unprobed = data.index_videos(tree, probe=False, progress=False)
    assert len(unprobed) == len(_expected_pairs())
    assert unprobed["readable"].all() and unprobed["fps"].isna().all()


def test_index_survives_a_csv_round_trip(index, tmp_path):
    path = data.save_index(index, tmp_path / "index.csv")
    again = data.load_index(path)
    pd.testing.assert_frame_equal(again, index)


def test_cached_index_is_reused_until_the_files_change(own_tree, tmp_path, monkeypatch):
    cache = tmp_path / "work" / "index.csv"
    first = data.cached_index(own_tree, cache, workers=1, progress=False)
    probed = []
    real_probe = video.probe
    monkeypatch.setattr(video, "probe", lambda path: probed.append(path) or real_probe(path))
    pd.testing.assert_frame_equal(data.cached_index(own_tree, cache, progress=False), first)
    assert probed == []  # the cache was used
    (own_tree / "2" / "N2S.MP4").write_bytes((own_tree / "1" / "N2S.MP4").read_bytes())
    changed = data.cached_index(own_tree, cache, progress=False)
    assert len(changed) == len(first) + 1 and probed
    assert len(data.load_index(cache)) == len(changed)


# --------------------------------------------------------------------------------------------------
# validate_layout
# --------------------------------------------------------------------------------------------------


def test_report_lists_missing_unknown_and_unreadable(tree, index):
    report = data.validate_layout(tree, index)
    assert report.subjects == list(TREE)
    assert report.n_expected == len(TREE) * len(labels.CODES)
    assert report.n_videos == len(_expected_pairs())
    expected_missing = {(s, c) for s in TREE for c in labels.CODES if c not in TREE[s]}
    assert set(zip(report.missing["subject"], report.missing["code"])) == expected_missing
    assert set(zip(report.unknown["subject"], report.unknown["name"])) == UNKNOWN
    duplicate = report.unknown[report.unknown["name"] == "n2a.mp4"]["reason"].iloc[0]
    assert "duplicate" in duplicate and "N2A.MP4" in duplicate
    assert set(zip(report.unreadable["subject"], report.unreadable["code"])) == {CORRUPT, TRUNCATED}
    assert not report.ok
    assert report.counts["missing"] == len(expected_missing)


def test_summary_names_the_problems(tree, index):
    summary = data.validate_layout(tree, index).summary()
    assert f"{len(_expected_pairs())} of {len(TREE) * 12} videos present" in summary
    assert "10/H2N2C" in summary and "2/N2S" in summary
    assert "notes.txt" in summary and "N2X.MP4" in summary
    assert f"{CORRUPT[1]}.MP4" in summary and f"{TRUNCATED[1]}.MP4" in summary
    for ignored in (*IGNORED, "__MACOSX", "._N2H.MP4"):
        assert ignored not in summary


def test_report_is_ok_without_unreadable_videos(own_tree):
    for subject, code in (CORRUPT, TRUNCATED):
        (own_tree / subject / f"{code}.MP4").unlink()
    clean = data.index_videos(own_tree, progress=False)
    report = data.validate_layout(own_tree, clean)
    assert report.ok and report.n_unreadable == 0 and report.n_missing == 5
    assert not data.validate_layout(own_tree, clean.iloc[0:0]).ok  # no video at all


def test_folder_without_videos_is_one_unknown_entry(own_tree):
    (own_tree / "docs").mkdir()
    (own_tree / "docs" / "consent.pdf").write_text("pdf")
    report = data.validate_layout(own_tree, data.index_videos(own_tree, probe=False))
    assert "docs" not in report.subjects
    assert ("docs", "docs") in set(zip(report.unknown["subject"], report.unknown["name"]))
    assert "consent.pdf" not in set(report.unknown["name"])


def test_summary_says_none_mapped_and_none_identical(tree, index):
    report = data.validate_layout(tree, index)
    assert report.n_mapped == 0 and report.n_identical == 0 and report.identical_groups == []
    assert report.counts["mapped"] == 0 and report.counts["identical"] == 0
    lines = report.summary().splitlines()
    assert "  0 file names mapped to their code" in lines
    assert "  0 identical videos under different labels" in lines
    assert index["usable"].equals(index["readable"]) and (index["mapped_from"] == "").all()


# --------------------------------------------------------------------------------------------------
# SASE-FE naming quirks: variant spellings, unknown names, identical files
# --------------------------------------------------------------------------------------------------


def _videos(root: Path, names: dict[str, list[str]], seed: int = 100) -> Path:
    """Distinct tiny videos ``root/<subject>/<name>`` for ``{subject: [file names]}``."""
    files = [(subject, name) for subject, subject_names in names.items() for name in subject_names]
    for number, (subject, name) in enumerate(files):
        _noise_video(root / subject / name, seed=seed + number)
    return root


QUIRKS = {"3": ["N2H.MP4", "D2N2S.MP4", "h2na.mp4", "H2N2X.MP4", "holiday.mp4"],
          "4": ["D2N2Sur.MP4", "d2n2s.mp4"]}


def test_variant_spellings_are_indexed_under_their_code_and_reported(tmp_path):
    root = _videos(tmp_path / "db", QUIRKS)
    index = data.index_videos(root, progress=False)
    assert list(zip(index["subject"], index["code"], index["mapped_from"])) == [
        ("3", "N2H", ""), ("3", "H2N2A", "h2na"), ("3", "D2N2Sur", "D2N2S"), ("4", "D2N2Sur", "")]
    assert index["readable"].all() and index["usable"].all()
    assert Path(index["path"].iloc[3]).name == "D2N2Sur.MP4"  # the code wins over the variant
    report = data.validate_layout(root, index)
    assert set(zip(report.mapped["subject"], report.mapped["name"], report.mapped["code"])) == {
        ("3", "h2na.mp4", "H2N2A"), ("3", "D2N2S.MP4", "D2N2Sur")}
    assert report.n_mapped == 2 and report.counts["mapped"] == 2
    assert ("3", "D2N2Sur") not in set(zip(report.missing["subject"], report.missing["code"]))
    duplicate = report.unknown[report.unknown["name"] == "d2n2s.mp4"]["reason"].iloc[0]
    assert "duplicate of D2N2Sur.MP4" in duplicate and "variant" in duplicate
    assert "  2 file names mapped to their code: 3/h2na.mp4 -> H2N2A, 3/D2N2S.MP4 -> D2N2Sur" in (
        report.summary().splitlines())


def test_unknown_video_names_get_the_nearest_codes(tmp_path):
    root = _videos(tmp_path / "db", QUIRKS)
    report = data.validate_layout(root, data.index_videos(root, probe=False, progress=False))
    reasons = dict(zip(report.unknown["name"], report.unknown["reason"]))
    assert reasons["H2N2X.MP4"].startswith("'H2N2X' is not a SASE-FE code (nearest: ")
    assert "H2N2A" in reasons["H2N2X.MP4"] and "H2N2C" in reasons["H2N2X.MP4"]
    assert "N2H," not in reasons["H2N2X.MP4"]
    assert reasons["holiday.mp4"] == "'holiday' is not a SASE-FE code"  # nothing is near: no guess
    assert "H2N2X.MP4 ('H2N2X' is not a SASE-FE code (nearest: " in report.summary()


def test_a_folder_of_variant_names_is_a_subject_folder(tmp_path):
    for subject in ("1", "2"):
        (tmp_path / "db" / subject).mkdir(parents=True)
        (tmp_path / "db" / subject / "D2N2S.MP4").touch()
    assert data.find_dataset_root(tmp_path) == tmp_path / "db"


def test_identical_files_hashes_only_files_whose_sizes_collide(tmp_path, monkeypatch):
    contents = {"a": b"x" * 10, "unique": b"z" * 11, "other": b"y" * 10, "b": b"x" * 10}
    files = []
    for name, content in contents.items():
        files.append(tmp_path / name)
        files[-1].write_bytes(content)
    hashed = []
    real_md5 = data.file_md5
    monkeypatch.setattr(data_index, "file_md5", lambda path: hashed.append(Path(path).name) or real_md5(path))
    assert data.identical_files(files) == [[tmp_path / "a", tmp_path / "b"]]
    assert sorted(hashed) == ["a", "b", "other"]  # the file of a size of its own is never read


def test_identical_videos_of_different_subjects_are_marked_too(tmp_path):
    root = _videos(tmp_path / "db", {"1": ["N2H.MP4", "N2S.MP4"], "2": ["N2S.MP4"]})
    shutil.copy(root / "1" / "N2H.MP4", root / "2" / "N2H.MP4")  # one person's video filed under another's
    index = data.index_videos(root, progress=False)
    assert list(index["identical_to"]) == ["2/N2H", "", "1/N2H", ""]
    assert list(index["usable"]) == [False, True, False, True]


def _tree_with_identical_videos(base: Path) -> Path:
    """Subjects 1-3 and 12, all videos distinct except 12/N2H = 12/N2S = 12/N2D (as in one SASE-FE subject)."""
    codes = ["N2H.MP4", "N2S.MP4", "S2N2H.MP4"]
    names = {"1": codes, "2": codes, "3": codes, "12": ["N2H.MP4", "N2A.MP4"]}
    root = _videos(base / profiles.DATASET_DIRNAME, names)
    for code in ("N2S", "N2D"):
        shutil.copy(root / "12" / "N2H.MP4", root / "12" / f"{code}.MP4")
    return root


def test_identical_videos_are_reported_and_left_out(tmp_path, full_with_three_folds, capsys):
    root = _tree_with_identical_videos(tmp_path)
    paths = profiles.paths_for("full", work_dir=tmp_path / "work", results_dir=tmp_path / "results")
    dataset = data.prepare_dataset("full", paths=paths, dataset_dir=root, workers=2)
    identical = {"12/N2H", "12/N2S", "12/N2D"}
    keys = [data.video_key(s, c) for s, c in zip(dataset.index["subject"], dataset.index["code"])]
    rows = dict(zip(keys, dataset.index["identical_to"]))
    assert rows["12/N2H"] == "12/N2S 12/N2D" and rows["12/N2S"] == "12/N2H 12/N2D" and rows["12/N2A"] == ""
    assert {key for key, usable in zip(keys, dataset.index["usable"]) if not usable} == identical
    assert len(dataset.readable) == len(dataset.index)  # readable is unchanged: they decode fine
    usable = dataset.usable
    assert len(usable) == len(dataset.index) - 3 and usable["usable"].all()
    assert not identical & {data.video_key(s, c) for s, c in zip(usable["subject"], usable["code"])}
    seen = set()
    for fold in range(dataset.n_folds):
        train, test = dataset.fold(fold)
        for side in (train, test):
            assert not identical & {data.video_key(s, c) for s, c in zip(side["subject"], side["code"])}
        seen |= {data.video_key(s, c) for s, c in zip(test["subject"], test["code"])}
    assert seen == set(keys) - identical  # every usable video is tested once

    report = dataset.report
    assert report.identical_groups == [["12/N2H", "12/N2S", "12/N2D"]]
    assert report.n_identical == 3 and report.counts["identical"] == 3
    line = ("  3 identical videos under different labels, left out of training and evaluation: "
            "12/N2H = 12/N2S = 12/N2D")
    assert line in report.summary().splitlines() and line in capsys.readouterr().out
    assert "3 identical under different labels left out" in dataset.describe()
    pd.testing.assert_frame_equal(data.load_index(paths.index), dataset.index)  # the cache keeps them


def test_an_index_cache_without_the_new_columns_is_remade(own_tree, tmp_path, capsys):
    cache = tmp_path / "index.csv"
    index = data.index_videos(own_tree, progress=False)
    index.drop(columns=["mapped_from", "identical_to", "usable"]).to_csv(cache, index=False)
    with pytest.raises(data.DatasetError, match="missing columns mapped_from, identical_to, usable"):
        data.load_index(cache)
    again = data.cached_index(own_tree, cache, progress=False)
    assert "re-indexing" in capsys.readouterr().out
    pd.testing.assert_frame_equal(again, index)
    pd.testing.assert_frame_equal(data.load_index(cache), index)


# --------------------------------------------------------------------------------------------------
# folds
# --------------------------------------------------------------------------------------------------


def _subjects_index(subjects) -> pd.DataFrame:
    return pd.DataFrame({"subject": [s for s in subjects for _ in range(3)], "code": "N2H"})


SUBJECTS = [str(number) for number in range(1, 24)]


def test_every_subject_is_in_exactly_one_fold_and_folds_are_balanced():
    splits = data.make_splits(_subjects_index(SUBJECTS), n_folds=5, seed=3)
    assert sorted(splits["subject"], key=int) == SUBJECTS and not splits["subject"].duplicated().any()
    sizes = splits["fold"].value_counts()
    assert set(sizes.index) == set(range(5)) and sizes.max() - sizes.min() <= 1


def test_splits_are_deterministic_and_depend_on_the_seed():
    first = data.make_splits(_subjects_index(SUBJECTS), 5, seed=0)
    pd.testing.assert_frame_equal(first, data.make_splits(_subjects_index(reversed(SUBJECTS)), 5, seed=0))
    assert not first.equals(data.make_splits(_subjects_index(SUBJECTS), 5, seed=1))


def test_fewer_subjects_than_folds_is_an_error():
    with pytest.raises(data.DatasetError, match="3 subject"):
        data.make_splits(_subjects_index(["1", "2", "3"]), n_folds=5)


def test_fold_sides_never_share_a_subject():
    index = _subjects_index(SUBJECTS)
    splits = data.make_splits(index, 4)
    for fold in range(4):
        train_subjects, test_subjects = data.fold_subjects(splits, fold)
        assert not set(train_subjects) & set(test_subjects)
        assert set(train_subjects) | set(test_subjects) == set(SUBJECTS)
        train, test = data.split_index(index, splits, fold)
        assert set(test["subject"]) == set(test_subjects)
        assert len(train) + len(test) == len(index)
    with pytest.raises(ValueError, match="fold 7"):
        data.fold_subjects(splits, 7)


def test_split_index_refuses_subjects_without_a_fold():
    splits = data.make_splits(_subjects_index(SUBJECTS), 4)
    with pytest.raises(data.DatasetError, match="99"):
        data.split_index(_subjects_index([*SUBJECTS, "99"]), splits, 0)


def test_ensure_splits_creates_then_reuses_the_file(tmp_path):
    path = tmp_path / "splits.csv"
    index = _subjects_index(["S01", "S02", "S10", "S03", "S04"])
    created = data.ensure_splits(index, path, n_folds=2, seed=0)
    assert path.exists()
    pd.testing.assert_frame_equal(data.load_splits(path), created)
    # another seed must not silently re-split: the saved folds win
    pd.testing.assert_frame_equal(data.ensure_splits(index, path, n_folds=2, seed=42), created)
    assert list(created["subject"]) == ["S01", "S02", "S03", "S04", "S10"]


def test_ensure_splits_refuses_a_file_for_other_subjects_or_folds(tmp_path):
    path = tmp_path / "splits.csv"
    data.ensure_splits(_subjects_index(["1", "2", "3", "4"]), path, n_folds=2)
    before = path.read_text()
    with pytest.raises(data.DatasetError, match=r"(?s)not in the file: 5.*delete"):
        data.ensure_splits(_subjects_index(["1", "2", "3", "4", "5"]), path, n_folds=2)
    with pytest.raises(data.DatasetError, match="in the file but not in the data: 4"):
        data.ensure_splits(_subjects_index(["1", "2", "3"]), path, n_folds=2)
    with pytest.raises(data.DatasetError, match="2 folds, 3 are asked"):
        data.ensure_splits(_subjects_index(["1", "2", "3", "4"]), path, n_folds=3)
    assert path.read_text() == before


def test_leading_zero_subjects_stay_text(tmp_path):
    path = data.save_splits(data.make_splits(_subjects_index(["01", "02", "03"]), 3), tmp_path / "s.csv")
    assert sorted(data.load_splits(path)["subject"]) == ["01", "02", "03"]


# --------------------------------------------------------------------------------------------------
# safe_extract
# --------------------------------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(zipfile.ZipInfo(name), content)
    return path


def _tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                archive.addfile(info, io.BytesIO(member[1]))
    return path


def _link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


GOOD = {"FakeTrue_DB/1/N2H.MP4": b"video", "FakeTrue_DB/2/N2S.MP4": b"other video"}


def test_zip_is_extracted_once(tmp_path, monkeypatch):
    archive = _zip(tmp_path / "sase.zip", GOOD)
    destination = tmp_path / "out" / "FakeTrue_DB"
    assert data.safe_extract(archive, destination) == destination
    assert (destination / "FakeTrue_DB" / "1" / "N2H.MP4").read_bytes() == b"video"
    assert (destination / data.EXTRACTED_MARKER).is_file()
    assert [p.name for p in destination.parent.iterdir()] == ["FakeTrue_DB"]  # no temporary folder left

    def refuse(*args):
        raise AssertionError("extracted twice")

    monkeypatch.setattr(data_archive, "_extract_members", refuse)
    assert data.safe_extract(archive, destination) == destination


@pytest.mark.parametrize("mode, name", [("w:gz", "sase.tar.gz"), ("w", "sase.tar")])
def test_tar_is_extracted(tmp_path, mode, name):
    members = [*GOOD.items(), _link("FakeTrue_DB/latest", "1/N2H.MP4")]  # a link that stays inside is fine
    archive = _tar(tmp_path / name, members, mode)
    destination = data.safe_extract(archive, tmp_path / "out")
    assert (destination / "FakeTrue_DB" / "2" / "N2S.MP4").read_bytes() == b"other video"


def test_an_interrupted_extraction_is_redone(tmp_path):
    archive = _zip(tmp_path / "sase.zip", GOOD)
    leftover = tmp_path / ".out.partial"
    (leftover / "FakeTrue_DB" / "1").mkdir(parents=True)
    (leftover / "FakeTrue_DB" / "1" / "half.MP4").write_bytes(b"half")
    destination = data.safe_extract(archive, tmp_path / "out")
    assert not leftover.exists() and not (destination / "FakeTrue_DB" / "1" / "half.MP4").exists()
    assert (destination / "FakeTrue_DB" / "1" / "N2H.MP4").exists()


def _assert_refused(archive: Path, member: str, tmp_path: Path) -> None:
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(data.DatasetError) as caught:
        data.safe_extract(archive, tmp_path / "out")
    assert archive.name in str(caught.value) and repr(member) in str(caught.value)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, not even the good members


@pytest.mark.parametrize(
    "bad", ["../evil.txt", "FakeTrue_DB/../../evil.txt", "/tmp/evil.txt", "C:/evil.txt", "..\\evil.txt"]
)
def test_zip_with_escaping_member_is_refused(tmp_path, bad):
    archive = _zip(tmp_path / "sase.zip", {**GOOD, bad: b"gotcha"})
    _assert_refused(archive, bad, tmp_path)
    assert not (tmp_path.parent / "evil.txt").exists()


@pytest.mark.parametrize(
    "bad",
    [
        _link("FakeTrue_DB/escape", "../../outside"),
        _link("FakeTrue_DB/etc", "/etc"),
        _link("FakeTrue_DB/hard", "../outside", tarfile.LNKTYPE),
        _link("FakeTrue_DB/device", "", tarfile.CHRTYPE),
        _link("../evil.txt", "", tarfile.REGTYPE),
    ],
    ids=["symlink-outside", "symlink-absolute", "hardlink-outside", "device", "dotdot"],
)
def test_tar_with_escaping_member_is_refused(tmp_path, bad):
    members = [*GOOD.items(), bad]
    if bad.issym():
        members.append((f"{bad.name}/evil.txt", b"written through the link"))
    archive = _tar(tmp_path / "sase.tar.gz", members, "w:gz")
    _assert_refused(archive, bad.name, tmp_path)


def test_extraction_refuses_a_folder_holding_other_things(tmp_path):
    archive = _zip(tmp_path / "sase.zip", GOOD)
    destination = tmp_path / "out"
    destination.mkdir()
    (destination / "mine.txt").write_text("keep me")
    with pytest.raises(data.DatasetError, match="not a finished extraction"):
        data.safe_extract(archive, destination)
    assert (destination / "mine.txt").read_text() == "keep me"


def test_extracting_a_non_archive_is_an_error(tmp_path):
    page = tmp_path / "sase.zip"
    page.write_text("<html>Sign in</html>")
    with pytest.raises(data.DatasetError, match="not a zip or tar"):
        data.safe_extract(page, tmp_path / "out")


# --------------------------------------------------------------------------------------------------
# find_dataset_root
# --------------------------------------------------------------------------------------------------


def _touch_subjects(root: Path, subjects=("1", "2")) -> Path:
    for subject in subjects:
        (root / subject).mkdir(parents=True, exist_ok=True)
        (root / subject / "N2H.MP4").touch()
    return root


def test_root_is_found_through_extraction_and_wrapper_folders(tmp_path):
    root = _touch_subjects(tmp_path / "extract" / "wrapper" / profiles.DATASET_DIRNAME)
    _touch_subjects(tmp_path / "extract" / "__MACOSX" / "wrapper" / "copy", ("1", "2", "3"))
    assert data.find_dataset_root(tmp_path / "extract") == root
    assert data.find_dataset_root(root.parent) == root
    assert data.find_dataset_root(root) == root


def test_macosx_folder_is_never_the_root(tmp_path):
    root = _touch_subjects(tmp_path / profiles.DATASET_DIRNAME)
    _touch_subjects(tmp_path / "__MACOSX" / profiles.DATASET_DIRNAME, ("1", "2", "3", "4"))
    assert data.find_dataset_root(tmp_path) == root


def test_root_not_found_lists_what_is_there(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(data.DatasetError, match=r"(?s)no SASE-FE videos.*photos/.*readme\.txt"):
        data.find_dataset_root(tmp_path)
    with pytest.raises(data.DatasetError, match="does not exist"):
        data.find_dataset_root(tmp_path / "not-mounted")


def test_a_subject_folder_is_recognised_as_such(tmp_path):
    root = _touch_subjects(tmp_path / "db")
    with pytest.raises(data.DatasetError, match="one subject's folder"):
        data.find_dataset_root(root / "1")


# --------------------------------------------------------------------------------------------------
# download_from_drive, against a fake Google Drive
# --------------------------------------------------------------------------------------------------

FILE_ID = "1AbCdEfGhIjKlMnOpQrStUvWxYz012345"


@pytest.fixture
def drive(monkeypatch, tmp_path):
    """Install a FakeDrive behind requests; gdown's cookie file goes to tmp_path."""
    fake = fake_drive.install(fake_drive.FakeDrive(), monkeypatch.setattr)
    gdown_download = importlib.import_module("gdown.download")
    monkeypatch.setattr(gdown_download, "DEFAULT_COOKIES_FILE", str(tmp_path / "cookies.txt"), raising=False)
    return fake


@pytest.fixture
def archive_bytes(tmp_path) -> bytes:
    return _zip(tmp_path / "source.zip", GOOD).read_bytes()


def _md5(content: bytes) -> str:
    import hashlib

    return hashlib.md5(content).hexdigest()


@pytest.mark.parametrize(
    "link",
    [FILE_ID, f"https://drive.google.com/file/d/{FILE_ID}/view?usp=sharing",
     f"https://drive.google.com/uc?id={FILE_ID}&export=download", f"drive.google.com/open?id={FILE_ID}"],
)
def test_drive_links_and_ids_are_understood(link):
    assert data.parse_drive_id(link) == FILE_ID


@pytest.mark.parametrize("bad", ["https://drive.google.com/drive/folders/1AbCdEfGhIjKlMnOpQrStUvWxYz", "abc",
                                 "https://example.com/file.zip"])
def test_bad_links_are_explained(bad):
    with pytest.raises(data.DatasetError, match="folder|not a Google Drive"):
        data.parse_drive_id(bad)


def test_download_verifies_and_then_skips(drive, archive_bytes, tmp_path):
    drive.body = archive_bytes
    destination = tmp_path / "downloads" / "sase.zip"
    result = data.download_from_drive(f"https://drive.google.com/file/d/{FILE_ID}/view", destination,
                                      md5=_md5(archive_bytes), quiet=True)
    assert result == destination and destination.read_bytes() == archive_bytes
    assert FILE_ID in drive.requests[0]["url"]
    assert sorted(p.name for p in destination.parent.iterdir()) == ["sase.zip"]  # no .part, no staging
    asked = len(drive.requests)
    data.download_from_drive(FILE_ID, destination, md5=_md5(archive_bytes).upper(), quiet=True)
    data.download_from_drive(FILE_ID, destination, quiet=True)
    assert len(drive.requests) == asked  # nothing downloaded again


def test_an_existing_file_with_the_wrong_checksum_is_downloaded_again(drive, archive_bytes, tmp_path):
    drive.body = archive_bytes
    destination = tmp_path / "sase.zip"
    destination.write_bytes(b"PK\x03\x04 an older archive")
    data.download_from_drive(FILE_ID, destination, md5=_md5(archive_bytes), quiet=True)
    assert destination.read_bytes() == archive_bytes and drive.requests


def test_md5_mismatch_names_file_and_both_sums(drive, archive_bytes, tmp_path):
    drive.body = archive_bytes
    destination = tmp_path / "sase.zip"
    wrong = "0" * 32
    with pytest.raises(data.DatasetError) as caught:
        data.download_from_drive(FILE_ID, destination, md5=wrong, quiet=True)
    message = str(caught.value)
    assert FILE_ID in message and wrong in message and _md5(archive_bytes) in message and "run again" in message
    assert list(tmp_path.glob("sase.zip*")) == []  # no corrupt file left at (or next to) the destination


def test_an_html_page_instead_of_the_archive_is_detected(drive, tmp_path):
    drive.body = b"<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head></html>"
    destination = tmp_path / "sase.zip"
    with pytest.raises(data.DatasetError, match=r"(?s)web page.*Virus scan warning.*Anyone with the link"):
        data.download_from_drive(FILE_ID, destination, quiet=True)
    assert list(tmp_path.glob("sase.zip*")) == []


def test_a_file_that_is_no_archive_is_refused(drive, tmp_path):
    drive.body = b"just some text, not an archive"
    with pytest.raises(data.DatasetError, match="not a zip or tar"):
        data.download_from_drive(FILE_ID, tmp_path / "sase.zip", quiet=True)


QUOTA_PAGE = (
    '<html><body><p class="uc-error-subcaption">Too many users have viewed or downloaded this file recently. '
    "Please try accessing the file again later. If the file you are trying to access is particularly large or "
    "is shared with many people, it may take up to 24 hours to be able to view or download the file.</p>"
    "</body></html>"
)


def test_quota_exceeded_says_to_wait_or_mount_drive(drive, tmp_path):
    drive.page = QUOTA_PAGE
    with pytest.raises(data.DatasetError, match=r"(?s)too many downloads.*24 h.*mount Drive") as caught:
        data.download_from_drive(FILE_ID, tmp_path / "sase.zip", quiet=True)
    assert FILE_ID in str(caught.value)
    assert not (tmp_path / "sase.zip").exists()


@pytest.mark.parametrize("status, page", [(200, "<html><title>Sign in</title><body>Sign in</body></html>"),
                                          (404, "<html><title>Not Found</title><body>404</body></html>")])
def test_private_file_or_bad_id_says_how_to_share(drive, tmp_path, status, page):
    drive.page, drive.status = page, status
    with pytest.raises(data.DatasetError, match="Anyone with the link") as caught:
        data.download_from_drive(FILE_ID, tmp_path / "sase.zip", quiet=True)
    assert FILE_ID in str(caught.value)


def test_an_interrupted_download_keeps_its_part_file_and_resumes(drive, tmp_path):
    """Cut after three of gdown's 512 KB chunks: gdown 5 writes whole chunks only, gdown 6 what it received."""
    archive_bytes = _zip(tmp_path / "big.zip", {**GOOD, "FakeTrue_DB/3/N2D.MP4": os.urandom(4 << 20)}).read_bytes()
    cut = 3 * 512 * 1024 + 1000
    drive.body, drive.cut_at = archive_bytes, cut
    destination = tmp_path / "sase.zip"
    with pytest.raises(data.DatasetError, match=r"did not finish.*resumes") as caught:
        data.download_from_drive(FILE_ID, destination, quiet=True, retries=0)
    parts = list(tmp_path.glob("*.part"))
    received = parts[0].stat().st_size if len(parts) == 1 else None
    assert received is not None and 3 * 512 * 1024 <= received <= cut
    assert str(parts[0]) in str(caught.value) and not destination.exists()

    data.download_from_drive(FILE_ID, destination, md5=_md5(archive_bytes), quiet=True, retries=0)
    assert destination.read_bytes() == archive_bytes
    assert drive.requests[-1].get("Range") == f"bytes={received}-"  # only the rest was asked for
    assert list(tmp_path.glob("*.part")) == []


def test_disk_full_says_how_much_space(monkeypatch, tmp_path):
    import gdown

    def disk_full(**kwargs):
        kwargs.get("progress", lambda *a: None)(10_000, 3_000_000_000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gdown, "download", disk_full)
    with pytest.raises(data.DatasetError, match=r"disk is full.*3\.0 GB.*free") as caught:
        data.download_from_drive(FILE_ID, tmp_path / "sase.zip", quiet=True)
    assert FILE_ID in str(caught.value)


# --------------------------------------------------------------------------------------------------
# prepare_dataset
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def full_with_three_folds(monkeypatch):
    """The tiny tree has 3 subjects, fewer than the full profile's folds."""
    monkeypatch.setitem(profiles.PROFILES, "full", dataclasses.replace(profiles.PROFILES["full"], n_folds=3))


def test_prepare_full_from_a_folder(tree, tmp_path, full_with_three_folds, monkeypatch, capsys):
    paths = profiles.paths_for("full", work_dir=tmp_path / "work", results_dir=tmp_path / "results")
    dataset = data.prepare_dataset("full", paths=paths, dataset_dir=tree.parent, workers=2)
    assert dataset.root == tree and dataset.profile.name == "full"
    assert len(dataset.index) == len(_expected_pairs()) and dataset.report.n_unreadable == 2
    assert "videos present" in capsys.readouterr().out
    assert paths.index.is_file() and paths.splits.is_file()
    assert sorted(dataset.splits["subject"]) == sorted(TREE) and dataset.n_folds == 3
    train, test = dataset.fold(0)
    assert not set(train["subject"]) & set(test["subject"]) and train["readable"].all()
    assert train["usable"].all() and len(train) + len(test) == len(dataset.usable) == len(dataset.readable)
    assert "3 subjects" in dataset.describe()

    monkeypatch.setattr(video, "probe", lambda path: pytest.fail("the cached index was not reused"))
    again = data.prepare_dataset("full", paths=paths, dataset_dir=tree, workers=2)
    pd.testing.assert_frame_equal(again.splits, dataset.splits)


def test_prepare_full_without_a_source_says_what_to_set(tmp_path):
    paths = profiles.paths_for("full", work_dir=tmp_path)
    with pytest.raises(data.DatasetError, match="DATASET_DIR or SASE_FE_DRIVE_ID"):
        data.prepare_dataset("full", paths=paths)


def test_without_a_source_or_record_one_error_names_both_and_notebook_01(tmp_path):
    paths = profiles.paths_for("full", work_dir=tmp_path / "work", results_dir=tmp_path / "results")
    with pytest.raises(data.DatasetError) as caught:
        data.prepare_dataset("full", paths=paths)
    message = str(caught.value)
    assert "DATASET_DIR: the FakeTrue_DB folder, or a .zip/.tar.gz of it" in message
    assert "SASE_FE_DRIVE_ID: the id or link of a zip of FakeTrue_DB on Google Drive" in message
    assert "Notebook 01 records the location" in message and str(paths.dataset_record) in message
    assert caught.value.__cause__ is None and not paths.dataset_record.exists()


def test_prepare_full_records_the_location_for_later_notebooks(tree, tmp_path, full_with_three_folds, monkeypatch):
    paths = profiles.paths_for("full", work_dir=tmp_path / "work", results_dir=tmp_path / "results")
    assert paths.dataset_record == paths.work / "dataset.json"
    first = data.prepare_dataset("full", paths=paths, dataset_dir=tree.parent, workers=2)
    record = data.read_dataset_record(paths)
    assert record["dataset_dir"] == str(tree.parent) and record["root"] == str(tree)
    assert record["drive_id"] is None and record["md5"] is None and record["recorded_at"]
    assert json.loads(paths.dataset_record.read_text()) == record

    monkeypatch.setattr(results, "write_json", lambda *args: pytest.fail("an unchanged record was rewritten"))
    later = data.prepare_dataset("full", paths=paths, workers=2)  # notebooks 03-05: no location given
    assert later.root == tree
    pd.testing.assert_frame_equal(later.index, first.index)


def test_arguments_win_over_the_record_and_update_it(tree, tmp_path, full_with_three_folds):
    copy = shutil.copytree(tree, tmp_path / "copy" / profiles.DATASET_DIRNAME)
    paths = profiles.paths_for("full", work_dir=tmp_path / "work", results_dir=tmp_path / "results")
    data.prepare_dataset("full", paths=paths, dataset_dir=tree, workers=2)
    assert data.read_dataset_record(paths)["root"] == str(tree)
    assert data.prepare_dataset("full", paths=paths, dataset_dir=copy, workers=2).root == copy
    record = data.read_dataset_record(paths)
    assert record["dataset_dir"] == str(copy) and record["root"] == str(copy)
    assert data.prepare_dataset("full", paths=paths, workers=2).root == copy


def test_a_recorded_location_that_is_gone_says_where_it_was_recorded(tree, tmp_path, full_with_three_folds):
    copy = shutil.copytree(tree, tmp_path / "copy" / profiles.DATASET_DIRNAME)
    paths = profiles.paths_for("full", work_dir=tmp_path / "work", results_dir=tmp_path / "results")
    data.prepare_dataset("full", paths=paths, dataset_dir=copy, workers=2)
    shutil.rmtree(copy)  # e.g. Drive not mounted in this session
    with pytest.raises(data.DatasetError) as caught:
        data.prepare_dataset("full", paths=paths, workers=2)
    message = str(caught.value)
    assert f"recorded in {paths.dataset_record} (DATASET_DIR {copy})" in message
    assert "does not exist" in message and "mount Drive" in message and data.SOURCE_HINT in message


def test_a_broken_record_says_to_delete_it(tmp_path):
    paths = profiles.paths_for("full", work_dir=tmp_path / "work", results_dir=tmp_path / "results")
    paths.dataset_record.parent.mkdir(parents=True)
    paths.dataset_record.write_text("{half a record")
    with pytest.raises(data.DatasetError, match=r"cannot read the dataset record .*dataset\.json.*delete it"):
        data.prepare_dataset("full", paths=paths)


def _zip_tree(tree: Path, archive: Path) -> Path:
    archive.parent.mkdir(parents=True, exist_ok=True)
    made = shutil.make_archive(str(archive.with_suffix("")), "zip", root_dir=tree.parent, base_dir=tree.name)
    return Path(made)


def test_an_archive_as_dataset_dir_is_extracted_to_scratch_and_kept(tree, tmp_path, full_with_three_folds,
                                                                    monkeypatch):
    monkeypatch.setenv("GENUINE_POSED_SCRATCH", str(tmp_path / "local"))
    archive = _zip_tree(tree, tmp_path / "drive" / "FakeTrue_DB.zip")
    content = archive.read_bytes()
    paths = profiles.paths_for("full", work_dir=tmp_path / "work", results_dir=tmp_path / "results")
    assert paths.extraction == tmp_path / "local" / "full" / profiles.DATASET_DIRNAME
    dataset = data.prepare_dataset("full", paths=paths, dataset_dir=archive, workers=2)
    assert dataset.root == paths.extraction / profiles.DATASET_DIRNAME
    assert len(dataset.index) == len(_expected_pairs())
    assert archive.read_bytes() == content  # the user's archive is never deleted
    assert not paths.dataset.exists() and paths.index.is_file()  # bulky data on scratch, the index in work
    assert data.read_dataset_record(paths)["dataset_dir"] == str(archive)

    shutil.rmtree(paths.extraction)  # a new Colab VM: the local disk is empty again
    again = data.prepare_dataset("full", paths=paths, workers=2)
    assert again.root == dataset.root and (paths.extraction / data.EXTRACTED_MARKER).is_file()
    assert archive.read_bytes() == content


def test_an_archive_as_dataset_dir_is_checked_before_extracting(tree, tmp_path, full_with_three_folds):
    archive = _zip_tree(tree, tmp_path / "drive" / "FakeTrue_DB.zip")
    paths = profiles.paths_for("full", work_dir=tmp_path / "work", results_dir=tmp_path / "results")
    with pytest.raises(data.DatasetError, match=r"has md5 [0-9a-f]{32}, expected 0{32}.*nothing was extracted"):
        data.prepare_dataset("full", paths=paths, dataset_dir=archive, md5="0" * 32)
    assert archive.exists() and not paths.extraction.exists() and not paths.dataset_record.exists()
    text = tmp_path / "drive" / "notes.txt"
    text.write_text("not the dataset")
    with pytest.raises(data.DatasetError, match=r"not a zip or tar archive.*Set DATASET_DIR to the FakeTrue_DB"):
        data.prepare_dataset("full", paths=paths, dataset_dir=text)
    evil = _zip(tmp_path / "drive" / "evil.zip", {**GOOD, "../evil.txt": b"gotcha"})
    with pytest.raises(data.DatasetError, match=r"refusing to extract .*evil\.zip.*'\.\./evil\.txt'"):
        data.prepare_dataset("full", paths=paths, dataset_dir=evil)
    assert evil.exists() and not paths.extraction.exists() and not (tmp_path / "evil.txt").exists()
    dataset = data.prepare_dataset("full", paths=paths, dataset_dir=archive, md5=data.file_md5(archive), workers=2)
    assert len(dataset.index) == len(_expected_pairs()) and archive.exists()


def test_prepare_full_downloads_and_extracts_once(tree, tmp_path, drive, full_with_three_folds):
    archive = tmp_path / "FakeTrue_DB.zip"
    shutil.make_archive(str(archive.with_suffix("")), "zip", root_dir=tree.parent, base_dir=tree.name)
    drive.body = archive.read_bytes()
    paths = profiles.paths_for("full", work_dir=tmp_path / "work", results_dir=tmp_path / "results")
    dataset = data.prepare_dataset("full", paths=paths, drive_id=FILE_ID, workers=2)
    assert dataset.root == paths.dataset / profiles.DATASET_DIRNAME
    assert len(dataset.index) == len(_expected_pairs())
    assert not list((paths.work / "downloads").glob("*.archive"))  # deleted after extraction
    asked = len(drive.requests)
    data.prepare_dataset("full", paths=paths, drive_id=FILE_ID, workers=2)
    assert len(drive.requests) == asked
    assert data.read_dataset_record(paths)["drive_id"] == FILE_ID
    assert data.prepare_dataset("full", paths=paths, workers=2).root == dataset.root  # from the record
    assert len(drive.requests) == asked
    with pytest.raises(data.DatasetError, match="holds the extraction of"):
        data.prepare_dataset("full", paths=paths, drive_id=FILE_ID[::-1], workers=2)
    assert len(drive.requests) == asked  # refused before downloading the other archive
    assert data.read_dataset_record(paths)["drive_id"] == FILE_ID  # a failed location is not recorded


def test_prepare_full_downloads_and_extracts_to_scratch(tree, tmp_path, drive, full_with_three_folds):
    archive = _zip_tree(tree, tmp_path / "FakeTrue_DB.zip")
    drive.body = archive.read_bytes()
    paths = profiles.paths_for("full", work_dir=tmp_path / "work", results_dir=tmp_path / "results",
                               scratch_dir=tmp_path / "local")
    dataset = data.prepare_dataset("full", paths=paths, drive_id=FILE_ID, workers=2, keep_archive=True)
    assert dataset.root == tmp_path / "local" / "full" / profiles.DATASET_DIRNAME / profiles.DATASET_DIRNAME
    assert list(paths.downloads.glob("*.archive")) and paths.downloads.parent == tmp_path / "local" / "full"
    assert sorted(p.name for p in paths.work.iterdir()) == ["dataset.json", "index.csv", "splits.csv"]
    shutil.rmtree(paths.scratch)  # a new Colab VM
    assert data.prepare_dataset("full", paths=paths, workers=2).root == dataset.root  # downloaded again
    assert (paths.extraction / data.EXTRACTED_MARKER).is_file()


def test_prepare_synthetic_uses_the_generator(tree, tmp_path, monkeypatch):
    calls = []

    def ensure_dataset(root, spec, cues=None, workers=1):
        calls.append(spec)
        if not root.exists():
            shutil.copytree(tree, root)
        return root

    from helpers import synthetic

    monkeypatch.setattr(synthetic, "ensure_dataset", ensure_dataset)
    paths = profiles.paths_for("smoke", work_dir=tmp_path / "work", results_dir=tmp_path / "results")
    dataset = data.prepare_dataset("smoke", paths=paths, workers=1)
    assert calls == [profiles.get_profile("smoke").synthetic]
    assert dataset.root == paths.dataset and dataset.n_folds == profiles.get_profile("smoke").n_folds


# --------------------------------------------------------------------------------------------------
# channel_stats
# --------------------------------------------------------------------------------------------------


def test_channel_stats_measure_the_pixels(tmp_path):
    colours = [np.array([200, 40, 120]), np.array([100, 220, 10])]
    rows = []
    for number, colour in enumerate(colours):
        path = video.write_video(tmp_path / f"{number}.mp4",
                                 [np.broadcast_to(colour, (32, 32, 3)).astype(np.uint8)] * 6, 25, crf=0)
        rows.append({"path": str(path), "frames": 6, "readable": True})
    rows.append({"path": str(tmp_path / "missing.mp4"), "frames": pd.NA, "readable": False})
    index = pd.DataFrame(rows)
    stats = data.channel_stats(index, frames_per_video=3, progress=False)
    expected_mean = np.mean(colours, axis=0) / 255
    expected_std = np.abs(colours[0] - colours[1]) / 2 / 255  # two equally large constant halves
    assert np.allclose(stats["mean"], expected_mean, atol=0.02)
    assert np.allclose(stats["std"], expected_std, atol=0.02)
    one = data.channel_stats(index, max_videos=1, progress=False)
    assert any(np.allclose(one["mean"], colour / 255, atol=0.02) for colour in colours)
    assert np.allclose(one["std"], 0, atol=0.02)


def test_channel_stats_without_readable_video_is_an_error(index):
    with pytest.raises(data.DatasetError, match="no frame"):
        data.channel_stats(index[~index["readable"]], progress=False)
