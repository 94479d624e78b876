"""Losses against values computed by hand with plain math (not with the code under test)."""

import math

import pytest
import torch

from helpers.models import losses

LOGITS = [[2.0, 0.0, 0.0], [0.0, 1.0, -1.0]]
TARGET = [0, 2]


def softmax(row):
    exps = [math.exp(v) for v in row]
    return [e / sum(exps) for e in exps]


def sigmoid(v):
    return 1 / (1 + math.exp(-v))


def compute(name, **params):
    return losses.build_loss(name, **params)(torch.tensor(LOGITS), torch.tensor(TARGET)).item()


def test_cross_entropy_by_hand():
    expected = sum(-math.log(softmax(row)[t]) for row, t in zip(LOGITS, TARGET)) / 2
    assert compute("cross_entropy") == pytest.approx(expected, rel=1e-6)
    # first sample alone: p = e^2 / (e^2 + 2)
    assert -math.log(math.exp(2) / (math.exp(2) + 2)) == pytest.approx(0.2395, abs=1e-4)


def test_focal_by_hand():
    alpha, gamma = 0.25, 2.0
    per_sample = []
    for row, t in zip(LOGITS, TARGET):
        p = softmax(row)[t]
        per_sample.append(-alpha * (1 - p) ** gamma * math.log(p))
    assert compute("focal", alpha=alpha, gamma=gamma) == pytest.approx(sum(per_sample) / 2, rel=1e-6)
    # the first sample is easy (p = 0.787): focal weight (1 - p)^2 = 0.0454 shrinks it 88 times vs CE * alpha
    assert per_sample[0] == pytest.approx(0.25 * 0.045373 * 0.239543, rel=1e-3)


def test_focal_with_gamma_zero_and_no_alpha_is_cross_entropy():
    assert compute("focal", alpha=None, gamma=0) == pytest.approx(compute("cross_entropy"), rel=1e-6)


def test_focal_per_class_alpha():
    alpha = [1.0, 2.0, 3.0]
    expected = sum(-alpha[t] * (1 - softmax(r)[t]) ** 2 * math.log(softmax(r)[t]) for r, t in zip(LOGITS, TARGET)) / 2
    assert compute("focal", alpha=alpha, gamma=2) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="3 classes"):
        compute("focal", alpha=[1.0, 2.0])


def test_multilabel_focal_by_hand():
    alpha, gamma = 0.25, 2.0
    totals = []
    for row, t in zip(LOGITS, TARGET):
        total = 0.0
        for k, z in enumerate(row):
            p = sigmoid(z)
            p_t, a_t = (p, alpha) if k == t else (1 - p, 1 - alpha)
            total += -a_t * (1 - p_t) ** gamma * math.log(p_t)
        totals.append(total)
    assert compute("mfl", alpha=alpha, gamma=gamma) == pytest.approx(sum(totals) / 2, rel=1e-6)
    # first sample by hand: 0.25*(1-0.8808)^2*0.1269 + 2 * 0.75*0.5^2*ln 2
    assert totals[0] == pytest.approx(0.000451 + 2 * 0.129965, rel=1e-3)


def test_euclidean_by_hand():
    expected = 0.0
    for row, t in zip(LOGITS, TARGET):
        probs = softmax(row)
        expected += sum((p - (1.0 if k == t else 0.0)) ** 2 for k, p in enumerate(probs)) / 3
    assert compute("euclidean") == pytest.approx(expected / 2, rel=1e-6)


@pytest.mark.parametrize("name", list(losses.LOSSES))
def test_every_loss_backpropagates_and_prefers_the_right_class(name):
    logits = torch.zeros(4, 12, requires_grad=True)
    target = torch.tensor([0, 3, 5, 11])
    loss = losses.build_loss(name)(logits, target)
    loss.backward()
    # gradient descent raises the true class' logit
    assert all(logits.grad[i, t] < 0 for i, t in enumerate(target.tolist()))
    confident = torch.full((4, 12), -5.0)
    confident[torch.arange(4), target] = 5.0
    assert losses.build_loss(name)(confident, target) < loss


def test_registry_names_and_aliases():
    assert losses.canonical_name("MFL") == "multilabel_focal"
    assert isinstance(losses.build_loss("ce"), torch.nn.Module)
    with pytest.raises(ValueError, match="cross_entropy"):
        losses.build_loss("hinge")
