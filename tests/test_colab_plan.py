"""The reproduce page's GPU hours, thesis-sized grid and Drive sizes are the ones ``helpers.analysis.colab_plan``
computes from the grid files and SASE-FE's geometry: a change of a grid, a rate or the extraction's defaults
that is not carried to the page fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import approaches, frames
from helpers.analysis import colab_plan

PAGE = Path(__file__).resolve().parents[1] / "book" / "reproduce_on_colab.md"


@pytest.fixture(scope="module")
def numbers() -> dict:
    return colab_plan.page_numbers()


def row(text: str, start: str) -> str:
    rows = [line for line in text.splitlines() if line.startswith(start)]
    assert len(rows) == 1, f"one row starting {start!r} expected in {PAGE.name}, found {len(rows)}"
    return rows[0]


def test_the_gpu_hours_per_notebook_on_the_page_are_computed_from_the_full_grids(numbers):
    text = PAGE.read_text()
    full_table = text[text.index("## Expected time per notebook"):text.index("### A thesis-sized grid")]
    for notebook, (configs, folds, hours, sessions, weights) in numbers["full"].items():
        line = row(full_table, f"| {notebook[:2]} ")
        sessions = f"{sessions} session" + ("s" if sessions != 1 else "")
        assert f"| {configs} × {folds // configs} = {folds} | {hours}, {sessions} | kept weights {weights} |" in line, line
    assert f"All three grids together: {numbers['full_total'].removesuffix(' h')} GPU hours" in text


def test_the_thesis_sized_grid_on_the_page_is_the_one_computed(numbers):
    text = PAGE.read_text()
    thesis = text[text.index("### A thesis-sized grid"):text.index("### Drive space")]
    for notebook, (configs, folds, hours, _, weights) in numbers["thesis"].items():
        line = row(thesis, f"| {notebook[:2]} ")
        assert f"| {configs} × {folds // configs} = {folds} | {hours} | {weights} |" in line, line
        grid = colab_plan.THESIS_GRIDS[{"03": "single_task", "04": "multitask", "05": "temporal"}[notebook[:2]]][0]
        assert f"`{str(grid).replace(chr(39), chr(34))}`" in line, "the GRID to paste is the one computed"
    assert f"{numbers['thesis_total'].removesuffix(' h')} GPU hours in all" in thesis


def test_the_drive_sizes_on_the_page_are_computed_from_the_geometry(numbers):
    text = PAGE.read_text()
    drive = text[text.index("### Drive space"):text.index("## Where everything is saved")]
    kept = numbers["kept_frames"]
    assert f"643 × {kept} × 2 × 112 × 112 × 3 bytes = {numbers['crops_112']}" in drive
    assert f"{numbers['crops_224']}" in drive and f"= {numbers['landmarks']}" in drive
    for notebook, (*_, weights) in numbers["full"].items():
        assert weights in drive, f"{notebook}'s kept weights"
    assert 643 * kept * 2 * 112 * 112 * 3 == colab_plan.crops_bytes(), "the arithmetic shown is the code's"


def test_the_arithmetic_behind_the_numbers():
    """20 frames kept a video (half of 4 s at 10 fps); one fold of 03's VGG16 passes about 155 000 images."""
    assert colab_plan.kept_frames() == 20
    assert colab_plan.kept_frames(frames.ExtractionConfig(target_fps=5)) == 10
    train, val, test = colab_plan.fold_videos(5, 0.15)
    assert train + val + test == pytest.approx(643) and test == pytest.approx(128.6)
    vgg16 = next(c for c in approaches.grid("full", "single_task") if c.model == "vgg16")
    expected = 20 * (train * 16 + val * 8) + test * 20
    assert colab_plan.fold_images(vgg16, 5) == pytest.approx(expected)
    assert expected / colab_plan.ASSUMED_T4_IMAGES_PER_SECOND["vgg16"] / 60 == pytest.approx(25.8, abs=0.1)


def test_models_without_an_assumed_rate_are_listed_not_counted(monkeypatch):
    monkeypatch.delitem(colab_plan.ASSUMED_T4_IMAGES_PER_SECOND, "vgg16")
    cost = colab_plan.grid_costs("full", {"single_task": ({"model": ["vgg16", "resnet50"], "loss": ["focal"]},
                                                          {"folds": [0]})})["03_single_task"]
    assert cost.configurations == 2 and cost.folds == 2 and cost.not_estimated == ["single_task/vgg16-focal"]
    assert cost.gpu_hours == pytest.approx(colab_plan.fold_images(
        approaches.grid("full", "single_task", {"model": ["resnet50"], "loss": ["focal"]})[0], 5) / 250 / 3600)
    assert re.fullmatch(r"\d+\.\d\d GB", colab_plan.gigabytes(cost.weights_bytes))


def test_the_time_of_02_on_the_page_is_the_one_its_notebook_gives():
    import json

    notebook = PAGE.parents[1] / "notebooks" / "02_frame_extraction.ipynb"
    overview = "".join(json.loads(notebook.read_text())["cells"][0]["source"])
    minutes = re.search(r"full:\s+about (\d+-\d+) minutes", overview)
    assert minutes, "02's overview gives the full profile's time as 'full: about N-M minutes'"
    assert f"| CPU | - | {minutes[1]} min |" in row(PAGE.read_text(), "| 02 ")
