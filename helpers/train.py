"""One training loop for every approach (03 single-task, 04 multi-task, 05 temporal), and the runner of
cross-validated experiments.

The loop (``fit``) knows nothing about images or labels: a **task** turns a batch into a loss and
per-sample outputs (``Task.step``) and turns the outputs of an epoch into metrics (``Task.epoch_metrics``).
``ClassificationTask`` is the single-task case; a multi-task task returns the sum of two head losses, a
temporal one feeds clips instead of frames, and both reuse ``fit`` unchanged.

``fit`` is built on Hugging Face Accelerate, so the same code runs on a CPU, one GPU with mixed precision
(bf16 where the GPU has it natively, else fp16 with a gradient scaler) or several GPUs with ``accelerate launch``. Every epoch it writes an
atomic checkpoint (plain tensors and Python values only, read back with ``torch.load(weights_only=True)``)
and reseeds from (seed, epoch), so a run killed at any point and started again resumes from its last
completed epoch and ends with the same weights as a run that was never interrupted.

Command line (runs every fold of one experiment and writes its artifacts)::

    python -m helpers.train --config experiment.json     # or .yaml; see ExperimentConfig
    accelerate launch -m helpers.train --config experiment.json   # several GPUs
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers import datasets, evaluate, losses, models, profiles, results, runtime

if TYPE_CHECKING:  # imported lazily at run time: Accelerate and the crop extractor are heavy imports
    from accelerate import Accelerator

    from helpers.data import Dataset
    from helpers.frames import ExtractionConfig

CHECKPOINT_FORMAT = 1
LAST_CHECKPOINT = "last.pt"
BEST_WEIGHTS = "best.pt"


# --------------------------------------------------------------------------------------------------
# Tasks: how a batch becomes a loss and outputs
# --------------------------------------------------------------------------------------------------


@dataclass
class StepResult:
    """What a task returns for one batch: the loss to minimise and per-sample outputs (first dim = batch)
    that are gathered over the epoch (and over processes) for ``Task.epoch_metrics`` and predictions."""

    loss: Tensor
    outputs: dict[str, Tensor]


class Task(Protocol):
    """The part of training that depends on the approach; ``fit`` does the rest."""

    def step(self, model: nn.Module, batch: Mapping[str, Any], training: bool) -> StepResult: ...

    def epoch_metrics(self, outputs: Mapping[str, np.ndarray]) -> dict[str, float]: ...


class ClassificationTask:
    """Single-task classification of frames: ``model(images) -> logits`` against ``batch[target]``.

    ``preprocess`` (a ``datasets.BatchTransform``) runs on the device: scaling, augmentation when training,
    resizing and normalisation.
    """

    def __init__(self, loss: nn.Module, target: str = "label", preprocess: nn.Module | None = None,
                 input_key: str = "image"):
        datasets.num_classes(target)  # validates the name
        self.loss = loss
        self.target = target
        self.preprocess = preprocess
        self.input_key = input_key

    def step(self, model: nn.Module, batch: Mapping[str, Any], training: bool) -> StepResult:
        images = batch[self.input_key]
        if self.preprocess is not None:
            images = self.preprocess(images, training=training)
        logits = model(images)
        target = batch[self.target]
        loss = self.loss(logits, target)
        outputs = {"probs": F.softmax(logits.detach().float(), dim=1), "target": target}
        for key in ("video", "frame"):
            if key in batch:
                outputs[key] = batch[key]
        return StepResult(loss, outputs)

    def epoch_metrics(self, outputs: Mapping[str, np.ndarray]) -> dict[str, float]:
        if len(outputs.get("target", ())) == 0:
            return {}
        return {"accuracy": float((outputs["probs"].argmax(axis=1) == outputs["target"]).mean())}


# --------------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """How to train (independent of what is trained)."""

    epochs: int = 10
    optimizer: str = "adamw"  # adamw | adam | sgd
    lr: float = 1e-3
    backbone_lr: float | None = None  # a lower rate for a pretrained backbone; None: same as lr
    weight_decay: float = 1e-4
    momentum: float = 0.9  # sgd only
    scheduler: str = "plateau"  # plateau (ReduceLROnPlateau on `monitor`) | cosine | none
    plateau_factor: float = 0.1
    plateau_patience: int = 2
    min_lr: float = 1e-6
    grad_clip_norm: float | None = 1.0  # None: no clipping
    early_stopping_patience: int | None = 5  # epochs without improvement of `monitor`; None: never stop
    monitor: str = "val_loss"  # any history column; falls back to train_loss without validation data
    monitor_mode: str = "min"  # min | max
    restore_best: bool = True  # end with the weights of the best epoch (by `monitor`)
    mixed_precision: str = "auto"  # auto (bf16 on GPUs >= compute capability 8.0, fp16 below, off on CPU) | no | fp16 | bf16
    gradient_accumulation_steps: int = 1
    seed: int = 0
    progress: bool = True  # tqdm bars per epoch
    verbose: bool = True  # one printed line per epoch

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        return _from_dict(cls, values)


@dataclass
class FitResult:
    model: nn.Module  # unwrapped, with the best (restore_best) or last weights
    history: pd.DataFrame
    best_epoch: int | None  # 1-based; None when nothing was monitored
    stopped_early: bool
    resumed_from: int  # epochs already done when this call started (0: a fresh run)


def resolve_mixed_precision(setting: str) -> str:
    """``auto``: bf16 on GPUs that have it natively, fp16 (with a gradient scaler) on older GPUs such as
    Colab's T4, no mixed precision on a CPU (``helpers.runtime.choose_mixed_precision``)."""
    return runtime.choose_mixed_precision(setting)


