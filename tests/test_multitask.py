"""Multi-task learning: combined losses (hand-computed values), heads, a single backbone pass, the fusion and
cascade models, the face+context dataset, and one tiny fold of each variant written as artifacts."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import datasets, evaluate, labels, losses, models, multitask, profiles, results, train


def count_backbone_calls(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


# ---------------------------------------------------------------- combining heads into 12 classes


def test_combined_probabilities_are_the_product_in_class_order():
    p_emotion = torch.tensor([[0.5, 0.2, 0.1, 0.1, 0.05, 0.05]])
    p_authenticity = torch.tensor([[0.3, 0.7]])  # posed, genuine
    joint = multitask.combine_probabilities(p_emotion, p_authenticity)
    assert joint.shape == (1, 12)
    assert joint.sum().item() == pytest.approx(1.0)
    assert joint[0, labels.class_index("happy", True)].item() == pytest.approx(0.35)  # N2H
    assert joint[0, labels.class_index("happy", False)].item() == pytest.approx(0.15)  # S2N2H
    assert joint[0, labels.class_index("sad", False)].item() == pytest.approx(0.06)
    # marginalising the 12 classes (what helpers.evaluate does) gives the heads back
    np.testing.assert_allclose(evaluate.collapse(joint.numpy(), "emotion"), p_emotion.numpy(), rtol=1e-6)
    np.testing.assert_allclose(evaluate.collapse(joint.numpy(), "authenticity"), p_authenticity.numpy(), rtol=1e-6)
    assert multitask.pair_to_class(np.array([0, 5]), np.array([1, 0])).tolist() == [
        labels.CODES.index("N2H"), labels.CODES.index("D2N2Sur")]


# ---------------------------------------------------------------- combined losses


def head_losses(e=2.0, a=0.5):
    return {"emotion": torch.tensor(e), "authenticity": torch.tensor(a)}


def test_sum_and_fixed_weighting():
    assert multitask.build_weighting("sum")(head_losses()).item() == pytest.approx(2.5)
    fixed = multitask.build_weighting("fixed", weights={"emotion": 0.25, "authenticity": 4.0})
    assert fixed(head_losses()).item() == pytest.approx(0.25 * 2.0 + 4.0 * 0.5)
    assert fixed.weights() == {"emotion": 0.25, "authenticity": 4.0}
    with pytest.raises(ValueError, match="unknown heads"):
        multitask.build_weighting("fixed", weights={"valence": 1.0})
    with pytest.raises(ValueError, match="unknown loss weighting"):
        multitask.build_weighting("gradnorm")


def test_precision_weighting_uses_the_previous_epochs_precision():
    weighting = multitask.build_weighting("precision")
    assert weighting(head_losses()).item() == pytest.approx(2.5), "first epoch: equal weights"
    # emotion: truth [0, 0, 1, 1], predicted [0, 1, 1, 1] -> precision class 0 = 1, class 1 = 2/3 (classes 2-5
    # never predicted: 0) -> macro over 6 classes = (1 + 2/3) / 6
    probs_emotion = np.eye(6)[[0, 1, 1, 1]]
    # authenticity: truth [0, 1, 0, 1], predicted [0, 1, 1, 1] -> precision 1 and 2/3 -> macro 5/6
    probs_authenticity = np.eye(2)[[0, 1, 1, 1]]
    weighting.end_epoch({"target_emotion": np.array([0, 0, 1, 1]), "probs_emotion": probs_emotion,
                         "target_authenticity": np.array([0, 1, 0, 1]), "probs_authenticity": probs_authenticity})
    w_e, w_a = (1 + 2 / 3) / 6, 5 / 6
    assert weighting.weights() == pytest.approx({"emotion": w_e, "authenticity": w_a})
    assert weighting(head_losses()).item() == pytest.approx(w_e * 2.0 + w_a * 0.5)
    assert "precision" in weighting.state_dict(), "the weights are saved with the model (resume)"


def test_uncertainty_weighting_value_and_gradient():
    weighting = multitask.build_weighting("uncertainty")
    with torch.no_grad():
        weighting.log_variance.copy_(torch.tensor([0.5, -1.0]))
    total = weighting(head_losses())
    assert total.item() == pytest.approx(math.exp(-0.5) * 2.0 + 0.5 + math.exp(1.0) * 0.5 - 1.0)
    total.backward()
    # d/ds [exp(-s) L + s] = 1 - exp(-s) L
    expected = [1 - math.exp(-0.5) * 2.0, 1 - math.exp(1.0) * 0.5]
    assert weighting.log_variance.grad.tolist() == pytest.approx(expected)


def test_the_optimizer_sees_the_learned_log_variances():
    model = multitask.build_shared_model("simple_cnn", weights=None, image_size=32)
    weighting = multitask.build_weighting("uncertainty")
    assert multitask.attach_weighting(model, weighting) is model
    optimizer = train.build_optimizer(model, train.TrainConfig(backbone_lr=1e-5))
    optimised = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert id(weighting.log_variance) in optimised
    assert "loss_weighting.log_variance" in model.state_dict()


# ---------------------------------------------------------------- models: one backbone pass


def test_shared_model_runs_its_backbone_once():
    model = multitask.build_shared_model("simple_cnn", weights=None, image_size=32)
    calls = count_backbone_calls(model.backbone)
    out = model(torch.randn(3, 3, 32, 32))
    assert calls[0] == 1
    assert out["emotion"].shape == (3, 6) and out["authenticity"].shape == (3, 2)


@pytest.mark.parametrize("fusion", ["concat", "attention"])
def test_fusion_model_runs_each_stream_once(fusion):
    model = multitask.build_fusion_model("simple_cnn", weights=None, image_size=32, fusion=fusion, hidden=16)
    face_calls, context_calls = count_backbone_calls(model.backbone["face"]), count_backbone_calls(
        model.backbone["context"])
    out = model(torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32))
    assert (face_calls[0], context_calls[0]) == (1, 1)
    assert out["emotion"].shape == (2, 6) and out["authenticity"].shape == (2, 2)
    if fusion == "attention":
        assert torch.allclose(model.stream_weights.sum(dim=1), torch.ones(2))
    with pytest.raises(ValueError, match="unknown fusion"):
        multitask.build_fusion_model("simple_cnn", weights=None, image_size=32, fusion="sum")


def test_cascade_teacher_forcing_and_end_to_end():
    torch.manual_seed(0)
    model = multitask.build_cascade_model("simple_cnn", weights=None, image_size=32).eval()
    calls = count_backbone_calls(model.backbone)
    images = torch.randn(4, 3, 32, 32)
    forced = model(images, torch.tensor([0, 1, 2, 3]))
    assert calls[0] == 1
    per_emotion = forced["authenticity_per_emotion"]
    assert per_emotion.shape == (4, 6, 2)
    assert torch.equal(forced["authenticity"], per_emotion[torch.arange(4), torch.tensor([0, 1, 2, 3])])
    free = model(images)  # test time: the head of the predicted emotion (stage-1 errors propagate)
    predicted = free["emotion"].argmax(dim=1)
    assert torch.equal(free["authenticity"], per_emotion[torch.arange(4), predicted])


# ---------------------------------------------------------------- training with fit


class TinyFrames(torch.utils.data.Dataset):
    """uint8 images whose emotion is the brightest channel-pair pattern and authenticity the brightness."""

    def __init__(self, n=24, size=32, seed=0, context=False):
        generator = torch.Generator().manual_seed(seed)
        self.label = torch.randint(0, 12, (n,), generator=generator)
        self.images = torch.randint(0, 255, (n, 3, size, size), generator=generator).to(torch.uint8)
        self.context = context

    def __len__(self):
        return len(self.label)

    def __getitem__(self, i):
        label = int(self.label[i])
        emotion, authenticity = labels.split_class_index(label)
        item = {"image": self.images[i], "label": label, "emotion": emotion, "authenticity": authenticity,
                "video": i, "frame": 0}
        if self.context:
            item["context"] = self.images[i].flip(-1)
        return item


@pytest.mark.parametrize("variant,weighting", [("shared", "precision"), ("shared", "uncertainty"),
                                               ("fusion", "sum"), ("cascade", "fixed")])
def test_fit_trains_every_variant(tmp_path, variant, weighting):
    torch.manual_seed(0)
    build = {"shared": multitask.build_shared_model, "fusion": multitask.build_fusion_model,
             "cascade": multitask.build_cascade_model}[variant]
    model = build("simple_cnn", weights=None, image_size=32)
    loss = "multilabel_focal" if variant == "fusion" else "cross_entropy"
    weights = multitask.build_weighting(weighting)
    multitask.attach_weighting(model, weights)
    task = multitask.MultiTaskTask({h: losses.build_loss(loss) for h in multitask.HEADS}, weights,
                                   datasets.BatchTransform([0.5] * 3, [0.25] * 3, 32), variant)
    loader = datasets.make_loader(TinyFrames(context=variant == "fusion"), 8, True, workers=0)
    val = datasets.make_loader(TinyFrames(8, seed=1, context=variant == "fusion"), 8, False, workers=0)
    before = {k: v.clone() for k, v in model.state_dict().items() if "loss_weighting" in k}
    config = train.TrainConfig(epochs=2, progress=False, verbose=False, lr=1e-2, monitor="val_loss_sum")
    fitted = train.fit(model, task, loader, val, config, tmp_path / "ckpt")
    history = fitted.history
    for column in ("train_emotion_accuracy", "val_authenticity_accuracy", "val_combined_accuracy",
                   "train_loss_emotion", "val_loss_authenticity", "train_weight_emotion", "val_loss_sum"):
        assert column in history.columns
    assert (history["train_combined_accuracy"] == history["train_accuracy"]).all(), "12-class argmax = both heads"
    if weighting == "precision":  # weights after epoch 1 = precision measured on epoch 1's training predictions
        assert history["train_weight_emotion"].iloc[0] < 1.0
    if weighting == "uncertainty":
        assert not torch.equal(before["loss_weighting.log_variance"], fitted.model.loss_weighting.log_variance)
    if variant == "cascade":
        assert "val_authenticity_oracle_accuracy" in history.columns
    outputs = train.predict(fitted.model, task, val)
    assert outputs["probs"].shape == (8, 12)
    np.testing.assert_allclose(outputs["probs"].sum(axis=1), 1.0, rtol=1e-5)


# ---------------------------------------------------------------- face + context dataset, one fold on disk


def fake_fold(tmp_path, n_subjects=4, frames=3, size=24):
    crops = tmp_path / "crops"
    rows = []
    rng = np.random.default_rng(0)
    for s in range(n_subjects):
        for video in labels.VIDEO_CODES:
            for kind in ("face", "context"):
                path = crops / str(s) / f"{video.code}.{kind}.npy"
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, rng.integers(0, 255, (frames, size, size, 3), dtype=np.uint8))
            rows.append({"subject": str(s), "code": video.code, "label": video.label})
    table = pd.DataFrame(rows)
    parts = [datasets.attach_crop_paths(table[table["subject"].isin(group)], crops)
             for group in (["0", "1"], ["2"], ["3"])]
    return crops, train.FoldData(0, *parts)


def test_face_context_dataset_returns_both_crops_of_the_same_frame(tmp_path):
    crops, fold = fake_fold(tmp_path)
    videos = multitask.attach_context_paths(fold.test, crops)
    dataset = multitask.FaceContextDataset(videos, frames_per_video=2)
    item = dataset[1]
    assert item["image"].shape == item["context"].shape == (3, 24, 24)
    context = np.load(videos.loc[item["video"], multitask.CONTEXT_PATH_COLUMN])[item["frame"]]
    assert torch.equal(item["context"], torch.from_numpy(context.transpose(2, 0, 1).copy()))
    with pytest.raises(ValueError, match="context_path"):
        multitask.FaceContextDataset(fold.test)


@pytest.mark.parametrize("variant", ["shared", "fusion", "cascade"])
def test_run_fold_writes_artifacts_like_single_task(tmp_path, variant):
    crops, fold = fake_fold(tmp_path)
    config = multitask.MultiTaskConfig(
        variant=variant, model="simple_cnn", weights=None, image_size=32, frames_per_video=2, batch_size=16,
        loss="multilabel_focal" if variant == "fusion" else "cross_entropy", weighting="precision", workers=0,
        normalization="imagenet", fusion="attention", hidden=16,
        train=train.TrainConfig(epochs=1, progress=False, verbose=False, scheduler="none"))
    if variant == "fusion":
        fold = train.FoldData(0, *(multitask.attach_context_paths(t, crops) for t in (fold.train, fold.val, fold.test)))
    paths = profiles.paths_for("smoke", tmp_path / "work", tmp_path / "results")
    metrics = multitask.run_fold(config, fold, paths)
    folder = results.run_dir(paths.results, "multitask", config.run_name, 0)
    run = results.load_run(folder)
    assert config.run_name.startswith("fusion_attention-" if variant == "fusion" else variant)
    assert list(run.predictions.columns[-12:]) == evaluate.prob_columns(12), "12-class probabilities, as 03's"
    assert {"label", "emotion", "authenticity", "multitask"} <= set(metrics)
    assert metrics["multitask"]["combined_frame_accuracy"] == pytest.approx(metrics["label"]["frame"]["accuracy"])
    table = multitask.multitask_fold_table([run])
    assert table.loc[0, "variant"] == variant and table.loc[0, "weighting"] == "precision"
    assert table.loc[0, "mt_emotion_video_accuracy"] == pytest.approx(table.loc[0, "emotion_video_accuracy"])
    if variant == "cascade":
        assert "authenticity_oracle_video_accuracy" in metrics["multitask"]
    assert not (paths.checkpoints / "multitask").exists() or not any((paths.checkpoints / "multitask").rglob("*.pt"))


def test_a_killed_precision_weighted_run_resumes_with_its_loss_weights(tmp_path):
    def make():
        torch.manual_seed(0)
        model = multitask.build_shared_model("simple_cnn", weights=None, image_size=32)
        weights = multitask.attach_weighting(model, multitask.build_weighting("precision")).loss_weighting
        task = multitask.MultiTaskTask({h: losses.build_loss("cross_entropy") for h in multitask.HEADS}, weights,
                                       datasets.BatchTransform([0.5] * 3, [0.25] * 3, 32))
        return model, task, datasets.make_loader(TinyFrames(16), 8, True, workers=0)

    config = train.TrainConfig(epochs=3, progress=False, verbose=False, lr=1e-2, restore_best=False)
    model, task, loader = make()
    reference = train.fit(model, task, loader, None, config, tmp_path / "reference")

    def stop_after_epoch_2(epoch, record):
        if epoch == 2:
            raise KeyboardInterrupt

    model, task, loader = make()
    with pytest.raises(KeyboardInterrupt):
        train.fit(model, task, loader, None, config, tmp_path / "killed", callbacks=[stop_after_epoch_2])
    model, task, loader = make()
    resumed = train.fit(model, task, loader, None, config, tmp_path / "killed")
    assert resumed.resumed_from == 2
    pd.testing.assert_series_equal(resumed.history["train_weight_emotion"], reference.history["train_weight_emotion"])
    for key, value in reference.model.state_dict().items():
        assert torch.allclose(value.float(), resumed.model.state_dict()[key].float(), atol=1e-6), key
