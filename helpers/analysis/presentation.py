"""How results look on the book's pages and in a thesis (notebooks 03-06, the results page): short model
names, tables styled for the book, and every table and figure also saved as files.

- ``short_names``: ``descriptors/rank_svm-C0.1-15models-de3eb2`` -> ``Rank-SVM, C 0.1`` (the approach's
  model and what differs between the models shown together, never the settings hash), unique per call;
- ``book_table``: a pandas ``Styler`` without the index, ``-`` for missing values, the columns a reader came
  for first, and the CSS class ``results-table`` (``_static/results.css`` keeps it within the page);
- ``save_table`` / ``save_figure``: CSV and LaTeX (booktabs) under ``results/<profile>/tables/``, PNG and PDF
  under ``results/<profile>/figures/``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from pandas.io.formats.style import Styler

from helpers import approaches, labels, profiles

TABLE_CLASS = "results-table"  # styled by _static/results.css (scrolls sideways rather than pass the page edge)
MISSING = "-"
HASH = re.compile(r"-[0-9a-f]{6}$")  # the settings hash that ends a run id (``helpers.train.config.run_id``)
WORDS = {"rank_svm": "Rank-SVM", "cnn_lstm": "CNN-LSTM", "cnn_gru": "CNN-GRU", "gru": "GRU", "lstm": "LSTM",
         "landmark_gru": "landmark GRU", "landmark_lstm": "landmark LSTM", "simple_cnn": "simple CNN",
         "simple_cnn_lstm": "simple CNN-LSTM", "simple_cnn_gru": "simple CNN-GRU", "conv3d": "3D CNN",
         "12class": "12 classes", "two_task": "two heads", "mfl": "MFL", "nit_ovgu": "NIT-OVGU as published",
         "whole_video": "whole video"}
NUMBER_SUFFIX = re.compile(r"^(?P<number>\d+)(?P<word>[a-z]+)$")  # 15models -> 15 models
LETTER_NUMBER = re.compile(r"^(?P<letter>[A-Z]|lr|wd)(?P<number>\d[\d.e+-]*)$")  # C0.1 -> C 0.1


def readable_token(token: str) -> str:
    """One dash-separated part of a run name, as words: ``C0.1`` -> ``C 0.1``, ``rank_svm`` -> ``Rank-SVM``."""
    if token in WORDS:
        return WORDS[token]
    if match := NUMBER_SUFFIX.match(token):
        return f"{match['number']} {match['word']}"
    if match := LETTER_NUMBER.match(token):
        return f"{match['letter']} {match['number']}"
    return token.replace("_", " ")


def approach_label(approach: str) -> str:
    """The approach's registered display name, or its own name (ensembles, leaders, unregistered results)."""
    return approaches.display_name(approach) if approach in approaches.APPROACHES else approach


def short_names(models: Iterable[str]) -> dict[str, str]:
    """``{model: short name}`` for model names ``<approach>/<run id or label>``, unique among ``models``.

    A run is named by its first part (the model) and the parts of its run name that not every run of its
    approach among ``models`` shares; other names (``single_task/selected on validation``,
    ``ensemble/ensemble:average``) by the approach's display name and the label. Two names that would still
    read the same are told apart by a number (``#2``), never by the settings hash."""
    models = list(dict.fromkeys(models))
    runs = {}
    for model in models:
        approach, _, name = model.partition("/")
        if HASH.search(name):
            runs[model] = (approach, HASH.sub("", name).split("-"))
    names = {}
    for model in models:
        approach, _, name = model.partition("/")
        if model not in runs:
            label = name.split(":", 1)[-1] if approach == "ensemble" else name
            names[model] = f"{approach_label(approach)}: {label}" if name else approach_label(approach)
            continue
        tokens = runs[model][1]
        siblings = [parts for other, (a, parts) in runs.items() if a == approach]
        shared = set.intersection(*(set(parts) for parts in siblings)) if len(siblings) > 1 else set()
        kept = [tokens[0], *(t for t in tokens[1:] if t not in shared)]
        names[model] = ", ".join(readable_token(t) for t in kept)
    seen: dict[str, int] = {}
    for model in models:
        seen[names[model]] = seen.get(names[model], 0) + 1
        if seen[names[model]] > 1:
            names[model] = f"{names[model]} #{seen[names[model]]}"
    return names


