"""One training loop for every approach (``fit``), on Hugging Face Accelerate, and prediction (``predict``).

The loop knows nothing about images or labels: a task (``helpers.train.tasks``) turns a batch into a loss and
per-sample outputs. The same code runs on a CPU, one GPU with mixed precision (bf16 where the GPU has it
natively, else fp16 with a gradient scaler: ``helpers.runtime``) or several GPUs with ``torchrun``.
Every epoch it writes an atomic checkpoint (``helpers.train.checkpoints``) and reseeds from (seed, epoch),
so a run killed at any point and started again resumes from its last completed epoch and ends with the same
weights as a run that was never interrupted. Where it pays, the model and its inputs go channels_last (NHWC:
``TrainConfig.channels_last``, the rule in ``helpers.runtime.choose_channels_last``, measured by
``benchmarks/gpu.py``); ``TrainConfig.compile`` adds ``torch.compile``. Neither changes what is learned beyond
float rounding.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.utils import InitProcessGroupKwargs, set_seed
from torch import Tensor, nn
from tqdm.auto import tqdm

from helpers import results, runtime
from helpers.train.checkpoints import (
    BEST_WEIGHTS, EPOCH_LOG, LAST_CHECKPOINT, LoopState, checkpoint_payload, load_checkpoint, restore,
)
from helpers.train.setting_types import SettingError, check_at_least, check_fields, dataclass_from_dict
from helpers.train.tasks import Task


PRETRAINED_BACKBONE_SCALE = 0.1  # backbone_lr "auto": a pretrained backbone's rate, relative to the heads'


@dataclass
class TrainConfig:
    """How to train (independent of what is trained)."""

    epochs: int = 10
    optimizer: str = "adamw"  # adamw | adam | sgd
    lr: float = 1e-3
    # the backbone's own rate; None: lr; "auto": lr x PRETRAINED_BACKBONE_SCALE for pretrained weights, else lr
    backbone_lr: float | str | None = None
    weight_decay: float = 1e-4
    momentum: float = 0.9  # sgd only
    scheduler: str = "plateau"  # plateau (ReduceLROnPlateau on `monitor`) | cosine | none
    plateau_factor: float = 0.1
    plateau_patience: int = 2
    min_lr: float = 1e-6
    grad_clip_norm: float | None = 1.0  # None: no clipping
    early_stopping_patience: int | None = 5  # epochs without improvement of `monitor`; None: never stop
    # any history column; None: the task's own (the unweighted sum of the head losses for multi-head tasks, whose
    # weighted loss moves with its weights); falls back to train_loss without validation data
    monitor: str | None = None
    monitor_mode: str = "min"  # min | max
    restore_best: bool = True  # end with the weights of the best epoch (by `monitor`)
    mixed_precision: str = "auto"  # auto (bf16 on GPUs >= compute capability 8.0, fp16 below, off on CPU) | no | fp16 | bf16
    # model weights and input batches in NHWC; None: where it pays (2D conv nets, mixed precision, GPUs >= 7.0)
    channels_last: bool | None = None
    compile: bool = False  # torch.compile the model (nn.Module.compile): minutes to compile, pays on long GPU runs
    gradient_accumulation_steps: int = 1
    seed: int = 0
    progress: bool = True  # tqdm bars per epoch
    verbose: bool = True  # one printed line per epoch (always written to the fold's train.log)

    def __post_init__(self):
        check_fields(self)  # "1e-3" from YAML -> 0.001; "ten" refused, naming the key
        check_at_least(self, {"epochs": 1, "gradient_accumulation_steps": 1})
        if isinstance(self.backbone_lr, str) and self.backbone_lr != "auto":
            raise SettingError(f"train.backbone_lr must be a number, null or 'auto', got {self.backbone_lr!r}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        return dataclass_from_dict(cls, values)


@dataclass
class FitResult:
    model: nn.Module  # unwrapped, with the best (restore_best) or last weights
    history: pd.DataFrame
    best_epoch: int | None  # 1-based; None when nothing was monitored
    stopped_early: bool
    resumed_from: int  # epochs already done when this call started (0: a fresh run)
    monitor: str = "val_loss"  # the history column the best epoch and early stopping were judged by
    channels_last: bool = False  # whether the model trained in channels_last (TrainConfig.channels_last resolved)
    compiled: bool = False  # whether it trained under torch.compile
    # the model that predicts the validation subjects when ``model`` was refitted on them too (the descriptors'
    # refit on every training subject): selection then sees predictions of subjects the model never saw
    validation_model: nn.Module | None = None


def resolve_mixed_precision(setting: str) -> str:
    """``auto``: bf16 on GPUs that have it natively, fp16 (with a gradient scaler) on older GPUs such as
    Colab's T4, no mixed precision on a CPU (``helpers.runtime.choose_mixed_precision``)."""
    return runtime.choose_mixed_precision(setting)


