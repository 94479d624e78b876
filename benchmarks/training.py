"""Is the data loader ever the bottleneck of training? Images/s of the project's loader (memory-mapped packed
crops, uint8 out of the workers, normalisation on the batch) against a naive ImageFolder of JPEG files made
from the *same* crops, and against the training step of a ResNet50 at 112 px, all measured in the same run.

    python benchmarks/training.py                     # the smoke profile's crops if extracted, else generated ones
    python benchmarks/training.py --crops DIR         # a crops folder of helpers.frames
    python benchmarks/training.py --device cuda       # model step on the GPU (Colab)

Target: the project's loader delivers at least 2x the images/s that the ResNet50 training step consumes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from helpers import labels, models, train  # noqa: E402

import timing  # noqa: E402  (benchmarks/timing.py)


def synthetic_crops(folder: Path, videos: int, frames: int, size: int, seed: int = 0) -> pd.DataFrame:
    """Packed arrays of smooth random images (JPEG-compressible like faces, unlike white noise)."""
    rng = np.random.default_rng(seed)
    rows = []
    for v in range(videos):
        low = rng.integers(0, 256, (frames, size // 8, size // 8, 3), dtype=np.uint8)
        array = np.ascontiguousarray(low.repeat(8, axis=1).repeat(8, axis=2))
        path = folder / f"video{v:03d}.npy"
        np.save(path, array)
        rows.append({"subject": f"s{v // 12}", "code": labels.CODES[v % 12], "label": v % 12, "crop_path": str(path)})
    return pd.DataFrame(rows)


def existing_crops(crops_dir: Path) -> pd.DataFrame:
    rows = []
    for path in sorted(crops_dir.glob("*/*.face.npy")):
        code = path.name.removesuffix(".face.npy")
        if labels.is_code(code):
            rows.append({"subject": path.parent.name, "code": code, "label": labels.parse_code(code).label,
                         "crop_path": str(path)})
    return pd.DataFrame(rows)


def default_crops_dir() -> Path | None:
    from helpers import frames, profiles

    folder = frames.extraction_dir(profiles.paths_for("smoke").crops, frames.ExtractionConfig())
    return folder if (folder / frames.VIDEOS_FILE).exists() else None


def write_jpegs(dataset: train.FrameDataset, folder: Path) -> None:
    """The same frames as JPEG files in an ImageFolder layout (one folder per class): the naive baseline."""
    from PIL import Image

    for i in range(len(dataset)):
        item = dataset[i]
        target = folder / f"{item['label']:02d}"
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(item["image"].permute(1, 2, 0).numpy()).save(target / f"{i:06d}.jpg", quality=95)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crops", type=Path, help="a helpers.frames crops folder (default: smoke's, or generated)")
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None, help="loader processes (default: CPUs - 1)")
    parser.add_argument("--batches", type=int, default=30, help="batches timed per loader")
    parser.add_argument("--model-steps", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    workers = train.default_workers() if args.workers is None else args.workers
    scratch = Path(tempfile.mkdtemp(prefix="loader-benchmark-"))
    try:
        crops_dir = args.crops or default_crops_dir()
        if crops_dir is not None:
            videos, source = existing_crops(crops_dir), f"crops in {crops_dir}"
        else:
            videos = synthetic_crops(scratch, videos=48, frames=20, size=args.image_size)
            source = "48 generated videos x 20 frames"
        dataset = train.FrameDataset(videos, size=args.image_size)
        print(f"{len(dataset)} frames ({source}), {args.image_size} px, batch {args.batch_size}, "
              f"{workers} loader worker(s), model on {args.device}, torch threads {torch.get_num_threads()}")
        write_jpegs(dataset, scratch / "jpeg")

        from torchvision import datasets as tv_datasets
        from torchvision import transforms

        stats = train.normalization_stats("imagenet")
        project_loader = train.make_loader(dataset, args.batch_size, train=True, workers=workers)
        transform = train.BatchTransform(stats["mean"], stats["std"], args.image_size)
        naive = tv_datasets.ImageFolder(str(scratch / "jpeg"), transform=transforms.Compose([
            transforms.Resize((args.image_size, args.image_size)), transforms.ToTensor(),
            transforms.Normalize(stats["mean"], stats["std"])]))
        naive_loader = torch.utils.data.DataLoader(naive, batch_size=args.batch_size, shuffle=True,
                                                   num_workers=workers, persistent_workers=workers > 0,
                                                   pin_memory=torch.cuda.is_available())
        project_raw = timing.loader_rate(project_loader, args.batches)
        project = timing.loader_rate(project_loader, args.batches, transform)
        baseline = timing.loader_rate(naive_loader, args.batches)
        model = models.build_model("resnet50", heads=12, weights=None, image_size=args.image_size)
        images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=args.device)
        target = torch.randint(0, 12, (args.batch_size,), device=args.device)
        step = timing.step_rate(model, images, target, args.model_steps)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"project loader, uint8 batches:        {project_raw:9.1f} images/s  (what a GPU receives)")
    print(f"project loader + normalise on the CPU:{project:9.1f} images/s  (CPU training)")
    print(f"naive loader (ImageFolder of JPEGs):  {baseline:9.1f} images/s")
    print(f"ResNet50 training step ({args.device}):      {step:9.1f} images/s")
    print(f"ratio project / naive loader:         {project / baseline:9.2f}x  (both normalised on the CPU)")
    print(f"ratio project loader / model step:    {project / step:9.2f}x")
    met = project >= 2 * step
    print(f"\nTARGET {'MET' if met else 'NOT MET'}: project loader {project / step:.2f}x the ResNet50 training step "
          f"({project:.1f} vs {step:.1f} images/s on {args.device}) vs >= 2x; "
          f"{project / baseline:.2f}x the naive loader")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
