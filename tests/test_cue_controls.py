"""The negative control through the real pipeline: on cue-free synthetic data (every cue's effect 0, no
contrasting start) the geometry approaches, run from videos (extraction, landmarks, descriptors) through
the runner, are at chance on the paired protocol; and the experiment scripts that run every approach."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import synthetic
from helpers.analysis import compare, cue_experiments
from helpers.synthetic import CueConfig

REPO = Path(__file__).resolve().parents[1]
GEOMETRY = ("descriptors", "trajectories")
SUBJECTS = 10


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_geometry_approaches_are_at_chance_without_cues(tmp_path):
    """Smoke-sized videos of 10 subjects (3 folds), the smoke grids of the Rank-SVM ensemble and the trajectory
    GRU: each approach's paired 95 % interval over subjects covers 50 %. (With the smoke profile's 6 subjects
    the interval over subjects is too narrow to be trusted: the Rank-SVM measured 61.1 %, 55.6-66.7.)"""
    experiment = cue_experiments.CueExperiment(profile="smoke", subjects=SUBJECTS, approaches=GEOMETRY, workers=1)
    table = cue_experiments.run_setting("none", CueConfig.cue_free(), experiment, tmp_path)
    assert list(table["approach"]) == list(GEOMETRY)
    assert (table["items"] == 6 * SUBJECTS).all() and (table["subjects"] == SUBJECTS).all()
    assert table["covers_chance"].all(), table.to_string()
    folder = cue_experiments.setting_folder(tmp_path, "none", CueConfig.cue_free(), experiment)
    recorded = synthetic.read_parameters(folder / "work" / "smoke" / "FakeTrue_DB")["cues"]
    assert all(recorded[f"{cue}_effect"] == 0.0 for cue in synthetic.CUES) and recorded["contrast_start"] == 0.0


@pytest.mark.slow
def test_the_same_harness_finds_strong_cues(tmp_path):
    """The positive control of the test above: the same pipeline and size with strong cues (effect size 4 for
    every cue), where the Rank-SVM ensemble's interval lies above 50 %, so that a harness which could not
    tell anything apart would fail here."""
    experiment = cue_experiments.CueExperiment(profile="smoke", subjects=SUBJECTS, approaches=GEOMETRY[:1],
                                               workers=1)
    strong = CueConfig(onset_effect=4.0, eye_effect=4.0, asymmetry_effect=4.0)
    table = cue_experiments.run_setting("strong", strong, experiment, tmp_path)
    assert table["ci_low"].iloc[0] > 0.5, table.to_string()


def test_cue_settings_name_every_cue_alone_and_the_control():
    settings = cue_experiments.cue_settings()
    assert list(settings) == ["all", *synthetic.CUES, "none"]
    assert settings["none"] == CueConfig.cue_free()
    for cue in synthetic.CUES:
        assert [name for name, effect in settings[cue].effects.items() if effect > 0] == [cue]


def test_the_book_table_and_figure_read_the_results():
    table = pd.DataFrame({"cues": ["none", "none", "eye", "eye"], "approach": ["descriptors", "temporal"] * 2,
                          "estimate": [0.5, 0.47, 0.8, 0.6], "ci_low": [0.4, 0.3, 0.7, 0.5],
                          "ci_high": [0.6, 0.6, 0.9, 0.7]})
    text = cue_experiments.markdown_table(table)
    assert text.splitlines()[0] == "| approach | eye | none |"
    assert "| descriptors | 80.0 (70.0-90.0) | 50.0 (40.0-60.0) |" in text
    figure = cue_experiments.cue_figure(table)
    assert len(figure.axes[0].containers) == 2  # one error-bar series per setting


def test_unknown_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown cue setting"):
        cue_experiments.run_settings(["voice"], cue_experiments.CueExperiment(), tmp_path)


def test_the_scripts_run_every_approach_and_cut_only_when_asked(capsys):
    ablation, control = _script("cue_ablation"), _script("negative_control")
    defaults = ablation.parser().parse_args([])
    assert defaults.settings == list(cue_experiments.cue_settings()) and not defaults.quick
    assert defaults.approaches == list(cue_experiments.CueExperiment().approaches)
    assert ablation.parser(settings=["none"]).parse_args([]).settings == ["none"]
    with pytest.raises(SystemExit):
        control.main(["--help"])
    assert "--quick" in capsys.readouterr().out


def test_each_dataset_gets_its_own_folder(tmp_path):
    experiment = cue_experiments.CueExperiment(profile="smoke")
    folder = cue_experiments.setting_folder(tmp_path, "all", CueConfig(), experiment)
    assert folder.parent == tmp_path and folder.name.startswith("all-")
    assert folder == cue_experiments.setting_folder(tmp_path, "all", CueConfig(), experiment)
    others = {cue_experiments.setting_folder(tmp_path, "all", CueConfig(), cue_experiments.CueExperiment(
                  profile="smoke", subjects=9)),
              cue_experiments.setting_folder(tmp_path, "all", CueConfig(eye_effect=2.0), experiment)}
    assert folder not in others and len(others) == 2  # another size or other cues: other data, another folder


def test_only_this_experiments_configurations_are_chosen_among(tmp_path, write_fake_run):
    for fold, subjects in enumerate((["s1", "s2"], ["s3", "s4"])):
        write_fake_run(tmp_path, "descriptors", "this-run", fold, subjects, seed=fold)
        write_fake_run(tmp_path, "descriptors", "left-by-quick", fold, subjects, seed=10 + fold)
    everything = cue_experiments.selected_intervals(tmp_path, ["descriptors"])
    ours = cue_experiments.selected_intervals(tmp_path, ["descriptors"], {"descriptors": {"this-run"}})
    runs = [run for run in compare.load_all(tmp_path, ["descriptors"]) if run.run_id == "this-run"]
    expected = compare.interval_table(compare.video_scores(runs), "paired").iloc[0]["estimate"]
    assert ours.loc[0, "estimate"] == expected
    assert len(everything) == 1


def test_the_first_frame_experiment_pairs_videos_and_finds_a_class_difference_only_where_one_is():
    first_frame = _script("first_frame_baseline")
    codes = ["N2H", "S2N2H", "N2S", "H2N2S"]
    videos = pd.DataFrame({"subject": [f"s{i}" for i in range(8) for _ in codes], "code": codes * 8})
    genuine = videos["code"].str.startswith("N2").to_numpy()
    noise = np.random.default_rng(0).normal(size=(len(videos), 5))
    differences = first_frame.pair_differences(videos, noise + 3.0 * genuine[:, None] * (np.arange(5) == 2))
    assert differences.shape == (16, 5)  # 8 subjects x 2 emotions, each genuine minus its posed partner
    t = first_frame.paired_t(differences)
    assert abs(t[2]) > 5 and (np.abs(np.delete(t, 2)) < 5).all()
    unpaired = first_frame.pair_differences(videos.iloc[1:], noise[1:])  # s0's happy pair lost its genuine video
    assert unpaired.shape == (15, 5)


def test_the_frame_model_variants_change_their_approaches_demo_grids():
    script = _script("frame_models_demo")
    for name, (applies_to, settings) in script.VARIANTS.items():
        for approach in applies_to:
            configs = script.variant_configurations(approach, name, {"folds": [0]})
            assert configs and all(config.folds == [0] for config in configs)
            for config in configs:
                assert all(getattr(config, key) == value for key, value in settings.items() if key != "train")
                assert config.train.epochs == settings.get("train", {}).get("epochs", config.train.epochs)
    with pytest.raises(ValueError, match="not to 'temporal'"):
        script.variant_configurations("temporal", "all_frames", {})


def test_the_lstm_pb_variants_are_valid_configurations_and_take_the_seed():
    script = _script("lstm_pb_demo")
    for name in script.VARIANTS:
        configs = script.variant_configs([name], {"folds": [0]}, seed=1)
        assert configs and all(config.approach == "lstm_pb" and config.train.seed == 1 for config in configs)
    default = script.variant_configs(["grid"], {})
    assert {config.train.seed for config in default} == {0}, "without --seed, the grid's seed"
