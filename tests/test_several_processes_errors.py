"""Errors of a run with several processes: what stops the main process while it prepares the data or takes
the run's lock stops every process with the same message (the others no longer wait in a broadcast until
``torchrun`` kills them), and the process group waits long enough for the main process to prepare the data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import storage
from helpers.data.common import DatasetError
from helpers.train import TrainConfig, loop, processes, runner

REPO = Path(__file__).resolve().parents[1]

#: run_experiment on every process with one step of the main process's preparation failing (argv[2] says
#: which); each process prints the timeout its process group was started with
DRIVER = textwrap.dedent('''
    import sys
    import torch.distributed
    from helpers import approaches, storage
    from helpers.data.common import DatasetError
    from helpers.train import runner

    class TwoArgumentError(RuntimeError):  # does not unpickle: its __init__ wants two arguments
        def __init__(self, what, why):
            super().__init__(f"{what} failed: {why}")

    def fail(*args, **kwargs):
        raise {"dataset": DatasetError("the dataset at /data/x has no videos: point DATASET_DIR at it"),
               "unpicklable": TwoArgumentError("preparing", "made up for the test")}[sys.argv[2]]

    def refuse_lock(lock):
        raise storage.disk_full_error(lock.folder, 1 << 20, str(lock.path))

    init_process_group = torch.distributed.init_process_group
    def recording_init(*args, **kwargs):
        print("process group timeout:", kwargs.get("timeout"), flush=True)
        return init_process_group(*args, **kwargs)
    torch.distributed.init_process_group = recording_init

    config = approaches.load_configs(sys.argv[1])[0]
    if sys.argv[2] == "lock":
        runner.prepare_run = lambda config, *args: runner.PreparedRun(None, config, [0], None)
        storage.FolderLock.acquire = refuse_lock
    else:
        runner.prepare_run = fail
    runner.run_experiment(config)
''')


def rank_logs(log_dir: Path, rank: int) -> tuple[str, str]:
    """The stdout and stderr of one process (torchrun's ``--log-dir`` with ``--redirects 3``)."""
    folder = next(log_dir.glob(f"*/attempt_0/{rank}"))
    return (folder / "stdout.log").read_text(), (folder / "stderr.log").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("failing, error", [
    ("dataset", "helpers.data.common.DatasetError: the dataset at /data/x has no videos"),
    ("lock", "helpers.storage.DiskFullError: "),
    ("unpicklable", "TwoArgumentError: preparing failed: made up for the test"),
])
def test_an_error_of_the_main_process_stops_every_process_with_its_message(tmp_path, failing, error):
    config = {"profile": "smoke", "approach": "single_task", "model": "simple_cnn", "weights": None,
              "folds": [0], "work_dir": str(tmp_path / "work"), "results_dir": str(tmp_path / "results")}
    (tmp_path / "experiment.json").write_text(json.dumps(config))
    (tmp_path / "driver.py").write_text(DRIVER)
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    logs = tmp_path / "logs"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "--log-dir", str(logs), "--redirects", "3", str(tmp_path / "driver.py"),
                           str(tmp_path / "experiment.json"), failing],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    seconds = time.monotonic() - started
    (main_out, main_err), (other_out, other_err) = rank_logs(logs, 0), rank_logs(logs, 1)
    assert done.returncode != 0
    assert seconds < 240, seconds  # not torch's 30 minutes of gloo, nor the long timeout below
    # both processes stopped with the error of the main one, the other one saying where it came from
    assert error in main_err, main_err[-2000:]
    assert error in other_err, other_err[-2000:]
    assert "raised on the main process; process 1 stopped with it" in other_err, other_err[-2000:]
    if failing == "unpicklable":  # sent as its type and message
        assert "helpers.train.processes.MainProcessError: TwoArgumentError: preparing failed" in other_err
    # the process group was started with the timeout that lets the main process prepare the data
    for out in (main_out, other_out):
        assert f"process group timeout: {loop.PROCESS_GROUP_TIMEOUT}" in out, out[-1000:]


def test_the_process_group_outwaits_the_preparation_of_the_data():
    accelerator = loop.make_accelerator(TrainConfig())
    assert accelerator.init_handler.timeout == loop.PROCESS_GROUP_TIMEOUT
    # the main process may wait for another extraction's lock, then extract the full dataset (hours)
    assert loop.PROCESS_GROUP_TIMEOUT.total_seconds() >= runner.EXTRACTION_WAIT_S + 6 * 3600


class TwoArgumentError(RuntimeError):
    def __init__(self, what: str, why: str):
        super().__init__(f"{what} failed: {why}")


def test_an_error_that_does_not_pickle_is_sent_as_its_type_and_message():
    sent = processes.sendable_error(DatasetError("no videos in /data/x"))
    assert type(sent) is DatasetError and str(sent) == "no videos in /data/x"
    sent = processes.sendable_error(storage.FolderLockedError("/r is in use"))
    assert type(sent) is storage.FolderLockedError and str(sent) == "/r is in use"
    sent = processes.sendable_error(TwoArgumentError("preparing", "a reason"))
    assert type(sent) is processes.MainProcessError
    assert str(sent) == "TwoArgumentError: preparing failed: a reason"


def test_with_one_process_the_work_runs_and_its_error_is_raised_as_it_is():
    def fail() -> None:
        raise DatasetError("no videos")

    accelerator = loop.make_accelerator(TrainConfig())
    assert processes.on_main_process(accelerator, lambda: 7) == 7
    with pytest.raises(DatasetError, match="no videos"):
        processes.on_main_process(accelerator, fail)
