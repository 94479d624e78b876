"""Result artifacts: small files written atomically, with provenance, that later notebooks and the book read.

Everything is written to a temporary file in the same folder and then renamed, so that a Colab disconnect
in the middle of a write never leaves a half-written artifact behind.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "av", "opencv-python-headless", "scikit-learn",
            "timm", "accelerate", "facenet-pytorch")


def atomic_write(path: Path | str, write: Callable[[BinaryIO], Any]) -> Path:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it into place, so that a
    killed process never leaves half a file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: Path | str, payload: bytes) -> Path:
    return atomic_write(path, lambda file: file.write(payload))


def atomic_write_text(path: Path | str, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path | str, content: Any) -> Path:
    return atomic_write_text(path, json.dumps(content, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path | str) -> Any:
    return json.loads(Path(path).read_text())


def write_csv(path: Path | str, frame: pd.DataFrame) -> Path:
    return atomic_write_text(path, frame.to_csv(index=False))


def git_commit(folder: Path | None = None) -> str:
    """The commit of the checkout the code runs from, '+dirty' when it has changes; 'unknown' outside git."""
    folder = folder or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def library_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def provenance(profile: str, **extra: Any) -> dict[str, Any]:
    """Who/what/where produced an artifact: enough to reproduce it or to know it is stale."""
    return {
        "profile": profile,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "platform": platform.platform(),
        "libraries": library_versions(),
        **extra,
    }


# --------------------------------------------------------------------------------------------------
# Training runs: results/<profile>/<approach>/<run>/fold_<k>/{metrics.json, history.csv, predictions.csv,
# config.json, env.json}. metrics.json is written last, so its presence marks a complete run.
# --------------------------------------------------------------------------------------------------

METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"
VALIDATION_FILE = "val_predictions.csv"  # the validation subjects' predictions: what a configuration is chosen on
RUN_FILES = (CONFIG_FILE, "env.json", "history.csv", "predictions.csv", METRICS_FILE)


def atomic_torch_save(path: Path | str, payload: Any) -> Path:
    """``torch.save`` straight into the temporary file (no in-memory copy of a large checkpoint)."""
    import torch

    return atomic_write(path, lambda file: torch.save(payload, file))


def save_weights(path: Path | str, model: Any) -> Path:
    """A trained model's weights in half precision (half the bytes; the predictions they give differ from the
    full-precision model's by about 1e-3 in probability). ``model.load_state_dict`` reads them back into a
    full-precision model as usual; integer buffers (batch-norm counters) are kept as they are."""
    state = {name: value.detach().half() if value.is_floating_point() else value
             for name, value in model.state_dict().items()}
    return atomic_torch_save(path, state)


def fold_dir_name(fold: int) -> str:
    return f"fold_{int(fold)}"


def run_dir(profile_results: Path | str, approach: str, run: str, fold: int) -> Path:
    """``<results>/<profile>/<approach>/<run>/fold_<k>``; ``profile_results`` is ``RunPaths.results``."""
    return Path(profile_results) / approach / run / fold_dir_name(fold)


def table_fingerprint(table: pd.DataFrame, columns: list[str] | None = None) -> str:
    """A short hash of a table's content (row order ignored): tells whether two runs saw the same data."""
    import hashlib

    part = table[columns] if columns else table
    text = part.astype(str).sort_values(list(part.columns)).to_csv(index=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def device_info() -> dict[str, Any]:
    """The compute this process sees (CPU count, GPU name and count)."""
    import torch

    info: dict[str, Any] = {"cpu_count": os.cpu_count(), "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
        info["gpu_capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
    return info


def environment(profile: str, dataset_fingerprint: str | None = None, **extra: Any) -> dict[str, Any]:
    """env.json of a run: provenance plus device and dataset fingerprint."""
    return provenance(profile, device=device_info(), dataset_fingerprint=dataset_fingerprint, **extra)


def write_run(folder: Path | str, metrics: dict, history: pd.DataFrame, predictions: pd.DataFrame,
              config: dict, env: dict) -> Path:
    """Write the five artifacts of one trained fold, each atomically, metrics.json last."""
    folder = Path(folder)
    (folder / METRICS_FILE).unlink(missing_ok=True)  # an overwritten run is incomplete until the end
    write_json(folder / CONFIG_FILE, config)
    write_json(folder / "env.json", env)
    write_csv(folder / "history.csv", history)
    write_csv(folder / "predictions.csv", predictions)
    write_json(folder / METRICS_FILE, metrics)
    return folder


def is_complete(folder: Path | str) -> bool:
    return (Path(folder) / METRICS_FILE).exists()


@dataclass
class RunArtifacts:
    """What one trained fold left behind (read back by notebooks 03-06 and the book; nothing retrains)."""

    folder: Path
    metrics: dict
    config: dict
    env: dict
    history: pd.DataFrame
    predictions: pd.DataFrame | None

    @property
    def run_id(self) -> str:
        """The run's folder name: its name and the hash of its settings (older runs: the folder's name)."""
        return str(self.config.get("run_id") or self.folder.parent.name)


def load_run(folder: Path | str, predictions: bool = True) -> RunArtifacts:
    """Read a complete run folder; ``predictions=False`` skips the largest file."""
    folder = Path(folder)
    if not is_complete(folder):
        raise FileNotFoundError(f"{folder} holds no complete run (no {METRICS_FILE})")
    frame = (pd.read_csv(folder / "predictions.csv", dtype={"subject": str, "code": str})
             if predictions and (folder / "predictions.csv").exists() else None)
    return RunArtifacts(folder, read_json(folder / METRICS_FILE), read_json(folder / CONFIG_FILE),
                        read_json(folder / "env.json"), pd.read_csv(folder / "history.csv"), frame)


def find_runs(profile_results: Path | str, approach: str | None = None, run: str | None = None) -> list[Path]:
    """Folders of complete runs under ``<results>/<profile>``, optionally of one approach and/or run."""
    pattern = f"{approach or '*'}/{run or '*'}/fold_*/{METRICS_FILE}"
    return sorted(path.parent for path in Path(profile_results).glob(pattern))
