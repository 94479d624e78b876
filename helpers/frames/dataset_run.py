"""A whole dataset: extract every video (in a process pool), resume, survive a full disk, assemble the tables.

:func:`extract_dataset` runs :func:`helpers.frames.one_video.extract_video` over the videos not finished
yet and returns an :class:`Extraction`; :func:`assemble` collects the per-video parts into ``videos.csv``
and ``manifest.csv``; :func:`prepare_output` guards a configuration's folder; :func:`list_extractions` and
:func:`list_videos` list what is there.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from helpers import profiles, results, storage, video
from helpers.frames.config import ALGORITHM_VERSION, STATUSES, ConfigMismatchError, ExtractionConfig
from helpers.frames.landmarks import cached_predictor
from helpers.frames.one_video import decode_ahead, extract_video, is_finished
from helpers.frames.storage import (CONFIG_FILE, FRAME_COLUMNS, MANIFEST_FILE, TEMPORARY_SUFFIX, VIDEOS_FILE,
                                    file_size, video_files)
from helpers.storage import DiskFullError


@dataclass
class Extraction:
    """The outcome of :func:`extract_dataset` (also on disk: ``config.json``, ``videos.csv``, ``manifest.csv``)."""

    root: Path  # the folder of this configuration's crops: pass it to load_crops
    config: ExtractionConfig
    videos: pd.DataFrame  # one row per video: status, frames, detection_rate, fell_back, error, seconds, ...
    manifest: pd.DataFrame  # one row per kept frame of the ok videos
    processed: int = 0  # videos extracted in this run (the others were finished before)
    skipped: int = 0
    seconds: float = 0.0  # wall-clock time of this run
    frames_per_second: float = float("nan")  # frames kept per wall-clock second in this run

    def summary(self) -> str:
        counts = self.videos["status"].value_counts().reindex(list(STATUSES), fill_value=0)
        ok = self.videos[self.videos["status"] == "ok"]
        lines = [
            f"{len(self.videos)} videos in {profiles.display_path(self.root)}: {counts['ok']} ok, "
            f"{counts['no_face']} without a face, "
            f"{counts['error']} unreadable ({self.processed} extracted now, {self.skipped} already done)",
            f"{int(ok['frames'].sum())} crops; face found in "
            f"{ok['detected'].sum() / max(1, ok['evaluated'].sum()):.1%} "
            f"of the frames the detector ran on; {int(ok['fell_back'].sum())} frames fell back to a nearby box",
        ]
        failed = int(ok["frames"].sum() - ok["landmarks_ok"].sum()) if "landmarks_ok" in ok else 0
        if self.config.landmarks and failed:
            lines.append(f"landmarks failed the checks on {failed} of these frames (landmarks_ok is False in "
                         "the manifest: leave them out or interpolate them)")
        if self.processed:
            lines.append(f"{self.seconds:.1f} s for this run: {self.frames_per_second:.1f} frames/s")
        for row in self.videos[self.videos["status"] != "ok"].itertuples():
            lines.append(f"  {row.status}: {row.subject}/{row.code}: {row.error}")
        return "\n".join(lines)


def extraction_dir(crops_root: str | Path, config: ExtractionConfig) -> Path:
    """The folder of one configuration's crops: ``<crops_root>/<config.name>``."""
    return Path(crops_root) / config.name


def list_extractions(crops_root: str | Path) -> pd.DataFrame:
    """The configurations extracted under ``crops_root`` (one row per folder with a ``config.json``)."""
    rows = []
    for config_file in sorted(Path(crops_root).glob(f"*/{CONFIG_FILE}")):
        content = results.read_json(config_file)
        rows.append({"folder": str(config_file.parent), **content.get("config", {}),
                     "finished": (config_file.parent / VIDEOS_FILE).exists()})
    return pd.DataFrame(rows)


