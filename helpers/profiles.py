"""Run profiles and the places where every notebook reads and writes.

``smoke``: tiny synthetic data, random weights, seconds per notebook on a CPU (CI, the README's main job).
``demo``: synthetic data big enough to learn from, minutes on a CPU.
``full``: the real SASE-FE (from Google Drive or a folder), pretrained weights, a GPU.

All bulky outputs (dataset, packed crops, checkpoints) go under one *work directory*: ``./work`` locally,
a Google Drive folder on Colab (so that a disconnect loses nothing), or ``$GENUINE_POSED_WORK``.
Small result artifacts go to ``results/<profile>/`` in the repository (or ``<work>/results`` on Colab).

Data that is big, read at random and can be made again (the extracted SASE-FE archive, its download)
goes to the *scratch* folder ``RunPaths.scratch`` instead: on Colab the VM's local disk
(``/content/genuine-posed-local/<profile>``: fast, but lost when the VM goes), elsewhere the profile's
work folder itself, or ``$GENUINE_POSED_SCRATCH/<profile>``. Reading thousands of video frames from a
mounted Drive is the classic Colab bottleneck; what must survive a disconnect (crops, checkpoints,
results, and ``dataset.json``, the record of where the dataset comes from) stays in the work folder, so
a new VM re-extracts the archive from where the record says and loses nothing else.
Synthetic profiles generate their videos into ``RunPaths.dataset`` in the work folder.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

DRIVE_WORK_DIR = Path("/content/drive/MyDrive/genuine-posed")
COLAB_SCRATCH_DIR = Path("/content/genuine-posed-local")  # the Colab VM's own disk, not Drive
DATASET_DIRNAME = "FakeTrue_DB"


@dataclass(frozen=True)
class SyntheticSpec:
    """Size of a generated SASE-FE-like dataset (see ``helpers.synthetic``)."""

    subjects: int
    fps: float
    seconds: float
    width: int
    height: int
    seed: int = 0


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    synthetic: SyntheticSpec | None  # None: the real SASE-FE
    n_folds: int

    @property
    def uses_synthetic_data(self) -> bool:
        return self.synthetic is not None


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        "smoke",
        "tiny synthetic SASE-FE, random weights, 1 epoch: proves the pipeline runs (numbers mean nothing)",
        SyntheticSpec(subjects=6, fps=25, seconds=2.0, width=192, height=144),
        n_folds=3,
    ),
    "demo": Profile(
        "demo",
        "synthetic SASE-FE big enough to learn from on a CPU in minutes (proves the wiring learns)",
        SyntheticSpec(subjects=16, fps=25, seconds=4.0, width=320, height=240),
        n_folds=4,
    ),
    "full": Profile(
        "full",
        "the real SASE-FE on a GPU with pretrained weights (the research setting)",
        None,
        n_folds=5,
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None


def on_colab() -> bool:
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def project_root(start: Path | None = None) -> Path | None:
    """The repository checkout this code runs from (the folder holding ``_toc.yml``), if any."""
    for folder in [(start or Path.cwd()).resolve(), *(start or Path.cwd()).resolve().parents]:
        if (folder / "_toc.yml").exists() and (folder / "helpers").is_dir():
            return folder
    package_parent = Path(__file__).resolve().parents[1]
    return package_parent if (package_parent / "_toc.yml").exists() else None


def default_work_dir() -> Path:
    if os.environ.get("GENUINE_POSED_WORK"):
        return Path(os.environ["GENUINE_POSED_WORK"])
    if on_colab():
        return DRIVE_WORK_DIR / "work" if DRIVE_WORK_DIR.parent.exists() else Path("/content/work")
    root = project_root()
    return (root or Path.cwd()) / "work"


def default_results_dir() -> Path:
    if os.environ.get("GENUINE_POSED_RESULTS"):
        return Path(os.environ["GENUINE_POSED_RESULTS"])
    root = project_root()
    if root is None or on_colab():
        return default_work_dir() / "results"
    return root / "results"


def default_scratch_dir() -> Path | None:
    """Where bulky, re-creatable data goes, or None for "the work folder itself" (see the module docstring)."""
    if os.environ.get("GENUINE_POSED_SCRATCH"):
        return Path(os.environ["GENUINE_POSED_SCRATCH"])
    if on_colab():
        return COLAB_SCRATCH_DIR
    return None


def _below(folder: str, name: str, doc: str) -> property:
    """A ``RunPaths`` property: ``name`` inside the ``folder`` attribute (``work``, ``scratch``, ``results``)."""
    return property(lambda paths: getattr(paths, folder) / name, doc=f"``<{folder}>/{name}``: {doc}")


@dataclass(frozen=True)
class RunPaths:
    """Where one profile's data and outputs live."""

    profile: str
    work: Path  # <work>/<profile>
    results: Path  # <results>/<profile>
    scratch: Path | None = None  # <scratch>/<profile>; None: the work folder (made a Path on creation)

    def __post_init__(self) -> None:
        if self.scratch is None:  # frozen: set through object.__setattr__, once, here
            object.__setattr__(self, "scratch", self.work)

    dataset = _below("work", DATASET_DIRNAME,
                     "The SASE-FE layout root of the synthetic profiles: ``<dataset>/<subject>/<CODE>.MP4``.")
    extraction = _below("scratch", DATASET_DIRNAME,
                        "Where the real SASE-FE archive is extracted: ``<scratch>/FakeTrue_DB`` (locally: ``dataset``).")
    downloads = _below("scratch", "downloads", "Where the archive downloaded from Google Drive is stored.")
    dataset_record = _below("work", "dataset.json",
                            "Where the real dataset comes from, written by the first notebook that finds it.")
    index = _below("work", "index.csv", "The video index (``helpers.data``).")
    splits = _below("work", "splits.csv", "The subject-independent folds, made once.")
    crops = _below("work", "crops", "The packed crops, one folder per extraction configuration.")
    checkpoints = _below("work", "checkpoints", "The checkpoints of the folds in progress.")
    figures = _below("results", "figures", "Saved figures.")

    @property
    def pretrained(self) -> Path:
        """``<work>/pretrained``: downloaded pretrained weights, shared by the profiles (on Drive on Colab, so a
        new session does not download them again; see ``helpers.models.use_weights_cache``)."""
        return self.work.parent / "pretrained"


