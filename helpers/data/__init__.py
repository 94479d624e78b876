"""Get SASE-FE onto the disk, index it, check it and split it by subject.

The one call a notebook needs is :func:`prepare_dataset`; the pieces it is made of are public so that
each can be tested and reused:

1. **get the files**: :func:`download_from_drive` (gdown, resumable, checksum) and :func:`safe_extract`
   (refuses archives that would write outside their folder), or a folder (or archive) on a mounted Google
   Drive; :func:`find_dataset_root` then finds the folder that holds the subject folders. Where the dataset
   came from is recorded in the work folder (``dataset.json``), so later notebooks need no parameter;
2. **index**: :func:`index_videos` makes one row per video (labels from :mod:`helpers.labels`, metadata
   from :func:`helpers.video.probe`); an unreadable video is a row with ``readable=False``, never a crash;
   known variant spellings of a code (``D2N2S.MP4``) are indexed under the canonical code, and videos
   with the same bytes as another (:func:`identical_files`) are marked, not ``usable``;
3. **check**: :func:`validate_layout` reports missing, unknown, unreadable, renamed and identical files
   (the real SASE-FE has 643 of the 648 possible videos: missing ones are normal);
4. **split**: :func:`make_splits` / :func:`ensure_splits` assign every *subject* to one fold, once, and
   save the result, so that every notebook uses the same folds and no person is ever in both the
   training and the test side;
5. **normalise**: :func:`channel_stats` measures the per-channel pixel mean and std.

Layout: ``<root>/<subject>/<CODE>.MP4`` (``.mp4`` and any capitalisation of the code are accepted).
Importing this package has no side effects; gdown is imported only when something is downloaded.

Modules (this facade re-exports their public API, so ``from helpers import data; data.X`` works):

* :mod:`helpers.data.common`: :class:`DatasetError`, natural subject order, :func:`format_bytes`,
  :func:`file_md5` and the text helpers every other module uses;
* :mod:`helpers.data.drive`: Google Drive ids and links, the gdown download and its error messages;
* :mod:`helpers.data.archive`: what a file really is (sniffing) and :func:`safe_extract`;
* :mod:`helpers.data.layout`: :func:`find_dataset_root` and the scan of the subject folders, with the
  SASE-FE naming quirks;
* :mod:`helpers.data.index`: the video index (probing, dtypes, CSV, cache), identical files, usable rows;
* :mod:`helpers.data.report`: :class:`LayoutReport` and :func:`validate_layout`;
* :mod:`helpers.data.splits`: the subject-independent folds;
* :mod:`helpers.data.dataset`: :class:`Dataset`, :func:`prepare_dataset` and the dataset-location record;
* :mod:`helpers.data.stats`: :func:`channel_stats`;
* :mod:`helpers.data.challenge`, :mod:`helpers.data.challenge_labels`, :mod:`helpers.data.challenge_report`:
  the ChaLearn 2017 release (training subject folders, ``<id>_<EMOTION>.mp4`` validation and test videos):
  its layout, index with a ``split`` column, labels (CSV, the challenge's pickle read safely), checks and
  split (import them as modules: ``from helpers.data import challenge``);
* :mod:`helpers.data.protocols`: the evaluation protocols (``kfold``, ``chalearn2017``, ``fixed``) and the
  dataset each trains, chooses and tests on (``from helpers.data import protocols``).
"""

from helpers.data.archive import EXTRACTED_MARKER, safe_extract
from helpers.data.common import DatasetError, file_md5, format_bytes, sorted_subjects, subject_sort_key
from helpers.data.dataset import SOURCE_HINT, Dataset, prepare_dataset, read_dataset_record
from helpers.data.drive import download_from_drive, parse_drive_id
from helpers.data.index import (
    INDEX_COLUMNS,
    cached_index,
    identical_files,
    index_videos,
    load_index,
    save_index,
    usable_rows,
    video_key,
)
from helpers.data.layout import VIDEO_SUFFIX, find_dataset_root, video_code
from helpers.data.report import LayoutReport, validate_layout
from helpers.data.splits import ensure_splits, fold_subjects, load_splits, make_splits, save_splits, split_index
from helpers.data.stats import channel_stats

__all__ = [
    "EXTRACTED_MARKER",
    "INDEX_COLUMNS",
    "SOURCE_HINT",
    "VIDEO_SUFFIX",
    "Dataset",
    "DatasetError",
    "LayoutReport",
    "cached_index",
    "channel_stats",
    "download_from_drive",
    "ensure_splits",
    "file_md5",
    "find_dataset_root",
    "fold_subjects",
    "format_bytes",
    "identical_files",
    "index_videos",
    "load_index",
    "load_splits",
    "make_splits",
    "parse_drive_id",
    "prepare_dataset",
    "read_dataset_record",
    "safe_extract",
    "save_index",
    "save_splits",
    "sorted_subjects",
    "split_index",
    "subject_sort_key",
    "usable_rows",
    "validate_layout",
    "video_code",
    "video_key",
]