def prepare_output(out_dir: Path, config: ExtractionConfig, profile: str = "") -> None:
    """Create ``out_dir`` with its ``config.json``, refuse one made with another configuration, and
    remove temporary files left by a killed run (they are never mistaken for outputs: none ends in .npy)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    config_file = out_dir / CONFIG_FILE
    if config_file.exists():
        stored, wanted = results.read_json(config_file).get("config", {}), config.to_dict()
        if stored != wanted:
            changed = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
            raise ConfigMismatchError(
                f"{out_dir} holds crops made with another configuration (different: {', '.join(changed)}). "
                f"Extract into extraction_dir(crops_root, config) (a folder named by the configuration) "
                "or into an empty folder, instead of mixing crops")
    else:
        results.write_json(config_file, {"config": config.to_dict(), "name": config.name,
                                         "fingerprint": config.fingerprint, "algorithm": ALGORITHM_VERSION,
                                         "provenance": results.provenance(profile)})
    for leftover in out_dir.rglob(f".*{TEMPORARY_SUFFIX}"):
        leftover.unlink(missing_ok=True)


def _video_table(videos: pd.DataFrame | Any) -> pd.DataFrame:
    """Accept a Dataset (``.index``) or a DataFrame with subject, code and path columns."""
    table = videos if isinstance(videos, pd.DataFrame) else getattr(videos, "index", None)
    if not isinstance(table, pd.DataFrame):
        raise TypeError("videos must be a DataFrame with subject, code and path columns, or a Dataset")
    missing = {"subject", "code", "path"} - set(table.columns)
    if missing:
        raise ValueError(f"the video table lacks the column(s) {', '.join(sorted(missing))}")
    table = table[["subject", "code", "path"]].copy()
    table["subject"] = table["subject"].astype(str)
    table["code"] = table["code"].astype(str)
    return table.reset_index(drop=True)


def _worker_init() -> None:
    """Each worker process uses one OpenCV thread: the workers already fill the cores, and oversubscribed
    thread pools slow everything down (MTCNN limits PyTorch's threads itself)."""
    cv2.setNumThreads(1)


def _run(todo: pd.DataFrame, out_dir: Path, config: ExtractionConfig, workers: int,
         progress: bool) -> Iterable[dict[str, Any]]:
    """Extract the ``todo`` videos, yielding each summary as soon as it is done."""
    from tqdm.auto import tqdm

    pooled = workers > 1 and len(todo) > 1
    # the cores shared out between the processes: 2 workers on 2 cores decode with one thread each
    threads = video.decode_threads(workers if pooled else 1)
    jobs = [(row.path, out_dir, row.subject, row.code, config, threads) for row in todo.itertuples()]
    summaries = _in_pool(jobs, workers) if pooled else _one_by_one(jobs)
    with tqdm(total=len(jobs), desc=f"extracting ({config.detector}, {workers} worker{'s' * (workers > 1)})",
              unit="video", disable=not progress) as bar:
        for summary in summaries:
            bar.update()
            yield summary


def _one_by_one(jobs: list[tuple]) -> Iterable[dict[str, Any]]:
    """Extract in this process, one video after the other, while a thread decodes the next one: a video's
    crops and landmarks come after all of its kept frames are decoded (the box tracker looks ahead), and
    decoding releases the GIL, so the next video's decoding fills the core that would wait (book/decisions.md)."""
    def decode(job: tuple) -> Future:
        path, _, _, _, config, threads = job
        return ahead.submit(decode_ahead, path, config, threads)

    with ThreadPoolExecutor(1, thread_name_prefix="decode-ahead") as ahead:
        following = decode(jobs[0]) if jobs else None
        for position, job in enumerate(jobs):
            decoded, following = following, decode(jobs[position + 1]) if position + 1 < len(jobs) else None
            yield extract_video(*job, decoded)


def _in_pool(jobs: list[tuple], workers: int) -> Iterable[dict[str, Any]]:
    """Run ``extract_video`` over ``jobs`` in worker processes, yielding summaries as they finish."""
    # spawn, not fork: a notebook kernel that already runs torch/OpenMP threads can deadlock a fork
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_worker_init) as pool:
        queue = iter(jobs)
        # keep every worker busy without queueing hundreds of futures (a stop then cancels little)
        pending: set[Future] = {pool.submit(extract_video, *job) for _, job in zip(range(2 * workers), queue)}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    yield future.result()
                except BaseException:
                    for other in pending:
                        other.cancel()
                    raise
                following = next(queue, None)
                if following is not None:
                    pending.add(pool.submit(extract_video, *following))


