"""Labels of the ChaLearn LAP 2017 validation and test videos, where a user has them.

Three formats, all giving ``{video file name: genuine?}``:

- a CSV with the columns ``video,label`` and ``true`` (genuine) or ``fake`` (posed) as label;
- the challenge's own prediction-file format: a pickle of ``{'<id>_<EMOTION>.mp4': 'true' | 'fake'}``. It is
  read by an unpickler that refuses every class and function, so only dicts, lists and strings can come out
  of it: a pickle can run any code when it is loaded normally, and a labels file comes from someone else;
- the same dict as JSON (what :func:`helpers.metrics.challenge.write_prediction_file` writes beside the pickle).

:func:`check_labels` compares a labels file with the videos of its split: names of absent videos and
videos without a label are errors that name the file and what to do.
"""

from __future__ import annotations

import io
import json
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from helpers import labels
from helpers.data.common import DatasetError, preview

LABEL_SUFFIXES: tuple[str, ...] = (".csv", ".pkl", ".pickle", ".json")
_WORDS = {word: genuine for genuine, word in labels.CHALLENGE_LABELS.items()}


class _DataOnlyUnpickler(pickle.Unpickler):
    """Builds dicts, lists, tuples, strings and numbers; refuses every class and function a pickle names."""

    def find_class(self, module: str, name: str):  # noqa: ANN201 - never returns
        raise pickle.UnpicklingError(f"it names {module}.{name}, and a labels file holds only names and words")

    def persistent_load(self, pid):  # noqa: ANN001, ANN201 - never returns
        raise pickle.UnpicklingError("it refers to outside objects")


def read_pickle_labels(path: Path) -> dict:
    """The dict inside a challenge prediction pickle, read without running any of the pickle's code."""
    path = Path(path)
    try:
        content = _DataOnlyUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError) as error:
        raise DatasetError(
            f"{path} is not a challenge labels pickle that can be read safely ({error}): write the labels as a CSV "
            "with the columns video,label (label true or fake) instead"
        ) from None
    if not isinstance(content, dict):
        raise DatasetError(f"{path} holds a {type(content).__name__}, not a dict of video name -> 'true'/'fake': "
                           "write the labels as a CSV with the columns video,label instead")
    return content


def _read_csv_labels(path: Path) -> dict:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise DatasetError(f"{path} cannot be read as a CSV ({error}): it needs the columns video,label") from None
    table.columns = [str(column).strip().lower() for column in table.columns]
    if not {"video", "label"} <= set(table.columns):
        raise DatasetError(f"{path} has the columns {', '.join(table.columns) or '(none)'}; a labels CSV needs "
                           "video,label (one row per video file name, label true or fake)")
    duplicated = table["video"][table["video"].duplicated()].tolist()
    if duplicated:
        raise DatasetError(f"{path} labels {preview(duplicated)} more than once: keep one row per video")
    return dict(zip(table["video"], table["label"]))


def read_labels(path: Path | str) -> dict[str, bool]:
    """``{video file name: genuine}`` from a CSV, a challenge pickle or a JSON dict (chosen by the suffix)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"the labels file {path} does not exist: give the path of a CSV video,label")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        raw = _read_csv_labels(path)
    elif suffix in (".pkl", ".pickle"):
        raw = read_pickle_labels(path)
    elif suffix == ".json":
        try:
            raw = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DatasetError(f"{path} is not valid JSON ({error}): write a CSV video,label instead") from None
        if not isinstance(raw, dict):
            raise DatasetError(f"{path} holds a JSON {type(raw).__name__}, not a dict of video name -> 'true'/'fake'")
    else:
        raise DatasetError(f"{path}: labels are read from {', '.join(LABEL_SUFFIXES)} files, not {suffix or 'a file without suffix'}")
    parsed: dict[str, bool] = {}
    bad = []
    for video, word in raw.items():
        key = str(word).strip().lower()
        if not isinstance(video, str) or key not in _WORDS:
            bad.append(f"{video!r}: {word!r}")
            continue
        parsed[Path(video.strip()).name] = _WORDS[key]
    if bad:
        raise DatasetError(f"{path}: labels must be 'true' (genuine) or 'fake' (posed) for a video file name; "
                           f"found {preview(bad, 5)}: correct these rows")
    return parsed


def check_labels(path: Path, given: Mapping[str, bool], videos: Iterable[str]) -> None:
    """Raise naming ``path`` when it labels videos that are not in its folder, or leaves some unlabelled."""
    names = set(videos)
    absent = sorted(set(given) - names)
    unlabelled = sorted(names - set(given))
    problems = []
    if absent:
        problems.append(f"it labels {len(absent)} video(s) that are not in the folder ({preview(absent, 5)})")
    if unlabelled:
        problems.append(f"it has no label for {len(unlabelled)} video(s) of the folder ({preview(unlabelled, 5)})")
    if problems:
        raise DatasetError(
            f"the labels file {path} does not match its videos: {'; '.join(problems)}. Use the labels file of this "
            "split (validation and test have one each), copy the missing videos, or remove the file to index the "
            "videos as unlabelled"
        )
