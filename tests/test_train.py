"""The training loop on tiny in-memory data: it learns, checkpoints, resumes to the same weights, stops early,
follows its schedules; and experiment configs load."""

import json
import os
import time

import pandas as pd
import pytest
import torch

from helpers import approaches, models, train
from helpers.models import losses


class ColourDataset(torch.utils.data.Dataset):
    """Tiny uint8 images whose class is their dominant colour channel (plus noise): learnable in a few steps."""

    def __init__(self, n: int = 48, size: int = 16, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, 3, (n,), generator=generator)
        noise = torch.randint(0, 60, (n, 3, size, size), generator=generator)
        base = torch.full((n, 3, size, size), 40)
        base[torch.arange(n), self.labels] = 180
        self.images = (base + noise).to(torch.uint8)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"image": self.images[i], "label": int(self.labels[i]), "video": i, "frame": 0}


def make_run(seed=0, augment=False, dropout=0.0):
    torch.manual_seed(seed)
    model = models.build_model("simple_cnn", heads=12, weights=None, dropout=dropout)
    preprocess = train.BatchTransform([0.5] * 3, [0.25] * 3, image_size=16, augment=augment)
    task = train.ClassificationTask(losses.build_loss("cross_entropy"), "label", preprocess)
    train_loader = train.make_loader(ColourDataset(48, seed=1), batch_size=8, train=True, seed=seed, workers=0)
    val_loader = train.make_loader(ColourDataset(16, seed=2), batch_size=16, train=False, workers=0)
    return model, task, train_loader, val_loader


def quiet(**overrides):
    return train.TrainConfig(**{"progress": False, "verbose": False, "lr": 3e-3, **overrides})


def test_fit_learns_and_writes_history_and_checkpoints(tmp_path):
    model, task, train_loader, val_loader = make_run()
    result = train.fit(model, task, train_loader, val_loader, quiet(epochs=4), tmp_path)
    history = result.history
    assert list(history["epoch"]) == [1, 2, 3, 4]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"} <= set(history.columns)
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert history["val_accuracy"].max() > 0.6, "three colour classes are easy"
    assert (tmp_path / "last.pt").exists() and (tmp_path / "history.csv").exists() and (tmp_path / "best.pt").exists()
    checkpoint = train.load_checkpoint(tmp_path / "last.pt")  # weights_only=True: plain tensors and values
    assert checkpoint["epoch"] == 4 and checkpoint["loop"]["best_epoch"] == result.best_epoch
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files left behind"


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_weights(tmp_path):
    config = quiet(epochs=4, scheduler="plateau", plateau_patience=0, restore_best=False)
    model, task, train_loader, val_loader = make_run(augment=True, dropout=0.3)
    reference = train.fit(model, task, train_loader, val_loader, config, tmp_path / "reference")

    class Killed(Exception):
        pass

    def kill_after_epoch_2(epoch, record):
        if epoch == 2:
            raise Killed

    model, task, train_loader, val_loader = make_run(augment=True, dropout=0.3)
    with pytest.raises(Killed):
        train.fit(model, task, train_loader, val_loader, config, tmp_path / "killed", callbacks=[kill_after_epoch_2])
    assert train.load_checkpoint(tmp_path / "killed" / "last.pt")["epoch"] == 2

    model, task, train_loader, val_loader = make_run(seed=0, augment=True, dropout=0.3)
    resumed = train.fit(model, task, train_loader, val_loader, config, tmp_path / "killed")
    assert resumed.resumed_from == 2
    expected, actual = reference.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(expected[k], actual[k]) for k in expected), "resumed weights differ"
    assert resumed.history.drop(columns="seconds").equals(reference.history.drop(columns="seconds"))


def test_a_checkpoint_of_another_model_is_refused_with_the_file_and_the_way_out(tmp_path):
    model, task, train_loader, val_loader = make_run()
    train.fit(model, task, train_loader, val_loader, quiet(epochs=1), tmp_path)
    _, task, train_loader, val_loader = make_run()
    other = models.build_model("simple_cnn", heads=2, weights=None)  # another head: layers differ
    with pytest.raises(train.CheckpointMismatchError) as caught:
        train.fit(other, task, train_loader, val_loader, quiet(epochs=2), tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "last.pt") in message and f"delete {tmp_path}" in message
    assert (tmp_path / "last.pt").exists(), "the checkpoint is left for the user to decide"


