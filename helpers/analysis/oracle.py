"""How hard the synthetic task is: an oracle on the generator's true action units, and single descriptors.

The *oracle* sees what no model of pixels or landmarks can: the true action-unit intensities of every kept
frame (:func:`kept_series`, from the plans, without rendering), summarised into the activity descriptors
that notebook 05 computes from landmarks (:func:`helpers.geometry.activity_descriptors`). A linear model
on them (logistic regression on z-scored descriptors, cross-validated with subjects as groups) and scored
on the paired protocol says how well a good model of the cues can do; the AUC of every single descriptor
says whether one of them gives the answer away. ``experiments/oracle.py`` prints both;
:func:`oracle_scores` puts the oracle beside the approaches in 06, scored on their folds.

Three series per video, at the frames and rate the extraction keeps:

* ``expression``: the target emotion's action units (without AU6), summed on each side of the face,
  relative to their sum at the apex, averaged over the two sides;
* ``eye``: AU6 (eye involvement), averaged over the two sides;
* ``asymmetry``: the absolute left-right difference of the per-side expression.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import labels
from helpers.analysis import confounds, stats
from helpers.data import splits as data_splits
from helpers.geometry import EMOTION_DESCRIPTOR_NAMES, activity_descriptors, descriptor_names, emotion_code
from helpers.metrics import scoring
from helpers.profiles import SyntheticSpec
from helpers.synthetic import generate
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
ORACLE = "oracle/true action units (synthetic data)"  # its model name in 06's tables


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


def fitted_oracle(x: np.ndarray, genuine: np.ndarray, subjects: np.ndarray):
    """A logistic regression on z-scored descriptors ``x`` of training videos, its strength of regularisation
    (:data:`REGULARISATION`) picked by a 3-fold cross-validation over these training subjects alone."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
                         {"logisticregression__C": list(REGULARISATION)}, cv=GroupKFold(3))
    return model.fit(x, genuine, groups=subjects)


def out_of_fold_scores(descriptors: pd.DataFrame, videos: pd.DataFrame, n_folds: int = 4) -> np.ndarray:
    """Genuineness scores of :func:`fitted_oracle`, each video scored by the model of the fold that held its
    subject out (``GroupKFold`` over subjects)."""
    from sklearn.model_selection import GroupKFold

    x, y, groups = descriptors.to_numpy(float), videos["genuine"].to_numpy(int), videos["subject"].to_numpy()
    scores = np.zeros(len(y))
    for train, test in GroupKFold(min(n_folds, len(set(groups)))).split(x, y, groups):
        scores[test] = fitted_oracle(x[train], y[train], groups[train]).decision_function(x[test])
    return scores


def oracle_scores(dataset_dir: str | Path, splits: pd.DataFrame, folds: Sequence[int]) -> pd.DataFrame | None:
    """Video scores of the oracle (the columns of ``compare.video_scores``, model :data:`ORACLE`) on the
    synthetic dataset in ``dataset_dir``, on the folds of ``splits``: for each fold, :func:`fitted_oracle` on
    the true descriptors of the fold's training subjects scores its test subjects, as the approaches' models
    are scored. None where ``dataset_dir`` holds no dataset of this generator version (the real SASE-FE, or
    one made by an older generator): there is no truth to read."""
    parameters = generate.read_parameters(dataset_dir)
    if parameters is None or parameters.get("version") != generate.GENERATOR_VERSION:
        return None
    spec, cues = SyntheticSpec(**parameters["spec"]), CueConfig(**parameters["cues"])
    descriptors, videos = oracle_table(spec, cues)
    x, genuine = descriptors.to_numpy(float), videos["genuine"].to_numpy(int)
    subjects = videos["subject"].astype(str)
    parts = []
    for fold in folds:
        train_subjects, test_subjects = data_splits.fold_subjects(splits, fold)
        train, test = subjects.isin(train_subjects).to_numpy(), subjects.isin(test_subjects).to_numpy()
        if test.any() and len(set(genuine[train])) == 2:
            model = fitted_oracle(x[train], genuine[train], subjects.to_numpy()[train])
            p_genuine = model.predict_proba(x[test])[:, list(model.classes_).index(1)]
            parts.append(confounds.score_rows(videos[test], p_genuine, ORACLE, fold, approach="oracle"))
    return pd.concat(parts, ignore_index=True) if parts else None


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
