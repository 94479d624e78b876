"""Multi-task learning: combined losses (hand-computed values), heads, a single backbone pass, the fusion and
cascade models, the face+context dataset, and one tiny fold of each variant written as artifacts."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import approaches, labels, models, profiles, results, train
from helpers.metrics import evaluate
from helpers.approaches import multitask
from helpers.models import losses
from helpers.models import weighting as weightings


def count_backbone_calls(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


# ---------------------------------------------------------------- combining heads into 12 classes


def test_combined_probabilities_are_the_product_in_class_order():
    p_emotion = torch.tensor([[0.5, 0.2, 0.1, 0.1, 0.05, 0.05]])
    p_authenticity = torch.tensor([[0.3, 0.7]])  # posed, genuine
    joint = train.combine_probabilities(p_emotion, p_authenticity)
    assert joint.shape == (1, 12)
    assert joint.sum().item() == pytest.approx(1.0)
    assert joint[0, labels.class_index("happy", True)].item() == pytest.approx(0.35)  # N2H
    assert joint[0, labels.class_index("happy", False)].item() == pytest.approx(0.15)  # S2N2H
    assert joint[0, labels.class_index("sad", False)].item() == pytest.approx(0.06)
    # marginalising the 12 classes (what helpers.evaluate does) gives the heads back
    np.testing.assert_allclose(evaluate.collapse(joint.numpy(), "emotion"), p_emotion.numpy(), rtol=1e-6)
    np.testing.assert_allclose(evaluate.collapse(joint.numpy(), "authenticity"), p_authenticity.numpy(), rtol=1e-6)
    assert train.pair_to_class(np.array([0, 5]), np.array([1, 0])).tolist() == [
        labels.CODES.index("N2H"), labels.CODES.index("D2N2Sur")]


# ---------------------------------------------------------------- combined losses


def head_losses(e=2.0, a=0.5):
    return {"emotion": torch.tensor(e), "authenticity": torch.tensor(a)}


def test_sum_and_fixed_weighting():
    assert weightings.build_weighting("sum")(head_losses()).item() == pytest.approx(2.5)
    fixed = weightings.build_weighting("fixed", weights={"emotion": 0.25, "authenticity": 4.0})
    assert fixed(head_losses()).item() == pytest.approx(0.25 * 2.0 + 4.0 * 0.5)
    assert fixed.weights() == {"emotion": 0.25, "authenticity": 4.0}
    with pytest.raises(ValueError, match="unknown heads"):
        weightings.build_weighting("fixed", weights={"valence": 1.0})
    with pytest.raises(ValueError, match="unknown loss weighting"):
        weightings.build_weighting("gradnorm")


def test_precision_weighting_uses_the_previous_epochs_precision():
    weighting = weightings.build_weighting("precision")
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
    weighting = weightings.build_weighting("uncertainty")
    with torch.no_grad():
        weighting.log_variance.copy_(torch.tensor([0.5, -1.0]))
    total = weighting(head_losses())
    assert total.item() == pytest.approx(math.exp(-0.5) * 2.0 + 0.5 + math.exp(1.0) * 0.5 - 1.0)
    total.backward()
    # d/ds [exp(-s) L + s] = 1 - exp(-s) L
    expected = [1 - math.exp(-0.5) * 2.0, 1 - math.exp(1.0) * 0.5]
    assert weighting.log_variance.grad.tolist() == pytest.approx(expected)


def test_the_optimizer_sees_the_learned_log_variances():
    model = models.build_shared_model("simple_cnn", weights=None, image_size=32)
    weighting = weightings.build_weighting("uncertainty")
    assert weightings.attach_weighting(model, weighting) is model
    optimizer = train.build_optimizer(model, train.TrainConfig(backbone_lr=1e-5))
    optimised = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert id(weighting.log_variance) in optimised
    assert "loss_weighting.log_variance" in model.state_dict()


# ---------------------------------------------------------------- models: one backbone pass


def test_shared_model_runs_its_backbone_once():
    model = models.build_shared_model("simple_cnn", weights=None, image_size=32)
    calls = count_backbone_calls(model.backbone)
    out = model(torch.randn(3, 3, 32, 32))
    assert calls[0] == 1
    assert out["emotion"].shape == (3, 6) and out["authenticity"].shape == (3, 2)


@pytest.mark.parametrize("fusion", ["concat", "attention"])
def test_fusion_model_runs_each_stream_once(fusion):
    model = models.build_fusion_model("simple_cnn", weights=None, image_size=32, fusion=fusion, hidden=16)
    face_calls, context_calls = count_backbone_calls(model.backbone["face"]), count_backbone_calls(
        model.backbone["context"])
    out = model(torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32))
    assert (face_calls[0], context_calls[0]) == (1, 1)
    assert out["emotion"].shape == (2, 6) and out["authenticity"].shape == (2, 2)
    if fusion == "attention":
        assert torch.allclose(model.stream_weights.sum(dim=1), torch.ones(2))
    with pytest.raises(ValueError, match="unknown fusion"):
        models.build_fusion_model("simple_cnn", weights=None, image_size=32, fusion="sum")


def test_cascade_teacher_forcing_and_end_to_end():
    torch.manual_seed(0)
    model = models.build_cascade_model("simple_cnn", weights=None, image_size=32).eval()
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


def test_cascade_with_an_emotion_embedding():
    torch.manual_seed(0)
    model = models.build_cascade_model("simple_cnn", weights=None, image_size=32, conditioning="embedding",
                                          embedding_dim=8, hidden=16).eval()
    assert not any(isinstance(m, torch.nn.Linear) and m.out_features == 12 for m in model.modules()), \
        "one shared real/fake MLP, not 6 heads"
    calls = count_backbone_calls(model.backbone)
    images = torch.randn(4, 3, 32, 32)
    sad, happy = model(images, torch.full((4,), 4)), model(images, torch.full((4,), 1))
    assert calls[0] == 2, "one backbone pass per forward pass"
    assert sad["emotion"].shape == (4, 6) and sad["authenticity"].shape == (4, 2)
    assert sad["authenticity_per_emotion"].shape == (4, 6, 2)
    assert torch.equal(sad["emotion"], happy["emotion"])
    assert not torch.allclose(sad["authenticity"], happy["authenticity"]), "the emotion input changes stage 2"
    assert torch.allclose(sad["authenticity"], sad["authenticity_per_emotion"][:, 4])
    free = model(images)
    predicted = free["emotion"].argmax(dim=1)
    assert torch.equal(free["authenticity"], free["authenticity_per_emotion"][torch.arange(4), predicted])
    with pytest.raises(ValueError, match="unknown conditioning"):
        models.build_cascade_model("simple_cnn", weights=None, image_size=32, conditioning="film")


def test_a_training_step_updates_the_emotion_embedding():
    torch.manual_seed(0)
    model = models.build_cascade_model("simple_cnn", weights=None, image_size=32, conditioning="embedding")
    weighting = weightings.attach_weighting(model, weightings.build_weighting("sum")).loss_weighting
    task = train.MultiTaskTask({h: losses.build_loss("cross_entropy") for h in models.TWO_TASK_HEADS}, weighting,
                                   train.BatchTransform([0.5] * 3, [0.25] * 3, 32), "cascade")
    batch = next(iter(train.make_loader(TinyFrames(8), 8, False, workers=0)))
    before = model.emotion_embedding.weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    result = task.step(model.train(), batch, training=True)
    result.loss.backward()
    optimizer.step()
    assert torch.isfinite(result.loss)
    # teacher forcing: only the true emotions' embedding rows receive a gradient
    seen = set(batch["emotion"].tolist())
    assert len(seen) < 6, "the batch must leave an emotion out for this check to mean anything"
    changed = (model.emotion_embedding.weight.detach() != before).any(dim=1)
    assert changed.tolist() == [e in seen for e in range(6)]
    assert result.outputs["probs_authenticity_oracle"].shape == (8, 2)


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
                                               ("fusion", "sum"), ("cascade", "fixed"), ("cascade", "sum")])
def test_fit_trains_every_variant(tmp_path, variant, weighting):
    torch.manual_seed(0)
    build = {"shared": models.build_shared_model, "fusion": models.build_fusion_model,
             "cascade": models.build_cascade_model}[variant]
    options = {"conditioning": "embedding"} if (variant, weighting) == ("cascade", "sum") else {}
    model = build("simple_cnn", weights=None, image_size=32, **options)
    loss = "multilabel_focal" if variant == "fusion" else "cross_entropy"
    weights = weightings.build_weighting(weighting)
    weightings.attach_weighting(model, weights)
    task = train.MultiTaskTask({h: losses.build_loss(loss) for h in models.TWO_TASK_HEADS}, weights,
                                   train.BatchTransform([0.5] * 3, [0.25] * 3, 32), variant)
    loader = train.make_loader(TinyFrames(context=variant == "fusion"), 8, True, workers=0)
    val = train.make_loader(TinyFrames(8, seed=1, context=variant == "fusion"), 8, False, workers=0)
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
    parts = [train.attach_crop_paths(table[table["subject"].isin(group)], crops)
             for group in (["0", "1"], ["2"], ["3"])]
    return crops, train.FoldData(0, *parts)


def test_face_context_dataset_returns_both_crops_of_the_same_frame(tmp_path):
    crops, fold = fake_fold(tmp_path)
    videos = train.attach_context_paths(fold.test, crops)
    dataset = train.FaceContextDataset(videos, frames_per_video=2)
    item = dataset[1]
    assert item["image"].shape == item["context"].shape == (3, 24, 24)
    context = np.load(videos.loc[item["video"], train.CONTEXT_PATH_COLUMN])[item["frame"]]
    assert torch.equal(item["context"], torch.from_numpy(context.transpose(2, 0, 1).copy()))
    with pytest.raises(ValueError, match="context_path"):
        train.FaceContextDataset(fold.test)


@pytest.mark.parametrize("variant,conditioning", [("shared", "heads"), ("fusion", "heads"), ("cascade", "heads"),
                                                  ("cascade", "embedding")])
def test_run_fold_writes_artifacts_like_single_task(tmp_path, variant, conditioning):
    crops, fold = fake_fold(tmp_path)
    config = approaches.MultiTaskConfig(
        variant=variant, conditioning=conditioning, model="simple_cnn", weights=None, image_size=32,
        frames_per_video=2, batch_size=16,
        loss="multilabel_focal" if variant == "fusion" else "cross_entropy", weighting="precision", workers=0,
        normalization="imagenet", fusion="attention", hidden=16,
        train=train.TrainConfig(epochs=1, progress=False, verbose=False, scheduler="none"))
    if variant == "fusion":
        fold = train.FoldData(0, *(train.attach_context_paths(t, crops) for t in (fold.train, fold.val, fold.test)))
    paths = profiles.paths_for("smoke", tmp_path / "work", tmp_path / "results")
    metrics = train.run_fold(config, fold, paths)
    folder = results.run_dir(paths.results, "multitask", config.run_id, 0)
    run = results.load_run(folder)
    prefix = {"fusion": "fusion_attention-", "cascade": "cascade_embedding-" if conditioning == "embedding" else "cascade-"}
    assert config.run_name.startswith(prefix.get(variant, variant))
    assert list(run.predictions.columns[-12:]) == evaluate.prob_columns(12), "12-class probabilities, as 03's"
    assert {"label", "emotion", "authenticity", "multitask"} <= set(metrics)
    assert metrics["multitask"]["combined_frame_accuracy"] == pytest.approx(metrics["label"]["frame"]["accuracy"])
    # "both right" means one thing at every level: the 12-class prediction is right
    assert metrics["multitask"]["combined_video_accuracy"] == pytest.approx(metrics["label"]["video"]["accuracy"])
    table = multitask.multitask_fold_table([run])
    assert table.loc[0, "variant"] == variant and table.loc[0, "weighting"] == "precision"
    assert table.loc[0, "mt_emotion_video_accuracy"] == pytest.approx(table.loc[0, "emotion_video_accuracy"])
    if variant == "cascade":
        assert "authenticity_oracle_video_accuracy" in metrics["multitask"]
    assert (folder / multitask.ATTENTION_FILE).exists() == (variant == "fusion")
    if variant == "fusion":  # one row of weights per test frame, next to the predictions
        attention = multitask.load_attention_weights([run])
        assert len(attention) == len(run.predictions)
        np.testing.assert_allclose(attention["face_weight"] + attention["context_weight"], 1.0, atol=2e-5)
        assert metrics["multitask"]["face_attention_mean"] == pytest.approx(attention["face_weight"].mean(), abs=1e-4)
        assert "train_face_attention" in run.history.columns
    assert not (paths.checkpoints / "multitask").exists() or not any((paths.checkpoints / "multitask").rglob("*.pt"))
    # save_weights means what it means in 03: the default keeps the fold's weights, and they load back
    weights = train.model_weights_path(paths, "multitask", config.run_id, 0)
    rebuilt = config.build_model(untrained=True)
    rebuilt.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))


def test_save_weights_none_keeps_no_multitask_weights(tmp_path):
    crops, fold = fake_fold(tmp_path)
    config = approaches.MultiTaskConfig(
        model="simple_cnn", weights=None, image_size=32, frames_per_video=2, batch_size=16, workers=0,
        normalization="imagenet", save_weights="none",
        train=train.TrainConfig(epochs=1, progress=False, verbose=False, scheduler="none"))
    paths = profiles.paths_for("smoke", tmp_path / "work", tmp_path / "results")
    train.run_fold(config, fold, paths)
    assert results.is_complete(results.run_dir(paths.results, "multitask", config.run_id, 0))
    assert not train.model_weights_path(paths, "multitask", config.run_id, 0).exists()


@pytest.mark.slow
def test_a_killed_precision_weighted_run_resumes_with_its_loss_weights(tmp_path):
    def make():
        torch.manual_seed(0)
        model = models.build_shared_model("simple_cnn", weights=None, image_size=32)
        weights = weightings.attach_weighting(model, weightings.build_weighting("precision")).loss_weighting
        task = train.MultiTaskTask({h: losses.build_loss("cross_entropy") for h in models.TWO_TASK_HEADS}, weights,
                                       train.BatchTransform([0.5] * 3, [0.25] * 3, 32))
        return model, task, train.make_loader(TinyFrames(16), 8, True, workers=0)

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


# ---------------------------------------------------------------- attention fusion: the weights per frame


def test_fusion_attention_weights_follow_the_model(tmp_path):
    from helpers import plots

    torch.manual_seed(0)
    crops, fold = fake_fold(tmp_path)
    videos = train.attach_context_paths(fold.test, crops)
    loader = train.make_loader(train.FaceContextDataset(videos, frames_per_video=2), 8, False, workers=0)
    model = models.build_fusion_model("simple_cnn", weights=None, image_size=24, fusion="attention", hidden=8)
    preprocess = train.BatchTransform([0.5] * 3, [0.25] * 3, 24)
    table = multitask.fusion_attention_weights(model, loader, preprocess)
    assert len(table) == len(videos) * 2 and set(table["authenticity"]) == {"posed", "genuine"}
    np.testing.assert_allclose(table["face_weight"] + table["context_weight"], 1.0, atol=2e-5)
    with torch.no_grad():  # a scorer that favours the face stream must show up in the table
        model.project["face"].bias.fill_(5.0)
        model.project["context"].bias.fill_(-5.0)
        model.score[1].weight.fill_(1.0)
    favoured = multitask.fusion_attention_weights(model, loader, preprocess)
    assert (favoured["face_weight"] > 0.99).all()
    fig = plots.fusion_attention(favoured.assign(run="r", fold=0))
    assert len(fig.axes) == 2 and fig.axes[0].get_xlabel().startswith("face weight")
    with pytest.raises(ValueError, match="attention"):
        multitask.fusion_attention_weights(models.build_fusion_model("simple_cnn", weights=None, image_size=24),
                                           loader, preprocess)


# ---------------------------------------------------------------- python -m helpers.train --config <file>.json


def test_command_line_runs_the_smoke_experiment_file(tmp_path, monkeypatch, capsys):
    from pathlib import Path
    from types import SimpleNamespace

    crops, fold = fake_fold(tmp_path, n_subjects=3)
    index = pd.concat([fold.train, fold.val, fold.test], ignore_index=True)[["subject", "code", "label"]]
    dataset = SimpleNamespace(index=index, splits=pd.DataFrame({"subject": ["0", "1", "2"], "fold": [0, 1, 2]}),
                              readable=index)
    shipped = Path(__file__).resolve().parents[1] / "experiments" / "smoke_multitask_precision.json"
    values = {**json.loads(shipped.read_text()), "work_dir": str(tmp_path / "work"),
              "results_dir": str(tmp_path / "results"), "normalization": "imagenet"}
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(values))
    from helpers.train import __main__ as command_line

    original = train.run_experiment
    seen = []

    def on_fake_data(config, force=False):
        seen.append(config)
        return original(config, dataset, crops, force)

    monkeypatch.setattr(train, "run_experiment", on_fake_data)
    command_line.main(["--config", str(path)])  # the one command line of every approach
    config = seen[0]
    assert isinstance(config, approaches.MultiTaskConfig) and config.weighting == "precision"
    assert config.run_name in capsys.readouterr().out
    folder = tmp_path / "results" / "smoke" / "multitask" / config.run_id
    assert (folder / "folds.csv").exists() and results.is_complete(folder / "fold_0")
    with pytest.raises(SystemExit):
        command_line.main([])


@pytest.mark.parametrize("pretrained, setting, expected", [
    (True, "auto", 1e-4 * train.PRETRAINED_BACKBONE_SCALE), (False, "auto", 1e-4), (True, None, 1e-4), (True, 3e-5, 3e-5)])
def test_the_backbones_rate_follows_its_weights_under_auto(pretrained, setting, expected):
    """``backbone_lr: auto`` (the full grids): pretrained weights are adjusted at a tenth of the heads' rate,
    a backbone trained from scratch learns at the heads' rate; a number or null is taken as given."""
    model = models.build_shared_model("simple_cnn", weights=None, image_size=32)
    model.backbone.pretrained = pretrained  # as a backbone built with weights says
    optimizer = train.build_optimizer(model, train.TrainConfig(lr=1e-4, backbone_lr=setting))
    backbone = {id(p) for p in model.backbone.parameters()}
    rates = [group["lr"] for group in optimizer.param_groups if id(group["params"][0]) in backbone]
    heads = [group["lr"] for group in optimizer.param_groups if id(group["params"][0]) not in backbone]
    assert rates == [pytest.approx(expected)] and heads == [1e-4]
    assert train.backbone_rate(model, train.TrainConfig(lr=1e-4, backbone_lr=setting)) == pytest.approx(expected)


def test_a_backbone_rate_that_is_neither_a_number_nor_auto_is_refused():
    with pytest.raises(ValueError, match="train.backbone_lr.*'fast'"):
        train.TrainConfig(backbone_lr="fast")
    assert train.TrainConfig(backbone_lr="1e-5").backbone_lr == 1e-5  # YAML's string of a number


def test_each_fold_records_the_rate_its_backbone_trained_at():
    from helpers import approaches

    config = approaches.SingleTaskConfig(model="simple_cnn", train={"lr": 1e-3, "backbone_lr": "auto"})
    model = models.build_shared_model("simple_cnn", weights=None, image_size=32)
    assert config.backbone_lr_used(model) == pytest.approx(1e-3)  # from scratch: the heads' rate
    model.freeze_backbone()
    assert config.backbone_lr_used(model) is None, "a frozen backbone trains at no rate"
