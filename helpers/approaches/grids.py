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
from helpers.data import protocols
from helpers.approaches.registry import config_class, config_from_dict
from helpers.train.config import ExperimentConfig, naming_file, read_config_file
from helpers.train.setting_types import SettingError

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
    """A grid file, refusing one without approach, profile or grid, unknown keys and empty lists of values."""
    path = Path(path)
    content = read_config_file(path)
    if "grid" not in content:
        raise SettingError(f"{path} is not a grid file: it has no 'grid' (an experiment file? load it with "
                           "load_config)")
    unknown = set(content) - {"approach", "profile", "settings", "grid"}
    if unknown:
        raise SettingError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; a grid file has approach, profile, "
                           "settings and grid")
    missing = [key for key in ("approach", "profile") if not content.get(key)]
    if missing:
        raise SettingError(f"{path}: no {' and no '.join(missing)}: a grid file names both")
    if not isinstance(content.get("settings") or {}, Mapping):
        raise SettingError(f"{path}: settings must be a mapping of settings ({{name: value}})")
    listed = isinstance(content["grid"], list)
    parts = content["grid"] if listed else [content["grid"]]
    if not parts:
        raise SettingError(f"{path}: grid is an empty list: nothing to train; give settings to try, "
                           "e.g. grid: {model: [simple_cnn]}")
    checked = []
    for number, part in enumerate(parts):
        key = f"grid[{number}]" if listed else "grid"
        if not isinstance(part, Mapping):
            raise SettingError(f"{path}: {key} must map settings to the values to try, got {part!r}")
        checked.append({name: values_to_try(values, f"{key}.{name}", path) for name, values in part.items()})
    return Grid(path, content["approach"], content["profile"], dict(content.get("settings") or {}), checked)


def values_to_try(values: Any, key: str, source: Path | str) -> list:
    """``values`` as a list (one value is a list of one), refusing an empty list, which would try nothing."""
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if not values:
        raise SettingError(f"{source}: {key} is an empty list: nothing to try; give at least one value, or leave "
                           "the key out")
    return values


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
    source = f"{grid.path}, changed by values {dict(values)}" if values else grid.path
    values = {key: values_to_try(choice, f"values[{key!r}]", source) for key, choice in (values or {}).items()}
    folds = list(range(profiles.get_profile(grid.profile).n_folds))
    configs: dict[str, ExperimentConfig] = {}
    note = " (with the values and settings given)" if values or settings else ""
    for part in grid.parts:
        axes = {**part, **values}
        for combination in itertools.product(*axes.values()):
            chosen = merge(merge({"folds": folds, **grid.settings}, dict(zip(axes, combination))), settings or {})
            if chosen.get("protocol", protocols.DEFAULT_PROTOCOL) != protocols.DEFAULT_PROTOCOL and chosen["folds"] == folds:
                chosen["folds"] = [protocols.PROTOCOL_FOLD]  # a fixed test set: one fold
            with naming_file(grid.path, note):
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
    if "grid" not in content:
        with naming_file(path):
            return [config_from_dict(content)]
    return expand(read_grid(path))
