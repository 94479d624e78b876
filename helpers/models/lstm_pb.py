"""LSTM with parametric bias (LSTM-PB): HCILab's model of ChaLearn LAP 2017 (Huynh & Kim 2017), after Tani's
recurrent network with parametric bias.

One network per emotion learns to predict the next frame of a video's landmarks from the frames so far and a
small vector, the **parametric bias** (PB), constant over the video. Training learns the weights and the PB of
every training sequence (or of every class) jointly, by gradient descent on the next-frame error. For a new
video the weights stay fixed and only its PB is sought, by gradient descent on the same error from zero: the
PB is a code of how the video moves. A gradient-boosted classifier per emotion (``helpers.models.boosting``)
then says from the PB whether the video is genuine.

- ``PBNetwork``: frames ``[B, T, F]`` + PB ``[B, P]`` -> predicted next frames ``[B, T - 1, F]``, each from the
  video's frame (``closed_loop=False``, teacher forcing, as HCILab) or from the network's own previous
  prediction, starting at the first frame (``closed_loop=True``, Tani's generation mode: the PB must then
  carry the whole course of the video);
- ``next_frame_errors``: each sequence's mean squared error over its real frames;
- ``train_network``: weights and PBs jointly; ``infer_pb``: the PB alone, weights fixed; both optionally with
  a Gaussian prior on the PB (``pb_prior`` times its squared norm added to each sequence's error), which keeps
  the PBs of unseen videos in the range of the training videos';
- ``smooth_frames``: a centred moving average over each video's real frames (landmark jitter out);
- ``LSTMPBClassifier``: the six networks, their inputs' statistics and the six boosted classifiers (of each
  ensemble member) as one torch module: padded sequences in (features, real-frame channel, emotion one-hot),
  two log-probabilities out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from helpers.models.boosting import BoostedTrees, LogisticReader

#: HCILab's 40 points of dlib's 68 (0-based): brows, the lower nose, eyes and the outer lips, and four midpoints
#: (the outer brow ends with the jaw's top, the cheeks between jaw and nose) that stand for the cheeks.
HCILAB_POINTS = (*range(17, 27), *range(30, 49), 50, 51, 52, 54, 56, 57, 58)
HCILAB_MIDPOINTS = ((0, 17), (26, 16), (2, 29), (14, 29))
POINT_SETS = ("hcilab40", "all68")
#: what relative landmarks are standardised by: the spread of the motion itself, or of the landmarks' positions
#: (``positions``: no shift, so every video starts at exactly zero; still points' jitter stays small)
RELATIVE_UNITS = ("motion", "positions")
#: what reads a video's PB: HCILab's gradient-boosted trees, or a logistic regression
READERS = ("boosted_trees", "logistic")


def select_points(points: Tensor, point_set: str) -> Tensor:
    """``[..., 68 * 2]`` landmarks (x, y of each point in turn) -> the point set's ``[..., 2 * n_points]``."""
    if point_set == "all68":
        return points
    if point_set != "hcilab40":
        raise ValueError(f"point_set must be one of {', '.join(POINT_SETS)}, got {point_set!r}")
    xy = points.reshape(*points.shape[:-1], 68, 2)
    mids = torch.stack([(xy[..., a, :] + xy[..., b, :]) / 2 for a, b in HCILAB_MIDPOINTS], dim=-2)
    return torch.cat([xy[..., list(HCILAB_POINTS), :], mids], dim=-2).flatten(-2)


def n_points(point_set: str) -> int:
    return 68 if point_set == "all68" else len(HCILAB_POINTS) + len(HCILAB_MIDPOINTS)


class PBNetwork(nn.Module):
    """Each frame (projected) and the PB into an LSTM, whose state says how the next frame differs from this one."""

    def __init__(self, n_features: int, pb_size: int = 8, hidden: int = 64, layers: int = 1,
                 closed_loop: bool = False):
        super().__init__()
        self.pb_size, self.closed_loop = pb_size, closed_loop
        self.project = nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh())
        self.lstm = nn.LSTM(hidden + pb_size, hidden, num_layers=layers, batch_first=True)
        self.readout = nn.Linear(hidden, n_features)

    def predict_next(self, frames: Tensor, pb: Tensor) -> Tensor:
        """``[B, T, F]`` frames, ``[B, P]`` PBs -> ``[B, T - 1, F]``: the predicted frames 1 .. T - 1."""
        steps = frames.shape[1] - 1
        if self.closed_loop:
            return self.generate(frames[:, 0], pb, steps)
        inputs = torch.cat([self.project(frames[:, :-1]), pb[:, None, :].expand(-1, steps, -1)], dim=-1)
        states, _ = self.lstm(inputs)
        return frames[:, :-1] + self.readout(states)

    def generate(self, first: Tensor, pb: Tensor, steps: int) -> Tensor:
        """``[B, F]`` first frames, ``[B, P]`` PBs -> ``[B, steps, F]``: each frame predicted from the last
        prediction (the first from the real first frame); the video's later frames are never read."""
        frame, state, predicted = first, None, []
        for _ in range(steps):
            output, state = self.lstm(torch.cat([self.project(frame), pb], dim=-1)[:, None], state)
            frame = frame + self.readout(output[:, 0])
            predicted.append(frame)
        return torch.stack(predicted, dim=1) if predicted else first.new_zeros(len(first), 0, first.shape[-1])


