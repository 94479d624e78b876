"""The ChaLearn LAP 2017 release of SASE-FE: where its parts are, its video index and its split.

The challenge gave its data in three parts: training videos in subject folders (``<subject>/<CODE>.MP4``,
as in the full release, with its quirks), and validation and test folders of anonymised videos named
``<10-digit id>_<EMOTION>.mp4`` (``labels.CHALLENGE_EMOTION_WORDS``) with no subject id and no label.

- :func:`find_challenge_layout` finds the three parts under a folder (:class:`ChallengeLayout`);
- :func:`index_challenge` makes the index of every video with a ``split`` column (train / validation /
  test); the validation and test videos get their authenticity from a labels file where there is one
  (:mod:`helpers.data.challenge_labels`), and keep it unknown (``genuine`` <NA>, ``label`` -1) otherwise;
- :func:`challenge_split` gives the challenge's protocol: train subjects, validation videos, test videos.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from helpers import labels, video
from helpers.data.challenge_labels import LABEL_SUFFIXES, check_labels, read_labels
from helpers.data.common import DatasetError, preview, sorted_subjects
from helpers.data.index import INDEX_COLUMNS, identical_files, index_videos, video_key
from helpers.data.layout import find_dataset_root, scan, video_code

SPLITS: tuple[str, ...] = ("train", "validation", "test")
#: The columns of the challenge index: the release's split and file name, then the columns of the video index.
CHALLENGE_COLUMNS: tuple[str, ...] = ("split", "video", "video_id", *INDEX_COLUMNS, "labelled")
CHALLENGE_NAME = re.compile(r"^(?P<id>\d{10})_(?P<word>[A-Za-z]+)\.mp4$", re.IGNORECASE)
#: Videos per emotion in the challenge's validation and in its test set (5 subjects x genuine and posed).
VIDEOS_PER_EMOTION = 10


def parse_challenge_name(path: Path | str) -> tuple[str, str] | None:
    """``(video id, emotion)`` of a ``<10-digit id>_<EMOTION>.mp4`` file, None for any other name.

    Raises :class:`DatasetError` naming the file when it has the challenge's shape but an unknown emotion word.
    """
    match = CHALLENGE_NAME.match(Path(path).name)
    if not match:
        return None
    word = match["word"].upper()
    if word not in labels.CHALLENGE_EMOTION_WORDS:
        raise DatasetError(
            f"{path}: {match['word']!r} is not an emotion word of the ChaLearn 2017 release (expected one of "
            f"{', '.join(labels.CHALLENGE_EMOTION_WORDS)}): rename the file or move it out of the folder"
        )
    return match["id"], labels.CHALLENGE_EMOTION_WORDS[word]


def _challenge_files(folder: Path) -> list[Path]:
    try:
        return sorted(item for item in folder.iterdir() if item.is_file() and CHALLENGE_NAME.match(item.name))
    except OSError:
        return []


def _code_files(folder: Path) -> list[Path]:
    try:
        return [item for item in folder.iterdir() if item.is_file() and video_code(item)]
    except OSError:
        return []


def split_of_folder(folder: Path) -> str | None:
    """``test``, ``validation`` or ``train`` from a folder's name (``test``, ``valid``, ``RealFake_trainset``)."""
    name = folder.name.lower()
    for split, word in (("test", "test"), ("validation", "val"), ("train", "train")):
        if word in name:
            return split
    return None


def _folders(path: Path, depth: int) -> list[Path]:
    level, found = [path], [path]
    for _ in range(depth):
        level = [child for folder in level for child in sorted(folder.iterdir())
                 if child.is_dir() and not child.name.startswith((".", "_"))]
        found += level
    return found


def is_challenge_release(path: Path | str, depth: int = 2) -> bool:
    """Does ``path`` (or a folder up to ``depth`` levels below) hold ``<id>_<EMOTION>.mp4`` videos?"""
    path = Path(path).expanduser()
    return path.is_dir() and any(_challenge_files(folder) for folder in _folders(path, depth))


@dataclass(frozen=True)
class ChallengeLayout:
    """Where the parts of a challenge release are; None for a part the user does not have."""

    root: Path
    train: Path | None  # the folder holding the training subject folders
    validation: Path | None  # the folder of the validation <id>_<EMOTION>.mp4 videos
    test: Path | None

    def folder(self, split: str) -> Path | None:
        return {"train": self.train, "validation": self.validation, "test": self.test}[split]


