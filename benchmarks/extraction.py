"""Frame extraction: the project's extractor against the thesis's naive loop, on the same videos, in one run.

    .venv/bin/python benchmarks/extraction.py                     # 2 subjects of the demo set (320x240, 4 s)
    .venv/bin/python benchmarks/extraction.py --profile smoke     # the tiny CI set (192x144, 2 s): worst case
    .venv/bin/python benchmarks/extraction.py --dataset DIR       # any <subject>/<CODE>.MP4 folder

The synthetic videos are generated with ``helpers.synthetic`` into a temporary folder (or ``--data-dir``).

What is timed, on exactly the same output frames (the window and sampling of ``ExtractionConfig``):

* **baseline** (the thesis): ``cv2.VideoCapture`` reads every frame up to the end of the window, the Haar
  cascade runs on every kept full-resolution frame, the largest face plus the same margin is cropped,
  resized to the same size and written as one JPEG per frame with ``cv2.imwrite``; one process.
* **extractor**: ``helpers.frames.extract_dataset`` with its default configuration: PyAV decoding,
  detection on a downscaled copy or near the last face, box tracking and smoothing, face *and* context
  crops, one ``.npy`` per video plus the manifest; with ``--workers`` processes and with one process.
* **decode only**: PyAV decoding the same frames to RGB and nothing else: the practical limit.

Throughput is counted per output frame (frames processed; the same for all). Every contender runs
``--rounds`` times, interleaved, and its fastest run counts (other work on the machine only slows runs
down); the CPU time per frame is printed too, as it depends little on such load. The detection rate is
the share of the frames the detector ran on where it found a face; on synthetic data the share of boxes
that overlap the true face box with IoU >= 0.5 is printed too, so that a detector cannot win by finding
faces that are not there.
Target: the extractor at least 5x faster than the baseline with an equal or better detection rate.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from helpers import frames, video

TARGET_SPEEDUP = 5.0
IOU_HIT = 0.5


@dataclass
class Timing:
    what: str
    processes: int
    output_frames: int
    seconds: float
    cpu_seconds: float = float("nan")  # CPU time of this process and its workers: what other load cannot inflate much
    evaluated: int = 0  # frames the detector ran on
    detected: int = 0
    true_hits: float = float("nan")  # share of detected boxes with IoU >= 0.5 against the ground truth

    @property
    def frames_per_second(self) -> float:
        return self.output_frames / self.seconds if self.seconds > 0 else float("nan")

    @property
    def cpu_ms_per_frame(self) -> float:
        return 1000 * self.cpu_seconds / self.output_frames if self.output_frames else float("nan")

    @property
    def detection_rate(self) -> float:
        return self.detected / self.evaluated if self.evaluated else float("nan")


def cpu_time() -> float:
    """CPU seconds used so far by this process and by its finished child processes (the workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# --------------------------------------------------------------------------------------------------
# The thesis's way


def baseline_video(path: str, out_dir: Path, name: str, config: frames.ExtractionConfig,
                   cascade: cv2.CascadeClassifier) -> list[dict]:
    """Read every frame with OpenCV, run Haar on each kept full frame, write one JPEG per face."""
    capture = cv2.VideoCapture(path)
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    fps = capture.get(cv2.CAP_PROP_FPS)
    wanted = set(frames.sampled_indices(total, fps, config).tolist())
    last = max(wanted) if wanted else -1
    rows, index = [], 0
    while index <= last:
        ok, bgr = capture.read()
        if not ok:
            break
        if index in wanted:
            grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
            faces = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5)
            row = {"frame": index, "detected": len(faces) > 0, "x": np.nan, "y": np.nan, "w": np.nan, "h": np.nan}
            if len(faces):
                x, y, w, h = max(faces, key=lambda box: box[2] * box[3])
                pad = int(config.margin * w)
                crop = bgr[max(0, y - pad):y + h + pad, max(0, x - pad):x + w + pad]
                cv2.imwrite(str(out_dir / f"{name}_{index:05d}.jpg"), cv2.resize(crop, (config.size, config.size)))
                row.update(x=x, y=y, w=w, h=h)
            rows.append(row)
        index += 1
    capture.release()
    return rows


def run_baseline(videos: pd.DataFrame, out_dir: Path, config: frames.ExtractionConfig) -> tuple[Timing, pd.DataFrame]:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + frames.HAAR_CASCADE)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = []
    started, cpu_started = time.perf_counter(), cpu_time()
    for row in videos.itertuples():
        table = pd.DataFrame(baseline_video(row.path, out_dir, f"{row.subject}_{row.code}", config, cascade))
        tables.append(table.assign(subject=str(row.subject), code=str(row.code)))
    seconds, cpu_seconds = time.perf_counter() - started, cpu_time() - cpu_started
    boxes = pd.concat(tables, ignore_index=True)
    # output frames = frames processed (the same for everyone); it writes JPEGs only where it found a face
    timing = Timing("baseline: OpenCV read + Haar on full frames + JPEGs", 1, len(boxes), seconds, cpu_seconds,
                    len(boxes), int(boxes["detected"].sum()))
    return timing, boxes


