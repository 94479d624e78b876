"""Comparing every trained approach from its artifacts alone (notebook 06): one table, the ChaLearn 2017
paired protocol, a statistical test between the best two models, and ensembles of the approaches.

Everything starts from the saved ``predictions.csv`` of each fold (``helpers.results``), reduced to
**video scores** (``video_scores``): one row per model, test fold and video with the true labels, the
video-level 12-class probabilities (when the model predicts the 12 classes) and the video's
**genuineness** ``p_genuine`` (the sum of the six genuine-class probabilities, or the authenticity head's
probability of "genuine"). Each row is an *out-of-fold* prediction: the run of fold k only ever scores the
subjects of fold k, which it never saw in training.

- ``paired_protocol``: for each subject and emotion, the video with the higher genuineness is called
  genuine; pair accuracy, ties counting half; videos without their partner are skipped and counted.
- ``mcnemar`` (exact binomial test on the discordant videos) and ``paired_bootstrap``: is the difference
  between two models real? ``compare_models`` applies both to the videos the two models share.
- ``ensemble``: averaging, majority voting and a stacked logistic regression over the members' video
  scores; the stacker of test fold k is fit only on the rows of the *other* folds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from helpers import labels, results
from helpers.analysis import evaluate

APPROACHES = ("single_task", "multitask", "temporal")
APPROACH_NAMES = {"single_task": "single-task (03)", "multitask": "multi-task (04)", "temporal": "temporal (05)",
                  "ensemble": "ensemble (06)"}
NOTEBOOK_OF = {"single_task": "03_single_task", "multitask": "04_multi_task", "temporal": "05_temporal"}
KEYS = ["fold", "subject", "code"]
PROBS = evaluate.prob_columns(len(labels.CLASS_NAMES))

# The published numbers, all on the real SASE-FE (DESIGN.md, "Reference numbers"). ``ours`` names the
# metric of ``summary_table`` that measures the same thing, taken from the best model of ``approach``.
REFERENCE_NUMBERS = pd.DataFrame([
    ("Gagatsis 2023 (thesis)", "12-class, frames (InceptionResNetV1 VGGFace2)", 29.06, "single_task", "frame_accuracy"),
    ("Gagatsis 2023 (thesis)", "multi-task: emotion (frames)", 54.6, "multitask", "emotion_frame_accuracy"),
    ("Gagatsis 2023 (thesis)", "multi-task: real/fake (frames)", 55.9, "multitask", "authenticity_frame_accuracy"),
    ("Gagatsis 2023 (thesis)", "multi-task: both right, 12-class (frames)", 30.15, "multitask", "frame_accuracy"),
    ("Gagatsis 2023 (thesis)", "temporal 12-class (slow_r50)", 23.3, "temporal", "video_accuracy"),
    ("ChaLearn LAP 2017 winners", "real/fake, paired protocol", 66.7, None, "paired_accuracy"),
    ("TUBITAK UZAY-METU 2017", "real/fake, paired protocol", 65.0, None, "paired_accuracy"),
], columns=["source", "task", "sase_fe_percent", "approach", "metric"])


# --------------------------------------------------------------------------------------------------
# Reading the artifacts
# --------------------------------------------------------------------------------------------------


def model_name(config: dict) -> str:
    """``<approach>/<run>``: unique across the notebooks (run names alone may repeat between approaches)."""
    return f"{config.get('approach')}/{config.get('run')}"


def load_all(profile_results, approaches: Sequence[str] = APPROACHES, predictions: bool = True
             ) -> list[results.RunArtifacts]:
    """Every complete run of the given approaches under ``<results>/<profile>``."""
    return [run for approach in approaches for run in evaluate.load_runs(profile_results, approach,
                                                                         predictions=predictions)]


def missing_approaches(profile_results, approaches: Sequence[str] = APPROACHES) -> list[str]:
    """The approaches with no complete run yet (the notebooks to run are ``NOTEBOOK_OF[...]``)."""
    return [a for a in approaches if not results.find_runs(profile_results, a)]


def p_genuine(table: pd.DataFrame, target: str) -> np.ndarray:
    """Genuineness of each row: the summed genuine-class probabilities (12 classes) or p(genuine)."""
    if target == "emotion":
        raise ValueError("an emotion-only model has no genuineness")
    _, probs = evaluate.view_probs(table, target, "authenticity")
    return probs[:, 1]


def video_scores(runs: Iterable[results.RunArtifacts]) -> pd.DataFrame:
    """One row per (model, test fold, video): ``model, approach, run, fold, subject, code, label,
    emotion_label, authenticity_label, p_genuine, pred`` (12-class argmax, -1 when the model has no 12
    classes) and ``prob_0..prob_11`` (NaN without 12 classes). Emotion-only models are left out."""
    frames = []
    for run in runs:
        target = run.config.get("target", "label")
        if run.predictions is None or target == "emotion":
            continue
        videos = evaluate.video_level(run.predictions)
        table = videos[["subject", "code", "label", "emotion_label", "authenticity_label"]].copy()
        table.insert(0, "fold", int(run.config.get("fold", run.metrics.get("fold", -1))))
        table.insert(0, "run", run.config.get("run"))
        table.insert(0, "approach", run.config.get("approach"))
        table.insert(0, "model", model_name(run.config))
        table["p_genuine"] = p_genuine(videos, target)
        for column in PROBS:
            table[column] = videos[column] if target == "label" else np.nan
        table["pred"] = videos["pred"] if target == "label" else -1
        frames.append(table)
    columns = ["model", "approach", "run", *KEYS, "label", "emotion_label", "authenticity_label", "p_genuine",
               "pred", *PROBS]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


# --------------------------------------------------------------------------------------------------
# The paired protocol (ChaLearn LAP 2017)
# --------------------------------------------------------------------------------------------------


def pair_table(videos: pd.DataFrame, score: str = "p_genuine") -> pd.DataFrame:
    """One row per (subject, emotion) with both videos: the two genuineness scores and the pair's score
    (1 genuine scored higher, 0.5 tie, 0 posed scored higher). ``videos`` needs ``subject``, ``code``
    and ``score`` (emotion and authenticity come from the code)."""
    table = videos[["subject", "code", score]].copy()
    parsed = [labels.parse_code(c) for c in table["code"]]
    table["emotion"] = [v.emotion for v in parsed]
    table["genuine"] = [v.genuine for v in parsed]
    genuine = table[table["genuine"]].set_index(["subject", "emotion"])[score].rename("genuine_score")
    posed = table[~table["genuine"]].set_index(["subject", "emotion"])[score].rename("posed_score")
    if genuine.index.duplicated().any() or posed.index.duplicated().any():
        raise ValueError("a subject has the same video twice: score one model and fold at a time")
    pairs = pd.concat([genuine, posed], axis=1, join="inner").reset_index()
    difference = pairs["genuine_score"] - pairs["posed_score"]
    pairs["score"] = np.where(difference > 0, 1.0, np.where(difference == 0, 0.5, 0.0))
    return pairs


def paired_protocol(videos: pd.DataFrame, score: str = "p_genuine") -> dict:
    """``accuracy`` over the complete pairs (ties count half), ``pairs``, ``ties`` and ``skipped``: the
    videos whose partner (same subject and emotion, other authenticity) is missing."""
    pairs = pair_table(videos, score)
    return {"accuracy": float(pairs["score"].mean()) if len(pairs) else float("nan"), "pairs": int(len(pairs)),
            "ties": int((pairs["score"] == 0.5).sum()), "skipped": int(len(videos) - 2 * len(pairs))}


# --------------------------------------------------------------------------------------------------
# Per-fold scores from video scores
# --------------------------------------------------------------------------------------------------


def correct(scores: pd.DataFrame, task: str = "authenticity") -> np.ndarray:
    """Is each video right? ``authenticity``: p(genuine) > 0.5 agrees with the truth; ``label``: 12-class."""
    if task == "authenticity":
        return (scores["p_genuine"].to_numpy() > 0.5) == scores["authenticity_label"].to_numpy().astype(bool)
    if task == "label":
        return scores["pred"].to_numpy() == scores["label"].to_numpy()
    raise ValueError(f"task must be 'authenticity' or 'label', got {task!r}")


def fold_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Per model and fold: ``authenticity_video_accuracy``, ``video_accuracy`` (12-class; NaN without it),
    ``paired_accuracy`` and ``pairs``."""
    rows = []
    for (model, fold), part in scores.groupby(["model", "fold"], sort=False):
        paired = paired_protocol(part)
        has_classes = (part["pred"] >= 0).all()
        rows.append({"model": model, "approach": part["approach"].iloc[0], "fold": fold,
                     "authenticity_video_accuracy": float(correct(part).mean()),
                     "video_accuracy": float(correct(part, "label").mean()) if has_classes else np.nan,
                     "paired_accuracy": paired["accuracy"], "pairs": paired["pairs"]})
    return pd.DataFrame(rows)