def make_accelerator(config: TrainConfig) -> Accelerator:
    """An ``accelerate.Accelerator`` for ``config``.

    Accelerate keeps process-wide state: every Accelerator of one process must use the same mixed precision.
    On a GPU this also turns on TF32 matmuls and cuDNN autotuning (speed over bitwise reproducibility, which
    GPUs do not give anyway).
    """
    from accelerate import Accelerator, DataLoaderConfiguration

    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    return Accelerator(mixed_precision=resolve_mixed_precision(config.mixed_precision),
                       gradient_accumulation_steps=config.gradient_accumulation_steps,
                       step_scheduler_with_optimizer=False,
                       # pinned batches are copied to the GPU while it computes
                       dataloader_config=DataLoaderConfiguration(non_blocking=torch.cuda.is_available()))


def seed_everything(seed: int, epoch: int = 0) -> None:
    """Seed Python, NumPy and torch (all devices) from (seed, epoch)."""
    from accelerate.utils import set_seed

    set_seed(seed * 1_000 + epoch)


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser over trainable parameters; ``backbone_lr`` gives the backbone its own rate."""
    backbone = getattr(model, "backbone", None)
    backbone_ids = {id(p) for p in backbone.parameters()} if backbone is not None else set()
    head = [p for p in model.parameters() if p.requires_grad and id(p) not in backbone_ids]
    body = [p for p in model.parameters() if p.requires_grad and id(p) in backbone_ids]
    groups = [{"params": head, "lr": config.lr}]
    if body:
        groups.append({"params": body, "lr": config.backbone_lr if config.backbone_lr is not None else config.lr})
    groups = [g for g in groups if g["params"]]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                               nesterov=True)
    raise ValueError(f"unknown optimizer {config.optimizer!r}: adamw, adam or sgd")


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, mode: str | None = None):
    """An epoch-level learning-rate schedule (or None); ``mode`` overrides ``config.monitor_mode``."""
    if config.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode or config.monitor_mode, factor=config.plateau_factor,
            patience=config.plateau_patience, min_lr=config.min_lr)
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.epochs),
                                                          eta_min=config.min_lr)
    if config.scheduler in ("none", None):
        return None
    raise ValueError(f"unknown scheduler {config.scheduler!r}: plateau, cosine or none")


@dataclass
class _LoopState:
    """Everything besides model/optimizer/scheduler that a resumed run needs (plain Python values only)."""

    epoch: int = 0  # completed epochs
    history: list[dict[str, float]] = field(default_factory=list)
    best_value: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    stopped_early: bool = False


def _improved(value: float, best: float | None, mode: str) -> bool:
    if value is None or math.isnan(value):
        return False
    return best is None or (value < best if mode == "min" else value > best)


def _to_numpy(outputs: list[dict[str, Tensor]]) -> dict[str, np.ndarray]:
    if not outputs:
        return {}
    return {key: torch.cat([o[key].detach().float().cpu() if o[key].is_floating_point() else o[key].cpu()
                            for o in outputs]).numpy() for key in outputs[0]}


def _run_epoch(accelerator, model, task: Task, loader, optimizer, config: TrainConfig, training: bool,
               description: str) -> tuple[float, dict[str, np.ndarray]]:
    """One pass over ``loader``; returns (mean loss over samples, gathered outputs)."""
    from tqdm.auto import tqdm

    model.train(training)
    total_loss = torch.zeros((), device=accelerator.device, dtype=torch.float64)
    total_samples = torch.zeros((), device=accelerator.device, dtype=torch.float64)
    collected: list[dict[str, Tensor]] = []
    bar = tqdm(loader, desc=description, leave=False, dynamic_ncols=True,
               disable=not (config.progress and accelerator.is_local_main_process))
    for step, batch in enumerate(bar):
        with torch.set_grad_enabled(training):
            if training:
                with accelerator.accumulate(model):
                    result = task.step(model, batch, training=True)
                    accelerator.backward(result.loss)
                    if config.grad_clip_norm and accelerator.sync_gradients:
                        accelerator.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
            else:
                result = task.step(model, batch, training=False)
        size = next(iter(result.outputs.values())).shape[0] if result.outputs else 1
        total_loss += result.loss.detach().double() * size
        total_samples += size
        collected.append(accelerator.gather_for_metrics({k: v.detach() for k, v in result.outputs.items()}))
        if config.progress and step % 20 == 0:  # .item() waits for the GPU: not on every step
            bar.set_postfix(loss=f"{result.loss.item():.4f}", refresh=False)
    total_loss, total_samples = accelerator.reduce(total_loss, "sum"), accelerator.reduce(total_samples, "sum")
    mean_loss = float(total_loss / total_samples) if float(total_samples) > 0 else float("nan")
    return mean_loss, _to_numpy(collected)


def _checkpoint_payload(accelerator, model, optimizer, scheduler, state: _LoopState, config: TrainConfig) -> dict:
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


def load_checkpoint(path: Path | str) -> dict:
    """A checkpoint of ``fit``, read without executing pickled code (``weights_only=True``)."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)


