"""How much a grid of experiments will write, beside the free space where it writes it.

A free Google Drive holds 15 GB, and Colab keeps the work directory there, so a grid that does not fit
fails hours into training with a full disk. Before training, notebooks 02-05 list what they will write:

- **weights**: the final weights of each fold that keeps them (``save_weights``), stored in half precision
  (``helpers.results.save_weights``): 2 bytes per parameter;
- **checkpoints**: while a fold trains, ``last.pt`` (model, optimiser state, 4 bytes per value) and
  ``best.pt`` (the best epoch's model); deleted when the fold is done unless ``keep_checkpoints``, so only
  the largest fold in progress counts, not their sum;
- **crops**: the packed face (and context) crops of the videos not extracted yet (uint8).

Model sizes are measured, not guessed: each model is built on PyTorch's ``meta`` device (no memory, no
download) and its parameters counted. ``check`` raises :class:`BudgetError` with the numbers and what to
change when the total does not fit the free space.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from helpers import data, frames, profiles
from helpers.train.config import ExperimentConfig, keeps_weights

#: Values an optimiser keeps per trainable parameter (AdamW/Adam: two moments; SGD: momentum).
OPTIMIZER_STATES = {"adamw": 2, "adam": 2, "sgd": 1}
HALF_PRECISION_BYTES = 2
FULL_PRECISION_BYTES = 4
#: Keep this share of the free space untouched (Drive needs room for its own bookkeeping and temporary files).
SAFETY_MARGIN = 0.05
CHANGE_HINT = ("keep fewer weights (SETTINGS = {\"save_weights\": \"first\"} keeps one fold per configuration, "
               "\"none\" none), train fewer configurations or folds (GRID = {\"model\": [...]}, SETTINGS = "
               "{\"folds\": [0]}), free space on your Drive, or point WORK_DIR to a bigger disk")


class BudgetError(RuntimeError):
    """What the grid would write does not fit the free space of the work directory."""


@dataclass(frozen=True)
class ModelSize:
    """Counted on the meta device: ``values`` are all parameters and buffers, ``trainable`` those optimised."""

    values: int
    trainable: int

    @property
    def weights_bytes(self) -> int:
        """A fold's kept weights (half precision)."""
        return self.values * HALF_PRECISION_BYTES

    def checkpoint_bytes(self, optimizer: str = "adamw") -> int:
        """``last.pt`` (model + optimiser state) and ``best.pt`` (model) of a fold in progress, full precision."""
        states = OPTIMIZER_STATES.get(optimizer, 2)
        return (2 * self.values + states * self.trainable) * FULL_PRECISION_BYTES


def measure(build: Callable[[], nn.Module]) -> ModelSize:
    """Size of the model ``build()`` makes, built on the meta device (instant; nothing downloaded or allocated).
    ``build`` must not load pretrained weights (pass ``weights=None``: the architecture is the same)."""
    with torch.device("meta"):
        model = build()
    values = sum(t.numel() for t in model.state_dict().values() if t.is_floating_point())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return ModelSize(int(values), int(trainable))


@dataclass(frozen=True)
class Item:
    """One kind of file the grid writes: ``count`` files of ``each`` bytes (``peak``: only one at a time)."""

    what: str
    run: str
    count: int
    each: int
    peak: bool = False

    @property
    def total(self) -> int:
        return self.each if self.peak else self.count * self.each


@dataclass
class Budget:
    """What a grid will write into ``folder`` and the space free there."""

    folder: Path
    items: list[Item]
    free: int

    @property
    def total(self) -> int:
        """Everything kept, plus the largest of the files that exist only one at a time (checkpoints)."""
        kept = sum(item.total for item in self.items if not item.peak)
        return kept + max((item.total for item in self.items if item.peak), default=0)

    @property
    def usable(self) -> int:
        return int(self.free * (1 - SAFETY_MARGIN))

    @property
    def fits(self) -> bool:
        return self.total <= self.usable

    def table(self) -> pd.DataFrame:
        """One row per item, the largest first: what, run, files, size each, total (human-readable)."""
        items = sorted(self.items, key=lambda item: item.total, reverse=True)
        return pd.DataFrame([{
            "writes": item.what, "run": item.run,
            "files": "1 at a time" if item.peak else item.count,
            "each": data.format_bytes(item.each),
            "total": data.format_bytes(item.total) + (" (at most, while a fold trains)" if item.peak else ""),
        } for item in items], columns=["writes", "run", "files", "each", "total"])

    def summary(self) -> str:
        by_kind: dict[str, int] = {}
        for item in self.items:
            if not item.peak:
                by_kind[item.what] = by_kind.get(item.what, 0) + item.total
        peak = max((item.total for item in self.items if item.peak), default=0)
        parts = [f"{what} {data.format_bytes(size)}" for what, size in by_kind.items()]
        if peak:
            parts.append(f"checkpoints {data.format_bytes(peak)} at most at a time")
        detail = "; ".join(parts) or "nothing"
        return (f"this grid writes {data.format_bytes(self.total)} into {profiles.display_path(self.folder)} ({detail}); "
                f"{data.format_bytes(self.free)} is free there")


