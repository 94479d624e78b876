"""``make rehearsal``: the full profile's Colab path, end to end, on a SASE-FE-shaped stand-in, before GPU hours.

Run it before spending GPU hours on Colab: it builds a small tree with SASE-FE's layout, names and
geometry (``standin.py``: HD, 100 fps, a missing video, an unreadable one, a variant file name, two
identical files), packs it as a zip, and runs **all six notebooks with PROFILE = "full"** the two ways a
researcher would:

- ``archive``: through ``SASE_FE_DRIVE_ID``, the path of a zip on Google Drive. Only the network is
  replaced (``fake_drive.py`` answers gdown's requests with the local zip); gdown, the archive check, the
  safe extraction and the validation run as on Colab. Every notebook gets the id, as the README says.
- ``folder``: through ``DATASET_DIR``, an unpacked copy (a mounted Drive folder). Only 01 gets it: 02-06
  find the dataset through what 01 recorded in the work directory. 03-06 run with ``PROTOCOL = "fixed"``
  (the challenge-shaped split of the full release), so that each protocol runs end to end once.
- ``challenge``: the ChaLearn 2017 release's shape (``challenge_standin``: the synthetic generator's subjects
  as training subject folders, anonymised ``<id>_<EMOTION>.mp4`` validation and test videos with their
  labels), given to 01 through ``DATASET_DIR``, and 03-06 run with ``PROTOCOL = "chalearn2017"``.

Everything else is the full profile's own path, with what a CPU cannot afford narrowed through the
notebooks' parameters, as a user narrows a grid: one small model per approach, one epoch, the first fold.
Pretrained weights are on (``weights: "default"``) for InceptionResNetV1 (VGGFace2, 03), ResNet18 (ImageNet,
04 and 05's ResNet18-LSTM) and X3D-S (Kinetics, 05): ``fake_hub.py`` serves files of the hubs' names and
formats from a local server, and everything after the network (torch.hub's download and hash check, the cache
in the work directory, the ``weights_only`` load, the normalisation and backbone learning rate the weights
call for) runs as on Colab. The
server counts requests: a file asked for twice in one way (05 must find 04's ResNet18 in the cache) fails the
rehearsal. It prints what each notebook produced and downloaded and how long it took.

    .venv/bin/python tools/rehearsal/run.py [--out _build/rehearsal] [--ways archive folder]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import fake_hub  # noqa: E402  (sibling files, not a package)
import standin  # noqa: E402

from helpers import book, data, labels, results, synthetic  # noqa: E402
from helpers.frames import identity  # noqa: E402
from helpers.profiles import SyntheticSpec  # noqa: E402
from helpers.synthetic import challenge as challenge_release  # noqa: E402

WAYS = ("archive", "folder", "challenge")
#: The challenge stand-in's subjects: one each for validation and test, five to train on (the full profile's
#: five folds need five training subjects to index the release), at a size that keeps the rehearsal short.
CHALLENGE_SPEC = SyntheticSpec(subjects=7, fps=10, seconds=1.5, width=192, height=144, seed=0)
CHALLENGE_NOTEBOOKS = ("03_single_task", "04_multi_task", "05_temporal", "06_comparison")
PROFILE = "full"
#: What each notebook is told, beyond the dataset's location: the smallest grid of the full profile, through
#: the parameters a user narrows a grid with (GRID: the values to try; SETTINGS: for every configuration).
SMALL = {"weights": None, "train": {"epochs": 1}, "folds": [0], "workers": 0, "image_size": 32}
PRETRAINED = {"weights": "default"}  # from the stand-in hub
NARROWED: dict[str, dict] = {
    "02_frame_extraction": {"WORKERS": 2},
    "03_single_task": {"GRID": {"model": ["inception_resnet_v1"], "loss": ["cross_entropy"]},
                       "SETTINGS": {**SMALL, **PRETRAINED, "image_size": 80, "frames_per_video": 2,
                                    "batch_size": 16}},  # 80 px: InceptionResNetV1's smallest input
    "04_multi_task": {"GRID": {"model": ["resnet18"], "loss": ["cross_entropy"], "weighting": ["precision"],
                               "fusion": ["attention"], "conditioning": ["embedding"]},
                      "SETTINGS": {**SMALL, **PRETRAINED, "frames_per_video": 2, "eval_frames_per_video": 2,
                                   "val_frames_per_video": 2, "batch_size": 16}},
    "05_temporal": {"GRID": {"model": ["x3d_s", "resnet18_lstm"], "heads": ["two_task"]},
                    "SETTINGS": {**SMALL, **PRETRAINED, "clip_len": 4, "clips_per_video": 1,
                                 "eval_clips_per_video": 2, "batch_size": 8},
                    "GEOMETRY_GRIDS": {"descriptors": {"C": [0.1]}, "trajectories": {"inputs": ["landmarks"],
                                                                                    "model": ["landmark_gru"]},
                                       "lstm_pb": {"pb_per": ["video"], "boost_on": ["training"]}},
                    "GEOMETRY_SETTINGS": {"descriptors": {"folds": [0], "n_models": 9},
                                          "trajectories": {"folds": [0], "train": {"epochs": 1}, "hidden": 16},
                                          # the full grid's 1000 epochs of 256 units took over 20 min a way
                                          "lstm_pb": {"folds": [0], "train": {"epochs": 2}, "hidden": 16,
                                                      "pb_size": 4, "infer_steps": 5}}},
}
TAKES_LOCATION = ("01_data_analysis", "02_frame_extraction", "03_single_task", "04_multi_task", "05_temporal")


@dataclass
class NotebookRun:
    way: str
    notebook: str
    seconds: float
    executed: Path
    produced: dict[str, tuple[int, int]]  # folder -> (new or changed files, bytes)
    downloads: dict[str, int] = field(default_factory=dict)  # stand-in hub path -> requests during this run


@dataclass
class Rehearsal:
    out: Path
    dataset: Path
    archive: Path
    runs: list[NotebookRun] = field(default_factory=list)
    seconds: float = 0.0
    challenge: Path | None = None  # the ChaLearn 2017 release stand-in, when the challenge way ran

    def folders(self, way: str) -> dict[str, Path]:
        return way_folders(self.out, way)

    def pair_agreement(self) -> dict[str, int] | None:
        """The pairs that 03-05 found among the challenge way's test videos by face identity (no subject ids),
        checked against the stand-in's true subjects (``identity.pair_agreement``); None without that way."""
        if self.challenge is None:
            return None
        truth = pd.read_csv(self.challenge / "stand_in_truth.csv", dtype={"video": str, "subject": str})
        truth = truth[truth["split"] == "test"].assign(
            emotion=[labels.parse_code(code).emotion for code in truth.loc[truth["split"] == "test", "code"]],
            genuine=lambda table: table["genuine"].astype(str).eq("True"))
        found = [results.load_run(folder, predictions=False).metrics.get("challenge", {}).get("pairs")
                 for folder in results.find_runs(self.folders("challenge")["results"] / PROFILE)]
        pairs = pd.DataFrame(next(p for p in found if p is not None), columns=["video_a", "video_b"])
        return identity.pair_agreement(pairs, truth[["video", "subject", "emotion", "genuine"]])

    def report(self) -> str:
        lines = [f"rehearsal of the full profile in {self.out} ({self.seconds:.0f} s)",
                 f"stand-in dataset: {self.dataset} (zip {data.format_bytes(self.archive.stat().st_size)})"]
        for way in dict.fromkeys(run.way for run in self.runs):
            seconds = sum(run.seconds for run in self.runs if run.way == way)
            lines.append(f"\n[{way}] {WAY_DESCRIPTIONS[way]} ({seconds:.0f} s)")
            for run in (r for r in self.runs if r.way == way):
                lines.append(f"  {run.notebook}: {run.seconds:.0f} s, executed copy {run.executed}")
                for folder, (count, size) in run.produced.items():
                    lines.append(f"      {folder}: {count} file{'s' * (count != 1)}, {data.format_bytes(size)}")
                if not run.produced:
                    lines.append("      (wrote nothing: it only reads)")
                for path, count in run.downloads.items():
                    lines.append(f"      pretrained weights downloaded: {path}" + f" ({count} times)" * (count > 1))
        agreement = self.pair_agreement()
        if agreement is not None:
            lines.append(f"\n[challenge] pairs found by face identity among the test videos: {agreement['formed']}, "
                         f"{agreement['right']} of them true pairs ({agreement['possible']} possible)")
        return "\n".join(lines)


