"""Shared fixtures. Tests never write into the repository's work/ or results/ folders."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def smoke_environment(tmp_path_factory) -> dict[str, Path]:
    """A private work and results directory for the notebooks executed by the tests (kernels inherit it)."""
    base = Path(os.environ.get("GENUINE_POSED_TEST_DIR") or tmp_path_factory.mktemp("smoke"))
    folders = {"work": base / "work", "results": base / "results", "executed": base / "executed",
               "book": base / "book"}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    previous = {key: os.environ.get(key) for key in ("GENUINE_POSED_WORK", "GENUINE_POSED_RESULTS")}
    os.environ["GENUINE_POSED_WORK"] = str(folders["work"])
    os.environ["GENUINE_POSED_RESULTS"] = str(folders["results"])
    yield folders
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