# --------------------------------------------------------------------------------------------------
# Decode only: the practical limit


def decode_video(path: str, config: frames.ExtractionConfig) -> int:
    info = video.probe(path)
    step = config.step_for(info.fps)
    return sum(1 for _ in video.iter_frames(path, *config.window, step, total_frames=info.frames))


def run_decode_only(videos: pd.DataFrame, config: frames.ExtractionConfig, workers: int) -> Timing:
    started, cpu_started = time.perf_counter(), cpu_time()
    if workers <= 1:
        count = sum(decode_video(path, config) for path in videos["path"])
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            count = sum(pool.map(decode_video, videos["path"], [config] * len(videos)))
    return Timing("decode only: PyAV, same frames to RGB", workers, count, time.perf_counter() - started,
                  cpu_time() - cpu_started)


# --------------------------------------------------------------------------------------------------
# The project's extractor


def run_extractor(videos: pd.DataFrame, crops_root: Path, config: frames.ExtractionConfig,
                  workers: int) -> tuple[Timing, pd.DataFrame]:
    shutil.rmtree(crops_root, ignore_errors=True)
    started, cpu_started = time.perf_counter(), cpu_time()
    extraction = frames.extract_dataset(videos, crops_root, config, workers=workers, progress=False)
    seconds, cpu_seconds = time.perf_counter() - started, cpu_time() - cpu_started
    ok = extraction.videos[extraction.videos["status"] == "ok"]
    timing = Timing(f"extractor: helpers.frames ({config.detector})", workers, len(extraction.manifest), seconds,
                    cpu_seconds, int(ok["evaluated"].sum()), int(ok["detected"].sum()))
    return timing, extraction.manifest


def true_hit_rate(boxes: pd.DataFrame, ground_truth: pd.DataFrame, columns: tuple[str, ...]) -> float:
    """Share of the detected boxes that overlap the true face (IoU >= 0.5)."""
    truth = ground_truth.astype({"subject": str, "code": str})
    merged = boxes.astype({"subject": str, "code": str}).merge(truth, on=["subject", "code", "frame"],
                                                               suffixes=("", "_true"))
    found = merged[list(columns)].notna().all(axis=1)
    iou = frames.box_iou(merged.loc[found, list(columns)].to_numpy(float),
                         merged.loc[found, ["x_true", "y_true", "w_true", "h_true"]].to_numpy(float))
    return float((iou >= IOU_HIT).mean()) if len(iou) else float("nan")


# --------------------------------------------------------------------------------------------------


def prepare_videos(args: argparse.Namespace, scratch: Path) -> tuple[pd.DataFrame, pd.DataFrame | None, str]:
    if args.dataset:
        root, source = Path(args.dataset), f"{args.dataset}"
    else:
        from helpers import profiles, synthetic

        spec = profiles.get_profile(args.profile).synthetic
        if args.subjects:
            spec = replace(spec, subjects=args.subjects)
        root = Path(args.data_dir) if args.data_dir else scratch / "dataset"
        synthetic.ensure_dataset(root, spec, workers=args.workers, progress=False)
        source = (f"synthetic {args.profile} set ({spec.subjects} subjects, {spec.width}x{spec.height} px, "
                  f"{spec.fps:g} fps)")
    videos = frames.list_videos(root)
    if args.videos:
        videos = videos.iloc[: args.videos]
    truth_file = root / "ground_truth.csv"
    truth = pd.read_csv(truth_file, dtype={"subject": str, "code": str}) if truth_file.exists() else None
    return videos, truth, source


def report(timings: list[Timing]) -> str:
    table = pd.DataFrame([{
        "what": t.what, "processes": t.processes, "output frames": t.output_frames, "seconds": round(t.seconds, 2),
        "frames/s": round(t.frames_per_second, 1), "CPU ms/frame": round(t.cpu_ms_per_frame, 1),
        "detection rate": "" if np.isnan(t.detection_rate) else f"{t.detection_rate:.1%}",
        f"IoU>={IOU_HIT:g}": "" if np.isnan(t.true_hits) else f"{t.true_hits:.1%}",
    } for t in timings])
    return table.to_string(index=False)


def fastest(timings: list[Timing]) -> Timing:
    """The fastest of repeated runs: other processes on the machine only ever slow a run down."""
    return min(timings, key=lambda timing: timing.seconds)


