"""Model builders: every registered backbone builds with random weights, heads and freezing behave, and a
failed weight download says what to do."""

import urllib.error

import pytest
import torch

from helpers import models

# the smallest size each model accepts keeps these CPU tests quick
SMALL_SIZES = {"vgg16": 32, "resnet50": 32, "efficientnet_v2_m": 32, "vit_b_16": 32, "inception_resnet_v1": 80,
               "resnet18": 32, "simple_cnn": 32, "seresnet50": 32}


def test_registry_has_the_thesis_models_and_small_ones():
    # SE-ResNet50: the per-frame CNN of the thesis' SENet50-LSTM (05), in the one registry of image backbones
    assert set(models.THESIS_MODELS) | {"resnet18", "simple_cnn", "seresnet50"} == set(models.MODELS)
    assert set(SMALL_SIZES) == set(models.MODELS)


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name == "efficientnet_v2_m" else name
                                  for name in models.MODELS])  # the largest build: left out of `make test-fast`
def test_every_model_builds_without_weights_and_classifies(name):
    size = SMALL_SIZES[name]
    model = models.build_model(name, heads=12, weights=None, image_size=size).eval()
    images = torch.rand(2, 3, size, size)
    with torch.no_grad():
        features = model.features(images)
        logits = model(images)
    assert features.shape == (2, model.feature_dim)
    assert logits.shape == (2, 12)
    assert not model.backbone.pretrained


def test_feature_dimensions_follow_the_architecture():
    assert models.build_backbone("resnet18", weights=None).feature_dim == 512
    assert models.build_backbone("simple_cnn", weights=None).feature_dim == 256


def test_the_same_backbone_takes_several_input_sizes():
    model = models.build_model("resnet18", weights=None).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64)).shape == model(torch.rand(1, 3, 96, 80)).shape == (1, 12)


def test_image_size_rules():
    with pytest.raises(ValueError, match="multiple of 16"):
        models.build_backbone("vit_b_16", weights=None, image_size=100)
    with pytest.raises(ValueError, match="at least 80"):
        models.build_backbone("inception_resnet_v1", weights=None, image_size=64)
    with pytest.raises(ValueError, match="resnet50"):
        models.build_backbone("resnet5O", weights=None)


def test_frozen_backbone_trains_only_the_head():
    model = models.build_model("simple_cnn", heads=3, weights=None, freeze_backbone=True)
    model.train()
    assert not model.backbone.training and model.head.training
    assert models.count_parameters(model, trainable_only=True) == 256 * 3 + 3
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = torch.nn.functional.cross_entropy(model(torch.rand(4, 3, 32, 32)), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    optimizer.step()
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"head.heads.logits.1.weight", "head.heads.logits.1.bias"}, "batch-norm statistics of a frozen backbone must not move"
    model.freeze_backbone(False)
    model.train()
    assert model.backbone.training and models.count_parameters(model, True) == models.count_parameters(model)


def test_multi_head_runs_the_backbone_once():
    backbone = models.build_backbone("simple_cnn", weights=None)
    model = models.Classifier(backbone, {"emotion": 6, "authenticity": 2})
    calls = []
    backbone.register_forward_hook(lambda *args: calls.append(1))
    out = model(torch.rand(3, 3, 32, 32))
    assert out["emotion"].shape == (3, 6) and out["authenticity"].shape == (3, 2)
    assert len(calls) == 1


