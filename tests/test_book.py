"""The book machinery: parameters from the command line, glued values, static runs, parsable parameters."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from IPython.display import Markdown

from helpers import book

REPO = Path(__file__).resolve().parents[1]


def test_parameters_from_the_command_line():
    parsed = book.parse_parameters(["EPOCHS=3", "DATASET_DIR=/data/FakeTrue_DB", "FOLDS=[0, 1]", "NAME=a=b"])
    assert parsed == {"EPOCHS": 3, "DATASET_DIR": "/data/FakeTrue_DB", "FOLDS": [0, 1], "NAME": "a=b"}
    for bad in ("EPOCHS", "1X=2"):
        with pytest.raises(SystemExit, match="NAME=VALUE"):
            book.parse_parameters([bad])


@pytest.mark.parametrize("value", [Markdown("**bold** text"), pd.DataFrame({"a": [1, 2]}), "figure"])
def test_glue_writes_what_myst_nb_writes(value, monkeypatch):
    """Our glue (no myst-nb needed on Colab) emits exactly the display of myst_nb.glue(display=False)."""
    import myst_nb.ext.glue as myst_glue

    if isinstance(value, str) and value == "figure":
        value = plt.figure()
        value.gca().plot([0, 1], [1, 0])
    captured = []
    monkeypatch.setattr(myst_glue, "ipy_display", lambda *args, **kwargs: captured.append((args, kwargs)))
    monkeypatch.setattr("IPython.display.display", lambda *args, **kwargs: captured.append((args, kwargs)))
    myst_glue.glue("key", value, display=False)
    book.glue("key", value)
    plt.close("all")
    assert len(captured) == 2 and captured[0] == captured[1]
    bundle = captured[1][0][0]
    assert bundle and all(mime.startswith(book.GLUE_PREFIX) for mime in bundle)


def test_glued_strings_are_pasted_without_quotes(monkeypatch):
    captured = []
    monkeypatch.setattr("IPython.display.display", lambda *args, **kwargs: captured.append(args[0]))
    book.glue("dataset", "profile 'smoke', synthetic")
    assert captured[0][book.GLUE_PREFIX + "text/plain"] == "profile 'smoke', synthetic"


def test_execute_marks_the_run_static_and_restores_the_environment(tmp_path, smoke_environment):
    notebook = tmp_path / "01_probe.ipynb"
    notebook.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}, "cells": [
        {"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]}, "execution_count": None,
         "outputs": [], "source": ['PROFILE = "smoke"']},
        {"cell_type": "code", "id": "s", "metadata": {}, "execution_count": None, "outputs": [],
         "source": ["from helpers import book\n", "print('static:', book.is_static_run())"]}]}))
    assert not book.is_static_run()
    executed = book.execute("smoke", tmp_path / "out", notebooks=[notebook])[0]
    text = "".join("".join(o.get("text", "")) for c in json.loads(executed.read_text())["cells"] for o in c.get("outputs", []))
    assert "static: True" in text
    assert not book.is_static_run() and book.STATIC_RUN_VARIABLE not in os.environ


@pytest.mark.parametrize("notebook", book.notebook_paths(REPO), ids=lambda p: p.stem)
def test_papermill_reads_every_parameter(notebook):
    """A comment papermill cannot parse makes it skip the parameter (with only a log line)."""
    import papermill

    cell = next(c for c in json.loads(notebook.read_text())["cells"]
                if "parameters" in c.get("metadata", {}).get("tags", []))
    names = [line.split("=")[0].strip() for line in "".join(cell["source"]).splitlines()
             if line and not line.startswith((" ", "#")) and "=" in line]
    assert sorted(papermill.inspect_notebook(str(notebook))) == sorted(names)
