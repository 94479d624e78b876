"""The evaluation protocols (kfold, chalearn2017, fixed): their splits, their errors, the runner under each,
and the metrics a fixed test set is scored by."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import approaches, data, profiles, results, synthetic, train
from helpers.data import DatasetError, protocols
from helpers.metrics import challenge
from helpers.profiles import SyntheticSpec
from helpers.synthetic import challenge as stand_in
from helpers.train import geometry_inputs, protocol_scoring
from helpers.train.setting_types import SettingError

SPEC = SyntheticSpec(subjects=6, fps=10, seconds=1.0, width=96, height=72, seed=3)


def subject_dataset(root: Path, paths: profiles.RunPaths) -> data.Dataset:
    """A dataset in subject folders at ``root``, indexed, checked and split as 01 does."""
    index = data.index_videos(root, progress=False)
    splits = data.ensure_splits(index, paths.splits, 3)
    return data.Dataset(root, index, data.validate_layout(root, index), splits, profiles.get_profile("smoke"))


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("protocols")
    synthetic.generate_dataset(base / "synthetic", SPEC, progress=False)
    stand_in.make_challenge_release(base / "synthetic", base / "release", held_out=1, seed=0)
    return {"subjects": base / "synthetic", "challenge": base / "release"}


# ---------------------------------------------------------------------------------------- the fixed split


def test_the_fixed_split_is_shaped_like_the_challenges():
    subjects = [f"S{i:02d}" for i in range(50)]
    split = protocols.fixed_split(subjects, seed=0)
    assert split["part"].value_counts().to_dict() == {"train": 40, "validation": 5, "test": 5}
    assert split.equals(protocols.fixed_split(list(reversed(subjects)), seed=0))  # seeded, order-free
    assert not split.equals(protocols.fixed_split(subjects, seed=1))
    assert split["subject"].is_unique  # no subject on two sides
    small = protocols.fixed_split(subjects[:6])
    assert small["part"].value_counts().to_dict() == {"train": 4, "validation": 1, "test": 1}  # scaled: a tenth


def test_the_fixed_split_needs_enough_subjects():
    with pytest.raises(DatasetError, match=r"at least 4 subjects.*has 3.*protocol 'kfold'"):
        protocols.fixed_split(["1", "2", "3"])


def test_the_fixed_split_is_saved_once_and_reused(tmp_path):
    index = pd.DataFrame({"subject": [f"{i}" for i in range(12) for _ in range(2)]})
    path = tmp_path / protocols.FIXED_FILE
    first = protocols.ensure_fixed_split(index, path, seed=0)
    written = path.read_bytes()
    again = protocols.ensure_fixed_split(index, path, seed=5)  # another seed: the saved split wins
    assert again.equals(first) and path.read_bytes() == written
    with pytest.raises(DatasetError, match=r"does not match this dataset.*not in the file: 12.*delete the file"):
        protocols.ensure_fixed_split(pd.concat([index, pd.DataFrame({"subject": ["12"]})]), path)
    path.write_text("subject,fold\n1,0\n")
    with pytest.raises(DatasetError, match="damaged or not a fixed protocol split"):
        protocols.ensure_fixed_split(index, path)


def test_the_fixed_protocol_dataset_has_one_fold_without_a_subject_on_two_sides(releases, tmp_path):
    paths = profiles.paths_for("smoke", tmp_path / "work", tmp_path / "results")
    dataset = subject_dataset(releases["subjects"], paths)
    fixed = protocols.protocol_dataset(dataset, "fixed", protocols.fixed_split_path(paths.splits))
    assert (paths.splits.parent / protocols.FIXED_FILE).exists()
    assert set(fixed.splits["fold"]) == {0} and fixed.splits["subject"].is_unique
    parts = protocols.protocol_parts(fixed.usable, fixed.splits)
    sides = [set(parts[name]["subject"]) for name in protocols.PARTS]
    assert [len(side) for side in sides] == [4, 1, 1] and not (sides[0] & sides[1] or sides[0] & sides[2]
                                                                or sides[1] & sides[2])
    assert protocols.protocol_dataset(dataset, "kfold", "unused") is dataset
    with pytest.raises(DatasetError, match=r"'chalearn2017' needs the ChaLearn 2017 release.*use protocol 'fixed'"):
        protocols.protocol_dataset(dataset, "chalearn2017", protocols.fixed_split_path(paths.splits))


# ---------------------------------------------------------------------------------------- chalearn2017


def test_the_challenge_protocol_trains_on_the_training_subjects_and_tests_the_test_videos(releases, tmp_path):
    release = releases["challenge"]
    paths = profiles.paths_for("smoke", tmp_path / "work", tmp_path / "results")
    dataset = subject_dataset(release / "train", paths)
    chosen = protocols.protocol_dataset(dataset, "chalearn2017", protocols.fixed_split_path(paths.splits))
    truth = pd.read_csv(release / stand_in.TRUTH_FILE, dtype={"video": str, "subject": str})
    parts = protocols.protocol_parts(chosen.usable, chosen.splits)
    trained = sorted(truth.loc[truth["split"] == "train", "subject"].unique())
    assert sorted(parts["train"]["subject"].unique()) == trained
    for split in ("validation", "test"):
        videos = parts[split]
        assert sorted(videos["video"]) == sorted(truth.loc[truth["split"] == split, "video"])
        assert (videos["subject"] == [protocols.storage_subject(split, i) for i in videos["video_id"]]).all()
        assert videos["subject"].is_unique  # one storage folder per video: no pair is known among them
    assert set(chosen.splits["fold"]) == {0}
    with pytest.raises(DatasetError, match=r"is the ChaLearn 2017 release.*use protocol 'chalearn2017'"):
        protocols.protocol_dataset(dataset, "fixed", protocols.fixed_split_path(paths.splits))


def test_the_challenge_protocol_needs_the_labels_of_validation_and_test(releases, tmp_path):
    import shutil

    release = Path(shutil.copytree(releases["challenge"], tmp_path / "release"))
    (release / "test" / stand_in.LABELS_FILE).unlink()
    paths = profiles.paths_for("smoke", tmp_path / "work", tmp_path / "results")
    dataset = subject_dataset(release / "train", paths)
    with pytest.raises(DatasetError, match=r"needs their labels; 12 have none.*labels.csv"):
        protocols.protocol_dataset(dataset, "chalearn2017", protocols.fixed_split_path(paths.splits))


# ---------------------------------------------------------------------------------------- the setting


def test_the_protocol_is_a_setting_out_of_the_identity_at_its_default():
    default = approaches.DescriptorConfig(profile="smoke")
    assert "protocol" not in default.identity() and default.to_dict()["protocol"] == "kfold"
    # the run id of a run made before the setting existed (computed with the code of that time)
    assert default.run_id == RUN_ID_BEFORE_THE_SETTING
    assert approaches.SingleTaskConfig(profile="smoke").run_id == "simple_cnn-cross_entropy-dc2511"
    fixed = approaches.DescriptorConfig(profile="smoke", protocol="fixed")
    assert fixed.identity()["protocol"] == "fixed" and fixed.run_id != default.run_id
    assert approaches.DescriptorConfig(profile="smoke", protocol="chalearn2017").run_id not in (default.run_id,
                                                                                                   fixed.run_id)
    with pytest.raises(SettingError, match=r"protocol must be one of kfold, chalearn2017, fixed, got 'loso'"):
        approaches.DescriptorConfig(profile="smoke", protocol="loso")


RUN_ID_BEFORE_THE_SETTING = "rank_svm-C0.1-ad7c00"


# ---------------------------------------------------------------------------------------- metrics


def test_the_metrics_of_a_fixed_test_set_are_named_for_what_they_are():
    # 60 test videos, 30 people x one emotion; each video judged alone: 40 right
    videos = [f"{i:010d}_ANGER.mp4" for i in range(60)]
    genuine = np.arange(60) % 2 == 0
    p = np.where(genuine, 0.7, 0.3)
    p[:20] = np.where(genuine[:20], 0.49, 0.40)  # 10 genuine wrong alone, but ordered right within their pairs
    scores = pd.DataFrame({"video": videos, "emotion": "anger", "genuine": genuine, "p_genuine": p,
                           "subject": [f"S{i // 2}" for i in range(60)]})
    found = pd.DataFrame({"video_a": videos[0::2], "video_b": videos[1::2]})
    metrics = challenge.protocol_metrics(scores, found, subjects_known=True)
    alone = metrics["challenge_accuracy"]
    assert (alone["correct"], alone["videos"]) == (50, 60)  # the 10 genuine ones at 0.49 are judged posed
    assert metrics["challenge_accuracy_pairs_found"]["correct"] == 60  # within its pair each is ordered right
    assert metrics["paired_found"]["pairs"] == 30 and metrics["paired_found"]["accuracy"] == 1.0
    assert metrics["pairs_known"] == 30 and metrics["paired_known"]["accuracy"] == 1.0
    no_subjects = challenge.protocol_metrics(scores.drop(columns="subject"), found.iloc[:0], subjects_known=False)
    assert "paired_known" not in no_subjects
    assert no_subjects["challenge_accuracy_pairs_found"]["correct"] == 50  # no pair: each judged alone


# ---------------------------------------------------------------------------------------- the runner


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["kfold", "fixed", "chalearn2017"])
def test_the_runner_under_each_protocol(releases, tmp_path_factory, protocol):
    base = tmp_path_factory.mktemp(f"runner-{protocol}")
    paths = profiles.paths_for("smoke", base / "work", base / "results")
    root = releases["challenge"] / "train" if protocol == "chalearn2017" else releases["subjects"]
    dataset = subject_dataset(root, paths)
    config = approaches.DescriptorConfig(profile="smoke", n_models=5, C=0.1, protocol=protocol,
                                         folds=[0] if protocol == "kfold" else None,
                                         work_dir=str(paths.work.parent), results_dir=str(paths.results.parent))
    table = train.run_experiment(config, dataset=dataset)
    assert list(table["fold"]) == [0]
    run = results.load_run(results.run_dir(paths.results, "descriptors", table["run_id"].iloc[0], 0))
    tested = set(run.predictions["subject"].astype(str))
    trained = set(run.metrics["subjects"]["train"])
    assert not tested & trained
    if protocol == "kfold":
        assert "challenge" not in run.metrics and "protocol" not in run.config["identity"]
        return
    assert run.config["protocol"] == protocol and run.metrics["protocol"] == protocol
    scored = run.metrics["challenge"]
    assert scored["challenge_accuracy"]["videos"] == len(run.predictions)
    assert 0 <= scored["challenge_accuracy"]["low"] <= scored["challenge_accuracy"]["accuracy"] <= \
        scored["challenge_accuracy"]["high"] <= 1
    # one test subject's 12 videos: six pairs found by face identity, and the Rank-SVMs judge every video in its
    # pair found (never by subject ids, which the challenge's test videos do not have)
    assert scored["paired_found"]["pairs"] == 6 and run.metrics["test_partnered"] == 12
    if protocol == "fixed":
        assert len(tested) == 1 and scored["pairs_known"] == 6 and "pair_agreement" in scored
        assert set(run.metrics["subjects"]["val"]).isdisjoint(tested | trained)
    else:
        truth = pd.read_csv(releases["challenge"] / stand_in.TRUTH_FILE, dtype={"video": str, "subject": str})
        assert all(subject.startswith("test-") for subject in tested) and len(tested) == 12
        assert trained == set(truth.loc[truth["split"] == "train", "subject"])
        assert all(subject.startswith("validation-") for subject in run.metrics["subjects"]["val"])
        assert "pairs_known" not in scored
    with pytest.raises(ValueError, match=r"has one fold \(0\), not \[0, 1\]"):
        train.run_experiment(approaches.DescriptorConfig(**{**config.to_dict(), "folds": [0, 1], "train": {}}),
                             dataset=dataset)


# ---------------------------------------------------------------------------------------- 06's reading


def scored_run(folder: Path, protocol: str | None, validation: float,
               decisions: dict[str, bool]) -> results.RunArtifacts:
    config = {"approach": "descriptors", "run_id": f"rank_svm-{folder.name}", "fold": 0}
    if protocol is not None:
        config["protocol"] = protocol
    truth = np.array([True, False, True, False])
    scores = pd.DataFrame({"video": list(decisions), "emotion": "anger", "genuine": truth,
                           "p_genuine": [0.6, 0.4, 0.45, 0.3]})
    found = pd.DataFrame({"video_a": [scores["video"][2]], "video_b": [scores["video"][3]]})
    metrics = {"validation": {"authenticity_video_accuracy": validation}}
    if protocol not in (None, "kfold"):
        metrics["challenge"] = {**challenge.protocol_metrics(scores, found, subjects_known=False),
                                "decisions": decisions}
    return results.RunArtifacts(folder, metrics, config, {}, pd.DataFrame(), None)


def test_06_compares_the_runs_of_one_protocol_and_writes_the_chosen_ones_prediction_file(tmp_path):
    from helpers.analysis import protocol_results

    videos = [f"{i:010d}_ANGER.mp4" for i in range(4)]
    decisions = dict(zip(videos, [True, False, True, False]))
    old = scored_run(tmp_path / "a", None, 0.9, decisions)  # made before the setting: kfold
    worse = scored_run(tmp_path / "b", "chalearn2017", 0.5, decisions)
    better = scored_run(tmp_path / "c", "chalearn2017", 0.75, {**decisions, videos[0]: False})
    assert protocol_results.runs_of_protocol([old, worse, better], "kfold") == [old]
    chosen = protocol_results.runs_of_protocol([old, worse, better], "chalearn2017")
    assert chosen == [worse, better] and protocol_results.chosen_on_validation(chosen) is better
    worse.metrics["validation"]["paired_accuracy"] = 0.9  # chosen as every notebook chooses: paired accuracy first
    better.metrics["validation"]["paired_accuracy"] = 0.8
    assert protocol_results.chosen_on_validation(chosen) is worse
    worse.metrics["validation"]["paired_accuracy"] = better.metrics["validation"]["paired_accuracy"] = 0.8
    assert protocol_results.chosen_on_validation(chosen) is better
    table = protocol_results.challenge_table(chosen)
    # alone: 0.45 (genuine) is judged posed, 3 of 4 right; within the pair found (0.45 > 0.3) all 4
    assert table["challenge accuracy (exact 95 % CI)"].iloc[0].endswith("3 of 4 videos")
    assert table["challenge accuracy, pairs found decide"].iloc[0].startswith("100.0 %")
    assert table["pairs found (one genuine + one posed)"].iloc[0] == "1 (1)"
    assert table["pairs found of the same person"].iloc[0] == "- (subjects unknown)"
    assert table["paired accuracy, pairs known"].iloc[0] == "- (subjects unknown)"
    written = protocol_results.write_challenge_predictions(better, tmp_path / "results")
    assert written["pickle"].parent == tmp_path / "results" / "challenge"
    assert results.read_json(written["json"]) == {videos[0]: "fake", videos[1]: "fake", videos[2]: "true",
                                                  videos[3]: "fake"}
    with pytest.raises(ValueError, match="no test decisions: train it under protocol 'chalearn2017'"):
        protocol_results.write_challenge_predictions(old, tmp_path / "results")


def test_paired_intervals_say_when_no_pair_is_known():
    from helpers.analysis import compare

    # chalearn2017's test videos: each stored under its own subject, so no pair is known among them
    scores = pd.DataFrame({"model": "m", "subject": ["test-1", "test-2"], "code": ["N2H", "S2N2H"],
                           "p_genuine": [0.7, 0.2], "authenticity_label": [1, 0]})
    table = compare.interval_table(scores, "paired")
    assert table["interval"].tolist() == ["n/a (no pairs)"] and table["items"].tolist() == [0]
    assert compare.interval_table(scores, "authenticity")["items"].tolist() == [2]


def test_the_inspector_shows_a_subjects_pair_or_under_chalearn2017_one_video_of_each():
    from helpers.analysis import protocol_results

    kfold = pd.DataFrame({"subject": ["S2", "S2", "S1", "S3", "S3"], "code": ["N2H", "S2N2H", "N2H", "N2H", "S2N2H"]})
    assert protocol_results.inspector_videos(kfold, ["S1", "S2", "S3"]) == [("S2", "N2H"), ("S2", "S2N2H")]
    unnamed = pd.DataFrame({"subject": ["test-9", "test-3", "test-5"], "code": ["N2H", "S2N2H", "N2H"]})
    assert protocol_results.inspector_videos(unnamed, unnamed["subject"]) == [("test-5", "N2H"), ("test-3", "S2N2H")]


def test_the_published_challenge_numbers_meet_ours_on_the_same_measure_under_a_protocol(tmp_path):
    from helpers.analysis import protocol_results, published

    videos = [f"{i:010d}_ANGER.mp4" for i in range(4)]
    decisions = dict(zip(videos, [True, False, True, False]))
    runs = [scored_run(tmp_path / "a", "chalearn2017", 0.5, decisions), scored_run(tmp_path / "b", "chalearn2017", 0.75,
                                                                                   decisions)]
    runs[1].config["approach"] = "lstm_pb"  # HCILab's approach
    found = protocol_results.challenge_by_approach(runs)
    assert found["any"] == found["lstm_pb"] and found["lstm_pb"][1] == f"lstm_pb/{runs[1].run_id}"
    assert found["descriptors"][0] == "100.0 % (39.8-100.0), 4 of 4 videos"  # judged within the pair found
    summary = pd.DataFrame([{"approach": "descriptors", "model": "descriptors/selected on validation",
                             "authenticity_video_accuracy": "75.0 ± 0.0", "authenticity_video_accuracy_mean": 75.0}])
    table = published.reference_comparison(summary, "full", False, protocol="chalearn2017",
                                           challenge_results=found).set_index("source")
    assert table.loc["NIT-OVGU 2017 (tied first)", "ours: full"] == found["descriptors"][0]
    assert table.loc["HCILab 2017 (tied first)", "our model"] == found["lstm_pb"][1]
    assert table.loc["ChaLearn LAP 2017 winners", "ours: full"] == found["any"][0]
    assert "theirs and ours on the challenge's test videos" in table.loc["NIT-OVGU 2017 (tied first)", "measure"]
    fixed = published.reference_comparison(summary, "full", False, protocol="fixed", challenge_results={})
    assert "not the challenge's subjects" in fixed.set_index("source").loc["HCILab 2017 (tied first)", "measure"]
    assert fixed.set_index("source").loc["HCILab 2017 (tied first)", "ours: full"] == "not run"
    kfold = published.reference_comparison(summary, "full", False).set_index("source")
    assert kfold.loc["NIT-OVGU 2017 (tied first)", "ours: full"] == "75.0 ± 0.0"  # unchanged under kfold


def test_videos_are_partnered_by_the_pairs_found_when_subjects_are_not_to_be_read():
    videos = pd.DataFrame({"subject": ["test-1", "test-2", "test-3", "test-4"], "code": ["N2H", "S2N2H", "N2S", "H2N2S"],
                           "video": ["1_HAPPINESS.mp4", "2_HAPPINESS.mp4", "3_SADNESS.mp4", "4_SADNESS.mp4"]})
    pairs = pd.DataFrame({"emotion": ["happy"], "video_a": ["2_HAPPINESS.mp4"], "video_b": ["1_HAPPINESS.mp4"],
                          "distance": [0.3]})
    assert protocol_scoring.partner_rows_from_pairs(videos, pairs).tolist() == [1, 0, -1, -1]
    by_subject = videos.assign(subject=["S1", "S1", "S1", "S2"])
    assert protocol_scoring.partner_rows_from_pairs(by_subject.drop(columns="video"), pairs).tolist() == [-1] * 4
    assert geometry_inputs.partner_rows(by_subject).tolist() == [1, 0, -1, -1]


def test_06_names_what_to_run_for_each_approach_without_runs_under_its_protocol(tmp_path, write_fake_run):
    from helpers.analysis import protocol_results

    write_fake_run(tmp_path, "single_task", "cnn-ce", 0, ["S01", "S02"])  # made under kfold
    write_fake_run(tmp_path, "descriptors", "rank_svm", 0, ["S01", "S02"])
    folder = results.run_dir(tmp_path, "descriptors", "rank_svm", 0)
    run = results.load_run(folder)  # written again as trained under chalearn2017
    results.write_run(folder, run.metrics, run.history, run.predictions, {**run.config, "protocol": "chalearn2017"}, {})
    notes = protocol_results.missing_notes(tmp_path, "demo", "chalearn2017")
    assert len(notes) == len(approaches.APPROACHES) - 1 and not any("Rank-SVM" in note for note in notes)
    single = next(note for note in notes if "notebooks/03_single_task.ipynb" in note)
    assert "(it has runs under kfold only)" in single and "PROTOCOL = 'chalearn2017'" in single
    kfold = protocol_results.missing_notes(tmp_path, "demo", "kfold")
    assert not any("03_single_task" in note for note in kfold)
    assert any("(it has runs under chalearn2017 only)" in note and "05_temporal" in note for note in kfold)
    with pytest.raises(ValueError, match="protocol"):
        protocol_results.missing_notes(tmp_path, "demo", "challenge")


def test_where_subjects_are_unknown_the_headings_say_what_intervals_assume():
    from helpers.analysis import protocol_results

    heading = protocol_results.protocol_heading("chalearn2017", "profile 'full'")
    assert "count each video as independent" in heading and heading.endswith("5 people).")
    for protocol in ("kfold", "fixed"):
        assert protocols.independence_note(protocol) == ""
        assert "Under it" not in protocol_results.protocol_heading(protocol, "profile 'full'")
