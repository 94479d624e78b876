"""Faults a long run meets, injected on small data: kill -9 (then resume to the same bytes), a full disk, cut
files of every kind, two processes on one folder. Each case must end in a clear error naming the file or the
folder and what to do, or in a resume that loses nothing."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from helpers import approaches, data, frames, labels, models, profiles, results, storage, train, video
from helpers.models import losses

REPO = Path(__file__).resolve().parents[1]


def run_python(code: str, *args: str) -> subprocess.Popen:
    """Start ``code`` in another Python process (the repository importable), its stdout piped."""
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=environment, cwd=REPO)


def wait_for(condition, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the process ended before the fault: {process.stdout.read()}")
        assert time.monotonic() < deadline, "timed out waiting for the process"
        time.sleep(0.02)


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


# --------------------------------------------------------------------------------------------------
# Small data: face clips to extract, packed crops to train on


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> pd.DataFrame:
    """Three short clips of a face (Grace Hopper, moving): a SASE-FE-like folder."""
    root = tmp_path_factory.mktemp("fault-clips")
    photo = cv2.cvtColor(cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")),
                         cv2.COLOR_BGR2RGB)
    photo = cv2.resize(photo, None, fx=120 / photo.shape[0], fy=120 / photo.shape[0], interpolation=cv2.INTER_AREA)
    for subject, code, phase in (("S1", "N2H", 0), ("S1", "N2S", 2), ("S2", "N2H", 4)):
        clip = np.full((40, 120, 160, 3), 90, np.uint8)
        for t in range(len(clip)):
            left = (160 - photo.shape[1]) // 2 + int(round(8 * np.sin((t + phase) / 8)))
            clip[t, :, max(left, 0):left + photo.shape[1]] = photo[:, max(-left, 0):160 - left]
        video.write_video(root / subject / f"{code}.MP4", list(clip), fps=25)
    return frames.list_videos(root)


def extract(videos: pd.DataFrame, out: Path, **options) -> frames.Extraction:
    return frames.extract_dataset(videos, out, frames.ExtractionConfig(landmarks=False), progress=False, **options)


def fake_crops(root: Path, subjects=("s1", "s2", "s3", "s4")):
    """Packed face crops whose colour follows the emotion, the index and two folds."""
    from types import SimpleNamespace

    rows = []
    for subject in subjects:
        for code in labels.VIDEO_CODES:
            array = np.full((4, 32, 32, 3), 30 * code.emotion_index, dtype=np.uint8)
            array[:, :16] += np.uint8(40 * code.genuine)
            frames.save_array(frames.video_files(root, subject, code.code)["face"], array)
            rows.append({"subject": subject, "code": code.code, "label": code.label, "readable": True})
    index = pd.DataFrame(rows)
    splits = pd.DataFrame({"subject": list(subjects), "fold": [i % 2 for i in range(len(subjects))]})
    return SimpleNamespace(index=index, splits=splits, readable=index, usable=index)


def smoke_config(tmp_path: Path) -> approaches.SingleTaskConfig:
    return approaches.SingleTaskConfig(
        profile="smoke", model="simple_cnn", weights=None, image_size=32, normalization="imagenet",
        frames_per_video=1, eval_frames_per_video=1, batch_size=16, workers=0, folds=[0], val_fraction=0,
        save_weights="all", work_dir=str(tmp_path / "work"), results_dir=str(tmp_path / "results"),
        train=train.TrainConfig(epochs=1, progress=False, verbose=False))


class Colours(torch.utils.data.Dataset):
    def __init__(self, n: int = 32, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, 3, (n,), generator=generator)
        self.images = torch.randint(0, 60, (n, 3, 16, 16), generator=generator).to(torch.uint8)
        self.images[torch.arange(n), self.labels] += 150

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"image": self.images[i], "label": int(self.labels[i]), "video": i, "frame": 0}


def colour_run():
    torch.manual_seed(0)
    model = models.build_model("simple_cnn", heads=12, weights=None)
    task = train.ClassificationTask(losses.build_loss("cross_entropy"), "label",
                                    train.BatchTransform([0.5] * 3, [0.25] * 3, image_size=16, augment=True))
    loader = train.make_loader(Colours(), batch_size=8, train=True, seed=0, workers=0)
    return model, task, loader


FIT_SCRIPT = """
import sys, time, torch
sys.path.insert(0, "tests")
from test_faults import colour_run
from helpers import train
torch.set_num_threads(1)
for folder in sys.argv[2:]:  # each trained to the end (a killed one resumes from its last checkpoint)
    model, task, loader = colour_run()
    slow = [lambda epoch, record: time.sleep(float(sys.argv[1]))]
    config = train.TrainConfig(epochs=4, progress=False, verbose=False, lr=3e-3, restore_best=False)
    fitted = train.fit(model, task, loader, None, config, folder, callbacks=slow)
    torch.save(fitted.model.state_dict(), folder + "/final.pt")
