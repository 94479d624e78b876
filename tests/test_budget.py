"""What a grid will write, measured before training, and the refusal when it does not fit."""

from __future__ import annotations

import pytest
import torch

from helpers import approaches, frames, models, results, train
from helpers.train import budget

GB = 1000**3


def test_model_sizes_are_counted_on_the_meta_device_without_building_weights():
    size = budget.measure(lambda: models.build_model("resnet50", 12, None, image_size=224))
    real = models.build_model("resnet50", 12, None, image_size=224)
    assert size.trainable == models.count_parameters(real, trainable_only=True)
    assert size.values == sum(t.numel() for t in real.state_dict().values() if t.is_floating_point())
    assert 90e6 < size.values * 4 < 100e6  # the ~94 MB of a ResNet50 state dict in fp32
    assert size.weights_bytes == 2 * size.values  # kept weights are half precision
    frozen = budget.measure(lambda: models.build_model("resnet50", 12, None, freeze_backbone=True, image_size=224))
    assert frozen.trainable < 30_000 and frozen.checkpoint_bytes() < size.checkpoint_bytes()


@pytest.mark.parametrize("config", [
    approaches.SingleTaskConfig(model="vgg16", weights="default"),
    approaches.MultiTaskConfig(model="inception_resnet_v1", variant="fusion", weights="default"),
    approaches.TemporalConfig(model="slow_r50", heads="two_task", weights="default"),
], ids=["single_task", "multitask", "temporal"])
def test_every_approach_measures_its_model_without_downloading(config):
    size = budget.measure(lambda: config.build_model(untrained=True))  # pretrained configurations: the same architecture, no download
    assert size.values > 1e6 and size.trainable <= size.values


def test_kept_weights_are_half_precision_and_load_into_a_full_precision_model(tmp_path):
    model = models.build_model("resnet18", 12, None, image_size=64).eval()
    full = results.atomic_torch_save(tmp_path / "full.pt", model.state_dict())
    half = results.save_weights(tmp_path / "half.pt", model)
    assert half.stat().st_size < 0.55 * full.stat().st_size
    rebuilt = models.build_model("resnet18", 12, None, image_size=64).eval()
    rebuilt.load_state_dict(torch.load(half, weights_only=True))
    assert next(rebuilt.parameters()).dtype == torch.float32
    images = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(torch.softmax(model(images), 1), torch.softmax(rebuilt(images), 1), atol=2e-3)


@pytest.mark.parametrize(("choice", "folds", "kept"), [("all", None, [0, 1, 2]), ("first", None, [0]),
                                                        ("first", [2, 1], [1]), ("none", None, []),
                                                        (True, None, [0, 1, 2]), (False, None, [])])
def test_which_folds_keep_their_weights(choice, folds, kept):
    choice = train.weights_choice(choice)
    assert [f for f in sorted(folds or [0, 1, 2]) if train.keeps_weights(choice, folds, f)] == kept
    with pytest.raises(ValueError, match="save_weights"):
        train.weights_choice("best")


def test_a_grid_that_fits_is_listed(tmp_path, monkeypatch):
    size = budget.measure(lambda: models.build_model("resnet50", 12, None, image_size=224))
    items = budget.run_items("resnet50-focal", [0, 1, 2, 3, 4], [0], size)
    monkeypatch.setattr(budget, "free_space", lambda folder: 15 * GB)
    plan = budget.check(budget.plan(tmp_path, items))
    assert plan.fits and plan.total == size.weights_bytes + size.checkpoint_bytes()
    table = plan.table()
    assert list(table["writes"]) == ["checkpoints", "weights"] and table.loc[1, "files"] == 1
    assert "is free there" in plan.summary() and "at most at a time" in plan.summary()


def test_a_grid_that_does_not_fit_is_refused_with_the_numbers_and_what_to_change(tmp_path, monkeypatch):
    """03's full grid keeps 5 backbones x 4 losses x 5 folds of weights: more than a free Drive holds."""
    items = []
    for name in models.THESIS_MODELS:
        size = budget.measure(lambda name=name: models.build_model(name, 12, None))
        for loss in ("cross_entropy", "focal", "multilabel_focal", "euclidean"):
            items += budget.run_items(f"{name}-{loss}", range(5), range(5), size)
    monkeypatch.setattr(budget, "free_space", lambda folder: 15 * GB)
    plan = budget.plan(tmp_path / "work", items)
    assert plan.total > 14 * GB and not plan.fits  # about 15 GB of half-precision weights alone
    with pytest.raises(budget.BudgetError) as refused:
        budget.check(plan)
    message = str(refused.value)
    assert "15.0 GB is free" in message and "\"save_weights\": \"first\"" in message and "\"folds\": [0]" in message and "vgg16" in message
    first_only = [budget.Item(i.what, i.run, min(i.count, 1), i.each, i.peak) if i.what == "weights" else i
                  for i in items]
    assert budget.check(budget.plan(tmp_path / "work", first_only)).fits  # one fold's weights per configuration fit


def test_crop_estimate_matches_what_extraction_writes(tmp_path):
    from helpers import video
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    path = video.write_video(tmp_path / "S1" / "N2H.MP4", [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
                                                          for _ in range(40)], fps=25)
    index = pd.DataFrame({"subject": ["S1"], "code": ["N2H"], "path": [str(path)], "frames": [40], "fps": [25.0]})
    config = frames.ExtractionConfig(size=32, target_fps=10)
    estimate = budget.crop_bytes(index, config)
    assert estimate == len(frames.sampled_indices(40, 25.0, config)) * 32 * 32 * 3 * 2
