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


def _write_fake_run(root, approach, run, fold, subjects, target="label", seed=0):
    """A complete fold of a run with random 12-class probabilities (3 frames per video)."""
    import numpy as np
    import pandas as pd

    from helpers import labels, results
    from helpers.analysis import compare
    from helpers.metrics import evaluate

    rng = np.random.default_rng(seed)
    rows = []
    for subject in subjects:
        for code in labels.CODES:
            video = labels.parse_code(code)
            for frame in range(3):
                probs = rng.dirichlet(np.ones(12))
                rows.append({"subject": subject, "code": code, "frame": frame, "label": video.label,
                             "emotion_label": video.emotion_index, "authenticity_label": video.authenticity_index,
                             "target": video.label, "pred": int(probs.argmax()),
                             **{c: probs[k] for k, c in enumerate(compare.PROBS)}})
    predictions = pd.DataFrame(rows)
    metrics = evaluate.evaluate_predictions(predictions, target)
    metrics["fold"] = fold
    metrics["subjects"] = {"test": list(subjects)}
    # validation scores (what selection looks at) from other random predictions than the test ones
    validation = predictions.assign(**{c: rng.dirichlet(np.ones(12), len(predictions))[:, k]
                                       for k, c in enumerate(compare.PROBS)})
    metrics["validation"] = evaluate.selection_row(evaluate.evaluate_predictions(validation, target))
    config = {"approach": approach, "run": run, "model": run, "loss": "ce", "target": target, "fold": fold}
    results.write_run(results.run_dir(root, approach, run, fold), metrics, pd.DataFrame({"epoch": [1]}),
                      predictions, config, {})


@pytest.fixture()
def write_fake_run():
    """Writes fake run artifacts: ``write_fake_run(root, approach, run, fold, subjects, target, seed)``."""
    return _write_fake_run


@pytest.fixture
def upload_as_the_browser_does():
    """``upload(widget, name, content)``: fill a ``FileUpload`` as the browser does, in the installed ipywidgets'
    format (8: a tuple of dicts; 7.7, Colab's: ``{name: {"metadata", "content"}}``, read-only for Python)."""
    import datetime

    import ipywidgets

    def upload(widget, name: str, content: bytes) -> None:
        if int(ipywidgets.__version__.split(".")[0]) >= 8:
            value = ({"name": name, "type": "video/mp4", "size": len(content), "content": memoryview(content),
                      "last_modified": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)},)
        else:
            value = {name: {"metadata": {"name": name, "type": "video/mp4", "size": len(content),
                                         "lastModified": 1767225600000}, "content": content}}
        widget.set_trait("value", value)

    return upload
