"""The book machinery: parameters from the command line, glued values, static runs, parsable parameters, and
every link (launch buttons, badges, install lines) at the release tag."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import yaml
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


def test_every_link_uses_the_release_tag_of_this_version():
    """_config.yml's branch (the launch buttons) is the tag the badges and the install line use."""
    import helpers

    assert book.release_ref() == f"v{helpers.__version__}"
    assert book.repository(REPO)["branch"] == book.release_ref(), "run `python -m helpers.book badges`"
    notebook = book.notebook_paths(REPO)[0]
    assert f"/blob/{book.release_ref()}/notebooks/{notebook.name}" in book.colab_url(notebook, REPO)
    assert book.install_requirement(REPO).endswith(f"@{book.release_ref()}")


def test_readme_badges_and_install_line_match_the_notebooks():
    readme = (REPO / "README.md").read_text()
    badges = re.findall(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)", readme)
    assert sorted(badges) == sorted(book.colab_badge(nb, REPO) for nb in book.notebook_paths(REPO)), \
        "README badges out of date: run `python -m helpers.book badges`"
    real_data = readme[readme.index("## Using the real SASE-FE"):]
    assert book.install_requirement(REPO) in real_data[:real_data.index("\n## ", 1)]
    assert book.synced_readme(readme, REPO) == readme


def fork(tmp_path: Path) -> Path:
    """A copy of the repository's config, one notebook and README, with another url and stale refs."""
    (tmp_path / "_toc.yml").write_text("root: x\n")
    (tmp_path / "helpers").mkdir()
    url = book.repository(REPO)["url"]
    config = (REPO / "_config.yml").read_text().replace(url, "https://github.com/someone/fork")
    (tmp_path / "_config.yml").write_text(re.sub(r"(?m)^(  branch: ).*$", r"\1main", config))
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_x.ipynb").write_text((REPO / "notebooks" / "01_data_analysis.ipynb").read_text())
    (tmp_path / "README.md").write_text(
        "| [01](notebooks/01_x.ipynb) | [![Open In Colab](https://colab.research.google.com/assets/colab-badge."
        f"svg)](https://colab.research.google.com/github/{url.removeprefix('https://github.com/')}/blob/main/"
        "notebooks/01_x.ipynb) |\n\n## Using the real SASE-FE\n\n"
        f'`pip install "genuine-posed @ git+{url}@v0.0.1"`.\n')
    return tmp_path


def test_badges_command_points_config_notebooks_and_readme_at_the_tag(tmp_path, monkeypatch, capsys):
    root = fork(tmp_path)
    monkeypatch.setattr(book, "root_dir", lambda: root)
    comments = [line for line in (root / "_config.yml").read_text().splitlines() if line.lstrip().startswith("#")]
    book.main(["badges"])
    assert book.repository(root) == {**book.repository(REPO), "url": "https://github.com/someone/fork"}
    assert [line for line in (root / "_config.yml").read_text().splitlines()
            if line.lstrip().startswith("#")] == comments, "the config's comments are kept"
    badge = book.colab_badge(root / "notebooks" / "01_x.ipynb", root)
    assert f"github/someone/fork/blob/{book.release_ref()}/notebooks/01_x.ipynb" in badge
    install = f"genuine-posed @ git+https://github.com/someone/fork@{book.release_ref()}"
    for text in ((root / "README.md").read_text(), (root / "notebooks" / "01_x.ipynb").read_text()):
        assert badge in text and install in text and "blob/main" not in text
    assert "updated" in capsys.readouterr().out
    book.main(["badges"])
    assert "updated" not in capsys.readouterr().out, "a second run changes nothing"


def test_a_readme_badge_for_a_missing_notebook_is_an_error(tmp_path):
    root = fork(tmp_path)
    readme = (root / "README.md").read_text().replace("01_x.ipynb)", "07_gone.ipynb)")
    with pytest.raises(ValueError, match="07_gone"):
        book.synced_readme(readme, root)


def test_a_config_without_a_branch_is_an_error():
    with pytest.raises(ValueError, match="repository.branch"):
        book.synced_config("title: x\nrepository:\n  url: https://github.com/a/b\nhtml:\n  branch: no\n")


@pytest.mark.parametrize(("profile", "words"), [("demo", "demo profile (synthetic data"),
                                                ("smoke", "smoke profile (synthetic data"),
                                                ("full", "full profile (the real SASE-FE)")])
def test_the_built_book_says_which_profile_and_data_on_every_page(tmp_path, profile, words):
    config = tmp_path / "_config.yml"
    config.write_text((book.root_dir() / "_config.yml").read_text())
    book.label_with_profile(config, profile)
    title = yaml.safe_load(config.read_text())["title"]
    assert title.startswith("Genuine or posed?") and words in title
    assert yaml.safe_load(config.read_text())["repository"] == yaml.safe_load(
        (book.root_dir() / "_config.yml").read_text())["repository"]  # nothing else changed


def test_badges_check_fails_on_stale_links_and_changes_nothing(tmp_path, monkeypatch, capsys):
    """What the release workflow runs before it tags: a link naming another ref stops the release."""
    root = fork(tmp_path)
    monkeypatch.setattr(book, "root_dir", lambda: root)
    before = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}
    with pytest.raises(SystemExit, match=rf"do not name {book.release_ref()}"):
        book.main(["badges", "--check"])
    assert "STALE" in capsys.readouterr().out
    assert {path: path.read_bytes() for path in root.rglob("*") if path.is_file()} == before
    book.main(["badges"])
    book.main(["badges", "--check"])  # passes once the links are synced


def test_the_release_workflow_tags_this_version_once_the_links_agree():
    """The tag every link opens is made by the project's own workflow, after the tests and the book passed,
    only when the links name it and it does not exist; README says how to cut a release, forks included."""
    import helpers

    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    trigger = workflow[True]["workflow_run"]  # YAML 1.1 reads the key `on` as True
    assert trigger["workflows"] == [yaml.safe_load((REPO / ".github" / "workflows" / "book.yml").read_text())["name"]]
    assert trigger["branches"] == ["main"] and workflow["permissions"]["contents"] == "write"
    steps = [step.get("run", "") for step in workflow["jobs"]["tag"]["steps"]]
    check = next(i for i, run in enumerate(steps) if "helpers.book badges --check" in run)
    tag = next(i for i, run in enumerate(steps) if "git tag" in run)
    assert check < tag and "helpers.__version__" in steps[tag] and 'tag="v' in steps[tag]
    assert "git ls-remote --exit-code --tags origin" in steps[tag], "an existing tag is left alone"
    assert "success" in workflow["jobs"]["tag"]["if"]
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Cutting a release"):]
    section = section.split("\n#")[0]  # up to the next heading, if any
    for needed in ("helpers.__version__", "python -m helpers.book badges", "fork", "release.yml"):
        assert needed in section, f"README's 'Cutting a release' does not mention {needed}"
    assert book.release_ref() == f"v{helpers.__version__}" and book.release_ref() in readme
