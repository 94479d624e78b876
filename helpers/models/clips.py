"""Clip models of notebook 05: clips of face crops ``[B, T, 3, H, W]`` -> logits ``[B, C]`` or ``{head: logits}``.

One registry, ``build_temporal_model(name, heads, weights, ...)``, on the encoders and heads of
``helpers.models.heads``:

* CNN-RNN: a per-frame 2D CNN (a backbone of ``helpers.models.backbones``: VGG16, ResNet50, SE-ResNet50,
  ResNet18, the tiny SimpleCNN) whose features an LSTM (or GRU) reads in order (``RecurrentClassifier``);
* a 3D CNN from scratch (adaptive pooling: no flatten size tied to an input size);
* torchvision's ResNet3D ``r3d_18`` and ``r2plus1d_18`` (Kinetics-400 weights);
* pytorchvideo's X3D-S and Slow-R50 (Kinetics-400 weights; Slow-R50 was the thesis' best temporal model).

``heads`` an int gives logits, ``helpers.models.heads.TWO_TASK_HEADS`` (emotion + authenticity) a dict. Pooling heads are
adaptive, so any clip length and input size of at least 32 px works.

pytorchvideo 0.1.5 (its last release) imports ``torchvision.transforms.functional_tensor``, removed in
torchvision 0.17: ``install_pytorchvideo_shim()`` aliases the module to its new private name. It is
installed by the builders that need pytorchvideo (an optional dependency), never at import time.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn
from torchvision import models as vision_models
from torchvision.models import video as video_models

from helpers.models.backbones import Backbone, build_backbone, model_entry
from helpers.models.heads import Classifier, Encoder, FreezableBackbone, Heads
from helpers.models.weights import load_weights_file, torchvision_state_dict, wants_pretrained

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


def _import_pytorchvideo_hub():  # pytorchvideo is optional: imported only by the models that need it
    install_pytorchvideo_shim()
    try:
        from pytorchvideo.models import hub
    except ImportError as error:
        raise ImportError("X3D and Slow-R50 need pytorchvideo: pip install pytorchvideo==0.1.5") from error
    return hub


# --------------------------------------------------------------------------------------------------
# Encoders of clips
# --------------------------------------------------------------------------------------------------


class FrameEncoder(Encoder):
    """A 2D backbone applied to every frame: clips ``[B, T, 3, H, W]`` -> ``[B, T, D]``."""

    def __init__(self, backbone: Backbone):
        super().__init__(backbone.name, backbone, backbone.feature_dim, backbone.pretrained)

    def forward(self, clips: Tensor) -> Tensor:
        batch, length = clips.shape[:2]
        return self.network(clips.flatten(0, 1)).unflatten(0, (batch, length))


class VideoEncoder(Encoder):
    """A 3D CNN: clips ``[B, T, 3, H, W]`` -> features ``[B, D]`` (the network sees ``[B, 3, T, H, W]``)."""

    def forward(self, clips: Tensor) -> Tensor:
        return self.network(clips.transpose(1, 2))


class RecurrentClassifier(FreezableBackbone, nn.Module):
    """CNN-RNN: per-frame CNN features read by an LSTM/GRU; the last hidden state feeds the head(s).

    ``forward`` takes clips ``[B, T, 3, H, W]`` or, for cached features of a frozen CNN, ``[B, T, D]``.
    """

    def __init__(self, backbone: FrameEncoder, heads: int | Mapping[str, int], hidden: int = 256,
                 rnn: str = "lstm", layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.backbone = backbone
        cell = {"lstm": nn.LSTM, "gru": nn.GRU}[rnn]
        self.rnn = cell(backbone.feature_dim, hidden, num_layers=layers, batch_first=True)
        self.head = Heads(hidden, heads, dropout)

    def forward(self, x: Tensor) -> Tensor | dict[str, Tensor]:
        features = x if x.ndim == 3 else self.backbone(x)
        output, _ = self.rnn(features)
        return self.head(output[:, -1])


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


def _torchvision_video(variant: str) -> Callable[[bool, int], tuple[nn.Module, int]]:
    def build(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
        network = getattr(video_models, variant)(weights=None)
        if pretrained:
            weights = vision_models.get_model_weights(variant).DEFAULT  # Kinetics-400
            network.load_state_dict(torchvision_state_dict(variant, weights))
        feature_dim = network.fc.in_features
        network.fc = nn.Identity()  # its avgpool is already adaptive
        return network, feature_dim

    return build


def _pytorchvideo(variant: str) -> Callable[[bool, int], tuple[nn.Module, int]]:
    def build(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
        hub = _import_pytorchvideo_hub()
        network = getattr(hub, variant)(pretrained=False)
        if pretrained:  # read here, not by pytorchvideo, which unpickles the cached file unsafely
            checkpoint = load_weights_file(variant, _pytorchvideo_url(hub, variant))
            network.load_state_dict(checkpoint["model_state"])
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


def _pytorchvideo_url(hub: Any, variant: str) -> str:
    """The URL of a pytorchvideo hub model's Kinetics weights (its module's ``checkpoint_paths``)."""
    module = sys.modules[getattr(hub, variant).__module__]
    return module.checkpoint_paths[variant]


def _simple_3d(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
    network = Simple3DCNN()
    return network, network.feature_dim


@dataclass(frozen=True)
class TemporalEntry:
    name: str
    display_name: str
    kind: str  # "rnn" (per-frame CNN + LSTM/GRU) | "3d"
    backbone: str | None  # rnn: a backbone of helpers.models.backbones
    build: Callable[[bool, int], tuple[nn.Module, int]] | None  # 3d
    pretrained_on: str | None
    default_image_size: int
    default_clip_len: int
    normalization: dict | None
    rnn: str = "lstm"


def _rnn(name: str, display: str, backbone: str, rnn: str = "lstm", size: int | None = None) -> TemporalEntry:
    entry = model_entry(backbone)
    return TemporalEntry(name, display, "rnn", backbone, None, entry.pretrained_on, size or entry.default_image_size,
                         16, entry.normalization, rnn)


TEMPORAL_MODELS: dict[str, TemporalEntry] = {e.name: e for e in (
    _rnn("vgg16_lstm", "VGG16-LSTM", "vgg16"),
    _rnn("resnet50_lstm", "ResNet50-LSTM", "resnet50"),
    _rnn("seresnet50_lstm", "SENet50-LSTM", "seresnet50"),
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


def build_frame_encoder(name: str, weights: str | bool | None = "default", image_size: int | None = None
                        ) -> FrameEncoder:
    """The per-frame CNN of a CNN-RNN model (also what ``cache_frame_features`` runs)."""
    entry = temporal_entry(name)
    if entry.kind != "rnn":
        raise ValueError(f"{entry.display_name} is not a CNN-RNN model")
    return FrameEncoder(build_backbone(entry.backbone, weights, image_size or entry.default_image_size))


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
        pretrained = wants_pretrained(entry.display_name, entry.pretrained_on, weights)
        network, dim = entry.build(pretrained, image_size or entry.default_image_size)
        model = Classifier(VideoEncoder(entry.name, network, dim, pretrained), heads, dropout)
    model.freeze_backbone(freeze_backbone)
    return model
