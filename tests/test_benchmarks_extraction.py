"""benchmarks/extraction.py runs at its tiny size and reports finite figures (no speed is asserted: timings
belong to the benchmark, not to the tests)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_extraction_benchmark_runs_tiny_and_reports_finite_figures(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "extraction.py"), "--profile", "smoke",
                           "--subjects", "1", "--videos", "4", "--rounds", "1", "--workers", "2",
                           "--data-dir", str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=180, cwd=REPO)
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: a target not met, which tiny videos may miss
    lines = done.stdout.strip().splitlines()
    last = lines[-1]
    assert last.startswith(("TARGET MET", "TARGET NOT MET")), last
    figures = re.findall(r"[-+]?(?:\d+\.\d+|\d+|nan|inf)", last.split(":", 1)[1], flags=re.IGNORECASE)
    assert len(figures) >= 8, last
    assert all(math.isfinite(float(figure)) for figure in figures), last
    for needle in ("speed-up over the baseline", "extractor wall time / decode-only wall time", "detection rate",
                   "projected for SASE-FE's 643 videos"):
        line = next(line for line in lines if line.startswith(needle))
        assert not re.search(r"\b(nan|inf)\b", line, flags=re.IGNORECASE), line
    table = "\n".join(lines[lines.index(next(line for line in lines if line.strip().startswith("what"))):])
    assert "baseline" in table and "extractor" in table and "decode only" in table


def test_decode_only_uses_no_more_processes_than_videos_as_the_extractor(tmp_path, monkeypatch):
    import importlib.util

    import pandas as pd

    from helpers import frames, profiles, synthetic, video

    spec = importlib.util.spec_from_file_location("extraction_benchmark", REPO / "benchmarks" / "extraction.py")
    benchmark = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, benchmark)  # its dataclasses look their module up
    spec.loader.exec_module(benchmark)
    smoke = profiles.PROFILES["smoke"].synthetic
    clip, _ = synthetic.render_video(0, "N2H", smoke)
    path = synthetic.video_path(tmp_path, 0, "N2H", smoke.subjects)
    video.write_video(path, clip, smoke.fps)
    timing = benchmark.run_decode_only(pd.DataFrame({"path": [str(path)]}), frames.ExtractionConfig(), workers=4)
    threads = video.decode_threads(1)
    assert timing.processes == 1 and f"({threads} FFmpeg thread" in timing.what, timing
    assert timing.output_frames == len(frames.sampled_indices(len(clip), smoke.fps, frames.ExtractionConfig()))
