"""Mixed precision chosen per GPU, and the banner every notebook prints."""

from __future__ import annotations

import pytest
import torch

from helpers import profiles, runtime, train

T4 = runtime.Device(True, "Tesla T4", (7, 5), 1, 2)
A100 = runtime.Device(True, "NVIDIA A100-SXM4-40GB", (8, 0), 1, 12)
CPU = runtime.Device(False, "CPU", None, 0, 2)


@pytest.fixture
def fake_t4(monkeypatch):
    """A T4 as PyTorch describes it: capability 7.5, and is_bf16_supported() True (bf16 is emulated there)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)


@pytest.mark.parametrize(("device", "expected"), [(T4, "fp16"), (A100, "bf16"), (CPU, "no")])
def test_auto_precision_follows_the_compute_capability(device, expected):
    assert runtime.choose_mixed_precision("auto", device) == expected


def test_a_t4_trains_in_fp16_although_pytorch_says_it_supports_bf16(fake_t4):
    assert runtime.current_device().capability == (7, 5)
    assert train.resolve_mixed_precision("auto") == "fp16"
    assert train.resolve_mixed_precision("bf16") == "bf16"  # an explicit choice is kept


def test_an_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="bf16"):
        runtime.choose_mixed_precision("half")


def test_the_banner_names_device_and_precision(tmp_path):
    paths = profiles.paths_for("full", tmp_path / "work", tmp_path / "results")
    text = runtime.banner("full", paths, trains=True, device=T4)
    assert "Tesla T4 (compute capability 7.5)" in text and "fp16 mixed precision with a gradient scaler" in text
    assert "WARNING" not in text and profiles.display_path(paths.work) in text
    assert "bf16 mixed precision" in runtime.banner("full", paths, trains=True, device=A100)


def test_full_without_a_gpu_warns_how_to_get_one(tmp_path):
    paths = profiles.paths_for("full", tmp_path / "work", tmp_path / "results")
    text = runtime.banner("full", paths, trains=True, device=CPU)
    assert "WARNING" in text and "Change runtime type" in text and "full precision" in text
    smoke = profiles.paths_for("smoke", tmp_path / "work", tmp_path / "results")
    assert "WARNING" not in runtime.banner("smoke", smoke, trains=True, device=CPU)
    assert "WARNING" not in runtime.banner("full", paths, trains=False, device=CPU)  # 01, 02, 06 need no GPU


def test_the_banner_shows_no_folder_of_the_machine_that_ran_it(tmp_path, monkeypatch):
    """The book prints every notebook's banner: the folders read from the environment, the repository or the home
    folder are named by the variable, relative to the repository or by ``~``, never by their absolute path."""
    monkeypatch.setenv("GENUINE_POSED_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("GENUINE_POSED_RESULTS", str(tmp_path / "work" / "results"))
    paths = profiles.paths_for("smoke")
    text = runtime.banner("smoke", paths, device=CPU)
    assert "$GENUINE_POSED_WORK/smoke" in text and "$GENUINE_POSED_RESULTS/smoke" in text
    assert str(tmp_path) not in text
    root = profiles.project_root()
    assert profiles.display_path(root / "work" / "demo") == "work/demo"
    monkeypatch.delenv("GENUINE_POSED_WORK")
    assert profiles.display_path(tmp_path / "work") == str(tmp_path / "work")  # outside all of them: as it is
    monkeypatch.setenv("HOME", str(tmp_path))
    assert profiles.display_path(tmp_path / "data" / "x.mp4") == "~/data/x.mp4"
    assert profiles.display_path("/content/drive/MyDrive/genuine-posed/work") == "/content/drive/MyDrive/genuine-posed/work"
