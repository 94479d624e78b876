"""Confidence intervals and model comparisons that resample **subjects**, not videos.

Why subjects. With subject-independent folds, one fold model scores *all* of a subject's 12 videos, and
the videos of one person share their face, their way of posing and how hard they are to read. Whether a
model gets a video right is therefore correlated within a subject, and a model may simply suit some
subjects better than another model does. Tests that treat the videos as independent items (McNemar on the
discordant videos, a bootstrap over videos) ignore that correlation: in a simulation of 50 subjects x 12 videos where each subject favours one of two equally good
models by a random amount of mean 0, McNemar rejects the true null far more often than its nominal 5 %
(``tests/test_stats.py``). The subjects are the independent units, so everything here resamples or
permutes whole subjects.

A metric by subject. Every metric used to rank the models is a share of items (videos or pairs) scored 1,
0.5 or 0, so it is ``sum(numerator) / sum(denominator)`` over per-subject totals (``SubjectTotals``):
``numerator`` is a subject's summed item scores and ``denominator`` its number of items.

- ``subject_totals``: the generic builder, from per-item scores (correctness 0/1, or 1/0.5/0 for pairs)
  and the subject of each item;
- ``item_scores``: the per-item scores of one model from ``compare.video_scores`` rows, for a ``task``:
  ``"authenticity"`` (real/fake video accuracy, ``p_genuine > 0.5`` against ``authenticity_label``),
  ``"label"`` (12-class video accuracy, ``pred`` against ``label``) or ``"paired"`` (paired accuracy,
  pairs known: ``scoring.pair_table``'s ``score``, ties counting half); ``totals`` turns them into
  ``SubjectTotals``;
- ``cluster_bootstrap``: the point estimate (exactly the plain metric) and a percentile confidence
  interval from resampling subjects with replacement;
- ``sign_flip_test``: the two-sided p-value of a subject-level sign-flip permutation test on per-subject
  differences (under the null each subject's difference is as likely positive as negative);
- ``paired_comparison`` (arrays) and ``compare_items`` (item tables, aligned on the subjects and items both
  models scored): the difference A - B of the metric, its cluster-bootstrap interval and the sign-flip
  p-value; ``model_interval`` and ``compare_models_by_subject`` do the same straight from video scores;
- ``format_interval`` / ``format_comparison``: one readable line for a notebook, e.g.
  ``"68.3 % (95 % CI 61.2-75.0, 312 pairs, 52 subjects)"``.

Edge cases: an empty input raises ``ValueError``. A single subject gives a *degenerate* interval (every
resample is that subject, so ``ci_low == ci_high == estimate``) and a comparison p-value of 1; the
formatted line then says "no interval". Two or three subjects give valid but very wide intervals.

Results are plain dicts, so a list of them is a ``pd.DataFrame`` row by row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from helpers.metrics import scoring

TASKS = ("authenticity", "label", "paired")
UNIT_OF_TASK = {"authenticity": "videos", "label": "videos", "paired": "pairs"}
# The largest block of (resamples x subjects) held in memory at once.
_BLOCK = 2_000_000


# --------------------------------------------------------------------------------------------------
# A metric by subject
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectTotals:
    """Per-subject totals of a metric: ``value = numerator.sum() / denominator.sum()``.

    ``subjects`` (sorted, unique), ``numerator`` (summed item scores) and ``denominator`` (number of items)
    are aligned arrays; ``unit`` names the items (``"videos"``, ``"pairs"``) for the summaries."""

    subjects: np.ndarray
    numerator: np.ndarray
    denominator: np.ndarray
    unit: str = "items"

    @property
    def value(self) -> float:
        """The metric over all items (NaN when there are none)."""
        total = float(self.denominator.sum())
        return float(self.numerator.sum()) / total if total else float("nan")

    @property
    def n_subjects(self) -> int:
        return int(len(self.subjects))

    @property
    def n_items(self) -> int:
        return int(round(float(self.denominator.sum())))

    def as_frame(self) -> pd.DataFrame:
        """``subject, numerator, denominator, metric``: one row per subject (e.g. to plot or to inspect)."""
        return pd.DataFrame({"subject": self.subjects, "numerator": self.numerator,
                             "denominator": self.denominator, "metric": self.numerator / self.denominator})


def _scores(scores: ArrayLike, name: str = "scores") -> np.ndarray:
    values = np.asarray(scores, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {values.shape}")
    if np.isnan(values).any():
        raise ValueError(f"{name} contain NaN: score every item (or drop it) first")
    return values


def subject_totals(subjects: ArrayLike, scores: ArrayLike, unit: str = "items") -> SubjectTotals:
    """Per-subject totals of per-item ``scores`` (booleans, or 1 / 0.5 / 0 for pairs; any reals work).

    ``subjects`` names the subject of each item. Raises ``ValueError`` on an empty input, on mismatched
    lengths or on NaN scores."""
    values = _scores(scores)
    subjects = np.asarray(subjects)
    if subjects.shape != values.shape:
        raise ValueError(f"one subject per item: got {subjects.shape[0] if subjects.ndim else 0} subjects for "
                         f"{len(values)} scores")
    if len(values) == 0:
        raise ValueError(f"no {unit} to score: the table is empty")
    codes, uniques = pd.factorize(subjects, sort=True)
    numerator = np.bincount(codes, weights=values, minlength=len(uniques))
    denominator = np.bincount(codes, minlength=len(uniques)).astype(float)
    return SubjectTotals(np.asarray(uniques), numerator, denominator, unit)


def _one_model(videos: pd.DataFrame) -> pd.DataFrame:
    if "model" in videos and videos["model"].nunique() > 1:
        raise ValueError(f"the table holds {videos['model'].nunique()} models: score one model at a time "
                         "(filter on the model column)")
    return videos


def item_scores(videos: pd.DataFrame, task: str = "paired") -> pd.DataFrame:
    """``subject, item, score``: one row per scored item of one model, from ``compare.video_scores``-like rows.

    ``task``: ``"authenticity"`` (items are videos, ``code``; score 1 when ``p_genuine > 0.5`` agrees with
    ``authenticity_label``), ``"label"`` (videos; 1 when ``pred == label``; the model must predict the 12
    classes) or ``"paired"`` (items are (subject, emotion) pairs, ``emotion``; ``scoring.pair_table``'s
    score: 1, 0.5 for a tie, 0). Raises ``ValueError`` for several models or a video scored twice."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    videos = _one_model(videos)
    if videos.empty:  # nothing scored: ``subject_totals`` then says the table is empty
        return pd.DataFrame({"subject": pd.Series(dtype=object), "item": pd.Series(dtype=object),
                             "score": pd.Series(dtype=float)})
    if task == "paired":
        pairs = scoring.pair_table(videos)
        return pd.DataFrame({"subject": pairs["subject"].to_numpy(), "item": pairs["emotion"].to_numpy(),
                             "score": pairs["score"].to_numpy(dtype=float)})
    if task == "label" and len(videos) and (videos["pred"].to_numpy() < 0).any():
        raise ValueError("this model has no 12-class predictions (pred is -1): use task 'authenticity' or 'paired'")
    items = pd.DataFrame({"subject": videos["subject"].to_numpy(), "item": videos["code"].to_numpy(),
                          "score": scoring.correct(videos, task).astype(float)})
    if items.duplicated(["subject", "item"]).any():
        raise ValueError("a subject has the same video twice: score one model and fold at a time")
    return items