WAY_DESCRIPTIONS = {
    "archive": "SASE_FE_DRIVE_ID: a zip on Google Drive (downloaded by gdown from a local stand-in of Drive)",
    "folder": "DATASET_DIR: an unpacked FakeTrue_DB folder, given to 01 only; 03-06 with PROTOCOL = 'fixed'",
    "challenge": "DATASET_DIR: the ChaLearn 2017 release (stand-in from the synthetic generator), given to 01; "
                 "03-06 with PROTOCOL = 'chalearn2017'",
}


def way_folders(out: Path, way: str) -> dict[str, Path]:
    base = out / way
    return {"work": base / "work", "results": base / "results", "executed": base / "executed"}


def challenge_standin(folder: Path) -> Path:
    """The ChaLearn 2017 release stand-in under ``folder`` (``release/``), made from a synthetic dataset of
    ``CHALLENGE_SPEC`` (generated once: kept while its spec is the same)."""
    source, release = folder / "synthetic", folder / "release"
    spec_file = folder / "spec.txt"
    if not (spec_file.exists() and spec_file.read_text() == repr(CHALLENGE_SPEC) and release.exists()):
        shutil.rmtree(folder, ignore_errors=True)
        synthetic.generate_dataset(source, CHALLENGE_SPEC, progress=False)
        challenge_release.make_challenge_release(source, release, held_out=1, seed=0)
        spec_file.write_text(repr(CHALLENGE_SPEC))
    return release


