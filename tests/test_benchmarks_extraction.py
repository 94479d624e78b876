"""benchmarks/extraction.py runs at its tiny size and reports finite figures for each stage (no speed is asserted:
timings belong to the benchmark, not to the tests), and its naive landmark loop fits what it claims."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def run_tiny(tmp_path, *options: str) -> list[str]:
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "extraction.py"), "--profile", "smoke",
                           "--subjects", "1", "--videos", "4", "--rounds", "1", "--workers", "2",
                           "--data-dir", str(tmp_path / "data"), *options],
                          capture_output=True, text=True, timeout=240, cwd=REPO)
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: a target not met, which tiny videos may miss
    return done.stdout.strip().splitlines()


def finite_figures(line: str) -> list[float]:
    figures = re.findall(r"[-+]?(?:\d+\.\d+|\d+|nan|inf)", line.split(":", 1)[1], flags=re.IGNORECASE)
    assert all(math.isfinite(float(figure)) for figure in figures), line
    return [float(figure) for figure in figures]


@pytest.mark.slow  # the whole benchmark, every contender: left out of `make test-fast`
def test_the_extraction_benchmark_runs_tiny_and_reports_finite_figures(tmp_path):
    lines = run_tiny(tmp_path)
    last = lines[-1]
    assert last.startswith(("TARGET MET", "TARGET NOT MET")), last
    assert len(finite_figures(last)) >= 8, last
    assert "crops" in last and "landmarks" in last and "ms wall a frame" in last, last
    for needle in ("crops: speed-up over the naive crop loop", "crops: extractor wall time / decode-only wall time",
                   "landmarks: speed-up over the naive landmark loop",
                   "landmarks: extractor wall time / decode-only wall time", "detection rate",
                   "landmark stage per kept frame", "projected for SASE-FE's 643 videos"):
        line = next(line for line in lines if line.startswith(needle))
        assert not re.search(r"\b(nan|inf)\b", line, flags=re.IGNORECASE), line
    stage = next(line for line in lines if line.startswith("landmark stage per kept frame"))
    fit_ms = float(re.search(r"([\d.]+) ms wall fitting", stage).group(1))
    assert fit_ms > 0, stage  # the extractor timed its landmark fits
    table = "\n".join(lines[lines.index(next(line for line in lines if line.strip().startswith("what"))):])
    for contender in ("naive crop loop", "naive landmark loop", "crops only", "crops + landmarks", "decode only"):
        assert contender in table, contender


@pytest.mark.slow
def test_without_landmarks_the_benchmark_judges_the_crops_alone(tmp_path):
    lines = run_tiny(tmp_path, "--no-landmarks")
    last = lines[-1]
    assert last.startswith(("TARGET MET", "TARGET NOT MET")), last
    assert "crops" in last and "the naive loop" in last and "landmarks off" in last, last
    finite_figures(last)
    assert not any(line.startswith(("landmarks:", "landmark stage")) for line in lines), lines
    assert "naive landmark loop" not in "\n".join(lines) and "crops + landmarks" not in "\n".join(lines)


def test_the_naive_landmark_loop_fits_68_points_where_dlib_finds_the_face(tmp_path, monkeypatch):
    import dlib

    from helpers import frames

    benchmark = load_benchmark(monkeypatch)
    path, clip, smoke = smoke_video(tmp_path)
    config = frames.ExtractionConfig()
    rows = benchmark.naive_landmark_video(str(path), tmp_path / "points.npy", config,
                                          dlib.get_frontal_face_detector(), frames.cached_predictor())
    points = np.load(tmp_path / "points.npy")
    kept = frames.sampled_indices(len(clip), smoke.fps, config)
    assert [row["frame"] for row in rows] == kept.tolist()
    assert points.shape == (len(kept), 68, 2)
    found = np.array([row["detected"] for row in rows])
    assert np.isfinite(points[found]).all() and np.isnan(points[~found]).all()
    assert found.any(), "dlib's detector found no face in any kept frame of a synthetic video"


def smoke_video(folder):
    """One smoke-profile synthetic video written under ``folder``: its path, its frames and the smoke spec."""
    from helpers import profiles, synthetic, video

    smoke = profiles.PROFILES["smoke"].synthetic
    clip, _ = synthetic.render_video(0, "N2H", smoke)
    path = synthetic.video_path(folder, 0, "N2H", smoke.subjects)
    video.write_video(path, clip, smoke.fps)
    return path, clip, smoke


def load_benchmark(monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("extraction_benchmark", REPO / "benchmarks" / "extraction.py")
    benchmark = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, benchmark)  # its dataclasses look their module up
    spec.loader.exec_module(benchmark)
    return benchmark


def test_decode_only_uses_no_more_processes_than_videos_as_the_extractor(tmp_path, monkeypatch):
    import pandas as pd

    from helpers import frames, video

    benchmark = load_benchmark(monkeypatch)
    path, clip, smoke = smoke_video(tmp_path)
    timing = benchmark.run_decode_only(pd.DataFrame({"path": [str(path)]}), frames.ExtractionConfig(), workers=4)
    threads = video.decode_threads(1)
    assert timing.processes == 1 and f"({threads} FFmpeg thread" in timing.what, timing
    assert timing.output_frames == len(frames.sampled_indices(len(clip), smoke.fps, frames.ExtractionConfig()))
