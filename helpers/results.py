"""Result artifacts: small files written atomically, with provenance, that later notebooks and the book read.

Everything is written to a temporary file in the same folder and then renamed, so that a Colab disconnect
in the middle of a write never leaves a half-written artifact behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from helpers import storage

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "av", "opencv-python-headless", "scikit-learn",
            "timm", "accelerate", "facenet-pytorch")


def atomic_write(path: Path | str, write: Callable[[BinaryIO], Any]) -> Path:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it into place, so that a
    killed process never leaves half a file behind (a full disk: ``storage.DiskFullError``)."""
    return storage.atomic_write(path, write)


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
# Training runs: results/<profile>/<approach>/<run>/fold_<k>/{config.json, env.json, history.csv,
# predictions.csv, metrics.json, complete.json}. complete.json is written last and lists every artifact of the
# fold (the kept weights included) with its size and hash: a fold is complete when they are all there, whole.
# --------------------------------------------------------------------------------------------------

METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"
COMPLETE_FILE = "complete.json"
VALIDATION_FILE = "val_predictions.csv"  # the validation subjects' predictions: what a configuration is chosen on
RUN_FILES = (CONFIG_FILE, "env.json", "history.csv", "predictions.csv", METRICS_FILE)


class DamagedRunError(RuntimeError):
    """An artifact of a fold is missing, cut short or unreadable; the message names it and what to do."""


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


