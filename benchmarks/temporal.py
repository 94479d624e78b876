"""Temporal training: is the clip loader fast enough to keep the model busy? Both measured in one run.

    .venv/bin/python benchmarks/temporal.py                               # fake crops, conv3d, CPU
    .venv/bin/python benchmarks/temporal.py --model r3d_18 --size 112 --clip-len 16 --workers 4   # on a GPU
    .venv/bin/python benchmarks/temporal.py --crops DIR                   # real packed crops (02's folder)

What is timed, on the same clips:

* **loader**: ``train.ClipDataset`` (random clip positions, as in training) through ``train.make_loader``
  with ``--workers`` processes: clips per second delivered, nothing else done with them;
* **model step**: one training step (device-side ``BatchTransform``, forward, backward, optimiser step) on
  a batch already in memory: clips per second the model consumes;
* **cached features** (CNN-RNN models only): the same step on cached per-frame features of a frozen CNN.

The ratio loader / model says whether data loading is the bottleneck (< 1: the model waits for data); the
target is that it does not, and the last line says ``TARGET MET`` or ``TARGET NOT MET`` with the figures.
Without ``--crops`` the packed crops are fake (random uint8 arrays of the given size) in a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from helpers import labels, models, train

import timing  # benchmarks/timing.py (this folder is on sys.path when the script runs)

TARGET_LOADER_OVER_STEP = 1.0  # the loader delivers at least the clips the training step consumes


def fake_crops(folder: Path, videos: int, frames: int, size: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for v in range(videos):
        path = folder / f"v{v}.face.npy"
        np.save(path, rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8))
        rows.append({"subject": f"S{v // 12}", "code": labels.CODES[v % 12], "label": v % 12, "crop_path": str(path)})
    return pd.DataFrame(rows)


def real_crops(folder: Path) -> pd.DataFrame:
    rows = []
    for path in sorted(folder.glob("*/*.face.npy")):
        code = path.name.split(".")[0]
        if labels.is_code(code):
            rows.append({"subject": path.parent.name, "code": code, "label": labels.parse_code(code).label,
                         "crop_path": str(path)})
    if not rows:
        raise SystemExit(f"no <subject>/<CODE>.face.npy files in {folder}")
    return pd.DataFrame(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="conv3d", choices=list(models.TEMPORAL_MODELS))
    parser.add_argument("--crops", type=Path, help="a folder of packed crops (02's); default: fake crops")
    parser.add_argument("--size", type=int, default=64, help="model input (and fake crop) size in pixels")
    parser.add_argument("--clip-len", type=int, default=8)
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=train.default_workers())
    parser.add_argument("--batches", type=int, default=20, help="loader batches timed")
    parser.add_argument("--steps", type=int, default=5, help="model steps timed")
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--frames", type=int, default=40, help="crops per fake video")
    args = parser.parse_args()
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    with tempfile.TemporaryDirectory() as tmp:
        videos = real_crops(args.crops) if args.crops else fake_crops(Path(tmp), args.videos, args.frames, args.size)
        stored = train.packed_shape(videos["crop_path"].iloc[0])[1]
        dataset = train.ClipDataset(videos, args.clip_len, args.stride, clips_per_video=4,
                                       size=args.size if stored > args.size else None, mode="random")
        loader = train.make_loader(dataset, args.batch_size, True, workers=args.workers)
        clips_rate = timing.loader_rate(loader, args.batches)

        model = models.build_temporal_model(args.model, 12, None, image_size=args.size)
        preprocess = train.BatchTransform([0.5] * 3, [0.25] * 3, args.size).to(device)
        batch = torch.stack([dataset[i]["image"] for i in range(args.batch_size)]).to(device)
        target = torch.randint(0, 12, (args.batch_size,), device=device)
        model_rate = timing.step_rate(model, batch, target, args.steps, preprocess)

        rows = [("loader (uint8 clips)", clips_rate), (f"{args.model} training step", model_rate)]
        if models.temporal_entry(args.model).kind == "rnn":
            model.freeze_backbone(True)
            with torch.no_grad():
                features = model.backbone(preprocess(batch))
            rows.append((f"{args.model} step on cached features", timing.step_rate(model, features, target, args.steps)))

    print(f"device {device}, {len(videos)} videos, clips of {args.clip_len} x {args.size} px (stride {args.stride}), "
          f"batch {args.batch_size}, {args.workers} loader worker(s)")
    for what, rate in rows:
        print(f"  {what:<40s} {rate:10.1f} clips/s")
    ratio = clips_rate / model_rate
    verdict = "the loader keeps up" if ratio >= 1 else "data loading is the bottleneck"
    print(f"loader / model step = {ratio:.1f}x: {verdict}")
    if len(rows) == 3:
        print(f"cached features / full step = {rows[2][1] / model_rate:.1f}x")
    met = ratio >= TARGET_LOADER_OVER_STEP
    print(f"\nTARGET {'MET' if met else 'NOT MET'}: loader {ratio:.2f}x the {args.model} training step "
          f"({clips_rate:.1f} vs {model_rate:.1f} clips/s on {device}) vs >= {TARGET_LOADER_OVER_STEP:g}x")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
