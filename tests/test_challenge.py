"""The ChaLearn LAP 2017 release as input: its stand-in, layout, index, labels (CSV and safe pickle), checks."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pandas as pd
import pytest

from helpers import labels, synthetic
from helpers.data import DatasetError, index_videos
from helpers.data import challenge as release
from helpers.data import challenge_labels, challenge_report
from helpers.profiles import SyntheticSpec
from helpers.synthetic import challenge as stand_in

SPEC = SyntheticSpec(subjects=5, fps=10, seconds=1.0, width=96, height=72, seed=3)


@pytest.fixture(scope="module")
def release_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("challenge")
    synthetic.generate_dataset(base / "synthetic", SPEC, progress=False)
    stand_in.make_challenge_release(base / "synthetic", base / "release", held_out=1, seed=0)
    return base / "release"


def fresh_copy(release_root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(release_root, tmp_path / "release"))


def test_names_of_the_challenge_videos():
    assert release.parse_challenge_name("0123456789_CONTENTMENT.mp4") == ("0123456789", "contempt")
    assert release.parse_challenge_name("x/5257702033_anger.MP4") == ("5257702033", "anger")
    assert release.parse_challenge_name("N2H.MP4") is None
    assert release.parse_challenge_name("123_ANGER.mp4") is None  # not a 10-digit id
    with pytest.raises(DatasetError, match=r"0123456789_FEAR\.mp4.*'FEAR' is not an emotion word.*rename"):
        release.parse_challenge_name("test/0123456789_FEAR.mp4")


def test_stand_in_has_the_release_shape(release_root):
    truth = pd.read_csv(release_root / stand_in.TRUTH_FILE, dtype={"video": str, "subject": str})
    assert truth.groupby("split")["subject"].nunique().to_dict() == {"test": 1, "train": 3, "validation": 1}
    for folder in ("valid", "test"):
        names = sorted(path.name for path in (release_root / folder).glob("*.mp4"))
        assert len(names) == 12 and all(release.CHALLENGE_NAME.match(name) for name in names)
        assert not any(subject in name for name in names for subject in truth["subject"])  # anonymised
    assert len(list((release_root / "train").glob("*/*.MP4"))) == 36


def test_index_of_the_release(release_root):
    layout = release.find_challenge_layout(release_root)
    assert (layout.train.name, layout.validation.name, layout.test.name) == ("train", "valid", "test")
    assert release.is_challenge_release(release_root) and not release.is_challenge_release(layout.train)
    index = release.index_challenge(layout, progress=False)
    assert index["split"].value_counts().to_dict() == {"train": 36, "validation": 12, "test": 12}
    assert index["readable"].all() and index["usable"].all() and index["labelled"].all()
    truth = pd.read_csv(release_root / stand_in.TRUTH_FILE, dtype={"video": str, "subject": str})
    merged = index[index["split"] != "train"].merge(truth[["video", "code", "genuine"]], on="video",
                                                    suffixes=("", "_true"))
    assert len(merged) == 24
    assert (merged["code"] == merged["code_true"]).all() and (merged["genuine"] == merged["genuine_true"]).all()
    assert (merged["subject"] == "").all() and (index.loc[index["split"] == "test", "frames"] == 10).all()
    split = release.challenge_split(index)
    assert split.train_subjects == sorted(truth.loc[truth["split"] == "train", "subject"].unique())
    assert split.test_videos == sorted(truth.loc[truth["split"] == "test", "video"])
    assert split.counts == {"train subjects": 3, "validation videos": 12, "test videos": 12}

    report = challenge_report.validate_challenge(layout, index)
    assert report.counts.loc["happy"].to_dict() == {"train": 6, "validation": 2, "test": 2}
    assert len(report.missing) == 12 and set(report.missing["present"]) == {2}  # 2 of the challenge's 10 each
    assert report.labelled == {"validation": True, "test": True} and report.train.n_missing == 0
    assert "test: 12 videos" in report.summary()
    abilities = report.abilities().set_index("notebook")["what it can do with this release"]
    assert "challenge accuracy" in abilities["06"] and "labelled validation videos" in abilities["03-05"]


def test_release_overview_tells_the_two_releases_apart(release_root):
    train = release_root / "train"
    overview = challenge_report.release_overview(train, index_videos(train, probe=False, progress=False), progress=False)
    assert overview.kind == challenge_report.CHALLENGE_RELEASE and overview.report.n("test") == 12
    assert overview.report.n("train") == 36 and "ChaLearn LAP 2017 release" in overview.summary()
    assert list(overview.abilities["notebook"]) == ["02", "03-05", "06"]
    full_root = release_root.parent / "synthetic"
    full = challenge_report.release_overview(full_root, index_videos(full_root, probe=False, progress=False))
    assert full.kind == challenge_report.FULL_RELEASE and full.report is None
    assert "subject folders only" in full.summary()


def test_unlabelled_release(release_root, tmp_path):
    root = fresh_copy(release_root, tmp_path)
    (root / "test" / "labels.csv").unlink()
    layout = release.find_challenge_layout(root)
    index = release.index_challenge(layout, probe=False, progress=False)
    test = index[index["split"] == "test"]
    assert test["genuine"].isna().all() and (test["label"] == -1).all() and (test["code"] == "").all()
    assert not test["labelled"].any() and index.loc[index["split"] == "validation", "labelled"].all()
    report = challenge_report.validate_challenge(layout, index)
    assert report.labelled == {"validation": True, "test": False} and len(report.unlabelled) == 12
    assert "prediction file" in report.abilities().set_index("notebook").loc["06"].iloc[0]


def test_labels_that_do_not_match_the_videos(release_root, tmp_path):
    root = fresh_copy(release_root, tmp_path)
    labels_file = root / "test" / "labels.csv"
    table = pd.read_csv(labels_file, dtype=str)
    table.iloc[1:].to_csv(labels_file, index=False)
    with pytest.raises(DatasetError, match=r"labels\.csv does not match.*no label for 1 video"):
        release.index_challenge(release.find_challenge_layout(root), probe=False, progress=False)
    pd.concat([table, pd.DataFrame({"video": ["9999999999_ANGER.mp4"], "label": ["true"]})]).to_csv(labels_file, index=False)
    with pytest.raises(DatasetError, match=r"labels 1 video\(s\) that are not in the folder \(9999999999_ANGER"):
        release.index_challenge(release.find_challenge_layout(root), probe=False, progress=False)
    table.assign(label="maybe").to_csv(labels_file, index=False)
    with pytest.raises(DatasetError, match="must be 'true' .* or 'fake'"):
        release.index_challenge(release.find_challenge_layout(root), probe=False, progress=False)


def test_bad_layouts_are_named(release_root, tmp_path):
    root = fresh_copy(release_root, tmp_path)
    unknown_word = root / "test" / "0000000001_FEAR.mp4"
    unknown_word.write_bytes(b"x")
    with pytest.raises(DatasetError, match="0000000001_FEAR.mp4: 'FEAR' is not an emotion word"):
        release.index_challenge(release.find_challenge_layout(root), probe=False, progress=False)
    unknown_word.unlink()
    stray = root / "test" / "N2H.MP4"
    shutil.copyfile(next((root / "train").glob("*/N2H.MP4")), stray)
    with pytest.raises(DatasetError, match="two releases are mixed"):
        release.find_challenge_layout(root)
    stray.unlink()
    inside = next((root / "train").iterdir()) / "0000000002_ANGER.mp4"
    shutil.copyfile(next((root / "test").glob("*.mp4")), inside)
    with pytest.raises(DatasetError, match=r"S\d+ holds both <CODE>.MP4 videos .* two releases are mixed"):
        release.find_challenge_layout(root)
    inside.unlink()
    (root / "test").rename(root / "holdout")
    with pytest.raises(DatasetError, match="cannot tell whether .*holdout holds validation or test"):
        release.find_challenge_layout(root)


def test_a_test_video_that_is_also_a_training_video_is_left_out(release_root, tmp_path):
    root = fresh_copy(release_root, tmp_path)
    copied = next((root / "test").glob("*_HAPPINESS.mp4"))
    labels_file = root / "test" / "labels.csv"
    genuine = pd.read_csv(labels_file).set_index("video").at[copied.name, "label"] == "true"
    training = next((root / "train").glob(f"*/{'N2H' if genuine else 'S2N2H'}.MP4"))
    (root / "notes.txt").write_text("not data")
    (root / "test" / "readme.txt").write_text("not data")
    shutil.copyfile(training, copied)
    layout = release.find_challenge_layout(root)
    index = release.index_challenge(layout, probe=False, progress=False)
    marked = index[index["identical_to"] != ""]
    assert set(marked["video"]) == {copied.name, training.name} and not marked["usable"].any()
    report = challenge_report.validate_challenge(layout, index)
    assert len(report.duplicated) == 2 and report.counts.at["happy", "test"] == 1
    assert report.unknown["name"].tolist() == ["readme.txt"]
    assert copied.name not in release.challenge_split(index).test_videos


class _Trap:
    """Unpickled normally, this would write a file: the safe reader must refuse it and write nothing."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (self.target, "ran"))


