"""benchmarks/training.py and benchmarks/temporal.py run at tiny sizes and end on their TARGET line with finite
figures (no speed is asserted: timings belong to the benchmarks, not to the tests)."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # whole benchmark runs: left out of `make test-fast`


def run_benchmark(script: str, tmp_path: Path, *options: str) -> list[str]:
    environment = {**os.environ, "GENUINE_POSED_WORK": str(tmp_path / "work"),
                   "GENUINE_POSED_RESULTS": str(tmp_path / "results")}  # never the repository's own crops
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *options], capture_output=True,
                          text=True, timeout=300, cwd=REPO, env=environment)
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: the target not met, which tiny sizes may miss
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith(("TARGET MET: ", "TARGET NOT MET: ")), lines[-1]
    assert (done.returncode == 0) == lines[-1].startswith("TARGET MET"), lines[-1]
    figures = re.findall(r"[-+]?(?:\d+\.\d+|nan|inf)", lines[-1], flags=re.IGNORECASE)
    assert len(figures) >= 3 and all(math.isfinite(float(figure)) for figure in figures), lines[-1]
    return lines


@pytest.mark.parametrize(("script", "options", "words"), [
    ("training.py", ("--image-size", "32", "--batch-size", "4", "--workers", "0", "--batches", "2",
                     "--model-steps", "1", "--device", "cpu"), ("ResNet50 training step", "naive loader")),
    ("temporal.py", ("--size", "32", "--clip-len", "4", "--batch-size", "2", "--workers", "0", "--batches", "2",
                     "--steps", "1", "--videos", "4", "--frames", "12"), ("conv3d training step", "clips/s")),
], ids=["training", "temporal"])
def test_the_loader_benchmarks_end_on_their_target_line(tmp_path, script, options, words):
    last = run_benchmark(script, tmp_path, *options)[-1]
    assert all(word in last for word in words), last