class CheckpointMismatchError(RuntimeError):
    """A fold's last checkpoint cannot be resumed by this model; the message says which file and what to do."""


def _restore(accelerator, model, optimizer, scheduler, path: Path) -> _LoopState:
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
    return _LoopState(**checkpoint["loop"])


EpochCallback = Callable[[int, dict[str, float]], None]


def fit(
    model: nn.Module,
    task: Task,
    train_loader: torch.utils.data.DataLoader,
    val_loader: torch.utils.data.DataLoader | None = None,
    config: TrainConfig | None = None,
    checkpoint_dir: Path | str | None = None,
    callbacks: Sequence[EpochCallback] = (),
    accelerator: Accelerator | None = None,
) -> FitResult:
    """Train ``model`` on ``task``; checkpoint every epoch into ``checkpoint_dir`` and resume from it.

    Per epoch: reseed from (seed, epoch), train, validate, step the LR schedule, track the best epoch by
    ``config.monitor`` (saving its weights), check early stopping, write ``last.pt`` and ``history.csv``,
    then call each ``callback(epoch, record)`` (1-based epoch). Starting again with the same
    ``checkpoint_dir`` continues after the last completed epoch; a finished run returns at once.
    """
    config = config or TrainConfig()
    accelerator = accelerator or make_accelerator(config)
    folder = Path(checkpoint_dir) if checkpoint_dir else None
    seed_everything(config.seed)
    monitor, mode = config.monitor, config.monitor_mode
    if val_loader is None and monitor.startswith("val_"):
        monitor, mode = "train_loss", "min"  # nothing to validate on
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, mode)
    prepared = accelerator.prepare(model, optimizer, train_loader, *([val_loader] if val_loader is not None else []))
    model, optimizer, train_loader = prepared[:3]
    val_loader = prepared[3] if val_loader is not None else None

    state = _LoopState()
    if folder is not None and (folder / LAST_CHECKPOINT).exists():
        state = _restore(accelerator, model, optimizer, scheduler, folder / LAST_CHECKPOINT)
        accelerator.print(f"resuming from {folder / LAST_CHECKPOINT}: {state.epoch} epoch(s) done")
    resumed_from = state.epoch

    for epoch in range(state.epoch, config.epochs):
        if state.stopped_early:
            break
        seed_everything(config.seed, epoch + 1)
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch)
        started = time.perf_counter()
        record: dict[str, float] = {"epoch": epoch + 1, "lr": float(optimizer.param_groups[0]["lr"])}
        loss, outputs = _run_epoch(accelerator, model, task, train_loader, optimizer, config, True,
                                   f"epoch {epoch + 1}/{config.epochs} train")
        record["train_loss"] = loss
        record.update({f"train_{k}": float(v) for k, v in task.epoch_metrics(outputs).items()})
        if val_loader is not None:
            with torch.no_grad():
                loss, outputs = _run_epoch(accelerator, model, task, val_loader, optimizer, config, False,
                                           f"epoch {epoch + 1}/{config.epochs} val")
            record["val_loss"] = loss
            record.update({f"val_{k}": float(v) for k, v in task.epoch_metrics(outputs).items()})
        record["seconds"] = time.perf_counter() - started
        value = record.get(monitor)
        if value is None:
            raise KeyError(f"monitor {monitor!r} is not in the history columns {sorted(record)}")
        _step_scheduler(scheduler, value)
        if _improved(value, state.best_value, mode):
            state.best_value, state.best_epoch, state.bad_epochs = float(value), epoch + 1, 0
            if folder is not None and config.restore_best and accelerator.is_main_process:
                results.atomic_torch_save(folder / BEST_WEIGHTS, {
                    "epoch": epoch + 1, "model": accelerator.unwrap_model(model).state_dict()})
        else:
            state.bad_epochs += 1
        patience = config.early_stopping_patience
        state.stopped_early = patience is not None and state.bad_epochs >= patience
        state.epoch = epoch + 1
        state.history.append({k: float(v) for k, v in record.items()})
        if folder is not None and accelerator.is_main_process:
            results.atomic_torch_save(folder / LAST_CHECKPOINT,
                                      _checkpoint_payload(accelerator, model, optimizer, scheduler, state, config))
            results.write_csv(folder / "history.csv", pd.DataFrame(state.history))
        accelerator.wait_for_everyone()
        if config.verbose:
            accelerator.print(_epoch_line(record, config.epochs, monitor, state))
        for callback in callbacks:
            callback(epoch + 1, record)

    unwrapped = accelerator.unwrap_model(model)
    if config.restore_best and folder is not None and (folder / BEST_WEIGHTS).exists() and state.best_epoch:
        unwrapped.load_state_dict(load_checkpoint(folder / BEST_WEIGHTS)["model"])
    return FitResult(unwrapped, pd.DataFrame(state.history), state.best_epoch, state.stopped_early, resumed_from)