"""


# --------------------------------------------------------------------------------------------------
# kill -9, then run again: the same bytes as a run that was never killed


def test_extraction_killed_with_sigkill_resumes_to_the_same_crops(clips, tmp_path):
    reference = extract(clips, tmp_path / "reference")
    script = """
        import sys, time
        import pandas as pd
        from helpers import frames
        from helpers.frames import dataset_run
        extract_video = dataset_run.extract_video
        def slowly(*args):
            summary = extract_video(*args)
            time.sleep(30)  # killed here, after the first video
            return summary
        dataset_run.extract_video = slowly
        frames.extract_dataset(pd.read_csv(sys.argv[1]), sys.argv[2], frames.ExtractionConfig(landmarks=False),
                               progress=False)
    """
    clips.to_csv(tmp_path / "clips.csv", index=False)
    process = run_python(script, str(tmp_path / "clips.csv"), str(tmp_path / "killed"))
    out = frames.extraction_dir(tmp_path / "killed", frames.ExtractionConfig(landmarks=False))
    wait_for(lambda: len(list(out.rglob("*.summary.json"))) == 1, process)
    kill(process)
    assert (out / storage.LOCK_FILE).exists(), "the killed extraction left its lock"
    resumed = extract(clips, tmp_path / "killed")  # the lock of a dead process is taken over
    assert resumed.skipped == 1 and resumed.processed == len(clips) - 1
    for path in reference.root.rglob("*.npy"):
        assert path.read_bytes() == (resumed.root / path.relative_to(reference.root)).read_bytes(), path
    pd.testing.assert_frame_equal(resumed.manifest, reference.manifest)
    assert not (out / storage.LOCK_FILE).exists()


@pytest.mark.slow
def test_training_killed_with_sigkill_resumes_to_the_same_weights(tmp_path):
    killed = run_python(FIT_SCRIPT, "0.5", str(tmp_path / "killed"))
    last = tmp_path / "killed" / train.LAST_CHECKPOINT
    wait_for(lambda: last.exists() and train.load_checkpoint(last)["epoch"] >= 2, killed)
    kill(killed)
    assert train.load_checkpoint(last)["epoch"] < 4
    resumed = run_python(FIT_SCRIPT, "0", str(tmp_path / "killed"), str(tmp_path / "never-killed"))
    assert resumed.wait(timeout=300) == 0, resumed.stdout.read()
    expected = torch.load(tmp_path / "never-killed" / "final.pt", weights_only=True)
    actual = torch.load(tmp_path / "killed" / "final.pt", weights_only=True)
    assert all(torch.equal(expected[k], actual[k]) for k in expected), "resumed weights differ"


# --------------------------------------------------------------------------------------------------
# A full disk: a DiskFullError that names the folder and the space, never a per-video error


def test_numpys_short_write_on_a_full_disk_stops_the_extraction_and_keeps_the_finished_videos(clips, tmp_path,
                                                                                            monkeypatch):
    """numpy's write to a full disk raises an OSError without errno ('N requested and M written')."""
    real_save, written = np.save, []

    def save_on_a_small_disk(file, array, allow_pickle=False):
        if len(written) >= 2:  # the face and context crops of the first video fit, then the disk is full
            file.write(b"\x93NUMPY" + bytes(100))
            raise OSError(f"{array.nbytes} requested and 106 written")
        written.append(array.shape)
        return real_save(file, array, allow_pickle=allow_pickle)

    monkeypatch.setattr(np, "save", save_on_a_small_disk)
    monkeypatch.setattr(storage, "free_bytes", lambda folder: 200_000)
    with pytest.raises(frames.DiskFullError, match=r"disk full: 0\.2 MB free in .*need about 0\.[0-9] MB"):
        extract(clips, tmp_path)
    monkeypatch.undo()
    out = frames.extraction_dir(tmp_path, frames.ExtractionConfig(landmarks=False))
    summaries = sorted(out.rglob("*.summary.json"))
    assert len(summaries) == 1, "the video that hit the full disk is not recorded as unreadable"
    assert not list(out.rglob(".*.tmp")), "no half-written file left behind"
    resumed = extract(clips, tmp_path)
    assert resumed.skipped == 1 and (resumed.videos["status"] == "ok").all()


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 1 MB file system (tmpfs), where this test may mount one (root); the patched writers above cover
    the same errors everywhere else."""
    folder = tmp_path / "tiny-disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root here: the patched full-disk tests cover these errors")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_real_full_disk_stops_extraction_and_training_with_the_folder_named(clips, tiny_disk):
    with pytest.raises(storage.DiskFullError, match=f"disk full: 0.0 MB free in {tiny_disk}/crops"):
        extract(clips, tiny_disk / "crops")
    out = frames.extraction_dir(tiny_disk / "crops", frames.ExtractionConfig(landmarks=False))
    summaries = [json.loads(path.read_text()) for path in out.rglob("*.summary.json")]
    assert 0 < len(summaries) < len(clips), "what fitted is kept"
    assert all(summary["status"] == "ok" for summary in summaries), "no video recorded as unreadable"
    model, task, loader = colour_run()
    with pytest.raises(storage.DiskFullError, match=f"disk full: .* in {tiny_disk}/checkpoints") as error:
        train.fit(model, task, loader, None, train.TrainConfig(epochs=2, progress=False, verbose=False),
                  tiny_disk / "checkpoints")
    assert "inline_container" in repr(error.value.__cause__), "torch's own error, recognised"


def test_an_unexplained_write_error_with_free_space_stays_a_per_video_error(tmp_path):
    error = OSError("0 requested and 0 written")
    assert not storage.is_disk_full(error, tmp_path, need_bytes=1000)  # this disk has space
    assert storage.is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"), tmp_path)


def test_a_full_disk_while_training_names_the_folder_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    """torch's error on a full disk: RuntimeError('[enforce fail at inline_container.cc]') with ENOSPC inside."""
    real_save = torch.save
    saves = []

    def save_on_a_small_disk(payload, file, *args, **kwargs):
        saves.append(1)
        if len(saves) > 2:  # epoch 1's best and last checkpoints fit
            try:
                raise OSError(errno.ENOSPC, "No space left on device")
            except OSError:
                raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
        return real_save(payload, file, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_on_a_small_disk)
    model, task, loader = colour_run()
    folder = tmp_path / "checkpoints"
    with pytest.raises(storage.DiskFullError, match=f"disk full: .* MB free in {folder}.*run again"):
        train.fit(model, task, loader, None, train.TrainConfig(epochs=3, progress=False, verbose=False), folder)
    assert train.load_checkpoint(folder / train.LAST_CHECKPOINT)["epoch"] == 1, "the last checkpoint is kept"