def with_short_names(table: pd.DataFrame, column: str = "model", names: Mapping[str, str] | None = None
                     ) -> pd.DataFrame:
    """``table`` with ``column``'s model names replaced by ``short_names`` of them (or the ``names`` given)."""
    names = names or short_names(table[column].astype(str))
    return table.assign(**{column: table[column].astype(str).map(names)})


NAME_COLUMNS = ("approach", "model", "run", "source", "task", "baseline", "variant", "loss", "weighting")
MISSING_TEXTS = frozenset({"", "n/a", "nan", "NaN", "None", "<NA>"})


def reader_order(columns: Iterable[str]) -> list[str]:
    """The columns a reader came for first: what names the row, then real/fake on pairs (the ChaLearn
    protocol; its interval first), then real/fake per video, then the rest in their order."""
    columns = list(dict.fromkeys(columns))

    def rank(column: str) -> int:
        text = str(column).lower()
        if column in NAME_COLUMNS:
            return 0
        if "paired" in text:
            return 1 if re.search(r"\bci\b", text) or "interval" in text else 2
        if "real/fake" in text or text.startswith("video"):
            return 3
        return 4

    return sorted(columns, key=lambda column: (rank(column), columns.index(column)))


def named_runs(table: pd.DataFrame, approach: str) -> pd.DataFrame:
    """``table`` (rows of ``approach``'s runs with a ``run_id``) with its ``run`` column holding their short names,
    for tables and legends that name runs (``fold_table``, ``aggregate_folds``)."""
    models = approach + "/" + table["run_id"].astype(str)
    return table.assign(run=models.map(short_names(models)))


def book_table(table: pd.DataFrame, first: Sequence[str] = (), caption: str | None = None,
               names: str | None = "model", precision: int = 1) -> Styler:
    """``table`` as the book shows it: the columns of ``first`` (those present) leading, then ``reader_order``,
    no index, ``-`` for missing values (also the ``n/a`` of ``aggregate_folds``), floats with ``precision`` decimals, one header row,
    the CSS class ``results-table``; model names in the column ``names`` made short (``short_names``) and
    registered approaches by their display names."""
    if isinstance(table.columns, pd.MultiIndex):  # one header row: "<metric>, <group>"
        table = table.set_axis([", ".join(str(p) for p in parts if str(p)) for parts in table.columns], axis=1)
    if names in table.columns and table[names].astype(str).str.contains("/").any():
        table = with_short_names(table, names)
    if "approach" in table.columns:  # registered approaches by their display names
        table = table.assign(approach=table["approach"].map(
            lambda a: approach_label(a) if isinstance(a, str) and a in approaches.APPROACHES else a))
    leading = [column for column in first if column in table.columns]
    ordered = table[[*leading, *reader_order(c for c in table.columns if c not in leading)]].reset_index(drop=True)
    ordered = ordered.loc[:, ~ordered.columns.duplicated()]
    ordered = ordered.map(lambda value: MISSING if isinstance(value, str) and value in MISSING_TEXTS else value)
    styler = ordered.style.hide(axis="index").format(precision=precision, na_rep=MISSING)
    styler = styler.set_table_attributes(f'class="{TABLE_CLASS}"')
    return styler.set_caption(caption) if caption else styler


def frame_of(table: pd.DataFrame | Styler) -> pd.DataFrame:
    """The data behind a table or a ``book_table`` (without a hidden index)."""
    return table.data if isinstance(table, Styler) else table


def result_dirs(paths: profiles.RunPaths | Path | str) -> tuple[Path, Path]:
    """``(tables, figures)``: ``results/<profile>/tables`` and ``.../figures`` of ``paths`` (a ``RunPaths`` or a
    profile's results folder)."""
    root = paths.results if isinstance(paths, profiles.RunPaths) else Path(paths)
    return root / "tables", root / "figures"


