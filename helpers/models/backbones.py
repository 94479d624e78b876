"""The registry of image backbones by name: images ``[B, 3, H, W]`` -> features ``[B, feature_dim]``.

Backbones end in global pooling (or a ViT class token), so nothing depends on a flatten size computed for
one input resolution. Input sizes:

- the torchvision CNNs (VGG16, ResNet, EfficientNetV2-M) accept any size of at least 32 px; ImageNet
  weights were trained at 224 px (EfficientNetV2-M: 480 px) and fine-tune well at 112-224 px;
- ViT-B/16 needs a multiple of 16 px. Its ImageNet weights are for 224 px; at another size the builder
  interpolates the position embeddings (bicubic, torchvision's ``interpolate_embeddings``), which is the
  usual way to fine-tune a ViT at a new resolution;
- InceptionResNetV1 (facenet-pytorch) needs at least 80 px; its VGGFace2 weights are for 160 px faces and
  expect pixels scaled as ``(x - 127.5) / 128`` (``FACENET_NORMALIZATION``);
- SE-ResNet50 comes from timm (the per-frame CNN of the thesis' SENet50-LSTM).

``build_model`` puts heads on a backbone (``helpers.models.heads``): 12 classes for notebook 03, or
several heads. Pretrained weights are downloaded on first use (``helpers.models.weights``); ``weights=None``
builds the same architecture with random weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision import models as vision_models
from torchvision.models.vision_transformer import interpolate_embeddings

from helpers.models.heads import Classifier, Encoder
from helpers.models.weights import (download_failed, hub_cache_options, load_weights_file, torchvision_state_dict,
                                   wants_pretrained)

IMAGENET_NORMALIZATION = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
# facenet-pytorch's fixed_image_standardization, (x - 127.5) / 128, written for pixels in [0, 1]
FACENET_NORMALIZATION = {"mean": [127.5 / 255] * 3, "std": [128 / 255] * 3}
FACENET_VGGFACE2_URL = (
    "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt"
)


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


def _resnet(variant: str) -> Callable[[bool, int], tuple[nn.Module, int]]:
    def build(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
        model = getattr(vision_models, variant)(weights=None)
        if pretrained:
            weights = vision_models.get_model_weights(variant).DEFAULT
            model.load_state_dict(torchvision_state_dict(variant, weights))
        feature_dim = model.fc.in_features
        model.fc = nn.Identity()
        return model, feature_dim

    return build


def _vgg16(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
    model = vision_models.vgg16(weights=None)
    if pretrained:
        model.load_state_dict(torchvision_state_dict("vgg16", vision_models.VGG16_Weights.DEFAULT))
    # keep the two pretrained 4096-unit layers; the adaptive 7x7 pooling before them makes any input
    # size work (at 112 px the 3x3 feature map is pooled up to 7x7)
    feature_dim = model.classifier[-1].in_features
    model.classifier[-1] = nn.Identity()
    return model, feature_dim


def _efficientnet_v2_m(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
    model = vision_models.efficientnet_v2_m(weights=None)
    if pretrained:
        model.load_state_dict(
            torchvision_state_dict("efficientnet_v2_m", vision_models.EfficientNet_V2_M_Weights.DEFAULT)
        )
    feature_dim = model.classifier[-1].in_features
    model.classifier = nn.Identity()  # the head brings its own dropout
    return model, feature_dim


def _vit_b_16(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
    model = vision_models.vit_b_16(weights=None, image_size=image_size)
    if pretrained:
        weights = vision_models.ViT_B_16_Weights.IMAGENET1K_V1  # trained at 224 px
        state = torchvision_state_dict("vit_b_16", weights)
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
    state = load_weights_file("inception_resnet_v1", FACENET_VGGFACE2_URL)
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


def _seresnet50(pretrained: bool, image_size: int) -> tuple[nn.Module, int]:
    # imported here, not with the module: a timm older than 1.0.13 finds use_weights_cache's folder only in
    # HF_HUB_CACHE, which Hugging Face's hub reads once, when it is first imported (by timm)
    import timm

    try:
        network = timm.create_model("seresnet50", pretrained=pretrained, num_classes=0,
                                    **hub_cache_options(timm.create_model))
    except (OSError, RuntimeError, ValueError) as error:  # no internet / hub unreachable
        raise download_failed("seresnet50", "timm / Hugging Face Hub", error) from error
    return network, network.num_features


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
        ModelEntry("seresnet50", "SE-ResNet50", _seresnet50, "ImageNet-1k", 224, 32, IMAGENET_NORMALIZATION),
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


class Backbone(Encoder):
    """A feature extractor: images ``[B, 3, H, W]`` -> features ``[B, feature_dim]``."""

    def __init__(self, name: str, network: nn.Module, feature_dim: int, image_size: int, pretrained: bool):
        super().__init__(name, network, feature_dim, pretrained)
        self.image_size = image_size


def build_backbone(name: str, weights: str | bool | None = "default", image_size: int | None = None) -> Backbone:
    """The backbone of a registered model, pretrained (``weights="default"``) or random (``weights=None``)."""
    entry = model_entry(name)
    size = check_image_size(entry.name, image_size or entry.default_image_size)
    pretrained = wants_pretrained(entry.display_name, entry.pretrained_on, weights)
    network, feature_dim = entry.build(pretrained, size)
    return Backbone(entry.name, network, feature_dim, size, pretrained)


def build_model(
    name: str,
    heads: int | Mapping[str, int] = 12,
    weights: str | bool | None = "default",
    freeze_backbone: bool = False,
    image_size: int | None = None,
    dropout: float = 0.0,
) -> Classifier:
    """A registered backbone with fresh linear head(s): ``heads=12`` -> logits; ``{"emotion": 6, ...}`` -> dict.

    ``freeze_backbone=True`` trains only the head(s) (the backbone stays in eval mode); ``False`` fine-tunes all.
    """
    model = Classifier(build_backbone(name, weights, image_size), heads, dropout)
    model.freeze_backbone(freeze_backbone)
    return model
