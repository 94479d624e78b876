"""Checkpoints of the training loop: written every epoch, atomically, read back without executing pickled code.

A checkpoint holds plain tensors and Python values only (``torch.load(weights_only=True)`` reads it): the
model, optimiser, scheduler and gradient-scaler states and the loop's own state (``LoopState``: epochs done,
history, best epoch, early stopping), so a run killed at any point and started again resumes from its last
completed epoch. A checkpoint the model cannot load raises :class:`CheckpointMismatchError` naming the file
and how to start the fold afresh.
"""

from __future__ import annotations

import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

CHECKPOINT_FORMAT = 1
LAST_CHECKPOINT = "last.pt"
BEST_WEIGHTS = "best.pt"
EPOCH_LOG = "train.log"  # one line per epoch, beside the checkpoints; copied beside the fold's history.csv


@dataclass
class LoopState:
    """Everything besides model/optimizer/scheduler that a resumed run needs (plain Python values only)."""

    epoch: int = 0  # completed epochs
    history: list[dict[str, float]] = field(default_factory=list)
    best_value: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    stopped_early: bool = False


def checkpoint_payload(accelerator, model, optimizer, scheduler, state: LoopState, config) -> dict:
    scaler = getattr(accelerator, "scaler", None)
    return {
        "format": CHECKPOINT_FORMAT,
        "epoch": state.epoch,
        "model": accelerator.unwrap_model(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "loop": asdict(state),
        "config": asdict(config),
    }


class CheckpointMismatchError(RuntimeError):
    """A fold's last checkpoint cannot be resumed by this model; the message says which file and what to do."""


class DamagedCheckpointError(CheckpointMismatchError):
    """A checkpoint file is cut short or unreadable (a copy interrupted, a disk that filled up)."""


def load_checkpoint(path: Path | str) -> dict:
    """A checkpoint of ``fit``, read without executing pickled code (``weights_only=True``); a damaged file is
    a :class:`DamagedCheckpointError` naming it and what to do."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except (EOFError, OSError, RuntimeError, ValueError, pickle.UnpicklingError) as error:
        raise DamagedCheckpointError(
            f"{path} is damaged and cannot be read ({path.stat().st_size} bytes; {type(error).__name__}: "
            f"{str(error)[:200]}): delete {path.parent} and run again to train this fold from scratch (its "
            "finished folds are kept)") from error


def restore(accelerator, model, optimizer, scheduler, path: Path) -> LoopState:
    checkpoint = load_checkpoint(path)
    start_afresh = (f"delete {path.parent} to train this fold from scratch (its finished folds are kept), "
                    "or go back to the code and configuration that wrote it")
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointMismatchError(
            f"{path} has checkpoint format {checkpoint.get('format')}, this version reads {CHECKPOINT_FORMAT}: "
            f"{start_afresh}")
    try:
        accelerator.unwrap_model(model).load_state_dict(checkpoint["model"])
    except RuntimeError as error:  # torch lists every missing and unexpected layer: keep it as the cause
        raise CheckpointMismatchError(
            f"{path} holds a model whose layers differ from this configuration's (the model code or the "
            f"configuration changed since it was saved): {start_afresh}") from error
    optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None and checkpoint.get("scheduler") is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    scaler = getattr(accelerator, "scaler", None)
    if scaler is not None and checkpoint.get("scaler") is not None:
        scaler.load_state_dict(checkpoint["scaler"])
    return LoopState(**checkpoint["loop"])


