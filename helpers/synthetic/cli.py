"""The command line ``python -m helpers.synthetic``: generate a synthetic dataset of a profile or size."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from helpers import labels
from helpers.profiles import PROFILES, SyntheticSpec, get_profile, paths_for
from helpers.synthetic.generate import check_spec, dataset_status, ensure_dataset
from helpers.synthetic.challenge import make_challenge_release
from helpers.synthetic.plans import CUES, CueConfig


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.synthetic",
        description="Generate the synthetic SASE-FE-like dataset (same layout and 12 codes, deterministic by "
        "seed). Existing, up-to-date videos are kept, so an interrupted run resumes.",
        epilog="examples:\n  python -m helpers.synthetic --profile smoke\n"
        "  python -m helpers.synthetic --subjects 8 --out data/synthetic --seconds 3\n"
        "  python -m helpers.synthetic --profile demo --cues none --out data/cue_free   # negative control",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    synthetic_profiles = [name for name, profile in PROFILES.items() if profile.uses_synthetic_data]
    parser.add_argument(
        "--profile", choices=synthetic_profiles, help="use this profile's dataset size and folder"
    )
    parser.add_argument("--out", type=Path, help="dataset folder (default: the profile's dataset folder)")
    parser.add_argument("--subjects", type=int, help="number of subjects (12 videos each)")
    parser.add_argument("--fps", type=float, help="frames per second (default 25)")
    parser.add_argument("--seconds", type=float, help="length of every video (default 4)")
    parser.add_argument("--width", type=int, help="frame width in pixels (default 320)")
    parser.add_argument("--height", type=int, help="frame height in pixels (default 240)")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="parallel processes (default: all cores)"
    )
    parser.add_argument(
        "--cues",
        default="all",
        help="which genuine-vs-posed cues to put in: 'all' (default), 'none' (the cue-free negative control: "
        f"nothing tells the classes apart) or a comma-separated subset of {', '.join(CUES)}",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--challenge-release", type=Path, metavar="FOLDER",
                        help="also lay the dataset out as the ChaLearn 2017 release in FOLDER (train/, valid/, test/)")
    args = parser.parse_args(argv)
    if args.profile is None and (args.out is None or args.subjects is None):
        parser.error("give --profile NAME, or both --subjects N and --out FOLDER")
    try:
        args.cue_config = cues_from_option(args.cues)
    except ValueError as error:
        parser.error(str(error))
    if args.cues != "all" and args.out is None:
        parser.error("a dataset with other cues needs its own folder: give --out FOLDER")
    return args


def cues_from_option(option: str) -> CueConfig:
    """The cues of ``--cues``: ``"all"``, ``"none"`` (:meth:`CueConfig.cue_free`) or names of :data:`CUES`."""
    if option == "all":
        return CueConfig()
    if option == "none":
        return CueConfig.cue_free()
    names = [name.strip() for name in option.split(",") if name.strip()]
    unknown = [name for name in names if name not in CUES]
    if unknown or not names:
        raise ValueError(f"--cues {option!r}: expected 'all', 'none' or names among {', '.join(CUES)}")
    return CueConfig().without(*(cue for cue in CUES if cue not in names))


def _spec_from_args(args: argparse.Namespace) -> SyntheticSpec:
    base = get_profile(args.profile).synthetic if args.profile else SyntheticSpec(0, 25.0, 4.0, 320, 240)
    overrides = {
        name: getattr(args, name) for name in ("subjects", "fps", "seconds", "width", "height", "seed")
    }
    return replace(base, **{name: value for name, value in overrides.items() if value is not None})


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    spec = _spec_from_args(args)
    try:
        check_spec(spec)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    root = (args.out or paths_for(args.profile).dataset).resolve()
    started = time.perf_counter()
    was_ready = dataset_status(root, spec, args.cue_config) == "ok"
    ensure_dataset(root, spec, args.cue_config, workers=args.workers, progress=not args.no_progress)
    elapsed = time.perf_counter() - started
    what = "already up to date" if was_ready else f"generated in {elapsed:.1f} s"
    print(
        f"Synthetic SASE-FE dataset ({spec.subjects} subjects x {len(labels.CODES)} videos, "
        f"{spec.width}x{spec.height}, {spec.seconds:g} s at {spec.fps:g} fps, seed {spec.seed}, cues: {args.cues}): "
        f"{what}"
        f"\n{root}"
    )
    if args.challenge_release:
        truth = make_challenge_release(root, args.challenge_release, seed=spec.seed)
        counts = truth["split"].value_counts()
        print(f"ChaLearn 2017 stand-in: {counts.get('train', 0)} training, {counts.get('validation', 0)} validation and "
              f"{counts.get('test', 0)} test videos\n{args.challenge_release.resolve()}")
    return 0
