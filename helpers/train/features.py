"""Cached per-frame features of a frozen CNN: the CNN runs once per video, the recurrent part trains on
features (seconds instead of minutes per epoch). ``FeatureClipDataset`` (``helpers.train.datasets``) serves
clips of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from helpers.models import FrameEncoder
from helpers.train.crops import CROP_PATH_COLUMN


@torch.no_grad()
def cache_frame_features(encoder: FrameEncoder, videos: pd.DataFrame, cache_dir: Path | str,
                         preprocess: nn.Module, batch_size: int = 64, device: str | None = None) -> pd.DataFrame:
    """Run the frozen per-frame CNN once over every crop of every video; store ``[frames, D]`` float16.

    Files go to ``<cache_dir>/<subject>/<code>.npy`` (written atomically; existing ones are reused, so the
    cache is resumable). ``cache_dir`` must be specific to the encoder, its weights and the preprocessing
    (``feature_cache_dir`` builds such a name). Returns ``videos`` with ``crop_path`` pointing at the
    feature files, ready for ``FeatureClipDataset``.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    encoder = encoder.to(device).eval()
    preprocess = preprocess.to(device)
    cache_dir = Path(cache_dir)
    out_paths = []
    for subject, code, crop in zip(videos["subject"].astype(str), videos["code"].astype(str),
                                   videos[CROP_PATH_COLUMN]):
        target = cache_dir / subject / f"{code}.npy"
        if not target.exists():
            crops = np.load(crop, mmap_mode="r")
            chunks = []
            for start in range(0, len(crops), batch_size):
                images = torch.from_numpy(np.ascontiguousarray(crops[start:start + batch_size].transpose(0, 3, 1, 2)))
                chunks.append(encoder.network(preprocess(images.to(device))).float().cpu())
            features = torch.cat(chunks).numpy().astype(np.float16)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            with open(partial, "wb") as file:
                np.save(file, features)
            partial.replace(target)
        out_paths.append(str(target))
    return videos.assign(**{CROP_PATH_COLUMN: out_paths})


def feature_cache_dir(work: Path | str, crops_dir: Path | str, model: str, pretrained: bool, image_size: int,
                      seed: int = 0, normalization: str = "auto") -> Path:
    """``<work>/features/<crops folder>/<model>_<weights>_<size>px_<normalisation>``; random weights depend on
    the seed, so it is part of their name."""
    weights = "pretrained" if pretrained else f"random-seed{seed}"
    return Path(work) / "features" / Path(crops_dir).name / f"{model}_{weights}_{image_size}px_{normalization}"
