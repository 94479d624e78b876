"""One list of approaches: an approach defined in one module and registered is what 06's tables, its
inspector and the notebooks' messages know of it; nothing else lists the approaches."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest

from helpers import approaches, book
from helpers.analysis import compare, protocol_results, selection, widgets
from helpers.approaches import registry


@dataclass
class ToyConfig(approaches.SingleTaskConfig):
    """A new approach as a newcomer writes it: its own name, display name, notebook and prediction unit."""

    APPROACH = "toy"
    DISPLAY_NAME = "toy approach (07)"
    NOTEBOOK = "07_toy"
    PREDICTION_UNIT = "video"


@pytest.fixture()
def toy_approach():
    registered = approaches.register(ToyConfig)
    yield registered
    del registry.APPROACHES[ToyConfig.APPROACH]


def test_a_registered_approach_shows_in_06s_tables(tmp_path, write_fake_run, toy_approach):
    assert "toy" in compare.missing_approaches(tmp_path)
    for fold, subjects in enumerate((["s1", "s2"], ["s3"])):
        write_fake_run(tmp_path, "single_task", "cnn-ce", fold, subjects, seed=fold)
        write_fake_run(tmp_path, "toy", "toy-run", fold, subjects, seed=20 + fold)
    assert "toy" not in compare.missing_approaches(tmp_path)
    notes = protocol_results.missing_notes(tmp_path, "smoke", "kfold")  # what 06 prints
    assert any("notebooks/04_multi_task.ipynb" in note for note in notes) and not any("07_toy" in n for n in notes)

    runs = compare.load_comparable(tmp_path, "smoke")  # 06's cells, in order
    folds, scores = compare.comparison_folds(runs), compare.video_scores(runs)
    summary = selection.with_chosen_folds(compare.summary_table(folds, scores), runs)
    shown = compare.display_table(summary)
    assert "toy approach (07)" in set(shown["approach"]) and "single-task (03)" in set(shown["approach"])
    assert (summary.loc[summary["approach"] == "toy", "folds"] == 2).all()
    selected, choices = selection.selected_models(scores, runs)
    assert set(choices["approach"]) == {"single_task", "toy"}
    leaders = selection.leaders(selected, choices)
    ranked = compare.display_table(compare.score_summary(pd.concat([leaders, selected], ignore_index=True)))
    assert "toy approach (07)" in set(ranked["approach"]) and set(leaders["fold"]) == {0, 1}
    # a video-level approach has no timeline: the inspector leaves it out, reading its PREDICTION_UNIT
    assert set(widgets.model_predictions(runs)) == {"single_task/cnn-ce"}
    # its experiment files load into its class
    assert isinstance(approaches.config_from_dict({"approach": "toy"}), ToyConfig)


def test_with_no_results_06_names_every_approachs_notebook(tmp_path, toy_approach):
    notes = protocol_results.missing_notes(tmp_path, "demo", "kfold")
    assert len(notes) == len(approaches.APPROACHES)
    assert ("no toy approach (07) results under protocol 'kfold' for profile 'demo': run notebooks/07_toy.ipynb with "
            "PROFILE = 'demo' and PROTOCOL = 'kfold'") in notes
    with pytest.raises(compare.NothingToCompare, match="run notebooks 03, 04, 05 and 07 with PROFILE = 'demo'"):
        compare.load_comparable(tmp_path, "demo")
    assert compare.NothingToCompare("x")._render_traceback_() == ["NothingToCompare: x"]  # no traceback in Jupyter


def test_register_refuses_an_incomplete_or_clashing_approach():
    @dataclass
    class Unnamed(approaches.SingleTaskConfig):
        APPROACH = "unnamed"

    with pytest.raises(ValueError, match="DISPLAY_NAME, NOTEBOOK itself"):  # else it would show as single-task
        approaches.register(Unnamed)

    @dataclass
    class Clash(approaches.SingleTaskConfig):
        APPROACH = "single_task"
        DISPLAY_NAME = "another single-task"
        NOTEBOOK = "03_single_task"

    with pytest.raises(ValueError, match="already SingleTaskConfig's"):
        approaches.register(Clash)

    @dataclass
    class PerPixel(ToyConfig):
        APPROACH = "per_pixel"
        DISPLAY_NAME = "per pixel"
        NOTEBOOK = "07_toy"
        PREDICTION_UNIT = "pixel"

    with pytest.raises(ValueError, match="frame, clip, video"):
        approaches.register(PerPixel)
    with pytest.raises(TypeError):
        approaches.register(dict)
    assert set(approaches.APPROACHES) == {"single_task", "multitask", "temporal", "descriptors", "trajectories",
                                        "lstm_pb"}


def test_every_approach_names_an_existing_notebook():
    notebooks = {path.stem for path in book.notebook_paths()}
    for name, config in approaches.APPROACHES.items():
        assert config.NOTEBOOK in notebooks, f"{name}: no notebooks/{config.NOTEBOOK}.ipynb"
        assert config.DISPLAY_NAME and config.PREDICTION_UNIT in approaches.PREDICTION_UNITS
    assert compare.approach_name(compare.ENSEMBLE) == compare.ENSEMBLE_NAME
    assert compare.approach_name("retired") == "retired"  # results of an approach no longer registered
