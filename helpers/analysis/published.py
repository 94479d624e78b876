"""The published SASE-FE numbers beside ours on the same measure (notebook 06 and the Results page)."""

from __future__ import annotations

import pandas as pd

from helpers.analysis import compare, selection
from helpers.metrics import challenge

MISSING_VALUE = "-"  # ran, but did not measure this
# The published numbers, all on the real SASE-FE (book/intro.md, "Results to beat on SASE-FE"; sources in
# book/references.bib). ``metric`` names the column of ``summary_table`` that measures the same thing, taken
# from the selected model of ``approach``; ``model`` (when set) is the architecture the number belongs to: ours
# is shown only when every fold chose it. The challenge scored each of its 60 test videos on its own (challenge
# accuracy): ``correct`` of ``videos`` give the exact interval. The teams judged each video with the one they
# guessed was the same person's (pairs found); ours judges each video alone under the subject K-fold
# protocol, the same measure of a different test set.
CHALLENGE_MEASURE = (f"{challenge.METRIC_NAMES['challenge_accuracy']}: theirs on the challenge's 60 test videos, "
                     "each judged with its partner found by the team; ours per video, each judged alone, mean ± std "
                     "over the K folds of subjects")
REFERENCE_NUMBERS = pd.DataFrame([
    ("Gagatsis 2023 (thesis)", "12-class, frames (InceptionResNetV1 VGGFace2)", 29.06, "single_task", "frame_accuracy",
     None, None, None),
    ("Gagatsis 2023 (thesis)", "multi-task: emotion (frames)", 54.6, "multitask", "emotion_frame_accuracy", None, None,
     None),
    ("Gagatsis 2023 (thesis)", "multi-task: real/fake (frames)", 55.9, "multitask", "authenticity_frame_accuracy",
     None, None, None),
    ("Gagatsis 2023 (thesis)", "multi-task: both right, 12-class (frames)", 30.15, "multitask", "frame_accuracy",
     None, None, None),
    ("Gagatsis 2023 (thesis)", "temporal 12-class (slow_r50)", 23.3, "temporal", "video_accuracy", None, None,
     "slow_r50"),
    ("ChaLearn LAP 2017 winners", "real/fake per test video (challenge accuracy), pairs found by the teams", 66.7,
     None, "authenticity_video_accuracy", 40, 60, None),
    ("NIT-OVGU 2017 (tied first)", "challenge accuracy, pairs found by face identity: activity descriptors + "
     "Rank-SVM", 66.7, "descriptors", "authenticity_video_accuracy", 40, 60, None),
    ("HCILab 2017 (tied first)", "challenge accuracy, pairs found by first-frame similarity: LSTM with "
     "parametric bias on landmarks + gradient boosting", 66.7, "lstm_pb", "authenticity_video_accuracy", 40, 60,
     None),
    ("TUBITAK UZAY-METU 2017", "real/fake per test video (challenge accuracy)", 65.0, None,
     "authenticity_video_accuracy", 39, 60, None),
], columns=["source", "task", "sase_fe_percent", "approach", "metric", "correct", "videos", "model"])
#: Under a protocol with a fixed test set, ours is measured as theirs was: each test video judged with its
#: partner found by face identity (``helpers.analysis.protocol_results.challenge_by_approach``).
PROTOCOL_MEASURES = {
    "chalearn2017": "challenge accuracy, each video judged with its partner found: theirs and ours on the "
                    "challenge's test videos (ours: pairs found by face identity)",
    "fixed": "challenge accuracy, each video judged with its partner found: theirs on the challenge's 60 test "
             "videos, ours on a fixed 40/5/5-shaped test set (challenge-shaped, not the challenge's subjects)",
}


def reference_comparison(summary: pd.DataFrame, dataset: str, synthetic: bool, folds: pd.DataFrame | None = None,
                         choices: pd.DataFrame | None = None, protocol: str = "kfold",
                         challenge_results: dict[str, tuple[str, str]] | None = None) -> pd.DataFrame:
    """The published SASE-FE numbers beside ours on the same measure, from ``summary`` (a ``score_summary`` of
    the *selected* models, its first row the model ranked first on each fold's validation): the row's
    approach's model, or for a row of any approach the first row; a frame-level measure comes from the chosen
    configurations' ``folds`` (``chosen_fold_metrics``). A row about one architecture (slow_r50) is filled only
    when every fold chose it, never with another model's number. ``measure`` says what is compared (for the
    challenge's rows: ``CHALLENGE_MEASURE``); a published challenge accuracy comes with its exact 95 % interval.
    On synthetic data the column says that the two are not comparable; ``not run`` means that the approach has
    no results, ``-`` that it did not measure this. Under a protocol with a fixed test set, the challenge's rows
    take ours from ``challenge_results`` (approach -> (challenge accuracy with pairs found deciding, model)),
    the measure theirs is: each video judged with its partner found (``PROTOCOL_MEASURES``)."""
    column_name = f"ours: {dataset}" + (" (synthetic data: not comparable)" if synthetic else "")
    known = folds is not None and choices is not None
    by_fold = compare.chosen_fold_metrics(folds, choices).set_index("approach") if known else pd.DataFrame()
    rows = []
    for ref in REFERENCE_NUMBERS.itertuples():
        # pandas stores the missing approach as NaN: any approach may answer these rows
        any_approach = pd.isna(ref.approach)
        candidates = summary if any_approach else summary[summary["approach"] == ref.approach]
        column = f"{ref.metric}_mean"
        measured = candidates.dropna(subset=[column]) if column in candidates else candidates.iloc[:0]
        ours, model = MISSING_VALUE, ""
        if not any_approach and candidates.empty:
            ours = "not run"
        elif isinstance(ref.model, str) and (choices is None or not every_fold_chose(choices, ref.approach, ref.model)):
            ours = f"- (no {ref.model} chosen)"
        elif len(measured):
            best = measured.iloc[0]
            interval = ref.metric == "paired_accuracy" and pd.notna(best.get("paired_interval"))
            ours, model = best["paired_interval"] if interval else best[ref.metric], best["model"]
        elif not any_approach and ref.approach in by_fold.index and pd.notna(by_fold.loc[ref.approach].get(column)):
            ours, model = by_fold.loc[ref.approach, ref.metric], f"{ref.approach}/{selection.SELECTED}"
        published = f"{ref.sase_fe_percent:.1f}"
        measure = compare.TABLE_METRICS.get(ref.metric, ref.metric.replace("_", " "))
        if not pd.isna(ref.videos):
            low, high = challenge.exact_interval(int(ref.correct), int(ref.videos))
            published += f" ({100 * low:.1f}-{100 * high:.1f}), {int(ref.correct)} of {int(ref.videos)} videos"
            measure = CHALLENGE_MEASURE
            if protocol in PROTOCOL_MEASURES:
                measure = PROTOCOL_MEASURES[protocol]
                found = (challenge_results or {}).get("any" if any_approach else ref.approach)
                ours, model = found if found else ("not run" if not any_approach else MISSING_VALUE, "")
        rows.append({"source": ref.source, "task": ref.task, "SASE-FE (published)": published,
                     column_name: ours, "measure": measure, "our model": model})
    return pd.DataFrame(rows)



def every_fold_chose(choices: pd.DataFrame, approach: str, model: str) -> bool:
    """Whether every fold's configuration of ``approach`` is a run of the architecture ``model``."""
    chosen = choices[choices["approach"] == approach]["configuration"].astype(str)
    return len(chosen) > 0 and all(name == model or name.startswith(f"{model}-") for name in chosen)
