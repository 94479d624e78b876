"""NIT-OVGU's configuration of the descriptors approach, checked against what their paper and code do: the
vote combination thresholded at the pair's median, the squared statistics, hinge-loss SVMs with an intercept,
the refit on every training subject, and the AU-model source (a stand-in detector with known AU series; the
clear errors without py-feat or without internet)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.svm import SVC

from helpers import frames, geometry, labels, profiles, synthetic, video
from helpers.approaches.descriptors import NIT_OVGU_REFERENCE, DescriptorConfig
from helpers.frames import ExtractionConfig
from helpers.models import losses
from helpers.models.ranking import RankSVMEnsemble, fit_ranker, linear_svm
from helpers.train import geometry_inputs
from helpers.train.geometry_inputs import DescriptorSettings
from helpers.train.loop import TrainConfig
from helpers.train.tasks import ClassificationTask

from test_ranking import pair_data


def pair_videos(subjects: int, seed: int, cue: float = 1.5, features: int = 10):
    """test_ranking's videos (a subject offset on every feature and, within each pair, feature 0 higher on the
    genuine video by ``cue``) with the emotion's one-hot code last."""
    x, subject_ids, emotions, genuine = pair_data(subjects, seed, cue, features)
    return np.column_stack([x, np.eye(6)[emotions]]), subject_ids, emotions, genuine


def with_partners(x: np.ndarray) -> torch.Tensor:
    """Inputs of videos stored as (genuine, posed) neighbours: each with its partner's descriptors and flag 1."""
    partner = x[np.arange(len(x)) ^ 1]
    return torch.from_numpy(np.column_stack([x, partner, np.ones(len(x))])).float()


def test_votes_give_each_video_its_share_and_the_pair_splits_at_the_median():
    ensemble = RankSVMEnsemble(2, n_models=4)
    # four rankers reading the difference of feature 0 against thresholds -1, 0.5, 2 and 3
    ensemble.rank_weights.copy_(torch.tensor([[1.0, 0.0]] * 4))
    ensemble.rank_bias.copy_(torch.tensor([1.0, -0.5, -2.0, -3.0]))
    ensemble.use_votes.fill_(1.0)
    a, b = torch.tensor([[2.5, 0.0]]), torch.tensor([[0.0, 0.0]])  # a - b = 2.5: votes of 3 of 4; b - a: 0 of 4
    assert ensemble.vote_share(a, b).item() == pytest.approx((3 / 4 + 1 - 0 / 4) / 2)
    inputs = torch.tensor([[2.5, 0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 2.5, 0.0, 1.0]])
    p = ensemble(inputs).softmax(dim=1)[:, 1]
    assert p.sum().item() == pytest.approx(1.0, abs=1e-5)  # the pair's two shares: above and below its median
    assert p[0] > 0.5 > p[1]
    tie = torch.tensor([[1.0, 0.0, 1.0, 0.0, 1.0]])  # identical videos: as many votes each way, a tie
    assert ensemble(tie).softmax(dim=1)[0, 1].item() == pytest.approx(0.5)


def test_the_vote_ensemble_ranks_unseen_pairs_and_its_shares_are_counts_of_votes():
    x, subjects, emotions, genuine = pair_videos(16, seed=0)
    model, fit = fit_ranker(x, subjects, emotions, genuine, n_models=15, C=1.0, seed=0, svm_loss="hinge",
                            intercept=True, combination="votes", emotion_columns=6)
    assert fit.oob_coverage == 1.0 and fit.oob_paired_accuracy > 0.8
    test_x, *_ = pair_videos(8, seed=1)
    with torch.no_grad():
        p = model(with_partners(test_x)).softmax(dim=1)[:, 1].numpy()
    assert np.allclose(p[0::2] + p[1::2], 1.0, atol=1e-4)
    assert (p[0::2] > p[1::2]).mean() > 0.85  # rows alternate genuine, posed
    shares_of_30 = np.round(np.clip(p, 1e-4, 1 - 1e-4) * 30, 3)  # (votes + 15 - votes') / 30
    assert np.allclose(shares_of_30[(p > 1e-3) & (p < 1 - 1e-3)] % 1, 0, atol=1e-2)
    assert model.emotion_mask[-6:].eq(1).all() and model.emotion_mask[:-6].eq(0).all()


