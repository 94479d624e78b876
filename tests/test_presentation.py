"""Short model names, book tables and the tables and figures saved for a thesis (helpers.analysis.presentation)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from helpers import profiles
from helpers.analysis import presentation


def test_short_names_keep_what_differs_and_drop_the_hash():
    names = presentation.short_names(["descriptors/rank_svm-C0.1-15models-de3eb2",
                                 "descriptors/rank_svm-C0.01-15models-009e58",
                                 "trajectories/gru-registered-1a2b3c"])
    assert names["descriptors/rank_svm-C0.1-15models-de3eb2"] == "Rank-SVM, C 0.1"
    assert names["descriptors/rank_svm-C0.01-15models-009e58"] == "Rank-SVM, C 0.01"
    assert names["trajectories/gru-registered-1a2b3c"] == "GRU, registered"  # alone: its whole name, no hash


def test_short_names_are_unique_even_when_only_the_hash_differs():
    models = ["single_task/resnet18-focal-aaaaaa", "single_task/resnet18-focal-bbbbbb",
              "single_task/resnet18-cross_entropy-cccccc"]
    names = presentation.short_names(models)
    assert len(set(names.values())) == 3
    assert not any(re_hash in name for name in names.values() for re_hash in ("aaaaaa", "bbbbbb", "cccccc"))
    assert names["single_task/resnet18-cross_entropy-cccccc"] == "resnet18, cross entropy"


def test_short_names_of_selected_models_and_ensembles_name_the_approach():
    names = presentation.short_names(["descriptors/selected on validation", "ensemble/ensemble:average"])
    assert names["descriptors/selected on validation"] == "activity descriptors + Rank-SVM (05): selected on validation"
    assert names["ensemble/ensemble:average"] == "ensemble: average"


def test_book_table_leads_with_the_columns_asked_for_hides_the_index_and_shows_a_dash_for_nan():
    table = pd.DataFrame({"model": ["a", "b"], "frames %": [50.0, np.nan], "paired": ["81.2 % (71.9-88.5)", "-"]},
                         index=[7, 8])
    html = presentation.book_table(table, first=["paired", "model"]).to_html()
    assert 'class="results-table"' in html
    assert "NaN" not in html and "nan" not in html
    assert html.index(">paired<") < html.index(">model<") < html.index(">frames %<")
    assert ">7<" not in html  # no index
    assert "81.2 % (71.9-88.5)" in html  # intervals whole


def test_save_table_writes_csv_and_booktabs_latex(tmp_path):
    table = pd.DataFrame({"model": ["Rank-SVM, C 0.1"], "video %": [91.66666], "paired": [np.nan]})
    csv_path, tex_path = presentation.save_table(presentation.book_table(table), "05 Geometry models", tmp_path)
    assert csv_path == tmp_path / "tables" / "05_geometry_models.csv"
    back = pd.read_csv(csv_path, keep_default_na=False)
    assert list(back.columns) == ["model", "paired", "video %"] and back.loc[0, "paired"] == "-"  # reader order
    latex = tex_path.read_text()
    assert "\\toprule" in latex and "\\midrule" in latex and "\\bottomrule" in latex
    assert "91.7" in latex and "video \\%" in latex  # formatted, and % escaped for LaTeX


def test_save_figure_writes_png_and_pdf_under_the_profiles_figures(tmp_path):
    paths = profiles.RunPaths("smoke", tmp_path / "work", tmp_path / "results" / "smoke")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    written = presentation.save_figure(fig, "03 learning curves", paths)
    plt.close(fig)
    assert written == [tmp_path / "results/smoke/figures/03_learning_curves.png",
                       tmp_path / "results/smoke/figures/03_learning_curves.pdf"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and written[1].read_bytes()[:5] == b"%PDF-"


def test_a_name_without_letters_or_digits_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no letters or digits"):
        presentation.save_table(pd.DataFrame({"a": [1]}), " - ", tmp_path)


def test_book_table_puts_paired_then_real_fake_first_and_shortens_model_names():
    table = pd.DataFrame({"12-class, video": ["20.0 ± 1.0"], "real/fake, video": ["n/a"],
                          "model": ["descriptors/rank_svm-C0.1-de3eb2"], "real/fake, paired": ["80.0 ± 2.0"]})
    shown = presentation.book_table(table).data
    assert list(shown.columns) == ["model", "real/fake, paired", "real/fake, video", "12-class, video"]
    assert shown.loc[0, "model"] == "Rank-SVM, C 0.1" and shown.loc[0, "real/fake, video"] == "-"


def test_twelve_class_confusion_matrices_stack_and_two_class_ones_sit_side_by_side():
    from helpers import labels, plots

    twelve = {f"model {k}": np.eye(12, dtype=int) * 5 for k in range(3)}
    fig = plots.confusion_matrices(twelve, labels.CLASS_NAMES)
    visible = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert len({round(ax.get_position().x0, 3) for ax in visible}) == 1  # one column
    assert fig.get_size_inches()[0] >= 7  # each as wide as a lone 12-class matrix
    plt.close(fig)
    two = plots.confusion_matrices({f"model {k}": np.eye(2, dtype=int) for k in range(3)}, labels.AUTHENTICITY)
    assert len({round(ax.get_position().y0, 3) for ax in two.axes if ax.get_title()}) == 1  # one row
    plt.close(two)


def test_the_paired_note_counts_from_the_numbers_and_adds_the_caveat_on_synthetic_data():
    table = pd.DataFrame({"authenticity_video_accuracy_mean": [55.0, 70.0, np.nan],
                          "paired_accuracy_mean": [80.0, 65.0, 90.0]})
    note = presentation.paired_note(table, synthetic=True)
    assert "1 of 2 models" in note and "per video 55.0-70.0 %" in note and "paired 65.0-80.0 %" in note
    assert "generator" in note
    assert "generator" not in presentation.paired_note(table, synthetic=False)


def test_the_confusion_note_tells_real_fake_mistakes_from_emotion_mistakes():
    from helpers import labels

    counts = np.zeros((12, 12), dtype=int)
    happy_genuine, happy_posed = labels.class_index("happy", True), labels.class_index("happy", False)
    sad_genuine = labels.class_index("sad", True)
    counts[happy_genuine, happy_genuine] = 6
    counts[happy_genuine, happy_posed] = 3  # same emotion, wrong authenticity
    counts[happy_posed, sad_genuine] = 1  # another emotion
    note = presentation.confusion_note(counts, labels.CLASS_NAMES)
    assert "60% of the 10 videos" in note and "75% of the mistakes keep the emotion" in note and "25% take" in note


def test_named_runs_replace_run_names_by_short_names_from_the_run_ids():
    table = pd.DataFrame({"run": ["rank_svm-C0.1", "rank_svm-C1"], "run_id": ["rank_svm-C0.1-aaaaaa", "rank_svm-C1-bbbbbb"]})
    assert list(presentation.named_runs(table, "descriptors")["run"]) == ["Rank-SVM, C 0.1", "Rank-SVM, C 1"]


def test_grouped_columns_get_one_header_row_and_the_precision_asked_for(tmp_path):
    table = pd.DataFrame([[0.51234, 0.4]], columns=pd.MultiIndex.from_tuples([("run a", "genuine"), ("run a", "posed")]))
    styled = presentation.book_table(table, precision=3)
    assert list(styled.data.columns) == ["run a, genuine", "run a, posed"] and "0.512" in styled.to_html()
    tex = presentation.save_table(styled, "weights", tmp_path, precision=3)[1].read_text()
    assert "0.512" in tex and "run a, genuine" in tex


def test_the_paired_interval_leads_and_an_empty_cell_reads_as_a_dash():
    table = pd.DataFrame({"real/fake, paired": ["80.0 ± 2.0"], "chosen": [""],
                          "real/fake, paired, pooled (95 % CI)": ["80.0 % (95 % CI 70-90)"], "run": ["a"]})
    shown = presentation.book_table(table).data
    assert list(shown.columns) == ["run", "real/fake, paired, pooled (95 % CI)", "real/fake, paired",
                                   "chosen"]
    assert shown.loc[0, "chosen"] == "-"


def test_book_table_names_registered_approaches_by_their_display_names():
    shown = presentation.book_table(pd.DataFrame({"approach": ["single_task", "per fold"], "model": ["a", "b"]})).data
    assert list(shown["approach"]) == ["single-task (03)", "per fold"]


def test_the_genuineness_note_explains_a_posed_video_called_genuine_in_a_pair_ordered_right():
    curves = {"s1 H2N2H (genuine)": pd.DataFrame({"p_genuine": [0.8, 0.9]}),
              "s1 D2N2H (posed)": pd.DataFrame({"p_genuine": [0.6, 0.7]})}
    note = presentation.genuineness_note(curves)
    assert "0.85 (called genuine)" in note and "0.65 (called genuine)" in note and "ordered right" in note
    curves["s1 D2N2H (posed)"] = pd.DataFrame({"p_genuine": [0.9, 0.95]})
    assert "ordered wrong" in presentation.genuineness_note(curves)


def test_the_emotion_note_names_the_best_and_worst_emotion():
    table = pd.DataFrame({"emotion": ["happy", "happy", "sad", "sad"], "accuracy": [0.9, 0.8, 0.5, 0.6]})
    note = presentation.emotion_note(table, synthetic=True)
    assert "best for happy (85.0 %)" in note and "worst for sad (55.0 %)" in note and "generator" in note
    assert "spread by 7.1 points (sd)" in note
    one_each = presentation.emotion_note(table.iloc[[0, 2]])
    assert "worst for sad (50.0 %); each is one model on one test split" in one_each and "nan" not in one_each


def test_html_list_escapes_its_items():
    assert presentation.html_list("Ensembles:", ["a < b", "c"]) == "<p>Ensembles:</p><ul><li>a &lt; b</li><li>c</li></ul>"
    assert presentation.html_list("none", []) == "<p>none</p>"