#: how long a process of a distributed run (``torchrun``) waits in a collective before it aborts. The main
#: process alone prepares the data while the others wait in a broadcast: generating and extracting the full
#: dataset takes hours, and waiting for another run's extraction lock up to 6 hours more
#: (``runner.EXTRACTION_WAIT_S``), where torch's defaults (NCCL 10 minutes, gloo 30) would abort the run.
PROCESS_GROUP_TIMEOUT = timedelta(hours=24)


def make_accelerator(config: TrainConfig) -> Accelerator:
    """An ``accelerate.Accelerator`` for ``config``.

    Accelerate keeps process-wide state: every Accelerator of one process must use the same mixed precision,
    and the first one sets up the process group (with ``PROCESS_GROUP_TIMEOUT``).
    On a GPU this also turns on TF32 matmuls and cuDNN autotuning (speed over bitwise reproducibility, which
    GPUs do not give anyway).
    """
    enable_fast_cuda()
    return Accelerator(mixed_precision=resolve_mixed_precision(config.mixed_precision),
                       gradient_accumulation_steps=config.gradient_accumulation_steps,
                       step_scheduler_with_optimizer=False,
                       kwargs_handlers=[InitProcessGroupKwargs(timeout=PROCESS_GROUP_TIMEOUT)],
                       # pinned batches are copied to the GPU while it computes
                       dataloader_config=DataLoaderConfiguration(non_blocking=torch.cuda.is_available()))


def enable_fast_cuda() -> None:
    """TF32 matmuls and cuDNN autotuning on a GPU: speed over bitwise reproducibility (which GPUs do not give
    anyway). The training loop and ``benchmarks/gpu.py`` both call it, so the benchmark measures what trains."""
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


CHANNELS_LAST_HOOKED = "channels_last_inputs"  # attribute set on a model whose inputs a hook converts


def is_conv2d_net(model: nn.Module) -> bool:
    """A 2D conv net (frames ``[B, 3, H, W]``): Conv2d layers, and no Conv3d or RNN that would mark a clip model."""
    kinds = [type(m) for m in model.modules()]
    return any(issubclass(k, nn.Conv2d) for k in kinds) and not any(issubclass(k, (nn.Conv3d, nn.RNNBase))
                                                                     for k in kinds)


def uses_channels_last(model: nn.Module, config: TrainConfig, accelerator: Accelerator) -> bool:
    """``config.channels_last`` resolved for this model, precision and device (``runtime.choose_channels_last``)."""
    cpu = runtime.Device(False, "CPU", None, 0, 1)
    device = runtime.current_device() if accelerator.device.type == "cuda" else cpu
    return runtime.choose_channels_last(config.channels_last, accelerator.mixed_precision, device,
                                        is_conv2d_net(model))


def channels_last_inputs(module: nn.Module, args: tuple) -> tuple:
    """Forward pre-hook: 4-D float inputs in NHWC (5-D clips are left as they are: a 3D CNN's first
    channels_last_3d convolution converts them)."""
    return tuple(a.contiguous(memory_format=torch.channels_last)
                 if isinstance(a, Tensor) and a.ndim == 4 and a.is_floating_point() else a for a in args)