def next_frame_errors(network: PBNetwork, frames: Tensor, valid: Tensor, pb: Tensor) -> Tensor:
    """``[B]``: each sequence's mean squared error of its predicted next frames over its real frames (``valid``
    ``[B, T]`` bool; the padding after a video's end is never predicted nor predicted from)."""
    errors = ((network.predict_next(frames, pb) - frames[:, 1:]) ** 2).mean(dim=-1)
    steps = (valid[:, 1:] & valid[:, :-1]).float()
    return (errors * steps).sum(dim=1) / steps.sum(dim=1).clamp(min=1)


def smooth_frames(points: Tensor, valid: Tensor, window: int) -> Tensor:
    """``[B, T, F]`` -> the same, each real frame replaced by the mean of the real frames of its video within
    ``window`` frames centred on it (fewer at the video's ends; padding frames are left as they are)."""
    if window <= 1:
        return points
    weights = valid.to(points.dtype)[:, :, None]
    before, after = window // 2, window - 1 - window // 2
    sums = nn.functional.pad((points * weights).transpose(1, 2), (before, after)).unfold(2, window, 1).sum(-1)
    counts = nn.functional.pad(weights.transpose(1, 2), (before, after)).unfold(2, window, 1).sum(-1)
    smoothed = (sums / counts.clamp(min=1)).transpose(1, 2)
    return torch.where(valid[:, :, None], smoothed, points)


@contextmanager
def one_cpu_thread(device: torch.device) -> Iterator[None]:
    """These small recurrent steps gain nothing from threads on a CPU, and when the cores are busy OpenMP's
    waiting threads make them many times slower (as MTCNN's convolutions, ``helpers.frames.detectors``)."""
    if device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_network(network: PBNetwork, frames: Tensor, valid: Tensor, pb_index: Tensor, n_pb: int, epochs: int,
                  lr: float, pb_lr: float | None = None, pb_prior: float = 0.0) -> tuple[Tensor, list[float]]:
    """Learn ``network``'s weights and ``n_pb`` PB vectors (sequence ``i`` uses PB ``pb_index[i]``) jointly, by
    Adam on the mean next-frame error of all sequences at once (plus ``pb_prior`` times the mean squared norm
    of their PBs); returns the PBs and the next-frame error of every epoch."""
    pbs = nn.Parameter(torch.zeros(n_pb, network.pb_size, device=frames.device))
    optimizer = torch.optim.Adam([{"params": network.parameters()}, {"params": [pbs], "lr": pb_lr or lr}], lr=lr)
    losses = []
    network.train()
    with one_cpu_thread(frames.device):
        for _ in range(epochs):
            optimizer.zero_grad()
            error = next_frame_errors(network, frames, valid, pbs[pb_index]).mean()
            (error + pb_prior * (pbs[pb_index] ** 2).sum(dim=1).mean()).backward()
            nn.utils.clip_grad_norm_(network.parameters(), 5.0)
            optimizer.step()
            losses.append(float(error.detach()))
    network.eval()
    return pbs.detach(), losses


def infer_pb(network: PBNetwork, frames: Tensor, valid: Tensor, steps: int = 200, lr: float = 0.05,
             pb_prior: float = 0.0) -> Tensor:
    """``[B, P]``: the PB of each sequence, sought by Adam on its next-frame error (plus ``pb_prior`` times the
    PB's squared norm, as in training) from zero, ``network``'s weights fixed (only the PBs receive gradients;
    each sequence's PB follows its own error alone)."""
    pb = torch.zeros(len(frames), network.pb_size, device=frames.device, requires_grad=True)
    optimizer = torch.optim.Adam([pb], lr=lr)
    # cuDNN's LSTM computes gradients only in training mode: the plain kernels do in evaluation mode too
    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False), one_cpu_thread(frames.device):
        for _ in range(steps):
            optimizer.zero_grad()
            total = (next_frame_errors(network, frames, valid, pb) + pb_prior * (pb ** 2).sum(dim=1)).sum()
            (pb.grad,) = torch.autograd.grad(total, pb)
            optimizer.step()
    return pb.detach()


