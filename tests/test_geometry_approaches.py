"""The approaches of facial geometry over time, end to end on the smoke data extracted with landmarks: the
Rank-SVM ensemble on activity descriptors (fitted by scikit-learn through the runner's fit hook) and the
recurrent model on landmark trajectories (the training loop), with the artifacts of every approach."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import approaches, data, frames, geometry, labels, profiles, results, train
from helpers.analysis import compare
from helpers.metrics import evaluate
from helpers.approaches import descriptors
from helpers.train import geometry_inputs

pytestmark = pytest.mark.slow  # generates, extracts with landmarks and trains: left out of `make test-fast`


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    base = tmp_path_factory.mktemp("geometry")
    paths = profiles.paths_for("smoke", base / "work", base / "results")
    dataset = data.prepare_dataset("smoke", paths, workers=1)
    config = approaches.DescriptorConfig(profile="smoke", work_dir=str(paths.work), results_dir=str(paths.results))
    crops_dir = train.ensure_crops(dataset, paths, config, progress=False)
    return paths, dataset, crops_dir


def first_fold(config, smoke):
    paths, dataset, crops_dir = smoke
    return config.fold_data(dataset.index, dataset.splits, 0, crops_dir)


def test_the_rank_svm_approach_writes_the_artifacts_of_every_approach(smoke):
    paths = smoke[0]
    config = approaches.DescriptorConfig(profile="smoke", n_models=9, C=0.1, folds=[0], work_dir=str(paths.work),
                                         results_dir=str(paths.results))
    fold = first_fold(config, smoke)
    metrics = train.run_fold(config, fold, paths)
    run = results.load_run(results.run_dir(paths.results, "descriptors", config.run_id, 0))
    assert run.config["target"] == "authenticity" and run.metrics["train_pairs"] == 6 * len(fold.train["subject"].unique())
    assert len(run.predictions) == len(fold.test) and set(run.predictions["frame"]) == {0}  # one row per video
    assert {"prob_0", "prob_1"} <= set(run.predictions.columns)
    assert metrics["validation"]["pairs"] > 0  # what a configuration is chosen by
    weights = pd.read_csv(run.folder / descriptors.WEIGHTS_FILE)
    assert list(weights["descriptor"]) == list(geometry.DESCRIPTOR_NAMES)
    assert np.allclose(weights.query("descriptor.str.startswith('emotion:')")["weight"], 0)  # a pair shares it
    reloaded = train.load_trained_model(config, 0, paths)
    test = train.DescriptorDataset(fold.test)
    with torch.no_grad():
        p = reloaded(test.inputs).softmax(dim=1)[:, 1].numpy()
    saved = test.videos[["subject", "code"]].astype(str).assign(p=p).merge(
        run.predictions.astype({"subject": str, "code": str}), on=["subject", "code"])
    assert len(saved) == len(test) and np.allclose(saved["p"], saved["prob_1"], atol=2e-2)  # half-precision weights
    scores = compare.video_scores([run])
    assert (scores["pred"] == -1).all() and scores["p_genuine"].between(0, 1).all()


def test_the_trajectory_approach_trains_through_the_loop(smoke):
    paths = smoke[0]
    config = approaches.TrajectoryConfig(profile="smoke", hidden=8, folds=[0], work_dir=str(paths.work),
                                         results_dir=str(paths.results),
                                         train=train.TrainConfig(epochs=2, progress=False, verbose=False))
    fold = first_fold(config, smoke)
    train.run_fold(config, fold, paths)
    run = results.load_run(results.run_dir(paths.results, "trajectories", config.run_id, 0))
    assert len(run.history) == 2 and "val_loss" in run.history
    assert len(run.predictions) == len(fold.test)
    twelve = approaches.TrajectoryConfig(profile="smoke", target="label", inputs="proxies", hidden=8, folds=[0],
                                         work_dir=str(paths.work), results_dir=str(paths.results),
                                         train=train.TrainConfig(epochs=1, progress=False, verbose=False))
    assert twelve.run_name == "landmark_gru-proxies-12class" and twelve.run_id != config.run_id
    train.run_fold(twelve, fold, paths)
    run = results.load_run(results.run_dir(paths.results, "trajectories", twelve.run_id, 0))
    assert {f"prob_{k}" for k in range(12)} <= set(run.predictions.columns)


def test_the_lstm_pb_approach_runs_through_the_runner_and_into_the_comparison(smoke):
    paths = smoke[0]
    config = approaches.LSTMPBConfig(profile="smoke", pb_size=3, hidden=8, infer_steps=10, n_trees=10, folds=[0],
                                     work_dir=str(paths.work), results_dir=str(paths.results),
                                     train=train.TrainConfig(epochs=30, lr=1e-2, progress=False, verbose=False))
    fold = first_fold(config, smoke)
    metrics = train.run_fold(config, fold, paths)
    run = results.load_run(results.run_dir(paths.results, "lstm_pb", config.run_id, 0))
    assert run.config["target"] == "authenticity" and len(run.history) == 30
    assert run.metrics["last_train_loss"] < run.metrics["first_train_loss"]  # next-frame training learned
    assert sum(run.metrics["train_videos_per_emotion"].values()) == len(fold.train)
    assert len(run.predictions) == len(fold.test) and set(run.predictions["frame"]) == {0}  # one row per video
    assert metrics["validation"]["pairs"] > 0
    reloaded = train.load_trained_model(config, 0, paths)
    assert reloaded is not None and isinstance(reloaded.boosted[0].feature, torch.Tensor)
    runs = compare.load_all(paths.results)
    scores = compare.video_scores(runs)
    ours = scores[scores["model"] == f"lstm_pb/{config.run_id}"]
    assert len(ours) == len(fold.test) and ours["p_genuine"].between(0, 1).all()
    summary = compare.summary_table(compare.comparison_folds(runs), scores)
    assert f"lstm_pb/{config.run_id}" in set(summary["model"])
    assert compare.approach_name("lstm_pb") == approaches.LSTMPBConfig.DISPLAY_NAME


def test_a_shared_closed_loop_lstm_pb_runs_through_the_runner(smoke):
    paths = smoke[0]
    config = approaches.LSTMPBConfig(profile="smoke", pb_size=3, hidden=8, infer_steps=10, n_trees=10, folds=[0],
                                     pb_per="video", feedback="closed", smooth_frames=3, pb_prior=0.01,
                                     networks="shared", boost_on="held_out", work_dir=str(paths.work),
                                     results_dir=str(paths.results),
                                     train=train.TrainConfig(epochs=20, lr=1e-2, progress=False, verbose=False))
    fold = first_fold(config, smoke)
    train.run_fold(config, fold, paths)
    run = results.load_run(results.run_dir(paths.results, "lstm_pb", config.run_id, 0))
    assert run.metrics["last_train_loss"] < run.metrics["first_train_loss"]
    assert len(run.predictions) == len(fold.test)
    assert len(train.load_trained_model(config, 0, paths).networks) == 1


def test_an_lstm_pb_ensemble_on_motion_in_position_units_runs_through_the_runner(smoke):
    paths = smoke[0]
    config = approaches.LSTMPBConfig(profile="smoke", pb_size=3, hidden=8, infer_steps=10, n_trees=10, folds=[0],
                                     pb_per="video", feedback="closed", relative=True, relative_units="positions",
                                     networks="shared", members=2, work_dir=str(paths.work),
                                     results_dir=str(paths.results),
                                     train=train.TrainConfig(epochs=20, lr=1e-2, progress=False, verbose=False))
    fold = first_fold(config, smoke)
    train.run_fold(config, fold, paths)
    run = results.load_run(results.run_dir(paths.results, "lstm_pb", config.run_id, 0))
    assert "train_loss_all#2" in run.history.columns  # the second member trained too
    assert run.metrics["last_train_loss"] < run.metrics["first_train_loss"]
    assert len(run.predictions) == len(fold.test) and run.predictions["prob_1"].between(0, 1).all()
    reloaded = train.load_trained_model(config, 0, paths)
    assert len(reloaded.networks) == 2 and len(reloaded.boosted) == 2 * len(labels.EMOTIONS)
    assert torch.equal(reloaded.mean, torch.zeros_like(reloaded.mean))  # position units: nothing shifted
    first, second = (list(reloaded.networks[i].parameters())[0] for i in range(2))
    assert not torch.allclose(first, second)  # the members start apart (built one after the other)


def test_trajectory_sequences_mark_real_frames_and_carry_the_emotion(smoke):
    fold = first_fold(approaches.TrajectoryConfig(profile="smoke"), smoke)
    videos = fold.train.head(4)
    sequences = train.TrajectoryDataset(videos, "landmarks", emotion_given=True)
    lengths = [len(train.video_geometry(path).proxies) for path in videos[train.CROP_PATH_COLUMN]]
    x = sequences.sequences
    assert x.shape == (4, max(lengths), 136 + 1 + 6)
    assert x[:, :, 136].sum(dim=1).tolist() == lengths
    emotions = [labels.parse_code(code).emotion_index for code in videos["code"]]
    assert x[:, 0, 137:].argmax(dim=1).tolist() == emotions
    mean, std = sequences.frame_statistics()
    assert mean.shape == (136,) and (std > 0).all()
    proxies = train.TrajectoryDataset(videos, "proxies")
    assert proxies.sequences.shape[-1] == len(geometry.PROXIES) + 1


def test_a_video_without_its_partner_is_judged_alone(smoke):
    fold = first_fold(approaches.DescriptorConfig(profile="smoke"), smoke)
    test = fold.test.reset_index(drop=True)
    assert train.has_partner(test).all()
    dropped = test[test["code"] != "S2N2H"].reset_index(drop=True)  # N2H of each subject loses its partner
    partnered = train.has_partner(dropped)
    assert not partnered[dropped["code"] == "N2H"].any() and partnered[dropped["code"] != "N2H"].all()


def test_missing_landmarks_say_which_notebook_makes_them(smoke, tmp_path):
    _, dataset, crops_dir = smoke
    video = dataset.usable.iloc[0]
    crops = tmp_path / str(video["subject"]) / f"{video['code']}.face.npy"
    crops.parent.mkdir()
    crops.write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="notebook 02"):
        train.video_geometry(crops)


def test_stage_timing_covers_every_stage(smoke):
    paths, dataset, crops_dir = smoke
    videos = train.attach_crop_paths(dataset.usable.head(6), crops_dir)
    runs = evaluate.load_runs(paths.results)
    table = train.geometry_timing(crops_dir, videos, runs)
    assert table["stage"].str.contains("landmarks").any() and table["stage"].str.contains("descriptors").any()
    assert (table["seconds"].dropna() >= 0).all()


def test_a_video_without_usable_landmarks_is_left_out_by_name_not_the_fold(smoke, tmp_path, capsys):
    fold = first_fold(approaches.DescriptorConfig(profile="smoke"), smoke)
    videos = fold.test.reset_index(drop=True).head(4).copy()
    source = train.attach_crop_paths(videos, smoke[2])[train.CROP_PATH_COLUMN].iloc[0]
    subject, code = str(videos.loc[0, "subject"]), str(videos.loc[0, "code"])
    copy = tmp_path / subject
    copy.mkdir()
    for file in Path(source).parent.glob(f"{code}.*"):
        (copy / file.name).write_bytes(file.read_bytes())
    table = pd.read_csv(copy / f"{code}.frames.csv")
    table.assign(landmarks_ok=False).to_csv(copy / f"{code}.frames.csv", index=False)  # every fit failed
    videos = train.attach_crop_paths(videos, smoke[2])
    videos.loc[0, train.CROP_PATH_COLUMN] = str(copy / Path(source).name)
    with pytest.raises(train.GeometryUnavailable, match=f"{subject}/{code}"):
        train.video_geometry(videos.loc[0, train.CROP_PATH_COLUMN])
    capsys.readouterr()
    descriptors_set = train.DescriptorDataset(videos)
    assert len(descriptors_set) == 3 and (subject, code) not in set(
        zip(descriptors_set.videos["subject"].astype(str), descriptors_set.videos["code"].astype(str)))
    assert f"left out of the geometry models: {subject}/{code}" in capsys.readouterr().out
    assert len(train.TrajectoryDataset(videos, "proxies")) == 3


def test_nit_ovgus_reference_runs_through_the_runner_and_refits_on_validation(smoke):
    paths = smoke[0]
    settings = {**descriptors.NIT_OVGU_REFERENCE, "n_models": 9}
    config = approaches.DescriptorConfig(profile="smoke", folds=[0], work_dir=str(paths.work),
                                         results_dir=str(paths.results), **settings)
    fold = first_fold(config, smoke)
    metrics = train.run_fold(config, fold, paths)
    run = results.load_run(results.run_dir(paths.results, "descriptors", config.run_id, 0))
    train_subjects, val_subjects = len(fold.train["subject"].unique()), len(fold.val["subject"].unique())
    assert run.metrics["train_pairs"] == 6 * train_subjects
    assert run.metrics["refit_pairs"] == 6 * (train_subjects + val_subjects)  # validation subjects included
    assert metrics["validation"]["pairs"] > 0
    names = config.descriptor_settings.names
    weights = pd.read_csv(run.folder / descriptors.WEIGHTS_FILE)
    assert list(weights["descriptor"]) == list(names) and len(names) == 7 * 62 + 6
    reloaded = train.load_trained_model(config, 0, paths)
    test = train.DescriptorDataset(fold.test, config.descriptor_settings)
    with torch.no_grad():
        p = reloaded(test.inputs).softmax(dim=1)[:, 1].numpy()
    saved = test.videos[["subject", "code"]].astype(str).assign(p=p).merge(
        run.predictions.astype({"subject": str, "code": str}), on=["subject", "code"])
    assert len(saved) == len(test) and np.allclose(saved["p"], saved["prob_1"], atol=2e-2)
    pairs = saved.assign(emotion=[labels.parse_code(c).emotion for c in saved["code"]]).groupby(["subject", "emotion"])
    assert np.allclose(pairs["p"].sum(), 1.0, atol=2e-2)  # vote shares: one video of each pair above the median


def test_an_au_model_source_reads_each_videos_face_crops(smoke, monkeypatch):
    class Brightness:
        """A stand-in AU model whose every AU is a known function of the crop: its mean brightness times k."""

        def intensities(self, faces):
            level = np.asarray(faces, dtype=float).mean(axis=(1, 2, 3))
            return pd.DataFrame({unit: level * (k + 1) for k, unit in enumerate(geometry.AU_MODEL_COLUMNS)})

    module = types.ModuleType("au_stand_in")
    module.detector = Brightness
    monkeypatch.setitem(sys.modules, "au_stand_in", module)
    paths, dataset, crops_dir = smoke
    fold = first_fold(approaches.DescriptorConfig(profile="smoke"), smoke)
    settings = train.DescriptorSettings("nit_ovgu", True, "au_stand_in:detector")
    videos = train.DescriptorDataset(fold.test.iloc[:2], settings)
    row = videos.videos.iloc[0]
    faces = frames.load_crops(crops_dir, row["subject"], row["code"], "face")
    known = Brightness().intensities(faces).rename(columns=geometry.AU_MODEL_COLUMNS)
    video = geometry_inputs.video_geometry(row[train.CROP_PATH_COLUMN])
    expected = geometry.video_descriptors(known, video.fps, labels.parse_code(row["code"]).emotion,
                                          columns=settings.columns, squared_terms=True)
    assert np.allclose(videos.descriptors[0], expected.to_numpy(), rtol=1e-5, atol=1e-5)
    assert not np.allclose(videos.descriptors[0], geometry_inputs.video_descriptors(
        video, train.DescriptorSettings("nit_ovgu", True)), atol=1e-3)  # not the landmark proxies


def test_an_lstm_pb_read_by_logistic_regression_runs_through_the_runner_and_reloads(smoke):
    paths = smoke[0]
    config = approaches.LSTMPBConfig(profile="smoke", pb_size=3, hidden=8, infer_steps=10, folds=[0],
                                     pb_per="video", reader="logistic", work_dir=str(paths.work),
                                     results_dir=str(paths.results),
                                     train=train.TrainConfig(epochs=10, lr=1e-2, progress=False, verbose=False))
    train.run_fold(config, first_fold(config, smoke), paths)
    run = results.load_run(results.run_dir(paths.results, "lstm_pb", config.run_id, 0))
    assert run.predictions["prob_1"].between(0, 1).all() and run.predictions["prob_1"].nunique() > 1
    reloaded = train.load_trained_model(config, 0, paths)
    readers = [reader for reader in reloaded.boosted if reader.weight.abs().sum() > 0]
    assert readers, "the logistic readers were fitted and kept with the weights"
