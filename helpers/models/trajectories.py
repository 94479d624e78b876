"""A supervised recurrent model of facial geometry over time (the 68 landmarks, or their action-unit proxies,
of every frame into a GRU or LSTM that says genuine or posed), trained by the project's training loop.

Input: a batch of padded sequences ``[B, T, F + 1 (+ E)]``: ``F`` per-frame features (registered landmarks, or
the action-unit proxies, see ``helpers.geometry``), then 1 on a video's real frames and 0 on the padding
after them (then, with ``emotions``, the emotion's one-hot code on every frame), so that the recurrent layer reads each video up to its own length (``pack_padded_sequence``)
and videos of different lengths keep their own time base (the onset speed is a cue). The features are
standardised inside the model by statistics of the fold's training videos (buffers: set before training,
saved with the weights). With ``emotions`` the (given) emotion's one-hot code joins the last hidden state
before the head, as the challenge gave the emotion of each test video.

One network serves every emotion. HCILab's LSTM with parametric bias, one per emotion, is another
model (``helpers.models.lstm_pb``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from helpers.models.heads import Heads

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


class LandmarkRNN(nn.Module):
    """Per-frame features -> linear projection -> GRU/LSTM -> last hidden state (+ emotion code) -> heads."""

    def __init__(self, n_features: int, heads: int | dict[str, int], hidden: int = 64, layers: int = 1,
                 cell: str = "gru", dropout: float = 0.0, emotions: int = 0, bidirectional: bool = False):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
        self.n_features = n_features
        self.emotions = emotions
        self.pretrained = False
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.project = nn.Sequential(nn.Linear(n_features, hidden), nn.GELU(), nn.Dropout(dropout))
        self.rnn = CELLS[cell](hidden, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional,
                               dropout=dropout if layers > 1 else 0.0)
        directions = 2 if bidirectional else 1
        self.heads = Heads(hidden * directions + emotions, heads, dropout)

    def set_statistics(self, mean: Tensor, scale: Tensor) -> None:
        """The training videos' per-feature mean and standard deviation (zero deviations count as 1)."""
        self.mean.copy_(mean.float())
        self.scale.copy_(torch.where(scale.float() < 1e-6, torch.ones_like(scale.float()), scale.float()))

    def forward(self, x: Tensor) -> Tensor | dict[str, Tensor]:
        features, valid = x[..., :self.n_features].float(), x[..., self.n_features] > 0.5
        z = self.project((features - self.mean) / self.scale) * valid.unsqueeze(-1)
        lengths = valid.sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(z, lengths, batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)
        hidden = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c)
        last = torch.cat([hidden[-1], hidden[-2]], dim=1) if self.rnn.bidirectional else hidden[-1]
        if self.emotions:  # the one-hot code rides after the mask channel (the same on every frame)
            last = torch.cat([last, x[:, 0, self.n_features + 1:self.n_features + 1 + self.emotions].float()], dim=1)
        return self.heads(last)
