"""Subject-level statistics (helpers/analysis/stats.py): metrics by subject, the cluster bootstrap, the
subject-level sign-flip test, and the simulation of the issue that shows why subjects, not videos, are the
unit of independence."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from helpers import labels
from helpers.analysis import compare, stats

N_SUBJECTS, N_VIDEOS, N_PAIRS = 50, 12, 6


def videos_table(subjects, model="m/run", seed=0, fold=0, pred_right=0.5, genuine_shift=0.2) -> pd.DataFrame:
    """Video scores of one model (the columns of ``compare.video_scores``) with random genuineness, rounded
    to one decimal so that some pairs tie, and 12-class predictions right with probability ``pred_right``."""
    rng = np.random.default_rng(seed)
    rows = []
    for subject in subjects:
        for code in labels.CODES:
            video = labels.parse_code(code)
            p = float(np.clip(rng.normal(0.5 + (genuine_shift if video.genuine else -genuine_shift), 0.25), 0, 1))
            pred = video.label if rng.random() < pred_right else int(rng.integers(0, 12))
            rows.append({"model": model, "approach": model.split("/")[0], "run": model, "fold": fold,
                         "subject": subject, "code": code, "label": video.label,
                         "emotion_label": video.emotion_index, "authenticity_label": video.authenticity_index,
                         "p_genuine": round(p, 1), "pred": pred})
    return pd.DataFrame(rows)


def subjects(n: int) -> list[str]:
    return [f"s{k:03d}" for k in range(n)]


# ---- a metric by subject -----------------------------------------------------------------------------


def test_subject_totals_pool_to_the_plain_metric():
    rng = np.random.default_rng(0)
    who = rng.choice(["a", "b", "c", "d"], size=97)
    scores = rng.choice([0.0, 0.5, 1.0], size=97)
    metric = stats.subject_totals(who, scores, unit="pairs")
    assert list(metric.subjects) == ["a", "b", "c", "d"]
    assert metric.value == pytest.approx(scores.mean())
    assert metric.n_items == 97 and metric.n_subjects == 4
    for subject, numerator, denominator in zip(metric.subjects, metric.numerator, metric.denominator):
        assert numerator == pytest.approx(scores[who == subject].sum())
        assert denominator == (who == subject).sum()
    frame = metric.as_frame()
    assert list(frame.columns) == ["subject", "numerator", "denominator", "metric"] and len(frame) == 4


def test_the_three_metrics_equal_those_of_compare():
    videos = videos_table(subjects(7))
    authenticity = stats.totals(videos, "authenticity")
    assert authenticity.value == pytest.approx(compare.correct(videos).mean())
    assert (authenticity.n_items, authenticity.n_subjects, authenticity.unit) == (84, 7, "videos")
    assert stats.totals(videos, "label").value == pytest.approx(compare.correct(videos, "label").mean())
    paired = stats.totals(videos, "paired")
    protocol = compare.paired_protocol(videos)
    assert protocol["ties"] > 0  # the rounding makes ties, which count half in both
    assert paired.value == pytest.approx(protocol["accuracy"])
    assert (paired.n_items, paired.unit) == (protocol["pairs"], "pairs")


def test_item_scores_refuse_what_they_cannot_score():
    videos = videos_table(subjects(3))
    with pytest.raises(ValueError, match="12-class"):
        stats.item_scores(videos.assign(pred=-1), "label")
    with pytest.raises(ValueError, match="models"):
        stats.item_scores(pd.concat([videos, videos_table(subjects(3), model="other/run")]), "paired")
    with pytest.raises(ValueError, match="twice"):
        stats.item_scores(pd.concat([videos, videos.assign(fold=1)]), "authenticity")
    with pytest.raises(ValueError, match="task"):
        stats.item_scores(videos, "emotion")


# ---- the cluster bootstrap ---------------------------------------------------------------------------


def test_the_estimate_is_the_metric_and_the_interval_contains_it():
    videos = videos_table(subjects(20), seed=1)
    for task in stats.TASKS:
        metric = stats.totals(videos, task)
        result = stats.cluster_bootstrap(metric, n_boot=2000, seed=0)
        assert result["estimate"] == metric.value
        assert result["ci_low"] <= result["estimate"] <= result["ci_high"]
        assert result["ci_low"] < result["ci_high"]
        assert (result["n_subjects"], result["n_items"], result["level"]) == (20, metric.n_items, 0.95)
    narrower = stats.cluster_bootstrap(stats.totals(videos), n_boot=2000, level=0.5, seed=0)
    wider = stats.cluster_bootstrap(stats.totals(videos), n_boot=2000, level=0.99, seed=0)
    assert wider["ci_high"] - wider["ci_low"] > narrower["ci_high"] - narrower["ci_low"]


def test_the_interval_shrinks_as_subjects_grow():
    def width(n: int) -> float:
        result = stats.cluster_bootstrap(stats.totals(videos_table(subjects(n), seed=n)), n_boot=2000, seed=0)
        return result["ci_high"] - result["ci_low"]

    small, large = width(8), width(128)  # 16 times the subjects: about a quarter of the width
    assert large < small / 2


def test_a_seed_gives_the_same_interval_twice():
    metric = stats.totals(videos_table(subjects(15), seed=2))
    first, second = (stats.cluster_bootstrap(metric, n_boot=500, seed=7) for _ in range(2))
    assert first == second
    assert stats.cluster_bootstrap(metric, n_boot=500, seed=8) != first


def test_empty_input_is_an_error_and_one_subject_a_degenerate_interval():
    with pytest.raises(ValueError, match="empty"):
        stats.subject_totals([], [])
    with pytest.raises(ValueError, match="empty"):
        stats.totals(videos_table(subjects(2)).iloc[:0], "paired")
    with pytest.raises(ValueError, match="NaN"):
        stats.subject_totals(["a", "b"], [1.0, np.nan])
    with pytest.raises(ValueError, match="one subject per item"):
        stats.subject_totals(["a"], [1.0, 0.0])
    single = stats.cluster_bootstrap(stats.totals(videos_table(["only"])), n_boot=100)
    assert single["ci_low"] == single["estimate"] == single["ci_high"] and single["n_subjects"] == 1
    assert stats.format_interval(single).endswith("(6 pairs, 1 subject: no interval)")
    versus = stats.paired_comparison(["a"] * 4, [1, 1, 1, 0], [0, 0, 1, 0])
    assert versus["p_value"] == 1.0 and versus["ci_low"] == versus["difference"] == versus["ci_high"] == 0.5
    assert "no interval, no test" in stats.format_comparison(versus)


# ---- the sign-flip test and the comparison of two models ---------------------------------------------


def test_the_sign_flip_test_is_exact_for_few_subjects_and_never_below_one_over_n_plus_one():
    # 5 subjects all favouring A: only "all +" and "all -" reach |5| among the 32 sign configurations
    assert stats.sign_flip_test(np.ones(5), n_perm=10000) == pytest.approx(2 / 32)
    assert stats.sign_flip_test([3.0, 1.0, 0.0], n_perm=10000) == pytest.approx(4 / 8)  # |4| in half of the 8
    assert stats.sign_flip_test([3.0, -1.0], n_perm=10000) == 1.0  # every configuration reaches |2|
    assert stats.sign_flip_test(np.zeros(30), n_perm=500) == 1.0
    assert stats.sign_flip_test([], n_perm=500) == 1.0
    # Monte Carlo (2**40 > n_perm): the observed configuration counts, so p is at least 1 / (n_perm + 1)
    assert stats.sign_flip_test(np.ones(40), n_perm=199, seed=3) == pytest.approx(1 / 200)
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(4, 40))
    together = stats.sign_flip_test(batch, n_perm=999, seed=5)
    alone = [stats.sign_flip_test(row, n_perm=999, seed=5) for row in batch]
    assert together.shape == (4,) and np.allclose(together, alone)


def test_two_models_are_compared_on_the_subjects_and_items_both_scored():
    a = videos_table(subjects(12), model="single_task/a", seed=3, genuine_shift=0.3)
    b = videos_table(subjects(12), model="multitask/b", seed=4, genuine_shift=0.1)
    b = b[(b["subject"] != "s000") & ~((b["subject"] == "s001") & (b["code"] == "N2H"))]  # one subject, one pair less
    result = stats.compare_models_by_subject(pd.concat([a, b]), "single_task/a", "multitask/b", "paired",
                                             n_boot=2000, n_perm=2000)
    assert (result["n_subjects"], result["n_items"], result["unit"]) == (11, 65, "pairs")
    assert (result["dropped_a"], result["dropped_b"]) == (7, 0)
    shared = stats.align_items(stats.item_scores(a, "paired"), stats.item_scores(b, "paired"))
    assert result["difference"] == pytest.approx(shared["score_a"].mean() - shared["score_b"].mean())
    assert result["metric_a"] - result["metric_b"] == pytest.approx(result["difference"])
    assert result["ci_low"] <= result["difference"] <= result["ci_high"]
    assert 1 / 2001 <= result["p_value"] <= 1
    assert result["subjects_a_better"] + result["subjects_b_better"] + result["subjects_tied"] == 11
    swapped = stats.compare_models_by_subject(pd.concat([a, b]), "multitask/b", "single_task/a", "paired",
                                              n_boot=2000, n_perm=2000)
    assert swapped["difference"] == pytest.approx(-result["difference"])
    assert swapped["p_value"] == pytest.approx(result["p_value"])  # the test is symmetric in A and B
    with pytest.raises(ValueError, match="no video scores"):
        stats.compare_models_by_subject(a, "single_task/a", "nobody/x")
    with pytest.raises(ValueError, match="share no"):
        stats.compare_items(stats.item_scores(a), stats.item_scores(videos_table(["z"], model="o/p")))


def test_the_summaries_read_well():
    interval = {"estimate": 0.6827, "ci_low": 0.6121, "ci_high": 0.7503, "level": 0.95, "n_subjects": 52,
                "n_items": 312, "unit": "pairs"}
    assert stats.format_interval(interval) == "68.3 % (95 % CI 61.2-75.0, 312 pairs, 52 subjects)"
    result = stats.model_interval(videos_table(subjects(9), model="temporal/t"), "temporal/t", "authenticity",
                                  n_boot=500)
    assert result["model"] == "temporal/t"
    assert re.fullmatch(r"\d+\.\d % \(95 % CI \d+\.\d-\d+\.\d, 108 videos, 9 subjects\)", stats.format_interval(result))
    comparison = {"model_a": "A", "model_b": "B", "difference": 0.031, "ci_low": -0.02, "ci_high": 0.083,
                  "p_value": 0.2104, "level": 0.95, "n_subjects": 52, "n_items": 312, "unit": "pairs"}
    assert stats.format_comparison(comparison) == ("A - B: +3.1 points (95 % CI -2.0 to +8.3), sign-flip p = 0.21 "
                                                   "(312 pairs, 52 subjects)")


# ---- the simulation of the issue ---------------------------------------------------------------------


def simulate_videos(rng: np.random.Generator, reps: int, sigma: float = 0.25, advantage: float = 0.0,
                    base: float = 0.65, difficulty: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Correctness of models A and B, ``[reps, subjects, videos]``: subject s has a difficulty u_s shared
    by both models and an advantage d_s ~ N(advantage, sigma) for A; A is right with probability
    base + u_s + d_s / 2, B with base + u_s - d_s / 2 (clipped). The videos of a subject are thus
    correlated; with ``advantage`` 0 the two models are exchangeable (the null holds exactly)."""
    u = rng.normal(0, difficulty, size=(reps, N_SUBJECTS, 1))
    d = rng.normal(advantage, sigma, size=(reps, N_SUBJECTS, 1))
    p_a, p_b = np.clip(base + u + d / 2, 0.02, 0.98), np.clip(base + u - d / 2, 0.02, 0.98)
    shape = (reps, N_SUBJECTS, N_VIDEOS)
    return rng.random(shape) < p_a, rng.random(shape) < p_b


