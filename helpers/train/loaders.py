"""DataLoaders for the training loop: an epoch-seeded shuffle (the same order on every process and after a
resume), persistent workers, pinned memory on a GPU."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pandas as pd
import torch
from torch.utils.data import DataLoader, Sampler

from helpers.train.crops import CROP_PATH_COLUMN, packed_shape

if TYPE_CHECKING:  # for the annotation only: the configurations are built on the training modules
    from helpers.train.config import ExperimentConfig


class EpochShuffleSampler(Sampler[int]):
    """A random order that depends only on (seed, epoch): every process of a multi-GPU run draws the same
    order, and a resumed run continues with exactly the orders an uninterrupted run would have used."""

    def __init__(self, length: int, seed: int = 0):
        self.length = length
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.length, generator=generator).tolist())


def default_workers() -> int:
    """Loader processes: all but one CPU core, at most 8 (reading memory-mapped crops is light work)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(8, cpus - 1))


def make_loader(dataset: torch.utils.data.Dataset, batch_size: int, train: bool, seed: int = 0,
                workers: int | None = None, drop_last: bool | None = None) -> DataLoader:
    """A DataLoader for the training loop: shuffled by epoch when ``train``, in order otherwise.

    Workers stay alive between epochs (``persistent_workers``), pinned memory is used when a GPU is there,
    and the last incomplete training batch is dropped (a batch of one breaks batch norm) unless it is the
    only one.
    """
    workers = default_workers() if workers is None else workers
    if drop_last is None:
        drop_last = train and len(dataset) > batch_size
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochShuffleSampler(len(dataset), seed) if train else None,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        drop_last=drop_last,
    )


def fold_loaders(config: ExperimentConfig, train_set: torch.utils.data.Dataset,
                 val_set: torch.utils.data.Dataset | None, test_set: torch.utils.data.Dataset) -> tuple:
    """A fold's ``(train, validation or None, test, test dataset)``, as ``FoldSetup`` holds them: the experiment's
    batch size for training (shuffled by its seed), ``eval_batch_size`` (default: twice that) for the others;
    no validation loader without validation samples (``val_set`` None or empty)."""
    eval_batch = config.eval_batch_size or 2 * config.batch_size

    def in_order(dataset: torch.utils.data.Dataset) -> DataLoader:
        return make_loader(dataset, eval_batch, False, workers=config.workers)

    train = make_loader(train_set, config.batch_size, True, config.train.seed, config.workers)
    val = in_order(val_set) if val_set is not None and len(val_set) else None
    return train, val, in_order(test_set), test_set


def worker_size(videos: pd.DataFrame, image_size: int) -> int | None:
    """The size loader workers shrink crops to: the model input when the stored crops are larger (less to
    copy), else None (never enlarge there: the device does it on the batch, cheaper)."""
    if not len(videos):
        return None
    stored = packed_shape(videos[CROP_PATH_COLUMN].iloc[0])[1]
    return image_size if stored > image_size else None
