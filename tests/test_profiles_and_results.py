import json
import sys
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


@pytest.fixture
def not_on_colab(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delenv("GENUINE_POSED_SCRATCH", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)


def test_scratch_is_the_work_folder_locally(tmp_path, not_on_colab):
    paths = profiles.paths_for("full", tmp_path / "w", tmp_path / "r")
    assert paths.scratch == paths.work and paths.extraction == paths.dataset
    assert paths.downloads == paths.work / "downloads" and paths.dataset_record == paths.work / "dataset.json"
    assert profiles.RunPaths("smoke", tmp_path / "w", tmp_path / "r").scratch == tmp_path / "w"


def test_environment_overrides_scratch(tmp_path, not_on_colab, monkeypatch):
    monkeypatch.setenv("GENUINE_POSED_SCRATCH", str(tmp_path / "fast"))
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20250101-060000_RC00")  # wins on Colab too
    paths = profiles.paths_for("full", tmp_path / "w", tmp_path / "r")
    assert paths.scratch == tmp_path / "fast" / "full" and paths.work == tmp_path / "w" / "full"
    assert paths.extraction == tmp_path / "fast" / "full" / "FakeTrue_DB"
    assert paths.dataset_record == tmp_path / "w" / "full" / "dataset.json"  # the record stays in work
    assert profiles.paths_for("full", tmp_path / "w", scratch_dir=tmp_path / "arg").scratch == tmp_path / "arg" / "full"


def test_colab_scratch_is_the_vm_disk(tmp_path, not_on_colab, monkeypatch):
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20250101-060000_RC00")
    paths = profiles.paths_for("full", tmp_path / "w", tmp_path / "r")
    assert profiles.on_colab()
    assert paths.scratch == Path("/content/genuine-posed-local/full") and paths.work == tmp_path / "w" / "full"
    assert paths.extraction == Path("/content/genuine-posed-local/full/FakeTrue_DB")
    assert paths.downloads == Path("/content/genuine-posed-local/full/downloads")
    assert paths.crops.parent == paths.checkpoints.parent == paths.work  # what must survive stays in work


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
    ref = book.release_ref()  # badge and install line open the same release of notebook and helpers
    assert f"colab.research.google.com/github/someone/fork/blob/{ref}/notebooks/01_x.ipynb" in text
    assert f"git+https://github.com/someone/fork@{ref}" in text
    assert not book.sync_notebook(notebook, tmp_path), "a second sync changes nothing"