def subject_test_rejections(a: np.ndarray, b: np.ndarray, seed: int, n_perm: int = 999) -> np.ndarray:
    """Did ``stats.paired_comparison`` (the notebook's test) reject at 5 %, one simulated dataset at a time?"""
    who = np.repeat(np.arange(a.shape[1]), a.shape[2])
    return np.array([stats.paired_comparison(who, a[r].ravel(), b[r].ravel(), n_boot=1, n_perm=n_perm,
                                             seed=seed + r)["p_value"] < 0.05 for r in range(len(a))])


def test_the_subject_test_keeps_its_level_where_video_level_mcnemar_does_not():
    reps = 2000
    a, b = simulate_videos(np.random.default_rng(20240), reps)
    subject_rate = subject_test_rejections(a, b, seed=1).mean()
    a_only, b_only = (a & ~b).sum(axis=(1, 2)), (~a & b).sum(axis=(1, 2))
    mcnemar_rate = np.mean([binomtest(int(x), int(x + y), 0.5).pvalue < 0.05 for x, y in zip(a_only, b_only)])
    assert 0.03 <= subject_rate <= 0.07, subject_rate
    assert mcnemar_rate > 0.12, mcnemar_rate


def test_the_subject_test_keeps_its_level_on_paired_accuracy():
    """The same at pair level, the ranking metric: 6 pairs per subject, ties counting half. Each pair's
    genuine-minus-posed genuineness is N(m_s, 1), rounded to a tenth (so ties occur), with m_s = 0.6 + u_s
    +- d_s / 2 for A and B."""
    reps = 1000
    rng = np.random.default_rng(7)
    u = rng.normal(0, 0.3, size=(reps, N_SUBJECTS, 1))
    d = rng.normal(0, 0.8, size=(reps, N_SUBJECTS, 1))
    shape = (reps, N_SUBJECTS, N_PAIRS)
    gap_a, gap_b = (np.round(0.6 + u + s * d / 2 + rng.normal(size=shape), 1) for s in (1, -1))
    score_a, score_b = ((np.sign(g) + 1) / 2 for g in (gap_a, gap_b))  # 1, 0.5 (tie) or 0, as in pair_table
    assert 0 < (score_a == 0.5).mean() < 0.1
    rate = subject_test_rejections(score_a, score_b, seed=11).mean()
    assert 0.03 <= rate <= 0.07, rate


def test_a_real_advantage_is_found():
    reps = 300
    a, b = simulate_videos(np.random.default_rng(99), reps, sigma=0.0, advantage=0.15)  # +15 points everywhere
    assert subject_test_rejections(a, b, seed=5).mean() > 0.9
    a, b = simulate_videos(np.random.default_rng(98), reps, sigma=0.25, advantage=0.15)  # +15 on average
    assert subject_test_rejections(a, b, seed=6).mean() > 0.7
