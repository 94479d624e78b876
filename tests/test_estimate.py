"""The training time of a grid, estimated before training from a few measured steps of its first configuration
of each model, and the warning when it will not fit one Colab session."""

from __future__ import annotations

import pytest

from helpers import approaches, profiles, train
from helpers.train import estimate


def config(model="simple_cnn", epochs=2, batch_size=8, **settings):
    return approaches.SingleTaskConfig(model=model, batch_size=batch_size, train=train.TrainConfig(epochs=epochs),
                                       **settings)


def test_the_estimate_is_epochs_times_steps_times_seconds_for_each_pending_fold():
    first, other_loss, other_model = config(), config(loss="focal"), config(model="resnet18", epochs=3)
    timings = {estimate.timing_key(first): train.StepTiming("first", 0.5, 10),
               estimate.timing_key(other_model): train.StepTiming("resnet18", 2.0, 10)}
    assert estimate.timing_key(other_loss) == estimate.timing_key(first), "a loss does not change a step's time"
    pending = [(first, 0), (first, 1), (other_loss, 0), (other_model, 0)]
    assert estimate.grid_seconds(pending, timings) == pytest.approx(3 * 2 * 10 * 0.5 + 3 * 10 * 2.0)
    assert estimate.grid_seconds([(config(model="vgg16"), 0)], timings) == 0, "no timing: nothing counted"


@pytest.mark.parametrize("seconds, text", [(42, "42 s"), (7 * 60 + 10, "7 min"), (3 * 3600 + 5 * 60, "3 h 05 min")])
def test_durations_read_as_people_write_them(seconds, text):
    assert estimate.format_duration(seconds) == text


def test_a_grid_longer_than_a_colab_session_says_so_and_how_many():
    measured = [train.StepTiming("resnet50-ce", 0.25, 400)]
    short = train.GridTime("Tesla T4", 11 * 3600, measured)
    assert short.sessions == 1 and "Colab session" not in short.summary()
    assert short.summary().startswith("estimated training time on Tesla T4: 11 h 00 min (measured: resnet50-ce 250 ms")
    long = train.GridTime("Tesla T4", 30 * 3600, measured, ["descriptors-c0.1"])
    assert long.sessions == 3 and "more than one Colab session (12 h" in long.summary()
    assert "about 3 sessions" in long.summary() and "not estimated: descriptors-c0.1" in long.summary()
    assert train.GridTime("CPU", 5 * 3600, measured, session_hours=4).sessions == 2  # a setting, not a constant
    assert train.GridTime("CPU", 0.0).summary() == "nothing to train: no time needed"


@pytest.mark.slow
def test_a_smoke_grid_is_measured_on_a_few_real_steps_and_printed(tmp_path, capsys):
    paths = profiles.paths_for("smoke", tmp_path / "work", tmp_path / "results")
    settings = {"profile": "smoke", "work_dir": str(paths.work), "results_dir": str(paths.results), "folds": [0, 1]}
    grid = [config(epochs=2, batch_size=4, **settings), config(epochs=1, batch_size=4, loss="focal", **settings),
            approaches.DescriptorConfig(**settings)]
    plan = train.plan_grid(grid, paths, workers=1)
    measured = train.estimate_grid_time(plan, paths, steps=2)
    print(measured.summary())
    assert [m.run for m in measured.measured] == [plan.configs[0].run_name], "one measurement per model"
    timing = measured.measured[0]
    fold = plan.configs[0].fold_data(plan.dataset.index, plan.dataset.splits, 0, plan.crops_dir)
    assert timing.seconds_per_step > 0 and timing.steps_per_epoch >= -(-len(fold.train) // 4)
    assert measured.seconds == pytest.approx((2 + 1) * 2 * timing.steps_per_epoch * timing.seconds_per_step)
    assert measured.not_estimated == [plan.configs[2].run_name]  # the Rank-SVM ensemble fits without steps
    assert measured.device == "CPU" or measured.device.startswith(("NVIDIA", "Tesla"))
    out = capsys.readouterr().out
    assert f"estimated training time on {measured.device}" in out and "ms a step" in out
    assert not any(paths.results.rglob("metrics.json")), "measuring trains nothing for real"


@pytest.mark.parametrize("notebook", ["03_single_task", "04_multi_task", "05_temporal"])
def test_notebooks_print_the_estimate_beside_the_drive_budget(notebook):
    import json
    from pathlib import Path

    cells = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    sources = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    budget_cells = [source for source in sources if "train.plan_grid(" in source]
    assert budget_cells and all("estimate_grid_time(" in source and "print(" in source for source in budget_cells)
