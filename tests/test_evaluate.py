"""Metrics on hand-made predictions, the artifacts of a run, and mean ± std across folds."""

import numpy as np
import pandas as pd
import pytest

from helpers import labels, results
from helpers.metrics import evaluate


def frame_rows(subject, code, probs_per_frame):
    label = labels.parse_code(code).label
    emotion, authenticity = labels.split_class_index(label)
    rows = []
    for frame, probs in enumerate(probs_per_frame):
        row = {"subject": subject, "code": code, "frame": frame, "label": label, "emotion_label": emotion,
               "authenticity_label": authenticity, "target": label, "pred": int(np.argmax(probs))}
        row.update({f"prob_{k}": p for k, p in enumerate(probs)})
        rows.append(row)
    return rows


def one_hot_ish(k, n=12, confidence=0.67):
    probs = np.full(n, (1 - confidence) / (n - 1))
    probs[k] = confidence
    return probs


@pytest.fixture
def predictions():
    # N2H (label 0): frames say 0, 0, 6 -> video mean says 0 (right); S2N2H (label 6): frames say 6, 0, 0 -> video
    # says 0 (wrong: posed happy taken for genuine happy, right emotion, wrong authenticity)
    rows = frame_rows("s1", "N2H", [one_hot_ish(0), one_hot_ish(0), one_hot_ish(6)])
    rows += frame_rows("s1", "S2N2H", [one_hot_ish(6), one_hot_ish(0), one_hot_ish(0)])
    return pd.DataFrame(rows)


def test_frame_and_video_accuracy(predictions):
    metrics = evaluate.evaluate_predictions(predictions, "label")
    assert metrics["label"]["frame"]["accuracy"] == pytest.approx(3 / 6)
    assert metrics["label"]["video"]["accuracy"] == pytest.approx(1 / 2)
    assert metrics["n_frames"] == 6 and metrics["n_videos"] == 2
    confusion = np.array(metrics["label"]["video"]["confusion"])
    assert confusion.shape == (12, 12) and confusion[0, 0] == 1 and confusion[6, 0] == 1


def test_collapsed_views_marginalise_probabilities(predictions):
    metrics = evaluate.evaluate_predictions(predictions, "label")
    assert metrics["emotion"]["frame"]["accuracy"] == 1.0  # classes 0 and 6 are both "happy"
    assert metrics["emotion"]["frame"]["class_names"] == list(labels.EMOTIONS)
    assert metrics["authenticity"]["video"]["accuracy"] == pytest.approx(0.5)
    probs = np.array([one_hot_ish(6)])
    collapsed = evaluate.collapse(probs, "authenticity")
    assert collapsed[0, 0] == pytest.approx(0.67 + 5 * 0.03) and collapsed.sum() == pytest.approx(1.0)


def test_paired_accuracy_and_per_emotion(predictions):
    metrics = evaluate.evaluate_predictions(predictions, "label")
    # p(genuine) of N2H: mean of (0.67+5*.03, .67+5*.03, 6*.03) = 0.6; of S2N2H: 0.6 / 0.18 / ... -> the same
    # frames in another order: a tie counts half
    assert metrics["authenticity"]["paired"] == {"accuracy": 0.5, "pairs": 1}
    assert metrics["authenticity"]["by_emotion"] == {"happy": 0.5}


def test_macro_f1_and_per_class_by_hand():
    y_true = np.array([0, 0, 1, 1])
    probs = np.eye(2)[[0, 1, 1, 1]]
    report = evaluate.classification_report(y_true, probs, ["posed", "genuine"])
    # posed: precision 1, recall 0.5, F1 2/3; genuine: precision 2/3, recall 1, F1 0.8
    assert report["per_class"]["posed"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert report["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert report["accuracy"] == 0.75 and report["confusion"] == [[1, 1], [0, 2]]


def test_predictions_table_from_outputs():
    videos = pd.DataFrame({"subject": ["a", "a"], "code": ["N2S", "H2N2S"], "label": [1, 7]})
    outputs = {"probs": np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), "video": np.array([1, 0, 1]),
               "frame": np.array([4, 0, 2])}
    table = evaluate.predictions_table(outputs, videos, "authenticity")
    assert table[["code", "frame"]].values.tolist() == [["N2S", 0], ["H2N2S", 2], ["H2N2S", 4]]
    assert table["target"].tolist() == [1, 0, 0] and table["pred"].tolist() == [0, 1, 1]
    assert table["emotion_label"].tolist() == [1, 1, 1]
    metrics = evaluate.evaluate_predictions(table, "authenticity")
    assert set(metrics) >= {"authenticity"} and "emotion" not in metrics
    assert metrics["authenticity"]["paired"]["accuracy"] == 0.0  # the posed video looks more genuine
    assert np.isnan(evaluate.summary_row(metrics)["emotion_video_accuracy"])


def test_run_artifacts_round_trip(tmp_path, predictions):
    metrics = evaluate.evaluate_predictions(predictions, "label") | {"fold": 0}
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [2.0, 1.5]})
    config = {"approach": "single_task", "run": "m-ce", "model": "m", "loss": "cross_entropy", "target": "label",
              "fold": 0}
    folder = results.run_dir(tmp_path, "single_task", "m-ce", 0)
    results.write_run(folder, metrics, history, predictions, config, results.environment("smoke", "abc"))
    assert sorted(p.name for p in folder.iterdir()) == sorted([*results.RUN_FILES, results.COMPLETE_FILE])
    run = results.load_run(folder)
    assert run.metrics["label"]["video"]["accuracy"] == 0.5 and run.env["dataset_fingerprint"] == "abc"
    assert run.predictions["subject"].tolist() == ["s1"] * 6 and run.history.equals(history)
    assert "cuda" in run.env["device"] and run.env["git_commit"]
    assert results.find_runs(tmp_path, "single_task") == [folder]
    table = evaluate.load_fold_table(tmp_path)
    assert table.loc[0, "run"] == "m-ce" and table.loc[0, "video_accuracy"] == 0.5
    with pytest.raises(FileNotFoundError, match="no complete run"):
        results.load_run(tmp_path / "nothing")