def test_challenge_pickles_are_read_without_running_code(tmp_path):
    names = {"0901184285_HAPPINESS.mp4": "true", "1562900885_HAPPINESS.mp4": "fake"}
    for protocol in (0, 2, pickle.HIGHEST_PROTOCOL):
        path = tmp_path / f"valid_prediction_{protocol}.pkl"
        path.write_bytes(pickle.dumps(names, protocol=protocol))
        assert challenge_labels.read_labels(path) == {"0901184285_HAPPINESS.mp4": True, "1562900885_HAPPINESS.mp4": False}
    python2 = tmp_path / "python2.pkl"  # what pickle.dump wrote under the challenge's Python 2 (protocol 0, str)
    python2.write_bytes(b"(dp0\nS'0901184285_HAPPINESS.mp4'\np1\nS'true'\np2\nsS'1562900885_HAPPINESS.mp4'\np3\nS'fake'\np4\ns.")
    assert challenge_labels.read_labels(python2) == {"0901184285_HAPPINESS.mp4": True, "1562900885_HAPPINESS.mp4": False}
    target = tmp_path / "pwned.txt"
    trap = tmp_path / "trap.pkl"
    trap.write_bytes(pickle.dumps({"0901184285_HAPPINESS.mp4": _Trap(target)}))
    with pytest.raises(DatasetError, match=r"trap\.pkl is not a challenge labels pickle that can be read safely.*CSV"):
        challenge_labels.read_labels(trap)
    assert not target.exists()
    listed = tmp_path / "list.pkl"
    listed.write_bytes(pickle.dumps(["a", "b"]))
    with pytest.raises(DatasetError, match="holds a list, not a dict"):
        challenge_labels.read_labels(listed)