class LSTMPBClassifier(nn.Module):
    """One ``PBNetwork`` per emotion (or one for all, ``shared``) and one ``BoostedTrees`` per emotion, times
    ``members`` (an ensemble from different random starts). Input ``[B, T, 68 * 2 + 1 + E]`` (the registered
    landmarks, 1 on real frames, the emotion's one-hot code); output ``[B, 2]`` log-probabilities (posed,
    genuine) from the boosted trees on each video's inferred PB, their log-odds averaged over the members."""

    def __init__(self, emotions: int, point_set: str = "hcilab40", pb_size: int = 8, hidden: int = 64,
                 layers: int = 1, n_trees: int = 100, max_depth: int = 3, infer_steps: int = 200,
                 infer_lr: float = 0.05, relative: bool = False, closed_loop: bool = False, smooth: int = 1,
                 pb_prior: float = 0.0, shared: bool = False, relative_units: str = "motion", members: int = 1,
                 reader: str = "boosted_trees"):
        super().__init__()
        if relative_units not in RELATIVE_UNITS:
            raise ValueError(f"relative_units must be one of {', '.join(RELATIVE_UNITS)}, got {relative_units!r}")
        if reader not in READERS:
            raise ValueError(f"reader must be one of {', '.join(READERS)}, got {reader!r}")
        self.point_set, self.emotions, self.relative, self.smooth = point_set, emotions, relative, smooth
        self.relative_units, self.members = relative_units, members
        self.infer_steps, self.infer_lr, self.pb_prior, self.shared = infer_steps, infer_lr, pb_prior, shared
        self.pretrained = False
        features = 2 * n_points(point_set)
        self.register_buffer("mean", torch.zeros(emotions, features))
        self.register_buffer("scale", torch.ones(emotions, features))
        self.networks = nn.ModuleList(PBNetwork(features, pb_size, hidden, layers, closed_loop)
                                      for _ in range(members * (1 if shared else emotions)))
        self.reader = reader
        self.boosted = nn.ModuleList((BoostedTrees(pb_size, n_trees, max_depth) if reader == "boosted_trees"
                                      else LogisticReader(pb_size)) for _ in range(members * emotions))

    def network(self, emotion: int, member: int = 0) -> PBNetwork:
        """The network of ensemble ``member`` that models ``emotion``'s videos."""
        return self.networks[member * (1 if self.shared else self.emotions) + (0 if self.shared else emotion)]

    def booster(self, emotion: int, member: int = 0) -> BoostedTrees | LogisticReader:
        """The boosted trees (or, with ``reader="logistic"``, the logistic regression) of ensemble ``member`` that
        score ``emotion``'s PBs."""
        return self.boosted[member * self.emotions + emotion]

    def inputs(self, x: Tensor, relative: bool | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """The selected points (not yet standardised; with ``relative`` (default: the model's), minus each
        video's first frame: its motion without its face's shape; with ``smooth`` > 1, averaged over that many
        frames) ``[B, T, F]``, real frames ``[B, T]``, emotions ``[B]``."""
        points, valid = select_points(x[..., :68 * 2].float(), self.point_set), x[..., 68 * 2] > 0.5
        points = smooth_frames(points, valid, self.smooth)
        if self.relative if relative is None else relative:
            points = points - points[:, :1]
        return points, valid, x[:, 0, 68 * 2 + 1:68 * 2 + 1 + self.emotions].argmax(dim=1)

    def standardised(self, points: Tensor, emotion: int) -> Tensor:
        return (points - self.mean[emotion]) / self.scale[emotion]

    def pb_vectors(self, x: Tensor, member: int = 0) -> Tensor:
        """``[B, P]``: each video's PB, inferred by its emotion's network of ensemble ``member``."""
        return self.pbs_of_inputs(*self.inputs(x), member)

    def pbs_of_inputs(self, points: Tensor, valid: Tensor, emotions: Tensor, member: int = 0) -> Tensor:
        """``pb_vectors`` from ``inputs(x)``, which the ensemble members share. A ``shared`` network infers every
        emotion's PBs in one batch (each video's PB follows its own error alone, so the batch changes nothing
        but the time)."""
        if self.shared:
            frames = torch.zeros_like(points)
            for emotion in emotions.unique().tolist():
                rows = emotions == emotion
                frames[rows] = self.standardised(points[rows], emotion)
            return self.infer(self.network(0, member), frames, valid)
        pbs = torch.zeros(len(points), self.networks[0].pb_size, device=points.device)
        for emotion in emotions.unique().tolist():
            rows = emotions == emotion
            pbs[rows] = self.infer(self.network(emotion, member), self.standardised(points[rows], emotion), valid[rows])
        return pbs

    def infer(self, network: PBNetwork, frames: Tensor, valid: Tensor) -> Tensor:
        """``infer_pb`` with this model's steps, rate and prior."""
        return infer_pb(network, frames, valid, self.infer_steps, self.infer_lr, self.pb_prior)

    def forward(self, x: Tensor) -> Tensor:
        # in full precision under a mixed-precision run too: the PB descent needs exact small gradients
        with torch.autocast(x.device.type, enabled=False):
            points, valid, emotions = self.inputs(x)
            logits = torch.zeros(len(x), device=x.device)
            for member in range(self.members):
                pbs = self.pbs_of_inputs(points, valid, emotions, member)
                for emotion in emotions.unique().tolist():
                    rows = emotions == emotion
                    logits[rows] += self.booster(emotion, member)(pbs[rows]) / self.members
        return torch.stack([nn.functional.logsigmoid(-logits), nn.functional.logsigmoid(logits)], dim=1)
