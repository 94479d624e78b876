"""Gradient-boosted trees (scikit-learn's ``GradientBoostingClassifier``, two classes) held as tensors, so that
a model that ends in them predicts, saves and reloads like any torch module of the project.

``fit_boosted_trees`` fits scikit-learn's classifier and copies its trees into a ``BoostedTrees`` module: per
tree and node the feature tested (-1 at a leaf), the threshold, the two children and the leaf value, padded to
the full binary tree of ``max_depth``. Its ``forward`` walks every tree at once and returns the decision score
(``init + learning_rate * sum of the trees' values``, the log-odds of class 1), as ``decision_function`` does.
``fit_logistic_reader`` does the same for scikit-learn's logistic regression (a ``LogisticReader``): a linear
reading of the same features, for codes too few for trees.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from torch import Tensor, nn

#: A training set of one class only: its share is kept this far from 0 and 1, so that its log-odds stay finite.
PRIOR_EPSILON = 0.05


class BoostedTrees(nn.Module):
    """Up to ``n_trees`` regression trees of depth <= ``max_depth`` on ``n_features`` inputs; empty (score 0)
    until ``load_fitted`` copies a fitted classifier into it."""

    def __init__(self, n_features: int, n_trees: int = 100, max_depth: int = 3):
        super().__init__()
        nodes = 2 ** (max_depth + 1) - 1
        self.n_features, self.max_depth = n_features, max_depth
        self.register_buffer("feature", torch.full((n_trees, nodes), -1, dtype=torch.long))
        self.register_buffer("threshold", torch.zeros(n_trees, nodes))
        self.register_buffer("left", torch.zeros(n_trees, nodes, dtype=torch.long))
        self.register_buffer("right", torch.zeros(n_trees, nodes, dtype=torch.long))
        self.register_buffer("value", torch.zeros(n_trees, nodes))
        self.register_buffer("init", torch.zeros(()))
        self.register_buffer("learning_rate", torch.zeros(()))

    def load_fitted(self, classifier: GradientBoostingClassifier, features: np.ndarray) -> None:
        """Copy ``classifier``'s trees (fitted on ``features``, whose first row gives its initial score)."""
        trees = [stage[0].tree_ for stage in classifier.estimators_]
        if len(trees) > self.feature.shape[0] or max(tree.max_depth for tree in trees) > self.max_depth:
            raise ValueError(f"the classifier has {len(trees)} trees of depth up to "
                             f"{max(tree.max_depth for tree in trees)}; this module holds {self.feature.shape[0]} of "
                             f"depth {self.max_depth}")
        self.feature.fill_(-1), self.threshold.zero_(), self.left.zero_(), self.right.zero_(), self.value.zero_()
        for index, tree in enumerate(trees):
            n = tree.node_count
            leaf = tree.children_left < 0
            self.feature[index, :n] = torch.from_numpy(np.where(leaf, -1, tree.feature).astype(np.int64))
            self.threshold[index, :n] = torch.from_numpy(tree.threshold.astype(np.float32))
            self.left[index, :n] = torch.from_numpy(np.where(leaf, 0, tree.children_left).astype(np.int64))
            self.right[index, :n] = torch.from_numpy(np.where(leaf, 0, tree.children_right).astype(np.int64))
            self.value[index, :n] = torch.from_numpy(tree.value[:, 0, 0].astype(np.float32))
        self.learning_rate.fill_(classifier.learning_rate)
        first = np.asarray(features[:1], dtype=np.float32)
        trees_sum = sum(stage[0].predict(first)[0] for stage in classifier.estimators_)
        self.init.fill_(float(classifier.decision_function(first)[0] - classifier.learning_rate * trees_sum))

    def load_constant(self, log_odds: float) -> None:
        """No trees, one score for every input (a training set of one class, or none)."""
        self.feature.fill_(-1), self.value.zero_(), self.learning_rate.zero_()
        self.init.fill_(log_odds)

    def forward(self, features: Tensor) -> Tensor:
        """``[B, n_features]`` -> ``[B]`` decision scores (log-odds of class 1)."""
        x = features.float()
        node = torch.zeros(len(x), self.feature.shape[0], dtype=torch.long, device=x.device)
        trees = torch.arange(self.feature.shape[0], device=x.device)
        for _ in range(self.max_depth):
            tested = self.feature[trees, node]  # [B, trees]
            value = x.gather(1, tested.clamp(min=0))
            child = torch.where(value <= self.threshold[trees, node], self.left[trees, node], self.right[trees, node])
            node = torch.where(tested < 0, node, child)
        return self.init + self.learning_rate * self.value[trees, node].sum(dim=1)


def fit_boosted_trees(features: np.ndarray, positive: np.ndarray, n_trees: int = 100, max_depth: int = 3,
                      learning_rate: float = 0.1, seed: int = 0) -> BoostedTrees:
    """scikit-learn's gradient boosting on ``features`` ``[N, D]`` for ``positive`` (bool ``[N]``), as a
    ``BoostedTrees``; a training set of one class (or none) gives the constant log-odds of its share."""
    features, positive = np.asarray(features, dtype=np.float32), np.asarray(positive, dtype=bool)
    trees = BoostedTrees(features.shape[1], n_trees, max_depth)
    if len(positive) == 0 or positive.all() or not positive.any():
        share = float(np.clip(positive.mean() if len(positive) else 0.5, PRIOR_EPSILON, 1 - PRIOR_EPSILON))
        trees.load_constant(float(np.log(share / (1 - share))))
        return trees
    classifier = GradientBoostingClassifier(n_estimators=n_trees, max_depth=max_depth, learning_rate=learning_rate,
                                            random_state=seed)
    classifier.fit(features, positive)
    trees.load_fitted(classifier, features)
    return trees


class LogisticReader(nn.Module):
    """A logistic regression on ``n_features`` inputs held as tensors: ``forward`` returns its log-odds of class 1
    (``decision_function``); score 0 until ``fit_logistic_reader`` fills it."""

    def __init__(self, n_features: int):
        super().__init__()
        self.register_buffer("weight", torch.zeros(n_features))
        self.register_buffer("bias", torch.zeros(()))

    def load_constant(self, log_odds: float) -> None:
        """One score for every input (a training set of one class, or none)."""
        self.weight.zero_()
        self.bias.fill_(log_odds)

    def forward(self, features: Tensor) -> Tensor:
        return features.float() @ self.weight + self.bias


def fit_logistic_reader(features: np.ndarray, positive: np.ndarray, C: float = 1.0) -> LogisticReader:
    """scikit-learn's logistic regression (L2, ``C``) on ``features`` for ``positive``, as a ``LogisticReader``;
    a training set of one class (or none) gives the constant log-odds of its share, as ``fit_boosted_trees``."""
    features, positive = np.asarray(features, dtype=np.float32), np.asarray(positive, dtype=bool)
    reader = LogisticReader(features.shape[1])
    if len(positive) == 0 or positive.all() or not positive.any():
        share = float(np.clip(positive.mean() if len(positive) else 0.5, PRIOR_EPSILON, 1 - PRIOR_EPSILON))
        reader.load_constant(float(np.log(share / (1 - share))))
        return reader
    classifier = LogisticRegression(C=C, max_iter=2000).fit(features, positive)
    reader.weight.copy_(torch.from_numpy(classifier.coef_[0].astype(np.float32)))
    reader.bias.fill_(float(classifier.intercept_[0]))
    return reader
