"""Temporal (video) models of notebook 05: clips of face crops instead of single frames.

Authenticity cues live in the *dynamics* of an expression (how fast and how smoothly it starts, whether
both halves of the face move together), which a single frame cannot show. This module has:

- ``install_pytorchvideo_shim()``: pytorchvideo 0.1.5 (its last release) imports
  ``torchvision.transforms.functional_tensor``, removed in torchvision 0.17; the shim aliases the module to
  its new private name. It is installed by the builders that need pytorchvideo, never at import time.
- one registry of clip models, ``build_temporal_model(name, heads, weights, ...)``:

  * CNN-RNN: a per-frame 2D CNN (``helpers.models`` backbones: VGG16, ResNet50, ResNet18, the tiny
    SimpleCNN; SE-ResNet50 from timm) whose features an LSTM (or GRU) reads in order;
  * a 3D CNN from scratch (adaptive pooling: no flatten size tied to an input size);
  * torchvision's ResNet3D ``r3d_18`` and ``r2plus1d_18`` (Kinetics-400 weights);
  * pytorchvideo's X3D-S and Slow-R50 (Kinetics-400 weights; Slow-R50 was the thesis' best temporal model).

  Every model maps clips ``[B, T, 3, H, W]`` to logits ``[B, C]`` (``heads`` an int) or to
  ``{head: logits}`` (``heads`` a dict, e.g. ``TWO_TASK_HEADS``: emotion + authenticity). Pooling heads are
  adaptive, so any clip length and input size of at least 32 px works.
- frozen-backbone feature caching for CNN-RNNs: ``cache_frame_features`` runs the frozen CNN once per video
  and stores ``[frames, D]`` float16 arrays in the work directory; ``FeatureClipDataset`` then serves
  clips of features, so the recurrent part trains in seconds.
- two-task heads (emotion + authenticity) are trained with ``helpers.multitask.MultiTaskTask`` (variant
  ``shared``: the clip model returns ``{head: logits}``), with any of its head losses and loss weightings
  (sum, fixed, precision, uncertainty). Its outputs are the 12-class probabilities p(emotion) x
  p(authenticity), so the predictions files have the same columns as the 12-class runs of 03 and 04.
- ``TemporalConfig`` / ``run_temporal_experiment``: every fold, artifacts under
  ``results/<profile>/temporal/<run>/fold_<k>/`` (``predictions.csv``: one row per clip, ``frame`` = the
  clip's first crop; ``evaluate.video_level`` averages the clips of a video);
- ``sliding_scores``: p(genuine) of clips sliding over one video, for plots.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers import datasets, evaluate, labels, losses, models, profiles, results
from helpers.models import WeightsUnavailableError, _FrozenBackboneMixin

TWO_TASK_HEADS = {"emotion": len(labels.EMOTIONS), "authenticity": len(labels.AUTHENTICITY)}
KINETICS_NORMALIZATION = {"mean": [0.43216, 0.394666, 0.37645], "std": [0.22803, 0.22145, 0.216989]}
PYTORCHVIDEO_NORMALIZATION = {"mean": [0.45, 0.45, 0.45], "std": [0.225, 0.225, 0.225]}


# --------------------------------------------------------------------------------------------------
# pytorchvideo with a current torchvision
# --------------------------------------------------------------------------------------------------


def install_pytorchvideo_shim() -> None:
    """Make ``import pytorchvideo.transforms`` work with torchvision >= 0.17 (idempotent).

    pytorchvideo 0.1.5 imports ``torchvision.transforms.functional_tensor``, renamed
    ``torchvision.transforms._functional_tensor`` in torchvision 0.17; this registers the old name.
    """
    name = "torchvision.transforms.functional_tensor"
    if name in sys.modules:
        return
    try:
        import torchvision.transforms.functional_tensor  # noqa: F401  (old torchvision: nothing to do)
    except ImportError:
        from torchvision.transforms import _functional_tensor

        sys.modules[name] = _functional_tensor


def _import_pytorchvideo_hub():
    install_pytorchvideo_shim()
    try:
        from pytorchvideo.models import hub
    except ImportError as error:
        raise ImportError("X3D and Slow-R50 need pytorchvideo: pip install pytorchvideo==0.1.5") from error
    return hub


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------


class FrameEncoder(nn.Module):
    """A 2D CNN applied to every frame: clips ``[B, T, 3, H, W]`` -> ``[B, T, D]``."""

    def __init__(self, network: nn.Module, feature_dim: int, pretrained: bool, name: str):
        super().__init__()
        self.network = network
        self.feature_dim = feature_dim
        self.pretrained = pretrained
        self.name = name

    def forward(self, clips: Tensor) -> Tensor:
        batch, length = clips.shape[:2]
        return self.network(clips.flatten(0, 1)).unflatten(0, (batch, length))


class VideoEncoder(nn.Module):
    """A 3D CNN: clips ``[B, T, 3, H, W]`` -> features ``[B, D]`` (the network sees ``[B, 3, T, H, W]``)."""

    def __init__(self, network: nn.Module, feature_dim: int, pretrained: bool, name: str):
        super().__init__()
        self.network = network
        self.feature_dim = feature_dim
        self.pretrained = pretrained
        self.name = name

    def forward(self, clips: Tensor) -> Tensor:
        return self.network(clips.transpose(1, 2))


class _Heads(nn.Module):
    def __init__(self, feature_dim: int, heads: int | Mapping[str, int], dropout: float):
        super().__init__()
        self.single = isinstance(heads, int)
        spec = {"logits": heads} if self.single else dict(heads)
        self.heads = nn.ModuleDict({k: nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, n))
                                    for k, n in spec.items()})

    def forward(self, features: Tensor) -> Tensor | dict[str, Tensor]:
        out = {k: head(features) for k, head in self.heads.items()}
        return out["logits"] if self.single else out


class RecurrentClassifier(_FrozenBackboneMixin, nn.Module):
    """CNN-RNN: per-frame CNN features read by an LSTM/GRU; the last hidden state feeds the head(s).

    ``forward`` takes clips ``[B, T, 3, H, W]`` or, for cached features of a frozen CNN, ``[B, T, D]``.
    """

    def __init__(self, backbone: FrameEncoder, heads: int | Mapping[str, int], hidden: int = 256,
                 rnn: str = "lstm", layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.backbone = backbone
        cell = {"lstm": nn.LSTM, "gru": nn.GRU}[rnn]
        self.rnn = cell(backbone.feature_dim, hidden, num_layers=layers, batch_first=True)
        self.head = _Heads(hidden, heads, dropout)

    def forward(self, x: Tensor) -> Tensor | dict[str, Tensor]:
        features = x if x.ndim == 3 else self.backbone(x)
        output, _ = self.rnn(features)
        return self.head(output[:, -1])


class ClipClassifier(_FrozenBackboneMixin, nn.Module):
    """A 3D CNN backbone and its head(s)."""

    def __init__(self, backbone: VideoEncoder, heads: int | Mapping[str, int], dropout: float = 0.0):
        super().__init__()
        self.backbone = backbone
        self.head = _Heads(backbone.feature_dim, heads, dropout)

    def forward(self, clips: Tensor) -> Tensor | dict[str, Tensor]:
        return self.head(self.backbone(clips))


class Simple3DCNN(nn.Module):
    """Four Conv3d-BN-ReLU blocks (space pooled every block, time every other) and global average pooling."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 128)):
        super().__init__()
        blocks, previous = [], 3
        for i, width in enumerate(channels):
            blocks += [nn.Conv3d(previous, width, 3, padding=1, bias=False), nn.BatchNorm3d(width),
                       nn.ReLU(inplace=True), nn.MaxPool3d((2 if i % 2 else 1, 2, 2), ceil_mode=True)]
            previous = width
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool3d(1), nn.Flatten())
        self.feature_dim = previous

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)


