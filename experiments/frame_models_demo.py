"""Can the demo's frame and clip models, trained from scratch, learn the synthetic cues with more frames, epochs,
pixels or augmentation?

On the demo profile (generator version 4) the frame models of 03-04 and the clip models of 05 are at chance while
the landmark models of 05 are above it. This script trains variants of an approach's demo grid (``VARIANTS``:
settings changed for every configuration) through the one runner on the demo dataset of the work directory
(notebooks 01-02 make it) and prints each configuration's paired accuracy (pairs known) and per-video accuracy,
and those of the configuration chosen per fold on validation subjects, with 95 % intervals over subjects.
Results go to ``--results`` (default ``<results>/demo/frame_models_demo``), never to the book's results.

``--probe`` trains nothing: it asks whether a linear model reads the cues from the pixels of one frame, with
the confound baselines' classifier (``helpers.analysis.confounds``: a standardised logistic regression, fitted
on each fold's training subjects): the most expressive kept crop of each video (the one farthest from the
first kept crop), and its difference from the first kept crop, each as a grey 16 x 16 image.

    python experiments/frame_models_demo.py --approach single_task --variants all_frames augment
    python experiments/frame_models_demo.py --approach single_task --variants augment_80px --folds 0 1
    python experiments/frame_models_demo.py --probe
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from helpers import approaches, data, frames, profiles, train  # noqa: E402
from helpers.analysis import compare, confounds, cue_experiments  # noqa: E402
from helpers.train import datasets  # noqa: E402

LONGER = {"epochs": 30, "lr": 3.0e-3, "scheduler": "cosine", "early_stopping_patience": 10, "progress": False}
FRAMES, CLIPS = ("single_task", "multitask"), ("temporal",)
#: name -> (the approaches it applies to, settings applied to every configuration of their demo grids)
VARIANTS = {
    "grid": (FRAMES + CLIPS, {}),
    "all_frames": (FRAMES, {"frames_per_video": None, "train": LONGER}),
    "augment": (FRAMES, {"augment": True, "frames_per_video": None, "train": LONGER}),
    "augment_80px": (FRAMES, {"augment": True, "frames_per_video": None, "image_size": 80,
                              "train": {**LONGER, "epochs": 20, "early_stopping_patience": 8}}),
    "expressive": (FRAMES, {"frame_selection": "expressive", "frames_per_video": 4, "val_frames_per_video": 4,
                            "eval_frames_per_video": 4, "train": LONGER}),
    "expressive_augment": (FRAMES, {"frame_selection": "expressive", "frames_per_video": 4, "val_frames_per_video": 4,
                                    "eval_frames_per_video": 4, "augment": True, "train": {**LONGER, "epochs": 40}}),
    "expressive8_augment": (FRAMES, {"frame_selection": "expressive", "frames_per_video": 8, "val_frames_per_video": 8,
                                     "eval_frames_per_video": 8, "augment": True,
                                     "train": {**LONGER, "epochs": 60, "early_stopping_patience": 15}}),
    "clips_augment_48px": (CLIPS, {"augment": True, "image_size": 48, "train": {**LONGER, "epochs": 20}}),
}


def variant_configurations(approach: str, name: str, common: dict) -> list:
    """``approach``'s demo grid with variant ``name``'s settings (and ``common``, e.g. where to write)."""
    applies_to, settings = VARIANTS[name]
    if approach not in applies_to:
        raise ValueError(f"variant {name!r} applies to {', '.join(applies_to)}, not to {approach!r}")
    return approaches.grid("demo", approach, None, {**common, **settings})


def expressive_frame_features(videos: pd.DataFrame, crops_dir: Path) -> dict[str, np.ndarray]:
    """Per video: the most expressive kept crop (farthest from the first kept crop, as ``frame_selection:
    expressive`` picks it) and its difference from the first kept crop, as grey thumbnails
    (``confounds.grey_thumbnail``)."""
    apex, change = [], []
    for video in videos.itertuples():
        crops = frames.load_crops(crops_dir, video.subject, video.code)
        thumbnails = np.array([confounds.grey_thumbnail(crop) for crop in crops])
        farthest = int(datasets.expressive_frames(crops, 1)[0])
        apex.append(thumbnails[farthest])
        change.append(thumbnails[farthest] - thumbnails[0])
    return {"most expressive kept frame": np.array(apex), "its change since the first kept frame": np.array(change)}


def probe(paths: profiles.RunPaths) -> pd.DataFrame:
    """Paired accuracy (pairs known) of the linear probe on each feature of ``expressive_frame_features``."""
    dataset = data.prepare_dataset("demo", paths, workers=1)
    crops_dir = paths.crops / train.latest_extraction(paths.crops).name
    videos = dataset.index[dataset.index["subject"].astype(str).isin(dataset.splits["subject"].astype(str))]
    videos = videos.reset_index(drop=True)
    folds = sorted(int(fold) for fold in dataset.splits["fold"].unique())
    scores = pd.concat([confounds.fold_baseline(videos, dataset.splits, features, f"probe/{name}", folds)
                        for name, features in expressive_frame_features(videos, crops_dir).items()])
    return compare.interval_table(scores, "paired")[["model", "interval"]]


def main(argv: list[str] | None = None) -> None:
    arguments = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    arguments.add_argument("--approach", choices=FRAMES + CLIPS, default="single_task")
    arguments.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=["augment"])
    arguments.add_argument("--folds", type=int, nargs="+", help="default: every fold")
    arguments.add_argument("--probe", action="store_true", help="a linear probe of one frame's pixels (no training)")
    arguments.add_argument("--work", type=Path, help="default: the profile's work directory")
    arguments.add_argument("--results", type=Path, help="default: <results>/demo/frame_models_demo")
    args = arguments.parse_args(argv)
    results_dir = args.results or profiles.default_results_dir() / "demo" / "frame_models_demo"
    paths = profiles.paths_for("demo", args.work, results_dir)
    if args.probe:
        print("Linear probe of one frame's pixels (demo, kfold, paired accuracy, pairs known; synthetic data):")
        print(probe(paths).to_string(index=False))
        return
    common = {"work_dir": str(paths.work.parent), "results_dir": str(results_dir),
              **({"folds": args.folds} if args.folds else {})}
    for name in args.variants:
        configs = variant_configurations(args.approach, name, common)
        table = cue_experiments.variant_intervals(args.approach, configs, paths)
        print(f"\n{args.approach}, variant {name!r} (demo, kfold{', folds ' + str(args.folds) if args.folds else ''};"
              " synthetic data, not a finding about people):")
        print(table.to_string(index=False), flush=True)


if __name__ == "__main__":
    main()
