"""The prediction inspector of notebook 06, its static fallback, and the upload panel (ipywidgets 7 and 8)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers import labels
from helpers.analysis import compare, widgets


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


def test_models_scoring_whole_videos_have_no_timeline_to_inspect(fake_results):
    runs = compare.load_all(fake_results)
    video_level = runs[0].predictions.drop_duplicates(["subject", "code"]).assign(frame=0)
    runs.append(dataclasses.replace(runs[0], predictions=video_level,
                                    config={**runs[0].config, "approach": "descriptors", "run": "rank_svm"}))
    assert set(widgets.model_predictions(runs)) == {"single_task/cnn-ce"}
    # a frame model whose videos kept one frame each still has its (one-frame) timeline
    one_frame = dataclasses.replace(runs[0], predictions=video_level, config={**runs[0].config, "run": "one_frame"})
    assert set(widgets.model_predictions([one_frame])) == {compare.model_name(one_frame.config)}


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


# What FileUpload.value holds after one upload of b"abc" as "my clip.MP4", in each ipywidgets version
# (8: last_modified a datetime; 7: lastModified in milliseconds).
IPYWIDGETS_8_VALUE = ({"name": "my clip.MP4", "type": "video/mp4", "size": 3, "content": memoryview(b"abc"),
                       "last_modified": datetime(2026, 11, 1, tzinfo=timezone.utc)},)
IPYWIDGETS_7_VALUE = {"my clip.MP4": {"metadata": {"name": "my clip.MP4", "type": "video/mp4", "size": 3,
                                                   "lastModified": 1700000000000}, "content": b"abc"}}


@pytest.mark.parametrize("value", [IPYWIDGETS_8_VALUE, IPYWIDGETS_7_VALUE], ids=["ipywidgets8", "ipywidgets7"])
def test_uploaded_files_reads_both_ipywidgets_formats(value):
    assert widgets.uploaded_files(value) == [("my clip.MP4", b"abc")]


@pytest.mark.parametrize("empty", [(), {}], ids=["ipywidgets8", "ipywidgets7"])
def test_nothing_uploaded_yet_is_no_file(empty):
    assert widgets.uploaded_files(empty) == []


def test_upload_panel_saves_and_analyses_the_uploaded_video(tmp_path, monkeypatch, upload_as_the_browser_does):
    from helpers import frames

    analysed = []

    def fake_video_figure(path, trained, extraction, out_dir, model=""):
        analysed.append((path, path.read_bytes()))
        return plt.figure(), None

    monkeypatch.setattr(widgets, "video_figure", fake_video_figure)
    panel = widgets.upload_panel([], frames.ExtractionConfig(), tmp_path, model="m")
    upload_as_the_browser_does(panel.controls["upload"], "my clip.MP4", b"abc")
    assert analysed == [(tmp_path / "my_clip.mp4", b"abc")]
    plt.close("all")
