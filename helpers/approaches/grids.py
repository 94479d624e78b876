"""Each profile's grid of each approach, in one readable file: ``helpers/grids/<profile>/<approach>.yaml``.

A grid file names its approach and profile, the ``settings`` every configuration shares (``train`` holds the
training loop's) and the ``grid``: a mapping of settings to the values to try (every combination), or a
list of such mappings (their union: e.g. 04's shared models cross every loss with every weighting, its fusion
models use one loss). A notebook changes a grid without editing it:

- ``values``: the values to try for a setting, in every part of the grid (``{"model": ["resnet50"]}``);
- ``settings``: settings for every configuration (``{"train": {"epochs": 5}, "folds": [0]}``), applied last.

``load_configs(path)`` reads an experiment file or a grid file: ``python -m helpers.train --config`` takes both.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from helpers import profiles
from helpers.approaches.registry import config_class, config_from_dict
from helpers.train.config import ExperimentConfig, read_config_file

GRIDS_DIR = Path(__file__).resolve().parents[1] / "grids"


@dataclass
class Grid:
    """A grid file's content: its approach and profile, shared settings, and its parts (setting -> values)."""

    path: Path
    approach: str
    profile: str
    settings: dict[str, Any]
    parts: list[dict[str, list]]


def grid_file(profile: str, approach: str) -> Path:
    profiles.get_profile(profile)
    config_class(approach)
    return GRIDS_DIR / profile / f"{approach}.yaml"


def read_grid(path: Path | str) -> Grid:
    path = Path(path)
    content = read_config_file(path)
    if "grid" not in content:
        raise ValueError(f"{path} is not a grid file: it has no 'grid' (an experiment file? load it with load_config)")
    parts = content["grid"] if isinstance(content["grid"], list) else [content["grid"]]
    unknown = set(content) - {"approach", "profile", "settings", "grid"}
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; a grid file has approach, profile, "
                         "settings and grid")
    return Grid(path, content["approach"], content["profile"], dict(content.get("settings") or {}),
                [{key: _as_list(values) for key, values in part.items()} for part in parts])


def _as_list(values: Any) -> list:
    return list(values) if isinstance(values, (list, tuple)) else [values]


def merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied; the nested ``train`` settings are merged, not replaced."""
    merged = dict(base)
    for key, value in changes.items():
        if key == "train" and isinstance(value, Mapping):
            merged["train"] = {**dict(base.get("train") or {}), **value}
        else:
            merged[key] = value
    return merged


def expand(grid: Grid, values: Mapping[str, Any] | None = None, settings: Mapping[str, Any] | None = None
           ) -> list[ExperimentConfig]:
    """Every configuration of ``grid`` (one per combination, each run name once), with ``values`` replacing
    the values of those settings in every part and ``settings`` applied to every configuration."""
    values = {key: _as_list(choice) for key, choice in (values or {}).items()}
    folds = list(range(profiles.get_profile(grid.profile).n_folds))
    configs: dict[str, ExperimentConfig] = {}
    for part in grid.parts:
        axes = {**part, **values}
        for combination in itertools.product(*axes.values()):
            chosen = merge(merge({"folds": folds, **grid.settings}, dict(zip(axes, combination))), settings or {})
            config = config_from_dict({**chosen, "approach": grid.approach, "profile": grid.profile})
            configs.setdefault(config.run_name, config)
    return list(configs.values())


def grid(profile: str, approach: str, values: Mapping[str, Any] | None = None,
         settings: Mapping[str, Any] | None = None) -> list[ExperimentConfig]:
    """The configurations of ``profile``'s grid of ``approach``, changed by ``values`` and ``settings``."""
    return expand(read_grid(grid_file(profile, approach)), values, settings)


def grid_table(configs: Sequence[ExperimentConfig]) -> pd.DataFrame:
    """One readable row per configuration (its approach's ``describe``)."""
    return pd.DataFrame([config.describe() for config in configs])


def load_configs(path: Path | str) -> list[ExperimentConfig]:
    """The configurations of an experiment file (one) or of a grid file (all of them)."""
    content = read_config_file(path)
    return expand(read_grid(path)) if "grid" in content else [config_from_dict(content)]