#: Environment variables that name a folder, in the order ``display_path`` tries them.
FOLDER_VARIABLES = ("GENUINE_POSED_RESULTS", "GENUINE_POSED_WORK", "GENUINE_POSED_SCRATCH")


def display_path(path: str | Path) -> str:
    """``path`` as a page may show it, without the folders of the machine that ran the notebook: below a folder
    set by an environment variable, ``$GENUINE_POSED_WORK/smoke``; below the repository, relative to it
    (``work/smoke``); below the home folder, ``~/...``; else as it is (Colab's ``/content/...`` says where to look)."""
    path = Path(path).resolve()
    bases = [(f"${name}", Path(os.environ[name])) for name in FOLDER_VARIABLES if os.environ.get(name)]
    root = project_root()
    bases += [("", root)] if root is not None else []
    bases.append(("~", Path.home()))
    for label, base in bases:
        base = base.resolve()
        if path == base or path.is_relative_to(base):
            relative = path.relative_to(base).as_posix()
            if not label:
                return relative
            return label if relative == "." else f"{label}/{relative}"
    return str(path)


def paths_for(
    profile: str,
    work_dir: str | Path | None = None,
    results_dir: str | Path | None = None,
    scratch_dir: str | Path | None = None,
) -> RunPaths:
    """Paths of a profile; ``None`` picks the defaults described in the module docstring."""
    get_profile(profile)
    work = Path(work_dir) if work_dir else default_work_dir()
    results = Path(results_dir) if results_dir else default_results_dir()
    scratch = Path(scratch_dir) if scratch_dir else default_scratch_dir()
    return RunPaths(profile, work / profile, results / profile, scratch / profile if scratch else None)
