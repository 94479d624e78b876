import json
from pathlib import Path

import pytest

from helpers import book, profiles, results

REPO = Path(__file__).resolve().parents[1]


def test_paths_put_the_profile_in_every_path(tmp_path):
    paths = profiles.paths_for("smoke", tmp_path / "w", tmp_path / "r")
    assert paths.work == tmp_path / "w" / "smoke" and paths.results == tmp_path / "r" / "smoke"
    assert paths.dataset.name == "FakeTrue_DB" and paths.splits.parent == paths.work


def test_environment_overrides_work_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GENUINE_POSED_WORK", str(tmp_path))
    assert profiles.paths_for("demo").work == tmp_path / "demo"


def test_unknown_profile():
    with pytest.raises(ValueError, match="smoke"):
        profiles.get_profile("huge")


def test_smoke_is_smaller_than_demo():
    smoke, demo = profiles.PROFILES["smoke"].synthetic, profiles.PROFILES["demo"].synthetic
    assert smoke.subjects * smoke.seconds * smoke.width < demo.subjects * demo.seconds * demo.width
    assert profiles.PROFILES["smoke"].n_folds <= smoke.subjects
    assert not profiles.PROFILES["full"].uses_synthetic_data


def test_atomic_json_write_and_provenance(tmp_path):
    path = results.write_json(tmp_path / "a" / "summary.json", {"x": 1, **results.provenance("smoke")})
    content = json.loads(path.read_text())
    assert content["profile"] == "smoke" and "torch" in content["libraries"]
    assert content["git_commit"]
    assert [p.name for p in path.parent.iterdir()] == ["summary.json"]


def test_badges_follow_the_repository_url(tmp_path):
    # a copy of the book config with another url: the badge and install line follow it
    (tmp_path / "_toc.yml").write_text("root: x\n")
    (tmp_path / "helpers").mkdir()
    config = (REPO / "_config.yml").read_text().replace(
        book.repository(REPO)["url"], "https://github.com/someone/fork")
    (tmp_path / "_config.yml").write_text(config)
    (tmp_path / "notebooks").mkdir()
    notebook = tmp_path / "notebooks" / "01_x.ipynb"
    original = json.loads((REPO / "notebooks" / "01_data_analysis.ipynb").read_text())
    notebook.write_text(json.dumps(original))
    assert book.sync_notebook(notebook, tmp_path)
    text = notebook.read_text()
    assert "colab.research.google.com/github/someone/fork/blob/main/notebooks/01_x.ipynb" in text
    assert "git+https://github.com/someone/fork@v" in text
    assert not book.sync_notebook(notebook, tmp_path), "a second sync changes nothing"
