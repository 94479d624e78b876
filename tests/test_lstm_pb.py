"""HCILab's LSTM with parametric bias, checked as a reproduction: next-frame training learns, a PB learnt for a
training sequence is found again from that sequence with the weights fixed, gradient boosting on inferred PBs
separates two kinds of dynamics, and the boosted trees as tensors score as scikit-learn does."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from helpers import approaches, labels
from helpers.approaches.lstm_pb import boosting_split, standardise
from helpers.models.boosting import BoostedTrees, LogisticReader, fit_boosted_trees, fit_logistic_reader
from helpers.models.lstm_pb import (
    HCILAB_POINTS, LSTMPBClassifier, PBNetwork, infer_pb, n_points, next_frame_errors, select_points, smooth_frames,
    train_network,
)


def rising(onsets: list[float], length: int = 24, features: int = 6, noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    """``[N, length, features]``: sequences that rise from 0 to 1 at each onset speed (features scaled
    differently), with Gaussian noise."""
    generator = np.random.default_rng(seed)
    t = np.linspace(0, 1, length)[None, :, None]
    speed = np.asarray(onsets, dtype=float)[:, None, None]
    curves = np.tanh(speed * t) * np.linspace(0.5, 1.5, features)[None, None, :]
    return torch.tensor(curves + noise * generator.standard_normal(curves.shape), dtype=torch.float32)


def all_valid(frames: torch.Tensor) -> torch.Tensor:
    return torch.ones(frames.shape[:2], dtype=torch.bool)


def test_next_frame_training_lowers_the_loss():
    torch.manual_seed(0)
    frames = rising([1.0, 3.0, 6.0, 12.0])
    network = PBNetwork(frames.shape[2], pb_size=2, hidden=16)
    _, losses = train_network(network, frames, all_valid(frames), torch.arange(4), 4, epochs=150, lr=1e-2)
    assert len(losses) == 150 and losses[-1] < 0.2 * losses[0]


def test_the_padding_after_a_video_is_neither_predicted_nor_predicted_from():
    torch.manual_seed(0)
    frames = rising([2.0, 5.0])
    network = PBNetwork(frames.shape[2], pb_size=2, hidden=8)
    valid = all_valid(frames)
    valid[1, 15:] = False
    pb = torch.zeros(2, 2)
    before = next_frame_errors(network, frames, valid, pb)
    frames[1, 15:] = 100.0  # garbage in the padding changes nothing
    assert torch.allclose(next_frame_errors(network, frames, valid, pb), before)


def test_pb_inference_recovers_a_learnt_pb_from_its_sequence_with_the_weights_fixed():
    torch.manual_seed(0)
    frames = rising([1.0, 2.5, 5.0, 10.0, 20.0])
    network = PBNetwork(frames.shape[2], pb_size=2, hidden=16)
    learnt, _ = train_network(network, frames, all_valid(frames), torch.arange(5), 5, epochs=400, lr=1e-2)
    weights = [p.detach().clone() for p in network.parameters()]
    inferred = infer_pb(network, frames, all_valid(frames), steps=400, lr=0.05)
    assert all(torch.equal(a, b) for a, b in zip(weights, network.parameters()))  # the weights stayed fixed
    distances = torch.cdist(inferred, learnt)  # [inferred, learnt]
    assert torch.equal(distances.argmin(dim=1), torch.arange(5))  # each nearest its own sequence's learnt PB
    spread = torch.pdist(learnt).min()
    assert (distances.diagonal() < 0.5 * spread).all()
    # and it explains its sequence as well as the learnt PB does (not merely closer than the others)
    fit_inferred = next_frame_errors(network, frames, all_valid(frames), inferred)
    fit_learnt = next_frame_errors(network, frames, all_valid(frames), learnt)
    assert (fit_inferred <= fit_learnt * 1.05 + 1e-5).all()


def test_each_video_pb_follows_its_own_error_alone():
    torch.manual_seed(0)
    frames = rising([1.0, 8.0])
    network = PBNetwork(frames.shape[2], pb_size=3, hidden=8).eval()
    together = infer_pb(network, frames, all_valid(frames), steps=30)
    alone = infer_pb(network, frames[1:], all_valid(frames[1:]), steps=30)
    assert torch.allclose(together[1:], alone, atol=1e-5)


def test_boosting_on_inferred_pbs_separates_two_classes_of_dynamics():
    torch.manual_seed(0)
    generator = np.random.default_rng(1)
    slow, fast = generator.uniform(1.0, 2.5, 20), generator.uniform(5.0, 9.0, 20)
    frames = rising([*slow, *fast], noise=0.02, seed=2)
    genuine = np.r_[np.ones(20, bool), np.zeros(20, bool)]
    train = np.r_[0:12, 20:32]
    test = np.r_[12:20, 32:40]
    network = PBNetwork(frames.shape[2], pb_size=2, hidden=16)
    train_network(network, frames[train], all_valid(frames[train]), torch.as_tensor(genuine[train]).long(), 2,
                  epochs=300, lr=1e-2)
    pbs = infer_pb(network, frames, all_valid(frames), steps=200)
    trees = fit_boosted_trees(pbs[train].numpy(), genuine[train], n_trees=30)
    scores = trees(pbs[test]).numpy()
    assert ((scores > 0) == genuine[test]).mean() >= 0.85
    shuffled = generator.permutation(genuine[train])  # labels that say nothing: the fit cannot separate the test
    chance = fit_boosted_trees(pbs[train].numpy(), shuffled, n_trees=30)(pbs[test]).numpy()
    assert ((chance > 0) == genuine[test]).mean() < 0.85


def test_boosted_trees_as_tensors_score_as_scikit_learn_does():
    generator = np.random.default_rng(0)
    x = generator.standard_normal((80, 5)).astype(np.float32)
    y = x[:, 0] + 0.5 * x[:, 1] ** 2 + 0.3 * generator.standard_normal(80) > 0.4
    classifier = GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0).fit(x, y)
    trees = BoostedTrees(5, 40, 3)
    trees.load_fitted(classifier, x)
    new = generator.standard_normal((50, 5)).astype(np.float32)
    assert np.allclose(trees(torch.from_numpy(new)).numpy(), classifier.decision_function(new), atol=1e-4)
    with pytest.raises(ValueError, match="trees"):
        BoostedTrees(5, 10, 3).load_fitted(classifier, x)


def test_one_class_boosting_gives_its_share_and_no_trees():
    trees = fit_boosted_trees(np.zeros((4, 3)), np.ones(4, bool), n_trees=5)
    assert torch.allclose(trees(torch.randn(2, 3)), torch.full((2,), float(np.log(0.95 / 0.05))))


def test_hcilab_points_are_their_40_with_the_midpoints_last():
    xy = torch.arange(68 * 2, dtype=torch.float32).reshape(68, 2)
    selected = select_points(xy.flatten()[None], "hcilab40").reshape(40, 2)
    assert n_points("hcilab40") == 40 and len(HCILAB_POINTS) == 36
    assert torch.equal(selected[0], xy[17]) and torch.equal(selected[35], xy[58])
    assert torch.equal(selected[36], (xy[0] + xy[17]) / 2) and torch.equal(selected[39], (xy[14] + xy[29]) / 2)
    assert torch.equal(select_points(xy.flatten()[None], "all68"), xy.flatten()[None])


def test_the_classifier_scores_each_video_with_its_emotions_network():
    torch.manual_seed(0)
    model = LSTMPBClassifier(len(labels.EMOTIONS), "all68", pb_size=2, hidden=8, n_trees=3, infer_steps=5).eval()
    model.boosted[2].load_constant(2.0)  # disgust: genuine, whatever its PB
    x = torch.zeros(3, 10, 68 * 2 + 1 + len(labels.EMOTIONS))
    x[:, :, :136] = torch.randn(3, 10, 136)
    x[:, :8, 136] = 1.0
    x[0, :, 137 + 2] = x[1, :, 137 + 0] = x[2, :, 137 + 2] = 1.0
    with torch.no_grad():
        p = model(x).exp()
    assert torch.allclose(p.sum(dim=1), torch.ones(3))
    assert torch.allclose(p[[0, 2], 1], torch.sigmoid(torch.tensor(2.0))) and torch.isclose(p[1, 1], torch.tensor(0.5))


def test_the_approach_is_registered_and_checks_its_settings():
    assert approaches.config_class("lstm_pb") is approaches.LSTMPBConfig
    assert approaches.notebook_of("lstm_pb") == "05_temporal"
    config = approaches.LSTMPBConfig(profile="smoke")
    assert config.run_name == "lstm_pb-class-pb8-h64" and config.prediction_target == "authenticity"
    assert approaches.LSTMPBConfig(profile="smoke", pb_per="video").run_id != config.run_id
    with pytest.raises(ValueError, match="pb_per"):
        approaches.LSTMPBConfig(profile="smoke", pb_per="subject")
    with pytest.raises(ValueError, match="point_set"):
        approaches.LSTMPBConfig(profile="smoke", point_set="all")


def test_held_out_boosting_learns_from_subjects_the_network_did_not_see():
    subjects = np.array(["a", "a", "b", "b", "c", "c", "d", "d"])
    learn, boost = boosting_split(subjects, "held_out", seed=0)
    assert not set(subjects[learn]) & set(subjects[boost]) and len(set(subjects[learn])) == 2
    assert (learn | boost).all() and not (learn & boost).any()
    assert all(mask.all() for mask in boosting_split(subjects, "training", seed=0))
    assert all(mask.all() for mask in boosting_split(np.array(["a", "a"]), "held_out", seed=0))


def test_relative_landmarks_are_the_motion_since_the_first_frame():
    model = LSTMPBClassifier(len(labels.EMOTIONS), "all68", relative=True)
    x = torch.zeros(2, 5, 68 * 2 + 1 + len(labels.EMOTIONS))
    x[:, :, :136] = torch.randn(2, 1, 136) + torch.linspace(0, 1, 5)[None, :, None]  # a face shape + motion
    points, valid, _ = model.inputs(x)
    assert torch.allclose(points[:, 0], torch.zeros(2, 136))
    assert torch.allclose(points[:, 4], torch.ones(2, 136), atol=1e-6)  # the shape is gone, the motion stays
    assert approaches.LSTMPBConfig(profile="smoke", relative=True).run_name.endswith("-relative")


def test_closed_loop_prediction_reads_only_the_first_frame_and_the_pb():
    torch.manual_seed(0)
    frames = rising([2.0, 5.0])
    network = PBNetwork(frames.shape[2], pb_size=2, hidden=8, closed_loop=True)
    pb = torch.randn(2, 2)
    predicted = network.predict_next(frames, pb)
    changed = frames.clone()
    changed[:, 1:] = 50.0  # later frames are targets only, never inputs
    assert predicted.shape == (2, frames.shape[1] - 1, frames.shape[2])
    assert torch.allclose(network.predict_next(changed, pb), predicted)
    assert not torch.allclose(network.predict_next(frames, pb + 1.0), predicted)  # the PB steers the course
    teacher = PBNetwork(frames.shape[2], pb_size=2, hidden=8)
    assert not torch.allclose(teacher.predict_next(changed, pb), teacher.predict_next(frames, pb))


def test_closed_loop_pb_codes_a_sequence_and_is_recovered_from_it():
    torch.manual_seed(0)
    frames = rising([1.0, 3.0, 9.0])
    network = PBNetwork(frames.shape[2], pb_size=2, hidden=16, closed_loop=True)
    learnt, losses = train_network(network, frames, all_valid(frames), torch.arange(3), 3, epochs=300, lr=1e-2)
    assert losses[-1] < 0.2 * losses[0]
    inferred = infer_pb(network, frames, all_valid(frames), steps=300, lr=0.05)
    nearest = torch.cdist(inferred, learnt).argmin(dim=1)
    assert torch.equal(nearest, torch.arange(3))


def test_smoothing_averages_each_videos_real_frames_only():
    points = torch.arange(6, dtype=torch.float32).repeat(2, 1)[:, :, None]  # 0 1 2 3 4 5
    valid = torch.ones(2, 6, dtype=torch.bool)
    valid[1, 4:] = False  # the second video ends after frame 3; its padding holds 4, 5
    smoothed = smooth_frames(points, valid, 3)[..., 0]
    assert torch.allclose(smoothed[0], torch.tensor([0.5, 1, 2, 3, 4, 4.5]))
    assert torch.allclose(smoothed[1], torch.tensor([0.5, 1, 2, 2.5, 4, 5]))  # its end averages 2 and 3 alone
    assert torch.equal(smooth_frames(points, valid, 1), points)


def test_a_pb_prior_keeps_inferred_pbs_of_unseen_sequences_near_zero():
    torch.manual_seed(0)
    frames = rising([1.0, 2.5, 5.0, 10.0], noise=0.05)
    network = PBNetwork(frames.shape[2], pb_size=3, hidden=16)
    train_network(network, frames, all_valid(frames), torch.arange(4), 4, epochs=200, lr=1e-2, pb_prior=0.1)
    unseen = rising([0.3, 30.0], noise=0.2, seed=1)
    free = infer_pb(network, unseen, all_valid(unseen), steps=200, lr=0.05)
    held = infer_pb(network, unseen, all_valid(unseen), steps=200, lr=0.05, pb_prior=0.1)
    assert held.norm(dim=1).max() < free.norm(dim=1).max()
    pb = held.clone().requires_grad_(True)  # at the optimum of error + prior, the gradient is about zero
    total = (next_frame_errors(network, unseen, all_valid(unseen), pb) + 0.1 * (pb ** 2).sum(dim=1)).sum()
    (gradient,) = torch.autograd.grad(total, pb)
    assert gradient.abs().max() < 1e-2


def test_a_shared_network_models_every_emotion_and_settings_name_the_run():
    model = LSTMPBClassifier(len(labels.EMOTIONS), "all68", pb_size=2, hidden=8, shared=True, closed_loop=True)
    assert len(model.networks) == 1 and model.network(0) is model.network(5) and model.network(3).closed_loop
    assert len(LSTMPBClassifier(len(labels.EMOTIONS), "all68", pb_size=2, hidden=8).networks) == len(labels.EMOTIONS)
    config = approaches.LSTMPBConfig(profile="smoke", pb_per="video", feedback="closed", smooth_frames=5,
                                     pb_prior=0.01, networks="shared")
    assert config.run_name == "lstm_pb-video-pb8-h64-closed-smooth5-prior0.01-shared"
    built = config.build_model()
    assert built.shared and built.smooth == 5 and built.pb_prior == 0.01 and built.network(0).closed_loop
    for wrong in ({"feedback": "open"}, {"networks": "one"}, {"pb_prior": -1.0}, {"smooth_frames": 0}):
        with pytest.raises(ValueError):
            approaches.LSTMPBConfig(profile="smoke", **wrong)


def test_relative_landmarks_in_position_units_start_at_zero_and_keep_still_points_small():
    torch.manual_seed(0)
    model = LSTMPBClassifier(len(labels.EMOTIONS), "all68", relative=True, relative_units="positions")
    x = torch.zeros(4, 5, 68 * 2 + 1 + len(labels.EMOTIONS))
    x[:, :, :136] = 3.0 * torch.randn(4, 1, 136)  # four face shapes, spread 3 over faces
    x[:, :, :68] += torch.linspace(0, 1, 5)[None, :, None] * torch.arange(1, 5)[:, None, None]  # half the points move
    x[:, :, 68:136] += 0.01 * torch.randn(4, 5, 68)  # the other half only jitter
    x[:, :, 136] = 1.0
    points, valid, _ = model.inputs(x)
    positions = model.inputs(x, relative=False)[0]
    frames = standardise(model, 0, points, valid, positions)
    assert torch.equal(frames[:, 0], torch.zeros(4, 136))  # every video starts at zero: no shift
    assert torch.allclose(model.scale[0], positions[valid].std(dim=0))  # in units of the positions' spread
    assert frames[:, :, 68:].abs().max() < 0.2 < frames[:, :, :68].abs().max()  # jitter stays small
    motion_units = standardise(model, 0, points, valid)  # the motion's own spread blows the jitter up
    assert motion_units[:, :, 68:].abs().max() > 1.0
    config = approaches.LSTMPBConfig(profile="smoke", relative=True, relative_units="positions")
    assert config.run_name.endswith("-relative_positions") and config.build_model().relative_units == "positions"
    for wrong in ({"relative_units": "positions"}, {"relative": True, "relative_units": "pixels"}):
        with pytest.raises(ValueError):
            approaches.LSTMPBConfig(profile="smoke", **wrong)


def test_an_ensemble_averages_its_members_log_odds_each_from_its_own_networks():
    torch.manual_seed(0)
    model = LSTMPBClassifier(len(labels.EMOTIONS), "all68", pb_size=2, hidden=8, n_trees=3, infer_steps=5,
                             shared=True, members=2).eval()
    assert len(model.networks) == 2 and model.network(4, 1) is model.networks[1] is not model.network(4, 0)
    assert len(model.boosted) == 2 * len(labels.EMOTIONS) and model.booster(2, 1) is model.boosted[6 + 2]
    model.booster(2, 0).load_constant(3.0)  # disgust: member 0 says genuine, member 1 undecided (log-odds 0)
    x = torch.zeros(2, 6, 68 * 2 + 1 + len(labels.EMOTIONS))
    x[:, :, :136] = torch.randn(2, 6, 136)
    x[:, :, 136] = 1.0
    x[:, :, 137 + 2] = 1.0
    with torch.no_grad():
        p = model(x).exp()
        assert not torch.allclose(model.pb_vectors(x, 0), model.pb_vectors(x, 1))  # each member infers its own
    assert torch.allclose(p[:, 1], torch.sigmoid(torch.tensor(1.5)))
    config = approaches.LSTMPBConfig(profile="smoke", networks="shared", members=3)
    assert config.run_name.endswith("-shared-x3") and len(config.build_model().networks) == 3
    assert approaches.LSTMPBConfig(profile="smoke").run_name == "lstm_pb-class-pb8-h64"  # one member: as before
    with pytest.raises(ValueError):
        approaches.LSTMPBConfig(profile="smoke", members=0)


def test_a_shared_network_infers_every_emotions_pbs_in_one_batch_as_emotion_by_emotion():
    torch.manual_seed(0)
    model = LSTMPBClassifier(len(labels.EMOTIONS), "all68", pb_size=2, hidden=8, infer_steps=20, shared=True).eval()
    model.mean[3] += 0.5  # emotions standardised differently: the batch must keep each video's own emotion
    model.scale[3] *= 2.0
    x = torch.zeros(4, 6, 68 * 2 + 1 + len(labels.EMOTIONS))
    x[:, :, :136] = torch.randn(4, 6, 136)
    x[:, :, 136] = 1.0
    for video, emotion in enumerate([0, 3, 3, 5]):
        x[video, :, 137 + emotion] = 1.0
    points, valid, emotions = model.inputs(x)
    with torch.no_grad():
        batched = model.pb_vectors(x)
        for emotion in (0, 3, 5):
            rows = emotions == emotion
            alone = model.infer(model.network(emotion), model.standardised(points[rows], emotion), valid[rows])
            assert torch.allclose(batched[rows], alone, atol=1e-6)
    assert batched.abs().sum() > 0


def test_the_logistic_reader_scores_as_scikit_learn_does_and_one_class_gives_its_share():
    generator = np.random.default_rng(0)
    x = generator.standard_normal((60, 4)).astype(np.float32)
    y = x[:, 0] - x[:, 2] + 0.5 * generator.standard_normal(60) > 0
    reader = fit_logistic_reader(x, y)
    new = generator.standard_normal((20, 4)).astype(np.float32)
    expected = LogisticRegression(max_iter=2000).fit(x, y).decision_function(new)
    assert np.allclose(reader(torch.from_numpy(new)).numpy(), expected, atol=1e-4)
    constant = fit_logistic_reader(np.zeros((4, 3)), np.zeros(4, bool))
    assert torch.allclose(constant(torch.randn(2, 3)), torch.full((2,), float(np.log(0.05 / 0.95))))


def test_the_reader_setting_builds_logistic_readers_and_keeps_earlier_run_ids():
    hcilab = approaches.LSTMPBConfig(profile="smoke")
    logistic = approaches.LSTMPBConfig(profile="smoke", reader="logistic")
    assert not {"reader", "members", "relative_units"} & set(hcilab.identity()), "earlier runs keep their ids"
    assert logistic.identity()["reader"] == "logistic"
    assert approaches.LSTMPBConfig(profile="smoke", members=2).identity()["members"] == 2
    assert logistic.run_name == hcilab.run_name + "-logistic" and logistic.run_id != hcilab.run_id
    model = logistic.build_model()
    assert all(isinstance(module, LogisticReader) for module in model.boosted)
    assert all(isinstance(module, BoostedTrees) for module in hcilab.build_model().boosted)
    with pytest.raises(ValueError, match="reader"):
        approaches.LSTMPBConfig(profile="smoke", reader="svm")
