"""The prediction inspector of notebook 06 and its static fallback."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from helpers import compare, labels, widgets


@pytest.fixture()
def fake_results(tmp_path, write_fake_run):
    for fold, subjects in enumerate((["s1"], ["s2"])):
        write_fake_run(tmp_path, "single_task", "cnn-ce", fold, subjects, seed=fold)
    return tmp_path


def test_frame_scores_marginalise_the_twelve_classes(fake_results):
    predictions = widgets.model_predictions(compare.load_all(fake_results))
    table = predictions["single_task/cnn-ce"]
    assert set(table["subject"]) == {"s1", "s2"}
    scores = widgets.frame_scores(table, "s2", "N2H")
    assert list(scores["frame"]) == [0, 1, 2]
    rows = table[(table["subject"] == "s2") & (table["code"] == "N2H")].sort_values("frame")
    genuine = [labels.class_index(e, True) for e in labels.EMOTIONS]
    assert np.allclose(scores["p_genuine"], rows[[f"prob_{k}" for k in genuine]].sum(axis=1))
    assert np.allclose(scores[list(labels.EMOTIONS)].sum(axis=1) + 0, 1.0, atol=1e-4)
    with pytest.raises(KeyError):
        widgets.frame_scores(table, "s9", "N2H")
    assert "true: genuine happy" in widgets.describe(table, "s2", "N2H")


def test_static_figure_with_and_without_crops(fake_results, tmp_path):
    table = widgets.model_predictions(compare.load_all(fake_results))["single_task/cnn-ce"]
    figure = widgets.static_figure(table, "s1", "S2N2H", crops_dir=None, model="m")
    assert len(figure.axes) == 1
    plt.close(figure)
    crops_dir = tmp_path / "crops"
    (crops_dir / "s1").mkdir(parents=True)
    from helpers import frames

    path = frames.video_files(crops_dir, "s1", "S2N2H")["face"]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.zeros((3, 8, 8, 3), dtype=np.uint8))
    figure = widgets.static_figure(table, "s1", "S2N2H", crops_dir=crops_dir)
    assert len(figure.axes) == 1 + 6
    plt.close(figure)
    assert widgets.find_crops_dir(tmp_path / "nothing") is None


def test_inspector_reacts_to_its_controls(fake_results):
    predictions = widgets.model_predictions(compare.load_all(fake_results))
    panel = widgets.inspector(predictions)
    controls = panel.controls
    assert controls["model"].value == "single_task/cnn-ce" and controls["subject"].value == "s1"
    assert list(controls["video"].options) == list(labels.CODES)
    assert controls["frame"].max == 2
    controls["subject"].value = "s2"
    controls["video"].value = "N2S"
    controls["frame"].value = 1
    assert "s2/N2S" in panel.children[2].value
    with pytest.raises(ValueError):
        widgets.inspector({})
    plt.close("all")