def _step_scheduler(scheduler, value: float) -> None:
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(value)
    else:
        scheduler.step()


def _epoch_line(record: dict[str, float], epochs: int, monitor: str, state: _LoopState) -> str:
    shown = [f"{k} {v:.4f}" for k, v in record.items() if k not in ("epoch", "lr", "seconds")]
    line = f"epoch {int(record['epoch'])}/{epochs}: " + ", ".join(shown) + f", lr {record['lr']:.2g}, " \
           f"{record['seconds']:.0f} s"
    if state.best_epoch == record["epoch"]:
        line += f" (best {monitor})"
    if state.stopped_early:
        line += " - early stop"
    return line


def predict(model: nn.Module, task: Task, loader: torch.utils.data.DataLoader, accelerator: Accelerator | None = None,
            progress: bool = False) -> dict[str, np.ndarray]:
    """Run ``task`` in evaluation mode over ``loader``; the outputs of all samples (gathered across
    processes, each sample once)."""
    accelerator = accelerator or make_accelerator(TrainConfig(progress=progress))
    model, loader = accelerator.prepare(model, loader)
    with torch.no_grad():
        _, outputs = _run_epoch(accelerator, model, task, loader, None, TrainConfig(progress=progress), False,
                                "predict")
    return outputs


# --------------------------------------------------------------------------------------------------
# Experiments: one configuration, all folds, artifacts
# --------------------------------------------------------------------------------------------------


