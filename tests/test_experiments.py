"""The example experiment files in experiments/ stay loadable and name real models, losses and profiles."""

import json
from pathlib import Path

import pytest
import torch

from helpers import losses, models, multitask, profiles, train

EXPERIMENTS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.json"))
# each approach's files are read by the module that runs them (python -m helpers.train / helpers.multitask)
LOADERS = {"single_task": train.load_config, "multitask": multitask.load_config}


def load(path: Path) -> train.ExperimentConfig:
    approach = json.loads(path.read_text()).get("approach", "single_task")
    assert approach in LOADERS, f"{path.name}: no loader for approach {approach!r}"
    return LOADERS[approach](path)


def test_there_are_examples():
    assert EXPERIMENTS
    assert any(json.loads(p.read_text()).get("approach") == "multitask" for p in EXPERIMENTS)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_file_is_valid(path):
    config = load(path)
    profiles.get_profile(config.profile)
    models.model_entry(config.model)
    losses.build_loss(config.loss, **config.loss_params)
    assert config.train.epochs >= 1
    if isinstance(config, multitask.MultiTaskConfig):
        multitask.build_weighting(config.weighting, **config.weighting_params)
        losses.build_loss(config.authenticity_loss or config.loss, **config.loss_params)
        if config.profile == "smoke":  # the smoke example builds and runs on a CPU
            size = config.image_size or models.model_entry(config.model).default_image_size
            images = torch.randn(2, 3, size, size)
            model = multitask.build_model(config, size)
            out = model(images, images) if config.variant == "fusion" else model(images)
            assert out["authenticity"].shape == (2, 2)


def test_the_multitask_loader_refuses_other_approaches_and_unknown_choices(tmp_path):
    path = tmp_path / "single.json"
    path.write_text(json.dumps({"approach": "single_task", "model": "simple_cnn"}))
    with pytest.raises(ValueError, match="single_task"):
        multitask.load_config(path)
    path.write_text(json.dumps({"approach": "multitask", "variant": "cascade", "conditioning": "attention"}))
    with pytest.raises(ValueError, match="conditioning"):
        multitask.load_config(path)
