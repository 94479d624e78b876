"""How hard the synthetic task is: an oracle on the generator's true action units, and single descriptors.

The *oracle* sees what no model of pixels or landmarks can: the true action-unit intensities of every kept
frame (:func:`kept_series`, from the plans, without rendering), summarised into the activity descriptors
that notebook 05 computes from landmarks (:func:`helpers.geometry.activity_descriptors`). A linear model
on them (logistic regression on z-scored descriptors, cross-validated with subjects as groups) and scored
on the paired protocol says how well a good model of the cues can do; the AUC of every single descriptor
says whether one of them gives the answer away. ``experiments/oracle.py`` prints both.

Three series per video, at the frames and rate the extraction keeps:

* ``expression``: the target emotion's action units (without AU6), summed on each side of the face,
  relative to their sum at the apex, averaged over the two sides;
* ``eye``: AU6 (eye involvement), averaged over the two sides;
* ``asymmetry``: the absolute left-right difference of the per-side expression.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers import labels
from helpers.analysis import stats
from helpers.geometry import EMOTION_DESCRIPTOR_NAMES, activity_descriptors, descriptor_names, emotion_code
from helpers.metrics import scoring
from helpers.profiles import SyntheticSpec
from helpers.synthetic.action_units import SIDES, channel
from helpers.synthetic.plans import (
    CUES,
    EMOTION_ACTION_UNITS,
    KEPT_FPS,
    CueConfig,
    VideoPlan,
    frame_count,
    kept_frames,
    plan_video,
)

ORACLE_SERIES: tuple[str, ...] = ("expression", "eye", "asymmetry")


def kept_series(plan: VideoPlan) -> pd.DataFrame:
    """The :data:`ORACLE_SERIES` of one video at the frames the extraction keeps (rows: kept frames)."""
    emotion = labels.parse_code(plan.code).emotion
    units = plan.units[kept_frames(plan.frames, plan.fps)]
    apex = sum(EMOTION_ACTION_UNITS[emotion].values())
    sides = np.stack([
        sum(units[:, channel(unit, side)] for unit in EMOTION_ACTION_UNITS[emotion]) / apex for side in SIDES
    ], axis=1)
    eye = np.mean([units[:, channel("AU6", side)] for side in SIDES], axis=0)
    return pd.DataFrame({"expression": sides.mean(axis=1), "eye": eye,
                         "asymmetry": np.abs(sides[:, 0] - sides[:, 1])})


def kept_rate(spec: SyntheticSpec) -> float:
    """Frames per second of the kept frames of a video of ``spec`` (the descriptors' sampling rate)."""
    kept = kept_frames(frame_count(spec), spec.fps)
    return float(spec.fps / np.median(np.diff(kept))) if len(kept) > 1 else float(min(spec.fps, KEPT_FPS))


def oracle_table(spec: SyntheticSpec, cues: CueConfig | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(descriptors, videos)`` of every video of ``spec``: the activity descriptors of the true series
    (and the emotion's one-hot code), and per video ``subject, code, emotion, genuine`` and each cue's
    latent strength (``strength_<cue>``)."""
    rate = kept_rate(spec)
    rows, videos = [], []
    for subject_index in range(spec.subjects):
        for code in labels.CODES:
            plan = plan_video(subject_index, code, spec, cues)
            video = labels.parse_code(code)
            rows.append(np.concatenate([activity_descriptors(kept_series(plan), rate).to_numpy(),
                                        emotion_code(video.emotion)]))
            videos.append({"subject": plan.subject, "code": code, "emotion": video.emotion,
                           "genuine": video.genuine, **{f"strength_{c}": plan.strengths[c] for c in CUES}})
    names = [*descriptor_names(ORACLE_SERIES), *EMOTION_DESCRIPTOR_NAMES]
    return pd.DataFrame(rows, columns=names), pd.DataFrame(videos)


REGULARISATION = (0.01, 0.03, 0.1, 0.3, 1.0)  # the oracle's choices of C, picked on the training subjects


def out_of_fold_scores(descriptors: pd.DataFrame, videos: pd.DataFrame, n_folds: int = 4) -> np.ndarray:
    """Genuineness scores of a logistic regression on z-scored descriptors, each video scored by the model
    of the fold that held its subject out (``GroupKFold`` over subjects). Each fold picks its strength of
    regularisation (:data:`REGULARISATION`) by a 3-fold cross-validation over its own training subjects."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y, groups = descriptors.to_numpy(float), videos["genuine"].to_numpy(int), videos["subject"].to_numpy()
    scores = np.zeros(len(y))
    for train, test in GroupKFold(min(n_folds, len(set(groups)))).split(x, y, groups):
        model = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
                             {"logisticregression__C": list(REGULARISATION)}, cv=GroupKFold(3))
        scores[test] = model.fit(x[train], y[train], groups=groups[train]).decision_function(x[test])
    return scores


def paired_interval(videos: pd.DataFrame, scores: np.ndarray, n_boot: int = 2000) -> dict:
    """The paired protocol's accuracy of ``scores`` with its 95 % interval over subjects
    (``stats.cluster_bootstrap``): ``estimate, ci_low, ci_high, n_subjects, n_items``..."""
    pairs = scoring.pair_table(videos[["subject", "code"]].assign(p_genuine=scores))
    totals = stats.subject_totals(pairs["subject"].to_numpy(), pairs["score"].to_numpy(), "pairs")
    return stats.cluster_bootstrap(totals, n_boot=n_boot)


def single_aucs(values: pd.DataFrame, genuine: np.ndarray) -> pd.Series:
    """Each column's AUC for genuine vs posed, in whichever direction separates better (0.5 to 1), sorted
    from the best; a constant column gives 0.5."""
    from scipy.stats import rankdata

    positives, negatives = int(genuine.sum()), int((~genuine).sum())
    aucs = {}
    for name in values.columns:
        ranks = rankdata(values[name].to_numpy(float))
        auc = (ranks[genuine].sum() - positives * (positives + 1) / 2) / (positives * negatives)
        aucs[name] = max(auc, 1 - auc)
    return pd.Series(aucs, name="auc").sort_values(ascending=False)


def difficulty(spec: SyntheticSpec, cues: CueConfig | None = None, n_folds: int = 4, n_boot: int = 2000) -> dict:
    """The oracle's paired accuracy (``oracle``: a ``paired_interval`` dict), the AUC of every single
    descriptor (``descriptor_aucs``, a Series from the best) and of each cue's drawn strength
    (``strength_aucs``), for the dataset of ``spec`` and ``cues``."""
    descriptors, videos = oracle_table(spec, cues)
    genuine = videos["genuine"].to_numpy(bool)
    activity = descriptors.drop(columns=list(EMOTION_DESCRIPTOR_NAMES))
    return {
        "oracle": paired_interval(videos, out_of_fold_scores(descriptors, videos, n_folds), n_boot),
        "descriptor_aucs": single_aucs(activity, genuine),
        "strength_aucs": single_aucs(videos[[f"strength_{c}" for c in CUES]], genuine),
        "videos": len(videos),
    }
