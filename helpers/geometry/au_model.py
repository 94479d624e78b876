"""Action-unit intensities from an AU model: the descriptors' second source, beside the landmark proxies.

NIT-OVGU (ChaLearn LAP 2017) described videos by the per-frame intensities of an AU estimator (their own,
trained on DISFA). Here the AU model is py-feat's detector (``feat.Detector``, its XGBoost AU model on HOG
features and landmarks; intensities in [0, 1]), run on the packed face crops of notebook 02. Its wheel holds
no weights: ``feat.Detector()`` downloads them from the Hugging Face hub on first use (on Colab), so without
the package or without internet :func:`load_au_detector` raises :class:`AUModelUnavailable`, saying what to do.

Each AU the model gives is mapped to the proxy whose role it plays (:data:`AU_MODEL_COLUMNS`: AU01 stands
where ``inner_brow_raise`` stands, ...), so the descriptors, their names and their weights read the same
whichever source made them. The proxies without an AU of their own (eye aperture, the three asymmetries)
have no AU-model series.

A source is named by a string (:data:`AU_SOURCES`): ``"landmarks"`` (the proxies, the default), ``"py-feat"``,
or ``"package.module:factory"``: ``factory()`` returns any object with ``intensities(faces)`` (faces
``[T, H, W, 3]`` uint8 RGB) returning a table of ``T`` rows with AU columns named as py-feat names them
(``AU01``...), NaN where it found no face: how the tests stand in for py-feat with known AU series.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

import numpy as np
import pandas as pd

#: py-feat's AU columns and the proxy role each takes (helpers.geometry.PROXIES names).
AU_MODEL_COLUMNS: dict[str, str] = {
    "AU01": "inner_brow_raise",
    "AU02": "outer_brow_raise",
    "AU04": "brow_lowerer",
    "AU06": "cheek_raise",
    "AU09": "nose_wrinkle",
    "AU12": "lip_corner_pull",
    "AU25": "lips_part",
    "AU26": "jaw_drop",
}
LANDMARK_SOURCE = "landmarks"
PY_FEAT_SOURCE = "py-feat"
AU_SOURCES = (LANDMARK_SOURCE, PY_FEAT_SOURCE)  # or "package.module:factory"


class AUModelUnavailable(RuntimeError):
    """The AU model cannot be loaded here (package missing, weights not downloadable): the message says why
    and what to do."""


class AUDetector(Protocol):
    def intensities(self, faces: np.ndarray) -> pd.DataFrame:
        """``T`` rows of AU intensities (columns ``AU01``...) of ``T`` face images ``[T, H, W, 3]``."""


def check_au_source(source: str) -> str:
    """``source`` if it names a source (:data:`AU_SOURCES` or ``package.module:factory``), else ValueError."""
    if source not in AU_SOURCES and ":" not in str(source):
        raise ValueError(f"unknown AU source {source!r}: use one of {', '.join(AU_SOURCES)} "
                         "or 'package.module:factory'")
    return source


class PyFeatAUDetector:
    """py-feat's AU model on face crops: the most confident face of each crop, NaN where none was found."""

    def __init__(self, device: str = "cpu"):
        try:
            feat = importlib.import_module("feat")
        except ImportError as error:
            raise AUModelUnavailable(
                "the AU source 'py-feat' needs the py-feat package, which is not installed: run "
                "`pip install py-feat` (on Colab), or keep au_source='landmarks' (the landmark proxies)") from error
        try:
            self.detector = feat.Detector(device=device)
        except Exception as error:  # huggingface_hub raises several kinds when it cannot download
            raise AUModelUnavailable(
                f"py-feat could not load its model weights ({type(error).__name__}: {error}): they are downloaded "
                "from the Hugging Face hub on first use, so this needs internet (Colab has it); or keep "
                "au_source='landmarks' (the landmark proxies)") from error

    def intensities(self, faces: np.ndarray) -> pd.DataFrame:
        torch = importlib.import_module("torch")
        images = torch.from_numpy(np.ascontiguousarray(faces)).permute(0, 3, 1, 2).float()  # 0-255, as py-feat
        found = pd.DataFrame(self.detector.detect(images, data_type="tensor", progress_bar=False))
        if "FaceScore" in found:
            found = found.sort_values("FaceScore", ascending=False)
        found = found.drop_duplicates("frame").set_index("frame") if "frame" in found else found
        return found.reindex(range(len(faces)))


_DETECTORS: dict[str, Any] = {}


def load_au_detector(source: str) -> AUDetector:
    """The AU detector of a source (cached per process): py-feat's, or ``factory()`` of ``module:factory``."""
    check_au_source(source)
    if source == LANDMARK_SOURCE:
        raise ValueError("the landmark proxies come from helpers.geometry.au_proxies, not from an AU detector")
    if source not in _DETECTORS:
        if source == PY_FEAT_SOURCE:
            _DETECTORS[source] = PyFeatAUDetector()
        else:
            module, factory = source.rsplit(":", 1)
            _DETECTORS[source] = getattr(importlib.import_module(module), factory)()
    return _DETECTORS[source]


def au_model_series(faces: np.ndarray, detector: AUDetector, source: str = "AU model") -> pd.DataFrame:
    """The AU intensities of a video's face crops ``[T, H, W, 3]`` as proxy-role columns (those of
    :data:`AU_MODEL_COLUMNS`), T rows; frames without a face interpolated from their neighbours as the
    proxies' failed frames are. Raises ValueError when the detector gives the wrong rows or AU columns, or
    finds no face in any frame."""
    table = detector.intensities(np.asarray(faces))
    missing = [column for column in AU_MODEL_COLUMNS if column not in table.columns]
    if len(table) != len(faces) or missing:
        raise ValueError(f"{source} returned {len(table)} rows for {len(faces)} faces"
                         + (f" and lacks {', '.join(missing)}" if missing else "")
                         + f": expected one row per face with the columns {', '.join(AU_MODEL_COLUMNS)}")
    values = table[list(AU_MODEL_COLUMNS)].to_numpy(dtype=float)
    good = np.isfinite(values).all(axis=1)
    if not good.any():
        raise ValueError(f"{source} found no face in any of the {len(faces)} frames: nothing to interpolate from")
    if not good.all():
        frames, known = np.arange(len(good)), np.flatnonzero(good)
        values = np.stack([np.interp(frames, known, column[known]) for column in values.T], axis=1)
    return pd.DataFrame(values, columns=list(AU_MODEL_COLUMNS.values()),
                        index=pd.RangeIndex(len(values), name="frame"))
