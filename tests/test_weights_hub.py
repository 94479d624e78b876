"""Pretrained weights through the stand-in hub (tools/rehearsal/fake_hub.py): downloaded once by torch.hub's own
code into the work directory's cache, read from there by a later session, refused with a clear error when the
download or the cached file is broken. Only the network is replaced."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import torch

from helpers import models

REPO = Path(__file__).resolve().parents[1]
REHEARSAL = REPO / "tools" / "rehearsal"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REHEARSAL / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


fake_hub = _load("fake_hub")


@pytest.fixture(scope="module")
def resnet_hub(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hub")
    return folder, fake_hub.build_hub(folder, ("resnet18",))


@pytest.fixture
def weights_cache(tmp_path):
    previous = torch.hub.get_dir()
    try:
        yield models.use_weights_cache(tmp_path / "pretrained")
    finally:
        torch.hub.set_dir(previous)


def use_stand_in(monkeypatch, server, manifest) -> None:
    """What the rehearsal's sitecustomize does in a kernel, undone after the test."""
    from torchvision import models as vision_models

    monkeypatch.setattr(urllib.request, "_opener", fake_hub.stand_in_opener(server.address))
    for name, entry in manifest["files"].items():
        if name in vision_models.list_models():
            for member in vision_models.get_model_weights(name):
                if member.value.url == entry["real_url"]:
                    monkeypatch.setattr(member.value, "url", entry["url"])


def served_path(manifest: dict, name: str) -> str:
    return fake_hub.local_path(Path("."), manifest["files"][name]["url"]).as_posix()


def test_served_torchvision_file_is_named_after_its_own_hash(resnet_hub):
    folder, manifest = resnet_hub
    entry = manifest["files"]["resnet18"]
    assert entry["real_url"].endswith("resnet18-f37072fd.pth") and entry["url"] != entry["real_url"]
    served = fake_hub.local_path(folder, entry["url"])
    import hashlib

    assert served.name == f"resnet18-{hashlib.sha256(served.read_bytes()).hexdigest()[:8]}.pth"
    state = torch.load(served, weights_only=True)
    from torchvision.models import resnet18

    assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in resnet18().state_dict().items()}


@pytest.mark.slow  # two interpreters importing torch: about 10 s idle
def test_a_second_session_reads_the_cache_instead_of_downloading(resnet_hub, tmp_path):
    """Two processes as the rehearsal's kernels start them (sitecustomize installs the stand-in): the first
    downloads into <work>/pretrained, the second finds the file there and asks the hub for nothing."""
    folder, manifest = resnet_hub
    code = ("import sys; from helpers import models; models.use_weights_cache(sys.argv[1]); "
            "b = models.build_backbone('resnet18', 'default'); print(b.pretrained)")
    with fake_hub.HubServer(folder) as server:
        environment = {**os.environ, fake_hub.ENVIRONMENT_VARIABLE: server.address,
                       "PYTHONPATH": os.pathsep.join([str(REHEARSAL), str(REPO)])}
        for session in (1, 2):
            done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "pretrained")], env=environment,
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr[-2000:]
            assert done.stdout.split()[-1] == "True"
            assert server.counts() == {served_path(manifest, "resnet18"): 1}, f"after session {session}"
    cached = tmp_path / "pretrained" / "torch" / "checkpoints" / Path(manifest["files"]["resnet18"]["url"]).name
    assert cached.read_bytes() == fake_hub.local_path(folder, manifest["files"]["resnet18"]["url"]).read_bytes()


def test_the_downloaded_weights_are_the_ones_loaded(resnet_hub, weights_cache, monkeypatch):
    folder, manifest = resnet_hub
    with fake_hub.HubServer(folder) as server:
        use_stand_in(monkeypatch, server, manifest)
        backbone = models.build_backbone("resnet18", "default")
        again = models.build_backbone("resnet18", "default")
        assert server.counts() == {served_path(manifest, "resnet18"): 1}
    served = torch.load(fake_hub.local_path(folder, manifest["files"]["resnet18"]["url"]), weights_only=True)
    for network in (backbone.network, again.network):
        assert torch.equal(network.state_dict()["layer4.1.conv2.weight"], served["layer4.1.conv2.weight"])
    assert models.model_entry("resnet18").normalization == models.IMAGENET_NORMALIZATION


def test_a_download_garbled_on_the_way_is_refused_and_not_kept(resnet_hub, weights_cache, monkeypatch, tmp_path):
    folder, manifest = resnet_hub
    garbled = tmp_path / "garbled-hub"
    served = fake_hub.local_path(garbled, manifest["files"]["resnet18"]["url"])
    served.parent.mkdir(parents=True)
    served.write_bytes(b"<html>a captive portal's login page</html>")
    (garbled / fake_hub.MANIFEST).write_text((folder / fake_hub.MANIFEST).read_text())
    with fake_hub.HubServer(garbled) as server:
        use_stand_in(monkeypatch, server, manifest)
        with pytest.raises(models.WeightsUnavailableError) as error:
            models.build_backbone("resnet18", "default")
    message = str(error.value)
    assert served.name in message and "sha256" in message and "Run it again" in message and "resnet18" in message
    assert not list((weights_cache / "torch" / "checkpoints").iterdir()), "a bad download stays out of the cache"