def authenticity_by_emotion(scores: pd.DataFrame) -> pd.DataFrame:
    """``model, fold, emotion, accuracy``: video-level real/fake accuracy within each emotion."""
    table = scores[["model", "fold"]].copy()
    table["emotion"] = [labels.EMOTIONS[int(e)] for e in scores["emotion_label"]]
    table["accuracy"] = correct(scores).astype(float)
    return table.groupby(["model", "fold", "emotion"], sort=False)["accuracy"].mean().reset_index()


# --------------------------------------------------------------------------------------------------
# The comparison table
# --------------------------------------------------------------------------------------------------

TABLE_METRICS = {"frame_accuracy": "12-class, frame (or clip)", "video_accuracy": "12-class, video",
                 "emotion_video_accuracy": "emotion, video", "authenticity_video_accuracy": "real/fake, video",
                 "paired_accuracy": "real/fake, paired"}


def comparison_folds(runs: Sequence[results.RunArtifacts]) -> pd.DataFrame:
    """``evaluate.fold_table`` of every run, its ``model`` column renamed ``backbone`` and ``model`` naming
    the run (``approach/run``), and, where the run
    saved them, the multi-task per-head frame accuracies (``emotion_frame_accuracy``,
    ``authenticity_frame_accuracy``) that the thesis reported."""
    runs = list(runs)
    table = evaluate.fold_table(runs)
    if table.empty:
        return table
    table = table.rename(columns={"model": "backbone"})
    table.insert(0, "model", [model_name(run.config) for run in runs])
    for view in ("emotion", "authenticity"):
        table[f"{view}_frame_accuracy"] = [run.metrics.get(view, {}).get("frame", {}).get("accuracy", np.nan)
                                           for run in runs]
    return table


