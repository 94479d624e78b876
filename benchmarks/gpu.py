"""Which precision and memory format should training use on this GPU, and does the data loader keep up?

Training images/s of the thesis backbones at their input sizes (the registry's ``default_image_size``,
random weights: nothing is downloaded) for

  fp32                 full precision (with TF32 matmuls on GPUs that have them, as training runs);
  amp                  mixed precision as the project chooses it (``helpers.runtime.choose_mixed_precision``:
                       bf16 from compute capability 8.0, fp16 with a GradScaler below; "no" on a CPU);
  amp+channels_last    the same in NHWC (``helpers.train.loop.to_channels_last``: weights and inputs);
  amp+cl+compile       (``--compile`` only) the same under torch.compile;

each step as the training loop does it (uint8 batch on the device -> BatchTransform -> model -> cross-entropy
-> backward -> gradient clipping -> AdamW), timed after a warm-up with torch.cuda.synchronize. Beside it the
rate of the project's loader (FrameDataset over packed ``.npy`` crops, ``make_loader`` with the default
workers) on a temporary set of crops stored at each input size, and the ratio loader / step (below 1: the GPU
waits for data). Ratios are against the fp32 row of the same model in the same run.
The last line says ``TARGET MET`` when the project's automatic rule picks the fastest mode measured, or
``TARGET NOT MET`` (an advice: the exit status is 0 either way).

    python benchmarks/gpu.py                                  # on a GPU: the thesis backbones, batch 32
    python benchmarks/gpu.py --models resnet18,vgg16 --json gpu.json
    python benchmarks/gpu.py --size tiny --device cpu         # seconds on a CPU (the test runs this)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from helpers import models, runtime, train  # noqa: E402
from helpers.train import loop  # noqa: E402
from helpers.train.loaders import worker_size  # noqa: E402

import timing  # noqa: E402  (benchmarks/timing.py)
from training import synthetic_crops  # noqa: E402  (benchmarks/training.py)

FULL_MODELS = ("resnet18", "resnet50", "vgg16", "inception_resnet_v1", "vit_b_16")
TINY_MODELS = ("simple_cnn", "resnet18")
TINY_IMAGE_SIZE = 32
SIZES = {  # batch, timed steps, warm-up steps, loader batches, videos x frames of the temporary crops
    "full": {"batch_size": 32, "steps": 30, "warmup": 10, "loader_batches": 100, "videos": 48, "frames": 32},
    "tiny": {"batch_size": 4, "steps": 3, "warmup": 2, "loader_batches": 4, "videos": 6, "frames": 8},
}


def image_size(name: str, size: str, override: int | None) -> int:
    """The model's input side: ``override``, its default (``full``) or the smallest it takes near 32 px (``tiny``)."""
    entry = models.model_entry(name)
    side = override or (entry.default_image_size if size == "full" else max(TINY_IMAGE_SIZE, entry.min_image_size))
    side += -side % entry.patch_size
    return models.check_image_size(name, side)


def modes(precision: str, compile_too: bool) -> list[dict[str, Any]]:
    """The configurations measured per model: fp32 first (the baseline of the ratios)."""
    rows = [{"mode": "fp32", "precision": "no", "channels_last": False, "compile": False},
            {"mode": "amp", "precision": precision, "channels_last": False, "compile": False},
            {"mode": "amp+channels_last", "precision": precision, "channels_last": True, "compile": False}]
    if compile_too:
        rows.append({"mode": "amp+cl+compile", "precision": precision, "channels_last": True, "compile": True})
    return rows