def _file_record(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def write_run(folder: Path | str, metrics: dict, history: pd.DataFrame, predictions: pd.DataFrame,
              config: dict, env: dict, tables: dict[str, pd.DataFrame] | None = None,
              weights: tuple[Path, Any] | None = None) -> Path:
    """Write the artifacts of one trained fold, each atomically: ``tables`` (more CSV files), the kept
    ``weights`` (``(path, model)``, see :func:`save_weights`), ``metrics.json``, then ``complete.json``,
    which lists them all with their sizes and hashes (an overwritten fold is incomplete until then)."""
    folder = Path(folder)
    for marker in (COMPLETE_FILE, METRICS_FILE):
        (folder / marker).unlink(missing_ok=True)
    write_json(folder / CONFIG_FILE, config)
    write_json(folder / "env.json", env)
    write_csv(folder / "history.csv", history)
    write_csv(folder / "predictions.csv", predictions)
    for name, table in (tables or {}).items():
        write_csv(folder / name, table)
    kept = save_weights(*weights) if weights is not None else None
    write_json(folder / METRICS_FILE, metrics)
    names = [*RUN_FILES, *(tables or {})]
    write_json(folder / COMPLETE_FILE, {
        "files": {name: _file_record(folder / name) for name in names},
        "weights": {"name": kept.name, **_file_record(kept)} if kept is not None else None,
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return folder


def redo(folder: Path) -> str:
    """What to do about a damaged fold: train it again."""
    return (f"train this fold again (run_experiment(..., force=True), or python -m helpers.train --config "
            f"<file> --force), or delete {folder} and run the training again")


def completion(folder: Path | str) -> dict | None:
    """The completion marker of a fold (None when there is none); a damaged marker is a DamagedRunError."""
    path = Path(folder) / COMPLETE_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise DamagedRunError(f"{path} is unreadable ({type(error).__name__}: {error}): "
                              f"{redo(Path(folder))}") from error


def _check_size(path: Path, record: dict, folder: Path) -> None:
    if not path.exists():
        raise DamagedRunError(f"{path} is missing, although {folder / COMPLETE_FILE} lists it: {redo(folder)}")
    size = path.stat().st_size
    if size != record["bytes"]:
        raise DamagedRunError(f"{path} is damaged ({size} bytes, {record['bytes']} when it was written): "
                              f"{redo(folder)}")


def check_run(folder: Path | str, weights: Path | None = None) -> None:
    """Raise :class:`DamagedRunError` (or FileNotFoundError: not trained yet) unless the fold in ``folder`` is
    complete: its marker's files all there at their sizes, and ``weights`` (where the fold's weights are kept)
    too when the marker lists them. A marker without weights is complete: the weights are saved before the
    marker, so the fold was trained under a setting that kept none of it (``save_weights``, ``folds``). A fold
    written before markers existed is complete when its five files are readable (and ``weights`` exists)."""
    folder = Path(folder)
    marker = completion(folder)
    if marker is None:
        if not (folder / METRICS_FILE).exists():
            raise FileNotFoundError(f"{folder} holds no complete run (no {COMPLETE_FILE} or {METRICS_FILE})")
        for name in RUN_FILES:  # written before complete.json existed (or killed just before writing it)
            _read(folder / name, folder)
        if weights is not None and not Path(weights).exists():
            raise DamagedRunError(f"{weights}, the kept weights of {folder}, is missing: {redo(folder)}")
        return
    for name, record in marker["files"].items():
        _check_size(folder / name, record, folder)
    if weights is not None and marker.get("weights"):  # null: not kept by the setting it was trained under
        _check_size(Path(weights), marker["weights"], folder)


def kept_weights(folder: Path | str) -> bool | None:
    """Did the training of the fold in ``folder`` keep its weights? None: not known (no completion marker)."""
    marker = completion(folder)
    return None if marker is None else bool(marker.get("weights"))


def is_complete(folder: Path | str, weights: Path | None = None) -> bool:
    """Is the fold in ``folder`` complete (see :func:`check_run`)?"""
    try:
        check_run(folder, weights)
    except (FileNotFoundError, DamagedRunError):
        return False
    return True


def read_table(folder: Path | str, name: str) -> pd.DataFrame:
    """Another table of a fold (``attention.csv``, the descriptor weights...), checked against the fold's
    completion marker like the five files: a damaged one is a :class:`DamagedRunError` naming it."""
    folder = Path(folder)
    return _read(folder / name, folder, (completion(folder) or {}).get("files", {}).get(name))


def _read(path: Path, folder: Path, record: dict | None = None) -> Any:
    """A JSON or CSV artifact of a fold, checked against its marker ``record``; damage names the file."""
    if not path.exists():
        raise DamagedRunError(f"{path} is missing: {redo(folder)}")
    if record is not None and _file_record(path) != {"bytes": record["bytes"], "sha256": record["sha256"]}:
        raise DamagedRunError(f"{path} was changed or damaged since it was written ({path.stat().st_size} "
                              f"bytes, {record['bytes']} then): {redo(folder)}")
    try:
        if path.suffix == ".json":
            return json.loads(path.read_text())
        table = pd.read_csv(path, nrows=0)
        text = {column: str for column in ("subject", "code") if column in table.columns}
        return pd.read_csv(path, dtype=text or None)
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError, EmptyDataError, ParserError
        raise DamagedRunError(f"{path} is unreadable ({type(error).__name__}: {error}): {redo(folder)}") from error


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
    """Read a complete run folder, each file checked against the fold's completion marker (a damaged one is a
    :class:`DamagedRunError` naming it and what to do); ``predictions=False`` skips the largest file."""
    folder = Path(folder)
    check_run(folder)
    records = (completion(folder) or {}).get("files", {})

    def read(name: str) -> Any:
        return _read(folder / name, folder, records.get(name))

    frame = read("predictions.csv") if predictions and (folder / "predictions.csv").exists() else None
    return RunArtifacts(folder, read(METRICS_FILE), read(CONFIG_FILE), read("env.json"), read("history.csv"), frame)


def find_runs(profile_results: Path | str, approach: str | None = None, run: str | None = None) -> list[Path]:
    """Folders of complete runs under ``<results>/<profile>``, optionally of one approach and/or run."""
    pattern = f"{approach or '*'}/{run or '*'}/fold_*/{METRICS_FILE}"
    return sorted(path.parent for path in Path(profile_results).glob(pattern))