def test_labels_csv_and_json(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("Video,Label\n0901184285_HAPPINESS.mp4,TRUE\n1562900885_HAPPINESS.mp4,fake\n")
    assert challenge_labels.read_labels(csv) == {"0901184285_HAPPINESS.mp4": True, "1562900885_HAPPINESS.mp4": False}
    csv.write_text("name,truth\na.mp4,true\n")
    with pytest.raises(DatasetError, match="labels.csv has the columns name, truth; a labels CSV needs video,label"):
        challenge_labels.read_labels(csv)
    csv.write_text("video,label\na.mp4,true\na.mp4,fake\n")
    with pytest.raises(DatasetError, match="labels a.mp4 more than once"):
        challenge_labels.read_labels(csv)
    json_file = tmp_path / "labels.json"
    json_file.write_text('{"a.mp4": "fake"}')
    assert challenge_labels.read_labels(json_file) == {"a.mp4": False}
    with pytest.raises(DatasetError, match="does not exist"):
        challenge_labels.read_labels(tmp_path / "absent.csv")


def test_stand_in_needs_enough_subjects():
    assert stand_in.split_subjects([f"S{i:02d}" for i in range(50)]) == stand_in.split_subjects(
        [f"S{i:02d}" for i in range(50)])
    sizes = {split: len(members) for split, members in stand_in.split_subjects([f"S{i:02d}" for i in range(50)]).items()}
    assert sizes == {"train": 40, "validation": 5, "test": 5}  # the challenge's 40 / 5 / 5
    with pytest.raises(ValueError, match="cannot give 1 validation and 1 test"):
        stand_in.split_subjects(["S01", "S02"])
    assert labels.CHALLENGE_WORD_OF["contempt"] == "CONTENTMENT"


def test_command_line_makes_the_stand_in(tmp_path, capsys):
    from helpers.synthetic import cli

    arguments = ["--subjects", "3", "--seconds", "1", "--fps", "5", "--width", "64", "--height", "48", "--no-progress",
                 "--out", str(tmp_path / "synthetic"), "--challenge-release", str(tmp_path / "release")]
    assert cli.main(arguments) == 0
    assert "12 training, 12 validation and 12 test videos" in capsys.readouterr().out
    layout = release.find_challenge_layout(tmp_path / "release")
    index = release.index_challenge(layout, probe=False, progress=False)
    assert index["labelled"].all() and index["split"].value_counts().to_dict() == {"train": 12, "validation": 12, "test": 12}
