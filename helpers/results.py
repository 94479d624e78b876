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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "av", "opencv-python-headless", "scikit-learn",
            "timm", "accelerate")


def atomic_write_bytes(path: Path | str, payload: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


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
