"""Throughput measurements shared by the benchmarks: a data loader's rate and a model's training-step rate,
each after a warm-up that is not counted (worker start-up, allocations, cuDNN autotuning)."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def loader_rate(loader, batches: int, transform: Callable | None = None) -> float:
    """Samples/s delivered by ``loader`` over ``batches`` batches (restarting it when it runs out);
    ``transform(images, training=True)`` is applied to each batch when given (its cost counts)."""
    iterator = iter(loader)
    next(iterator)
    count, started = 0, time.perf_counter()
    for _ in range(batches):
        try:
            batch = next(iterator)
        except StopIteration:
            iterator = iter(loader)
            batch = next(iterator)
        images = batch["image"] if isinstance(batch, dict) else batch[0]
        if transform is not None:
            images = transform(images, training=True)
        count += images.shape[0]
    return count / (time.perf_counter() - started)


def step_rate(model: torch.nn.Module, inputs: torch.Tensor, target: torch.Tensor, steps: int,
              preprocess: Callable | None = None) -> float:
    """Samples/s of forward + cross-entropy backward + AdamW step on one fixed batch (no loading at all)."""
    device = inputs.device
    model.to(device).train()
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        batch = preprocess(inputs, training=True) if preprocess is not None else inputs
        torch.nn.functional.cross_entropy(model(batch), target).backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)

    step()
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    return steps * len(inputs) / (time.perf_counter() - started)
