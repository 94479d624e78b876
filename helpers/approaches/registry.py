"""The one list of approaches, and experiment files read into the right configuration class.

An approach is known to the rest of the project (the runner and the command line, 06's tables, its widgets,
the notebooks' messages) only through this registry: ``APPROACHES`` maps its name to its configuration class,
whose class attributes say everything else (``APPROACH``, ``DISPLAY_NAME``, ``NOTEBOOK``, ``PREDICTION_UNIT``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from helpers.approaches.descriptors import DescriptorConfig
from helpers.approaches.lstm_pb import LSTMPBConfig
from helpers.approaches.multitask import MultiTaskConfig
from helpers.approaches.single_task import SingleTaskConfig
from helpers.approaches.temporal import TemporalConfig
from helpers.approaches.trajectories import TrajectoryConfig
from helpers.train.config import ExperimentConfig, naming_file, read_config_file

PREDICTION_UNITS = ("frame", "clip", "video")

#: approach name -> its configuration class (whose hooks say how it trains), in the order tables list them;
#: filled by ``register``.
APPROACHES: dict[str, type[ExperimentConfig]] = {}


def register(config: type[ExperimentConfig]) -> type[ExperimentConfig]:
    """Make an approach known everywhere: ``config`` (an ``ExperimentConfig`` subclass) must set its own
    ``APPROACH``, ``DISPLAY_NAME`` and ``NOTEBOOK`` (not inherit another approach's) and predict per
    ``frame``, ``clip`` or ``video``. Returns ``config``, so it also works as a class decorator."""
    if not (isinstance(config, type) and issubclass(config, ExperimentConfig)):
        raise TypeError(f"{config!r} is not a subclass of helpers.train.ExperimentConfig")
    unset = [name for name in ("APPROACH", "DISPLAY_NAME", "NOTEBOOK") if not vars(config).get(name)]
    if unset:
        raise ValueError(f"{config.__name__} does not set {', '.join(unset)} itself: give it its own class "
                         "attributes (see ExperimentConfig), or it would pass for the approach it inherits them from")
    if config.PREDICTION_UNIT not in PREDICTION_UNITS:
        raise ValueError(f"{config.__name__}.PREDICTION_UNIT is {config.PREDICTION_UNIT!r}; choose one of "
                         f"{', '.join(PREDICTION_UNITS)}")
    known = APPROACHES.get(config.APPROACH)
    if known is not None and known is not config:
        raise ValueError(f"the approach {config.APPROACH!r} is already {known.__name__}'s: give "
                         f"{config.__name__} another APPROACH")
    APPROACHES[config.APPROACH] = config
    return config


for built_in in (SingleTaskConfig, MultiTaskConfig, TemporalConfig, DescriptorConfig, TrajectoryConfig,
                 LSTMPBConfig):
    register(built_in)


def config_class(approach: str) -> type[ExperimentConfig]:
    try:
        return APPROACHES[approach]
    except KeyError:
        raise ValueError(f"unknown approach {approach!r}; choose one of {', '.join(APPROACHES)}") from None


def display_name(approach: str) -> str:
    """How tables and messages name ``approach``, e.g. ``single-task (03)``."""
    return config_class(approach).DISPLAY_NAME


def notebook_of(approach: str) -> str:
    """The notebook that trains ``approach`` (``notebooks/<name>.ipynb``), e.g. ``03_single_task``."""
    return config_class(approach).NOTEBOOK


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
