"""A stand-in for the pretrained-weight hubs, for tests and the rehearsal (never for real use).

A local HTTP server serves files of the names and formats the hubs serve, made from the untrained models
(random weights, the real shapes): torchvision's ImageNet ResNet18 (download.pytorch.org), facenet-pytorch's
VGGFace2 InceptionResnetV1 (a GitHub release) and pytorchvideo's Kinetics X3D-S (dl.fbaipublicfiles.com, in
pySlowFast's checkpoint format). A urllib handler sends requests for those hosts to the server, so torch.hub's
download, the hash check, the cache in the work directory and the ``weights_only=True`` load run unchanged;
the server counts the requests, so a second session can be shown not to download again.

torchvision's file names carry the first 8 hex digits of the file's sha256 (``resnet18-f37072fd.pth``), which
the download checks. A file made here cannot match the real name, so it is served under its own hash's name,
and torchvision's URL is renamed to it in the processes that use the stand-in (``rename_torchvision_urls``).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import json
import os
import shutil
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

HUB_HOSTS = ("download.pytorch.org", "github.com", "dl.fbaipublicfiles.com")
HUGGING_FACE = "huggingface.co"  # reached through HF_ENDPOINT, which Hugging Face's hub reads when imported
ENVIRONMENT_VARIABLE = "GENUINE_POSED_FAKE_HUB"  # the address of a running HubServer
MANIFEST = "hub.json"  # written by build_hub, served (uncounted) to the processes that use the stand-in
RECIPE_VERSION = 1
MODELS = ("resnet18", "inception_resnet_v1", "x3d_s")


def _torchvision_file(name: str) -> tuple[str, dict]:
    from torchvision import models

    return models.get_model_weights(name).DEFAULT.url, getattr(models, name)(weights=None).state_dict()


def _facenet_file() -> tuple[str, dict]:
    from facenet_pytorch.models.inception_resnet_v1 import InceptionResnetV1

    from helpers.models.backbones import FACENET_VGGFACE2_URL

    # as released: the 8631 identities' classifier of VGGFace2 included
    return FACENET_VGGFACE2_URL, InceptionResnetV1(pretrained=None, classify=True, num_classes=8631).state_dict()


def _pytorchvideo_file(name: str) -> tuple[str, dict]:
    import torch

    from helpers.models.clips import install_pytorchvideo_shim

    install_pytorchvideo_shim()
    from pytorchvideo.models import hub

    network = getattr(hub, name)(pretrained=False)
    module = sys.modules[getattr(hub, name).__module__]
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-5)
    for parameter in network.parameters():
        parameter.grad = torch.zeros_like(parameter)
    optimizer.step()  # momentum buffers, as a checkpoint saved during training holds them
    # pySlowFast's save_checkpoint, which wrote the zoo's .pyth files: the configuration is a YAML string
    return module.checkpoint_paths[name], {
        "epoch": 300, "model_state": network.state_dict(), "optimizer_state": optimizer.state_dict(),
        "cfg": "MODEL:\n  ARCH: x3d\n  NUM_CLASSES: 400\nTRAIN:\n  DATASET: kinetics\n",
    }


def _timm_file(name: str) -> tuple[str, dict]:
    import timm

    repository = timm.models.get_pretrained_cfg(name).hf_hub_id  # e.g. timm/seresnet50.a1_in1k
    return (f"https://{HUGGING_FACE}/{repository}/resolve/main/model.safetensors",
            timm.create_model(name, pretrained=False).state_dict())


MAKERS: dict[str, Callable[[], tuple[str, dict]]] = {
    "resnet18": lambda: _torchvision_file("resnet18"),
    "inception_resnet_v1": _facenet_file,
    "x3d_s": lambda: _pytorchvideo_file("x3d_s"),
    "seresnet50": lambda: _timm_file("seresnet50"),  # not in the rehearsal's grids: for the tests
}


def local_path(folder: Path, url: str) -> Path:
    """Where the file of ``url`` lies in the stand-in's folder: ``<folder>/<host>/<path>``."""
    parts = urlsplit(url)
    return folder / parts.hostname / parts.path.lstrip("/")