@dataclass
class ExperimentConfig:
    """One cross-validated experiment: a model, a loss and a task, trained on every fold.

    JSON/YAML files for ``python -m helpers.train --config`` hold these keys (``train`` holds TrainConfig's).
    """

    profile: str = "smoke"
    approach: str = "single_task"
    model: str = "simple_cnn"
    loss: str = "cross_entropy"
    loss_params: dict[str, Any] = field(default_factory=dict)
    target: str = "label"  # label (12 classes) | emotion | authenticity
    name: str | None = None  # run folder name; default "<model>-<loss>"
    weights: str | None = "default"  # "default": pretrained where the model has weights; None: from scratch
    freeze_backbone: bool = False
    dropout: float = 0.0
    image_size: int | None = None  # None: the model's default input size
    normalization: str = "auto"  # auto | dataset | imagenet | model
    augment: bool = False  # the thesis found augmentation hurt on SASE-FE
    frames_per_video: int | None = 16  # training frames per video (evenly spaced); None: all
    val_frames_per_video: int | None = 8  # validation frames per video (early stopping only needs a sample)
    eval_frames_per_video: int | None = None  # test frames per video; None: all
    batch_size: int = 32
    eval_batch_size: int | None = None  # None: 2 x batch_size
    workers: int | None = None  # loader processes; None: datasets.default_workers()
    val_fraction: float = 0.15  # share of the training subjects held out for early stopping / LR schedule
    folds: list[int] | None = None  # None: every fold
    crop_kind: str = "face"  # face | context
    extraction: dict[str, Any] | None = None  # helpers.frames.ExtractionConfig settings; None: see ensure_crops
    keep_checkpoints: bool = False  # delete a fold's checkpoints once its artifacts are written
    # keep the final weights (half precision, model_weights_path) of "all" folds, of the "first" fold only
    # (the lowest fold number of `folds`) or of "none"; 06 scores new videos with 03's, 05 plots with its first fold's
    save_weights: str = "all"
    work_dir: str | None = None
    results_dir: str | None = None
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        self.save_weights = weights_choice(self.save_weights)

    @property
    def run_name(self) -> str:
        return self.name or f"{self.model}-{losses.canonical_name(self.loss)}"

    def untrained_model(self) -> nn.Module:
        """The model of this configuration with random weights (nothing downloaded): what it will train."""
        image_size = self.image_size or models.model_entry(self.model).default_image_size
        return models.build_model(self.model, datasets.num_classes(self.target), None, self.freeze_backbone, image_size,
                                  self.dropout)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ExperimentConfig:
        values = dict(values)
        train = TrainConfig.from_dict(values.pop("train", {}) or {})
        return _from_dict(cls, {**values, "train": train})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


WEIGHTS_CHOICES = ("all", "first", "none")


def weights_choice(value: str | bool) -> str:
    """``save_weights`` as one of ``WEIGHTS_CHOICES`` (``True`` and ``False`` mean ``all`` and ``none``)."""
    if isinstance(value, bool):
        return "all" if value else "none"
    if value not in WEIGHTS_CHOICES:
        raise ValueError(f"save_weights must be one of {', '.join(WEIGHTS_CHOICES)} (or true/false), got {value!r}")
    return value


def keeps_weights(save_weights: str, folds: Sequence[int] | None, fold: int) -> bool:
    """Whether the final weights of ``fold`` are kept: every fold (``all``), the lowest of ``folds``
    (``first``; fold 0 when ``folds`` is None, i.e. every fold) or none."""
    if save_weights == "all":
        return True
    if save_weights == "first":
        return int(fold) == min(int(f) for f in folds) if folds else int(fold) == 0
    return False


def _from_dict(cls, values: Mapping[str, Any]):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown {cls.__name__} key(s): {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(sorted(known))}")
    return cls(**values)


def read_config_file(path: Path | str) -> dict[str, Any]:
    """The values of an experiment file: ``.json``, or ``.yaml``/``.yml``."""
    path = Path(path)
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text) or {}
    return json.loads(text) or {}


def load_config(path: Path | str) -> ExperimentConfig:
    """An ``ExperimentConfig`` from a ``.json`` or ``.yaml``/``.yml`` file."""
    return ExperimentConfig.from_dict(read_config_file(path))


def validation_subjects(subjects: Sequence[str], fraction: float, seed: int = 0) -> list[str]:
    """A reproducible share of the training subjects kept aside for validation (at least one, unless
    ``fraction`` is 0 or there are fewer than two subjects)."""
    subjects = sorted(map(str, subjects))
    if fraction <= 0 or len(subjects) < 2:
        return []
    count = min(len(subjects) - 1, max(1, round(fraction * len(subjects))))
    chosen = np.random.default_rng(seed).choice(len(subjects), size=count, replace=False)
    return sorted(subjects[i] for i in chosen)