def test_squared_statistics_are_the_squares_of_the_smoothed_series_value_variability_and_area():
    rng = np.random.default_rng(3)
    proxies = pd.DataFrame(rng.normal(size=(40, 2)).cumsum(axis=0), columns=["lips_part", "cheek_raise"])
    plain = geometry.activity_descriptors(proxies, 10.0)
    squared = geometry.activity_descriptors(proxies, 10.0, squared_terms=True)
    assert len(plain) == 2 * 51 and len(squared) == 2 * 62
    pd.testing.assert_series_equal(squared[plain.index], plain)
    for column in proxies:
        for statistic in geometry.SQUARED_STATISTICS:
            assert squared[f"{column}:d0:{statistic}^2"] == pytest.approx(plain[f"{column}:d0:{statistic}"] ** 2)
    assert not any(":d1:" in name and name.endswith("^2") for name in squared.index)  # d0 only, as their code
    assert "lips_part:d0:time_of_max^2" not in squared.index  # times, shares and counts are not squared
    assert set(geometry.SQUARED_STATISTICS) == {*geometry.STATISTICS[:9], "area_above_min", "area_ratio"}


def test_nit_ovgus_action_units_each_have_their_own_proxy():
    assert list(geometry.NIT_OVGU_ACTION_UNITS) == ["AU1", "AU2", "AU4", "AU6", "AU9", "AU12", "AU25"]
    for unit, proxy in geometry.NIT_OVGU_ACTION_UNITS.items():
        assert geometry.PROXY_ACTION_UNITS[proxy] == unit
    names = geometry.video_descriptor_names(geometry.action_unit_columns("nit_ovgu"), squared_terms=True)
    assert len(names) == 7 * 62 + 6
    with pytest.raises(ValueError, match="unknown action-unit set 'openface'"):
        geometry.action_unit_columns("openface")


def test_hinge_with_intercept_is_libsvms_linear_svm_and_fits_an_intercept():
    svm = linear_svm(1.0, True, 0, "hinge")
    assert isinstance(svm, SVC) and svm.kernel == "linear" and svm.C == 1.0
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = np.where(x[:, 0] > 1.0, 1, -1)  # the boundary lies off the origin: only an intercept reaches it
    fitted = linear_svm(1.0, True, 0, "hinge").fit(x, y)
    assert fitted.intercept_[0] < -0.5 and (fitted.predict(x) == y).mean() > 0.95
    # the hinge's solution: every support vector's dual coefficient is bounded by C, the margin violators at C
    assert np.all(np.abs(fitted.dual_coef_) <= 1.0 + 1e-9)
    with pytest.raises(ValueError, match="svm_loss must be one of"):
        linear_svm(1.0, True, 0, "logistic")


def test_the_reference_fits_its_rankers_with_an_intercept():
    x, subjects, emotions, genuine = pair_videos(10, seed=4)
    with_intercept, _ = fit_ranker(x, subjects, emotions, genuine, 5, 1.0, 0, "hinge", True, "votes", 6)
    without, _ = fit_ranker(x, subjects, emotions, genuine, 5, 1.0, 0, "squared_hinge", False, "votes", 6)
    assert with_intercept.rank_bias.abs().sum() > 0 and without.rank_bias.abs().sum() == 0


