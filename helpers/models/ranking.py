"""The ChaLearn LAP 2017 winners' ranker (NIT-OVGU: Saxen, Werner, Al-Hamadi 2017): an ensemble of linear
Rank-SVMs on facial activity descriptors, with an ensemble of plain linear SVMs for videos without a partner.

The challenge judged *pairs*: the genuine and the posed video of one subject and emotion, which is which?
A **Rank-SVM** learns a weight vector ``w`` with ``w . x_genuine > w . x_posed``: a linear SVM on the pair
differences ``x_genuine - x_posed`` (label +1) and ``x_posed - x_genuine`` (label -1), without intercept.
The paper's ensemble: 75 such models, each trained on a random half of the training pairs, their votes
combined; one model for all emotions beat per-emotion models, and linear beat RBF kernels. A video whose
partner is missing cannot be ranked: a second ensemble of plain linear SVMs (genuine vs posed, one video at
a time) decides it.

``fit_ranker`` fits both with scikit-learn and returns a ``RankSVMEnsemble``: a torch module holding only
their coefficients (buffers), so the project's runner predicts with it, saves it and reloads it like any
other model. Its input is a batch ``[B, D + 1]``: the ``D`` descriptors and, last, 1 where the video has a
partner in its split (two videos of its subject and emotion) and 0 where not; its output, two logits
(posed, genuine):

- a video with a partner gets ``p(genuine) = sigmoid(a * s + b)`` from its ranking score ``s`` (the mean of
  the 75 models' ``w . x``): within a pair the higher score is called genuine, as in the challenge, and alone
  the video is judged by where its score lies; ``a`` and ``b`` are a logistic fit of the genuineness of the
  *training* videos on their **out-of-bag** scores (each scored only by the models whose half left its pair
  out, so the fit sees scores like a test video's, not the optimistic ones of training data);
- a video without a partner gets the share of the plain SVMs that vote "genuine".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from torch import Tensor, nn

#: Keeps the logits of the plain SVMs' votes finite: a vote share of 0 or 1 becomes this far from it.
EPSILON = 1e-4


class RankSVMEnsemble(nn.Module):
    """The fitted ensembles as a torch module (see the module docstring); ``n_features`` descriptors in."""

    def __init__(self, n_features: int, n_models: int = 75):
        super().__init__()
        self.n_features = n_features
        self.n_models = n_models
        self.pretrained = False  # fitted on the fold's training videos only
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.register_buffer("rank_weights", torch.zeros(n_models, n_features))
        self.register_buffer("svm_weights", torch.zeros(n_models, n_features))
        self.register_buffer("svm_bias", torch.zeros(n_models))
        self.register_buffer("calibration", torch.tensor([1.0, 0.0]))  # a, b of sigmoid(a * s + b)

    def standardise(self, features: Tensor) -> Tensor:
        return (features - self.mean) / self.scale

    def rank_scores(self, features: Tensor) -> Tensor:
        """Each video's ranking score: the ensemble's mean ``w . z`` (higher: more genuine)."""
        return self.standardise(features) @ self.rank_weights.T.mean(dim=1)

    def votes(self, features: Tensor) -> Tensor:
        """The share of the plain SVMs that call each video genuine."""
        return ((self.standardise(features) @ self.svm_weights.T + self.svm_bias) > 0).float().mean(dim=1)

    def forward(self, x: Tensor) -> Tensor:
        features, partnered = x[:, :-1].float(), x[:, -1] > 0.5
        a, b = self.calibration
        logit = a * self.rank_scores(features) + b
        # log-sigmoid rather than a clamped probability: two confident videos of a pair keep distinct scores
        ranked = torch.stack([nn.functional.logsigmoid(-logit), nn.functional.logsigmoid(logit)], dim=1)
        p = self.votes(features).clamp(EPSILON, 1 - EPSILON)
        voted = torch.stack([torch.log1p(-p), torch.log(p)], dim=1)
        return torch.where(partnered[:, None], ranked, voted)


@dataclass
class RankerFit:
    """What fitting learned beside the coefficients: the numbers a fold's history records."""

    pairs: int
    oob_paired_accuracy: float  # out-of-bag: each training pair ranked by the models that never saw it
    oob_coverage: float  # share of training pairs that at least one model left out


def training_pairs(subjects: np.ndarray, emotions: np.ndarray, genuine: np.ndarray) -> np.ndarray:
    """``[P, 2]`` row indices ``(genuine video, posed video)`` of every subject and emotion with both."""
    first: dict[tuple, dict[bool, int]] = {}
    for row, key in enumerate(zip(subjects, emotions)):
        first.setdefault(key, {}).setdefault(bool(genuine[row]), row)
    pairs = [(both[True], both[False]) for both in first.values() if len(both) == 2]
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def _linear_svm(C: float, intercept: bool, seed: int) -> LinearSVC:
    return LinearSVC(C=C, fit_intercept=intercept, dual="auto", max_iter=20000, random_state=seed)


