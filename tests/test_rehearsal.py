"""make rehearsal: all six notebooks in the full profile on a SASE-FE-shaped stand-in, both ways a user gives
the dataset (a Drive archive through gdown, an unpacked folder given to 01 only), and on a stand-in of the
ChaLearn 2017 release under its protocol (chalearn2017)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from helpers import approaches, data, results, train

REPO = Path(__file__).resolve().parents[1]
STANDIN_CACHE = REPO / "_build" / "rehearsal" / "standin"  # rebuilt only when its recipe changes
HUB_CACHE = REPO / "_build" / "rehearsal" / "hub"  # the stand-in hub's files, likewise


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / "rehearsal" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    run = _load("run")
    return run.rehearse(tmp_path_factory.mktemp("rehearsal"), standin_dir=STANDIN_CACHE, hub_dir=HUB_CACHE)


def outputs(executed: Path) -> tuple[str, list[dict]]:
    cells = json.loads(executed.read_text())["cells"]
    items = [output for cell in cells for output in cell.get("outputs", [])]
    shown = ("text/plain", "text/markdown", "text/html")  # tables are Stylers: their text is in the HTML
    text = "\n".join("".join(o.get("text", "")) + "".join("".join(o.get("data", {}).get(kind, "")) for kind in shown)
                      for o in items)
    return text, items


@pytest.mark.notebook
def test_every_notebook_runs_the_full_profile_both_ways(rehearsal):
    notebooks = sorted({run.notebook for run in rehearsal.runs})
    assert len(notebooks) == 6
    assert [run.way for run in rehearsal.runs] == ["archive"] * 6 + ["folder"] * 6 + ["challenge"] * 6
    for run in rehearsal.runs:
        text, items = outputs(run.executed)
        assert not [o for o in items if o.get("output_type") == "error"], f"{run.way} {run.notebook}"
        assert "PROFILE = full" in text, f"{run.notebook} names its profile"
        if run.notebook[:2] in ("03", "04", "05"):
            assert "WARNING" in text and "no GPU is visible" in text, "full without a GPU is said loudly"
            assert "is free there" in text, "the grid's size is checked before training"
    report = rehearsal.report()
    assert "[archive]" in report and "[folder]" in report and "results/full/single_task" in report
    assert "[challenge]" in report


@pytest.mark.notebook
def test_the_real_layouts_quirks_are_reported_and_kept_out(rehearsal):
    standin = sys.modules["standin"]
    first = next(run for run in rehearsal.runs if run.notebook == "01_data_analysis" and run.way == "archive")
    text, _ = outputs(first.executed)
    assert f"missing: {'/'.join(standin.MISSING)}" in text
    assert "1 unreadable" in text and f"{standin.UNREADABLE[0]}/{standin.UNREADABLE[1]}.MP4" in text
    assert "D2N2S.MP4 -> D2N2Sur" in text
    subject, code, copy = standin.IDENTICAL
    assert f"{subject}/{code} = {subject}/{copy}" in text and "left out" in text
    for way in ("archive", "folder"):
        folders = rehearsal.folders(way)
        index = data.load_index(folders["work"] / "full" / "index.csv")
        assert not index.loc[index["subject"] == subject, :].query("code in @code or code in @copy")["usable"].any()
        predictions = pd.concat([results.load_run(f).predictions for f in results.find_runs(folders["results"] / "full")])
        assert not ((predictions["subject"] == subject) & predictions["code"].isin([code, copy])).any()


@pytest.mark.notebook
def test_the_archive_goes_through_gdown_safe_extraction_and_the_record(rehearsal):
    archive_work = rehearsal.folders("archive")["work"] / "full"
    record = json.loads((archive_work / "dataset.json").read_text())
    assert record["drive_id"] and not record.get("dataset_dir")
    assert (archive_work / "FakeTrue_DB" / data.EXTRACTED_MARKER).is_file(), "extracted by safe_extract"
    assert not list((archive_work / "downloads").glob("*.archive")), "the download is deleted once extracted"
    folder_work = rehearsal.folders("folder")["work"] / "full"
    assert json.loads((folder_work / "dataset.json").read_text())["dataset_dir"] == str(rehearsal.dataset)
    # 02-06 of the folder way were not told where the dataset is: they found it in 01's record
    for run in rehearsal.runs:
        if run.way == "folder" and run.notebook != "01_data_analysis":
            source = json.loads(run.executed.read_text())["cells"]
            injected = "".join("".join(c["source"]) for c in source if "injected-parameters" in c["metadata"].get("tags", []))
            assert "DATASET_DIR" not in injected


@pytest.mark.notebook
def test_every_approach_left_full_profile_artifacts(rehearsal):
    for way in ("archive", "folder"):
        folders = rehearsal.folders(way)
        for approach in approaches.APPROACHES:  # 05's geometry models too, on the HD stand-in's landmarks
            runs = results.find_runs(folders["results"] / "full", approach)
            assert runs, f"{way}: no {approach} results"
            env = json.loads((runs[0] / "env.json").read_text())
            assert env["profile"] == "full" and env["mixed_precision"] == "no"
        kept = list((folders["work"] / "full" / "models" / "single_task").rglob("fold_0.pt"))
        assert kept, "the first fold's weights are kept for 06"
        comparison = next(r for r in rehearsal.runs if r.way == way and r.notebook == "06_comparison")
        assert "the real SASE-FE" in outputs(comparison.executed)[0]


@pytest.mark.notebook
def test_pretrained_weights_are_downloaded_once_cached_in_the_work_directory_and_expected(rehearsal):
    """weights: default through the stand-in hub: each file is asked for once per way (05's ResNet18-LSTM finds
    04's ResNet18 in <work>/pretrained), and the runs say pretrained, with the weights' own normalisation."""
    run = sys.modules["run"]
    from helpers import models

    assert run.repeated_downloads(rehearsal) == []
    for way in ("archive", "folder"):
        downloads = {r.notebook: sorted(Path(p).name for p in r.downloads) for r in rehearsal.runs if r.way == way}
        assert downloads["03_single_task"] == ["20180402-114759-vggface2.pt"]
        assert len(downloads["04_multi_task"]) == 1 and downloads["04_multi_task"][0].startswith("resnet18-")
        assert downloads["05_temporal"] == ["X3D_S.pyth"], "ResNet18 came from the cache"
        assert not any(downloads[n] for n in ("01_data_analysis", "02_frame_extraction", "06_comparison"))
        cache = rehearsal.folders(way)["work"] / "pretrained" / "torch" / "checkpoints"
        assert sorted(p.name for p in cache.iterdir()) == sorted(sum(downloads.values(), []))
        expected = {"inception_resnet_v1": models.FACENET_NORMALIZATION, "resnet18": models.IMAGENET_NORMALIZATION,
                    "x3d_s": models.PYTORCHVIDEO_NORMALIZATION, "resnet18_lstm": models.IMAGENET_NORMALIZATION}
        seen = set()
        for folder in results.find_runs(rehearsal.folders(way)["results"] / "full"):
            artifacts = results.load_run(folder, predictions=False)
            model = artifacts.metrics.get("model")
            if model in expected:
                seen.add(model)
                assert artifacts.metrics["pretrained"], f"{way} {model}"
                for key in ("mean", "std"):
                    assert artifacts.config["normalization_stats"][key] == pytest.approx(expected[model][key])
                assert artifacts.config["train"]["lr"] == 1e-4, "the full grid's fine-tuning rate"
                assert artifacts.metrics["backbone_lr"] == pytest.approx(1e-4 * train.PRETRAINED_BACKBONE_SCALE), \
                    "backbone_lr: auto gives pretrained weights a tenth of the heads' rate"
        assert seen == set(expected), f"{way}: runs of {sorted(seen)}"


@pytest.mark.notebook
def test_the_challenge_release_runs_under_its_protocol(rehearsal):
    folders = rehearsal.folders("challenge")
    truth = pd.read_csv(rehearsal.challenge / "stand_in_truth.csv", dtype={"video": str, "subject": str})
    test_videos = set(truth.loc[truth["split"] == "test", "video"])
    for approach in approaches.APPROACHES:  # every approach of 03-05 trained on the train subjects, tested once
        runs = results.find_runs(folders["results"] / "full", approach)
        assert [run.name for run in runs] == ["fold_0"] * len(runs) and runs, f"{approach}: one fold"
        run = results.load_run(runs[0])
        assert run.config["protocol"] == "chalearn2017" and run.metrics["protocol"] == "chalearn2017"
        assert set(run.metrics["subjects"]["train"]) == set(truth.loc[truth["split"] == "train", "subject"])
        scored = run.metrics["challenge"]
        assert set(scored["decisions"]) == test_videos and scored["challenge_accuracy"]["videos"] == len(test_videos)
    prediction = json.loads((folders["results"] / "full" / "challenge" / "test_prediction.json").read_text())
    assert set(prediction) == test_videos and set(prediction.values()) <= {"true", "fake"}
    comparison = next(r for r in rehearsal.runs if r.way == "challenge" and r.notebook == "06_comparison")
    text = outputs(comparison.executed)[0]
    assert "protocol chalearn2017" in text and "challenge accuracy (exact 95 % CI)" in text
    assert "test_prediction.pkl" in text
    assert "count each video as independent" in text, "what the intervals assume without subject ids"
    agreement = rehearsal.pair_agreement()  # one test subject: each emotion's two videos are its pair
    assert agreement["formed"] == agreement["right"] == agreement["possible"] == len(test_videos) // 2
    assert f"{agreement['right']} of them true pairs" in rehearsal.report()


@pytest.mark.notebook
def test_the_full_release_runs_under_the_fixed_protocol(rehearsal):
    """The folder way's 03-06 under PROTOCOL = 'fixed': one challenge-shaped split, saved once, every approach
    tested once on its test subject, pairs found checked against the subjects, 06 naming the split for what it is."""
    folders = rehearsal.folders("folder")
    split = pd.read_csv(folders["work"] / "full" / "protocol_fixed.csv", dtype=str)
    test_subjects = set(split.loc[split["part"] == "test", "subject"])
    for approach in approaches.APPROACHES:
        runs = results.find_runs(folders["results"] / "full", approach)
        assert [run.name for run in runs] == ["fold_0"] * len(runs) and runs, f"{approach}: one fold"
        run = results.load_run(runs[0])
        assert run.config["protocol"] == "fixed" and run.metrics["protocol"] == "fixed", approach
        assert set(run.predictions["subject"].astype(str)) == test_subjects, approach
        scored = run.metrics["challenge"]
        agreement = scored["pair_agreement"]
        assert scored["pairs_known"] > 0 and agreement["right"] == agreement["formed"] > 0, approach
    comparison = next(r for r in rehearsal.runs if r.way == "folder" and r.notebook == "06_comparison")
    text = outputs(comparison.executed)[0]
    assert "protocol fixed" in text and "challenge-shaped, not the challenge's subjects" in text
    assert "pairs found of the same person" in text and "no stacked ensemble under protocol fixed" in text
    assert not (folders["results"] / "full" / "challenge").exists(), "the prediction file is the release's alone"
