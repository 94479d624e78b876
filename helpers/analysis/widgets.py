"""An interactive prediction inspector (notebook 06), its static fallback for the book, and a panel to
analyse your own video.

``inspector`` builds an ipywidgets panel: pick a model, a subject and a video, scrub through the frames
and see the face crop, the six emotion probabilities and p(genuine) over time, and the true label. The
book is static, so notebook 06 also shows ``static_figure``: the same content for one chosen video.
Everything is read from saved predictions (``predictions.csv`` of every fold) and the packed crops of 02.
``upload_panel`` takes a video file, extracts its faces as 02 does and scores them with the saved fold
models of a 03 run (``helpers.inference``); ``video_figure`` is the same analysis without the widget.
The widgets work with ipywidgets 7.7 (Colab's) and 8 (``uploaded_files`` reads both upload formats).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import approaches, frames, labels, plots, profiles, results
from helpers.analysis import compare, inference


def model_predictions(runs: Sequence[results.RunArtifacts]) -> dict[str, pd.DataFrame]:
    """``{approach/run: predictions of all its test folds}`` (every video once: from the fold testing it),
    with a ``target`` attribute (``table.attrs["target"]``). Emotion-only models are left out, and so are
    models that score a whole video at once (05's geometry models: one row per video, no timeline to show)."""
    grouped: dict[str, list[pd.DataFrame]] = {}
    targets: dict[str, str] = {}
    for run in runs:
        target = run.config.get("target", "label")
        if run.predictions is None or target == "emotion" or _scores_whole_videos(run.config):
            continue
        name = compare.model_name(run.config)
        grouped.setdefault(name, []).append(run.predictions)
        targets[name] = target
    out = {}
    for name, parts in grouped.items():
        table = pd.concat(parts, ignore_index=True)
        table.attrs["target"] = targets[name]
        out[name] = table
    return out


def _scores_whole_videos(run_config: Mapping) -> bool:
    approach = approaches.APPROACHES.get(run_config.get("approach") or "single_task")
    return approach is not None and approach.PREDICTION_UNIT == "video"


def frame_scores(predictions: pd.DataFrame, subject: str, code: str, target: str | None = None) -> pd.DataFrame:
    """One video's rows: ``frame``, ``p_genuine`` and, for 12-class models, one probability column per
    emotion (genuine + posed summed), sorted by frame (clips of temporal models: one row per clip)."""
    target = target or predictions.attrs.get("target", "label")
    rows = predictions[(predictions["subject"].astype(str) == str(subject)) & (predictions["code"] == code)]
    if rows.empty:
        raise KeyError(f"no predictions for {subject}/{code}")
    table = inference.add_views(rows.sort_values("frame").reset_index(drop=True), target)
    return table[["frame", "p_genuine", *[e for e in labels.EMOTIONS if e in table]]]


def load_crops_or_none(crops_dir: str | Path | None, subject: str, code: str) -> np.ndarray | None:
    if crops_dir is None:
        return None
    try:
        return frames.load_crops(crops_dir, subject, code)
    except FileNotFoundError:
        return None


def describe(predictions: pd.DataFrame, subject: str, code: str, target: str | None = None) -> str:
    """The true label and the video-level verdict, e.g. ``true: genuine happy · p(genuine) 0.62 -> genuine``."""
    video = labels.parse_code(code)
    scores = frame_scores(predictions, subject, code, target)
    p = float(scores["p_genuine"].mean())
    verdict = "genuine" if p > 0.5 else "posed"
    return (f"{subject}/{code} · true: {video.class_name} · video p(genuine) = {p:.2f} -> called {verdict} "
            f"({'right' if verdict == ('genuine' if video.genuine else 'posed') else 'wrong'})")


def static_figure(predictions: pd.DataFrame, subject: str, code: str, crops_dir: str | Path | None = None,
                  model: str = "", frame: int | None = None):
    """The inspector's content for one video as a matplotlib figure (what the static book shows)."""
    scores = frame_scores(predictions, subject, code)
    crops = load_crops_or_none(crops_dir, subject, code)
    title = (f"{model}\n" if model else "") + describe(predictions, subject, code)
    return plots.prediction_timeline(crops, scores, title=title, frame=frame)


def inspector(predictions: Mapping[str, pd.DataFrame], crops_dir: str | Path | None = None):
    """An ipywidgets panel: model / subject / video pickers, a frame slider, and the figure of
    ``static_figure`` with a cursor at the chosen frame (redrawn on every change)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    if not predictions:
        raise ValueError("no predictions to inspect: run notebooks 03-05 first")
    models = list(predictions)
    model_box = widgets.Dropdown(options=models, value=models[0], description="model")
    subject_box = widgets.Dropdown(description="subject")
    code_box = widgets.Dropdown(description="video")
    frame_slider = widgets.IntSlider(description="frame", min=0, max=0, continuous_update=False)
    label = widgets.HTML()
    output = widgets.Output()

    def subjects() -> list[str]:
        return sorted(predictions[model_box.value]["subject"].astype(str).unique())

    def codes() -> list[str]:
        table = predictions[model_box.value]
        present = set(table.loc[table["subject"].astype(str) == subject_box.value, "code"])
        return [c for c in labels.CODES if c in present]

    def redraw(*_):
        if not subject_box.value or not code_box.value:
            return
        table = predictions[model_box.value]
        label.value = f"<b>{describe(table, subject_box.value, code_box.value)}</b>"
        with output:
            output.clear_output(wait=True)
            figure = static_figure(table, subject_box.value, code_box.value, crops_dir, model_box.value,
                                   frame=frame_slider.value)
            display(figure)
            plt.close(figure)

    def on_code(*_):
        if not code_box.value:
            return
        scores = frame_scores(predictions[model_box.value], subject_box.value, code_box.value)
        frame_slider.unobserve(redraw, "value")
        frame_slider.min, frame_slider.max = int(scores["frame"].min()), int(scores["frame"].max())
        frame_slider.value = frame_slider.min
        frame_slider.observe(redraw, "value")
        redraw()

    def refill(box, options: list, then) -> None:
        """New choices for ``box`` without firing its handler ``then`` for each change; then run it once."""
        box.unobserve(then, "value")
        box.options = options
        box.value = options[0] if options else None
        box.observe(then, "value")
        then()

    def on_subject(*_):
        refill(code_box, codes(), on_code)

    def on_model(*_):
        refill(subject_box, subjects(), on_subject)

    model_box.observe(on_model, "value")
    subject_box.observe(on_subject, "value")
    code_box.observe(on_code, "value")
    frame_slider.observe(redraw, "value")
    on_model()
    panel = widgets.VBox([widgets.HBox([model_box, subject_box, code_box]), frame_slider, label, output])
    panel.controls = {"model": model_box, "subject": subject_box, "video": code_box, "frame": frame_slider}
    return panel


def video_figure(video_path: str | Path, trained: Sequence[inference.TrainedModel],
                 extraction: frames.ExtractionConfig, out_dir: str | Path, model: str = ""):
    """Extract the faces of a video file, score them with ``trained`` and draw the inspector's figure.
    Returns ``(figure, scores)``; raises ``inference.NoFaceError`` / ``ValueError`` naming the file."""
    crops = inference.extract_faces(video_path, out_dir, extraction)
    scores = inference.score_crops(crops, list(trained))
    title = (f"{model} · " if model else "") + f"{Path(video_path).name}: {inference.verdict(scores)}"
    return plots.prediction_timeline(crops, scores, title=title), scores


def uploaded_files(value: Mapping | Sequence) -> list[tuple[str, bytes]]:
    """``[(file name, content)]`` of a ``FileUpload`` widget's ``value``, in either format: ipywidgets 8
    gives a tuple of dicts (``name``, ``type``, ``size``, ``content`` as a memoryview, ``last_modified``);
    ipywidgets 7.7, which Colab preinstalls, a dict ``{file name: {"metadata": {"name", ...}, "content":
    bytes}}``. Empty (nothing uploaded yet) is ``()`` in 8 and ``{}`` in 7, both ``[]`` here."""
    if isinstance(value, Mapping):  # ipywidgets 7
        return [(str(item.get("metadata", {}).get("name", name)), bytes(item["content"]))
                for name, item in value.items()]
    return [(str(item["name"]), bytes(item["content"])) for item in value]


def upload_panel(trained: Sequence[inference.TrainedModel], extraction: frames.ExtractionConfig,
                 out_dir: str | Path, model: str = ""):
    """An ipywidgets file picker: each uploaded video is saved under ``out_dir``, analysed by
    ``video_figure`` and shown below it (errors are shown as text, naming the file)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    out_dir = Path(out_dir)
    picker = widgets.FileUpload(accept="video/*,.mp4,.MP4,.avi,.mov", multiple=False, description="video")
    output = widgets.Output()

    def on_upload(*_):
        files = uploaded_files(picker.value)  # ipywidgets 7 (Colab) and 8 store uploads differently
        if not files:
            return
        name, content = files[0]
        path = out_dir / f"{inference.safe_stem(name)}{Path(name).suffix.lower() or '.mp4'}"
        with output:
            output.clear_output(wait=True)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
                print(f"analysing {name} (saved as {profiles.display_path(path)}) ...")
                figure, _ = video_figure(path, trained, extraction, out_dir / "crops", model)
                display(figure)
                plt.close(figure)
            except (OSError, ValueError, RuntimeError) as error:
                print(f"could not analyse {name}: {error}")

    picker.observe(on_upload, "value")
    panel = widgets.VBox([widgets.HTML("<b>Analyse your own video</b> (one face, frontal):"), picker, output])
    panel.controls = {"upload": picker, "output": output}
    return panel