def test_a_full_disk_while_generating_synthetic_videos_names_the_folder(tmp_path, monkeypatch):
    from helpers import synthetic
    from helpers.profiles import SyntheticSpec
    from helpers.synthetic import generate

    written = []

    def write_on_a_small_disk(path, images, fps):
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")  # what PyAV raises on a full disk
        written.append(path)
        return video.write_video(path, images, fps)

    monkeypatch.setattr(generate, "write_video", write_on_a_small_disk)
    spec = SyntheticSpec(subjects=2, fps=10, seconds=1.0, width=96, height=72, seed=3)
    with pytest.raises(storage.DiskFullError, match=f"disk full: .* in {tmp_path}.*synthetic video"):
        synthetic.generate_dataset(tmp_path, spec, progress=False)
    assert written[0].exists(), "the video written before the disk filled up is kept"


# --------------------------------------------------------------------------------------------------
# Cut and damaged files


@pytest.mark.parametrize("name", ["metrics.json", "predictions.csv", "history.csv", "config.json"])
def test_a_cut_artifact_of_a_fold_is_named_and_the_fold_is_not_complete(tmp_path, write_fake_run, name):
    write_fake_run(tmp_path, "single_task", "run", 0, ["s1", "s2"])
    folder = results.run_dir(tmp_path, "single_task", "run", 0)
    assert results.is_complete(folder) and len(results.load_run(folder).predictions) == 2 * 12 * 3
    path = folder / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    assert not results.is_complete(folder)
    with pytest.raises(results.DamagedRunError, match=f"{path}.*damaged.*--force.*delete {folder}"):
        results.load_run(folder)