def file_stem(name: str) -> str:
    """A file name made of ``name``: lower case, words joined by ``_`` (``"03 summary"`` -> ``03_summary``)."""
    stem = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not stem:
        raise ValueError(f"{name!r} has no letters or digits to name a file by")
    return stem


def save_table(table: pd.DataFrame | Styler, name: str, paths: profiles.RunPaths | Path | str,
               precision: int = 1) -> list[Path]:
    """Write ``table`` as ``<name>.csv`` and ``<name>.tex`` (LaTeX, booktabs rules: ``\\usepackage{booktabs}``)
    under ``results/<profile>/tables/``; missing values as ``-``, no index, LaTeX floats with ``precision``
    decimals (the CSV keeps every digit). Returns the two paths."""
    data = frame_of(table).reset_index(drop=True)
    folder = result_dirs(paths)[0]
    folder.mkdir(parents=True, exist_ok=True)
    stem = file_stem(name)
    csv_path, tex_path = folder / f"{stem}.csv", folder / f"{stem}.tex"
    data.to_csv(csv_path, index=False, na_rep=MISSING)
    text = data.style.hide(axis="index").format(precision=precision, na_rep=MISSING, escape="latex").format_index(
        escape="latex", axis=1).to_latex(hrules=True, column_format="l" * len(data.columns))
    tex_path.write_text(text)
    return [csv_path, tex_path]


def save_figure(fig: Figure, name: str, paths: profiles.RunPaths | Path | str, dpi: int = 200) -> list[Path]:
    """Write ``fig`` as ``<name>.png`` (``dpi``) and ``<name>.pdf`` (vector) under ``results/<profile>/figures/``.
    Returns the two paths."""
    folder = result_dirs(paths)[1]
    folder.mkdir(parents=True, exist_ok=True)
    stem = file_stem(name)
    written = [folder / f"{stem}.png", folder / f"{stem}.pdf"]
    for path in written:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return written


def saved_note(paths: profiles.RunPaths) -> str:
    """The line a notebook prints to say where its tables and figures are saved."""
    where = profiles.display_path(paths.results)  # never the absolute path of the machine that ran it
    return (f"Every results table of this notebook is also saved as CSV and LaTeX (booktabs) in {where}/tables/, "
            "every figure as PNG and PDF in " f"{where}/figures/.")


SYNTHETIC_CAVEAT = ("These videos are synthetic: the generator makes genuine and posed expressions differ by documented "
                    "cues (onset speed, asymmetry, eye involvement; see the synthetic data page) that show in motion and "
                    "in the landmarks more than in one frame, so it predicts clip and geometry models above frame models. "
                    "A ranking here is the generator's design, not a finding about faces.")


def paired_note(table: pd.DataFrame, video: str = "authenticity_video_accuracy_mean",
                paired: str = "paired_accuracy_mean", synthetic: bool = False, scale: float = 1.0) -> str:
    """What a table of per-video and paired real/fake accuracy shows, from its numbers (columns ``video`` and
    ``paired``, in percent after ``scale``): how many models do better on pairs, and why they can."""
    both = table[[video, paired]].apply(pd.to_numeric, errors="coerce").dropna() * scale
    if both.empty:
        return "No model here has both a per-video and a paired real/fake accuracy."
    higher = int((both[paired] > both[video]).sum())
    text = (f"**What this shows.** {higher} of {len(both)} models are right more often on pairs than on single videos "
            f"(per video {both[video].min():.1f}-{both[video].max():.1f} %, paired {both[paired].min():.1f}-"
            f"{both[paired].max():.1f} %). A pair only asks which of the two videos of one person and emotion looks "
            "more genuine: a model whose scores lean to one side (calling most videos genuine, say) loses per-video "
            "accuracy but can still order the pair, which is why the ChaLearn 2017 winners judged each test video "
            "within the pair they found for it (the challenge itself scored each video).")
    return text + (f" {SYNTHETIC_CAVEAT}" if synthetic else "")


