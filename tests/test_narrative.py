"""Prose that follows what ran: each sentence is written from the results it describes, and a section whose
model did not run says so in one line."""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers import approaches, labels
from helpers.analysis import narrative
from helpers.metrics import evaluate


def test_the_grid_note_names_what_ran_and_what_the_full_grid_trains(tmp_path, write_fake_run):
    for fold in (0, 1):
        write_fake_run(tmp_path, "single_task", "simple_cnn", fold, ["s1", "s2"], seed=fold)
    runs = evaluate.load_runs(tmp_path, "single_task")
    text = narrative.grid_note(runs, "single_task", "smoke")
    assert "1 configuration of the `smoke` grid" in text and "2 subject-independent folds" in text
    assert "1 model (simple CNN)" in text and "1 loss (ce)" in text
    full = approaches.grid("full", "single_task")
    assert f"trains {len(full)}: 5 models" in text and "4 losses" in text
    assert "every backbone" not in text
    assert narrative.grid_note(runs, "single_task", "full").endswith("folds.")
    challenge = narrative.grid_note(runs, "single_task", "full", "chalearn2017")
    assert "subject-independent" not in challenge and "tested once on the test set of protocol chalearn2017" in challenge


def test_a_section_whose_model_did_not_run_says_so_in_one_line():
    cascade = narrative.cascade_note(pd.DataFrame(), "smoke")
    assert cascade.startswith("**Not run here.** No cascade") and "trains 2 (embedding, heads)" in cascade
    assert "\n" not in cascade
    attention = narrative.attention_note(pd.DataFrame(columns=["run", "face_weight", "authenticity"]), "demo")
    assert attention.startswith("**Not run here.** No attention fusion") and "(attention, concat)" in attention


def test_the_cascade_note_gives_what_emotion_errors_cost():
    table = pd.DataFrame({"run": ["cascade"], "folds": [5], "mt_authenticity_video_accuracy_mean": [55.0],
                          "mt_authenticity_oracle_video_accuracy_mean": [61.5]})
    text = narrative.cascade_note(table, "full")
    assert "55.0 % end to end, 61.5 % given the true emotion (+6.5 points, 5 folds)" in text


def test_attention_weights_that_did_not_move_are_called_so():
    rng = np.random.default_rng(0)
    flat = pd.DataFrame({"run": "fusion", "authenticity": ["genuine", "posed"] * 50,
                         "face_weight": 0.5 + rng.normal(0, 0.001, 100)})
    assert "have not moved" in narrative.attention_note(flat, "smoke")
    learned = flat.assign(face_weight=np.where(flat["authenticity"] == "genuine", 0.8, 0.6))
    text = narrative.attention_note(learned, "demo")
    assert "have not moved" not in text and "0.80 in genuine and 0.60 in posed videos" in text


def test_learning_note_finds_the_best_epoch_and_overfitting():
    history = pd.DataFrame({"run": "a", "fold": 0, "epoch": [1, 2, 3, 4],
                            "train_loss": [1.0, 0.8, 0.6, 0.4], "val_loss": [1.0, 0.7, 0.8, 0.9]})
    text = narrative.learning_note(history)
    assert "a: lowest at epoch 2 of 4" in text and "overfitting" in text
    steady = history.assign(val_loss=[1.0, 0.9, 0.8, 0.7])
    assert "lowest at epoch 4 of 4" in narrative.learning_note(steady) and "overfitting" not in narrative.learning_note(steady)
    assert "One epoch" in narrative.learning_note(history[history["epoch"] == 1])


def test_leaning_note_says_when_the_calls_lean_to_one_side():
    genuine, posed = labels.AUTHENTICITY.index("genuine"), labels.AUTHENTICITY.index("posed")
    leaning = np.zeros((2, 2))  # rows: the true class, columns: the call, in labels.AUTHENTICITY's order
    leaning[genuine, genuine], leaning[genuine, posed], leaning[posed, genuine], leaning[posed, posed] = 45, 5, 35, 15
    text = narrative.leaning_note(leaning)
    assert "60% of the 100 videos" in text and "80% of them are called genuine" in text and "lean" in text
    assert "lean" not in narrative.leaning_note(np.array([[30, 20], [20, 30]]))


def test_fold_spread_note_compares_means_with_the_spread_of_folds():
    folds = pd.DataFrame({"run": ["a", "a", "b", "b"], "video_accuracy": [0.2, 0.4, 0.25, 0.3]})
    text = narrative.fold_spread_note(folds, "video_accuracy", 1 / 12, "12-class video accuracy")
    assert "27.5-30.0 %" in text and "chance 8.3 %" in text and "20.0 points apart" in text
    assert "one fold each" in narrative.fold_spread_note(folds.iloc[[0, 2]], "video_accuracy", 0.5, "x")


def test_settings_that_are_not_every_combination_are_listed_not_multiplied():
    configs = [{"variant": "shared", "loss": "ce"}, {"variant": "shared", "loss": "mfl"}, {"variant": "cascade", "loss": "ce"}]
    assert narrative.axes_text(configs) == "2 variants (shared, cascade), 2 losses (ce, MFL)"
    assert narrative.axes_text(configs[:2]) == "1 variant (shared) × 2 losses (ce, MFL)"
    assert narrative.readable_run("04: cascade_embedding-simple_cnn-ce-0a1b2c") == "04: cascade embedding, simple CNN, ce"


def test_confound_note_compares_the_selected_models_with_the_best_baseline():
    baselines = pd.DataFrame({"model": ["confound baseline/video length alone", "confound baseline/first kept frame alone"],
                              "paired_accuracy_mean": [50.0, 61.1]})
    selected = pd.DataFrame({"model": ["a", "b", "c"], "paired_accuracy_mean": [70.0, 55.0, 61.1]})
    text = narrative.confound_note(baselines, selected)
    assert "first kept frame alone, reaches 61.1 % paired" in text and "1 of the 3 rows" in text
    assert narrative.confound_note(pd.DataFrame(), selected) == "No confound baseline was computed."
