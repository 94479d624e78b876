"""The machine a notebook runs on: which GPU, which mixed precision, and the banner every notebook prints.

Mixed precision is chosen per GPU, from its compute capability rather than from
``torch.cuda.is_bf16_supported()``: a T4 (Colab's usual GPU, capability 7.5) answers True there because
PyTorch *emulates* bf16 on it, which is slow or unsupported in some kernels. bf16 is used only where the
hardware has it (capability 8.0 and newer: A100, L4, H100), fp16 with a gradient scaler on older GPUs
(T4, V100, P100), and full precision on a CPU.

The memory format is chosen per GPU too (``choose_channels_last``): channels_last (NHWC) feeds the tensor
cores of capability 7.0 and newer without a transpose before every convolution, which pays under mixed
precision; elsewhere it only costs copies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from helpers import profiles

BF16_MIN_CAPABILITY = (8, 0)
TENSOR_CORE_MIN_CAPABILITY = (7, 0)  # V100, T4, A100, L4, H100: NHWC convolutions in fp16/bf16
MIXED_PRECISION_SETTINGS = ("auto", "no", "fp16", "bf16")
COLAB_GPU_HINT = "On Colab: Runtime > Change runtime type > T4 GPU (or better), then run the notebook again"


@dataclass(frozen=True)
class Device:
    """What the training loop will run on."""

    cuda: bool
    name: str  # "CPU" or the GPU's name
    capability: tuple[int, int] | None  # CUDA compute capability of GPU 0
    count: int  # GPUs visible
    cpus: int

    @property
    def capability_text(self) -> str:
        return f"{self.capability[0]}.{self.capability[1]}" if self.capability else ""


def current_device() -> Device:
    import torch

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not torch.cuda.is_available():
        return Device(False, "CPU", None, 0, cpus)
    major, minor = torch.cuda.get_device_capability(0)
    return Device(True, torch.cuda.get_device_name(0), (int(major), int(minor)), torch.cuda.device_count(), cpus)


def choose_mixed_precision(setting: str = "auto", device: Device | None = None) -> str:
    """``auto``: ``bf16`` on GPUs with native bf16 (compute capability >= 8.0), ``fp16`` (with a gradient
    scaler, which Accelerate adds) on older GPUs, ``no`` on a CPU. Any other setting is returned as is."""
    if setting not in MIXED_PRECISION_SETTINGS:
        raise ValueError(f"unknown mixed precision {setting!r}; choose one of {', '.join(MIXED_PRECISION_SETTINGS)}")
    if setting != "auto":
        return setting
    device = device or current_device()
    if not device.cuda:
        return "no"
    return "bf16" if device.capability >= BF16_MIN_CAPABILITY else "fp16"


def choose_channels_last(setting: bool | None, precision: str, device: Device | None = None,
                         conv2d: bool = True) -> bool:
    """``None`` (auto): channels_last where it is expected to pay (NVIDIA's guidance for tensor cores; check it
    on a GPU with ``benchmarks/gpu.py``, whose last line says whether it agrees): 2D conv nets (``conv2d``)
    under mixed precision (``precision`` fp16/bf16) on a GPU of compute capability >= 7.0; off on a CPU, in
    fp32 and for clip models (3D CNNs and CNN-RNNs: 5-D inputs). An explicit True/False is kept."""
    if setting is not None:
        return bool(setting)
    device = device or current_device()
    return bool(device.cuda and device.capability is not None and device.capability >= TENSOR_CORE_MIN_CAPABILITY
                and precision in ("fp16", "bf16") and conv2d)


def describe_precision(precision: str) -> str:
    return {"no": "full precision (fp32)", "fp16": "fp16 mixed precision with a gradient scaler",
            "bf16": "bf16 mixed precision"}.get(precision, precision)


def banner(profile: str, paths: profiles.RunPaths, trains: bool = False, device: Device | None = None) -> str:
    """The lines a notebook prints first: profile, folders, device and (when it ``trains``) the precision.

    A training notebook in the ``full`` profile without a GPU gets a warning line that says how to get one
    (it still runs: the rehearsal and CPU-only users rely on that)."""
    spec = profiles.get_profile(profile)
    device = device or current_device()
    lines = [f"PROFILE = {profile}: {spec.description}",
             f"work directory: {profiles.display_path(paths.work)}",
             f"results:        {profiles.display_path(paths.results)}"]
    if device.cuda:
        gpus = f"{device.count} x " if device.count > 1 else ""
        lines.append(f"device:         {gpus}{device.name} (compute capability {device.capability_text})")
    else:
        lines.append(f"device:         CPU ({device.cpus} cores)")
    if trains:
        lines.append(f"precision:      {describe_precision(choose_mixed_precision('auto', device))}")
        if profile == "full" and not device.cuda:
            message = (f"the full profile trains pretrained backbones on the real SASE-FE, but no GPU is visible: "
                       f"on this CPU it would take days. {COLAB_GPU_HINT}.")
            lines.append(f"WARNING: {message}")
    return "\n".join(lines)