def test_a_cut_table_of_an_approach_is_named(tmp_path):
    """The approaches' own fold tables (attention weights, descriptor weights) are checked like the others."""
    from helpers.approaches import descriptors

    folder = results.run_dir(tmp_path, "descriptors", "run", 0)
    weights = pd.DataFrame({"descriptor": ["a", "b"], "weight": [0.1, 0.2]})
    results.write_run(folder, {"fold": 0}, pd.DataFrame({"epoch": [1]}), pd.DataFrame({"subject": ["01"]}),
                      {"fold": 0}, {}, tables={descriptors.WEIGHTS_FILE: weights})
    run = results.load_run(folder)
    assert descriptors.mean_descriptor_weights([run])["weight"].tolist() == [0.1, 0.2]
    path = folder / descriptors.WEIGHTS_FILE
    path.write_text(path.read_text()[:-4])
    with pytest.raises(results.DamagedRunError, match=f"{path} was changed or damaged"):
        descriptors.mean_descriptor_weights([run])


def test_a_fold_whose_kept_weights_are_missing_is_trained_again(tmp_path, capsys):
    """A kill between metrics.json and the weights left a fold 'complete' without weights; 06 dropped it."""
    dataset = fake_crops(tmp_path / "crops")
    config = smoke_config(tmp_path)
    train.run_experiment(config, dataset, crops_dir=tmp_path / "crops")
    paths = profiles.paths_for(config.profile, config.work_dir, config.results_dir)
    weights = train.model_weights_path(paths, config.approach, config.run_id, 0)
    assert weights.exists()
    whole = weights.read_bytes()
    weights.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(results.DamagedRunError, match=f"{weights} is damaged.*--force"):
        train.load_trained_model(config, 0, paths)
    weights.unlink()
    capsys.readouterr()
    train.run_experiment(config, dataset, crops_dir=tmp_path / "crops")
    out = capsys.readouterr().out
    assert f"{weights} is missing" in out and "training it again" in out and weights.exists()


def test_changing_folds_or_save_weights_keeps_complete_folds_and_says_their_weights_were_not_kept(tmp_path, capsys):
    """folds and save_weights are not part of a run's identity: a fold trained without keeping its weights is
    complete under a setting that would keep them (it was retrained, its results overwritten)."""
    import dataclasses

    dataset = fake_crops(tmp_path / "crops")
    every = dataclasses.replace(smoke_config(tmp_path), folds=None, save_weights="first")
    train.run_experiment(every, dataset, crops_dir=tmp_path / "crops")
    paths = profiles.paths_for(every.profile, every.work_dir, every.results_dir)
    fold_1 = results.run_dir(paths.results, every.approach, every.run_id, 1)
    written = {path.name: path.read_bytes() for path in fold_1.iterdir()}
    assert train.model_weights_path(paths, every.approach, every.run_id, 0).exists()
    for later in (dataclasses.replace(every, folds=[1]), dataclasses.replace(every, save_weights="all")):
        capsys.readouterr()
        train.run_experiment(later, dataset, crops_dir=tmp_path / "crops")
        out = capsys.readouterr().out
        assert "fold 1: training" not in out and {p.name: p.read_bytes() for p in fold_1.iterdir()} == written
        assert "fold 1: results exist" in out and "weights were not kept" in out and "--force" in out
        assert train.load_trained_model(later, 1, paths) is None
    # retrained without keeping them, the weights of its earlier training are not taken for the new one's
    none = dataclasses.replace(every, folds=[0], save_weights="none")
    train.run_experiment(none, dataset, crops_dir=tmp_path / "crops", force=True)
    assert not train.model_weights_path(paths, every.approach, every.run_id, 0).exists()
    assert train.load_trained_model(every, 0, paths) is None