def notebook_parameters(way: str, notebook: str, file_id: str, dataset_dir: Path) -> dict:
    parameters = dict(NARROWED.get(notebook, {}))
    if way == "challenge":
        if notebook == "01_data_analysis":
            parameters["DATASET_DIR"] = str(dataset_dir)
        if notebook in CHALLENGE_NOTEBOOKS:
            parameters["PROTOCOL"] = "chalearn2017"
    elif way == "archive" and notebook in TAKES_LOCATION:
        parameters["SASE_FE_DRIVE_ID"] = f"https://drive.google.com/file/d/{file_id}/view?usp=sharing"
    elif way == "folder" and notebook == "01_data_analysis":
        parameters["DATASET_DIR"] = str(dataset_dir)
    elif way == "folder" and notebook in CHALLENGE_NOTEBOOKS:
        parameters["PROTOCOL"] = "fixed"
    return parameters


def _snapshot(folders: Sequence[Path]) -> dict[Path, tuple[int, int]]:
    files = {}
    for folder in folders:
        for path in folder.rglob("*") if folder.exists() else ():
            if path.is_file():
                stat = path.stat()
                files[path] = (stat.st_size, stat.st_mtime_ns)
    return files


def _produced(before: dict, after: dict, base: Path) -> dict[str, tuple[int, int]]:
    """New or changed files, grouped by their folder (cut to four levels below ``base``)."""
    groups: dict[str, tuple[int, int]] = {}
    for path, (size, stamp) in sorted(after.items()):
        if before.get(path) == (size, stamp):
            continue
        key = "/".join(path.relative_to(base).parent.parts[:4])
        count, total = groups.get(key, (0, 0))
        groups[key] = (count + 1, total + size)
    return groups


def _environment(way: str, folders: dict[str, Path], drive: Path, hub: str) -> dict[str, str]:
    # kernels load tools/rehearsal/sitecustomize.py, which installs the stand-in hub (and the fake Drive)
    variables = {"GENUINE_POSED_WORK": str(folders["work"]), "GENUINE_POSED_RESULTS": str(folders["results"]),
                 "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
                 fake_hub.ENVIRONMENT_VARIABLE: str(hub)}
    if way == "archive":
        variables["GENUINE_POSED_FAKE_DRIVE"] = str(drive)
    return variables


