"""A small SASE-FE-shaped tree for the rehearsal: the real layout, names and geometry, a few subjects.

``FakeTrue_DB/<subject>/<CODE>.MP4`` with numeric subject folders as in SASE-FE, HD frames (1280 x 720)
at 100 fps, short videos. The faces are the synthetic generator's (``helpers.synthetic``), rendered at a
small size and scaled up to HD (rendering HD frames directly costs minutes), so the full profile's face
detector finds them. No ``synthetic.json``: to the pipeline this is a real dataset. It also has what a
real copy brings:

- one missing video and one unreadable one (truncated, as an interrupted copy leaves it);
- a variant spelling of a code (``D2N2S.MP4`` for ``D2N2Sur``, as in a SASE-FE release);
- two bitwise-identical files under different labels (as in one subject of SASE-FE).

The tree is cached: it is rebuilt only when ``SPEC`` or this file's recipe changes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from helpers import labels, profiles, synthetic, video

RECIPE_VERSION = 1


@dataclass(frozen=True)
class StandInSpec:
    subjects: int = 5  # the full profile's 5 folds need 5 subjects
    seconds: float = 1.2
    fps: float = 100.0
    width: int = 1280
    height: int = 720
    render_width: int = 320  # the generator renders at this size; frames are scaled up to width x height
    seed: int = 7


SPEC = StandInSpec()
MISSING = ("2", "H2N2C")
UNREADABLE = ("3", "N2A")
VARIANT = ("4", "D2N2Sur", "D2N2S.MP4")  # subject, code, the file name it is stored under
IDENTICAL = ("5", "N2H", "N2S")  # N2S holds the bytes of N2H
RECORD = "standin.json"


def subject_names(spec: StandInSpec = SPEC) -> list[str]:
    return [str(i + 1) for i in range(spec.subjects)]


def _render(subject_index: int, code: str, spec: StandInSpec) -> np.ndarray:
    small = profiles.SyntheticSpec(subjects=spec.subjects, fps=spec.fps, seconds=spec.seconds,
                                   width=spec.render_width, height=spec.render_width * spec.height // spec.width,
                                   seed=spec.seed)
    frames, _ = synthetic.render_video(subject_index, code, small)
    return np.stack([cv2.resize(frame, (spec.width, spec.height), interpolation=cv2.INTER_LINEAR)
                     for frame in frames])


def _file_name(subject: str, code: str) -> str:
    return VARIANT[2] if (subject, code) == VARIANT[:2] else f"{code}.MP4"


def _write_one(job: tuple[Path, int, str, StandInSpec]) -> None:
    root, subject_index, code, spec = job
    subject = subject_names(spec)[subject_index]
    video.write_video(root / subject / _file_name(subject, code), _render(subject_index, code, spec), spec.fps)


def _recipe(spec: StandInSpec) -> dict:
    return {"spec": asdict(spec), "recipe": RECIPE_VERSION, "generator": synthetic.GENERATOR_VERSION,
            "quirks": [MISSING, UNREADABLE, VARIANT, IDENTICAL]}


def build(folder: Path | str, spec: StandInSpec = SPEC, workers: int = 2) -> Path:
    """``<folder>/FakeTrue_DB`` (made once; reused while the recipe is the same). Returns that root."""
    folder = Path(folder)
    root = folder / profiles.DATASET_DIRNAME
    record = folder / RECORD
    if record.exists() and json.loads(record.read_text()) == json.loads(json.dumps(_recipe(spec))):
        return root
    shutil.rmtree(folder, ignore_errors=True)
    jobs = [(root, i, code, spec) for i, subject in enumerate(subject_names(spec)) for code in labels.CODES
            if (subject, code) not in (MISSING, (IDENTICAL[0], IDENTICAL[2]))]
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_write_one, jobs))
    else:
        for job in jobs:
            _write_one(job)
    subject, code, copy = IDENTICAL
    shutil.copyfile(root / subject / f"{code}.MP4", root / subject / f"{copy}.MP4")
    broken = root / UNREADABLE[0] / f"{UNREADABLE[1]}.MP4"
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 3])
    record.write_text(json.dumps(_recipe(spec), indent=1))
    return root


def pack(root: Path | str, archive: Path | str) -> Path:
    """A zip of the tree as a user would make it (``FakeTrue_DB/...`` inside; videos stored, not deflated)."""
    root, archive = Path(root), Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as handle:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                handle.write(path, Path(root.name) / path.relative_to(root))
    return archive


def drive_id(archive: Path | str) -> str:
    """A Drive-like file id (33 characters) derived from the archive's bytes."""
    digest = hashlib.sha256(Path(archive).read_bytes()).hexdigest()
    return "1" + digest[:32]
