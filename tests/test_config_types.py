"""Experiment and grid files are typed and checked when read: numbers written as YAML strings converted, wrong
types and empty grids refused naming the key and the file, before any data is prepared."""

import json

import pytest

from helpers import approaches, train
from helpers.train import setting_types
from helpers.train import __main__ as command_line


def write_yaml(path, text):
    path.write_text(text)
    return path


def test_numbers_that_yaml_reads_as_strings_are_converted(tmp_path):
    # PyYAML reads 1e-3 (no dot) as the string "1e-3": it reached the optimiser as a string
    path = write_yaml(tmp_path / "exp.yaml", "model: simple_cnn\nbatch_size: '16'\ntrain:\n  lr: 1e-3\n"
                                             "  epochs: '2'\n  backbone_lr: 5e-5\n  restore_best: 'false'\n")
    config = approaches.load_config(path)
    assert config.train.lr == 0.001 and isinstance(config.train.lr, float)
    assert config.train.backbone_lr == 5e-5
    assert config.train.epochs == 2 and isinstance(config.train.epochs, int)
    assert config.batch_size == 16 and config.train.restore_best is False


def test_an_int_given_for_a_float_keeps_the_run_identity():
    """0 and 0.0 hash differently (json): converting would rename the runs of files that wrote 0."""
    as_int = approaches.SingleTaskConfig(dropout=0, train={"lr": 1})
    assert type(as_int.dropout) is int and type(as_int.train.lr) is int
    assert as_int.run_id != approaches.SingleTaskConfig(dropout=0.0, train={"lr": 1.0}).run_id


@pytest.mark.parametrize("text, key", [
    ("train:\n  epochs: ten\n", "train.epochs"),
    ("batch_size: 3.5\n", "batch_size"),
    ("augment: maybe\n", "augment"),
    ("folds: 0\n", "folds"),
    ("folds: [0, one]\n", r"folds\[1\]"),
    ("model: 3\n", "model"),
    ("loss_params: [1, 2]\n", "loss_params"),
    ("train: 5\n", "train"),
    ("train:\n  lr: fast\n", "train.lr"),
    ("train:\n  epoch: 3\n", r"train: unknown TrainConfig key\(s\): epoch;"),
    ("extraction:\n  size: big\n", "extraction.size"),
    ("extraction:\n  window: [0.4]\n", "extraction.window"),
    ("extraction:\n  detecor: haar\n", r"unknown extraction key\(s\):"),
])
def test_a_wrong_type_is_refused_naming_the_key_and_the_file(tmp_path, text, key):
    path = write_yaml(tmp_path / "bad.yaml", text)
    with pytest.raises(setting_types.SettingError, match=rf"bad\.yaml: {key} ") as error:
        approaches.load_config(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("text, key", [
    ("train:\n  epochs: 0\n", "train.epochs must be at least 1"),
    ("train:\n  gradient_accumulation_steps: 0\n", "train.gradient_accumulation_steps must be at least 1"),
    ("batch_size: 0\n", "batch_size must be at least 1"),
    ("folds: []\n", "folds must list"),
    ("extraction:\n  size: 8\n", "extraction: size must be at least 16"),
])
def test_values_out_of_range_are_refused(tmp_path, text, key):
    with pytest.raises(setting_types.SettingError, match=key):
        approaches.load_config(write_yaml(tmp_path / "bad.yaml", text))


def test_direct_construction_is_checked_too():
    with pytest.raises(setting_types.SettingError, match="epochs must be at least 1"):
        train.TrainConfig(epochs=0)
    with pytest.raises(setting_types.SettingError, match="epochs must be a number"):
        train.TrainConfig(epochs="ten")
    assert approaches.MultiTaskConfig(hidden="64").hidden == 64
    explicit = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}  # normalization_stats takes these as they are
    assert approaches.SingleTaskConfig(normalization=explicit).normalization == explicit