def to_channels_last(model: nn.Module) -> nn.Module:
    """``model`` in place in channels_last: 4-D weights (Conv2d) NHWC, 5-D ones (Conv3d) NDHWC, 4-D inputs by
    a forward pre-hook. Only strides change, not values: the same results up to float rounding, with NHWC
    cuDNN kernels on tensor cores and no transposes between layers."""
    formats = {4: torch.channels_last, 5: torch.channels_last_3d}
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.ndim in formats:
                tensor.data = tensor.data.contiguous(memory_format=formats[tensor.ndim])
    if not getattr(model, CHANNELS_LAST_HOOKED, False):
        model.register_forward_pre_hook(channels_last_inputs)
        setattr(model, CHANNELS_LAST_HOOKED, True)
    return model


def seed_everything(seed: int, epoch: int = 0) -> None:
    """Seed Python, NumPy and torch (all devices) from (seed, epoch)."""
    set_seed(seed * 1_000 + epoch)


def backbone_rate(model: nn.Module, config: TrainConfig) -> float:
    """The backbone's learning rate: ``backbone_lr``, or for ``auto`` a tenth of ``lr`` when the backbone starts
    from pretrained weights (``model.pretrained``: they are adjusted, not learnt anew) and ``lr`` otherwise."""
    if config.backbone_lr == "auto":
        return config.lr * (PRETRAINED_BACKBONE_SCALE if getattr(model, "pretrained", False) else 1.0)
    return config.lr if config.backbone_lr is None else float(config.backbone_lr)


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser over trainable parameters; ``backbone_lr`` gives the backbone its own rate."""
    backbone = getattr(model, "backbone", None)
    backbone_ids = {id(p) for p in backbone.parameters()} if backbone is not None else set()
    head = [p for p in model.parameters() if p.requires_grad and id(p) not in backbone_ids]
    body = [p for p in model.parameters() if p.requires_grad and id(p) in backbone_ids]
    groups = [{"params": head, "lr": config.lr}]
    if body:
        groups.append({"params": body, "lr": backbone_rate(model, config)})
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
    monitor, mode = config.monitor or getattr(task, "monitor", "val_loss"), config.monitor_mode
    if val_loader is None and monitor.startswith("val_"):
        monitor, mode = "train_loss", "min"  # nothing to validate on
    channels_last = uses_channels_last(model, config, accelerator)
    if channels_last:  # before the optimiser and prepare(): its states and the device copy keep the strides
        to_channels_last(model)
    if config.compile:
        model.compile()  # in place: same module, same state_dict keys for checkpoints and weights
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, mode)
    prepared = accelerator.prepare(model, optimizer, train_loader, *([val_loader] if val_loader is not None else []))
    model, optimizer, train_loader = prepared[:3]
    val_loader = prepared[3] if val_loader is not None else None

    state = LoopState()
    if folder is not None and (folder / LAST_CHECKPOINT).exists():
        state = restore(accelerator, model, optimizer, scheduler, folder / LAST_CHECKPOINT)
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
        record.update({f"train_{k}": float(v) for k, v in task.end_training_epoch(outputs).items()})
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
                                      checkpoint_payload(accelerator, model, optimizer, scheduler, state, config))
            results.write_csv(folder / "history.csv", pd.DataFrame(state.history))
        accelerator.wait_for_everyone()
        line = _epoch_line(record, config.epochs, monitor, state)
        if folder is not None and accelerator.is_main_process:
            with open(folder / EPOCH_LOG, "a") as log:  # the full log, printed or not
                log.write(line + "\n")
        if config.verbose:
            accelerator.print(line)
        for callback in callbacks:
            callback(epoch + 1, record)

    unwrapped = accelerator.unwrap_model(model)
    if config.restore_best and folder is not None and (folder / BEST_WEIGHTS).exists() and state.best_epoch:
        unwrapped.load_state_dict(load_checkpoint(folder / BEST_WEIGHTS)["model"])
    return FitResult(unwrapped, pd.DataFrame(state.history), state.best_epoch, state.stopped_early, resumed_from,
                     monitor, channels_last, bool(config.compile))


def _step_scheduler(scheduler, value: float) -> None:
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(value)
    else:
        scheduler.step()


def _epoch_line(record: dict[str, float], epochs: int, monitor: str, state: LoopState) -> str:
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
