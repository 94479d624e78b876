"""HCILab's approach of ChaLearn LAP 2017 (Huynh & Kim 2017, tied first): an LSTM with parametric bias per
emotion over the registered landmarks, gradient boosting on the inferred parametric biases (notebook 05).

For each emotion, ``helpers.models.lstm_pb`` trains one network to predict the next frame of the landmarks of
the fold's training videos, learning the weights and the parametric biases (PB) jointly: one PB per class
(genuine, posed: HCILab's code and paper, ``pb_per: class``) or one per training video (Tani's original
scheme, ``pb_per: video``). Then the weights stay fixed and every video's PB is inferred by gradient descent on
the PB alone; scikit-learn's gradient boosting, one classifier per emotion, learns genuine vs posed from the
training videos' inferred PBs and scores every other video from its own. The emotion is given, as the
challenge gave it. The one runner tests, scores (per video, and in pairs where both videos of a subject and
emotion are there) and saves it like every other approach (the ``fit`` hook: no training loop epochs).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from helpers import labels, profiles
from helpers.approaches.geometry_base import GeometryExperimentConfig
from helpers.models import losses
from helpers.models.boosting import fit_boosted_trees, fit_logistic_reader
from helpers.models.lstm_pb import POINT_SETS, READERS, RELATIVE_UNITS, LSTMPBClassifier, train_network
from helpers.train.config import FoldSetup
from helpers.train.folds import FoldData
from helpers.train.geometry_inputs import TrajectoryDataset
from helpers.train.loaders import fold_loaders
from helpers.train.loop import FitResult, TrainConfig
from helpers.train.tasks import ClassificationTask
from helpers.train.transforms import IdentityTransform

PB_PER = ("class", "video")
BOOST_ON = ("training", "held_out")
FEEDBACK = ("teacher", "closed")
NETWORKS = ("per_emotion", "shared")


@dataclass
class LSTMPBConfig(GeometryExperimentConfig):
    """One cross-validated LSTM-PB experiment: the networks, what a PB stands for, its inference, the boosting.
    ``train.epochs`` and ``train.lr`` are the networks' full-batch Adam steps and rate."""

    APPROACH = "lstm_pb"
    DISPLAY_NAME = "LSTM with parametric bias + boosting (05)"
    NOTEBOOK = "05_temporal"
    PREDICTION_UNIT = "video"
    ADDED_SETTINGS = {**GeometryExperimentConfig.ADDED_SETTINGS, "relative_units": "motion", "members": 1,
                      "reader": "boosted_trees"}
    model: str = "lstm_pb"
    batch_size: int = 64  # videos per prediction batch (their PBs are inferred together)
    point_set: str = "hcilab40"  # hcilab40 (HCILab's 40 points) | all68
    pb_per: str = "class"  # class (one PB for genuine, one for posed, as HCILab) | video (one per training video)
    pb_size: int = 8
    pb_lr: float | None = None  # Adam's rate for the training PBs; None: train.lr
    # which videos' inferred PBs the boosting learns from: the network's own training videos (HCILab) or the
    # videos of half of the training subjects, the network trained on the other half (PBs like a test video's)
    boost_on: str = "training"
    relative: bool = False  # each video's landmarks minus its first kept frame's (HCILab: absolute positions)
    # relative landmarks standardised by the spread of the motion (motion) or of the positions over every face
    # of the emotion, unshifted (positions: each video starts at zero, a closed loop then decodes the PB alone)
    relative_units: str = "motion"
    # what each step reads: the video's frame (teacher, HCILab) or the network's own last prediction from the
    # first frame on (closed, Tani's generation mode: the PB has to carry the video's whole course)
    feedback: str = "teacher"
    smooth_frames: int = 1  # a centred moving average over this many frames before the network (1: none)
    pb_prior: float = 0.0  # Gaussian prior on the PB: this times its squared norm added to each video's error
    # one network per emotion (HCILab) or one over every emotion's videos, not given the emotion (6x the videos)
    networks: str = "per_emotion"
    hidden: int = 64
    layers: int = 1
    # networks (with their PBs and trees) trained from this many random starts, each video's log-odds averaged
    # over them (1: HCILab's one; HCILab averaged instead over 20 shifted face boxes of each video)
    members: int = 1
    infer_steps: int = 200  # Adam steps on a video's PB, from zero, the weights fixed
    infer_lr: float = 0.05
    n_trees: int = 100  # gradient boosting: trees, their depth and shrinkage (scikit-learn's defaults)
    max_depth: int = 3
    boost_lr: float = 0.1
    # what reads the PBs: HCILab's gradient-boosted trees, or a logistic regression (not HCILab's: on the demo
    # profile's 20 PBs per emotion the trees swung with the networks' random start)
    reader: str = "boosted_trees"

    def __post_init__(self):
        super().__post_init__()
        if self.model != "lstm_pb":
            raise ValueError(f"the lstm_pb approach trains model 'lstm_pb', got {self.model!r}")
        if self.point_set not in POINT_SETS:
            raise ValueError(f"point_set must be one of {', '.join(POINT_SETS)}, got {self.point_set!r}")
        if self.boost_on not in BOOST_ON:
            raise ValueError(f"boost_on must be one of {', '.join(BOOST_ON)}, got {self.boost_on!r}")
        if self.relative_units != "motion" and not self.relative:
            raise ValueError(f"relative_units: {self.relative_units} needs relative: true")
        for name, allowed in (("pb_per", PB_PER), ("feedback", FEEDBACK), ("networks", NETWORKS),
                              ("relative_units", RELATIVE_UNITS), ("reader", READERS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        sizes = ("pb_size", "hidden", "layers", "infer_steps", "n_trees", "max_depth", "smooth_frames", "members")
        small = {name: getattr(self, name) for name in sizes if getattr(self, name) < 1}
        if small or self.infer_lr <= 0 or self.boost_lr <= 0 or self.pb_prior < 0:
            raise ValueError(f"sizes, steps and rates must be positive and pb_prior >= 0, got "
                             f"{small or (self.infer_lr, self.boost_lr, self.pb_prior)}")

    @property
    def run_name(self) -> str:
        points = "" if self.point_set == "hcilab40" else f"-{self.point_set}"
        boost = "" if self.boost_on == "training" else f"-boost_{self.boost_on}"
        relative = ("-relative" + ("" if self.relative_units == "motion" else f"_{self.relative_units}")
                    if self.relative else "")
        closed = "-closed" if self.feedback == "closed" else ""
        smooth = f"-smooth{self.smooth_frames}" if self.smooth_frames > 1 else ""
        prior = f"-prior{self.pb_prior:g}" if self.pb_prior else ""
        shared = "-shared" if self.networks == "shared" else ""
        shared += f"-x{self.members}" if self.members > 1 else ""
        shared += "-logistic" if self.reader == "logistic" else ""
        return self.name or (f"lstm_pb-{self.pb_per}-pb{self.pb_size}-h{self.hidden}{points}{boost}{relative}"
                             f"{closed}{smooth}{prior}{shared}")

    def build_model(self, untrained: bool = False) -> nn.Module:
        return LSTMPBClassifier(len(labels.EMOTIONS), self.point_set, self.pb_size, self.hidden, self.layers,
                                self.n_trees, self.max_depth, self.infer_steps, self.infer_lr, self.relative,
                                self.feedback == "closed", self.smooth_frames, self.pb_prior,
                                self.networks == "shared", self.relative_units, self.members, self.reader)

    def prepare(self, model: nn.Module, fold: FoldData, paths: profiles.RunPaths) -> FoldSetup:
        sets = {part: TrajectoryDataset(getattr(fold, part), "landmarks", emotion_given=True)
                for part in ("train", "val", "test")}
        task = ClassificationTask(losses.build_loss(self.loss, **self.loss_params), "authenticity",
                                  input_key="sequence")
        return FoldSetup(task, fold_loaders(self, sets["train"], sets["val"], sets["test"]), IdentityTransform())

    def fit(self, model: nn.Module, task: Any, train_loader: Any, val_loader: Any, train: TrainConfig,
            checkpoints: Path, accelerator: Any) -> FitResult:
        """The network(s) (weights and PBs), the PBs of the boosting's videos inferred, per emotion the trees."""
        videos: TrajectoryDataset = train_loader.dataset
        torch.manual_seed(train.seed)
        model.to(accelerator.device)
        sequences = videos.sequences.to(accelerator.device)
        points, valid, emotions = model.inputs(sequences)
        positions = model.inputs(sequences, relative=False)[0] if model.relative_units == "positions" else None
        genuine = videos.targets[:, 2] == labels.AUTHENTICITY.index("genuine")
        subjects = videos.videos["subject"].astype(str).to_numpy()
        frames = torch.zeros_like(points)
        counts = {}
        for emotion, name in enumerate(labels.EMOTIONS):
            chosen = emotions == emotion
            counts[name] = int(chosen.sum())
            if chosen.any():
                frames[chosen] = standardise(model, emotion, points[chosen], valid[chosen],
                                             None if positions is None else positions[chosen])
        started = time.perf_counter()
        curves = {}
        for member in range(self.members):
            suffix = f"#{member + 1}" if member else ""
            for name, curve in self.fit_member(model, member, frames, valid, emotions, genuine, subjects,
                                               train).items():
                curves[name + suffix] = curve
        if train.verbose:
            for name, curve in curves.items():
                print(f"lstm_pb {name}: next-frame loss {curve[0]:.3f} -> {curve[-1]:.3f}")
            print(f"lstm_pb: networks, PBs and boosting in {time.perf_counter() - started:.1f} s")
        history = pd.DataFrame({"epoch": np.arange(1, train.epochs + 1),
                                "train_loss": np.mean(list(curves.values()), axis=0) if curves else np.nan,
                                **{f"train_loss_{name}": curve for name, curve in curves.items() if name != "all"}})
        self.fit_counts = counts
        return FitResult(model, history, None, False, 0, monitor="none")

    def fit_member(self, model: LSTMPBClassifier, member: int, frames: torch.Tensor, valid: torch.Tensor,
                   emotions: torch.Tensor, genuine: np.ndarray, subjects: np.ndarray,
                   train: TrainConfig) -> dict[str, list[float]]:
        """One member's network(s) and PBs trained, its boosting's PBs inferred, its trees per emotion fitted;
        returns the next-frame loss per epoch of each network."""
        if self.networks == "shared":
            learn, boost = boosting_split(subjects, self.boost_on, train.seed)
            pb_class = genuine + 2 * emotions.cpu().numpy()  # one PB per class of the 12 (with pb_per: class)
            curves = {"all": self.train_pbs(model.network(0, member), frames, valid, learn, pb_class, 12, train)}
            shared_pbs = torch.zeros(len(frames), self.pb_size, device=frames.device)
            shared_pbs[boost] = model.infer(model.network(0, member), frames[boost], valid[boost])  # one batch
        else:
            curves = {}
        for emotion, name in enumerate(labels.EMOTIONS):
            chosen = (emotions == emotion).cpu().numpy()
            if not chosen.any():
                model.booster(emotion, member).load_constant(0.0)  # no training video of this emotion: p = 0.5
                continue
            if self.networks == "shared":
                boost_rows = chosen & boost
            else:
                learn_rows, boost_mask = boosting_split(subjects[chosen], self.boost_on, train.seed)
                curves[name] = self.train_pbs(model.network(emotion, member), frames[chosen], valid[chosen],
                                              learn_rows, genuine[chosen], 2, train)
                boost_rows = np.flatnonzero(chosen)[boost_mask]
            pbs = (shared_pbs[boost_rows] if self.networks == "shared" else
                   model.infer(model.network(emotion, member), frames[boost_rows], valid[boost_rows]))
            fitted = (fit_logistic_reader(pbs.cpu().numpy(), genuine[boost_rows]) if self.reader == "logistic" else
                      fit_boosted_trees(pbs.cpu().numpy(), genuine[boost_rows], self.n_trees, self.max_depth,
                                        self.boost_lr, train.seed))
            model.booster(emotion, member).load_state_dict(fitted.state_dict())
        return curves

    def train_pbs(self, network: nn.Module, frames: torch.Tensor, valid: torch.Tensor, learn: np.ndarray,
                  pb_class: np.ndarray, n_classes: int, train: TrainConfig) -> list[float]:
        """Train ``network`` and the PBs on the ``learn`` videos: one PB per class (``pb_class``, of
        ``n_classes``) or one per video; returns the next-frame loss per epoch."""
        if self.pb_per == "class":
            pb_index, n_pb = torch.as_tensor(pb_class[learn], dtype=torch.long, device=frames.device), n_classes
        else:
            pb_index, n_pb = torch.arange(int(learn.sum()), device=frames.device), int(learn.sum())
        _, curve = train_network(network, frames[learn], valid[learn], pb_index, n_pb, train.epochs, train.lr,
                                 self.pb_lr, self.pb_prior)
        return curve

    def fold_metrics(self, outcome, model: nn.Module) -> dict[str, Any]:
        history = outcome.fitted.history
        return {**super().fold_metrics(outcome, model), "pb_per": self.pb_per, "pb_size": self.pb_size,
                "hidden": self.hidden, "first_train_loss": float(history["train_loss"].iloc[0]),
                "last_train_loss": float(history["train_loss"].iloc[-1]),
                "train_videos_per_emotion": getattr(self, "fit_counts", {})}

    def describe(self) -> dict[str, Any]:
        reader = "gradient boosting" if self.reader == "boosted_trees" else "logistic regression"
        return {"run": self.run_name, "model": f"LSTM with parametric bias + {reader}",
                "PB per": self.pb_per, "PB size": self.pb_size, "hidden": self.hidden, "points": self.point_set,
                "relative": (self.relative_units if self.relative else False),
                "feedback": self.feedback, "smoothing (frames)": self.smooth_frames, "PB prior": self.pb_prior,
                "networks": self.networks, "members": self.members, "reader": self.reader, "epochs": self.train.epochs,
                "folds": len(self.folds) if self.folds is not None else "all"}


def standardise(model: LSTMPBClassifier, emotion: int, points: torch.Tensor, valid: torch.Tensor,
                positions: torch.Tensor | None = None) -> torch.Tensor:
    """Store the mean and scale of ``emotion``'s real frames in ``model`` and return its frames standardised;
    given the absolute ``positions`` of relative ``points``, their spread is the scale and nothing is shifted."""
    real = points[valid]
    spread = real if positions is None else positions[valid]
    model.mean[emotion] = real.mean(dim=0) if positions is None else torch.zeros_like(real[0])
    scale = spread.std(dim=0) if len(real) > 1 else torch.ones_like(real[0])
    model.scale[emotion] = torch.where(scale < 1e-6, torch.ones_like(scale), scale)
    return model.standardised(points, emotion)


def boosting_split(subjects: np.ndarray, boost_on: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Which videos train the network and which videos' PBs the boosting learns from (bool masks): all and all
    (``training``), or the videos of a random half of the subjects and those of the other half (``held_out``;
    all and all when there are fewer than two subjects)."""
    everyone = np.ones(len(subjects), dtype=bool)
    names = np.unique(subjects)
    if boost_on == "training" or len(names) < 2:
        return everyone, everyone
    first = np.random.default_rng(seed).permutation(names)[:len(names) // 2]
    learn = np.isin(subjects, first)
    return learn, ~learn
