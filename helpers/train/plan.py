"""What a notebook does before and around training a grid: which folds are still to train, the dataset and
its crops, what the grid will write beside the free space, then every pending fold.

``plan_grid`` is the same for notebooks 03-05 (and the command line): it skips what has results (unless
forced), finds the dataset (where 01 recorded it, or the location given), checks the size of what the grid
will write against the work directory's free space (``budget``: refused before any training when it does not
fit), extracts missing crops, and on Colab copies the crops to the VM's disk, where random reads are fast.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from helpers import data, profiles
from helpers.data import protocols
from helpers.train import budget
from helpers.train.config import ExperimentConfig
from helpers.train.crops import stage_locally
from helpers.train.runner import (ensure_crops, extraction_config, incomplete_reason, run_experiment,
                                  with_extraction)
from helpers.train.setting_types import SettingError


@dataclass
class GridPlan:
    """A grid, what of it is still to train, and (when something is, or when asked) its data."""

    configs: list[ExperimentConfig]
    pending: list[tuple[ExperimentConfig, int]]
    dataset: data.Dataset | None = None
    crops_dir: Path | None = None
    space: budget.Budget | None = None

    @property
    def run_ids(self) -> list[str]:
        """The folder names of the grid's runs (their settings' hash included): what to read results of."""
        return [config.run_id for config in self.configs]

    @property
    def total(self) -> int:
        return sum(len(config.folds or ()) for config in self.configs)

    def summary(self) -> str:
        text = f"{len(self.pending)} of {self.total} (configuration, fold) pairs to train"
        if self.space is not None:
            text += f"; {self.space.summary()}"
        return text + (f"\ncrops: {profiles.display_path(self.crops_dir)}" if self.crops_dir else "")


def pending_folds(configs: Sequence[ExperimentConfig], paths: profiles.RunPaths, force: bool = False
                  ) -> list[tuple[ExperimentConfig, int]]:
    """The (configuration, fold) pairs without results (every pair with ``force``)."""
    return [(config, fold) for config in configs for fold in config.folds or ()
            if force or incomplete_reason(paths, config, fold) is not None]


def plan_grid(configs: Sequence[ExperimentConfig], paths: profiles.RunPaths, force: bool = False,
              drive_id: str | None = None, dataset_dir: str | Path | None = None, data_always: bool = False,
              workers: int | None = None, dataset: data.Dataset | None = None) -> GridPlan:
    """The plan of a grid; with something to train (or ``data_always``), its dataset and crops are made ready
    and what it will write is checked against the free space (``budget.BudgetError`` when it would not fit).
    ``dataset``: one an earlier plan of the same profile prepared (its report is not printed again). The plan's
    dataset is the one the configurations' protocol uses (``helpers.data.protocols.protocol_dataset``)."""
    if not configs:
        raise SettingError("the grid holds no configuration: nothing to train (a list of values to try was empty?)")
    # the crops each configuration trains on are part of its identity (and of its run id)
    configs = [with_extraction(config, paths.crops) for config in configs]
    plan = GridPlan(configs, pending_folds(configs, paths, force))
    if not plan.pending and not data_always:
        return plan  # every fold has results: nothing needs the data
    plan.dataset = protocols.protocol_dataset(
        dataset or data.prepare_dataset(paths.profile, paths, drive_id=drive_id, dataset_dir=dataset_dir),
        configs[0].protocol, protocols.fixed_split_path(paths.splits))  # the videos that train, choose and test
    extraction = extraction_config(configs[0], paths.crops)
    plan.space = budget.check(budget.plan(paths.work, [*budget.grid_items(plan.pending),
                                                       budget.crops_item(plan.dataset.usable, paths.crops, extraction)]))
    crops_dir = ensure_crops(plan.dataset, paths, configs[0], workers=workers or max(1, (os.cpu_count() or 2) - 1))
    if profiles.on_colab():  # random reads from the mounted Drive are slow: train from a copy on the VM's disk
        crops_dir = stage_locally(crops_dir, paths.scratch / "crops")
    plan.crops_dir = crops_dir
    return plan


def run_grid(plan: GridPlan, force: bool = False, epoch_lines: bool = False) -> float:
    """Train every configuration with pending folds (each fold resumes from its checkpoint if one was
    interrupted); returns the seconds it took. One printed line per fold, its epochs in the fold folder's
    ``train.log``; ``epoch_lines`` also prints every epoch."""
    started = time.perf_counter()
    for config in plan.configs:
        if any(pending is config for pending, _ in plan.pending):
            if not epoch_lines:  # verbose is not part of the run's identity: same run id, same folders
                config = dataclasses.replace(config, train=dataclasses.replace(config.train, verbose=False))
            run_experiment(config, plan.dataset, plan.crops_dir, force=force)
    return time.perf_counter() - started
