"""Face crops from the videos: decode once, detect and track the face, store one packed file per video.

The command line of :mod:`helpers.frames` (run by ``python -m helpers.frames``, see ``__main__.py``):
``python -m helpers.frames --profile smoke`` or
``python -m helpers.frames --dataset DIR --out DIR [--detector haar|mtcnn --size 112 --target-fps 10
--window 0.4 0.9 --no-landmarks --workers N]``. (The first paragraph of this docstring is the command's description.)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from helpers import data, profiles
from helpers.frames.config import ConfigMismatchError, ExtractionConfig
from helpers.frames.dataset_run import extract_dataset, list_videos
from helpers.frames.landmarks import LandmarksUnavailable
from helpers.storage import DiskFullError, FolderLockedError


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m helpers.frames", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--profile", help="smoke | demo | full: the profile's dataset (generated if synthetic)")
    source.add_argument("--dataset", type=Path, help="a folder laid out as <subject>/<CODE>.MP4")
    parser.add_argument("--out", type=Path, help="crops root (default: the profile's work/<profile>/crops); "
                        "the crops go into a subfolder named by the configuration")
    defaults = ExtractionConfig()
    parser.add_argument("--detector", default=defaults.detector, help="haar | mtcnn | package.module:factory")
    parser.add_argument("--size", type=int, default=defaults.size, help="crop side in pixels (112/160/224)")
    parser.add_argument("--target-fps", type=float, default=defaults.target_fps,
                        help="frames kept per second (0: every frame)")
    parser.add_argument("--window", type=float, nargs=2, default=defaults.window, metavar=("START", "END"))
    parser.add_argument("--detect-every", type=int, default=defaults.detect_every)
    parser.add_argument("--context-scale", type=float, default=defaults.context_scale,
                        help="context crop side / face box side (0: no context crops)")
    parser.add_argument("--no-landmarks", action="store_true",
                        help="do not fit the 68 facial landmarks (then dlib is not needed)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: one per core)")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    config = ExtractionConfig(detector=args.detector, size=args.size, window=tuple(args.window),
                              target_fps=args.target_fps or None, detect_every=args.detect_every,
                              context_scale=args.context_scale or None, landmarks=not args.no_landmarks)
    if args.profile:
        paths = profiles.paths_for(args.profile)
        videos = data.prepare_dataset(args.profile, paths).usable
        crops_root = args.out or paths.crops
    else:
        if args.out is None:
            sys.exit("--out is required with --dataset")
        videos, crops_root = list_videos(args.dataset), args.out
    try:
        extraction = extract_dataset(videos, crops_root, config, workers=args.workers, progress=not args.no_progress,
                                     profile=args.profile or "")
    except (DiskFullError, ConfigMismatchError, FolderLockedError, LandmarksUnavailable) as error:
        print(error, file=sys.stderr)
        return 1
    print(extraction.summary())
    return 0 if (extraction.videos["status"] != "error").all() else 2
