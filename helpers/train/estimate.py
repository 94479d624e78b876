"""How long a grid will train, before it does: measured on a few training steps, on the machine found.

For each model of the grid, the first configuration with folds to train runs a few steps of its real training
(its fold's loader, optimiser, mixed precision and device); the seconds of a step, times the steps the grid
has left (epochs x the batches of training and validation, per pending fold), give the estimate. It counts
steps only (validation batches as training ones, no early stopping): each fold's setup, testing and results
come on top, which weigh less the more steps a fold has. Configurations that fit another way (the Rank-SVM
ensemble) or train on cached features (their caching would run here first) are listed as not estimated.

A Colab session ends after at most ``COLAB_SESSION_HOURS`` (Colab's FAQ: up to 12 hours on the free tier, less
when idle or busy); a longer grid resumes in the next session from its checkpoints, which the estimate says.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from helpers import profiles, runtime
from helpers.train.config import ExperimentConfig
from helpers.train.loop import build_optimizer, make_accelerator, seed_everything
from helpers.train.plan import GridPlan

#: The longest a free Colab session runs (research.google.com/colaboratory/faq.html: "up to 12 hours").
COLAB_SESSION_HOURS = 12.0
MEASURED_STEPS = 3
WARMUP_STEPS = 1  # the first step builds CUDA kernels, cuDNN plans and the loader's workers: not counted


@dataclass(frozen=True)
class StepTiming:
    """Seconds per training step of one configuration, and the batches one epoch of its fold has."""

    run: str
    seconds_per_step: float
    steps_per_epoch: int  # training + validation batches


@dataclass
class GridTime:
    """The estimated training time of a grid's pending folds on ``device``."""

    device: str
    seconds: float
    measured: list[StepTiming] = field(default_factory=list)
    not_estimated: list[str] = field(default_factory=list)
    session_hours: float = COLAB_SESSION_HOURS

    @property
    def sessions(self) -> int:
        """Colab sessions of ``session_hours`` the estimate spans (at least one)."""
        return max(1, math.ceil(self.seconds / (self.session_hours * 3600)))

    def summary(self) -> str:
        if not self.measured and not self.not_estimated:
            return "nothing to train: no time needed"
        steps = "; ".join(f"{m.run} {m.seconds_per_step * 1000:.0f} ms a step" for m in self.measured)
        text = f"estimated training time on {self.device}: {format_duration(self.seconds)}"
        text += f" (measured: {steps})" if steps else ""
        if self.not_estimated:
            text += f"; not estimated: {', '.join(self.not_estimated)}"
        if self.sessions > 1:
            text += (f"\nthat is more than one Colab session ({self.session_hours:g} h at most on the free tier): "
                     f"about {self.sessions} sessions. Each new session resumes where the last one stopped "
                     "(run the notebook again), or train fewer configurations or folds")
        return text


def format_duration(seconds: float) -> str:
    """``42 s``, ``7 min``, ``3 h 05 min``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def grid_seconds(pending: list[tuple[ExperimentConfig, int]], timings: dict[str, StepTiming]) -> float:
    """Seconds for the pending (configuration, fold) pairs: epochs x steps per epoch x seconds a step, with
    each configuration's timing found by its model (``timing_key``); pairs without one count nothing."""
    total = 0.0
    for config, _ in pending:
        timing = timings.get(timing_key(config))
        if timing is not None:
            total += config.train.epochs * timing.steps_per_epoch * timing.seconds_per_step
    return total


def timing_key(config: ExperimentConfig) -> str:
    """Configurations of one approach with the same model, input size and batch size share a step's time."""
    return f"{config.approach}/{config.model}/{config.input_size}/{config.batch_size}"


def measurable(config: ExperimentConfig) -> bool:
    """Trains through the training loop (not its own ``fit``), on crops (not on features cached first)."""
    return type(config).fit is ExperimentConfig.fit and not getattr(config, "uses_cache", False)


def measure_steps(config: ExperimentConfig, fold: int, plan: GridPlan, paths: profiles.RunPaths,
                  steps: int = MEASURED_STEPS) -> StepTiming:
    """Time ``steps`` training steps (after ``WARMUP_STEPS``) of ``config`` on ``fold``: its model, loader,
    optimiser and mixed precision on this machine's device. Nothing is written; the weights are thrown away."""
    seed_everything(config.train.seed)
    model = config.build_model()
    data = config.fold_data(plan.dataset.index, plan.dataset.splits, fold, plan.crops_dir)
    setup = config.prepare(model, data, paths)
    train_loader, val_loader = setup.loaders[0], setup.loaders[1]
    accelerator = make_accelerator(config.train)
    optimizer = build_optimizer(model, config.train)
    model, optimizer, loader = accelerator.prepare(model, optimizer, train_loader)
    model.train()
    done, started = 0, time.perf_counter()
    while len(train_loader) and done < WARMUP_STEPS + steps:  # a small fold's loader may be passed over again
        for batch in loader:
            if done == WARMUP_STEPS:
                _synchronize()
                started = time.perf_counter()
            result = setup.task.step(model, batch, training=True)
            accelerator.backward(result.loss)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            done += 1
            if done >= WARMUP_STEPS + steps:
                break
    _synchronize()
    seconds = (time.perf_counter() - started) / steps if done else float("nan")
    accelerator.free_memory()
    per_epoch = len(train_loader) + (len(val_loader) if val_loader is not None else 0)
    return StepTiming(config.run_name, seconds, per_epoch)


def estimate_grid_time(plan: GridPlan, paths: profiles.RunPaths, steps: int = MEASURED_STEPS,
                       session_hours: float = COLAB_SESSION_HOURS) -> GridTime:
    """The training time of ``plan``'s pending folds on this machine (see the module's docstring)."""
    device = runtime.current_device()
    estimate = GridTime(device.name, 0.0, session_hours=session_hours)
    timings: dict[str, StepTiming] = {}
    for config, fold in plan.pending:
        if not measurable(config):
            if config.run_name not in estimate.not_estimated:
                estimate.not_estimated.append(config.run_name)
            continue
        if timing_key(config) not in timings:
            timing = measure_steps(config, fold, plan, paths, steps)
            if math.isnan(timing.seconds_per_step):  # an empty training loader: nothing to time
                estimate.not_estimated.append(config.run_name)
                continue
            timings[timing_key(config)] = timing
            estimate.measured.append(timing)
    estimate.seconds = grid_seconds(plan.pending, timings)
    return estimate


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