def assemble(out_dir: str | Path, videos: pd.DataFrame | Any,
             config: ExtractionConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Collect the per-video summaries and frame tables into ``videos.csv`` and ``manifest.csv``."""
    out_dir, table = Path(out_dir), _video_table(videos)
    summaries, frame_files = [], []
    for row in table.itertuples():
        summary = _current_summary(out_dir, row.subject, row.code, row.path, config)
        if summary is None:
            continue
        summaries.append(summary)
        frames_file = video_files(out_dir, row.subject, row.code)["frames"]
        if summary["status"] == "ok" and frames_file.exists():
            frame_files.append(frames_file)
    videos_table = pd.DataFrame(summaries, columns=list(_SUMMARY_COLUMNS))
    manifest = _read_frame_tables(frame_files)
    results.write_csv(out_dir / VIDEOS_FILE, videos_table)
    results.write_csv(out_dir / MANIFEST_FILE, manifest)
    return videos_table, manifest


def _read_frame_tables(files: list[Path]) -> pd.DataFrame:
    """All per-video frame tables as one, parsed at once (one ``read_csv`` per file costs ~10 ms each)."""
    header = ",".join(FRAME_COLUMNS)
    bodies = []
    for path in files:
        first, _, body = path.read_text().partition("\n")
        if first.strip() != header:
            raise ValueError(f"{path} does not have the columns {header}: it was written by another version")
        bodies.append(body if body.endswith("\n") or not body else body + "\n")
    return pd.read_csv(io.StringIO(header + "\n" + "".join(bodies)), dtype={"subject": str, "code": str})


_SUMMARY_COLUMNS = ("subject", "code", "status", "frames", "evaluated", "detected", "detection_rate", "tracked",
                    "fell_back", "landmarks_ok", "fps", "step", "seconds", "landmark_seconds", "landmark_keyframes",
                    "error", "path", "config", "source_bytes")


def extract_dataset(videos: pd.DataFrame | Any, crops_root: str | Path, config: ExtractionConfig | None = None,
                    workers: int = 1, progress: bool = True, retry_errors: bool = True,
                    exact_dir: bool = False, profile: str = "", lock_wait_s: float = 0.0) -> Extraction:
    """Extract face (and context) crops of every video into ``<crops_root>/<config.name>/``.

    ``videos``: a ``helpers.data.Dataset`` or a DataFrame with ``subject``, ``code`` and ``path`` columns.
    ``exact_dir=True`` writes into ``crops_root`` itself (it must be empty or hold this configuration).
    Finished videos are skipped; videos that failed before are retried unless ``retry_errors=False``.
    Raises :class:`DiskFullError` (after saving the tables of what is done) when the disk fills up, and
    :class:`~helpers.frames.landmarks.LandmarksUnavailable` before any video when ``config.landmarks``
    needs dlib or its model and they are missing (once, saying what to install).
    ``profile`` is only recorded in ``config.json``'s provenance. One extraction of a folder at a time: while
    another process extracts into it, this one waits up to ``lock_wait_s`` seconds, then raises
    :class:`~helpers.storage.FolderLockedError` naming it.
    """
    config = config or ExtractionConfig()
    table = _video_table(videos)
    out_dir = Path(crops_root) if exact_dir else extraction_dir(crops_root, config)
    with storage.FolderLock(out_dir, "an extraction", wait_s=lock_wait_s):
        return _extract_locked(table, out_dir, config, workers, progress, retry_errors, profile)


def _extract_locked(table: pd.DataFrame, out_dir: Path, config: ExtractionConfig, workers: int, progress: bool,
                    retry_errors: bool, profile: str) -> Extraction:
    """:func:`extract_dataset` once this process holds the lock of ``out_dir``."""
    prepare_output(out_dir, config, profile)
    done = np.array([is_finished(out_dir, row.subject, row.code, config, row.path) or
                     (not retry_errors and _failed_before(out_dir, row.subject, row.code, row.path, config))
                     for row in table.itertuples()], bool)
    todo = table[~done]
    if config.landmarks and len(todo):
        cached_predictor()  # fails here, once, when dlib or its model is missing (not once per video)
    started = time.perf_counter()
    processed_frames, processed = 0, 0
    try:
        for summary in _run(todo, out_dir, config, max(1, min(int(workers), len(todo))), progress):
            processed += 1
            processed_frames += summary["frames"] if summary["status"] == "ok" else 0
    except (DiskFullError, BrokenProcessPool, KeyboardInterrupt) as error:
        _assemble_what_is_done(out_dir, table, config)
        if isinstance(error, BrokenProcessPool):
            raise RuntimeError(f"a worker process died (out of memory?) after {processed} videos; the finished "
                               f"ones are kept in {out_dir}: run again (with fewer workers) to resume") from error
        raise
    seconds = time.perf_counter() - started
    videos_table, manifest = assemble(out_dir, table, config)
    return Extraction(out_dir, config, videos_table, manifest, processed=processed,
                      skipped=int(done.sum()), seconds=seconds,
                      frames_per_second=processed_frames / seconds if processed and seconds > 0 else float("nan"))


def _failed_before(out_dir: Path, subject: str, code: str, path: str, config: ExtractionConfig) -> bool:
    summary = _current_summary(out_dir, subject, code, path, config)
    return summary is not None and summary.get("status") == "error"


def _current_summary(out_dir: Path, subject: str, code: str, path: str, config: ExtractionConfig) -> dict | None:
    """A video's summary if it was made with ``config`` from this file (same size), else None."""
    try:
        summary = json.loads(video_files(out_dir, subject, code)["summary"].read_text())
    except (OSError, ValueError):
        return None
    if summary.get("config") != config.fingerprint or summary.get("source_bytes") != file_size(path):
        return None
    return summary


def _assemble_what_is_done(out_dir: Path, table: pd.DataFrame, config: ExtractionConfig) -> None:
    try:
        assemble(out_dir, table, config)
    except (OSError, DiskFullError):
        pass  # the disk may still be full: the per-video summaries on disk are what a re-run relies on


def list_videos(dataset_dir: str | Path) -> pd.DataFrame:
    """Every ``<subject>/<name>.mp4`` under a folder (any case of the extension), as subject, code, path."""
    rows = [{"subject": p.parent.name, "code": p.stem, "path": str(p)}
            for p in sorted(Path(dataset_dir).glob("*/*")) if p.suffix.lower() == ".mp4" and not p.name.startswith(".")]
    if not rows:
        raise FileNotFoundError(f"no <subject>/<video>.mp4 files under {dataset_dir}")
    return pd.DataFrame(rows)