def test_a_finished_run_is_not_trained_again(tmp_path):
    model, task, train_loader, val_loader = make_run()
    train.fit(model, task, train_loader, val_loader, quiet(epochs=2), tmp_path)
    model, task, train_loader, val_loader = make_run()
    calls = []
    again = train.fit(model, task, train_loader, val_loader, quiet(epochs=2), tmp_path,
                      callbacks=[lambda *args: calls.append(args)])
    assert again.resumed_from == 2 and not calls and len(again.history) == 2


def test_early_stopping_without_improvement(tmp_path):
    model, task, train_loader, val_loader = make_run()
    result = train.fit(model, task, train_loader, val_loader,
                       quiet(epochs=10, lr=0.0, early_stopping_patience=2, scheduler="none"), tmp_path)
    # lr 0: epoch 1 sets the best val_loss, epochs 2 and 3 do not improve it, then it stops
    assert result.stopped_early and len(result.history) == 3 and result.best_epoch == 1


def test_cosine_schedule_and_training_without_validation():
    model, task, train_loader, _ = make_run()
    result = train.fit(model, task, train_loader, None, quiet(epochs=3, scheduler="cosine", lr=1e-2, min_lr=0.0))
    lrs = result.history["lr"].tolist()
    assert lrs[0] == pytest.approx(1e-2) and lrs[0] > lrs[1] > lrs[2]
    assert "val_loss" not in result.history and result.best_epoch is not None  # monitored train_loss instead


def test_gradient_clipping_and_frozen_backbone(tmp_path):
    model, task, train_loader, val_loader = make_run()
    model.freeze_backbone(True)
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    result = train.fit(model, task, train_loader, val_loader, quiet(epochs=1, grad_clip_norm=0.01))
    after = result.model.backbone.state_dict()
    assert all(torch.equal(backbone_before[k], after[k]) for k in after)


def test_predict_gathers_every_sample_once():
    model, task, _, val_loader = make_run()
    outputs = train.predict(model, task, val_loader)
    assert outputs["probs"].shape == (16, 12) and sorted(outputs["video"].tolist()) == list(range(16))
    assert outputs["probs"].sum(axis=1) == pytest.approx(1.0, abs=1e-5)


def test_mixed_precision_is_off_on_cpu():
    if not torch.cuda.is_available():
        assert train.resolve_mixed_precision("auto") == "no"
    assert train.resolve_mixed_precision("bf16") == "bf16"


def test_experiment_config_from_json_and_yaml(tmp_path):
    values = {"model": "resnet18", "loss": "mfl", "folds": [0], "train": {"epochs": 3, "scheduler": "cosine"}}
    (tmp_path / "exp.json").write_text(json.dumps(values))
    (tmp_path / "exp.yaml").write_text("model: resnet18\nloss: mfl\nfolds: [0]\ntrain:\n  epochs: 3\n  scheduler: cosine\n")
    for name in ("exp.json", "exp.yaml"):
        config = approaches.load_config(tmp_path / name)
        assert config.model == "resnet18" and config.train.epochs == 3 and config.train.scheduler == "cosine"
        assert config.run_name == "resnet18-multilabel_focal"
    with pytest.raises(ValueError, match="epoch"):
        approaches.SingleTaskConfig.from_dict({"train": {"epoch": 3}})
    assert approaches.SingleTaskConfig.from_dict(approaches.SingleTaskConfig().to_dict()) == approaches.SingleTaskConfig()


def test_validation_subjects_are_reproducible_and_never_all():
    subjects = [f"s{i}" for i in range(10)]
    chosen = train.validation_subjects(subjects, 0.2, seed=1)
    assert len(chosen) == 2 and chosen == train.validation_subjects(subjects, 0.2, seed=1)
    assert train.validation_subjects(["a", "b"], 0.9) in (["a"], ["b"])
    assert train.validation_subjects(subjects, 0.0) == []


