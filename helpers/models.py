"""Model builders: one registry of backbones by name, plus the classification heads put on top of them.

Every model is split into a **backbone** (images ``[B, 3, H, W]`` -> features ``[B, feature_dim]``) and
one or more linear **heads**. That split is what later approaches reuse:

- single-task (03): ``build_model(name, num_classes=12)`` -> ``Classifier`` (one head);
- multi-task (04): ``MultiHeadClassifier(build_backbone(name), {"emotion": 6, "authenticity": 2})`` runs
  the backbone **once** per forward pass and feeds the same features to both heads;
- temporal (05): ``build_backbone(name)`` is a per-frame feature extractor.

Backbones end in global pooling (or a ViT class token), so nothing depends on a flatten size computed for
one input resolution. Input sizes:

- the torchvision CNNs (VGG16, ResNet, EfficientNetV2-M) accept any size of at least 32 px; ImageNet
  weights were trained at 224 px (EfficientNetV2-M: 480 px) and fine-tune well at 112-224 px;
- ViT-B/16 needs a multiple of 16 px. Its ImageNet weights are for 224 px; at another size the builder
  interpolates the position embeddings (bicubic, torchvision's ``interpolate_embeddings``), which is the
  usual way to fine-tune a ViT at a new resolution;
- InceptionResNetV1 (facenet-pytorch) needs at least 80 px; its VGGFace2 weights are for 160 px faces and
  expect pixels scaled as ``(x - 127.5) / 128`` (``PRETRAINED_NORMALIZATION``).

Pretrained weights are downloaded on first use (Colab); ``weights=None`` builds the same architecture with
random weights (tests, CPU demos). A failed download raises ``WeightsUnavailableError`` saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

IMAGENET_NORMALIZATION = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
# facenet-pytorch's fixed_image_standardization, (x - 127.5) / 128, written for pixels in [0, 1]
FACENET_NORMALIZATION = {"mean": [127.5 / 255] * 3, "std": [128 / 255] * 3}
FACENET_VGGFACE2_URL = (
    "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt"
)


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be downloaded or read."""


_hub_cache: Path | None = None  # set by use_weights_cache: where timm's Hugging Face downloads go


def use_weights_cache(folder: Path | str) -> Path:
    """Download pretrained weights into ``folder`` and read them from there from now on.

    The notebooks point it at ``<work>/pretrained`` (on Drive on Colab), so a new Colab session finds the
    weights of the last one instead of downloading them again. torchvision, pytorchvideo and the facenet
    weights go through the torch hub folder (``<folder>/torch``), timm's through the Hugging Face cache
    (``<folder>/huggingface``)."""
    global _hub_cache
    folder = Path(folder)
    (folder / "torch").mkdir(parents=True, exist_ok=True)
    torch.hub.set_dir(str(folder / "torch"))
    _hub_cache = folder / "huggingface"
    return folder