def test_failed_download_says_what_to_do(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(models.WeightsUnavailableError) as error:
        models.build_model("resnet18", weights="default")
    message = str(error.value)
    assert "resnet18" in message and "internet" in message and "Colab" in message and "weights=None" in message


def test_facenet_download_failure_is_explained(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(models.WeightsUnavailableError, match="vggface2.*weights=None"):
        models.build_backbone("inception_resnet_v1", weights="vggface2")


def test_vit_pretrained_weights_are_interpolated_to_other_sizes(monkeypatch, tmp_path):
    """Stand-in for the ImageNet download: a 224-px ViT state dict; the builder must adapt it to 112 px."""
    from torchvision.models import vit_b_16

    reference = vit_b_16(weights=None).state_dict()
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda url, path, **kw: torch.save(reference, path))
    backbone = models.build_backbone("vit_b_16", weights="default", image_size=112)
    assert backbone.pretrained
    state = backbone.network.state_dict()
    assert state["encoder.pos_embedding"].shape == (1, 7 * 7 + 1, 768)
    assert torch.equal(state["encoder.layers.encoder_layer_0.mlp.0.weight"],
                       reference["encoder.layers.encoder_layer_0.mlp.0.weight"])
    with torch.no_grad():
        assert backbone.eval()(torch.rand(1, 3, 112, 112)).shape == (1, 768)


class RunsCodeWhenUnpickled:
    """What a tampered weights file holds: unpickling it calls ``Path.touch`` on a file (any code could run)."""

    def __init__(self, witness):
        self.witness = str(witness)

    def __reduce__(self):
        import pathlib

        return pathlib.Path.touch, (pathlib.Path(self.witness),)


def test_a_tampered_cached_weights_file_is_refused_and_never_runs(monkeypatch, tmp_path):
    """torchvision's get_state_dict unpickles the cache with weights_only=False: a planted file ran its code."""
    from torchvision.models import ResNet18_Weights

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    cached = tmp_path / "hub" / "checkpoints" / ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[1]
    cached.parent.mkdir(parents=True)
    witness = tmp_path / "code-ran"
    torch.save({"fc.weight": torch.zeros(1), "payload": RunsCodeWhenUnpickled(witness)}, cached)
    with pytest.raises(models.WeightsUnavailableError, match="would run code.*delete it"):
        models.build_model("resnet18", weights="default")
    assert not witness.exists(), "the tampered file's code ran"


@pytest.mark.parametrize("variant", ["x3d_s"])
def test_pytorchvideo_weights_are_read_from_the_cache_without_running_code(monkeypatch, tmp_path, variant):
    """pytorchvideo's hub loads its checkpoints with weights_only=False; they are read here instead."""
    models.install_pytorchvideo_shim()
    from pytorchvideo.models import hub

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    witness = tmp_path / "code-ran"
    downloads = []

    def download(url, path, **kwargs):  # a Kinetics checkpoint as pytorchvideo's zoo stores it
        downloads.append(url)
        torch.save({"model_state": getattr(hub, variant)(pretrained=False).state_dict()}, path)

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    models.build_temporal_model(variant, 12, weights="default")
    assert downloads and downloads[0].endswith(".pyth")
    cached = next((tmp_path / "hub" / "checkpoints").iterdir())
    torch.save({"model_state": {}, "payload": RunsCodeWhenUnpickled(witness)}, cached)
    with pytest.raises(models.WeightsUnavailableError, match="would run code"):
        models.build_temporal_model(variant, 12, weights="default")
    assert not witness.exists()


def wants_pretrained(name: str, weights) -> bool:
    entry = models.model_entry(name)
    return models.wants_pretrained(entry.display_name, entry.pretrained_on, weights)


def test_weights_argument():
    assert not wants_pretrained("resnet50", None)
    assert not wants_pretrained("resnet50", "none")
    assert wants_pretrained("resnet50", "default")
    assert wants_pretrained("inception_resnet_v1", "vggface2")
    assert not wants_pretrained("simple_cnn", "default")
    with pytest.raises(ValueError):
        wants_pretrained("resnet50", "imagenet22k")


def test_pretrained_weights_are_cached_in_the_given_folder(tmp_path, monkeypatch):
    """Colab forgets ~/.cache between sessions; the work directory (on Drive) keeps the downloads."""
    import timm
    import torch

    from helpers.models import weights as pretrained_weights

    monkeypatch.setattr(pretrained_weights, "_hub_cache", None)
    assert models.hub_cache_options(timm.create_model) == {}
    previous = torch.hub.get_dir()
    try:
        models.use_weights_cache(tmp_path / "pretrained")
        assert torch.hub.get_dir() == str(tmp_path / "pretrained" / "torch")
        assert models.hub_cache_options(timm.create_model) == {"cache_dir": str(tmp_path / "pretrained" / "huggingface")}
        asked = []

        def offline(url, destination, progress=True):
            asked.append(destination)
            raise OSError("no internet here")

        monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
        with pytest.raises(models.WeightsUnavailableError, match="no internet here"):
            models.build_backbone("inception_resnet_v1", "default")
        assert asked and asked[0].startswith(str(tmp_path / "pretrained" / "torch" / "checkpoints"))
    finally:
        torch.hub.set_dir(previous)


@pytest.mark.slow  # seconds of real work: make test runs it, make test-fast does not
def test_importing_the_helpers_leaves_the_hugging_face_hub_unimported():
    """An older timm (< 1.0.13) reads the weights folder from HF_HUB_CACHE, which the hub takes in only when it is
    first imported: importing the package must not import timm (and with it the hub) before use_weights_cache."""
    import subprocess
    import sys

    code = ("import sys, helpers, helpers.train, helpers.models, helpers.approaches; "
            "print('timm' in sys.modules, 'huggingface_hub' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
