"""The comparison of notebook 06: paired protocol, statistics, ensembles (no leaks) and artifact reading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import labels, results
from helpers.analysis import compare, evaluate


def videos_table(subjects=("s1", "s2"), codes=labels.CODES, fold=0, model="m", p=None) -> pd.DataFrame:
    """Video scores of one model: every code of every subject, p_genuine from ``p(subject, code)``."""
    rows = []
    for subject in subjects:
        for code in codes:
            video = labels.parse_code(code)
            genuine = p(subject, code) if p else (0.9 if video.genuine else 0.1)
            row = {"model": model, "approach": model.split("/")[0], "run": model, "fold": fold, "subject": subject,
                   "code": code, "label": video.label, "emotion_label": video.emotion_index,
                   "authenticity_label": video.authenticity_index, "p_genuine": genuine, "pred": video.label}
            row.update({c: float(k == video.label) for k, c in enumerate(compare.PROBS)})
            rows.append(row)
    return pd.DataFrame(rows)


# ---- paired protocol --------------------------------------------------------------------------------


def test_a_perfect_scorer_wins_every_pair():
    result = compare.paired_protocol(videos_table())
    assert result == {"accuracy": 1.0, "pairs": 12, "ties": 0, "skipped": 0}


def test_an_inverted_scorer_loses_every_pair():
    inverted = videos_table(p=lambda s, c: 0.2 if labels.parse_code(c).genuine else 0.7)
    assert compare.paired_protocol(inverted)["accuracy"] == 0.0


def test_ties_count_half_and_missing_partners_are_skipped():
    table = videos_table(subjects=("s1",), p=lambda s, c: 0.5 if labels.parse_code(c).emotion == "happy"
                         else 0.9 if labels.parse_code(c).genuine else 0.1)
    table = table[table["code"] != "H2N2S"]  # sad loses its posed video: N2S has no partner
    result = compare.paired_protocol(table)
    assert result["pairs"] == 5 and result["skipped"] == 1 and result["ties"] == 1
    assert result["accuracy"] == pytest.approx((4 + 0.5) / 5)


def test_paired_protocol_agrees_with_evaluate():
    rng = np.random.default_rng(0)
    table = videos_table(subjects=("a", "b", "c"))
    table["p_genuine"] = rng.random(len(table))
    ours = compare.paired_protocol(table)
    theirs = evaluate.paired_accuracy(table, table["p_genuine"].to_numpy())
    assert ours["accuracy"] == pytest.approx(theirs["accuracy"]) and ours["pairs"] == theirs["pairs"]


def test_a_duplicated_video_is_refused():
    with pytest.raises(ValueError, match="one model and fold"):
        compare.pair_table(pd.concat([videos_table(), videos_table()]))


# ---- statistics -------------------------------------------------------------------------------------


def test_mcnemar_against_a_hand_computed_case():
    # 10 items: A alone right on 5, B alone right on 1, both right on 3, both wrong on 1.
    a = [1, 1, 1, 1, 1, 0, 1, 1, 1, 0]
    b = [0, 0, 0, 0, 0, 1, 1, 1, 1, 0]
    result = compare.mcnemar(a, b)
    assert (result["a_only"], result["b_only"], result["discordant"]) == (5, 1, 6)
    # two-sided exact: 2 * P(X <= 1 | n=6, p=1/2) = 2 * (1 + 6) / 64
    assert result["p_value"] == pytest.approx(14 / 64)


def test_mcnemar_without_discordant_items_is_one():
    assert compare.mcnemar([1, 0, 1], [1, 0, 1])["p_value"] == 1.0


def test_paired_bootstrap():
    a = np.array([1] * 40 + [0] * 10)
    same = compare.paired_bootstrap(a, a, n_boot=500)
    assert same["difference"] == 0 and same["p_value"] == 1.0
    better = compare.paired_bootstrap(np.ones(50), np.zeros(50), n_boot=500)
    assert better["difference"] == 1.0 and better["p_value"] == 0.0 and better["ci_low"] == 1.0
    mixed = compare.paired_bootstrap(a, np.roll(a, 7), n_boot=500)
    assert mixed["ci_low"] <= mixed["difference"] <= mixed["ci_high"]


def test_compare_models_uses_shared_videos_only():
    a = videos_table(model="single_task/a")
    b = videos_table(model="multitask/b", p=lambda s, c: 0.4 if labels.parse_code(c).genuine else 0.6)
    b = b[b["subject"] == "s1"]
    result = compare.compare_models(pd.concat([a, b]), "single_task/a", "multitask/b")
    assert result["mcnemar"]["n"] == 12 and result["accuracy_a"] == 1.0 and result["accuracy_b"] == 0.0
    assert result["mcnemar"]["p_value"] == pytest.approx(2 * 0.5 ** 12)


# ---- ensembles --------------------------------------------------------------------------------------


def folded(model: str, p, folds=((0, ("s1", "s2")), (1, ("s3", "s4")), (2, ("s5", "s6")))) -> pd.DataFrame:
    return pd.concat([videos_table(subjects, fold=fold, model=model, p=p) for fold, subjects in folds],
                     ignore_index=True)


def test_average_and_vote():
    good = folded("single_task/good", None)
    bad = folded("multitask/bad", lambda s, c: 0.3 if labels.parse_code(c).genuine else 0.6)
    ok = folded("temporal/ok", lambda s, c: 0.8 if labels.parse_code(c).genuine else 0.2)
    scores = compare.ensemble(pd.concat([good, bad, ok]), ["single_task/good", "multitask/bad", "temporal/ok"])
    by = {m: part for m, part in scores.groupby("run")}
    assert set(by) == {"ensemble:average", "ensemble:vote", "ensemble:stacked"}
    genuine = (by["ensemble:average"]["authenticity_label"] == 1).to_numpy()
    assert np.allclose(by["ensemble:average"].loc[genuine, "p_genuine"], (0.9 + 0.3 + 0.8) / 3)
    assert np.allclose(by["ensemble:vote"].loc[genuine, "p_genuine"], 2 / 3)
    assert compare.paired_protocol(by["ensemble:vote"][by["ensemble:vote"]["fold"] == 0])["accuracy"] == 1.0
    assert (by["ensemble:average"]["pred"] == by["ensemble:average"]["label"]).all()


def test_the_stacker_never_trains_on_its_test_fold():
    members = ["single_task/x", "multitask/y"]
    table = compare.aligned(pd.concat([folded(m, None) for m in members]), members)
    _, trained_on = compare.stacked_scores(table, members)
    for fold, subjects in trained_on.items():
        assert not subjects & set(table.loc[table["fold"] == fold, "subject"])


def test_leakage_would_be_perfect_but_the_stacker_is_at_chance():
    # Fold 0: the member's genuineness equals the truth. Folds 1 and 2: it is unrelated to the truth
    # (every label meets both values equally). A stacker that saw fold 0 would score it perfectly; one fit
    # on folds 1 and 2 only learns nothing, gives every fold-0 video the same score: all pairs tie.
    def p(subject, code):
        genuine = labels.parse_code(code).genuine
        if subject in ("s1", "s2"):
            return 0.9 if genuine else 0.1
        return 0.9 if (labels.parse_code(code).emotion_index + int(subject[1])) % 2 else 0.1

    member = "single_task/leaky"
    scores = folded(member, p)
    table = compare.aligned(scores, [member])
    stacked, _ = compare.stacked_scores(table, [member])
    fold0 = table.assign(p_genuine=stacked)[table["fold"] == 0]
    assert compare.paired_protocol(fold0)["accuracy"] == pytest.approx(0.5)

    from sklearn.linear_model import LogisticRegression  # what a leaky stacker (fit on all rows) would do

    leaky = LogisticRegression().fit(compare.stacking_features(table, [member]), table["authenticity_label"])
    leaked = table.assign(p_genuine=leaky.predict_proba(compare.stacking_features(table, [member]))[:, 1])
    assert compare.paired_protocol(leaked[leaked["fold"] == 0])["accuracy"] == 1.0


# ---- reading artifacts ------------------------------------------------------------------------------


def test_tables_from_artifacts(tmp_path, write_fake_run):
    assert compare.missing_approaches(tmp_path) == list(compare.APPROACHES)
    for fold, subjects in enumerate((["s1", "s2"], ["s3"])):
        write_fake_run(tmp_path, "single_task", "cnn-ce", fold, subjects, seed=fold)
        write_fake_run(tmp_path, "temporal", "conv3d", fold, subjects, seed=10 + fold)
    assert compare.missing_approaches(tmp_path) == ["multitask"]
    runs = compare.load_all(tmp_path)
    scores = compare.video_scores(runs)
    assert len(scores) == 2 * 3 * 12 and set(scores["model"]) == {"single_task/cnn-ce", "temporal/conv3d"}
    folds = compare.comparison_folds(runs)
    summary = compare.summary_table(folds)
    assert set(summary["model"]) == set(scores["model"]) and (summary["folds"] == 2).all()
    # the paired accuracy in metrics.json and the one recomputed from predictions agree
    ours = compare.fold_scores(scores).set_index(["model", "fold"])["paired_accuracy"]
    theirs = folds.set_index(["model", "fold"])["paired_accuracy"]
    assert np.allclose(ours.sort_index(), theirs.sort_index())
    shown = compare.display_table(summary)
    assert "real/fake, paired" in shown.columns
    reference = compare.reference_comparison(summary, "smoke (synthetic)")
    assert "ours: smoke (synthetic)" in reference.columns and (reference["our model"] != "").any()
    paired = reference[reference["task"] == "real/fake, paired protocol"]  # answered by the best of any approach
    best = summary.loc[summary["paired_accuracy_mean"].idxmax()]
    assert len(paired) == 2 and (paired["our model"] == best["model"]).all()
    assert (reference.loc[reference["task"].str.startswith("multi-task"), "ours: smoke (synthetic)"] == "not run").all()
    assert set(compare.best_per_approach(summary)) == {"single_task", "temporal"}
    by_emotion = compare.authenticity_by_emotion(scores)
    assert set(by_emotion["emotion"]) == set(labels.EMOTIONS)