def summary_table(folds: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over folds (in percent) of each model, best paired accuracy first."""
    metrics = [*TABLE_METRICS, "emotion_frame_accuracy", "authenticity_frame_accuracy"]
    table = evaluate.aggregate_folds(folds, metrics=metrics, by=("approach", "model", "target"))
    return table.sort_values("paired_accuracy_mean", ascending=False, na_position="last").reset_index(drop=True)


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The text columns of ``summary_table`` with readable headers."""
    table = summary[["approach", "model", "target", "folds", *TABLE_METRICS]].copy()
    table["approach"] = table["approach"].map(lambda a: APPROACH_NAMES.get(a, a))
    return table.rename(columns=TABLE_METRICS)


def best_per_approach(summary: pd.DataFrame, metric: str = "paired_accuracy_mean") -> dict[str, str]:
    """The best model of each approach by ``metric`` (then by real/fake video accuracy)."""
    ranked = summary.sort_values([metric, "authenticity_video_accuracy_mean"], ascending=False, na_position="last")
    return {approach: part["model"].iloc[0] for approach, part in ranked.groupby("approach", sort=False)}


def reference_comparison(summary: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The published SASE-FE numbers beside the best of ours on the same measure (``dataset`` names ours)."""
    rows = []
    for ref in REFERENCE_NUMBERS.itertuples():
        # pandas stores the missing approach as NaN: any approach may answer these rows
        candidates = summary if pd.isna(ref.approach) else summary[summary["approach"] == ref.approach]
        column = f"{ref.metric}_mean"
        candidates = candidates.dropna(subset=[column]) if column in candidates else candidates.iloc[:0]
        if len(candidates):
            best = candidates.loc[candidates[column].idxmax()]
            ours, model = best[ref.metric], best["model"]
        else:
            ours, model = "not run", ""
        rows.append({"source": ref.source, "task": ref.task, "SASE-FE (published)": f"{ref.sase_fe_percent:.1f}",
                     f"ours: {dataset}": ours, "our model": model})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> dict:
    """Exact McNemar test: ``b`` (A right, B wrong) and ``c`` (A wrong, B right); under the null each
    discordant item is equally likely to go either way, so the two-sided p-value is the binomial test of
    ``b`` successes in ``b + c`` trials with p = 1/2 (1.0 when there is no discordant item)."""
    from scipy.stats import binomtest

    a, b_ = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b_.shape:
        raise ValueError("the two models must be scored on the same items")
    b, c = int((a & ~b_).sum()), int((~a & b_).sum())
    p_value = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return {"n": int(len(a)), "a_only": b, "b_only": c, "discordant": b + c, "p_value": p_value}


def paired_bootstrap(correct_a: Sequence[bool], correct_b: Sequence[bool], n_boot: int = 10000,
                     seed: int = 0) -> dict:
    """Accuracy difference A - B with a 95 % percentile interval from resampling the items (the same
    resample for both models) and a two-sided p-value (twice the smaller share of resampled differences
    on either side of 0, capped at 1)."""
    a, b = np.asarray(correct_a, dtype=float), np.asarray(correct_b, dtype=float)
    if a.shape != b.shape or len(a) == 0:
        raise ValueError("the two models must be scored on the same, non-empty items")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(a), size=(n_boot, len(a)))
    differences = a[index].mean(axis=1) - b[index].mean(axis=1)
    p_value = min(1.0, 2 * min((differences <= 0).mean(), (differences >= 0).mean()))
    low, high = np.percentile(differences, [2.5, 97.5])
    return {"difference": float(a.mean() - b.mean()), "ci_low": float(low), "ci_high": float(high),
            "p_value": float(p_value), "n": int(len(a))}


def aligned(scores: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """The videos every one of ``models`` scored (same fold, subject and code), one column block each:
    ``<model>:p_genuine``, ``<model>:pred``, ``<model>:prob_k``, plus the true labels."""
    truth = ["label", "emotion_label", "authenticity_label"]
    merged = None
    for model in models:
        part = scores[scores["model"] == model].set_index(KEYS)
        if part.empty:
            raise ValueError(f"no video scores for model {model!r}")
        block = part[["p_genuine", "pred", *PROBS]].add_prefix(f"{model}:")
        merged = part[truth].join(block) if merged is None else merged.join(block, how="inner")
    return merged.reset_index()


def compare_models(scores: pd.DataFrame, model_a: str, model_b: str, task: str = "authenticity",
                   n_boot: int = 10000, seed: int = 0) -> dict:
    """McNemar and the paired bootstrap on the video-level correctness of two models (shared videos only)."""
    table = aligned(scores, [model_a, model_b])

    def view(model: str) -> pd.DataFrame:
        return table.rename(columns={f"{model}:p_genuine": "p_genuine", f"{model}:pred": "pred"})

    a, b = correct(view(model_a), task), correct(view(model_b), task)
    return {"model_a": model_a, "model_b": model_b, "task": task, "accuracy_a": float(a.mean()),
            "accuracy_b": float(b.mean()), "mcnemar": mcnemar(a, b),
            "bootstrap": paired_bootstrap(a, b, n_boot, seed)}


# --------------------------------------------------------------------------------------------------
# Ensembles (the redundancy principle: several different models, one decision)
# --------------------------------------------------------------------------------------------------

ENSEMBLE_METHODS = ("average", "vote", "stacked")


def stacking_features(table: pd.DataFrame, members: Sequence[str]) -> np.ndarray:
    """The stacker's inputs: each member's genuineness as a logit (clipped away from 0 and 1)."""
    p = np.clip(table[[f"{m}:p_genuine" for m in members]].to_numpy(dtype=float), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def stacked_scores(table: pd.DataFrame, members: Sequence[str], C: float = 1.0) -> tuple[np.ndarray, dict]:
    """Out-of-fold stacking: for each test fold k a logistic regression is fit on the rows of the other
    folds only (themselves out-of-fold predictions of the members' other runs) and scores fold k. Returns
    the scores and, per fold, the subjects the stacker of that fold was trained on (to check for leaks)."""
    from sklearn.linear_model import LogisticRegression

    features = stacking_features(table, members)
    target = table["authenticity_label"].to_numpy(dtype=int)
    folds = table["fold"].to_numpy()
    out = np.full(len(table), np.nan)
    trained_on: dict[int, set] = {}
    for fold in np.unique(folds):
        test, train_rows = folds == fold, folds != fold
        trained_on[int(fold)] = set(table.loc[train_rows, "subject"])
        if len(np.unique(target[train_rows])) < 2:  # nothing to learn from: fall back on the average
            out[test] = table.loc[test, [f"{m}:p_genuine" for m in members]].mean(axis=1)
            continue
        stacker = LogisticRegression(C=C).fit(features[train_rows], target[train_rows])
        out[test] = stacker.predict_proba(features[test])[:, 1]
    return out, trained_on


def ensemble(scores: pd.DataFrame, members: Sequence[str], name: str = "ensemble") -> pd.DataFrame:
    """Video scores (the format of ``video_scores``) of three ensembles of ``members`` on the videos they
    all scored: ``<name>:average`` (mean genuineness; mean 12-class probabilities when every member has
    them), ``<name>:vote`` (genuineness = share of members voting genuine; 12-class: the most voted class)
    and ``<name>:stacked`` (out-of-fold logistic regression on the members' genuineness, ``stacked_scores``)."""
    members = list(members)
    table = aligned(scores, members)
    p = table[[f"{m}:p_genuine" for m in members]].to_numpy(dtype=float)
    probs = np.stack([table[[f"{m}:{c}" for c in PROBS]].to_numpy(dtype=float) for m in members])
    has_classes = not np.isnan(probs).any()
    base = table[[*KEYS, "label", "emotion_label", "authenticity_label"]]
    frames = []

    def add(method: str, genuineness: np.ndarray, class_probs: np.ndarray | None) -> None:
        frame = base.copy()
        frame.insert(0, "run", f"{name}:{method}")
        frame.insert(0, "approach", "ensemble")
        frame.insert(0, "model", f"ensemble/{name}:{method}")
        frame["p_genuine"] = genuineness
        frame["pred"] = class_probs.argmax(axis=1) if class_probs is not None else -1
        for k, column in enumerate(PROBS):
            frame[column] = class_probs[:, k] if class_probs is not None else np.nan
        frames.append(frame)

    add("average", p.mean(axis=1), probs.mean(axis=0) if has_classes else None)
    votes = None
    if has_classes:
        counts = np.stack([(probs.argmax(axis=2) == k).sum(axis=0) for k in range(probs.shape[2])], axis=1)
        votes = (counts + 1e-6 * probs.mean(axis=0)) / len(members)  # vote shares; ties go to the mean probability
    add("vote", (p > 0.5).mean(axis=1), votes)
    stacked, _ = stacked_scores(table, members)
    add("stacked", stacked, None)
    return pd.concat(frames, ignore_index=True)


def check_same_test_subjects(runs: Iterable[results.RunArtifacts]) -> None:
    """Raise ``ValueError`` when two runs' folds of the same number tested different subjects (their scores
    would not be comparable fold by fold: the notebooks that made them used different folds)."""
    seen: dict[int, set] = {}
    for run in runs:
        seen.setdefault(int(run.config["fold"]), set()).add(tuple(run.metrics["subjects"]["test"]))
    differing = sorted(fold for fold, subjects in seen.items() if len(subjects) > 1)
    if differing:
        raise ValueError(f"the runs tested different subjects in fold(s) {differing}: run the notebooks 01-05 of "
                         "this profile on the same folds (splits.csv) before comparing them")


def fold_table_against(baseline: Sequence[results.RunArtifacts], runs: Sequence[results.RunArtifacts],
                       baseline_name: str, name: str, metric: str = "video_accuracy") -> pd.DataFrame:
    """The folds of the best ``baseline`` run (by ``metric``) and of every one of ``runs`` on the folds both
    have, their ``run`` column prefixed with ``baseline_name`` / ``name`` (e.g. ``03: ...`` and ``04: ...``),
    after checking that each fold tested the same subjects."""
    check_same_test_subjects([*baseline, *runs])
    base_table, table = evaluate.fold_table(baseline), evaluate.fold_table(runs)
    best = evaluate.aggregate_folds(base_table).sort_values(f"{metric}_mean", ascending=False)["run"].iloc[0]
    common = set(base_table["fold"]) & set(table["fold"])
    compared = pd.concat([base_table[base_table["run"] == best].assign(run=f"{baseline_name}: {best}"),
                          table.assign(run=f"{name}: " + table["run"])], ignore_index=True)
    return compared[compared["fold"].isin(common)].reset_index(drop=True)
