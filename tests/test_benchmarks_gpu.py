"""benchmarks/gpu.py runs at tiny sizes on a CPU and writes its measurements; channels_last (the option it
measures) trains to the same losses as the default memory format and is chosen by the documented rule."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import models, runtime, train
from helpers.models import losses
from helpers.train import loop

REPO = Path(__file__).resolve().parents[1]
T4 = runtime.Device(True, "Tesla T4", (7, 5), 1, 2)
P100 = runtime.Device(True, "Tesla P100", (6, 0), 1, 2)
H100 = runtime.Device(True, "NVIDIA H100", (9, 0), 1, 16)
CPU = runtime.Device(False, "CPU", None, 0, 2)


@pytest.mark.slow  # the whole benchmark: left out of `make test-fast`
def test_the_gpu_benchmark_runs_tiny_on_a_cpu_and_writes_its_rows(tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu.py"), "--size", "tiny", "--device", "cpu",
                           "--steps", "2", "--json", str(out)], capture_output=True, text=True, timeout=180,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "on a CPU there is none" in done.stdout and "default on this CPU:" in done.stdout.splitlines()[-1]
    assert done.stdout.splitlines()[-1].startswith(("TARGET MET: ", "TARGET NOT MET (revisit the rule): "))
    measured = json.loads(out.read_text())
    assert measured["mixed_precision"] == "no" and measured["device"]["cuda"] is False
    rows = measured["rows"]
    assert {(r["model"], r["mode"]) for r in rows} == {
        (m, mode) for m in ("simple_cnn", "resnet18") for mode in ("fp32", "amp", "amp+channels_last")}
    for row in rows:
        assert "error" not in row, row
        for key in ("images_per_s", "ratio_vs_fp32", "loader_images_per_s", "loader_over_step"):
            assert math.isfinite(row[key]) and row[key] > 0, (key, row)
    assert all(r["ratio_vs_fp32"] == 1.0 for r in rows if r["mode"] == "fp32")
    assert measured["loader"] and all(entry["images_per_s"] > 0 for entry in measured["loader"])
    assert measured["recommendation"]["best_mode"]


@pytest.mark.parametrize(("device", "precision", "conv2d", "expected"), [
    (H100, "bf16", True, True), (T4, "fp16", True, True), (H100, "no", True, False), (P100, "fp16", True, False),
    (H100, "bf16", False, False), (CPU, "no", True, False)])
def test_channels_last_is_on_where_it_pays(device, precision, conv2d, expected):
    assert runtime.choose_channels_last(None, precision, device, conv2d) is expected


def test_an_explicit_channels_last_setting_is_kept():
    assert runtime.choose_channels_last(True, "no", CPU, conv2d=False) is True
    assert runtime.choose_channels_last(False, "bf16", H100) is False


def test_clip_models_are_not_2d_conv_nets():
    assert loop.is_conv2d_net(models.build_model("simple_cnn", weights=None))
    assert not loop.is_conv2d_net(models.build_temporal_model("conv3d", weights=None))
    assert not loop.is_conv2d_net(models.build_temporal_model("simple_cnn_lstm", weights=None))
    assert not loop.is_conv2d_net(torch.nn.Linear(3, 2))


class Images(torch.utils.data.Dataset):
    """Eight random uint8 images: two batches of four."""

    def __init__(self):
        generator = torch.Generator().manual_seed(1)
        self.images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=generator)

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i], "label": i % 12, "video": i, "frame": 0}


def train_once(channels_last: bool) -> tuple[float, torch.nn.Module, train.FitResult]:
    torch.manual_seed(0)
    model = models.build_model("resnet18", heads=12, weights=None, image_size=32)
    task = train.ClassificationTask(losses.build_loss("cross_entropy"), "label",
                                    train.BatchTransform([0.5] * 3, [0.25] * 3, image_size=32))
    loader = train.make_loader(Images(), batch_size=4, train=True, workers=0)
    config = train.TrainConfig(epochs=1, optimizer="sgd", scheduler="none", progress=False, verbose=False,
                               channels_last=channels_last)
    fitted = train.fit(model, task, loader, None, config)
    return float(fitted.history["train_loss"].iloc[0]), fitted.model, fitted


def test_channels_last_trains_to_the_same_losses():
    """Two steps (the second after an SGD update): the same mean loss up to float rounding. (Not AdamW: its first
    step moves every weight by about the learning rate whatever the gradient's size, so a gradient that rounding
    alone sets apart from zero can step either way: 2e-4 apart with one CPU thread.)"""
    plain, plain_model, plain_fit = train_once(False)
    nhwc, nhwc_model, nhwc_fit = train_once(True)
    assert not plain_fit.channels_last and nhwc_fit.channels_last and not nhwc_fit.compiled
    weight = nhwc_model.backbone.network.conv1.weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert plain_model.backbone.network.conv1.weight.is_contiguous()
    assert nhwc == pytest.approx(plain, rel=1e-4)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():  # the same function of the inputs, whatever their memory format
        assert torch.allclose(nhwc_model.eval()(images), nhwc_model(images.contiguous(
            memory_format=torch.channels_last)), atol=1e-5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU case")
def test_auto_leaves_the_memory_format_alone_on_a_cpu():
    model = models.build_model("simple_cnn", heads=12, weights=None)
    accelerator = loop.make_accelerator(train.TrainConfig())
    assert loop.uses_channels_last(model, train.TrainConfig(), accelerator) is False