def hub_cache_options(create: Callable) -> dict[str, Any]:
    """Keyword arguments that make ``create`` (``timm.create_model``) download into ``use_weights_cache``'s
    folder; nothing before that call. A timm without ``cache_dir`` (older than 1.0.10) reads the
    ``HF_HUB_CACHE`` variable instead, which takes effect if Hugging Face's hub was not imported yet."""
    if _hub_cache is None:
        return {}
    import inspect
    import os

    if "cache_dir" in inspect.signature(create).parameters:
        return {"cache_dir": str(_hub_cache)}
    os.environ.setdefault("HF_HUB_CACHE", str(_hub_cache))
    return {}


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one backbone."""

    name: str
    display_name: str
    build: Callable[[bool, int], tuple[nn.Module, int]]  # (pretrained, image_size) -> (backbone, feature_dim)
    pretrained_on: str | None  # None: no pretrained weights exist (random init only)
    default_image_size: int
    min_image_size: int
    normalization: dict | None  # what the pretrained weights expect; None: use the dataset's statistics
    patch_size: int = 1  # image sizes must be multiples of this (ViT)


def _download_failed(name: str, source: str, error: BaseException) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"Could not download the pretrained weights of {name} ({source}): {type(error).__name__}: {error}. "
        "Pretrained weights are downloaded from the internet on first use, so run this where there is "
        "internet access (e.g. Google Colab), or put the file in the torch hub cache "
        f"({Path(torch.hub.get_dir()) / 'checkpoints'}); pass weights=None to train from scratch instead."
    )


def _torchvision_state_dict(name: str, weights: Any) -> dict[str, Tensor]:
    try:
        return weights.get_state_dict(progress=True, check_hash=True)
    except (OSError, RuntimeError, ValueError) as error:  # URLError is an OSError; corrupt files: RuntimeError
        raise _download_failed(name, weights.url, error) from error


def _resnet(variant: str) -> Callable[[bool, int], tuple[nn.Module, int]]:
    def build(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
        from torchvision import models

        model = getattr(models, variant)(weights=None)
        if pretrained:
            weights = models.get_model_weights(variant).DEFAULT
            model.load_state_dict(_torchvision_state_dict(variant, weights))
        feature_dim = model.fc.in_features
        model.fc = nn.Identity()
        return model, feature_dim

    return build


def _vgg16(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
    from torchvision import models

    model = models.vgg16(weights=None)
    if pretrained:
        model.load_state_dict(_torchvision_state_dict("vgg16", models.VGG16_Weights.DEFAULT))
    # keep the two pretrained 4096-unit layers; the adaptive 7x7 pooling before them makes any input
    # size work (at 112 px the 3x3 feature map is pooled up to 7x7)
    feature_dim = model.classifier[-1].in_features
    model.classifier[-1] = nn.Identity()
    return model, feature_dim


def _efficientnet_v2_m(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
    from torchvision import models

    model = models.efficientnet_v2_m(weights=None)
    if pretrained:
        model.load_state_dict(
            _torchvision_state_dict("efficientnet_v2_m", models.EfficientNet_V2_M_Weights.DEFAULT)
        )
    feature_dim = model.classifier[-1].in_features
    model.classifier = nn.Identity()  # the head brings its own dropout
    return model, feature_dim


def _vit_b_16(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
    from torchvision import models
    from torchvision.models.vision_transformer import interpolate_embeddings

    model = models.vit_b_16(weights=None, image_size=image_size)
    if pretrained:
        weights = models.ViT_B_16_Weights.IMAGENET1K_V1  # trained at 224 px
        state = _torchvision_state_dict("vit_b_16", weights)
        if image_size != weights.meta["min_size"][0]:
            state = interpolate_embeddings(image_size, model.patch_size, state)
        model.load_state_dict(state)
    model.heads = nn.Identity()
    return model, model.hidden_dim


class InceptionResnetV1Features(nn.Module):
    """facenet-pytorch's InceptionResnetV1 up to its 512-d bottleneck (batch-normalised, not L2-normalised:
    the unit-length embedding suits face verification, a linear classifier trains better without it)."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x: Tensor) -> Tensor:
        net = self.network
        for layer in (net.conv2d_1a, net.conv2d_2a, net.conv2d_2b, net.maxpool_3a, net.conv2d_3b, net.conv2d_4a,
                      net.conv2d_4b, net.repeat_1, net.mixed_6a, net.repeat_2, net.mixed_7a, net.repeat_3,
                      net.block8, net.avgpool_1a, net.dropout):
            x = layer(x)
        return net.last_bn(net.last_linear(torch.flatten(x, 1)))


def _inception_resnet_v1(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
    try:
        from facenet_pytorch.models.inception_resnet_v1 import InceptionResnetV1
    except ImportError as error:
        raise ImportError(
            "InceptionResNetV1 needs facenet-pytorch: pip install --no-deps facenet-pytorch==2.6.0 "
            "(--no-deps: its metadata pins an old torch that would replace yours)"
        ) from error
    network = InceptionResnetV1(pretrained=None, classify=False)
    if pretrained:
        network.load_state_dict(_facenet_vggface2_state_dict(), strict=False)  # strict=False: no 8631-way logits
    return InceptionResnetV1Features(network), network.last_bn.num_features


def _facenet_vggface2_state_dict() -> dict[str, Tensor]:
    """The VGGFace2 weights of facenet-pytorch, cached in the torch hub folder, loaded without pickle code."""
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(FACENET_VGGFACE2_URL).name
    try:
        if not cached.exists():
            cached.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(FACENET_VGGFACE2_URL, str(cached), progress=True)
        state = torch.load(cached, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as error:
        raise _download_failed("inception_resnet_v1", FACENET_VGGFACE2_URL, error) from error
    return {key: value for key, value in state.items() if not key.startswith("logits.")}


class SimpleCNN(nn.Module):
    """Four conv-BN-ReLU-pool blocks and global average pooling: a from-scratch CNN for CPU smoke/demo runs."""

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128, 256)):
        super().__init__()
        blocks, previous = [], 3
        for width in channels:
            blocks += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            previous = width
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = previous

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)


def _simple_cnn(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
    model = SimpleCNN()
    return model, model.feature_dim


MODELS: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        ModelEntry("vgg16", "VGG16", _vgg16, "ImageNet-1k", 224, 32, IMAGENET_NORMALIZATION),
        ModelEntry("resnet50", "ResNet50", _resnet("resnet50"), "ImageNet-1k", 224, 32, IMAGENET_NORMALIZATION),
        ModelEntry("efficientnet_v2_m", "EfficientNetV2-M", _efficientnet_v2_m, "ImageNet-1k", 224, 32,
                   IMAGENET_NORMALIZATION),
        ModelEntry("vit_b_16", "ViT-B/16", _vit_b_16, "ImageNet-1k", 224, 32, IMAGENET_NORMALIZATION, patch_size=16),
        ModelEntry("inception_resnet_v1", "InceptionResNetV1", _inception_resnet_v1, "VGGFace2", 160, 80,
                   FACENET_NORMALIZATION),
        ModelEntry("resnet18", "ResNet18", _resnet("resnet18"), "ImageNet-1k", 112, 32, IMAGENET_NORMALIZATION),
        ModelEntry("simple_cnn", "Simple CNN", _simple_cnn, None, 64, 16, None),
    )
}
THESIS_MODELS = ("vgg16", "resnet50", "efficientnet_v2_m", "vit_b_16", "inception_resnet_v1")