def fit_ranker(features: np.ndarray, subjects: np.ndarray, emotions: np.ndarray, genuine: np.ndarray,
               n_models: int = 75, C: float = 0.1, seed: int = 0) -> tuple[RankSVMEnsemble, RankerFit]:
    """Fit both ensembles on training videos (``features`` ``[N, D]``; their subject, emotion and genuineness):
    each model on a random half of the pairs (Rank-SVM) or of the videos (plain SVM)."""
    features = np.asarray(features, dtype=np.float64)
    genuine = np.asarray(genuine).astype(bool)
    pairs = training_pairs(np.asarray(subjects), np.asarray(emotions), genuine)
    if len(pairs) < 2 or genuine.all() or not genuine.any():
        raise ValueError(f"the Rank-SVM needs at least two training pairs of one subject and emotion, and both "
                         f"genuine and posed videos: got {len(pairs)} pairs of {len(features)} videos")
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-8] = 1.0  # a constant descriptor (e.g. one emotion only) stays 0, never divides by 0
    z = (features - mean) / scale
    rng = np.random.default_rng(seed)
    model = RankSVMEnsemble(features.shape[1], n_models)
    rank_weights, svm_weights, svm_bias = [], [], []
    out_of_bag = np.zeros((n_models, len(pairs)), dtype=bool)
    for m in range(n_models):
        half = rng.permutation(len(pairs))[:max(1, len(pairs) // 2)]
        out_of_bag[m] = ~np.isin(np.arange(len(pairs)), half)
        differences = z[pairs[half, 0]] - z[pairs[half, 1]]
        ranker = _linear_svm(C, False, seed + m).fit(np.vstack([differences, -differences]),
                                                     np.r_[np.ones(len(half)), -np.ones(len(half))])
        rank_weights.append(ranker.coef_.ravel())
        videos = _balanced_half(genuine, rng)
        classifier = _linear_svm(C, True, seed + m).fit(z[videos], genuine[videos].astype(int))
        svm_weights.append(classifier.coef_.ravel())
        svm_bias.append(float(classifier.intercept_[0]))
    weights = np.asarray(rank_weights)
    oob_scores = _out_of_bag_scores(z, pairs, weights, out_of_bag)
    covered = ~np.isnan(oob_scores[:, 0])
    calibration = calibrate_scores(oob_scores[covered], len(features))
    model.mean.copy_(torch.from_numpy(mean).float())
    model.scale.copy_(torch.from_numpy(scale).float())
    model.rank_weights.copy_(torch.from_numpy(weights).float())
    model.svm_weights.copy_(torch.from_numpy(np.asarray(svm_weights)).float())
    model.svm_bias.copy_(torch.tensor(svm_bias, dtype=torch.float32))
    model.calibration.copy_(torch.tensor(calibration, dtype=torch.float32))
    margin = oob_scores[covered, 0] - oob_scores[covered, 1]
    accuracy = float(np.mean(np.where(margin > 0, 1.0, np.where(margin == 0, 0.5, 0.0)))) if covered.any() else np.nan
    return model, RankerFit(int(len(pairs)), accuracy, float(covered.mean()))


def _balanced_half(genuine: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Half of the videos of each class (at least one of each): every plain SVM sees both classes."""
    chosen = [rng.permutation(np.flatnonzero(genuine == value))[:max(1, int((genuine == value).sum()) // 2)]
              for value in (True, False)]
    return np.concatenate(chosen)


def _out_of_bag_scores(z: np.ndarray, pairs: np.ndarray, weights: np.ndarray, out_of_bag: np.ndarray) -> np.ndarray:
    """``[P, 2]``: the mean score of each training pair's genuine and posed video over the models that left
    the pair out (NaN where every model saw it)."""
    scores = z[pairs.reshape(-1)] @ weights.T  # [2P, M]
    left_out = np.repeat(out_of_bag.T, 2, axis=0)  # [2P, M]
    counts = left_out.sum(axis=1)
    with np.errstate(invalid="ignore"):
        mean = np.where(counts > 0, (scores * left_out).sum(axis=1) / np.maximum(counts, 1), np.nan)
    return mean.reshape(-1, 2)


def calibrate_scores(oob_scores: np.ndarray, n_videos: int) -> tuple[float, float]:
    """``(a, b)`` of ``sigmoid(a * s + b)``: a logistic fit of genuineness on the out-of-bag scores. The slope
    stays positive, so the calibration never reverses the ranking within a pair: where the fit finds no
    positive relation (a ranker no better than chance out of bag), the scores are only standardised."""
    if len(oob_scores) == 0:
        return 1.0, 0.0
    scores = oob_scores.reshape(-1, 1)  # genuine, posed, genuine, posed ...
    truth = np.tile([1, 0], len(oob_scores))
    fitted = LogisticRegression(C=1.0).fit(scores, truth)
    slope, intercept = float(fitted.coef_[0, 0]), float(fitted.intercept_[0])
    if slope > 0:
        return slope, intercept
    spread = float(np.std(scores)) or 1.0
    return 1.0 / spread, -float(np.mean(scores)) / spread
