"""The Rank-SVM ensemble of the ChaLearn 2017 winners: pairs of one subject and emotion, out-of-bag calibration,
the plain-SVM fallback for videos without a partner, and the torch module that holds the fitted ensembles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import results
from helpers.models.ranking import RankSVMEnsemble, calibrate_scores, fit_ranker, training_pairs


def pair_data(subjects: int, seed: int, cue: float = 1.0, features: int = 12):
    """Videos of ``subjects`` x 6 emotions x (genuine, posed): a per-subject offset on every feature (which no
    threshold can undo) and, within each pair, feature 0 higher on the genuine video by ``cue``."""
    rng = np.random.default_rng(seed)
    rows, subject_ids, emotions, genuine = [], [], [], []
    for s in range(subjects):
        offset = rng.normal(0, 3, features)
        for emotion in range(6):
            base = offset + rng.normal(0, 1, features)
            for is_genuine in (True, False):
                x = base + rng.normal(0, 0.3, features)
                x[0] += cue / 2 if is_genuine else -cue / 2
                rows.append(x)
                subject_ids.append(f"s{seed}-{s}")
                emotions.append(emotion)
                genuine.append(is_genuine)
    return np.asarray(rows), np.asarray(subject_ids), np.asarray(emotions), np.asarray(genuine)


def with_flag(features: np.ndarray, partnered: bool) -> torch.Tensor:
    flag = np.full((len(features), 1), float(partnered))
    return torch.from_numpy(np.hstack([features, flag])).float()


def test_training_pairs_need_both_videos_of_a_subject_and_emotion():
    subjects = np.array(["a", "a", "a", "b", "b"])
    emotions = np.array([0, 0, 1, 0, 0])
    genuine = np.array([True, False, True, False, True])
    assert training_pairs(subjects, emotions, genuine).tolist() == [[0, 1], [4, 3]]


def test_the_ranker_orders_unseen_pairs_that_no_threshold_separates():
    x, subjects, emotions, genuine = pair_data(20, seed=0)
    model, fit = fit_ranker(x, subjects, emotions, genuine, n_models=25, C=0.1, seed=0)
    assert fit.pairs == 20 * 6 and fit.oob_coverage == 1.0 and fit.oob_paired_accuracy > 0.9
    test_x, _, _, test_genuine = pair_data(10, seed=1)  # other subjects, other offsets
    with torch.no_grad():
        scores = model.rank_scores(torch.from_numpy(test_x).float()).numpy()
        p_paired = model(with_flag(test_x, True)).softmax(dim=1)[:, 1].numpy()
    paired_right = (scores[test_genuine] > scores[~test_genuine]).mean()  # rows alternate genuine, posed
    assert paired_right > 0.9
    # calibrated: within a pair the order is the ranker's; the probabilities are a monotone map of the scores
    assert np.all(np.diff(p_paired[np.argsort(scores)]) >= -1e-6)
    # alone, a video is judged by where its score lies: the subject offsets make that much harder than pairs
    alone = ((p_paired > 0.5) == test_genuine).mean()
    assert alone < paired_right


def test_videos_without_a_partner_take_the_plain_svms_vote():
    x, subjects, emotions, genuine = pair_data(12, seed=2, cue=4.0)
    model, _ = fit_ranker(x, subjects, emotions, genuine, n_models=9, seed=0)
    with torch.no_grad():
        p_alone = model(with_flag(x, False)).softmax(dim=1)[:, 1].numpy()
        votes = model.votes(torch.from_numpy(x).float()).numpy()
    assert np.allclose(p_alone, np.clip(votes, 1e-4, 1 - 1e-4), atol=1e-5)
    assert set(np.round(votes * 9).astype(int)) <= set(range(10))  # shares of 9 votes
    assert ((votes > 0.5) == genuine).mean() > 0.7  # a strong cue: the classifier learns it too


def test_the_fitted_ensemble_survives_saving_in_half_precision(tmp_path):
    x, subjects, emotions, genuine = pair_data(8, seed=3)
    model, _ = fit_ranker(x, subjects, emotions, genuine, n_models=5, seed=0)
    path = results.save_weights(tmp_path / "fold_0.pt", model)
    reloaded = RankSVMEnsemble(x.shape[1], 5)
    reloaded.load_state_dict(torch.load(path, weights_only=True))
    inputs = with_flag(x, True)
    with torch.no_grad():
        assert torch.allclose(model(inputs).softmax(1), reloaded(inputs).softmax(1), atol=2e-2)


def test_too_few_pairs_are_refused_with_the_reason():
    x, subjects, emotions, genuine = pair_data(1, seed=4)
    with pytest.raises(ValueError, match="at least two training pairs"):
        fit_ranker(x[:2], subjects[:2], emotions[:2], genuine[:2])


def test_the_same_seed_fits_the_same_ensemble():
    x, subjects, emotions, genuine = pair_data(6, seed=5)
    first, _ = fit_ranker(x, subjects, emotions, genuine, n_models=7, seed=3)
    second, _ = fit_ranker(x, subjects, emotions, genuine, n_models=7, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


def test_two_confident_videos_of_a_pair_keep_their_order():
    ensemble = RankSVMEnsemble(2, n_models=1)
    ensemble.rank_weights.copy_(torch.tensor([[1.0, 0.0]]))
    ensemble.calibration.copy_(torch.tensor([1.0, 0.0]))
    logits = ensemble(with_flag(np.array([[12.0, 0.0], [14.0, 0.0], [-13.0, 0.0], [-15.0, 0.0]]), True))
    p = logits.softmax(dim=1)
    # a clamped probability (1 - 1e-4) made both of these pairs ties, which the paired protocol scores 0.5
    assert p[1, 1] > p[0, 1] and p[2, 1] > p[3, 1]
    assert torch.isfinite(logits).all()


def test_the_calibration_never_reverses_the_ranking():
    wrong_way = np.array([[-1.0, 1.0], [-2.0, 0.5], [-0.5, 2.0], [-1.5, 1.0]])  # genuine scored lower out of bag
    slope, _ = calibrate_scores(wrong_way, 8)
    assert slope > 0
    assert calibrate_scores(-wrong_way, 8)[0] > 0