def test_a_damaged_cached_file_names_itself_and_is_downloaded_again_once_deleted(resnet_hub, weights_cache,
                                                                                monkeypatch):
    folder, manifest = resnet_hub
    with fake_hub.HubServer(folder) as server:
        use_stand_in(monkeypatch, server, manifest)
        models.build_backbone("resnet18", "default")
        cached = weights_cache / "torch" / "checkpoints" / Path(manifest["files"]["resnet18"]["url"]).name
        cached.write_bytes(cached.read_bytes()[:100_000])  # a copy to Drive cut short
        with pytest.raises(models.WeightsUnavailableError, match="damaged.*delete it") as error:
            models.build_backbone("resnet18", "default")
        assert str(cached) in str(error.value)
        cached.unlink()
        assert models.build_backbone("resnet18", "default").pretrained
        assert server.counts() == {served_path(manifest, "resnet18"): 2}


def test_facenet_and_pytorchvideo_files_in_their_hubs_formats_load_without_pickled_code(tmp_path, weights_cache,
                                                                                       monkeypatch):
    """VGGFace2's file holds the 8631-identity classifier (left out when loading); pytorchvideo's zoo files are
    pySlowFast checkpoints (epoch, model_state, optimizer_state, cfg as YAML text): weights_only=True reads them."""
    manifest = fake_hub.build_hub(tmp_path / "hub", ("inception_resnet_v1", "x3d_s"))
    checkpoint = torch.load(fake_hub.local_path(tmp_path / "hub", manifest["files"]["x3d_s"]["url"]),
                            weights_only=True)
    assert set(checkpoint) == {"epoch", "model_state", "optimizer_state", "cfg"}
    assert checkpoint["optimizer_state"]["state"], "momentum buffers, as saved during training"
    with fake_hub.HubServer(tmp_path / "hub") as server:
        use_stand_in(monkeypatch, server, manifest)
        face = models.build_backbone("inception_resnet_v1", "default", image_size=80)
        clips = models.build_temporal_model("x3d_s", 12, weights="default")
        assert set(server.counts().values()) == {1} and len(server.counts()) == 2
    assert face.pretrained and torch.equal(face.network.network.state_dict()["last_linear.weight"],
                                           torch.load(fake_hub.local_path(tmp_path / "hub", manifest["files"]
                                                      ["inception_resnet_v1"]["url"]),
                                                      weights_only=True)["last_linear.weight"])
    loaded = clips.backbone.network[0].state_dict()
    assert torch.equal(loaded["blocks.0.conv.conv_t.weight"], checkpoint["model_state"]["blocks.0.conv.conv_t.weight"])


@pytest.mark.slow  # two interpreters importing torch and timm
def test_timm_weights_come_through_the_hugging_face_cache_once(tmp_path):
    """timm's SE-ResNet50 from the Hugging Face hub (a safetensors file) into <work>/pretrained/huggingface: the
    second session downloads nothing; Hugging Face's hub only asks (HEAD) whether its cached file is current."""
    manifest = fake_hub.build_hub(tmp_path / "hub", ("seresnet50",))
    served = fake_hub.local_path(tmp_path / "hub", manifest["files"]["seresnet50"]["url"])
    from safetensors.torch import load_file

    expected = float(load_file(served)["layer4.2.conv3.weight"].double().sum())
    code = ("import sys; from helpers import models; models.use_weights_cache(sys.argv[1]); "
            "b = models.build_backbone('seresnet50', 'default', 32); "
            "print(b.pretrained, float(b.network.state_dict()['layer4.2.conv3.weight'].double().sum()))")
    with fake_hub.HubServer(tmp_path / "hub") as server:
        environment = {**os.environ, fake_hub.ENVIRONMENT_VARIABLE: server.address,
                       "PYTHONPATH": os.pathsep.join([str(REHEARSAL), str(REPO)])}
        environment.pop("HF_HUB_OFFLINE", None)
        for session in (1, 2):
            done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "pretrained")], env=environment,
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr[-2000:]
            pretrained, total = done.stdout.split()[-2:]
            assert pretrained == "True" and float(total) == pytest.approx(expected)
            # (Hugging Face's hub 2.x also asks its API for /api/agent-harnesses: a 404 here, not a download)
            assert server.counts()[served_path(manifest, "seresnet50")] == 1, f"after session {session}"
    assert server.checks[served_path(manifest, "seresnet50")] == 2
    assert list((tmp_path / "pretrained" / "huggingface").rglob("model.safetensors"))