def find_challenge_layout(path: Path | str, depth: int = 2) -> ChallengeLayout:
    """The parts of the challenge release under ``path``: validation and test folders are told apart by
    their names (``valid``, ``test``); the training part is the folder with subject folders, if any."""
    root = Path(path).expanduser().absolute()
    if not root.is_dir():
        raise DatasetError(f"the challenge release folder {root} does not exist or is not a folder")
    parts: dict[str, Path] = {}
    for folder in _folders(root, depth):
        if not _challenge_files(folder):
            continue
        if _code_files(folder):
            raise DatasetError(
                f"{folder} holds both <CODE>.MP4 videos of the full SASE-FE and <id>_<EMOTION>.mp4 videos of the "
                "ChaLearn 2017 release: two releases are mixed in one folder. Keep each release in its own folder"
            )
        split = split_of_folder(folder)
        if split not in ("validation", "test"):
            raise DatasetError(f"cannot tell whether {folder} holds validation or test videos: rename it to "
                               "'valid' or 'test' (as in the challenge's release)")
        if split in parts:
            raise DatasetError(f"{parts[split]} and {folder} both look like the {split} videos: keep one of them")
        parts[split] = folder
    if not parts:
        raise DatasetError(f"no <id>_<EMOTION>.mp4 videos of the ChaLearn 2017 release under {root}: give the "
                           "folder holding its valid/ and test/ folders (or the full SASE-FE's subject folders)")
    try:
        train = find_dataset_root(root, max_depth=depth)
    except DatasetError:
        train = None
    for row in scan(train).unknown if train else []:
        if CHALLENGE_NAME.match(row["name"]):
            raise DatasetError(f"{row['path']} is a ChaLearn 2017 validation/test video inside the training "
                               "subject folder: two releases are mixed. Move it to the valid/ or test/ folder")
    return ChallengeLayout(root, train, parts.get("validation"), parts.get("test"))


def release_of(training_root: Path | str) -> ChallengeLayout | None:
    """The challenge release that the training subject folders at ``training_root`` belong to (``valid/`` and
    ``test/`` beside them, or beside their parent folder), or None: a full SASE-FE release."""
    training_root = Path(training_root).expanduser().absolute()
    for candidate in (training_root, training_root.parent):
        try:  # only folders named as a split are listed: the parent may be a whole mounted Drive
            named = [child for child in candidate.iterdir()
                     if child.is_dir() and split_of_folder(child) in ("validation", "test")]
        except OSError:
            continue
        if any(_challenge_files(folder) for folder in named):
            return find_challenge_layout(candidate, depth=1)
    return None


def _probe(path: Path) -> tuple[dict, str]:
    try:
        return asdict(video.probe(str(path))), ""
    except Exception as error:  # noqa: BLE001 - a broken file is reported in its row, never raised
        return {}, getattr(error, "reason", f"{type(error).__name__}: {error}")


def _split_rows(split: str, folder: Path, labels_file: Path | None, probe: bool, workers: int) -> list[dict]:
    files = _challenge_files(folder)
    parsed = [parse_challenge_name(path) for path in files]
    names = [path.name for path in files]
    if len(set(name.lower() for name in names)) < len(names):
        raise DatasetError(f"{folder} holds the same video name twice in different cases: keep one of each")
    given: dict[str, bool] = {}
    if labels_file is not None:
        given = read_labels(labels_file)
        check_labels(labels_file, given, names)
    if probe:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            probes = list(pool.map(_probe, files))
    else:
        probes = [({}, "")] * len(files)
    rows = []
    for path, (video_id, emotion), (metadata, error) in zip(files, parsed, probes):
        genuine = given.get(path.name)
        known = genuine is not None
        code = labels.CODES[labels.class_index(emotion, genuine)] if known else ""
        rows.append({
            "split": split, "video": path.name, "video_id": video_id, "subject": "", "code": code,
            "emotion": emotion, "genuine": genuine if known else pd.NA,
            "authenticity": labels.AUTHENTICITY[int(genuine)] if known else "",
            "label": labels.CODES.index(code) if known else -1, "emotion_label": labels.EMOTIONS.index(emotion),
            "path": str(path), "size": path.stat().st_size,
            **{key: metadata.get(key) for key in ("fps", "frames", "duration", "width", "height")},
            "readable": not error, "error": error, "mapped_from": "", "identical_to": "", "labelled": known,
        })
    return rows


