"""Why is HCILab's LSTM with parametric bias (``lstm_pb``) at chance on the demo profile, and what moves it?

Three parts, all on the demo dataset of the work directory (notebooks 01-02 make it; 05 trains on it):

``--diagnose`` measures the two stages apart, on each fold's training and test videos (no runner, seconds):
how much of the next-frame error landmark jitter makes (the error of copying the last frame, against the
landmarks' variance), and whether gradient boosting on a code of a few numbers per video can learn the cues
from 20 training videos per emotion at all: an 8-component PCA of each video's smoothed trajectory (a code
known to carry the cues) read by logistic regression, by HCILab's boosted trees, and by the same trees fitted
on 20 noisy copies of each video (HCILab fitted each video's landmarks 20 times in shifted face boxes).

``--read-pbs`` (after the variants have run) reads the PBs that each trained variant's saved networks infer,
by logistic regression per emotion, beside the runner's own boosted trees on them.

Without either, the runner (``helpers.train``, as notebook 05) trains variants of the lstm_pb demo grid
(``VARIANTS``) and, with ``--gru``, the supervised GRU (``trajectories``), and prints each configuration's
paired accuracy (pairs known) and that of the configuration chosen per fold on validation subjects, with
95 % intervals over subjects. Results go to ``--results`` (default ``<results>/demo/lstm_pb_demo``), never to
the book's results.

    python experiments/lstm_pb_demo.py --diagnose
    python experiments/lstm_pb_demo.py --variants closed_shared --gru
    python experiments/lstm_pb_demo.py --variants closed_relative_x3 --read-pbs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from helpers import approaches, data, profiles, train  # noqa: E402
from helpers.analysis import cue_experiments, stats  # noqa: E402
from helpers.models.boosting import fit_boosted_trees  # noqa: E402
from helpers.models.lstm_pb import select_points, smooth_frames  # noqa: E402
from helpers.train.geometry_inputs import TrajectoryDataset  # noqa: E402

#: the closed loop from zero on each video's motion in position units, one shared network (not HCILab's)
CLOSED_RELATIVE = {"feedback": "closed", "smooth_frames": 9, "pb_prior": 0.01, "networks": "shared", "hidden": 32,
                   "relative": True, "relative_units": "positions", "train": {"epochs": 200}}
ONE_PB_PER_VIDEO = {"pb_per": ["video"], "boost_on": ["training"]}
#: name -> (grid values replacing the demo grid's, settings applied to every configuration)
VARIANTS = {
    "grid": ({}, {}),
    "closed_shared": ({"pb_per": ["video"], "boost_on": ["training", "held_out"]},
                      {"feedback": "closed", "smooth_frames": 5, "pb_prior": 0.01, "networks": "shared",
                       "hidden": 32, "train": {"epochs": 200}}),
    "closed_relative": (ONE_PB_PER_VIDEO, CLOSED_RELATIVE),
    "closed_relative_x3": (ONE_PB_PER_VIDEO, {**CLOSED_RELATIVE, "members": 3}),
    "closed_relative_x3_logistic": (ONE_PB_PER_VIDEO, {**CLOSED_RELATIVE, "members": 3, "reader": "logistic"}),
    "teacher_smooth_prior": ({"pb_per": ["class", "video"], "boost_on": ["training"]},
                             {"smooth_frames": 5, "pb_prior": 0.01}),
}
NOISY_COPIES = 20


def fold_videos(paths: profiles.RunPaths, folds: list[int]) -> dict[int, dict[str, TrajectoryDataset]]:
    """Each fold's training and test videos as the lstm_pb approach reads them."""
    config = approaches.grid("demo", "lstm_pb", None, {"work_dir": str(paths.work.parent),
                                                          "results_dir": str(paths.results.parent)})[0]
    dataset = data.prepare_dataset("demo", paths, workers=1)
    crops = train.ensure_crops(dataset, paths, config)
    out = {}
    for fold in folds:
        parts = config.fold_data(dataset.index, dataset.splits, fold, crops)
        out[fold] = {part: TrajectoryDataset(getattr(parts, part), "landmarks", emotion_given=True)
                     for part in ("train", "test")}
    return out


def trajectories(videos: TrajectoryDataset, window: int) -> tuple[torch.Tensor, np.ndarray, np.ndarray, np.ndarray]:
    """HCILab's 40 points of every frame (smoothed over ``window`` frames), emotions, genuine, subjects."""
    sequences = videos.sequences.float()
    valid = sequences[..., 136] > 0.5
    points = smooth_frames(select_points(sequences[..., :136], "hcilab40"), valid, window)
    return (points, sequences[:, 0, 137:143].argmax(dim=1).numpy(), videos.targets[:, 2] == 1,
            videos.videos["subject"].astype(str).to_numpy())