def _seresnet50(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
    import timm

    try:
        network = timm.create_model("seresnet50", pretrained=pretrained, num_classes=0, 
                                    **models.hub_cache_options(timm.create_model))
    except (OSError, RuntimeError, ValueError) as error:  # no internet / hub unreachable
        raise models._download_failed("seresnet50", "timm / Hugging Face Hub", error) from error
    return network, network.num_features


def _torchvision_video(variant: str) -> Callable[[bool, int], tuple[nn.Module, int]]:
    def build(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
        from torchvision import models as tv_models
        from torchvision.models import video

        network = getattr(video, variant)(weights=None)
        if pretrained:
            weights = tv_models.get_model_weights(variant).DEFAULT  # Kinetics-400
            network.load_state_dict(models._torchvision_state_dict(variant, weights))
        feature_dim = network.fc.in_features
        network.fc = nn.Identity()  # its avgpool is already adaptive
        return network, feature_dim

    return build


def _pytorchvideo(variant: str) -> Callable[[bool, int], tuple[nn.Module, int]]:
    def build(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
        hub = _import_pytorchvideo_hub()
        try:
            network = getattr(hub, variant)(pretrained=pretrained)
        except (OSError, RuntimeError, ValueError) as error:
            raise models._download_failed(variant, "dl.fbaipublicfiles.com (pytorchvideo)", error) from error
        head = network.blocks[-1]
        # the hub heads pool with a kernel sized for their training clips (X3D-S: 13x160 px, Slow: 8x224 px):
        # adaptive pooling makes any clip length and size work (there are no weights in a pooling layer)
        if hasattr(head.pool, "pool"):  # X3D's ProjectedPool
            head.pool.pool = nn.AdaptiveAvgPool3d(1)
        else:
            head.pool = nn.AdaptiveAvgPool3d(1)
        feature_dim = head.proj.in_features
        head.proj = nn.Identity()
        head.activation = None
        head.dropout = nn.Identity()  # the new head brings its own
        return nn.Sequential(network, nn.Flatten()), feature_dim

    return build


def _simple_3d(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
    network = Simple3DCNN()
    return network, network.feature_dim


@dataclass(frozen=True)
class TemporalEntry:
    name: str
    display_name: str
    kind: str  # "rnn" (per-frame CNN + LSTM/GRU) | "3d"
    backbone: str | None  # rnn: a helpers.models name or "seresnet50"
    build: Callable[[bool, int], tuple[nn.Module, int]] | None  # 3d (and seresnet50)
    pretrained_on: str | None
    default_image_size: int
    default_clip_len: int
    normalization: dict | None
    rnn: str = "lstm"


def _rnn(name: str, display: str, backbone: str, rnn: str = "lstm", size: int | None = None) -> TemporalEntry:
    entry = models.model_entry(backbone)
    return TemporalEntry(name, display, "rnn", backbone, None, entry.pretrained_on, size or entry.default_image_size,
                         16, entry.normalization, rnn)


TEMPORAL_MODELS: dict[str, TemporalEntry] = {e.name: e for e in (
    _rnn("vgg16_lstm", "VGG16-LSTM", "vgg16"),
    _rnn("resnet50_lstm", "ResNet50-LSTM", "resnet50"),
    TemporalEntry("seresnet50_lstm", "SENet50-LSTM", "rnn", "seresnet50", _seresnet50, "ImageNet-1k", 224, 16,
                  models.IMAGENET_NORMALIZATION),
    _rnn("resnet18_lstm", "ResNet18-LSTM", "resnet18"),
    _rnn("simple_cnn_lstm", "Simple CNN-LSTM", "simple_cnn"),
    _rnn("simple_cnn_gru", "Simple CNN-GRU", "simple_cnn", rnn="gru"),
    TemporalEntry("conv3d", "3D CNN", "3d", None, _simple_3d, None, 64, 16, None),
    TemporalEntry("r3d_18", "ResNet3D-18", "3d", None, _torchvision_video("r3d_18"), "Kinetics-400", 112, 16,
                  KINETICS_NORMALIZATION),
    TemporalEntry("r2plus1d_18", "R(2+1)D-18", "3d", None, _torchvision_video("r2plus1d_18"), "Kinetics-400", 112,
                  16, KINETICS_NORMALIZATION),
    TemporalEntry("x3d_s", "X3D-S", "3d", None, _pytorchvideo("x3d_s"), "Kinetics-400", 160, 13,
                  PYTORCHVIDEO_NORMALIZATION),
    TemporalEntry("slow_r50", "Slow-R50", "3d", None, _pytorchvideo("slow_r50"), "Kinetics-400", 224, 8,
                  PYTORCHVIDEO_NORMALIZATION),
)}
THESIS_TEMPORAL_MODELS = ("vgg16_lstm", "resnet50_lstm", "seresnet50_lstm", "conv3d", "r3d_18", "x3d_s", "slow_r50")


def temporal_entry(name: str) -> TemporalEntry:
    try:
        return TEMPORAL_MODELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown temporal model {name!r}; choose one of {', '.join(TEMPORAL_MODELS)}") from None


def _wants_pretrained(entry: TemporalEntry, weights: str | bool | None) -> bool:
    if weights is None or weights is False or (isinstance(weights, str) and weights.lower() in ("none", "")):
        return False
    if entry.pretrained_on is None:
        if weights in (True, "default"):
            return False
        raise ValueError(f"{entry.display_name} has no pretrained weights; use weights=None")
    if weights is True or str(weights).lower() in ("default", entry.pretrained_on.lower(), "imagenet", "kinetics"):
        return True
    raise ValueError(f"unknown weights {weights!r} for {entry.display_name}: use 'default' or None")


def build_frame_encoder(name: str, weights: str | bool | None = "default", image_size: int | None = None
                        ) -> FrameEncoder:
    """The per-frame CNN of a CNN-RNN model (also what ``cache_frame_features`` runs)."""
    entry = temporal_entry(name)
    if entry.kind != "rnn":
        raise ValueError(f"{entry.display_name} is not a CNN-RNN model")
    size = image_size or entry.default_image_size
    if entry.build is not None:  # seresnet50 (timm)
        pretrained = _wants_pretrained(entry, weights)
        network, dim = entry.build(pretrained, size)
        return FrameEncoder(network, dim, pretrained, entry.backbone)
    backbone = models.build_backbone(entry.backbone, weights, size)
    return FrameEncoder(backbone, backbone.feature_dim, backbone.pretrained, entry.backbone)


def build_temporal_model(name: str, heads: int | Mapping[str, int] = 12, weights: str | bool | None = "default",
                         freeze_backbone: bool = False, image_size: int | None = None, dropout: float = 0.0,
                         hidden: int = 256) -> nn.Module:
    """A registered clip model with fresh head(s): ``heads=12`` -> logits; ``heads=TWO_TASK_HEADS`` -> dict.

    ``weights="default"``: ImageNet (CNN-RNN) or Kinetics-400 (3D) weights, downloaded on first use
    (``WeightsUnavailableError`` when that fails); ``None``: random weights. ``freeze_backbone`` trains only
    the recurrent part / head.
    """
    entry = temporal_entry(name)
    if entry.kind == "rnn":
        model = RecurrentClassifier(build_frame_encoder(name, weights, image_size), heads, hidden, entry.rnn,
                                    dropout=dropout)
    else:
        pretrained = _wants_pretrained(entry, weights)
        network, dim = entry.build(pretrained, image_size or entry.default_image_size)
        model = ClipClassifier(VideoEncoder(network, dim, pretrained, entry.name), heads, dropout)
    model.freeze_backbone(freeze_backbone)
    return model


# --------------------------------------------------------------------------------------------------
# Cached per-frame features of a frozen CNN
# --------------------------------------------------------------------------------------------------


@torch.no_grad()
def cache_frame_features(encoder: FrameEncoder, videos: pd.DataFrame, cache_dir: Path | str,
                         preprocess: nn.Module, batch_size: int = 64, device: str | None = None) -> pd.DataFrame:
    """Run the frozen per-frame CNN once over every crop of every video; store ``[frames, D]`` float16.

    Files go to ``<cache_dir>/<subject>/<code>.npy`` (written atomically; existing ones are reused, so the
    cache is resumable). ``cache_dir`` must be specific to the encoder, its weights and the preprocessing
    (``feature_cache_dir`` builds such a name). Returns ``videos`` with ``crop_path`` pointing at the
    feature files, ready for ``FeatureClipDataset``.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    encoder = encoder.to(device).eval()
    preprocess = preprocess.to(device)
    cache_dir = Path(cache_dir)
    out_paths = []
    for subject, code, crop in zip(videos["subject"].astype(str), videos["code"].astype(str),
                                   videos[datasets.CROP_PATH_COLUMN]):
        target = cache_dir / subject / f"{code}.npy"
        if not target.exists():
            crops = np.load(crop, mmap_mode="r")
            chunks = []
            for start in range(0, len(crops), batch_size):
                images = torch.from_numpy(np.ascontiguousarray(crops[start:start + batch_size].transpose(0, 3, 1, 2)))
                chunks.append(encoder.network(preprocess(images.to(device))).float().cpu())
            features = torch.cat(chunks).numpy().astype(np.float16)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            with open(partial, "wb") as file:
                np.save(file, features)
            partial.replace(target)
        out_paths.append(str(target))
    return videos.assign(**{datasets.CROP_PATH_COLUMN: out_paths})


def feature_cache_dir(work: Path | str, crops_dir: Path | str, model: str, pretrained: bool, image_size: int,
                      seed: int = 0, normalization: str = "auto") -> Path:
    """``<work>/features/<crops folder>/<model>_<weights>_<size>px_<normalisation>``; random weights depend on
    the seed, so it is part of their name."""
    weights = "pretrained" if pretrained else f"random-seed{seed}"
    return Path(work) / "features" / Path(crops_dir).name / f"{model}_{weights}_{image_size}px_{normalization}"


class FeatureClipDataset(datasets.ClipDataset):
    """``ClipDataset`` over cached features: ``image`` is float ``[T, D]`` (same sampling options).

    ``videos[crop_path]`` points at feature files (``cache_frame_features``); ``window="onset_apex"`` needs
    the pixels, so pass ``segments_from`` (the crops table) to find the segments on them.
    """

    def __init__(self, videos: pd.DataFrame, clip_len: int = 8, stride: int = 1, clips_per_video: int = 1,
                 mode: str = "uniform", window: str = "all", segments_from: pd.DataFrame | None = None):
        super().__init__(videos, clip_len, stride, clips_per_video, None, mode, "all")
        if window == "onset_apex":
            if segments_from is None:
                raise ValueError("window='onset_apex' on features needs segments_from (the crops table)")
            pixels = datasets.ClipDataset(segments_from, clip_len, stride, clips_per_video, None, mode, window)
            self.window, self.segments, self.clips = window, pixels.segments, pixels.clips
            self.video_ids, self.frame_ids = pixels.video_ids, pixels.frame_ids

    def clip(self, video_id: int, positions: np.ndarray) -> Tensor:
        return torch.from_numpy(np.asarray(self.array(video_id)[positions], dtype=np.float32))


class IdentityTransform(nn.Module):
    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        return x


# --------------------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# Experiments
# --------------------------------------------------------------------------------------------------


@dataclass
class TemporalConfig:
    """One cross-validated temporal experiment (the clip counterpart of ``train.ExperimentConfig``)."""

    profile: str = "smoke"
    approach: str = "temporal"
    model: str = "simple_cnn_lstm"
    heads: str = "label"  # label (12 classes) | two_task (emotion + authenticity)
    loss: str = "cross_entropy"  # the loss of each head (helpers.losses)
    loss_weighting: str = "sum"  # two_task: sum | fixed | precision | uncertainty (helpers.multitask)
    name: str | None = None  # run folder name; default "<model>" (+ "-two_task")
    weights: str | None = "default"
    freeze_backbone: bool = False
    cache_features: bool = False  # CNN-RNN with a frozen backbone: train the RNN on cached features
    dropout: float = 0.0
    hidden: int = 256
    image_size: int | None = None
    normalization: str = "auto"
    augment: bool = False
    clip_len: int = 8
    stride: int = 1
    window: str = "all"  # all | onset_apex
    clips_per_video: int = 4  # training clips per video and epoch (random starts)
    eval_clips_per_video: int = 4  # test clips per video (evenly spaced; scores averaged per video)
    batch_size: int = 8
    eval_batch_size: int | None = None
    workers: int | None = None
    val_fraction: float = 0.15
    folds: list[int] | None = None
    crop_kind: str = "face"
    extraction: dict[str, Any] | None = None
    keep_checkpoints: bool = False
    save_weights: str = "all"  # all | first | none: as train.ExperimentConfig (the last plot of 05 uses the first fold's)
    work_dir: str | None = None
    results_dir: str | None = None
    train: Any = None  # train.TrainConfig (a dict is converted)

    def __post_init__(self):
        from helpers import train as train_module

        if self.train is None:
            self.train = train_module.TrainConfig()
        elif isinstance(self.train, Mapping):
            self.train = train_module.TrainConfig.from_dict(self.train)
        if self.heads not in ("label", "two_task"):
            raise ValueError(f"heads must be 'label' or 'two_task', got {self.heads!r}")
        temporal_entry(self.model)
        self.save_weights = train_module.weights_choice(self.save_weights)

    @property
    def run_name(self) -> str:
        if self.name:
            return self.name
        name = self.model + ("-two_task" if self.heads == "two_task" else "")
        if losses.canonical_name(self.loss) != "cross_entropy":
            name += f"-{losses.canonical_name(self.loss)}"
        if self.heads == "two_task" and self.loss_weighting != "sum":
            name += f"-{self.loss_weighting}"
        return name

    def untrained_model(self) -> nn.Module:
        """This configuration's clip model with random weights (nothing downloaded): what it will train."""
        from helpers import multitask

        heads = TWO_TASK_HEADS if self.heads == "two_task" else len(labels.CLASS_NAMES)
        model = build_temporal_model(self.model, heads, None, self.freeze_backbone,
                                     self.image_size or temporal_entry(self.model).default_image_size, self.dropout,
                                     self.hidden)
        if self.heads == "two_task":
            multitask.attach_weighting(model, multitask.build_weighting(self.loss_weighting))
        return model

    @property
    def uses_cache(self) -> bool:
        return self.cache_features and self.freeze_backbone and temporal_entry(self.model).kind == "rnn"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _preprocess(config: TemporalConfig, image_size: int, pretrained: bool, results_dir: Path) -> datasets.BatchTransform:
    entry = temporal_entry(config.model)
    source = config.normalization
    if source in ("auto", "model"):
        source = entry.normalization if (pretrained and entry.normalization) else "dataset"
    stats = datasets.normalization_stats(source, results_dir)
    return datasets.BatchTransform(stats["mean"], stats["std"], image_size, config.augment)


def _clip_loaders(config: TemporalConfig, fold, image_size: int, feature_tables: dict | None):
    def dataset(part: str, mode: str, clips: int):
        table = getattr(fold, part)
        if feature_tables is not None:
            return FeatureClipDataset(feature_tables[part], config.clip_len, config.stride, clips, mode, config.window,
                                      segments_from=table)
        stored = datasets.packed_shape(table[datasets.CROP_PATH_COLUMN].iloc[0])[1] if len(table) else 0
        return datasets.ClipDataset(table, config.clip_len, config.stride, clips,
                                    image_size if stored > image_size else None, mode, config.window)

    eval_batch = config.eval_batch_size or 2 * config.batch_size
    train_loader = datasets.make_loader(dataset("train", "random", config.clips_per_video), config.batch_size, True,
                                        config.train.seed, config.workers)
    val_loader = (datasets.make_loader(dataset("val", "uniform", config.eval_clips_per_video), eval_batch, False,
                                       workers=config.workers) if len(fold.val) else None)
    test_set = dataset("test", "uniform", config.eval_clips_per_video)
    test_loader = datasets.make_loader(test_set, eval_batch, False, workers=config.workers)
    return train_loader, val_loader, test_loader, test_set


def build_clip_task(config: TemporalConfig, model: nn.Module, preprocess: nn.Module):
    """12-class: ``train.ClassificationTask``; two-task: ``multitask.MultiTaskTask`` (its weighting is attached
    to ``model``, so that learnable weights are optimised and checkpointed)."""
    from helpers import multitask, train

    if config.heads == "two_task":
        weighting = multitask.build_weighting(config.loss_weighting)
        multitask.attach_weighting(model, weighting)
        head_losses = {head: losses.build_loss(config.loss) for head in multitask.HEADS}
        return multitask.MultiTaskTask(head_losses, weighting, preprocess, "shared")
    return train.ClassificationTask(losses.build_loss(config.loss), "label", preprocess)


def run_temporal_fold(config: TemporalConfig, fold, paths: profiles.RunPaths, accelerator=None) -> dict:
    """Train and test one fold of a temporal experiment; write its artifacts; return its metrics."""
    from helpers import train

    entry = temporal_entry(config.model)
    image_size = config.image_size or entry.default_image_size
    train.seed_everything(config.train.seed)
    heads = TWO_TASK_HEADS if config.heads == "two_task" else len(labels.CLASS_NAMES)
    model = build_temporal_model(config.model, heads, config.weights, config.freeze_backbone, image_size,
                                 config.dropout, config.hidden)
    pretrained = model.backbone.pretrained
    preprocess = _preprocess(config, image_size, pretrained, paths.results)
    feature_tables = None
    if config.uses_cache:
        crops_dir = Path(fold.train[datasets.CROP_PATH_COLUMN].iloc[0]).parents[1]
        cache = feature_cache_dir(paths.work, crops_dir, config.model, pretrained, image_size, config.train.seed,
                                  config.normalization if isinstance(config.normalization, str) else "custom")
        started = time.perf_counter()
        feature_tables = {part: cache_frame_features(model.backbone, getattr(fold, part), cache, preprocess)
                          for part in ("train", "val", "test")}
        print(f"per-frame features cached in {cache} ({time.perf_counter() - started:.1f} s)")
        task = build_clip_task(config, model, IdentityTransform())
    else:
        task = build_clip_task(config, model, preprocess)
    checkpoints = train.checkpoint_dir(paths, config, fold.fold)
    accelerator = accelerator or train.make_accelerator(config.train)
    outcome = train.fit_and_test(model, task, _clip_loaders(config, fold, image_size, feature_tables), fold,
                                 config.train, checkpoints, accelerator)
    fitted, predictions, metrics = outcome.fitted, outcome.predictions, outcome.metrics
    metrics.update({
        "run": config.run_name, "approach": config.approach, "model": config.model,
        "loss": losses.canonical_name(config.loss),
        "loss_weighting": config.loss_weighting if config.heads == "two_task" else None,
        "heads": config.heads, "level_note": "frame level = clip level", "pretrained": pretrained,
        "image_size": image_size, "clip_len": config.clip_len, "stride": config.stride,
    })
    if accelerator.is_main_process:
        run_config = {**config.to_dict(), "fold": fold.fold, "run": config.run_name, "target": "label",
                      "loss": metrics["loss"], "image_size": image_size,
                      "normalization_stats": {"mean": preprocess.mean.flatten().tolist(),
                                              "std": preprocess.std.flatten().tolist()}}
        env = results.environment(config.profile, train._fingerprint(fold), mixed_precision=accelerator.mixed_precision,
                                  processes=accelerator.num_processes)
        results.write_run(results.run_dir(paths.results, config.approach, config.run_name, fold.fold), metrics,
                          fitted.history, predictions, run_config, env)
        # the trained weights, for later plots without retraining (bulky: in the work dir, not in results)
        if train.keeps_weights(config.save_weights, config.folds, fold.fold):
            results.save_weights(model_weights_path(paths, config, fold.fold), fitted.model)
        if not config.keep_checkpoints:
            shutil.rmtree(checkpoints, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.free_memory()
    return metrics


def model_weights_path(paths: profiles.RunPaths, config: TemporalConfig, fold: int) -> Path:
    """``<work>/<profile>/models/<approach>/<run>/fold_<k>.pt``: the final weights of a trained fold."""
    from helpers import train

    return train.model_weights_path(paths, config.approach, config.run_name, fold)


def load_trained_model(config: TemporalConfig, fold: int, paths: profiles.RunPaths | None = None) -> nn.Module | None:
    """The model of a trained fold (random-init architecture + saved weights), or None if not saved."""
    paths = paths or profiles.paths_for(config.profile, config.work_dir, config.results_dir)
    path = model_weights_path(paths, config, fold)
    if not path.exists():
        return None
    model = config.untrained_model()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def run_temporal_experiment(config: TemporalConfig, dataset=None, crops_dir: Path | str | None = None,
                            force: bool = False, accelerator=None) -> pd.DataFrame:
    """Every fold of ``config`` (skipping folds with artifacts unless ``force``); returns the fold table."""
    from helpers import train

    return train.cross_validate(config, run_temporal_fold, train.fold_data, evaluate.fold_table, dataset,
                                crops_dir, force, accelerator)


@torch.no_grad()
def sliding_scores(model: nn.Module, crops: np.ndarray, clip_len: int, stride: int = 1, hop: int = 1,
                   preprocess: nn.Module | None = None, batch_size: int = 16) -> pd.DataFrame:
    """p(genuine) of clips sliding over one video's crops ``T x H x W x 3``, ``hop`` crops apart.

    Returns one row per clip: ``start``, ``centre`` (crop positions) and ``p_genuine`` (a 12-class model's
    probabilities summed over the genuine classes, or a two-task model's authenticity head).
    """
    from helpers import frames

    model.eval()
    device = next(model.parameters()).device
    clips = frames.clip_indices(len(crops), clip_len, stride, "all", hop=hop)
    scores = []
    for start in range(0, len(clips), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(np.asarray(crops)[clips[start:start + batch_size]]
                                                      .transpose(0, 1, 4, 2, 3))).to(device)
        x = preprocess(batch, training=False) if preprocess is not None else batch.float() / 255
        out = model(x)
        if isinstance(out, dict):
            p = F.softmax(out["authenticity"].float(), 1)[:, 1]
        else:
            p = torch.from_numpy(evaluate.collapse(F.softmax(out.float(), 1).cpu().numpy(), "authenticity")[:, 1])
        scores.append(p.cpu())
    p = torch.cat(scores).numpy() if scores else np.zeros(0)
    return pd.DataFrame({"start": clips[:, 0], "centre": (clips[:, 0] + clips[:, -1]) / 2, "p_genuine": p})


def config_from_dict(values: Mapping[str, Any]) -> TemporalConfig:
    known = {f.name for f in dataclasses.fields(TemporalConfig)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown TemporalConfig key(s): {', '.join(sorted(unknown))}")
    return TemporalConfig(**dict(values))


__all__ = ["TEMPORAL_MODELS", "TWO_TASK_HEADS", "TemporalConfig", "WeightsUnavailableError", "build_temporal_model",
           "cache_frame_features", "install_pytorchvideo_shim", "run_temporal_experiment", "sliding_scores"]