@dataclass
class FoldData:
    """The three video tables of one fold (with crop paths)."""

    fold: int
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame


def fold_data(index: pd.DataFrame, splits: pd.DataFrame, fold: int, crops_dir: Path | str, config: ExperimentConfig
              ) -> FoldData:
    """Split the usable videos of ``fold`` (readable, and not identical to another video: see
    ``data.usable_rows``) into train / validation (training subjects) / test (the fold)."""
    from helpers import data

    usable = index[data.usable_rows(index)] if "readable" in index.columns else index
    train, test = data.split_index(usable, splits, fold)
    held_out = validation_subjects(train["subject"].unique(), config.val_fraction, config.train.seed + fold)
    is_val = train["subject"].astype(str).isin(held_out)
    tables = [datasets.attach_crop_paths(t, crops_dir, config.crop_kind) for t in (train[~is_val], train[is_val], test)]
    return FoldData(int(fold), *tables)


def _loaders(fold: FoldData, config: ExperimentConfig, image_size: int,
             dataset_class: type[datasets.FrameDataset] = datasets.FrameDataset):
    def dataset(videos: pd.DataFrame, frames: int | None):
        return dataset_class(videos, frames_per_video=frames, size=_loader_size(videos, image_size))

    eval_batch = config.eval_batch_size or 2 * config.batch_size
    train = datasets.make_loader(dataset(fold.train, config.frames_per_video), config.batch_size, True,
                                 config.train.seed, config.workers)
    val = (datasets.make_loader(dataset(fold.val, config.val_frames_per_video), eval_batch, False,
                                workers=config.workers) if len(fold.val) else None)
    test_set = dataset(fold.test, config.eval_frames_per_video)
    test = datasets.make_loader(test_set, eval_batch, False, workers=config.workers)
    return train, val, test, test_set


def _loader_size(videos: pd.DataFrame, image_size: int) -> int | None:
    """Shrink in the workers when the stored crops are larger than the model input (less to copy); never
    enlarge there (the device does it on the batch, cheaper)."""
    if not len(videos):
        return None
    stored = datasets.packed_shape(videos[datasets.CROP_PATH_COLUMN].iloc[0])[1]
    return image_size if stored > image_size else None


def build_task(config: ExperimentConfig, image_size: int, pretrained: bool, results_dir: Path) -> ClassificationTask:
    stats = datasets.normalization_stats(config.normalization, results_dir, config.model, pretrained)
    preprocess = datasets.BatchTransform(stats["mean"], stats["std"], image_size, config.augment)
    return ClassificationTask(losses.build_loss(config.loss, **config.loss_params), config.target, preprocess)


@dataclass
class FoldOutcome:
    """A trained and tested fold: the fit, the raw test outputs, the test videos, their predictions table and
    its metrics."""

    fitted: FitResult
    outputs: dict[str, np.ndarray]
    test_videos: pd.DataFrame
    predictions: pd.DataFrame
    metrics: dict[str, Any]


def fit_and_test(model: nn.Module, task: Task, loaders: tuple, fold: FoldData, config: TrainConfig,
                 checkpoints: Path, accelerator: Accelerator, target: str = "label") -> FoldOutcome:
    """Train on ``loaders``' train and validation parts, predict the test part, score it at frame and video
    level, and add the bookkeeping every approach records (epochs, timing, the subjects of each part)."""
    train_loader, val_loader, test_loader, test_set = loaders
    started = time.perf_counter()
    fitted = fit(model, task, train_loader, val_loader, config, checkpoints, accelerator=accelerator)
    train_seconds = time.perf_counter() - started
    outputs = predict(fitted.model, task, test_loader, accelerator)
    predictions = evaluate.predictions_table(outputs, test_set.videos, target)
    metrics = evaluate.evaluate_predictions(predictions, target)
    metrics.update({
        "fold": fold.fold, "best_epoch": fitted.best_epoch, "epochs_run": int(len(fitted.history)),
        "stopped_early": fitted.stopped_early, "train_seconds": train_seconds,
        "resumed_from_epoch": fitted.resumed_from,
        "subjects": {part: sorted(getattr(fold, part)["subject"].astype(str).unique())
                     for part in ("train", "val", "test")},
    })
    return FoldOutcome(fitted, outputs, test_set.videos, predictions, metrics)