def test_mean_and_std_across_folds():
    folds = pd.DataFrame({"run": ["a", "a", "a", "b"], "fold": [0, 1, 2, 0],
                          "video_accuracy": [0.2, 0.3, 0.4, 0.5], "frame_accuracy": [0.1, 0.1, 0.1, 0.2]})
    table = evaluate.aggregate_folds(folds, metrics=["video_accuracy", "frame_accuracy"]).set_index("run")
    assert table.loc["a", "folds"] == 3
    assert table.loc["a", "video_accuracy_mean"] == pytest.approx(30.0)
    assert table.loc["a", "video_accuracy_std"] == pytest.approx(10.0)  # sample std of 20, 30, 40
    assert table.loc["a", "video_accuracy"] == "30.0 ± 10.0"
    assert table.loc["b", "video_accuracy"] == "50.0", "one fold: no std"


def test_table_fingerprint_ignores_row_order():
    table = pd.DataFrame({"subject": ["a", "b"], "frames": [3, 4]})
    assert results.table_fingerprint(table) == results.table_fingerprint(table.iloc[::-1])
    assert results.table_fingerprint(table) != results.table_fingerprint(table.assign(frames=[3, 5]))


def test_reading_many_runs_back(tmp_path, predictions):
    metrics = evaluate.evaluate_predictions(predictions, "label")
    for fold in (0, 1):
        config = {"approach": "single_task", "run": "m-ce", "model": "m", "loss": "cross_entropy", "target": "label",
                  "fold": fold}
        history = pd.DataFrame({"epoch": [1, 2], "train_loss": [2.0, 1.0 + fold]})
        results.write_run(results.run_dir(tmp_path, "single_task", "m-ce", fold), metrics, history, predictions,
                          config, {})
    runs = evaluate.load_runs(tmp_path, "single_task", runs=["m-ce"])
    assert len(runs) == 2 and evaluate.load_runs(tmp_path, runs=["other"]) == []
    curves = evaluate.histories(runs)
    assert len(curves) == 4 and set(curves["fold"]) == {0, 1}
    assert evaluate.summed_confusion(runs, "authenticity").sum() == 4  # 2 videos x 2 folds
    table = evaluate.authenticity_by_emotion_table(runs)
    assert table["emotion"].tolist() == ["happy", "happy"] and table["accuracy"].tolist() == [0.5, 0.5]
    assert set(table["run_id"]) == set(curves["run_id"]) == {runs[0].run_id}  # short names are made of run ids


def test_result_figures_draw(predictions):
    import matplotlib.pyplot as plt

    from helpers import plots

    curves = pd.DataFrame({"run": ["a"] * 4, "fold": [0, 0, 1, 1], "epoch": [1, 2, 1, 2],
                           "train_loss": [2.0, 1.0, 2.2, 1.2], "val_loss": [2.1, 1.5, 2.0, 1.6],
                           "train_accuracy": [0.1, 0.3, 0.1, 0.2], "val_accuracy": [0.1, 0.2, 0.1, 0.2]})
    metrics = evaluate.evaluate_predictions(predictions, "label")
    figures = [
        plots.learning_curves(curves),
        plots.confusion_matrix(metrics["label"]["video"]["confusion"], labels.CLASS_NAMES),
        plots.authenticity_by_emotion(pd.DataFrame({"run": ["a", "a"], "fold": [0, 1], "emotion": ["happy"] * 2,
                                                    "accuracy": [0.5, 0.7]})),
        plots.fold_scores(pd.DataFrame({"run": ["a", "a"], "video_accuracy": [0.2, 0.3]}), chance=1 / 12),
    ]
    assert len(figures[0].axes) == 2
    for figure in figures:
        plt.close(figure)


def test_learning_curves_give_every_run_its_own_colour_and_one_legend_entry():
    import matplotlib.pyplot as plt

    from helpers import plots

    runs = [f"run-{i}" for i in range(12)]  # 04's demo grid: more runs than tab10 has colours
    curves = pd.DataFrame([{"run": run, "fold": 0, "epoch": epoch, "train_loss": 1.0 / epoch, "val_loss": 1.1 / epoch}
                           for run in runs for epoch in (1, 2)])
    figure = plots.learning_curves(curves, metrics=("loss",))
    lines = figure.axes[0].get_lines()
    assert len({tuple(line.get_color()) for line in lines}) == len(runs)
    entries = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert entries == [*runs, "train", "validation"]
    plt.close(figure)