class Videos:
    """What the descriptors approach's fit reads of a DescriptorDataset: descriptors, targets, videos (with the
    group its rankers pair by), inputs."""

    def __init__(self, x: np.ndarray, subjects: np.ndarray, emotions: np.ndarray, genuine: np.ndarray):
        self.descriptors = x.astype(np.float32)
        authenticity = np.where(genuine, labels.AUTHENTICITY.index("genuine"), labels.AUTHENTICITY.index("posed"))
        self.targets = np.column_stack([np.zeros(len(x), int), emotions, authenticity])
        self.videos = pd.DataFrame({"subject": subjects, "ranking_group": subjects})  # pairs by subject
        self.inputs = with_partners(x)

    def __len__(self) -> int:
        return len(self.descriptors)


def test_the_refit_uses_every_training_subject_and_validation_is_predicted_without_it():
    config = DescriptorConfig(**{**NIT_OVGU_REFERENCE, "n_models": 9})
    train_videos, val_videos = Videos(*pair_videos(8, seed=5)), Videos(*pair_videos(3, seed=6))
    task = ClassificationTask(losses.build_loss("cross_entropy"), "authenticity", input_key="features")
    loader = types.SimpleNamespace
    fitted = config.fit(RankSVMEnsemble(16, 9), task, loader(dataset=train_videos), loader(dataset=val_videos),
                        TrainConfig(), None, None)
    history = fitted.history.iloc[0]
    assert history["train_pairs"] == 8 * 6 and history["refit_pairs"] == 11 * 6 and history["refit_videos"] == 132
    assert fitted.validation_model is not None and fitted.validation_model is not fitted.model
    alone, _ = config.fit_ensembles([train_videos], 0)
    assert torch.equal(fitted.validation_model.rank_weights, alone.rank_weights)  # the fit without validation
    assert not torch.equal(fitted.model.rank_weights, alone.rank_weights)
    today = DescriptorConfig(n_models=9).fit(RankSVMEnsemble(16, 9), task,
                                              loader(dataset=train_videos), loader(dataset=val_videos),
                                              TrainConfig(), None, None)
    assert today.validation_model is None and "refit_pairs" not in today.history


def test_new_settings_stay_out_of_the_run_identity_at_their_defaults():
    default = DescriptorConfig(profile="demo")
    assert default.run_id == "rank_svm-C0.1-ad7c00"  # as before the settings existed: earlier runs stay current
    assert not {"au_source", "combination", "svm_loss", "squared_terms"} & set(default.identity())
    stand_in = DescriptorConfig(profile="demo", au_source="au_stand_in:detector")
    assert stand_in.identity()["au_source"] == "au_stand_in:detector" and stand_in.run_id != default.run_id
    py_feat = DescriptorConfig(profile="demo", au_source="py-feat")
    assert py_feat.run_id not in (default.run_id, stand_in.run_id) and py_feat.run_name.endswith("py-feat")
    reference = DescriptorConfig(**NIT_OVGU_REFERENCE)
    assert reference.run_name == "rank_svm-C1-nit_ovgu" and reference.build_model().n_features == 7 * 62 + 6
    with pytest.raises(ValueError, match="unknown AU source 'openface'"):
        DescriptorConfig(au_source="openface")


class KnownAUs:
    """A stand-in AU model: AU intensities that are known functions of the frame's position; no face in frame 2."""

    def intensities(self, faces: np.ndarray) -> pd.DataFrame:
        t = np.arange(len(faces), dtype=float)
        table = pd.DataFrame({column: np.sin(t / (k + 2)) for k, column in enumerate(geometry.AU_MODEL_COLUMNS)})
        table.loc[2] = np.nan
        return table.assign(AU15=0.0)


def test_the_au_model_series_take_the_proxies_roles_and_fill_faceless_frames():
    faces = np.zeros((6, 8, 8, 3), dtype=np.uint8)
    series = geometry.au_model_series(faces, KnownAUs())
    assert list(series.columns) == list(geometry.AU_MODEL_COLUMNS.values())
    t = np.arange(6.0)
    assert np.allclose(series["inner_brow_raise"].drop(index=2), np.sin(t / 2)[[0, 1, 3, 4, 5]])
    assert series.loc[2, "inner_brow_raise"] == pytest.approx((np.sin(1 / 2) + np.sin(3 / 2)) / 2)
    with pytest.raises(ValueError, match="returned 5 rows for 6 faces"):
        geometry.au_model_series(faces, types.SimpleNamespace(intensities=lambda f: KnownAUs().intensities(f)[:5]))


