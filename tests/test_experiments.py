"""The example experiment files in experiments/ and the grid files of every profile stay loadable, name real
models, losses and profiles, and build on a CPU where they are smoke-sized."""

import json
from pathlib import Path

import pytest
import torch

from helpers import approaches, models, profiles
from helpers.models import losses, weighting

EXPERIMENTS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.json"))
GRIDS = sorted(approaches.GRIDS_DIR.glob("*/*.yaml"))
IMAGE_APPROACHES = ("single_task", "multitask", "temporal")  # the others read landmarks


def test_there_are_examples_and_a_grid_for_every_profile_and_approach():
    assert EXPERIMENTS
    assert any(json.loads(p.read_text()).get("approach") == "multitask" for p in EXPERIMENTS)
    assert {(p.parent.name, p.stem) for p in GRIDS} == {(profile, approach) for profile in profiles.PROFILES
                                                         for approach in approaches.APPROACHES}


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_file_is_valid(path):
    config = approaches.load_config(path)  # one loader: the file's approach picks the class
    assert isinstance(config, approaches.config_class(json.loads(path.read_text()).get("approach", "single_task")))
    profiles.get_profile(config.profile)
    losses.build_loss(config.loss, **config.loss_params)
    assert config.train.epochs >= 1
    if isinstance(config, approaches.MultiTaskConfig):
        weighting.build_weighting(config.weighting, **config.weighting_options)
        losses.build_loss(config.authenticity_loss or config.loss, **config.loss_params)
    if config.profile == "smoke":  # the smoke examples build and run on a CPU
        images = torch.randn(2, 3, config.input_size, config.input_size)
        model = config.build_model(untrained=True)
        out = model(images, images) if getattr(config, "variant", "") == "fusion" else model(images)
        assert (out["authenticity"] if isinstance(out, dict) else out).shape[0] == 2


@pytest.mark.parametrize("path", GRIDS, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_grid_file_expands_into_valid_configurations(path):
    grid = approaches.read_grid(path)
    assert grid.profile == path.parent.name and grid.approach == path.stem
    configs = approaches.expand(grid)
    assert configs and len({c.run_name for c in configs}) == len(configs)
    for config in configs:
        assert config.profile == grid.profile and config.approach == grid.approach
        assert config.folds == list(range(profiles.get_profile(grid.profile).n_folds))
        losses.build_loss(config.loss, **config.loss_params)
        if grid.approach in IMAGE_APPROACHES:
            (models.temporal_entry if grid.approach == "temporal" else models.model_entry)(config.model)
            if grid.profile == "full":
                assert config.weights == "default", "the full profile fine-tunes pretrained weights"
        else:  # models of landmarks: nothing pretrained exists; the class checked the model's name
            assert config.weights is None and config.input_size is None


def test_a_notebook_narrows_a_grid_with_values_and_settings():
    configs = approaches.grid("full", "single_task", values={"model": ["resnet18"], "loss": "focal"},
                              settings={"train": {"epochs": 1}, "folds": [0], "weights": None})
    assert [c.run_name for c in configs] == ["resnet18-focal"]
    config = configs[0]
    assert config.train.epochs == 1 and config.train.lr == 1e-4, "settings change one key of train, keep the rest"
    assert config.folds == [0] and config.weights is None and config.save_weights == "first"
    with pytest.raises(ValueError, match="unknown"):
        approaches.grid("smoke", "single_task", settings={"epochs": 3})  # train settings go under "train"


def test_the_loader_refuses_unknown_choices(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"approach": "multitask", "variant": "cascade", "conditioning": "attention"}))
    with pytest.raises(ValueError, match="conditioning"):
        approaches.load_config(path)
    path.write_text(json.dumps({"approach": "landmarks"}))
    with pytest.raises(ValueError, match="unknown approach"):
        approaches.load_config(path)


def test_one_command_line_runs_every_approach_and_grid_files(tmp_path, monkeypatch):
    """``python -m helpers.train --config FILE``: the file's approach picks the configuration class; a grid file
    runs each of its configurations."""
    import pandas as pd

    from helpers import train
    from helpers.train import __main__ as command_line

    seen = []

    def record(config, force=False):
        seen.append(config)
        return pd.DataFrame([{"approach": config.approach, "run": config.run_name, "fold": 0, "video_accuracy": 0.5}])

    monkeypatch.setattr(train, "run_experiment", record)
    path = tmp_path / "clips.json"
    path.write_text(json.dumps({"approach": "temporal", "model": "conv3d", "heads": "two_task"}))
    command_line.main(["--config", str(path)])
    assert isinstance(seen[-1], approaches.TemporalConfig) and seen[-1].run_name == "conv3d-two_task"
    command_line.main(["--config", str(approaches.grid_file("smoke", "multitask"))])
    assert {type(c) for c in seen[1:]} == {approaches.MultiTaskConfig} and len(seen[1:]) == 5


def test_the_frame_selection_is_a_setting_that_keeps_earlier_run_ids():
    even = approaches.grid("demo", "single_task", settings={"folds": [0]})[0]
    expressive = approaches.grid("demo", "single_task", settings={"folds": [0], "frame_selection": "expressive"})[0]
    assert "frame_selection" not in even.identity(), "the default leaves the ids of earlier runs as they were"
    assert expressive.identity()["frame_selection"] == "expressive" and expressive.run_id != even.run_id
    multitask = approaches.grid("demo", "multitask", settings={"frame_selection": "expressive"})[0]
    assert multitask.identity()["frame_selection"] == "expressive"
    with pytest.raises(ValueError, match="frame_selection"):
        approaches.grid("demo", "single_task", settings={"frame_selection": "apex"})
