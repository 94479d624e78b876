"""The approaches by name, and experiment files read into the right configuration class."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from helpers.approaches.descriptors import DescriptorConfig
from helpers.approaches.multitask import MultiTaskConfig
from helpers.approaches.single_task import SingleTaskConfig
from helpers.approaches.temporal import TemporalConfig
from helpers.approaches.trajectories import TrajectoryConfig
from helpers.train.config import ExperimentConfig, naming_file, read_config_file

#: approach name -> its configuration class (whose hooks say how it trains); add a new approach here.
APPROACHES: dict[str, type[ExperimentConfig]] = {
    config.APPROACH: config for config in (SingleTaskConfig, MultiTaskConfig, TemporalConfig, DescriptorConfig,
                                           TrajectoryConfig)
}


def config_class(approach: str) -> type[ExperimentConfig]:
    try:
        return APPROACHES[approach]
    except KeyError:
        raise ValueError(f"unknown approach {approach!r}; choose one of {', '.join(APPROACHES)}") from None


def config_from_dict(values: Mapping[str, Any]) -> ExperimentConfig:
    """The configuration of ``values`` (an experiment file's content), of the class its ``approach`` names
    (``single_task`` when it names none)."""
    return config_class(values.get("approach") or "single_task").from_dict(values)


def config_from_run(run_config: Mapping[str, Any]) -> ExperimentConfig:
    """The configuration a trained fold was made with, from its ``config.json`` (without what the run added
    there: its fold, the normalisation it measured ...)."""
    cls = config_class(run_config.get("approach") or "single_task")
    fields = {field.name for field in dataclasses.fields(cls)}
    return cls.from_dict({key: value for key, value in run_config.items() if key in fields})


def load_config(path: Path | str) -> ExperimentConfig:
    """One experiment file (``.json``, ``.yaml``/``.yml``) of any approach; a wrong setting is refused naming
    the file and the key."""
    with naming_file(path):
        return config_from_dict(read_config_file(path))