def test_without_py_feat_the_user_is_told_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "feat", None)  # import feat raises ImportError
    monkeypatch.setattr(geometry.au_model, "_DETECTORS", {})
    with pytest.raises(geometry.AUModelUnavailable, match="pip install py-feat.*au_source='landmarks'"):
        geometry.load_au_detector("py-feat")


def test_without_internet_the_user_is_told_the_weights_need_it(monkeypatch):
    def no_network(**kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setitem(sys.modules, "feat", types.SimpleNamespace(Detector=no_network))
    monkeypatch.setattr(geometry.au_model, "_DETECTORS", {})
    with pytest.raises(geometry.AUModelUnavailable, match="Hugging Face hub.*needs internet"):
        geometry.load_au_detector("py-feat")


def test_whole_video_landmarks_stay_out_of_the_fingerprint_at_their_default():
    default = ExtractionConfig()
    assert default.fingerprint == "ca1c1b34"  # as before the setting: existing crops folders stay current
    assert "whole_video_landmarks" not in default.to_dict()
    whole = ExtractionConfig(whole_video_landmarks=True)
    assert whole.fingerprint != default.fingerprint and whole.to_dict()["whole_video_landmarks"] is True
    assert ExtractionConfig.from_dict(whole.to_dict()) == whole
    assert whole.whole_video().window == (0.0, 1.0) and whole.whole_video().target_fps is None
    with pytest.raises(ValueError, match="needs landmarks=True"):
        ExtractionConfig(landmarks=False, whole_video_landmarks=True)


def test_whole_video_landmarks_cover_every_frame_while_the_crops_keep_their_window(tmp_path):
    smoke = profiles.PROFILES["smoke"].synthetic
    clip, _ = synthetic.render_video(0, "N2H", smoke)
    path = synthetic.video_path(tmp_path / "data", 0, "N2H", smoke.subjects)
    video.write_video(path, clip, smoke.fps)
    videos = frames.list_videos(tmp_path / "data")
    config = ExtractionConfig(whole_video_landmarks=True)
    extraction = frames.extract_dataset(videos, tmp_path / "crops", config, progress=False)
    subject, code = videos["subject"].iloc[0], videos["code"].iloc[0]
    files = frames.video_files(extraction.root, subject, code)
    kept = frames.load_crops(extraction.root, subject, code)
    info = video.probe(path)
    assert len(kept) == len(frames.sampled_indices(info.frames, info.fps, config)) < info.frames
    whole = np.load(files["whole_landmarks"])
    table = pd.read_csv(files["whole_frames"])
    assert whole.shape == (info.frames, 68, 2) and table["frame"].tolist() == list(range(info.frames))
    assert table["landmarks_ok"].mean() > 0.9
    crop_path = files["face"]
    kept_geometry = geometry_inputs.video_geometry(crop_path)
    whole_geometry = geometry_inputs.video_geometry(crop_path, whole_video=True)
    assert whole_geometry.fps == pytest.approx(info.fps) and kept_geometry.fps < info.fps / 2
    settings = DescriptorSettings(landmark_frames="whole_video")
    assert not np.allclose(geometry_inputs.video_descriptors(kept_geometry, settings), kept_geometry.descriptors)
    assert frames.is_finished(extraction.root, subject, code, config)
    files["whole_landmarks"].unlink()
    assert not frames.is_finished(extraction.root, subject, code, config)
    assert frames.is_finished(extraction.root, subject, code, ExtractionConfig()) is False  # another fingerprint
    with pytest.raises(ValueError, match="an AU model reads the face crops"):
        DescriptorSettings(au_source="py-feat", landmark_frames="whole_video")