def test_a_damaged_fold_of_another_fold_or_run_stops_nothing(tmp_path, write_fake_run):
    """Only the folds and runs asked for are read: a damaged fold 1, or a damaged run of an old grid, is left."""
    from helpers.metrics import evaluate

    dataset = fake_crops(tmp_path / "crops")
    config = smoke_config(tmp_path)
    train.run_experiment(config, dataset, crops_dir=tmp_path / "crops")
    paths = profiles.paths_for(config.profile, config.work_dir, config.results_dir)
    damaged = results.run_dir(paths.results, config.approach, config.run_id, 1)
    damaged.mkdir(parents=True)
    (damaged / results.METRICS_FILE).write_text('{"fold": 1, "lo')
    with pytest.raises(results.DamagedRunError, match=str(damaged)):
        results.load_run(damaged)
    assert list(train.run_experiment(config, dataset, crops_dir=tmp_path / "crops")["fold"]) == [0]
    write_fake_run(tmp_path / "other", "single_task", "grid-a1b2c3", 0, ["s1", "s2"])
    write_fake_run(tmp_path / "other", "single_task", "old-d4e5f6", 0, ["s1", "s2"])
    cut = results.run_dir(tmp_path / "other", "single_task", "old-d4e5f6", 0) / "history.csv"
    cut.write_text("")
    loaded = evaluate.load_runs(tmp_path / "other", "single_task", runs=["grid-a1b2c3"])
    assert [run.run_id for run in loaded] == ["grid-a1b2c3"]
    with pytest.raises(results.DamagedRunError, match=str(cut)):
        evaluate.load_runs(tmp_path / "other", "single_task")


def test_a_cut_config_of_another_run_of_the_name_is_skipped_with_a_note(tmp_path, capsys):
    config = smoke_config(tmp_path)
    paths = profiles.paths_for(config.profile, config.work_dir, config.results_dir)
    other = paths.results / config.approach / f"{config.run_name}-0a0b0c" / "fold_0" / results.CONFIG_FILE
    other.parent.mkdir(parents=True)
    other.write_text('{"run": "' + config.run_name + '", "identity": {"model"')
    assert train.other_settings(paths, config) == []
    assert f"{other} is unreadable" in capsys.readouterr().out


def test_a_cut_last_checkpoint_is_named_with_what_to_do(tmp_path):
    model, task, loader = colour_run()
    config = train.TrainConfig(epochs=1, progress=False, verbose=False)
    train.fit(model, task, loader, None, config, tmp_path)
    last = tmp_path / train.LAST_CHECKPOINT
    last.write_bytes(last.read_bytes()[:1000])
    model, task, loader = colour_run()
    with pytest.raises(train.DamagedCheckpointError, match=f"{last} is damaged.*delete {tmp_path}"):
        train.fit(model, task, loader, None, train.TrainConfig(epochs=2, progress=False, verbose=False), tmp_path)