def measure(videos: pd.DataFrame, truth: pd.DataFrame | None, config: frames.ExtractionConfig, workers: int,
            rounds: int, scratch: Path) -> list[Timing]:
    """Every contender once per round, interleaved, so that a busy spell of the machine hits all alike."""
    runs: dict[str, list[Timing]] = {"baseline": [], "extractor": [], "extractor_single": [], "decode": [],
                                     "decode_single": []}
    for round_index in range(rounds):
        baseline, baseline_boxes = run_baseline(videos, scratch / f"baseline_jpegs_{round_index}", config)
        extractor, manifest = run_extractor(videos, scratch / "crops", config, workers)
        extractor_single, _ = run_extractor(videos, scratch / "crops_single", config, 1)
        if truth is not None:
            baseline.true_hits = true_hit_rate(baseline_boxes, truth, ("x", "y", "w", "h"))
            extractor.true_hits = extractor_single.true_hits = true_hit_rate(
                manifest, truth, ("raw_x", "raw_y", "raw_w", "raw_h"))
        runs["baseline"].append(baseline)
        runs["extractor"].append(extractor)
        runs["extractor_single"].append(extractor_single)
        runs["decode"].append(run_decode_only(videos, config, workers))
        runs["decode_single"].append(run_decode_only(videos, config, 1))
        shutil.rmtree(scratch / f"baseline_jpegs_{round_index}", ignore_errors=True)
    return [fastest(runs[name]) for name in runs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--profile", default="demo", choices=["smoke", "demo"], help="synthetic set to generate")
    source.add_argument("--dataset", help="a folder of <subject>/<CODE>.MP4 videos instead")
    parser.add_argument("--data-dir", help="where to generate (and keep) the synthetic set; default: a temp dir")
    parser.add_argument("--subjects", type=int, default=2, help="synthetic subjects to generate (0: the profile's)")
    parser.add_argument("--videos", type=int, default=0, help="use only the first N videos (0: all)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="extractor processes")
    parser.add_argument("--detector", default="haar", choices=list(frames.DETECTORS))
    parser.add_argument("--rounds", type=int, default=2, help="repeat everything; the fastest run of each counts")
    args = parser.parse_args(argv)
    config = frames.ExtractionConfig(detector=args.detector)
    cv2.setNumThreads(1)  # the baseline is single-threaded Python as in the thesis; OpenCV may not parallelise it

    with tempfile.TemporaryDirectory(prefix="extraction-benchmark-") as scratch_name:
        scratch = Path(scratch_name)
        videos, truth, source = prepare_videos(args, scratch)
        print(f"{len(videos)} videos: {source}")
        print(f"same output frames for all: window {config.window[0]:.0%}-{config.window[1]:.0%}, "
              f"target {config.target_fps:g} fps, crops {config.size} px; machine: {os.cpu_count()} CPU cores; "
              f"fastest of {args.rounds} interleaved round(s)\n")
        baseline, extractor, extractor_single, decode, decode_single = measure(
            videos, truth, config, args.workers, max(1, args.rounds), scratch)

    print(report([baseline, extractor, extractor_single, decode, decode_single]))
    best = max((extractor, extractor_single), key=lambda timing: timing.frames_per_second)
    speedup = best.frames_per_second / baseline.frames_per_second
    detection_ok = best.detection_rate >= baseline.detection_rate
    speed_ok = speedup >= TARGET_SPEEDUP
    print(f"\nspeed-up over the baseline: {extractor.frames_per_second / baseline.frames_per_second:.1f}x with "
          f"{args.workers} processes, {extractor_single.frames_per_second / baseline.frames_per_second:.1f}x with one "
          f"(the algorithm alone, same single core as the baseline)")
    print(f"CPU time per frame (hardly inflated by other load on the machine): baseline "
          f"{baseline.cpu_ms_per_frame:.1f} ms, extractor {extractor_single.cpu_ms_per_frame:.1f} ms in one process: "
          f"{baseline.cpu_ms_per_frame / extractor_single.cpu_ms_per_frame:.1f}x less work")
    print(f"detection rate: extractor {best.detection_rate:.1%}, baseline {baseline.detection_rate:.1%}")
    print(f"the extractor runs at {extractor.frames_per_second / decode.frames_per_second:.0%} of the decode-only "
          f"limit with {args.workers} processes "
          f"({extractor_single.frames_per_second / decode_single.frames_per_second:.0%} "
          "with one)")
    print("note: both process the same frames; the extractor also writes a context crop per frame and tracks and "
          "smooths the boxes, the baseline writes a JPEG only where it found a face. On tiny frames (the smoke set) "
          "a whole-frame Haar search is cheap, so the gain is smallest there; on HD frames the baseline's search "
          "grows with the pixels while the extractor approaches the decoding limit.")
    met = speed_ok and detection_ok
    print(f"\nTARGET {'MET' if met else 'NOT MET'}: >= {TARGET_SPEEDUP:g}x faster ({'yes' if speed_ok else 'no'}: "
          f"{speedup:.1f}x, {best.processes} process{'es' * (best.processes > 1)}) with an equal or better detection "
          f"rate ({'yes' if detection_ok else 'no'})")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
