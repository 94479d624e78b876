"""The ChaLearn LAP 2017 winners' ranker (NIT-OVGU: Saxen, Werner, Al-Hamadi 2017): an ensemble of linear
Rank-SVMs on facial activity descriptors, with an ensemble of plain linear SVMs for videos without a partner.

The challenge judged *pairs*: the genuine and the posed video of one subject and emotion, which is which?
A **Rank-SVM** is a linear SVM on pair differences: ``x_genuine - x_posed`` is one class, ``x_posed -
x_genuine`` the other. Each of ``n_models`` models (75 in the paper) is fitted on a random half of the
training pairs; one model for all emotions. A video whose partner is missing cannot be ranked: a second
ensemble of plain linear SVMs (genuine vs posed, one video at a time, each on a balanced half of the videos)
decides it by the share of its models that vote "genuine".

The SVMs (``svm_loss``, ``intercept``): scikit-learn's ``LinearSVC`` (liblinear, squared hinge, no
intercept: today's default) or, with ``svm_loss="hinge"`` and an intercept, ``SVC(kernel="linear")``
(libsvm, hinge loss, an unpenalised intercept), the SVMs NIT-OVGU used.

How a pair is decided (``combination``):

- ``"mean"`` (default): each video's ranking score is the mean over the models of ``w . z`` (``z`` the
  video's z-scored descriptors); within a pair the higher score is called genuine, and ``p(genuine) =
  sigmoid(a * s + b)``, where ``a, b`` are a logistic fit of the genuineness of the *training* videos on
  their **out-of-bag** scores (each scored only by the models whose half left its pair out).
- ``"votes"`` (NIT-OVGU's code): the rows are z-scored pair differences with the emotion's one-hot code
  appended undifferenced (the last ``emotion_columns`` descriptors), each model votes on the difference
  ``x_a - x_b`` and on ``x_b - x_a``, and video ``a`` gets the share of votes that call it the genuine one,
  ``p(genuine) = (votes(a - b) + 1 - votes(b - a)) / 2`` (the partner gets ``1 - p``). The video above the
  pair's median share (the higher of the two) is called genuine; equal shares are a tie (0.5 each).
  Its input therefore carries the partner's descriptors.

``fit_ranker`` fits both ensembles with scikit-learn and returns a ``RankSVMEnsemble``: a torch module
holding only their coefficients (buffers), so the project's runner predicts with it, saves it and reloads
it like any other model. Its input is a batch ``[B, 2 D + 1]``: the video's ``D`` descriptors, its
partner's (zeros without one; only ``"votes"`` reads them) and, last, 1 where the video has a partner in
its split (two videos of its subject and emotion) and 0 where not; its output, two logits (posed, genuine).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC, LinearSVC
from torch import Tensor, nn

#: Keeps the logits of the vote shares finite: a vote share of 0 or 1 becomes this far from it.
EPSILON = 1e-4
SVM_LOSSES = ("squared_hinge", "hinge")
COMBINATIONS = ("mean", "votes")


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
        # the vote combination's: the rankers' intercepts, the difference rows' standardisation, which
        # columns are the emotion code (kept, not differenced) and whether votes decide (1) or mean scores (0)
        self.register_buffer("rank_bias", torch.zeros(n_models))
        self.register_buffer("difference_mean", torch.zeros(n_features))
        self.register_buffer("difference_scale", torch.ones(n_features))
        self.register_buffer("emotion_mask", torch.zeros(n_features))
        self.register_buffer("use_votes", torch.tensor(0.0))
        self._register_load_state_dict_pre_hook(self._defaults_of_older_models)

    def _defaults_of_older_models(self, state_dict, prefix, *args) -> None:
        """Models saved before the vote combination existed lack its buffers: they combined by mean score."""
        for name in ("rank_bias", "difference_mean", "difference_scale", "emotion_mask", "use_votes"):
            state_dict.setdefault(prefix + name, getattr(self, name).clone())

    def standardise(self, features: Tensor) -> Tensor:
        return (features - self.mean) / self.scale

    def difference_rows(self, a: Tensor, b: Tensor) -> Tensor:
        """The standardised rows the rankers of the vote combination read: ``a - b``, the emotion code of ``a``."""
        rows = torch.where(self.emotion_mask > 0.5, a, a - b)
        return (rows - self.difference_mean) / self.difference_scale

    def vote_share(self, a: Tensor, b: Tensor) -> Tensor:
        """The share of the rankers' votes that call ``a`` (not its partner ``b``) the genuine video."""
        def votes(x: Tensor, y: Tensor) -> Tensor:
            return ((self.difference_rows(x, y) @ self.rank_weights.T + self.rank_bias) > 0).float().mean(dim=1)
        return (votes(a, b) + 1.0 - votes(b, a)) / 2

    def rank_scores(self, features: Tensor) -> Tensor:
        """Each video's ranking score: the ensemble's mean ``w . z`` (higher: more genuine)."""
        return self.standardise(features) @ self.rank_weights.T.mean(dim=1)

    def votes(self, features: Tensor) -> Tensor:
        """The share of the plain SVMs that call each video genuine."""
        return ((self.standardise(features) @ self.svm_weights.T + self.svm_bias) > 0).float().mean(dim=1)

    def forward(self, x: Tensor) -> Tensor:
        features, partnered = x[:, :self.n_features].float(), x[:, -1] > 0.5
        if self.use_votes > 0.5:
            shares = self.vote_share(features, x[:, self.n_features:2 * self.n_features].float())
            ranked = _log_probabilities(shares)
        else:
            a, b = self.calibration
            logit = a * self.rank_scores(features) + b
            # log-sigmoid rather than a clamped probability: two confident videos of a pair keep distinct scores
            ranked = torch.stack([nn.functional.logsigmoid(-logit), nn.functional.logsigmoid(logit)], dim=1)
        return torch.where(partnered[:, None], ranked, _log_probabilities(self.votes(features)))


