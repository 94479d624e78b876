"""Models: image backbones, clip encoders, heads, the multi-task designs, losses and loss weightings.

Every model is an **encoder** (features) plus linear **heads** (``heads``): one head gives logits, several
(emotion + authenticity) give a dict from the same features, so the encoder runs once per forward pass.

- ``backbones``: the registry of image backbones by name (``MODELS``: VGG16, ResNet50, EfficientNetV2-M,
  ViT-B/16, InceptionResNetV1, SE-ResNet50, ResNet18, a tiny SimpleCNN) and ``build_model`` (backbone +
  heads) for the frame models of 03 and 04;
- ``clips``: the clip models of 05 (CNN-RNNs on those backbones, 3D CNNs), ``build_temporal_model``;
- ``fusion``: the face + context fusion and the emotion -> authenticity cascade of 04;
- ``heads``: encoders, heads, the classifier, freezing a backbone;
- ``losses``: CE, focal, multi-label focal, Euclidean; ``weighting``: how several heads' losses combine;
- ``weights``: pretrained weights (whether a model wants them, where they are cached, the error without them).
"""

from helpers.models.backbones import (
    FACENET_NORMALIZATION, IMAGENET_NORMALIZATION, MODELS, THESIS_MODELS, Backbone, ModelEntry, SimpleCNN,
    build_backbone, build_model, check_image_size, model_entry,
)
from helpers.models.clips import (
    KINETICS_NORMALIZATION, PYTORCHVIDEO_NORMALIZATION, TEMPORAL_MODELS, THESIS_TEMPORAL_MODELS, FrameEncoder,
    RecurrentClassifier, Simple3DCNN, TemporalEntry, VideoEncoder, build_frame_encoder, build_temporal_model,
    install_pytorchvideo_shim, temporal_entry,
)
from helpers.models.fusion import (
    CONDITIONINGS, FUSIONS, VARIANTS, CascadeModel, FusionModel, build_cascade_model, build_fusion_model,
    build_shared_model,
)
from helpers.models.heads import (
    TWO_TASK_HEADS, Classifier, Encoder, FreezableBackbone, Heads, count_parameters, hidden_layer, linear_head,
)
from helpers.models.weights import (
    WeightsUnavailableError, download_failed, hub_cache_options, torchvision_state_dict, use_weights_cache,
    wants_pretrained,
)

__all__ = [
    "CONDITIONINGS", "FACENET_NORMALIZATION", "FUSIONS", "IMAGENET_NORMALIZATION", "KINETICS_NORMALIZATION",
    "MODELS", "PYTORCHVIDEO_NORMALIZATION", "TEMPORAL_MODELS", "THESIS_MODELS", "THESIS_TEMPORAL_MODELS",
    "TWO_TASK_HEADS", "VARIANTS", "Backbone", "CascadeModel", "Classifier", "Encoder", "FrameEncoder",
    "FreezableBackbone", "FusionModel", "Heads", "ModelEntry", "RecurrentClassifier", "Simple3DCNN", "SimpleCNN",
    "TemporalEntry", "VideoEncoder", "WeightsUnavailableError", "build_backbone", "build_cascade_model",
    "build_fusion_model", "build_frame_encoder", "build_model", "build_shared_model", "build_temporal_model",
    "check_image_size", "count_parameters", "download_failed", "hidden_layer", "hub_cache_options",
    "install_pytorchvideo_shim", "linear_head", "model_entry", "temporal_entry", "torchvision_state_dict",
    "use_weights_cache", "wants_pretrained",
]