def confusion_note(matrix, class_names: Sequence[str]) -> str:
    """What a 12-class confusion matrix (counts; classes ``<emotion> <genuine|posed>`` in ``labels`` order)
    shows: how often the class is right, and whether the errors keep the emotion (a real/fake mistake) or not."""
    counts = pd.DataFrame(matrix).to_numpy(dtype=float)
    total = counts.sum()
    if total == 0:
        return "No predictions to count."
    errors = total - counts.trace()
    same_emotion = sum(counts[i, j] for i in range(len(counts)) for j in range(len(counts))
                       if i != j and labels.split_class_index(i)[0] == labels.split_class_index(j)[0])
    text = f"**What this shows.** {counts.trace() / total:.0%} of the {int(total)} videos get their class right"
    if errors:
        text += (f"; {same_emotion / errors:.0%} of the mistakes keep the emotion and miss only genuine vs posed, "
                 f"{1 - same_emotion / errors:.0%} take another emotion")
    return text + f" (chance: {1 / len(class_names):.0%})."


def genuineness_note(curves: Mapping[str, pd.DataFrame]) -> str:
    """What a p(genuine)-over-time figure of one genuine and one posed video shows (``curves`` named
    ``"... (genuine)"`` / ``"... (posed)"``, tables with ``p_genuine``): how each video alone is called, and
    whether the pair is still ordered right."""
    means = {("genuine" if name.endswith("(genuine)") else "posed"): float(table["p_genuine"].mean())
             for name, table in curves.items()}
    if set(means) != {"genuine", "posed"}:
        return ""
    called = {kind: "genuine" if value >= 0.5 else "posed" for kind, value in means.items()}
    text = (f"**What this shows.** Averaged over its clips, the genuine video gets p(genuine) {means['genuine']:.2f} "
            f"(called {called['genuine']}) and the posed one {means['posed']:.2f} (called {called['posed']}). ")
    if called["posed"] == "genuine" and means["genuine"] > means["posed"]:
        text += ("The posed video is called genuine on its own, yet the pair is ordered right: the model's scores "
                 "lean towards genuine, and only their order within the pair is what the paired protocol asks for.")
    elif means["genuine"] > means["posed"]:
        text += "The pair is ordered right: the genuine video scores higher."
    else:
        text += "The pair is ordered wrong: the posed video scores at least as high as the genuine one."
    return text


def emotion_note(per_emotion: pd.DataFrame, synthetic: bool = False) -> str:
    """What a real/fake-per-emotion figure shows (``emotion``, ``accuracy`` per model and fold): the emotions
    where the models shown tell genuine from posed best and worst, and how far apart."""
    means = per_emotion.groupby("emotion")["accuracy"].mean().dropna().sort_values() * 100
    if len(means) < 2:
        return ""
    spread = per_emotion.groupby("emotion")["accuracy"].std().mean() * 100
    behind = ("each is one model on one test split, so the gap is not shown to be a difference between emotions"
              if math.isnan(spread) else f"the models and folds behind each mean spread by {spread:.1f} points (sd), "
              "so a smaller gap is not a difference between emotions")
    text = (f"**What this shows.** Over the models shown, real vs fake is judged best for {means.index[-1]} "
            f"({means.iloc[-1]:.1f} %) and worst for {means.index[0]} ({means.iloc[0]:.1f} %); {behind}.")
    if synthetic:
        text += (" The synthetic generator gives every emotion the same genuine-vs-posed cues: a gap here comes from "
                 "the data's size and the expressions' geometry, not from how people fake emotions.")
    return text


def html_list(heading: str, items: Sequence[str]) -> str:
    """``heading`` and ``items`` as HTML (a paragraph and a bulleted list, text escaped): what a page pastes
    from another page as a list (a text glue would run the items into one line)."""
    listed = "".join(f"<li>{escape(item)}</li>" for item in items)
    return f"<p>{escape(heading)}</p>" + (f"<ul>{listed}</ul>" if items else "")
