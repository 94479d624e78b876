"""The comparison of notebook 06: paired protocol, ensembles (no leaks), artifact reading and reference rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import approaches, labels, results
from helpers.analysis import compare, ensembles, published, selection
from helpers.metrics import evaluate, scoring


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
    result = scoring.paired_protocol(videos_table())
    assert result == {"accuracy": 1.0, "pairs": 12, "ties": 0, "skipped": 0}


def test_an_inverted_scorer_loses_every_pair():
    inverted = videos_table(p=lambda s, c: 0.2 if labels.parse_code(c).genuine else 0.7)
    assert scoring.paired_protocol(inverted)["accuracy"] == 0.0


def test_ties_count_half_and_missing_partners_are_skipped():
    table = videos_table(subjects=("s1",), p=lambda s, c: 0.5 if labels.parse_code(c).emotion == "happy"
                         else 0.9 if labels.parse_code(c).genuine else 0.1)
    table = table[table["code"] != "H2N2S"]  # sad loses its posed video: N2S has no partner
    result = scoring.paired_protocol(table)
    assert result["pairs"] == 5 and result["skipped"] == 1 and result["ties"] == 1
    assert result["accuracy"] == pytest.approx((4 + 0.5) / 5)


def test_the_runners_paired_accuracy_scores_right_wrong_and_tied_pairs():
    table = videos_table(subjects=("a",), codes=("N2H", "S2N2H", "N2S", "H2N2S", "N2D", "H2N2D", "N2A"))
    p = {"N2H": 0.8, "S2N2H": 0.3, "N2S": 0.2, "H2N2S": 0.6, "N2D": 0.5, "H2N2D": 0.5, "N2A": 0.9}
    result = evaluate.paired_accuracy(table.drop(columns="p_genuine"), table["code"].map(p).to_numpy())
    assert result == {"accuracy": pytest.approx((1 + 0 + 0.5) / 3), "pairs": 3}  # N2A has no partner


def test_a_duplicated_video_is_refused():
    with pytest.raises(ValueError, match="one model and fold"):
        scoring.pair_table(pd.concat([videos_table(), videos_table()]))


# ---- ensembles --------------------------------------------------------------------------------------


def folded(model: str, p, folds=((0, ("s1", "s2")), (1, ("s3", "s4")), (2, ("s5", "s6")))) -> pd.DataFrame:
    return pd.concat([videos_table(subjects, fold=fold, model=model, p=p) for fold, subjects in folds],
                     ignore_index=True)


def test_average_and_vote():
    good = folded("single_task/good", None)
    bad = folded("multitask/bad", lambda s, c: 0.3 if labels.parse_code(c).genuine else 0.6)
    ok = folded("temporal/ok", lambda s, c: 0.8 if labels.parse_code(c).genuine else 0.2)
    scores = ensembles.ensemble(pd.concat([good, bad, ok]), ["single_task/good", "multitask/bad", "temporal/ok"])
    by = {m: part for m, part in scores.groupby("run")}
    assert set(by) == {"ensemble:average", "ensemble:vote", "ensemble:stacked"}
    genuine = (by["ensemble:average"]["authenticity_label"] == 1).to_numpy()
    assert np.allclose(by["ensemble:average"].loc[genuine, "p_genuine"], (0.9 + 0.3 + 0.8) / 3)
    assert np.allclose(by["ensemble:vote"].loc[genuine, "p_genuine"], 2 / 3)
    assert scoring.paired_protocol(by["ensemble:vote"][by["ensemble:vote"]["fold"] == 0])["accuracy"] == 1.0
    assert (by["ensemble:average"]["pred"] == by["ensemble:average"]["label"]).all()


def test_the_stacker_never_trains_on_its_test_fold():
    members = ["single_task/x", "multitask/y"]
    table = ensembles.aligned(pd.concat([folded(m, None) for m in members]), members)
    _, trained_on = ensembles.stacked_scores(table, members)
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
    table = ensembles.aligned(scores, [member])
    stacked, _ = ensembles.stacked_scores(table, [member])
    fold0 = table.assign(p_genuine=stacked)[table["fold"] == 0]
    assert scoring.paired_protocol(fold0)["accuracy"] == pytest.approx(0.5)

    from sklearn.linear_model import LogisticRegression  # what a leaky stacker (fit on all rows) would do

    leaky = LogisticRegression().fit(ensembles.stacking_features(table, [member]), table["authenticity_label"])
    leaked = table.assign(p_genuine=leaky.predict_proba(ensembles.stacking_features(table, [member]))[:, 1])
    assert scoring.paired_protocol(leaked[leaked["fold"] == 0])["accuracy"] == 1.0


# ---- reading artifacts ------------------------------------------------------------------------------


def test_tables_from_artifacts(tmp_path, write_fake_run):
    assert compare.missing_approaches(tmp_path) == list(approaches.APPROACHES)
    for fold, subjects in enumerate((["s1", "s2"], ["s3"])):
        write_fake_run(tmp_path, "single_task", "cnn-ce", fold, subjects, seed=fold)
        write_fake_run(tmp_path, "temporal", "conv3d", fold, subjects, seed=10 + fold)
    assert compare.missing_approaches(tmp_path) == ["multitask", "descriptors", "trajectories", "lstm_pb"]
    runs = compare.load_all(tmp_path)
    scores = compare.video_scores(runs)
    assert len(scores) == 2 * 3 * 12 and set(scores["model"]) == {"single_task/cnn-ce", "temporal/conv3d"}
    folds = compare.comparison_folds(runs)
    summary = compare.summary_table(folds, scores)
    assert set(summary["model"]) == set(scores["model"]) and (summary["folds"] == 2).all()
    assert (summary["pairs"] == 3 * 6).all() and summary["paired_interval"].str.contains("CI").all()
    # the paired accuracy in metrics.json and the one recomputed from predictions agree
    ours = compare.fold_scores(scores).set_index(["model", "fold"])["paired_accuracy"]
    theirs = folds.set_index(["model", "fold"])["paired_accuracy"]
    assert np.allclose(ours.sort_index(), theirs.sort_index())
    shown = compare.display_table(summary)
    assert "real/fake, paired accuracy, pairs known" in shown.columns
    assert "real/fake, video (challenge accuracy)" in shown.columns and compare.DISPLAY_EXTRA["paired_interval"] in shown.columns
    by_emotion = compare.authenticity_by_emotion(scores)
    assert set(by_emotion["emotion"]) == set(labels.EMOTIONS)


def test_the_summary_is_ordered_by_no_score_and_says_which_folds_chose_each_run(tmp_path, write_fake_run):
    for fold, subjects in enumerate((["s1", "s2"], ["s3", "s4"])):
        for seed, run in enumerate(("c", "a", "b")):
            write_fake_run(tmp_path, "single_task", run, fold, subjects, seed=10 * fold + seed)
    runs = compare.load_all(tmp_path)
    folds = compare.comparison_folds(runs)
    summary = selection.with_chosen_folds(compare.summary_table(folds), runs)
    assert list(summary["model"]) == list(dict.fromkeys(folds["model"]))  # as the runs came, not by a score
    assert "validation_paired_mean" not in summary
    per_fold = selection.selected_per_fold(runs)
    for fold, run_id in per_fold.items():
        assert str(fold) in summary.set_index("model").loc[f"single_task/{run_id}", "chosen_in_folds"].split(", ")
    never = set(summary["model"]) - {f"single_task/{run_id}" for run_id in per_fold.values()}
    assert all(summary.set_index("model").loc[model, "chosen_in_folds"] == "-" for model in never)
    assert compare.DISPLAY_EXTRA["chosen_in_folds"] in compare.display_table(summary).columns


def test_the_baseline_of_a_fold_comparison_is_chosen_per_fold_on_validation(tmp_path, write_fake_run):
    for fold, subjects in enumerate((["s1", "s2"], ["s3", "s4"])):
        for seed, run in enumerate(("a", "b")):
            write_fake_run(tmp_path, "single_task", run, fold, subjects, seed=10 * fold + seed)
        write_fake_run(tmp_path, "multitask", "m", fold, subjects, seed=99 + fold)
    baseline = compare.load_all(tmp_path, ["single_task"])
    runs = compare.load_all(tmp_path, ["multitask"])
    table = compare.fold_table_against(baseline, runs, "03", "04")
    chosen = selection.selected_per_fold(baseline)
    base = table[table["run"].str.startswith("03: ")]
    assert len(base) == 2 and set(base["run"]) == {f"03: {selection.SELECTED}"}
    for fold, run_id in chosen.items():
        expected = next(r for r in baseline if r.run_id == run_id and int(r.config["fold"]) == fold)
        row = base[base["fold"] == fold].iloc[0]
        assert np.isclose(row["video_accuracy"], expected.metrics["label"]["video"]["accuracy"])


# ---- the published numbers beside ours ---------------------------------------------------------------


def reference_summary(models: dict[str, float]) -> pd.DataFrame:
    """A ``summary_table``-like frame: one row per model with a paired accuracy, in the order given."""
    return pd.DataFrame([{"approach": model.split("/")[0], "model": model, "paired_accuracy": value,
                          "paired_accuracy_mean": value, "paired_interval": f"{value:.1f} (CI)",
                          "authenticity_video_accuracy": f"{value - 5:.1f} ± 2.0",
                          "authenticity_video_accuracy_mean": value - 5,
                          "frame_accuracy": "30.0 ± 1.0", "frame_accuracy_mean": 30.0}
                         for model, value in models.items()])


def test_the_reference_rows_take_the_first_ranked_model_not_the_best_test_score():
    # the first row (ranked first on validation) answers the open rows, although the second scored higher on test
    summary = reference_summary({"temporal/selected on validation": 60.0, "single_task/selected on validation": 80.0})
    reference = published.reference_comparison(summary, "full", synthetic=False)
    per_video = reference[reference["task"].str.startswith("real/fake per test video (challenge accuracy)")]
    assert len(per_video) == 2 and (per_video["our model"] == "temporal/selected on validation").all()
    # like with like: the challenge scored each test video, so ours is the per-video accuracy, not the paired one
    assert (per_video["ours: full"] == "55.0 ± 2.0").all()
    assert per_video["measure"].str.startswith("challenge accuracy: theirs on the challenge's 60 test videos").all()
    assert per_video["SASE-FE (published)"].tolist() == ["66.7 (53.3-78.3), 40 of 60 videos",
                                                         "65.0 (51.6-76.9), 39 of 60 videos"]
    single = reference[reference["task"].str.startswith("12-class, frames")]
    assert single["our model"].item() == "single_task/selected on validation"
    assert (reference.loc[reference["task"].str.startswith("multi-task"), "ours: full"] == "not run").all()


def test_the_slow_r50_row_is_never_filled_with_another_models_number():
    summary = reference_summary({"temporal/selected on validation": 60.0}).assign(
        video_accuracy="40.0 ± 2.0", video_accuracy_mean=40.0)
    row = "temporal 12-class (slow_r50)"
    choices = pd.DataFrame({"approach": ["temporal"] * 2, "fold": [0, 1],
                            "configuration": ["cnn_gru-aaaaaa", "slow_r50-bbbbbb"]})
    other = published.reference_comparison(summary, "full", synthetic=False, choices=choices)
    assert other.loc[other["task"] == row, "ours: full"].item() == "- (no slow_r50 chosen)"
    assert published.reference_comparison(summary, "full", synthetic=False).loc[
        lambda t: t["task"] == row, "ours: full"].item() == "- (no slow_r50 chosen)"  # unknown: not claimed
    choices["configuration"] = ["slow_r50-aaaaaa", "slow_r50-bbbbbb"]
    slow = published.reference_comparison(summary, "full", synthetic=False, choices=choices)
    assert slow.loc[slow["task"] == row, "ours: full"].item() == "40.0 ± 2.0"


def test_frame_measures_come_from_the_configurations_chosen_per_fold():
    summary = pd.DataFrame([{"approach": "multitask", "model": "multitask/selected on validation",
                             "paired_accuracy_mean": 70.0, "paired_interval": "70.0 (CI)"}])
    folds = pd.DataFrame({"approach": ["multitask"] * 4, "fold": [0, 0, 1, 1],
                          "model": ["multitask/a-111111", "multitask/b-222222"] * 2,
                          "emotion_frame_accuracy": [0.5, 0.9, 0.7, 0.1]})
    choices = pd.DataFrame({"approach": ["multitask"] * 2, "fold": [0, 1], "configuration": ["a-111111", "b-222222"]})
    reference = published.reference_comparison(summary, "full", False, folds=folds, choices=choices)
    emotion = reference[reference["task"] == "multi-task: emotion (frames)"].iloc[0]
    assert emotion["ours: full"] == "30.0 ± 28.3"  # fold 0 chose a (0.5), fold 1 chose b (0.1)
    both = reference[reference["task"] == "multi-task: both right, 12-class (frames)"].iloc[0]
    assert both["ours: full"] == "-"  # ran, but this measure is not in its folds
    assert (reference.loc[reference["task"].str.startswith("12-class, frames"), "ours: full"] == "not run").all()


def test_synthetic_numbers_are_labelled_not_comparable():
    reference = published.reference_comparison(reference_summary({"temporal/x": 99.0}), "smoke", synthetic=True)
    ours = [column for column in reference.columns if column.startswith("ours")]
    assert ours == ["ours: smoke (synthetic data: not comparable)"]
    real = published.reference_comparison(reference_summary({"temporal/x": 99.0}), "full", synthetic=False)
    assert "not comparable" not in " ".join(real.columns)


# ---- runs under other settings ----------------------------------------------------------------------


def artifacts(approach: str, run: str, run_id: str, identity: dict, fold: int = 0) -> results.RunArtifacts:
    config = {"approach": approach, "run": run, "run_id": run_id, "identity": identity, "fold": fold}
    return results.RunArtifacts(Path("unused") / run_id / f"fold_{fold}", {}, config, {}, pd.DataFrame(), None)


def test_run_differences_name_only_the_settings_that_differ():
    identity = {"model": "resnet18", "train": {"lr": 1e-3, "epochs": 5}}
    runs = [artifacts("single_task", "resnet", "resnet-aaaaaa", identity),
            artifacts("single_task", "resnet", "resnet-aaaaaa", identity, fold=1),
            artifacts("single_task", "resnet", "resnet-bbbbbb", {**identity, "train": {"lr": 1e-4, "epochs": 5}}),
            artifacts("single_task", "cnn", "cnn-cccccc", identity)]
    table = compare.run_differences(runs)
    assert set(table["run_id"]) == {"resnet-aaaaaa", "resnet-bbbbbb"}
    assert [c for c in table.columns if c not in ("approach", "run", "run_id")] == ["train.lr"]
    assert sorted(table["train.lr"]) == [1e-4, 1e-3]
    assert compare.run_differences(runs[:2]).empty


# ---- probabilities as the model gave them -----------------------------------------------------------


def test_close_probabilities_survive_the_predictions_file(tmp_path):
    videos = pd.DataFrame({"subject": ["s1", "s1"], "code": ["N2H", "S2N2H"],
                           "label": [labels.parse_code(code).label for code in ("N2H", "S2N2H")]})
    probs = np.full((2, 12), (1 - 0.5) / 10, dtype=np.float32)
    probs[:, 0], probs[:, 6] = 0.25, 0.25
    probs[1, 0] += 1e-5  # a difference rounding to 4 decimals would erase: the pair would tie
    probs[1, 6] -= 1e-5
    table = evaluate.predictions_table({"probs": probs, "video": np.array([0, 1]), "frame": np.array([0, 0])},
                                       videos, "label")
    results.write_csv(tmp_path / "predictions.csv", table)
    read = pd.read_csv(tmp_path / "predictions.csv", dtype={"subject": str, "code": str})
    genuine = compare.p_genuine(evaluate.video_level(read), "label")
    assert genuine[0] != genuine[1]


def test_paired_intervals_refuse_runs_loaded_without_predictions(tmp_path, write_fake_run):
    for fold, subjects in enumerate((["s1", "s2"], ["s3"])):
        write_fake_run(tmp_path, "single_task", "cnn-ce", fold, subjects, seed=fold)
    bare = evaluate.load_runs(tmp_path, "single_task")
    summary = evaluate.aggregate_folds(evaluate.fold_table(bare))
    with pytest.raises(ValueError, match="predictions=True"):
        compare.with_paired_intervals(summary, bare)  # it used to give NaN intervals without a word
    full = evaluate.load_runs(tmp_path, "single_task", predictions=True)
    assert compare.with_paired_intervals(summary, full)["paired_interval"].str.contains("CI").all()


def test_with_one_test_set_the_stacked_ensemble_is_left_out_not_replaced():
    """Under a protocol with one test set (one fold) there are no other folds to fit a stacker on: no
    "stacked" rows, rather than the average under its name."""
    members = ["single_task/a", "temporal/b"]
    one_fold = ((0, ("s1", "s2")),)
    scores = pd.concat([folded("single_task/a", None, one_fold),
                        folded("temporal/b", lambda s, c: 0.7 if labels.parse_code(c).genuine else 0.4, one_fold)])
    assert not ensembles.stacking_possible(scores)
    assert set(ensembles.ensemble(scores, members)["run"]) == {"ensemble:average", "ensemble:vote"}
    three_folds = pd.concat([folded(m, None) for m in members])
    assert ensembles.stacking_possible(three_folds)
    assert "ensemble:stacked" in set(ensembles.ensemble(three_folds, members)["run"])