def run_fold(config: ExperimentConfig, fold: FoldData, paths: profiles.RunPaths,
             accelerator: Accelerator | None = None) -> dict:
    """Train and test one fold; write its artifacts; return its metrics."""
    image_size = models.check_image_size(
        config.model, config.image_size or models.model_entry(config.model).default_image_size)
    seed_everything(config.train.seed)  # the head's initial weights depend only on the seed
    model = models.build_model(config.model, datasets.num_classes(config.target), config.weights,
                               config.freeze_backbone, image_size, config.dropout)
    task = build_task(config, image_size, model.backbone.pretrained, paths.results)
    checkpoints = checkpoint_dir(paths, config, fold.fold)
    accelerator = accelerator or make_accelerator(config.train)
    outcome = fit_and_test(model, task, _loaders(fold, config, image_size), fold, config.train, checkpoints,
                           accelerator, config.target)
    fitted, predictions, metrics = outcome.fitted, outcome.predictions, outcome.metrics
    metrics.update({
        "run": config.run_name, "approach": config.approach, "model": config.model,
        "loss": losses.canonical_name(config.loss), "pretrained": model.backbone.pretrained, "image_size": image_size,
    })
    if accelerator.is_main_process:
        run_config = {**config.to_dict(), "fold": fold.fold, "run": config.run_name,
                      "loss": losses.canonical_name(config.loss), "image_size": image_size,
                      "normalization_stats": {"mean": task.preprocess.mean.flatten().tolist(),
                                              "std": task.preprocess.std.flatten().tolist()}}
        env = results.environment(config.profile, _fingerprint(fold), mixed_precision=accelerator.mixed_precision,
                                  processes=accelerator.num_processes)
        results.write_run(results.run_dir(paths.results, config.approach, config.run_name, fold.fold), metrics,
                          fitted.history, predictions, run_config, env)
        if keeps_weights(config.save_weights, config.folds, fold.fold):
            results.save_weights(model_weights_path(paths, config.approach, config.run_name, fold.fold), fitted.model)
        if not config.keep_checkpoints:
            shutil.rmtree(checkpoints, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.free_memory()  # drop Accelerate's references to this fold's model, optimizer and loaders
    return metrics


def checkpoint_dir(paths: profiles.RunPaths, config: ExperimentConfig, fold: int) -> Path:
    """``<work>/<profile>/checkpoints/<approach>/<run>/fold_<k>``: bulky, so in the work dir, not in results."""
    return paths.checkpoints / config.approach / config.run_name / results.fold_dir_name(fold)


def model_weights_path(paths: profiles.RunPaths, approach: str, run: str, fold: int) -> Path:
    """``<work>/<profile>/models/<approach>/<run>/fold_<k>.pt``: the final weights of a trained fold, in half
    precision (in the work dir like the checkpoints: too bulky for results/, but on Drive on Colab, so they
    survive)."""
    return paths.work / "models" / approach / run / f"{results.fold_dir_name(fold)}.pt"


def _fingerprint(fold: FoldData) -> str:
    tables = []
    for part, table in (("train", fold.train), ("val", fold.val), ("test", fold.test)):
        frames = [datasets.packed_shape(p)[0] for p in table[datasets.CROP_PATH_COLUMN]]
        tables.append(pd.DataFrame({"part": part, "subject": table["subject"].astype(str), "code": table["code"],
                                    "crop_frames": frames}))
    return results.table_fingerprint(pd.concat(tables, ignore_index=True))


def latest_extraction(crops_root: Path | str) -> ExtractionConfig | None:
    """The ``ExtractionConfig`` of the most recently finished extraction under ``crops_root`` (what notebook 02
    made), or None. Folders made by another version of ``helpers.frames`` are ignored."""
    from helpers import frames

    finished = []
    for config_file in Path(crops_root).glob(f"*/{frames.CONFIG_FILE}"):
        summary = config_file.parent / frames.VIDEOS_FILE
        try:
            stored = frames.ExtractionConfig.from_dict(results.read_json(config_file)["config"])
        except (KeyError, TypeError, ValueError):
            continue
        if summary.exists() and stored.name == config_file.parent.name:
            finished.append((summary.stat().st_mtime, stored))
    return max(finished, key=lambda item: item[0])[1] if finished else None


def extraction_config(config: ExperimentConfig, crops_root: Path | str | None = None) -> ExtractionConfig:
    """The ``helpers.frames.ExtractionConfig`` whose crops ``config`` trains on: ``config.extraction`` when
    set, else the latest finished extraction under ``crops_root`` (02's), else the defaults of helpers.frames."""
    from helpers import frames

    if config.extraction is not None:
        return frames.ExtractionConfig.from_dict(config.extraction)
    return (latest_extraction(crops_root) if crops_root else None) or frames.ExtractionConfig()


def ensure_crops(dataset: Dataset, paths: profiles.RunPaths, config: ExperimentConfig, workers: int = 1,
                 progress: bool = True) -> Path:
    """The folder of the face crops to train on (see ``extraction_config``), extracting whatever is missing
    first: a no-op, apart from reading the per-video summaries, when notebook 02 already did it."""
    from helpers import frames

    settings = extraction_config(config, paths.crops)
    extraction = frames.extract_dataset(dataset.usable, paths.crops, settings, workers=workers,
                                        progress=progress, retry_errors=False)
    if extraction.processed:
        print(extraction.summary())
    return extraction.root


def run_experiment(config: ExperimentConfig, dataset: Dataset | None = None, crops_dir: Path | str | None = None,
                   force: bool = False, accelerator: Accelerator | None = None) -> pd.DataFrame:
    """Every fold of ``config`` (skipping folds whose artifacts exist unless ``force``); returns the fold table.

    ``dataset``: a ``helpers.data.Dataset`` (default: ``data.prepare_dataset(config.profile, ...)``);
    ``crops_dir``: the folder of the packed crops (default: extracted if needed by ``ensure_crops``).
    """
    return cross_validate(config, run_fold, fold_data, evaluate.fold_table, dataset, crops_dir, force, accelerator)


def cross_validate(config: ExperimentConfig, train_fold: Callable, make_fold_data: Callable,
                   fold_table: Callable, dataset: Dataset | None = None, crops_dir: Path | str | None = None,
                   force: bool = False, accelerator: Accelerator | None = None) -> pd.DataFrame:
    """The cross-validation driver that every approach (single-task, multi-task, temporal) shares.

    ``make_fold_data(index, splits, fold, crops_dir, config)`` builds a fold's data,
    ``train_fold(config, fold_data, paths, accelerator)`` trains and writes its artifacts, and
    ``fold_table(runs)`` turns the finished runs into the table that is returned and saved as ``folds.csv``.
    A fold whose artifacts exist is skipped; with ``force`` it is retrained from scratch, while an
    unfinished fold resumes from its checkpoint.
    """
    from helpers import data

    paths = profiles.paths_for(config.profile, config.work_dir, config.results_dir)
    dataset = dataset or data.prepare_dataset(config.profile, paths)
    folds = [int(f) for f in (config.folds if config.folds is not None else sorted(dataset.splits["fold"].unique()))]
    pending = [f for f in folds if force or not results.is_complete(
        results.run_dir(paths.results, config.approach, config.run_name, f))]
    if pending and crops_dir is None:
        crops_dir = ensure_crops(dataset, paths, config)
    accelerator = accelerator or make_accelerator(config.train)
    for fold in folds:
        folder = results.run_dir(paths.results, config.approach, config.run_name, fold)
        if results.is_complete(folder):
            if not force:
                accelerator.print(f"{config.run_name} fold {fold}: results exist in {folder}, not retraining")
                continue
            shutil.rmtree(checkpoint_dir(paths, config, fold), ignore_errors=True)  # retrain from scratch
        accelerator.print(f"{config.run_name} fold {fold}: training")
        train_fold(config, make_fold_data(dataset.index, dataset.splits, fold, crops_dir, config), paths, accelerator)
    runs = [results.load_run(f, predictions=False) for f in results.find_runs(paths.results, config.approach,
                                                                                 config.run_name)]
    table = fold_table([r for r in runs if int(r.config.get("fold", -1)) in folds])
    if accelerator.is_main_process:
        results.write_csv(paths.results / config.approach / config.run_name / "folds.csv", table)
    return table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m helpers.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, type=Path, help="experiment file (.json or .yaml)")
    parser.add_argument("--force", action="store_true", help="retrain folds whose results exist")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    table = run_experiment(config, force=args.force)
    summary = evaluate.aggregate_folds(table)
    print(summary[["run", "folds", *[m for m in evaluate.SUMMARY_METRICS if m in summary]]].to_string(index=False))


if __name__ == "__main__":
    main()