def test_an_empty_crop_file_is_redone_by_extraction_and_named_by_training(clips, tmp_path):
    first = extract(clips, tmp_path)
    victim = frames.video_files(first.root, "S1", "N2S")["face"]
    whole = victim.read_bytes()
    victim.write_bytes(b"")
    with pytest.raises(frames.DamagedArrayError, match=f"{victim} is damaged.*extract"):
        train.packed_shape(victim)
    with pytest.raises(frames.DamagedArrayError, match=f"{victim} is damaged"):
        frames.load_crops(first.root, "S1", "N2S")
    again = extract(clips, tmp_path)
    assert again.processed == 1 and victim.read_bytes() == whole
    victim.write_bytes(whole[: len(whole) // 2])  # cut: the header is whole, the pixels are not
    with pytest.raises(frames.DamagedArrayError, match="bytes, its header says"):
        train.packed_shape(victim)


def test_a_cut_splits_file_is_named(tmp_path):
    path = data.save_splits(pd.DataFrame({"subject": ["01", "02", "03"], "fold": [0, 1, 0]}), tmp_path / "splits.csv")
    path.write_text(path.read_text()[:-3])  # "03," without its fold
    with pytest.raises(data.DatasetError, match=f"{path} is damaged.*delete it"):
        data.load_splits(path)
    path.write_text("")
    with pytest.raises(data.DatasetError, match=f"{path} is damaged"):
        data.load_splits(path)


# --------------------------------------------------------------------------------------------------
# Two processes on one folder: the second is refused (or waits), told who holds it


HOLD_LOCK = """
import sys, time
from helpers.storage import FolderLock
FolderLock(sys.argv[1], sys.argv[2]).acquire()
print("held", flush=True)
time.sleep(120)
"""


def hold(folder: Path, what: str) -> subprocess.Popen:
    holder = run_python(HOLD_LOCK, str(folder), what)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_training_of_a_configuration_is_refused_until_the_first_is_gone(tmp_path):
    dataset = fake_crops(tmp_path / "crops")
    config = smoke_config(tmp_path)
    run_folder = tmp_path / "results" / "smoke" / config.approach / config.run_id
    holder = hold(run_folder, "the training of another notebook")
    try:
        with pytest.raises(storage.FolderLockedError, match=f"in use.*process {holder.pid} .*delete "
                                                            f"{run_folder / storage.LOCK_FILE}"):
            train.run_experiment(config, dataset, crops_dir=tmp_path / "crops")
        assert not list(run_folder.glob("fold_*")), "nothing trained or written beside the other run"
    finally:
        kill(holder)
    table = train.run_experiment(config, dataset, crops_dir=tmp_path / "crops")  # a dead holder's lock: taken over
    assert list(table["fold"]) == [0] and not (run_folder / storage.LOCK_FILE).exists()


def test_a_second_extraction_of_a_folder_waits_or_is_refused_and_deletes_nothing(clips, tmp_path):
    out = frames.extraction_dir(tmp_path, frames.ExtractionConfig(landmarks=False))
    holder = hold(out, "an extraction")
    in_progress = out / "S1" / ".N2H.face.npy.abc123.tmp"  # the first extraction's file being written
    in_progress.parent.mkdir(parents=True, exist_ok=True)
    in_progress.write_bytes(b"\x93NUMPY")
    try:
        started = time.monotonic()
        with pytest.raises(frames.FolderLockedError, match=f"in use: an extraction by process {holder.pid}"):
            extract(clips, tmp_path, lock_wait_s=1.0)
        assert time.monotonic() - started >= 1.0, "it waited for the other extraction first"
        assert in_progress.exists(), "the other extraction's temporary file was deleted"
    finally:
        kill(holder)


def test_a_lock_of_a_machine_that_went_away_is_taken_over_once_it_stops_being_touched(tmp_path):
    """A Colab VM that disconnected leaves its lock on Drive; its holder cannot be asked whether it runs."""
    lock = tmp_path / storage.LOCK_FILE
    lock.write_text('{"pid": 4242, "host": "colab-vm-gone", "what": "an extraction", "started": "yesterday"}')
    with pytest.raises(storage.FolderLockedError, match="an extraction by process 4242 on colab-vm-gone"):
        storage.FolderLock(tmp_path, "an extraction").acquire()
    silent_for = storage.FolderLock.STALE_AFTER_S + 60
    os.utime(lock, (time.time() - silent_for, time.time() - silent_for))
    with storage.FolderLock(tmp_path, "an extraction"):
        assert str(os.getpid()) in lock.read_text()
    assert not lock.exists()


def test_a_lock_with_this_process_id_is_stale_unless_this_process_holds_it(tmp_path):
    """A restarted kernel in a container may get the pid of the one that died holding the lock."""
    import socket

    lock = tmp_path / storage.LOCK_FILE
    lock.write_text(f'{{"pid": {os.getpid()}, "host": "{socket.gethostname()}", "what": "a training"}}')
    with storage.FolderLock(tmp_path, "a training"):
        with pytest.raises(storage.FolderLockedError, match=f"process {os.getpid()}"):
            storage.FolderLock(tmp_path, "a second training").acquire()
    assert not lock.exists()


def test_a_lock_file_is_never_seen_empty_so_two_take_overs_cannot_both_hold_it(tmp_path, monkeypatch):
    """A rival that read a stale empty lock moves aside and deletes what is there when it takes over: a fresh
    lock it found empty (created, not yet written) was deleted under its holder, and both held the folder."""
    import socket

    lock, rival, real_hostname = tmp_path / storage.LOCK_FILE, storage.FolderLock(tmp_path, "a rival"), socket.gethostname
    taken_over = []

    def rival_takes_over_meanwhile() -> str:  # called while the lock's content is being made
        if lock.exists() and not taken_over:
            taken_over.append(lock.read_text())
            rival._take_over({})  # it had read the old lock as empty (stale), then found this one
        return real_hostname()

    monkeypatch.setattr(socket, "gethostname", rival_takes_over_meanwhile)
    with storage.FolderLock(tmp_path, "a training"):
        assert lock.exists() and json.loads(lock.read_text())["pid"] == os.getpid()
        assert taken_over in ([], [lock.read_text()]), "the lock was seen empty"


def test_a_lock_held_through_a_symbolic_link_is_known_as_held_by_its_real_path(tmp_path):
    real = tmp_path / "results"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with storage.FolderLock(tmp_path / "link", "a training"):
        with pytest.raises(storage.FolderLockedError, match=f"process {os.getpid()}"):
            storage.FolderLock(real, "a second training").acquire()
    assert not (real / storage.LOCK_FILE).exists()


def test_a_lock_of_this_machine_whose_pid_was_reused_is_taken_over_once_it_stops_being_touched(tmp_path):
    """The pid of a process that died holding the lock now belongs to another process (here: pytest's parent)."""
    import socket

    lock = tmp_path / storage.LOCK_FILE
    lock.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "what": "a training"}))
    with pytest.raises(storage.FolderLockedError, match=f"process {os.getppid()} on {socket.gethostname()}"):
        storage.FolderLock(tmp_path, "a training").acquire()
    silent_for = storage.FolderLock.STALE_AFTER_S + 60
    os.utime(lock, (time.time() - silent_for, time.time() - silent_for))
    with storage.FolderLock(tmp_path, "a training"):
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_a_live_lock_of_another_container_with_the_same_host_name_is_not_taken_over(tmp_path, monkeypatch):
    """Containers with a fixed host name: a pid dead here may be alive there; the boot id tells them apart."""
    import socket

    boot_id = tmp_path / "boot_id"
    boot_id.write_text("this-boot\n")
    monkeypatch.setattr(storage, "BOOT_ID_FILE", boot_id, raising=False)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    dead_here = int(finished.stdout)
    folder = tmp_path / "shared"
    folder.mkdir()
    lock = folder / storage.LOCK_FILE
    lock.write_text(json.dumps({"pid": dead_here, "host": socket.gethostname(), "boot_id": "another-boot",
                                "what": "a training"}))
    with pytest.raises(storage.FolderLockedError, match=f"process {dead_here}"):
        storage.FolderLock(folder, "a training").acquire()
    lock.write_text(json.dumps({"pid": dead_here, "host": socket.gethostname(), "boot_id": "this-boot",
                                "what": "a training"}))
    with storage.FolderLock(folder, "a training"):  # the same machine: a dead holder's lock is taken over
        assert json.loads(lock.read_text())["boot_id"] == "this-boot"


def test_a_lock_is_made_and_given_back_where_the_file_system_has_no_hard_links(tmp_path, monkeypatch):
    """Some mounts refuse os.link: the lock is then created in place, and a live lock moved aside goes back."""
    def no_links(source, destination):
        raise PermissionError(errno.EPERM, "Operation not permitted", str(destination))

    monkeypatch.setattr(os, "link", no_links)
    lock = tmp_path / storage.LOCK_FILE
    with storage.FolderLock(tmp_path, "a training") as held:
        assert json.loads(lock.read_text())["token"] == held.token
        storage.FolderLock(tmp_path, "a rival")._take_over({"pid": 4242})  # it had read an older, stale lock
        assert json.loads(lock.read_text())["token"] == held.token, "the live lock was given back"
    assert not lock.exists() and not list(tmp_path.iterdir())