def model_entry(name: str) -> ModelEntry:
    try:
        return MODELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None


def check_image_size(name: str, image_size: int) -> int:
    """``image_size`` if the model accepts it, else a ValueError that says what it needs."""
    entry = model_entry(name)
    if image_size < entry.min_image_size:
        raise ValueError(f"{entry.display_name} needs images of at least {entry.min_image_size} px, got {image_size}")
    if image_size % entry.patch_size:
        raise ValueError(f"{entry.display_name} needs an image size that is a multiple of {entry.patch_size} px "
                         f"(its patch size), got {image_size}; e.g. {image_size - image_size % entry.patch_size}")
    return image_size


def wants_pretrained(name: str, weights: str | bool | None) -> bool:
    """Interpret ``weights``: ``"default"``/``True``/the dataset name -> pretrained; ``None``/``"none"``/``False``
    -> random init. Asking for weights a model does not have is an error."""
    if weights is None or weights is False or (isinstance(weights, str) and weights.lower() in ("none", "")):
        return False
    entry = model_entry(name)
    if entry.pretrained_on is None:
        if weights in (True, "default"):
            return False  # nothing to load: "default" for a from-scratch model means random weights
        raise ValueError(f"{entry.display_name} has no pretrained weights; use weights=None")
    if weights is True or str(weights).lower() in ("default", entry.pretrained_on.lower(), "vggface2", "imagenet"):
        return True
    raise ValueError(f"unknown weights {weights!r} for {entry.display_name}: use 'default' or None")


class Backbone(nn.Module):
    """A feature extractor: images ``[B, 3, H, W]`` -> features ``[B, feature_dim]``."""

    def __init__(self, name: str, network: nn.Module, feature_dim: int, image_size: int, pretrained: bool):
        super().__init__()
        self.name = name
        self.network = network
        self.feature_dim = feature_dim
        self.image_size = image_size
        self.pretrained = pretrained

    def forward(self, images: Tensor) -> Tensor:
        return self.network(images)


def build_backbone(name: str, weights: str | bool | None = "default", image_size: int | None = None) -> Backbone:
    """The backbone of a registered model, pretrained (``weights="default"``) or random (``weights=None``)."""
    entry = model_entry(name)
    size = check_image_size(entry.name, image_size or entry.default_image_size)
    pretrained = wants_pretrained(entry.name, weights)
    network, feature_dim = entry.build(pretrained, size)
    return Backbone(entry.name, network, feature_dim, size, pretrained)


class _FrozenBackboneMixin:
    """Keeps a frozen backbone in eval mode, so that its batch-norm statistics stay those it was trained with."""

    backbone: Backbone
    backbone_frozen: bool = False

    def freeze_backbone(self, frozen: bool = True) -> None:
        """Frozen: only the head(s) train (feature extraction). Not frozen: full fine-tuning."""
        self.backbone_frozen = frozen
        self.backbone.requires_grad_(not frozen)
        if frozen:
            self.backbone.eval()

    def train(self, mode: bool = True):  # type: ignore[override]
        super().train(mode)  # type: ignore[misc]
        if self.backbone_frozen:
            self.backbone.eval()
        return self


def _head(feature_dim: int, num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))


class Classifier(_FrozenBackboneMixin, nn.Module):
    """A backbone and one linear head: ``forward(images) -> logits [B, num_classes]``."""

    def __init__(self, backbone: Backbone, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.backbone = backbone
        self.head = _head(backbone.feature_dim, num_classes, dropout)
        self.num_classes = num_classes

    @property
    def feature_dim(self) -> int:
        return self.backbone.feature_dim

    def features(self, images: Tensor) -> Tensor:
        return self.backbone(images)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.backbone(images))


class MultiHeadClassifier(_FrozenBackboneMixin, nn.Module):
    """One shared backbone, several heads: ``forward(images) -> {head name: logits}``; the backbone runs once."""

    def __init__(self, backbone: Backbone, heads: Mapping[str, int], dropout: float = 0.0):
        super().__init__()
        self.backbone = backbone
        self.heads = nn.ModuleDict({name: _head(backbone.feature_dim, n, dropout) for name, n in heads.items()})

    @property
    def feature_dim(self) -> int:
        return self.backbone.feature_dim

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        features = self.backbone(images)
        return {name: head(features) for name, head in self.heads.items()}


def build_model(
    name: str,
    num_classes: int = 12,
    weights: str | bool | None = "default",
    freeze_backbone: bool = False,
    image_size: int | None = None,
    dropout: float = 0.0,
) -> Classifier:
    """A registered backbone with a fresh linear head of ``num_classes`` outputs.

    ``freeze_backbone=True`` trains only the head (the backbone stays in eval mode); ``False`` fine-tunes all.
    """
    model = Classifier(build_backbone(name, weights, image_size), num_classes, dropout)
    model.freeze_backbone(freeze_backbone)
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
