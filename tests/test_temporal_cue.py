"""experiments/temporal_cue.py: a frame model and a 3D CNN on data whose only genuine/posed cue is temporal."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from helpers import synthetic

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def experiment():
    spec = importlib.util.spec_from_file_location("temporal_cue", REPO / "experiments" / "temporal_cue.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_both_models_are_compared_on_temporal_only_data(experiment, tmp_path):
    table = experiment.run(experiment.Settings("smoke", epochs=1, folds=[0], workers=0), tmp_path)
    assert sorted(table["approach"]) == ["single_task", "temporal"] and (table["folds"] == 1).all()
    for column in ("real/fake, video (challenge accuracy)", "real/fake, paired accuracy, pairs known", "12-class, video"):
        means = table[column].str.split(" ± ").str[0].astype(float)
        assert means.between(0, 100).all()
    assert (tmp_path / "comparison.csv").exists() and "onset cue" in (tmp_path / "comparison.txt").read_text()
    # the generated data has the static cues switched off, and nothing was written elsewhere
    parameters = synthetic.read_parameters(tmp_path / "work" / "smoke" / "FakeTrue_DB")
    cues = parameters["cues"]
    assert cues["eye_effect"] == 0.0 and cues["asymmetry_effect"] == 0.0
    assert cues["onset_effect"] == synthetic.CueConfig().onset_effect > 0
