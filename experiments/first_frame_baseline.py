"""Is the first-kept-frame confound baseline below chance by design or by chance?

06's baseline (``helpers.analysis.confounds``) fits a logistic regression on the first kept face crop of
each video. On synthetic data the first kept frame comes before every onset, so it shows a neutral face in
both classes and the baseline should sit at 50 % paired. For one dataset (``--dataset``, laid out as
``<subject>/<CODE>.MP4``) and its crops (``--crops``, one extraction folder of 02), this prints

- the baseline's paired accuracy (pairs known) over ``--split-seeds`` different subject folds of that one
  dataset: a mean below 50 % on every split is a property of the dataset (or of the method), a spread
  around 50 % is the luck of one split;
- a paired t-test per pixel of the first frames (genuine minus posed of each subject and emotion): the
  number of pixels with ``|t| > 3`` (about one in 370 by chance) says whether the frames differ by class.

Run it on datasets made with other ``--seed`` values of ``python -m helpers.synthetic`` to see whether a
dataset-level departure from 50 % repeats.

    python -m helpers.synthetic --profile demo --out /tmp/demo0
    python -m helpers.frames --dataset /tmp/demo0 --out /tmp/demo0-crops --no-landmarks
    python experiments/first_frame_baseline.py --dataset /tmp/demo0 --crops /tmp/demo0-crops/<extraction folder>
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from helpers import labels  # noqa: E402
from helpers.analysis import confounds  # noqa: E402
from helpers.data import index as data_index  # noqa: E402
from helpers.data import splits as data_splits  # noqa: E402
from helpers.metrics import scoring  # noqa: E402


def pair_differences(videos, features: np.ndarray) -> np.ndarray:
    """Genuine minus posed features of every complete pair (same subject and emotion)."""
    codes = [labels.parse_code(code) for code in videos["code"]]
    rows = {(subject, code.emotion, code.genuine): i
            for i, (subject, code) in enumerate(zip(videos["subject"].astype(str), codes))}
    return np.array([features[i] - features[rows[(subject, emotion, False)]]
                     for (subject, emotion, genuine), i in rows.items()
                     if genuine and (subject, emotion, False) in rows])


def paired_t(differences: np.ndarray) -> np.ndarray:
    """One-sample t statistic of each column of ``differences`` (columns without spread get 0)."""
    spread = differences.std(axis=0, ddof=1) / np.sqrt(len(differences))
    return np.divide(differences.mean(axis=0), spread, out=np.zeros(differences.shape[1]), where=spread > 0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True, help="<subject>/<CODE>.MP4 videos")
    parser.add_argument("--crops", type=Path, required=True, help="one extraction folder of 02 for them")
    parser.add_argument("--folds", type=int, default=4, help="subject folds per split (demo: 4)")
    parser.add_argument("--split-seeds", type=int, default=20)
    args = parser.parse_args(argv)
    videos = data_index.index_videos(args.dataset, probe=False, workers=1, progress=False)
    videos = videos[data_index.usable_rows(videos)].reset_index(drop=True)
    features = confounds.first_frame_features(videos, args.crops)
    accuracies = []
    for seed in tqdm(range(args.split_seeds), desc="subject splits"):
        splits = data_splits.make_splits(videos, args.folds, seed=seed)
        rows = confounds.fold_baseline(videos, splits, features, confounds.FIRST_FRAME, range(args.folds))
        accuracies.append(100 * scoring.paired_protocol(rows)["accuracy"])
    t = paired_t(pair_differences(videos, features))
    print(f"{args.dataset}: {len(videos)} videos; first kept frame alone, paired accuracy (pairs known) over "
          f"{args.split_seeds} subject splits into {args.folds} folds:")
    print("  " + " ".join(f"{value:.1f}" for value in accuracies))
    print(f"  mean {np.mean(accuracies):.1f} %, from {min(accuracies):.1f} to {max(accuracies):.1f} %")
    print(f"paired t-test per pixel ({t.size} pixels): {int((np.abs(t) > 3).sum())} with |t| > 3, "
          f"largest |t| {np.abs(t).max():.1f}")


if __name__ == "__main__":
    main()
