"""Training with several processes: the README's multi-GPU command (``torchrun ... -m helpers.train``) run on
two CPU processes (gloo, ``ACCELERATE_USE_CPU=1``) from an empty work directory. The main process generates,
validates and extracts the data while the other waits; tables and banners are printed once; every test video
is predicted exactly once and the artifacts are written once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from helpers import results

REPO = Path(__file__).resolve().parents[1]
PREPARATION_BARS = ("synthetic videos", "probing videos", "extracting")  # tqdm bars of data preparation


def rank_logs(log_dir: Path, rank: int) -> tuple[str, str]:
    """The stdout and stderr of one process (torchrun's ``--log-dir`` with ``--redirects 3``)."""
    folder = next(log_dir.glob(f"*/attempt_0/{rank}"))
    return (folder / "stdout.log").read_text(), (folder / "stderr.log").read_text()


@pytest.mark.slow
def test_two_cpu_processes_prepare_once_print_once_and_predict_every_test_video_once(tmp_path):
    config = {"profile": "smoke", "approach": "single_task", "model": "simple_cnn", "weights": None,
              "image_size": 32, "frames_per_video": 2, "folds": [0], "workers": 0,
              "extraction": {"landmarks": False},  # frame models read no landmarks: a quicker extraction
              "work_dir": str(tmp_path / "work"), "results_dir": str(tmp_path / "results"),
              "train": {"epochs": 1, "progress": False}}
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    logs = tmp_path / "logs"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "--log-dir", str(logs), "--redirects", "3", "-m", "helpers.train", "--config", str(path)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    main_out, main_err = rank_logs(logs, 0)
    other_out, other_err = rank_logs(logs, 1)
    assert done.returncode == 0, f"{done.stderr[-1500:]}\nrank 0: {main_err[-1500:]}\nrank 1: {other_err[-1500:]}"

    # the data were prepared on a first run (nothing there before), by the main process only
    assert "Synthetic dataset at" in main_out and "not generated yet" in main_out
    assert not any(bar in other_err for bar in PREPARATION_BARS), other_err[-1500:]
    assert all(bar in main_err for bar in ("synthetic videos", "extracting"))
    # tables and banners once
    assert other_out == "", other_out[-1500:]
    for line in ("SASE-FE layout of", "72 videos in", "fold 0: training", "epoch 1/1", "paired_accuracy"):
        assert main_out.count(line) == 1, (line, main_out)

    work = tmp_path / "work" / "smoke"
    extracted = pd.read_csv(next((work / "crops").glob("*/videos.csv")))
    assert len(extracted) == 72 and not extracted.duplicated(["subject", "code"]).any()
    runs = results.find_runs(tmp_path / "results" / "smoke", "single_task")
    assert len(runs) == 1, runs
    run = results.load_run(runs[0])
    assert json.loads((runs[0] / "env.json").read_text())["processes"] == 2
    folds = pd.read_csv(runs[0].parent / "folds.csv")
    assert folds["fold"].tolist() == [0]

    # every test video of fold 0 predicted exactly once: each of its crops in one row
    splits = pd.read_csv(work / "splits.csv")
    test_subjects = set(splits.loc[splits["fold"] == 0, "subject"])
    expected = extracted[extracted["subject"].isin(test_subjects) & (extracted["status"] == "ok")]
    predictions = run.predictions
    assert not predictions.duplicated(["subject", "code", "frame"]).any()
    counts = predictions.groupby(["subject", "code"]).size()
    assert counts.to_dict() == expected.set_index(["subject", "code"])["frames"].to_dict()