def step_rate(name: str, side: int, mode: dict[str, Any], device: torch.device, batch_size: int, steps: int,
              warmup: int) -> tuple[float, float | None]:
    """(images/s, peak GPU memory in GiB or None) of the training step of ``name`` under ``mode``."""
    torch.manual_seed(0)
    model = models.build_model(name, heads=12, weights=None, image_size=side)
    if mode["channels_last"]:
        loop.to_channels_last(model)
    model.to(device).train()
    if mode["compile"]:
        model.compile()
    stats = train.normalization_stats("imagenet")
    preprocess = train.BatchTransform(stats["mean"], stats["std"], side).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode["precision"])
    scaler = torch.amp.GradScaler(device.type) if mode["precision"] == "fp16" else None
    images = torch.randint(0, 256, (batch_size, 3, side, side), dtype=torch.uint8, device=device)
    target = torch.randint(0, 12, (batch_size,), device=device)

    def step() -> None:
        autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
        with autocast:
            logits = model(preprocess(images, training=True))  # Accelerate autocasts the forward pass only
        loss = F.cross_entropy(logits.float(), target)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimiser)
        else:
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # TrainConfig.grad_clip_norm
        if scaler is not None:
            scaler.step(optimiser)
            scaler.update()
        else:
            optimiser.step()
        optimiser.zero_grad(set_to_none=True)

    cuda = device.type == "cuda"
    for _ in range(max(1, warmup)):  # cuDNN autotuning, allocations, compilation
        step()
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize(device)
    rate = steps * batch_size / (time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None
    return rate, peak  # the model and its optimiser go with this frame (the caller empties the CUDA cache)


def loader_rate(side: int, folder: Path, batch_size: int, batches: int, workers: int, videos: int, frames: int,
                device: torch.device) -> float:
    """Images/s of the project's training loader over packed crops stored at ``side`` px, copied to ``device``."""
    crops = synthetic_crops(folder, videos=videos, frames=frames, size=side)
    dataset = train.FrameDataset(crops, size=worker_size(crops, side))
    data = train.make_loader(dataset, batch_size, train=True, workers=workers)
    rate = timing.loader_rate(data, batches, lambda images, training: images.to(device, non_blocking=True))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    del data
    return rate


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def recommend(rows: list[dict[str, Any]], device: runtime.Device, precision: str) -> dict[str, Any]:
    """The mode with the best geometric mean speed-up over fp32 across models, and what the project's rule picks."""
    by_mode: dict[str, list[float]] = {}
    for row in rows:
        if row.get("ratio_vs_fp32"):
            by_mode.setdefault(row["mode"], []).append(row["ratio_vs_fp32"])
    gains = {mode: geometric_mean(ratios) for mode, ratios in by_mode.items()}
    best = max(gains, key=gains.get) if gains else "fp32"
    if precision == "no":  # no mixed precision here (a CPU): the amp rows ran in fp32
        best = {"amp": "fp32", "amp+channels_last": "fp32+channels_last", "amp+cl+compile": "fp32+cl+compile"
                }.get(best, best)
    auto_cl = runtime.choose_channels_last(None, precision, device, conv2d=True)
    auto = "amp+channels_last" if auto_cl else ("amp" if precision != "no" else "fp32")
    agrees = best == auto or best.replace("+cl+compile", "+channels_last") == auto  # compile is opt-in
    return {"best_mode": best, "gains": gains, "project_rule": auto, "agrees": agrees, "precision": precision}


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (f"{'model':<20} {'px':>4} {'mode':<18} {'prec':<5} {'images/s':>10} {'vs fp32':>8} "
              f"{'loader/s':>10} {'loader/step':>11} {'peak GiB':>8}")
    print(header)
    print("-" * len(header))
    for r in rows:
        if r.get("error"):
            print(f"{r['model']:<20} {r['image_size']:>4} {r['mode']:<18} {r['precision']:<5} {r['error']}")
            continue
        peak = f"{r['peak_memory_gib']:8.2f}" if r["peak_memory_gib"] is not None else f"{'-':>8}"
        ratio = f"{r['ratio_vs_fp32']:7.2f}x" if r["ratio_vs_fp32"] is not None else f"{'-':>8}"
        print(f"{r['model']:<20} {r['image_size']:>4} {r['mode']:<18} {r['precision']:<5} {r['images_per_s']:10.1f} "
              f"{ratio} {r['loader_images_per_s']:10.1f} {r['loader_over_step']:10.2f}x {peak}")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", choices=sorted(SIZES), default=None,
                        help="full: input sizes of the registry (default on a GPU); tiny: 32 px, a few steps")
    parser.add_argument("--models", default=None, help=f"comma-separated (default: {','.join(FULL_MODELS)}; "
                                                       f"tiny: {','.join(TINY_MODELS)})")
    parser.add_argument("--image-size", type=int, default=None, help="one input size for every model")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed training steps per row")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (cuDNN autotuning)")
    parser.add_argument("--workers", type=int, default=None, help="loader processes (default: the project's)")
    parser.add_argument("--loader-batches", type=int, default=None)
    parser.add_argument("--compile", action="store_true", help="add an amp+channels_last+torch.compile row")
    parser.add_argument("--json", type=Path, default=None, help="write the measurements here")
    args = parser.parse_args(argv)
    args.size = args.size or ("full" if args.device.startswith("cuda") else "tiny")
    for key, value in SIZES[args.size].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    names = args.models.split(",") if args.models else (FULL_MODELS if args.size == "full" else TINY_MODELS)
    args.models = [n.strip().lower() for n in names if n.strip()]
    unknown = [n for n in args.models if n not in models.MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; registered: {', '.join(models.MODELS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    device = torch.device(args.device)
    machine = runtime.current_device() if device.type == "cuda" else runtime.Device(False, "CPU", None, 0, 1)
    precision = runtime.choose_mixed_precision("auto", machine)
    workers = train.default_workers() if args.workers is None else args.workers
    loop.enable_fast_cuda()  # TF32 and cuDNN autotuning, as training runs
    where = (f"{machine.name} (compute capability {machine.capability_text})" if machine.cuda
             else f"CPU ({torch.get_num_threads()} threads)")
    print(f"{where}, size {args.size}, batch {args.batch_size}, {args.steps} timed steps after {args.warmup}, "
          f"loader with {workers} worker(s), torch {torch.__version__}")
    print(f"mixed precision here: {precision} ({runtime.describe_precision(precision)})"
          + ("; on a CPU there is none: the amp rows run in fp32" if precision == "no" else ""))
    scratch = Path(tempfile.mkdtemp(prefix="gpu-benchmark-"))
    rows: list[dict[str, Any]] = []
    loader_rates: dict[int, float] = {}
    try:
        for name in args.models:
            side = image_size(name, args.size, args.image_size)
            if side not in loader_rates:
                folder = scratch / f"{side}px"
                folder.mkdir()
                loader_rates[side] = loader_rate(side, folder, args.batch_size, args.loader_batches, workers,
                                                 args.videos, args.frames, device)
            baseline = None
            for mode in modes(precision, args.compile):
                row = {"model": name, "image_size": side, "batch_size": args.batch_size, **mode,
                       "loader_images_per_s": loader_rates[side]}
                try:
                    rate, peak = step_rate(name, side, mode, device, args.batch_size, args.steps, args.warmup)
                except (torch.cuda.OutOfMemoryError, RuntimeError) as error:  # one row, not the whole run
                    row.update(error=f"{type(error).__name__}: {str(error).splitlines()[0][:80]}")
                    rows.append(row)
                    continue
                finally:
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                baseline = baseline or (rate if mode["mode"] == "fp32" else None)
                row.update(images_per_s=rate, peak_memory_gib=peak,
                           ratio_vs_fp32=rate / baseline if baseline else None,
                           loader_over_step=loader_rates[side] / rate)
                rows.append(row)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print_table(rows)
    advice = recommend(rows, machine, precision)
    gains = ", ".join(f"{mode} {gain:.2f}x" for mode, gain in advice["gains"].items())
    print(f"geometric mean over models vs fp32: {gains}")
    starved = sorted({f"{r['model']}" for r in rows if r["mode"] == advice["best_mode"]
                      and r.get("loader_over_step", 2) < 1})
    if starved:
        print(f"the loader is slower than the step (loader/step < 1: the GPU waits for data) for {', '.join(starved)}")
    tiny = " (tiny sizes: not a measurement to decide by)" if args.size == "tiny" else ""
    best_gain = max(advice["gains"].values(), default=1.0)  # the best mode's geometric-mean speed-up over fp32
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "device": {"name": machine.name, "cuda": machine.cuda, "capability": machine.capability_text,
                       "torch": torch.__version__}, "size": args.size, "batch_size": args.batch_size,
            "steps": args.steps, "warmup": args.warmup, "workers": workers, "mixed_precision": precision,
            "loader": [{"image_size": s, "images_per_s": r} for s, r in loader_rates.items()],
            "rows": rows, "recommendation": advice}, indent=2))
    # the target: the project's auto rule (TrainConfig mixed_precision='auto', channels_last=None) picks the
    # fastest mode measured; an advice, so the exit status stays 0 either way
    print(f"\nTARGET {'MET' if advice['agrees'] else 'NOT MET (revisit the rule)'}: the project's auto rule picks "
          f"{advice['project_rule']}; default on this {'GPU' if machine.cuda else 'CPU'}: {advice['best_mode']}, "
          f"{best_gain:.2f}x fp32 (precision {precision}){tiny}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
