"""The recurrent model of facial geometry over time: each video read up to its own length, standardised by
its training statistics, the emotion code beside the last state; it learns a dynamic cue through the loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import results
from helpers.models.trajectories import LandmarkRNN
from helpers.train import loop, tasks
from helpers.models import losses


def sequences(lengths, features=3, emotions=0, seed=0):
    rng = np.random.default_rng(seed)
    longest = max(lengths)
    x = np.zeros((len(lengths), longest, features + 1 + emotions), dtype=np.float32)
    for row, length in enumerate(lengths):
        x[row, :length, :features] = rng.normal(size=(length, features))
        x[row, :length, features] = 1.0
        if emotions:
            x[row, :, features + 1 + row % emotions] = 1.0
    return torch.from_numpy(x)


def test_padding_never_changes_a_video_s_output():
    torch.manual_seed(0)
    model = LandmarkRNN(3, 2, hidden=8, cell="lstm").eval()
    x = sequences([5, 3, 7])
    longer = torch.cat([x, torch.zeros(3, 4, x.shape[-1])], dim=1)  # more padding
    garbage = longer.clone()
    garbage[:, 7:, :3] = 100.0  # padded frames hold values, their mask says 0
    with torch.no_grad():
        assert torch.allclose(model(x), model(longer), atol=1e-6)
        assert torch.allclose(model(x), model(garbage), atol=1e-6)
        alone = model(x[1:2, :3])  # the 3-frame video on its own
    assert torch.allclose(model(x)[1:2], alone, atol=1e-6)


def test_the_emotion_code_reaches_the_head_and_statistics_are_kept(tmp_path):
    torch.manual_seed(0)
    model = LandmarkRNN(3, 2, hidden=8, emotions=6).eval()
    model.set_statistics(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 0.0, 1.0]))
    assert model.scale.tolist() == [2.0, 1.0, 1.0]  # a constant feature is not divided by 0
    x = sequences([4, 4], emotions=6)
    other = x.clone()
    other[:, :, 4:] = 0
    other[:, :, 4 + 5] = 1.0
    with torch.no_grad():
        assert not torch.allclose(model(x), model(other))
    path = results.save_weights(tmp_path / "w.pt", model)
    reloaded = LandmarkRNN(3, 2, hidden=8, emotions=6)
    reloaded.load_state_dict(torch.load(path, weights_only=True))
    assert torch.allclose(reloaded.mean, model.mean) and torch.allclose(reloaded.scale, model.scale)


@pytest.mark.slow
def test_it_learns_onset_speed_that_no_single_frame_shows(tmp_path):
    # genuine: the feature rises linearly from 0 to 1; posed: it jumps to 1 at a random frame and falls back
    # linearly; both visit the same values, in another order (the synthetic data's temporal cue)
    rng = np.random.default_rng(0)
    rows, targets = [], []
    for k in range(64):
        length = int(rng.integers(8, 13))
        ramp = np.linspace(0, 1, length)
        series = ramp if k % 2 == 0 else ramp[::-1]
        x = np.zeros((12, 2), dtype=np.float32)
        x[:length, 0] = series + rng.normal(0, 0.05, length)
        x[:length, 1] = 1.0
        rows.append(x)
        targets.append(1 if k % 2 == 0 else 0)
    data = [{"sequence": torch.from_numpy(x), "authenticity": t, "video": i, "frame": 0}
            for i, (x, t) in enumerate(zip(rows, targets))]
    loader = torch.utils.data.DataLoader(data[:48], batch_size=16, shuffle=True)
    held_out = torch.utils.data.DataLoader(data[48:], batch_size=16)
    torch.manual_seed(0)
    model = LandmarkRNN(1, 2, hidden=16)
    task = tasks.ClassificationTask(losses.build_loss("cross_entropy"), "authenticity", input_key="sequence")
    config = loop.TrainConfig(epochs=40, lr=1e-2, scheduler="none", progress=False, verbose=False,
                              early_stopping_patience=None)
    fitted = loop.fit(model, task, loader, held_out, config, tmp_path / "checkpoints")
    outputs = loop.predict(fitted.model, task, held_out)
    assert (outputs["probs"].argmax(axis=1) == outputs["target"]).mean() > 0.9
