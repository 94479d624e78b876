"""The example experiment files in experiments/ stay loadable and name real models, losses and profiles."""

from pathlib import Path

import pytest

from helpers import losses, models, profiles, train

EXPERIMENTS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.json"))


def test_there_are_examples():
    assert EXPERIMENTS


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_file_is_valid(path):
    config = train.load_config(path)
    profiles.get_profile(config.profile)
    models.model_entry(config.model)
    losses.build_loss(config.loss, **config.loss_params)
    assert config.train.epochs >= 1
