"""Does a temporal model beat a frame model when the only genuine-vs-posed cue is temporal?

The synthetic dataset separates genuine from posed videos by three cues (helpers.synthetic.CueConfig):
the **temporal shape** of the expression (genuine ones tend to rise slowly and fade fast, posed ones the
reverse, through the same intensities for as long, so no single frame shows it), and two cues that a single
frame shows, **eye** involvement and **asymmetry**; each cue's strength is drawn per video, the classes
overlapping by the cue's effect size. This experiment generates a demo-sized dataset
with only the onset cue left, extracts the crops once, and trains on the same subject folds

- the frame model of notebook 03's demo profile (a ResNet18 from scratch on single face crops), and
- the 3D CNN of notebook 05's demo profile (clips of 8 consecutive crops of the same extraction),

both reading the 12 classes, and compares real/fake accuracy per video, the paired protocol and the
12-class video accuracy (mean ± std over folds). Everything goes to its own folder (default
``<results>/demo/temporal_cue``): the default demo dataset and results are never touched.

    python experiments/temporal_cue.py                 # demo size, every fold
    python experiments/temporal_cue.py --folds 0 1     # fewer folds
    python experiments/temporal_cue.py --profile smoke --epochs 1   # a quick check of the pipeline
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from helpers import approaches, data, profiles, results, synthetic, train  # noqa: E402
from helpers.analysis import compare  # noqa: E402
from helpers.metrics import evaluate  # noqa: E402

STATIC_CUES = ("eye", "asymmetry")  # visible in one frame; switched off so that only the onset is left


@dataclass
class Settings:
    """The demo defaults of notebooks 03 (frames) and 05 (clips); ``epochs`` overrides both."""

    profile: str = "demo"
    epochs: int | None = None
    folds: list[int] | None = None
    workers: int | None = None


FRAME_DEFAULTS = {"smoke": dict(model="simple_cnn", epochs=1, frames_per_video=4, image_size=32, lr=1e-3),
                  "demo": dict(model="resnet18", epochs=12, frames_per_video=4, image_size=48, lr=2e-3)}
CLIP_DEFAULTS = {"smoke": dict(model="conv3d", epochs=1, clip_len=4, image_size=32, lr=1e-3),
                 "demo": dict(model="conv3d", epochs=12, clip_len=8, image_size=48, lr=1e-3)}


def prepare(paths: profiles.RunPaths, profile: profiles.Profile) -> data.Dataset:
    """The temporal-cue-only dataset of ``profile``'s size, indexed and split like 01 does."""
    cues = synthetic.CueConfig().without(*STATIC_CUES)
    root = synthetic.ensure_dataset(paths.dataset, profile.synthetic, cues)
    index = data.cached_index(root, paths.index)
    report = data.validate_layout(root, index)
    splits = data.ensure_splits(index, paths.splits, profile.n_folds)
    return data.Dataset(root, index, report, splits, profile)


def frame_config(settings: Settings, paths: profiles.RunPaths) -> approaches.SingleTaskConfig:
    d = FRAME_DEFAULTS[settings.profile]
    return approaches.SingleTaskConfig(
        profile=settings.profile, model=d["model"], loss="cross_entropy", target="label", weights=None,
        image_size=d["image_size"], frames_per_video=d["frames_per_video"], eval_frames_per_video=None,
        batch_size=32, workers=settings.workers, folds=settings.folds, save_weights="none",
        work_dir=str(paths.work.parent), results_dir=str(paths.results.parent),
        train=train.TrainConfig(epochs=settings.epochs or d["epochs"], lr=d["lr"], scheduler="cosine"))


def clip_config(settings: Settings, paths: profiles.RunPaths) -> approaches.TemporalConfig:
    d = CLIP_DEFAULTS[settings.profile]
    return approaches.TemporalConfig(
        profile=settings.profile, model=d["model"], heads="label", weights=None, image_size=d["image_size"],
        clip_len=d["clip_len"], stride=1, clips_per_video=4, eval_clips_per_video=4, batch_size=8,
        workers=settings.workers, folds=settings.folds, work_dir=str(paths.work.parent),
        results_dir=str(paths.results.parent),
        train=train.TrainConfig(epochs=settings.epochs or d["epochs"], lr=d["lr"], scheduler="cosine"))


def comparison(profile_results: Path) -> pd.DataFrame:
    """Mean ± std over folds of the two models: real/fake per video, paired, 12-class per video."""
    scores = compare.video_scores(compare.load_all(profile_results, ("single_task", "temporal")))
    folds = compare.fold_scores(scores)
    metrics = ("authenticity_video_accuracy", "paired_accuracy", "video_accuracy")
    table = evaluate.aggregate_folds(folds, metrics=metrics, by=("approach", "model"))
    return table[["approach", "model", "folds", *metrics]].rename(columns=compare.TABLE_METRICS)


def run(settings: Settings, out: Path) -> pd.DataFrame:
    profile = profiles.get_profile(settings.profile)
    paths = profiles.paths_for(settings.profile, out / "work", out / "results")
    dataset = prepare(paths, profile)
    train.run_experiment(frame_config(settings, paths), dataset)
    train.run_experiment(clip_config(settings, paths), dataset)
    table = comparison(paths.results)
    results.write_csv(out / "comparison.csv", table)
    (out / "comparison.txt").write_text(
        f"Only the onset cue (static cues off: {', '.join(STATIC_CUES)}); profile {settings.profile!r} sizes, "
        f"synthetic data; mean ± std over folds, in percent.\n\n{table.to_string(index=False)}\n")
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="demo", choices=sorted(FRAME_DEFAULTS))
    parser.add_argument("--folds", type=int, nargs="*", help="default: every fold")
    parser.add_argument("--epochs", type=int, help="default: the profile's (03 and 05 demo: 12)")
    parser.add_argument("--workers", type=int, help="loader processes (default: helpers.train.default_workers())")
    parser.add_argument("--out", type=Path, help="default: <results>/<profile>/temporal_cue")
    args = parser.parse_args(argv)
    settings = Settings(args.profile, args.epochs, args.folds or None, args.workers)
    out = args.out or profiles.default_results_dir() / args.profile / "temporal_cue"
    table = run(settings, out)
    print(f"\nOnly the onset cue is left ({args.profile} sizes, synthetic data); written to {out}\n")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