def repeated_downloads(rehearsal: Rehearsal) -> list[str]:
    """Weights asked of the stand-in hub more than once in one way: a later session that did not find the
    first one's download in the work directory's cache."""
    repeated = []
    for way in dict.fromkeys(run.way for run in rehearsal.runs):
        asked: dict[str, list[str]] = {}
        for run in (r for r in rehearsal.runs if r.way == way):
            for path, count in run.downloads.items():
                asked.setdefault(path, []).extend([run.notebook] * count)
        repeated += [f"[{way}] {path}: {', '.join(notebooks)}" for path, notebooks in asked.items()
                     if len(notebooks) > 1]
    return repeated


def rehearse(out: Path | str = REPO / "_build" / "rehearsal", ways: Sequence[str] = WAYS,
             notebooks: Sequence[str] | None = None, standin_dir: Path | str | None = None,
             hub_dir: Path | str | None = None) -> Rehearsal:
    """Build (or reuse) the stand-in (in ``standin_dir``, default ``<out>/standin``) and the stand-in hub's files
    (in ``hub_dir``, default ``<out>/hub``), then run the notebooks of each way from a clean work directory."""
    started = time.perf_counter()
    out = Path(out).absolute()
    dataset = standin.build(Path(standin_dir) if standin_dir else out / "standin")
    hub = Path(hub_dir).absolute() if hub_dir else out / "hub"
    fake_hub.build_hub(hub)
    archive = standin.pack(dataset, out / "sase-fe.zip")
    drive = out / "drive"
    shutil.rmtree(drive, ignore_errors=True)
    drive.mkdir(parents=True)
    file_id = standin.drive_id(archive)
    shutil.copyfile(archive, drive / file_id)
    rehearsal = Rehearsal(out, dataset, archive)
    if "challenge" in ways:
        rehearsal.challenge = challenge_standin(
            (Path(standin_dir).parent if standin_dir else out) / "challenge_standin")
    selected = [p for p in book.notebook_paths(REPO) if notebooks is None or p.stem in notebooks]
    for way in ways:
        folders = way_folders(out, way)
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        saved = {key: os.environ.get(key) for key in ("GENUINE_POSED_WORK", "GENUINE_POSED_RESULTS", "PYTHONPATH",
                                                      "GENUINE_POSED_FAKE_DRIVE", fake_hub.ENVIRONMENT_VARIABLE)}
        server = fake_hub.HubServer(hub).start()  # one per way: a new user, a new work directory
        os.environ.update(_environment(way, folders, drive, server.address))
        try:
            for notebook in selected:
                before, asked = _snapshot([folders["work"], folders["results"]]), server.counts()
                began = time.perf_counter()
                location = rehearsal.challenge if way == "challenge" else dataset
                executed = book.execute(PROFILE, folders["executed"], notebooks=[notebook],
                                        parameters=notebook_parameters(way, notebook.stem, file_id, location))[0]
                after = _snapshot([folders["work"], folders["results"]])
                rehearsal.runs.append(NotebookRun(way, notebook.stem, time.perf_counter() - began, executed,
                                                  _produced(before, after, out / way),
                                                  fake_hub.new_requests(asked, server.counts())))
        finally:
            server.stop()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    rehearsal.seconds = time.perf_counter() - started
    return rehearsal


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/rehearsal/run.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "_build" / "rehearsal")
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS))
    parser.add_argument("--notebooks", nargs="+", help="notebook names (default: all six)")
    args = parser.parse_args(argv)
    try:
        rehearsal = rehearse(args.out, args.ways, args.notebooks)
    except book.NotebookFailed as error:
        print(f"REHEARSAL FAILED: {error}", file=sys.stderr)
        return 1
    print(rehearsal.report())
    repeated = repeated_downloads(rehearsal)
    if repeated:
        print("REHEARSAL FAILED: weights downloaded again instead of read from the work directory's cache:\n  "
              + "\n  ".join(repeated), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