def build_hub(folder: Path | str, models: tuple[str, ...] = MODELS) -> dict:
    """Make the served files of ``models`` in ``folder`` (once; reused while the recipe is the same).
    Returns the manifest: per model its ``url`` (as the code asks for it) and ``real_url`` (the hub's)."""
    import torch

    folder = Path(folder)
    manifest_path = folder / MANIFEST
    recipe = {"recipe": RECIPE_VERSION, "torch": torch.__version__.split("+")[0], "models": list(models)}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("recipe") == recipe and all(local_path(folder, m["url"]).is_file()
                                                    for m in manifest["files"].values()):
            return manifest
    shutil.rmtree(folder, ignore_errors=True)
    files = {}
    for name in models:
        torch.manual_seed(0)
        real_url, content = MAKERS[name]()
        path = local_path(folder, real_url)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".safetensors":  # as timm's weights are on the Hugging Face hub
            from safetensors.torch import save_file

            save_file({key: value.contiguous() for key, value in content.items()}, path, metadata={"format": "pt"})
        else:
            torch.save(content, path)
        url = real_url
        if torch.hub.HASH_REGEX.search(path.name):  # torchvision: name the file after its own hash
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
            url = real_url.replace(torch.hub.HASH_REGEX.search(path.name).group(1), digest)
            path.rename(local_path(folder, url))
        files[name] = {"url": url, "real_url": real_url}
    manifest = {"recipe": recipe, "files": files}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


class HubServer:
    """Serves ``folder`` on localhost (``<address>/<host>/<path>``) and counts the downloads (GET) by path;
    ``checks`` counts the HEAD requests with which Hugging Face's hub asks whether a cached file is current."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder).resolve()
        self.requests: Counter[str] = Counter()
        self.checks: Counter[str] = Counter()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self, counter: Counter[str]) -> Path | None:
                name = unquote(urlsplit(self.path).path).lstrip("/")
                if name != MANIFEST:
                    with server._lock:
                        counter[name] += 1
                path = (server.folder / name).resolve()
                if not path.is_relative_to(server.folder) or not path.is_file():
                    self.send_error(404, "Not Found")
                    return None
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(path.stat().st_size))
                if name.startswith(f"{HUGGING_FACE}/"):  # what Hugging Face's hub reads to name its cached blob
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                    self.send_header("ETag", f'"{digest}"')
                    self.send_header("X-Repo-Commit", hashlib.sha1(name.encode()).hexdigest())
                self.end_headers()
                return path

            def do_HEAD(self) -> None:  # noqa: N802  (http.server's name)
                self.answer(server.checks)

            def do_GET(self) -> None:  # noqa: N802
                path = self.answer(server.requests)
                if path is not None:
                    with path.open("rb") as handle:
                        shutil.copyfileobj(handle, self.wfile)

            def log_message(self, *args) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.requests)


def new_requests(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The requests counted in ``after`` but not yet in ``before`` (two ``HubServer.counts``), by path."""
    return {path: count - before.get(path, 0) for path, count in after.items() if count > before.get(path, 0)}


class ToStandIn(urllib.request.BaseHandler):
    """Sends ``https`` requests for the hubs' hosts to the stand-in server; other hosts are untouched."""

    handler_order = 100  # before urllib's own HTTPSHandler

    def __init__(self, address: str):
        self.address = address
        self.plain = urllib.request.build_opener()

    def https_open(self, request: urllib.request.Request):
        parts = urlsplit(request.full_url)
        if parts.hostname not in HUB_HOSTS:
            return None
        local = urllib.request.Request(f"{self.address}/{parts.hostname}{parts.path}",
                                       headers=dict(request.header_items()))
        return self.plain.open(local, timeout=request.timeout)


def stand_in_opener(address: str) -> urllib.request.OpenerDirector:
    """An opener for ``urllib.request.install_opener`` (torch.hub downloads through ``urlopen``)."""
    return urllib.request.build_opener(ToStandIn(address))


def rename_torchvision_urls(manifest: dict) -> None:
    """Point torchvision's weights at the stand-in's files (named after their own hash)."""
    from torchvision import models

    for name, entry in manifest["files"].items():
        if name in models.list_models():
            for member in models.get_model_weights(name):
                if member.value.url == entry["real_url"]:
                    member.value.url = entry["url"]


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``then`` once ``module`` has been imported (without importing it first: that costs seconds)."""

    def __init__(self, module: str, then: Callable[[], None]):
        self.module, self.then = module, then

    def find_spec(self, fullname, path, target=None):
        if fullname != self.module:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        run, then = spec.loader.exec_module, self.then

        def exec_module(module):
            run(module)
            then()

        spec.loader.exec_module = exec_module
        return spec


def install_from_environment() -> None:
    """In a process started with ``GENUINE_POSED_FAKE_HUB`` (the rehearsal's kernels): downloads from the hubs
    come from the stand-in server at that address, torchvision's URLs name its files."""
    address = os.environ[ENVIRONMENT_VARIABLE]
    os.environ["HF_ENDPOINT"] = f"{address}/{HUGGING_FACE}"  # before Hugging Face's hub is imported
    with urllib.request.urlopen(f"{address}/{MANIFEST}", timeout=30) as answer:
        manifest = json.load(answer)
    urllib.request.install_opener(stand_in_opener(address))
    if "torchvision.models" in sys.modules:
        rename_torchvision_urls(manifest)
    else:
        sys.meta_path.insert(0, _AfterImport("torchvision.models", lambda: rename_torchvision_urls(manifest)))