def _log_probabilities(p: Tensor) -> Tensor:
    """Logits (posed, genuine) of a probability of genuine, kept finite at 0 and 1."""
    p = p.clamp(EPSILON, 1 - EPSILON)
    return torch.stack([torch.log1p(-p), torch.log(p)], dim=1)


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


def linear_svm(C: float, intercept: bool, seed: int, loss: str = "squared_hinge") -> LinearSVC | SVC:
    """A linear SVM: libsvm's (``SVC(kernel="linear")``, unpenalised intercept) for the hinge loss with an
    intercept, as NIT-OVGU used; liblinear's ``LinearSVC`` otherwise."""
    if loss not in SVM_LOSSES:
        raise ValueError(f"svm_loss must be one of {', '.join(SVM_LOSSES)}, got {loss!r}")
    if loss == "hinge" and intercept:
        return SVC(kernel="linear", C=C)
    return LinearSVC(C=C, loss=loss, fit_intercept=intercept, dual=True if loss == "hinge" else "auto",
                     max_iter=20000, random_state=seed)


def fit_ranker(features: np.ndarray, subjects: np.ndarray, emotions: np.ndarray, genuine: np.ndarray,
               n_models: int = 75, C: float = 0.1, seed: int = 0, svm_loss: str = "squared_hinge",
               intercept: bool = False, combination: str = "mean", emotion_columns: int = 0,
               ) -> tuple[RankSVMEnsemble, RankerFit]:
    """Fit both ensembles on training videos (``features`` ``[N, D]``; their subject, emotion and genuineness):
    each ranker on a random half of the pairs, each plain SVM on a balanced half of the videos; the last
    ``emotion_columns`` descriptors are the emotion's one-hot code (the vote combination keeps them whole)."""
    if combination not in COMBINATIONS:
        raise ValueError(f"combination must be one of {', '.join(COMBINATIONS)}, got {combination!r}")
    features = np.asarray(features, dtype=np.float64)
    genuine = np.asarray(genuine).astype(bool)
    pairs = training_pairs(np.asarray(subjects), np.asarray(emotions), genuine)
    if len(pairs) < 2 or genuine.all() or not genuine.any():
        raise ValueError(f"the Rank-SVM needs at least two training pairs of one subject and emotion, and both "
                         f"genuine and posed videos: got {len(pairs)} pairs of {len(features)} videos")
    mean, scale = _standardisation(features)
    z = (features - mean) / scale
    votes = combination == "votes"
    emotion_mask = np.zeros(features.shape[1], dtype=bool)
    emotion_mask[features.shape[1] - emotion_columns:] = emotion_columns > 0
    rows = np.vstack([_difference_rows(features, pairs[:, 0], pairs[:, 1], emotion_mask),
                      _difference_rows(features, pairs[:, 1], pairs[:, 0], emotion_mask)])
    difference_mean, difference_scale = _standardisation(rows)
    rows = (rows - difference_mean) / difference_scale
    rng = np.random.default_rng(seed)
    model = RankSVMEnsemble(features.shape[1], n_models)
    rank_weights, rank_bias, svm_weights, svm_bias = [], [], [], []
    out_of_bag = np.zeros((n_models, len(pairs)), dtype=bool)
    for m in range(n_models):
        half = rng.permutation(len(pairs))[:max(1, len(pairs) // 2)]
        out_of_bag[m] = ~np.isin(np.arange(len(pairs)), half)
        if votes:
            x = np.vstack([rows[half], rows[len(pairs) + half]])
        else:
            differences = z[pairs[half, 0]] - z[pairs[half, 1]]
            x = np.vstack([differences, -differences])
        ranker = linear_svm(C, intercept, seed + m, svm_loss).fit(x, np.r_[np.ones(len(half)), -np.ones(len(half))])
        rank_weights.append(ranker.coef_.ravel())
        rank_bias.append(float(np.ravel(ranker.intercept_)[0]) if intercept else 0.0)
        videos = _balanced_half(genuine, rng)
        classifier = linear_svm(C, True, seed + m, svm_loss).fit(z[videos], genuine[videos].astype(int))
        svm_weights.append(classifier.coef_.ravel())
        svm_bias.append(float(classifier.intercept_[0]))
    weights = np.asarray(rank_weights)
    buffers = {"mean": mean, "scale": scale, "rank_weights": weights, "svm_weights": np.asarray(svm_weights),
               "svm_bias": np.asarray(svm_bias), "rank_bias": np.asarray(rank_bias),
               "difference_mean": difference_mean, "difference_scale": difference_scale,
               "emotion_mask": emotion_mask.astype(float), "use_votes": np.asarray(float(votes))}
    for name, value in buffers.items():
        getattr(model, name).copy_(torch.as_tensor(value, dtype=torch.float32))
    if votes:
        margin = _out_of_bag_vote_margin(model, features, pairs, out_of_bag)
        covered = ~np.isnan(np.asarray(margin, dtype=float))
    else:
        oob_scores = _out_of_bag_scores(z, pairs, weights, out_of_bag)
        covered = ~np.isnan(oob_scores[:, 0])
        model.calibration.copy_(torch.tensor(calibrate_scores(oob_scores[covered], len(features)), dtype=torch.float32))
        margin = oob_scores[:, 0] - oob_scores[:, 1]
    margin = np.asarray(margin, dtype=float)[covered]
    accuracy = float(np.mean(np.where(margin > 0, 1.0, np.where(margin == 0, 0.5, 0.0)))) if covered.any() else np.nan
    return model, RankerFit(int(len(pairs)), accuracy, float(covered.mean()))


def _standardisation(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each column; a constant column keeps scale 1 (it stays 0, never / 0)."""
    mean, scale = values.mean(axis=0), values.std(axis=0)
    scale[scale < 1e-8] = 1.0
    return mean, scale


def _difference_rows(features: np.ndarray, a: np.ndarray, b: np.ndarray, emotion_mask: np.ndarray) -> np.ndarray:
    return np.where(emotion_mask, features[a], features[a] - features[b])


def _out_of_bag_vote_margin(model: RankSVMEnsemble, features: np.ndarray, pairs: np.ndarray,
                            out_of_bag: np.ndarray) -> np.ndarray:
    """Each training pair's genuine video's vote share minus 0.5, counting only the rankers that left the pair
    out (NaN where every ranker saw it)."""
    genuine = torch.as_tensor(features[pairs[:, 0]], dtype=torch.float32)
    posed = torch.as_tensor(features[pairs[:, 1]], dtype=torch.float32)
    with torch.no_grad():
        def decisions(x: Tensor, y: Tensor) -> np.ndarray:
            return ((model.difference_rows(x, y) @ model.rank_weights.T + model.rank_bias) > 0).numpy()  # [P, M]
        share = (decisions(genuine, posed) + 1.0 - decisions(posed, genuine)) / 2
    counts = out_of_bag.T.sum(axis=1)
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, (share * out_of_bag.T).sum(axis=1) / np.maximum(counts, 1) - 0.5, np.nan)


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