def totals(videos: pd.DataFrame, task: str = "paired") -> SubjectTotals:
    """``SubjectTotals`` of one model's ``task`` metric (see ``item_scores``) from its video scores."""
    items = item_scores(videos, task)
    return subject_totals(items["subject"].to_numpy(), items["score"].to_numpy(), UNIT_OF_TASK[task])


# --------------------------------------------------------------------------------------------------
# Resampling subjects
# --------------------------------------------------------------------------------------------------


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95, got {level}")


def _resampled_ratios(numerator: np.ndarray, denominator: np.ndarray, n_boot: int,
                      rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` values of sum(numerator) / sum(denominator) over subjects drawn with replacement."""
    n = len(numerator)
    block = max(1, _BLOCK // n)
    out = np.empty(n_boot)
    for start in range(0, n_boot, block):
        stop = min(n_boot, start + block)
        index = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = numerator[index].sum(axis=1) / denominator[index].sum(axis=1)
    return out


def cluster_bootstrap(metric: SubjectTotals, n_boot: int = 10000, level: float = 0.95,
                      seed: int | None = 0) -> dict:
    """The metric and a percentile confidence interval from resampling **subjects** with replacement.

    Each resample draws ``n_subjects`` subjects with replacement and recomputes the pooled metric
    sum(numerator) / sum(denominator) over them. Returns ``estimate`` (the plain metric over all items),
    ``ci_low``, ``ci_high``, ``level``, ``n_subjects``, ``n_items``, ``unit`` and ``n_boot``. One subject
    gives the degenerate interval ``[estimate, estimate]``; no subject is a ``ValueError``."""
    _check_level(level)
    if metric.n_subjects == 0:
        raise ValueError(f"no {metric.unit} to score: the table is empty")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    estimate = metric.value
    if metric.n_subjects == 1:
        low = high = estimate
    else:
        ratios = _resampled_ratios(metric.numerator, metric.denominator, n_boot, np.random.default_rng(seed))
        low, high = np.quantile(ratios, [(1 - level) / 2, (1 + level) / 2])
    return {"estimate": float(estimate), "ci_low": float(low), "ci_high": float(high), "level": float(level),
            "n_subjects": metric.n_subjects, "n_items": metric.n_items, "unit": metric.unit, "n_boot": int(n_boot)}


def sign_flip_test(differences: ArrayLike, n_perm: int = 10000, seed: int | None = 0) -> float | np.ndarray:
    """Two-sided p-value of the subject-level sign-flip permutation test of "no difference".

    ``differences``: one value per subject (e.g. a subject's summed item scores of model A minus those of
    model B), shape ``(n_subjects,)``, or ``(n_tests, n_subjects)`` to test many sets at once (one p-value
    per row, the same random flips for every row). Under the null each subject's difference is as likely
    positive as negative, so the statistic |sum(differences)| is compared with |sum(signs * differences)|
    for random signs. Monte Carlo with ``n_perm`` flips plus the observed configuration, so
    ``p = (1 + #{|flipped| >= |observed|}) / (n_perm + 1) >= 1 / (n_perm + 1)``; when ``2 ** n_subjects <=
    n_perm`` every configuration is enumerated instead (the exact p-value). No subject, or only zero
    differences, gives p = 1."""
    d = np.asarray(differences, dtype=float)
    single = d.ndim == 1
    d = np.atleast_2d(d)
    if d.ndim != 2:
        raise ValueError(f"differences must be 1-D (subjects) or 2-D (tests x subjects), got shape {d.shape}")
    if np.isnan(d).any():
        raise ValueError("differences contain NaN")
    if n_perm < 1:
        raise ValueError(f"n_perm must be at least 1, got {n_perm}")
    n_tests, n = d.shape
    if n == 0:
        p = np.ones(n_tests)
        return float(p[0]) if single else p
    observed = np.abs(d.sum(axis=1))
    tolerance = 1e-9 * np.maximum(1.0, np.abs(d).sum(axis=1))  # float noise must not decide a tie
    exact = n < 63 and 2 ** n <= n_perm
    if exact:
        total = 2 ** n
    else:
        total = n_perm
        rng = np.random.default_rng(seed)
    count = np.zeros(n_tests)
    block = max(1, _BLOCK // n)
    for start in range(0, total, block):
        stop = min(total, start + block)
        if exact:
            bits = (np.arange(start, stop)[:, None] >> np.arange(n)) & 1
        else:
            bits = rng.integers(0, 2, size=(stop - start, n))
        signs = (2 * bits - 1).astype(float)
        flipped = np.abs(d @ signs.T)  # (n_tests, block)
        count += (flipped >= (observed - tolerance)[:, None]).sum(axis=1)
    p = count / total if exact else (1 + count) / (n_perm + 1)
    p = np.minimum(1.0, p)
    return float(p[0]) if single else p


def paired_comparison(subjects: ArrayLike, score_a: ArrayLike, score_b: ArrayLike, n_boot: int = 10000,
                      n_perm: int = 10000, level: float = 0.95, seed: int | None = 0, unit: str = "items") -> dict:
    """Model A against model B on the same items (``score_a[i]`` and ``score_b[i]`` score the same item of
    subject ``subjects[i]``).

    Returns ``metric_a``, ``metric_b``, ``difference`` (A - B of the pooled metric), ``ci_low`` /
    ``ci_high`` (percentile interval of the difference from resampling subjects, the same resample for
    both models), ``p_value`` (``sign_flip_test`` on the per-subject differences of the summed scores,
    which is the pooled difference up to the constant number of items), ``subjects_a_better``,
    ``subjects_b_better``, ``subjects_tied``, ``n_subjects``, ``n_items``, ``unit``, ``level``, ``n_boot``
    and ``n_perm``. Raises ``ValueError`` when the arrays differ in length or are empty."""
    _check_level(level)
    a, b = _scores(score_a, "score_a"), _scores(score_b, "score_b")
    if a.shape != b.shape:
        raise ValueError(f"the two models must score the same items: {len(a)} and {len(b)} scores")
    totals_a, totals_b = subject_totals(subjects, a, unit), subject_totals(subjects, b, unit)
    differences = totals_a.numerator - totals_b.numerator
    denominator = totals_a.denominator
    difference = totals_a.value - totals_b.value
    if totals_a.n_subjects == 1:
        low = high = difference
    else:
        if n_boot < 1:
            raise ValueError(f"n_boot must be at least 1, got {n_boot}")
        resampled = _resampled_ratios(differences, denominator, n_boot, np.random.default_rng(seed))
        low, high = np.quantile(resampled, [(1 - level) / 2, (1 + level) / 2])
    tolerance = 1e-9 * np.maximum(1.0, denominator)
    return {"metric_a": totals_a.value, "metric_b": totals_b.value, "difference": float(difference),
            "ci_low": float(low), "ci_high": float(high), "p_value": sign_flip_test(differences, n_perm, seed),
            "subjects_a_better": int((differences > tolerance).sum()),
            "subjects_b_better": int((differences < -tolerance).sum()),
            "subjects_tied": int((np.abs(differences) <= tolerance).sum()),
            "n_subjects": totals_a.n_subjects, "n_items": totals_a.n_items, "unit": unit, "level": float(level),
            "n_boot": int(n_boot), "n_perm": int(n_perm)}


def align_items(items_a: pd.DataFrame, items_b: pd.DataFrame) -> pd.DataFrame:
    """``subject, item, score_a, score_b``: the items (same subject and item) that both tables score."""
    for name, items in (("items_a", items_a), ("items_b", items_b)):
        missing = {"subject", "item", "score"} - set(items.columns)
        if missing:
            raise ValueError(f"{name} lacks the column(s) {sorted(missing)} (see item_scores)")
        if items.duplicated(["subject", "item"]).any():
            raise ValueError(f"{name} scores an item twice: one model and one row per item")
    merged = items_a[["subject", "item", "score"]].merge(items_b[["subject", "item", "score"]],
                                                         on=["subject", "item"], suffixes=("_a", "_b"))
    return merged.sort_values(["subject", "item"], kind="stable").reset_index(drop=True)


def compare_items(items_a: pd.DataFrame, items_b: pd.DataFrame, n_boot: int = 10000, n_perm: int = 10000,
                  level: float = 0.95, seed: int | None = 0, unit: str = "items") -> dict:
    """``paired_comparison`` of two ``item_scores`` tables on the items both scored (``align_items``), plus
    ``dropped_a`` / ``dropped_b``: the items of each that the other did not score. Raises ``ValueError``
    when they share no item."""
    merged = align_items(items_a, items_b)
    if merged.empty:
        raise ValueError("the two models share no scored item (same subject and item)")
    result = paired_comparison(merged["subject"].to_numpy(), merged["score_a"].to_numpy(),
                               merged["score_b"].to_numpy(), n_boot, n_perm, level, seed, unit)
    result["dropped_a"] = int(len(items_a) - len(merged))
    result["dropped_b"] = int(len(items_b) - len(merged))
    return result


# --------------------------------------------------------------------------------------------------
# Straight from video scores (compare.video_scores)
# --------------------------------------------------------------------------------------------------


def _model_rows(scores: pd.DataFrame, model: str) -> pd.DataFrame:
    rows = scores[scores["model"] == model]
    if rows.empty:
        raise ValueError(f"no video scores for model {model!r}")
    return rows


def model_interval(scores: pd.DataFrame, model: str, task: str = "paired", n_boot: int = 10000,
                   level: float = 0.95, seed: int | None = 0) -> dict:
    """``cluster_bootstrap`` of one model's ``task`` metric, with ``model`` and ``task`` added."""
    result = cluster_bootstrap(totals(_model_rows(scores, model), task), n_boot, level, seed)
    return {"model": model, "task": task, **result}


def compare_models_by_subject(scores: pd.DataFrame, model_a: str, model_b: str, task: str = "paired",
                              n_boot: int = 10000, n_perm: int = 10000, level: float = 0.95,
                              seed: int | None = 0) -> dict:
    """``compare_items`` of two models' ``task`` metric on the subjects and items both scored, with
    ``model_a``, ``model_b`` and ``task`` added."""
    items_a = item_scores(_model_rows(scores, model_a), task)
    items_b = item_scores(_model_rows(scores, model_b), task)
    result = compare_items(items_a, items_b, n_boot, n_perm, level, seed, UNIT_OF_TASK[task])
    return {"model_a": model_a, "model_b": model_b, "task": task, **result}


# --------------------------------------------------------------------------------------------------
# One line for a notebook
# --------------------------------------------------------------------------------------------------


def _counts(result: dict) -> str:
    subjects = result["n_subjects"]
    return f"{result['n_items']} {result['unit']}, {subjects} subject{'s' if subjects != 1 else ''}"


def format_interval(result: dict, digits: int = 1) -> str:
    """``"68.3 % (95 % CI 61.2-75.0, 312 pairs, 52 subjects)"`` from ``cluster_bootstrap`` / ``model_interval``
    (``"... (312 pairs, 1 subject: no interval)"`` for a single subject)."""
    estimate = f"{100 * result['estimate']:.{digits}f} %"
    if result["n_subjects"] < 2:
        return f"{estimate} ({_counts(result)}: no interval)"
    return (f"{estimate} ({100 * result['level']:g} % CI {100 * result['ci_low']:.{digits}f}-"
            f"{100 * result['ci_high']:.{digits}f}, {_counts(result)})")


def format_comparison(result: dict, digits: int = 1) -> str:
    """``"A - B: +3.1 points (95 % CI -2.0 to +8.3), sign-flip p = 0.21 (312 pairs, 52 subjects)"`` from
    ``paired_comparison`` / ``compare_items`` / ``compare_models_by_subject`` (the model names are used when
    the result has them)."""
    name_a, name_b = result.get("model_a", "A"), result.get("model_b", "B")
    head = f"{name_a} - {name_b}: {100 * result['difference']:+.{digits}f} points"
    p = result["p_value"]
    p_text = f"{p:.2g}" if p >= 0.001 else f"{p:.1e}"
    if result["n_subjects"] < 2:
        return f"{head} ({_counts(result)}: no interval, no test)"
    return (f"{head} ({100 * result['level']:g} % CI {100 * result['ci_low']:+.{digits}f} to "
            f"{100 * result['ci_high']:+.{digits}f}), sign-flip p = {p_text} ({_counts(result)})")