def test_a_new_field_is_checked_by_its_type_hint():
    from dataclasses import dataclass

    @dataclass
    class Settings:
        count: int = 1
        rates: list[float] | None = None
        names: dict[str, str] | None = None

        def __post_init__(self):
            setting_types.check_fields(self)

    assert Settings(count="3", rates=["1e-2", 2]).rates == [0.01, 2]
    with pytest.raises(setting_types.SettingError, match=r"rates\[0\] must be a number"):
        Settings(rates=["x"])
    with pytest.raises(setting_types.SettingError, match="names.a must be a string"):
        Settings(names={"a": 1})


def test_an_invalid_file_is_named(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"model": "simple_cnn",')
    with pytest.raises(setting_types.SettingError, match="broken.json is not valid JSON"):
        approaches.load_config(path)
    path.write_text("[1, 2]")
    with pytest.raises(setting_types.SettingError, match="broken.json must hold a mapping"):
        approaches.load_config(path)


def test_grid_files_are_checked_naming_the_key_and_the_file(tmp_path):
    head = "approach: single_task\nprofile: smoke\n"
    path = write_yaml(tmp_path / "grid.yaml", head + "grid:\n  model: []\n")
    with pytest.raises(setting_types.SettingError, match=r"grid.yaml: grid.model is an empty list"):
        approaches.load_configs(path)
    write_yaml(path, head + "grid: []\n")
    with pytest.raises(setting_types.SettingError, match="grid.yaml: grid is an empty list"):
        approaches.load_configs(path)
    write_yaml(path, head + "grid:\n  - {model: [simple_cnn]}\n  - {loss: []}\n")
    with pytest.raises(setting_types.SettingError, match=r"grid\[1\].loss is an empty list"):
        approaches.load_configs(path)
    write_yaml(path, head + "settings:\n  train: {epochs: ten}\ngrid:\n  model: [simple_cnn]\n")
    with pytest.raises(setting_types.SettingError, match=r"grid.yaml: train.epochs must be a number, got 'ten'"):
        approaches.load_configs(path)
    write_yaml(path, head + "settings:\n  train: {lr: 1e-3}\ngrid:\n  model: [simple_cnn]\n")
    assert [c.train.lr for c in approaches.load_configs(path)] == [0.001]


def test_a_notebooks_empty_grid_list_is_refused():
    with pytest.raises(setting_types.SettingError, match=r"values\['model'\] is an empty list"):
        approaches.grid("smoke", "single_task", {"model": []})
    with pytest.raises(setting_types.SettingError, match=r"single_task.yaml \(with the values and settings given\): "
                                                         r"train.epochs must be at least 1"):
        approaches.grid("smoke", "single_task", settings={"train": {"epochs": 0}})


def test_planning_an_empty_grid_is_refused(tmp_path):
    from helpers import profiles

    with pytest.raises(setting_types.SettingError, match="no configuration"):
        train.plan_grid([], profiles.paths_for("smoke", tmp_path / "work", tmp_path / "results"))


def test_the_command_line_refuses_a_bad_file_before_preparing_any_data(tmp_path, monkeypatch, capsys):
    prepared = []
    monkeypatch.setattr(train, "run_experiment", lambda *args, **kwargs: prepared.append(args))
    path = tmp_path / "exp.json"
    path.write_text(json.dumps({"profile": "smoke", "work_dir": str(tmp_path), "train": {"epochs": "ten"}}))
    with pytest.raises(SystemExit) as exit_status:
        command_line.main(["--config", str(path)])
    assert exit_status.value.code == 2 and not prepared
    message = capsys.readouterr().err
    assert "exp.json: train.epochs must be a number, got 'ten'" in message
    assert "Traceback" not in message and "No objects to concatenate" not in message
    grid = write_yaml(tmp_path / "grid.yaml", "approach: single_task\nprofile: smoke\ngrid: {model: []}\n")
    with pytest.raises(SystemExit):
        command_line.main(["--config", str(grid)])
    assert "grid.model is an empty list" in capsys.readouterr().err and not prepared