def free_space(folder: Path | str) -> int:
    """Free bytes on the disk that holds ``folder`` (or its nearest existing parent: it may not exist yet)."""
    folder = Path(folder).absolute()
    existing = next((p for p in [folder, *folder.parents] if p.exists()), Path("/"))
    return int(shutil.disk_usage(existing).free)


def plan(folder: Path | str, items: Iterable[Item]) -> Budget:
    return Budget(Path(folder), [item for item in items if item.count and item.each], free_space(folder))


def check(budget: Budget) -> Budget:
    """``budget`` when it fits; otherwise a :class:`BudgetError` with the numbers and what to change."""
    if budget.fits:
        return budget
    raise BudgetError(
        f"not enough space: {budget.summary()} (keeping {SAFETY_MARGIN:.0%} free). Nothing was trained. To make it "
        f"fit, {CHANGE_HINT}. The largest items:\n"
        + budget.table().head(8).to_string(index=False))


def crop_bytes(index: pd.DataFrame, extraction: frames.ExtractionConfig) -> int:
    """The packed crops ``extraction`` makes of the videos in ``index`` (``frames`` and ``fps`` columns):
    kept frames x side x side x 3 bytes x kinds (face, context)."""
    total = 0
    for row in index.itertuples():
        if pd.isna(row.frames) or not row.frames:
            continue
        kept = len(frames.sampled_indices(int(row.frames), float(row.fps or 0), extraction))
        total += kept * extraction.size * extraction.size * 3 * len(extraction.kinds)
    return int(total)


def run_items(run: str, folds: Iterable[int], weights_folds: Iterable[int], size: ModelSize,
              keep_checkpoints: bool = False, optimizer: str = "adamw") -> list[Item]:
    """What one configuration writes while it trains ``folds``: the weights of those in ``weights_folds``, and
    its checkpoints (one fold's at a time, unless ``keep_checkpoints`` keeps every fold's)."""
    folds = list(folds)
    kept = [fold for fold in folds if fold in set(weights_folds)]
    return [Item("weights", run, len(kept), size.weights_bytes),
            Item("checkpoints", run, len(folds), size.checkpoint_bytes(optimizer), peak=not keep_checkpoints)]


def crops_item(videos: pd.DataFrame, crops_root: Path | str, extraction: frames.ExtractionConfig) -> Item:
    """The crops still to extract: the videos of ``videos`` (the dataset index) not finished under
    ``crops_root`` with ``extraction``."""
    folder = frames.extraction_dir(crops_root, extraction)
    todo = videos[[not frames.is_finished(folder, row.subject, row.code, extraction, row.path)
                   for row in videos.itertuples()]]
    return Item("crops", extraction.name, len(todo), crop_bytes(todo, extraction) // max(1, len(todo)))


def grid_items(pending: Iterable[tuple[ExperimentConfig, int]]) -> list[Item]:
    """What the (configuration, fold) pairs still to train write: each configuration's model is measured once
    (``config.build_model(untrained=True)``), its folds' weights counted as ``save_weights`` says."""
    folds: dict[int, list[int]] = {}
    configs: dict[int, ExperimentConfig] = {}
    for config, fold in pending:
        folds.setdefault(id(config), []).append(int(fold))
        configs[id(config)] = config
    items = []
    for key, config in configs.items():
        kept = [fold for fold in folds[key] if keeps_weights(config.save_weights, config.folds, fold)]
        items += run_items(config.run_name, folds[key], kept, measure(lambda: config.build_model(untrained=True)),
                           config.keep_checkpoints, config.train.optimizer)
    return items