def fake_crops(root, subjects=("s1", "s2", "s3", "s4"), n_frames=6, size=32):
    """Packed crops in helpers.frames' layout whose colour depends on the emotion, and the matching index."""
    from types import SimpleNamespace

    import numpy as np
    import pandas as pd

    from helpers import frames, labels

    rows = []
    for subject in subjects:
        for video in labels.VIDEO_CODES:
            array = np.full((n_frames, size, size, 3), 30 * video.emotion_index, dtype=np.uint8)
            array[:, : size // 2] += np.uint8(40 * video.genuine)
            frames.save_array(frames.video_files(root, subject, video.code)["face"], array)
            rows.append({"subject": subject, "code": video.code, "label": video.label, "readable": True})
    index = pd.DataFrame(rows)
    splits = pd.DataFrame({"subject": list(subjects), "fold": [i % 2 for i in range(len(subjects))]})
    return SimpleNamespace(index=index, splits=splits, readable=index)


def test_run_experiment_writes_artifacts_and_does_not_retrain(tmp_path, monkeypatch):
    from helpers import results
    from helpers.metrics import evaluate
    from helpers.train import runner

    dataset = fake_crops(tmp_path / "crops")
    config = approaches.SingleTaskConfig(
        profile="smoke", model="simple_cnn", loss="focal", weights=None, image_size=32, normalization="imagenet", frames_per_video=2,
        eval_frames_per_video=3, batch_size=8, workers=0, work_dir=str(tmp_path / "work"),
        results_dir=str(tmp_path / "results"), train=quiet(epochs=1))
    table = train.run_experiment(config, dataset, crops_dir=tmp_path / "crops")
    assert sorted(table["fold"]) == [0, 1] and (table["run"] == "simple_cnn-focal").all()
    folder = results.run_dir(tmp_path / "results" / "smoke", "single_task", config.run_id, 1)
    run = results.load_run(folder)
    assert len(run.predictions) == 2 * 12 * 3  # 2 test subjects x 12 videos x 3 frames
    assert set(run.predictions["subject"]) == set(run.metrics["subjects"]["test"])
    assert not set(run.metrics["subjects"]["test"]) & set(run.metrics["subjects"]["train"] + run.metrics["subjects"]["val"])
    assert run.config["loss"] == "focal" and run.config["fold"] == 1 and run.env["dataset_fingerprint"]
    assert run.env["mixed_precision"] == "no" and run.env["device"]["cuda"] is False  # a CPU: full precision
    assert not (tmp_path / "work" / "smoke" / "checkpoints" / "single_task" / config.run_id / "fold_1").exists()
    assert_saved_weights_reproduce_the_predictions(tmp_path, run)

    def must_not_train(*args, **kwargs):
        raise AssertionError("retrained although results exist")

    monkeypatch.setattr(runner, "run_fold", must_not_train)
    again = train.run_experiment(config, dataset, crops_dir=tmp_path / "crops")
    assert again.equals(table)
    summary = evaluate.aggregate_folds(again)
    assert summary.loc[0, "folds"] == 2 and "±" in summary.loc[0, "video_accuracy"]


def test_command_line_runs_an_experiment_file(tmp_path, capsys):
    dataset = fake_crops(tmp_path / "crops", subjects=("a", "b", "c"))
    config = {"profile": "smoke", "model": "simple_cnn", "weights": None, "image_size": 32, "normalization": "imagenet", "frames_per_video": 1,
              "eval_frames_per_video": 1, "batch_size": 12, "workers": 0, "folds": [0], "val_fraction": 0,
              "results_dir": str(tmp_path / "results"), "work_dir": str(tmp_path / "work"),
              "train": {"epochs": 1, "progress": False, "verbose": False}}
    path = tmp_path / "exp.json"
    path.write_text(json.dumps(config))
    from helpers.train import __main__ as command_line

    original = train.run_experiment
    train.run_experiment = lambda cfg, force=False: original(cfg, dataset, tmp_path / "crops", force)
    try:
        command_line.main(["--config", str(path)])
    finally:
        train.run_experiment = original
    assert "simple_cnn-cross_entropy" in capsys.readouterr().out
    run_id = approaches.load_config(path).run_id
    assert run_id.startswith("simple_cnn-cross_entropy-")
    assert (tmp_path / "results" / "smoke" / "single_task" / run_id / "folds.csv").exists()


def test_the_crops_of_notebook_02_are_found(tmp_path):
    from helpers import frames, results

    assert train.latest_extraction(tmp_path) is None
    older, newer = frames.ExtractionConfig(size=64), frames.ExtractionConfig(size=96)
    for age, settings in ((100, older), (0, newer)):
        folder = frames.extraction_dir(tmp_path, settings)
        results.write_json(folder / frames.CONFIG_FILE, {"config": settings.to_dict()})
        (folder / frames.VIDEOS_FILE).write_text("subject,code\n")
        os.utime(folder / frames.VIDEOS_FILE, (time.time() - age, time.time() - age))
    assert train.latest_extraction(tmp_path) == newer
    config = approaches.SingleTaskConfig()
    assert train.extraction_config(config, tmp_path) == newer
    assert train.extraction_config(approaches.SingleTaskConfig(extraction={"size": 80}), tmp_path).size == 80
    assert train.extraction_config(config, tmp_path / "none") == frames.ExtractionConfig()


def assert_saved_weights_reproduce_the_predictions(tmp_path, run) -> None:
    """The kept fold weights, rebuilt from config.json by helpers.inference, give the saved test predictions."""
    import numpy as np

    from helpers import frames, profiles
    from helpers.analysis import inference
    from helpers.metrics import evaluate

    paths = profiles.paths_for("smoke", tmp_path / "work", tmp_path / "results")
    trained = [t for t in inference.load_trained_models(run.folder.parent, paths) if t.fold == 1]
    subject = run.metrics["subjects"]["test"][0]
    saved = run.predictions[(run.predictions["subject"] == subject) & (run.predictions["code"] == "N2H")]
    crops = frames.load_crops(tmp_path / "crops", subject, "N2H", mmap=False)[saved["frame"].to_numpy()]
    scores = inference.score_crops(crops, trained)
    columns = evaluate.prob_columns(12)
    assert np.allclose(scores[columns].to_numpy(), saved[columns].to_numpy(), atol=1e-4)


def test_results_made_under_other_settings_are_kept_and_never_reused(tmp_path, capsys):
    """Changing a setting that changes the result (here the epochs) trains a new run beside the old one and
    says what differs; changing one that does not (the loader processes) reuses the results."""
    from helpers import results

    dataset = fake_crops(tmp_path / "crops", subjects=("a", "b", "c"))

    def config(**changes):
        values = {"profile": "smoke", "model": "simple_cnn", "weights": None, "image_size": 32,
                  "normalization": "imagenet", "frames_per_video": 1, "eval_frames_per_video": 1, "batch_size": 12,
                  "workers": 0, "folds": [0], "work_dir": str(tmp_path / "work"), "results_dir": str(tmp_path / "results"),
                  "train": {"epochs": 1, "progress": False, "verbose": False}, **changes}
        return approaches.SingleTaskConfig.from_dict(values)

    first = config()
    train.run_experiment(first, dataset, crops_dir=tmp_path / "crops")
    longer = config(train={"epochs": 2, "progress": False, "verbose": False})
    assert longer.run_name == first.run_name and longer.run_id != first.run_id
    capsys.readouterr()
    train.run_experiment(longer, dataset, crops_dir=tmp_path / "crops")
    said = capsys.readouterr().out
    assert "other settings" in said and "train.epochs: 1 / 2" in said and "training" in said
    profile_results = tmp_path / "results" / "smoke"
    for run in (first, longer):  # both kept, each with its own settings
        stored = results.load_run(results.run_dir(profile_results, "single_task", run.run_id, 0))
        assert stored.config["run_id"] == run.run_id and stored.config["identity"]["train"]["epochs"] == run.train.epochs
        assert stored.metrics["epochs_run"] == run.train.epochs
    same = config(workers=1, save_weights="none")  # where and what it keeps, not what it learns
    assert same.run_id == first.run_id
    train.run_experiment(same, dataset, crops_dir=tmp_path / "crops")
    assert "not retraining" in capsys.readouterr().out


class TwoHeadColours(ColourDataset):
    """ColourDataset with the two heads' targets of the multi-task approach."""

    def __getitem__(self, i):
        item = super().__getitem__(i)
        return {**item, "emotion": item["label"], "authenticity": item["label"] % 2}


def test_multi_head_tasks_judge_epochs_by_the_unweighted_sum_of_their_losses(tmp_path):
    from helpers.models import weighting

    model, task, train_loader, val_loader = make_run()
    assert train.fit(model, task, train_loader, val_loader, quiet(epochs=1)).monitor == "val_loss"
    two_heads = models.build_model("simple_cnn", models.TWO_TASK_HEADS, None, image_size=16)
    combination = weighting.attach_weighting(two_heads, weighting.build_weighting("precision")).loss_weighting
    head_losses = {head: losses.build_loss("cross_entropy") for head in models.TWO_TASK_HEADS}
    multi = train.MultiTaskTask(head_losses, combination, train.BatchTransform([0.5] * 3, [0.25] * 3, image_size=16))
    train_loader = train.make_loader(TwoHeadColours(48, seed=1), batch_size=8, train=True, workers=0)
    val_loader = train.make_loader(TwoHeadColours(16, seed=2), batch_size=16, train=False, workers=0)
    fitted = train.fit(two_heads, multi, train_loader, val_loader, quiet(epochs=2))
    assert fitted.monitor == "val_loss_sum"
    assert fitted.best_epoch == int(fitted.history["val_loss_sum"].idxmin()) + 1
    told = train.fit(two_heads, multi, train_loader, val_loader, quiet(epochs=1, monitor="val_accuracy",
                                                                        monitor_mode="max"))
    assert told.monitor == "val_accuracy"


def test_a_fold_normalises_with_its_training_crops_only(tmp_path):
    """The dataset's statistics come from the fold's training crops, not from every subject's frames."""
    import numpy as np

    from helpers import profiles, results

    dataset = fake_crops(tmp_path / "crops", subjects=("a", "b", "c", "d"))
    config = approaches.SingleTaskConfig(
        profile="smoke", model="simple_cnn", weights=None, image_size=32, normalization="dataset",
        frames_per_video=2, eval_frames_per_video=2, batch_size=12, workers=0, folds=[0], val_fraction=0,
        work_dir=str(tmp_path / "work"), results_dir=str(tmp_path / "results"), train=quiet(epochs=1))
    fold = config.fold_data(dataset.index, dataset.splits, 0, tmp_path / "crops")
    for path in fold.test[train.CROP_PATH_COLUMN]:  # test subjects filmed in another light
        np.save(path, np.load(path) // 4 + 180)
    train.run_fold(config, fold, profiles.paths_for("smoke", tmp_path / "work", tmp_path / "results"))
    stored = results.load_run(results.run_dir(tmp_path / "results" / "smoke", "single_task", config.run_id, 0))
    expected = train.normalization_stats("dataset", train_videos=fold.train)
    assert np.allclose(stored.config["normalization_stats"]["mean"], expected["mean"])
    everyone = train.crop_statistics(pd.concat([fold.train, fold.test]))
    assert not np.allclose(expected["mean"], everyone["mean"]), "the test subjects' crops must not count"


def test_run_grid_prints_one_line_per_fold_and_keeps_the_epoch_log_beside_the_history(tmp_path, capsys):
    from helpers import profiles, results

    dataset = fake_crops(tmp_path / "crops")
    config = approaches.SingleTaskConfig(
        profile="smoke", model="simple_cnn", weights=None, image_size=32, normalization="imagenet", frames_per_video=1,
        eval_frames_per_video=1, batch_size=12, workers=0, work_dir=str(tmp_path / "work"),
        results_dir=str(tmp_path / "results"), train=quiet(epochs=3, verbose=True))
    plan = train.GridPlan([config], [(config, 0), (config, 1)], dataset, tmp_path / "crops")
    train.run_grid(plan)
    lines = [line for line in capsys.readouterr().out.splitlines() if " fold " in line]
    assert len(lines) == 2, lines  # one per fold, although the configuration asks for every epoch
    assert all("3 epoch(s)" in line and "train.log" in line for line in lines)
    paths = profiles.paths_for("smoke", tmp_path / "work", tmp_path / "results")
    for fold in (0, 1):
        log = (results.run_dir(paths.results, "single_task", config.run_id, fold) / "train.log").read_text()
        assert [line.split(":")[0] for line in log.splitlines()] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