def pair_scores(scores: np.ndarray, genuine: np.ndarray, emotions: np.ndarray, subjects: np.ndarray
                ) -> tuple[list[str], list[float]]:
    """Per pair (subject, emotion; one genuine, one posed video): 1 when the genuine video scores higher,
    0.5 on a tie, else 0."""
    names, correct = [], []
    for subject in np.unique(subjects):
        for emotion in np.unique(emotions):
            rows = np.flatnonzero((subjects == subject) & (emotions == emotion))
            if len(rows) == 2 and genuine[rows].sum() == 1:
                real, posed = (rows[0], rows[1]) if genuine[rows[0]] else (rows[1], rows[0])
                names.append(subject)
                correct.append(float(np.sign(scores[real] - scores[posed]) + 1) / 2)
    return names, correct


def interval(names: list[str], correct: list[float]) -> str:
    result = stats.cluster_bootstrap(stats.subject_totals(np.asarray(names), np.asarray(correct), "pairs"),
                                     n_boot=2000)
    return stats.format_interval(result)


def diagnose(videos: dict[int, dict[str, TrajectoryDataset]], window: int = 5, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    readers = ("logistic regression", "boosted trees", f"boosted trees, {NOISY_COPIES} noisy copies")
    results: dict[str, tuple[list, list]] = {name: ([], []) for name in readers}
    jitter = []
    for parts in videos.values():
        raw_points = trajectories(parts["train"], 1)[0]
        (points, emotions, genuine, _), (test, test_emotions, test_genuine, test_subjects) = (
            trajectories(parts["train"], window), trajectories(parts["test"], window))
        scores = {name: np.zeros(len(test)) for name in readers}
        for emotion in range(6):
            rows, test_rows = emotions == emotion, test_emotions == emotion
            raw = raw_points[rows]
            standard = (raw - raw.mean(dim=(0, 1))) / raw.std(dim=(0, 1))
            jitter.append(float(((standard[:, 1:] - standard[:, :-1]) ** 2).mean() / (standard ** 2).mean()))
            flat, test_flat = points[rows].flatten(1).numpy(), test[test_rows].flatten(1).numpy()
            mean, scale = flat.mean(0), flat.std(0) + 1e-6
            pca = PCA(8, random_state=seed).fit((flat - mean) / scale)
            code, test_code = pca.transform((flat - mean) / scale), pca.transform((test_flat - mean) / scale)
            logistic = LogisticRegression(max_iter=2000).fit(code, genuine[rows])
            scores[readers[0]][test_rows] = logistic.decision_function(test_code)
            trees = fit_boosted_trees(code, genuine[rows], seed=seed)
            scores[readers[1]][test_rows] = trees(torch.tensor(test_code, dtype=torch.float32)).numpy()
            # noisy copies: each frame's points moved by the size of the frame-to-frame jitter, then smoothed
            step = (raw[:, 1:] - raw[:, :-1]).std(dim=(0, 1)) / np.sqrt(2)

            def noisy_codes(sequences: torch.Tensor) -> np.ndarray:
                moved = sequences + torch.randn(sequences.shape) * step
                smoothed = smooth_frames(moved, torch.ones(moved.shape[:2], dtype=torch.bool), window)
                return pca.transform((smoothed.flatten(1).numpy() - mean) / scale)

            torch.manual_seed(int(rng.integers(1 << 31)))
            copies = [noisy_codes(raw) for _ in range(NOISY_COPIES)]
            noisy_trees = fit_boosted_trees(np.concatenate(copies), np.tile(genuine[rows], NOISY_COPIES), seed=seed)
            test_raw = trajectories(parts["test"], 1)[0][test_rows]
            test_scores = [noisy_trees(torch.tensor(noisy_codes(test_raw), dtype=torch.float32)).numpy()
                           for _ in range(NOISY_COPIES)]
            scores[readers[2]][test_rows] = np.mean(test_scores, axis=0)
        for name in readers:
            names, correct = pair_scores(scores[name], test_genuine, test_emotions, test_subjects)
            results[name][0].extend(names), results[name][1].extend(correct)
    print(f"next-frame error of copying the last frame / the landmarks' variance (per emotion, standardised): "
          f"{np.mean(jitter):.2f} (landmark jitter: the frame-to-frame change is mostly noise)")
    print(f"8-component PCA of each video's trajectory (smoothed over {window} frames), paired accuracy "
          "(pairs known) over the test folds, 95 % interval over subjects:")
    for name, (names, correct) in results.items():
        print(f"  {name}: {interval(names, correct)}")


def variant_configs(names: list[str], settings: dict, seed: int | None = None) -> list:
    """The lstm_pb demo grid's configurations of each variant in ``names`` (with ``seed``, where given)."""
    def seeded(changes: dict) -> dict:
        return {**changes, "train": {**changes.get("train", {}), "seed": seed}} if seed is not None else changes

    return [config for name in names
            for config in approaches.grid("demo", "lstm_pb", VARIANTS[name][0], {**settings, **seeded(VARIANTS[name][1])})]


def run_variants(names: list[str], gru: bool, paths: profiles.RunPaths, settings: dict, seed: int | None = None
                 ) -> pd.DataFrame:
    plans = [("lstm_pb", variant_configs(names, settings, seed))]
    if gru:
        plans.append(("trajectories", approaches.grid("demo", "trajectories", None, settings)))
    table = pd.concat([cue_experiments.variant_intervals(approach, configs, paths) for approach, configs in plans],
                      ignore_index=True)
    print(table.to_string(index=False), flush=True)
    return table


def read_pbs(names: list[str], paths: profiles.RunPaths, settings: dict, folds: list[int], seed: int | None = None
             ) -> None:
    """For each trained configuration of the variants: the PBs its saved networks infer for each fold's training
    and test videos, read per emotion by logistic regression (summed over the members), against the runner's
    own predictions (HCILab's boosted trees on the same PBs): is it the PB code or the boosting that fails?"""
    videos = fold_videos(paths, folds)
    for config in variant_configs(names, settings, seed):
        config = train.with_extraction(config, paths.crops)  # the run id the runner trained under
        names_, correct = [], []
        for fold in folds:
            model = train.load_trained_model(config, fold, paths)
            if model is None:
                raise SystemExit(f"{config.run_id} fold {fold} is not trained (or kept no weights): run "
                                 f"--variants {' '.join(names)} first")
            train_set, test_set = videos[fold]["train"], videos[fold]["test"]
            _, train_emotions, genuine, _ = trajectories(train_set, 1)
            _, emotions, test_genuine, subjects = trajectories(test_set, 1)
            train_x, test_x = train_set.sequences.float(), test_set.sequences.float()
            scores = np.zeros(len(test_x))
            with torch.no_grad():
                for member in range(model.members):
                    codes, test_codes = model.pb_vectors(train_x, member).numpy(), model.pb_vectors(test_x, member).numpy()
                    for emotion in range(6):
                        rows, test_rows = train_emotions == emotion, emotions == emotion
                        reader = LogisticRegression(max_iter=2000).fit(codes[rows], genuine[rows])
                        scores[test_rows] += reader.decision_function(test_codes[test_rows])
            fold_names, fold_correct = pair_scores(scores, test_genuine, emotions, subjects)
            names_ += fold_names
            correct += fold_correct
        print(f"{config.run_id}: logistic regression on its saved networks' PBs, paired accuracy (pairs known): "
              f"{interval(names_, correct)}")
    run_variants(names, False, paths, settings, seed)  # the runner's own results (boosted trees), already trained


def main(argv: list[str] | None = None) -> None:
    arguments = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    arguments.add_argument("--diagnose", action="store_true", help="measure the stages apart (no runner)")
    arguments.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=["closed_shared"])
    arguments.add_argument("--read-pbs", action="store_true",
                           help="read the trained variants' PBs by logistic regression (after --variants has run)")
    arguments.add_argument("--gru", action="store_true", help="also the supervised GRU (trajectories) demo grid")
    arguments.add_argument("--folds", type=int, nargs="+", help="default: every fold")
    arguments.add_argument("--seed", type=int, help="the networks' and the boosting's seed (default: the grid's)")
    arguments.add_argument("--work", type=Path, help="default: the profile's work directory")
    arguments.add_argument("--results", type=Path, help="default: <results>/demo/lstm_pb_demo")
    args = arguments.parse_args(argv)
    results_dir = args.results or profiles.default_results_dir() / "demo" / "lstm_pb_demo"
    paths = profiles.paths_for("demo", args.work, results_dir)
    folds = args.folds or list(range(profiles.get_profile("demo").n_folds))
    if args.diagnose:
        diagnose(fold_videos(paths, folds))
        return
    settings = {"work_dir": str(paths.work.parent), "results_dir": str(results_dir),
                **({"folds": args.folds} if args.folds else {})}
    if args.read_pbs:
        read_pbs(args.variants, paths, settings, folds, args.seed)
        return
    run_variants(args.variants, args.gru, paths, settings, args.seed)


if __name__ == "__main__":
    main()