def labels_file_in(folder: Path) -> Path | None:
    """The one labels file (``.csv``, ``.pkl``, ``.pickle``, ``.json``) inside a validation or test folder."""
    found = sorted(item for item in folder.iterdir() if item.is_file() and item.suffix.lower() in LABEL_SUFFIXES
                   and not item.name.startswith((".", "_")))
    if len(found) > 1:
        raise DatasetError(f"{folder} holds several labels files ({preview([item.name for item in found])}): keep "
                           "one, or pass the one to use as labels_files={'validation' or 'test': path}")
    return found[0] if found else None


def index_challenge(layout: ChallengeLayout, labels_files: dict[str, Path | str] | None = None, probe: bool = True,
                    workers: int = 4, progress: bool = True, train_index: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per video of the release (``CHALLENGE_COLUMNS``), train then validation then test.

    Training rows are :func:`helpers.data.index_videos` rows; validation and test rows have no subject, and a
    code, authenticity and label only where a labels file gives them (``labels_files`` per split, or the one
    labels file inside the split's folder). Videos with the same bytes as another video of any split are
    marked in ``identical_to`` and not ``usable`` (one recording on both sides of the protocol).
    ``train_index``: the index of the training folders already made (``Dataset.index``), so as not to probe
    them again.
    """
    labels_files = {split: Path(path) for split, path in (labels_files or {}).items()}
    unknown = sorted(set(labels_files) - {"validation", "test"})
    if unknown:
        raise DatasetError(f"labels_files names {', '.join(unknown)}: only 'validation' and 'test' videos take labels")
    frames = []
    if layout.train is not None:
        train = (train_index.copy() if train_index is not None else
                 index_videos(layout.train, probe=probe, workers=workers, progress=progress))
        train.insert(0, "video_id", "")
        train.insert(0, "video", [Path(path).name for path in train["path"]])
        train.insert(0, "split", "train")
        frames.append(train.assign(labelled=True, genuine=train["genuine"].astype("boolean")))
    for split in ("validation", "test"):
        folder = layout.folder(split)
        if folder is not None:
            labels_file = labels_files.get(split) or labels_file_in(folder)
            frames.append(pd.DataFrame(_split_rows(split, folder, labels_file, probe, workers)))
        elif split in labels_files:
            raise DatasetError(f"labels were given for the {split} videos, but {layout.root} has no {split} folder")
    index = pd.concat(frames, ignore_index=True)[list(CHALLENGE_COLUMNS)] if frames else \
        pd.DataFrame(columns=list(CHALLENGE_COLUMNS))
    return _mark_identical(index)


def release_key(row: pd.Series) -> str:
    """How reports name a video of the release: ``12/N2H`` for training, ``test/0123456789_ANGER.mp4`` otherwise."""
    return video_key(row["subject"], row["code"]) if row["split"] == "train" else f"{row['split']}/{row['video']}"


def _mark_identical(index: pd.DataFrame) -> pd.DataFrame:
    index = index.copy()
    if index.empty:
        return index
    keys = {path: release_key(row) for path, (_, row) in zip(index["path"], index.iterrows())}
    others = {path: "" for path in keys}
    for group in identical_files(Path(path) for path in index["path"]):
        for path in group:
            others[str(path)] = " ".join(keys[str(other)] for other in group if other != path)
    index["identical_to"] = [others[path] for path in index["path"]]
    index["readable"] = index["readable"].astype(bool)
    index["labelled"] = index["labelled"].astype(bool)
    index["genuine"] = index["genuine"].astype("boolean")
    index["usable"] = index["readable"] & (index["identical_to"] == "")
    return index


@dataclass(frozen=True)
class ChallengeSplit:
    """The challenge's protocol: train on the training subjects, choose on validation, test once."""

    train_subjects: list[str]
    validation_videos: list[str]  # file names, <id>_<EMOTION>.mp4
    test_videos: list[str]

    @property
    def counts(self) -> dict[str, int]:
        return {"train subjects": len(self.train_subjects), "validation videos": len(self.validation_videos),
                "test videos": len(self.test_videos)}


def challenge_split(index: pd.DataFrame) -> ChallengeSplit:
    """The usable videos of a challenge index, as the challenge's protocol uses them."""
    usable = index[index["usable"].astype(bool)]
    by_split = {split: usable[usable["split"] == split] for split in SPLITS}
    return ChallengeSplit(sorted_subjects(by_split["train"]["subject"]),
                          sorted(by_split["validation"]["video"]), sorted(by_split["test"]["video"]))
