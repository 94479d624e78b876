"""Pretrained weights: whether a model wants them, where they are downloaded and cached, and the error when
they cannot be had.

Pretrained weights are downloaded on first use (Colab); ``weights=None`` builds the same architecture with
random weights (tests, CPU demos). ``use_weights_cache`` points every download (torchvision,
pytorchvideo, facenet through the torch hub folder; timm through the Hugging Face cache) at one folder, which
the notebooks put in the work directory so that a new Colab session does not download them again.
"""

from __future__ import annotations

import inspect
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import Tensor

_hub_cache: Path | None = None  # set by use_weights_cache: where timm's Hugging Face downloads go


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be downloaded or read."""


def download_failed(name: str, source: str, error: BaseException) -> WeightsUnavailableError:
    """The error for weights of ``name`` that could not be fetched from ``source``, saying what to do."""
    return WeightsUnavailableError(
        f"Could not download the pretrained weights of {name} ({source}): {type(error).__name__}: {error}. "
        "Pretrained weights are downloaded from the internet on first use, so run this where there is "
        "internet access (e.g. Google Colab), or put the file in the torch hub cache "
        f"({Path(torch.hub.get_dir()) / 'checkpoints'}); pass weights=None to train from scratch instead."
    )


def cached_weights_file_path(url: str) -> Path:
    """Where the file of ``url`` is kept in the torch hub cache: ``<hub>/checkpoints/<its name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def cached_weights_file(url: str) -> Path:
    """The file of ``url`` in the torch hub cache (``<hub>/checkpoints``), downloaded there first if missing,
    through torch.hub's own download (a temporary file renamed into place, checked against the hash prefix
    that torchvision's file names carry, e.g. ``resnet18-f37072fd.pth``)."""
    cached = cached_weights_file_path(url)
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        match = torch.hub.HASH_REGEX.search(cached.name)
        checked = {"hash_prefix": match.group(1)} if match else {}
        torch.hub.download_url_to_file(url, str(cached), progress=True, **checked)
    return cached


def load_weights_file(name: str, url: str) -> dict[str, Any]:
    """What the weights file of ``url`` holds (downloaded into the cache on first use), read with
    ``weights_only=True``: a cached file that would run code when unpickled (a tampered copy on a shared
    Drive) is refused, never executed."""
    try:
        path = cached_weights_file(url)
    except RuntimeError as error:
        if "invalid hash value" not in str(error):
            raise download_failed(name, url, error) from error
        raise WeightsUnavailableError(
            f"The download of {url} (the weights of {name}) does not match the sha256 prefix in its name, so it "
            f"was not kept ({error}): a download broken on the way, or a proxy answering for the server. Run it "
            f"again; if it fails again, put a good copy of the file in {cached_weights_file_path(url).parent}"
        ) from error
    except (OSError, ValueError) as error:  # URLError is an OSError
        raise download_failed(name, url, error) from error
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise WeightsUnavailableError(
            f"{path} holds more than weights (it would run code when loaded), so it was not loaded: delete it "
            f"to download the weights of {name} again ({url})") from error
    except (EOFError, OSError, RuntimeError, ValueError) as error:
        raise WeightsUnavailableError(
            f"{path} is damaged ({type(error).__name__}: {str(error)[:200]}): delete it to download the weights "
            f"of {name} again ({url})") from error


def torchvision_state_dict(name: str, weights: Any) -> dict[str, Tensor]:
    """The state dict of torchvision ``weights`` (an enum member), downloaded and hash-checked on first use,
    read without running pickled code (torchvision's own ``get_state_dict`` reads the cache unsafely)."""
    return load_weights_file(name, weights.url)


def wants_pretrained(display_name: str, pretrained_on: str | None, weights: str | bool | None) -> bool:
    """Interpret ``weights`` for a model pretrained on ``pretrained_on`` (None: it has no weights):
    ``"default"``/``True``/the dataset's name -> pretrained; ``None``/``"none"``/``False`` -> random init.
    Asking for weights a model does not have is an error."""
    if weights is None or weights is False or (isinstance(weights, str) and weights.lower() in ("none", "")):
        return False
    if pretrained_on is None:
        if weights in (True, "default"):
            return False  # nothing to load: "default" for a from-scratch model means random weights
        raise ValueError(f"{display_name} has no pretrained weights; use weights=None")
    if weights is True or str(weights).lower() in ("default", pretrained_on.lower(), "imagenet", "vggface2", "kinetics"):
        return True
    raise ValueError(f"unknown weights {weights!r} for {display_name}: use 'default' or None")


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
    folder; nothing before that call. A timm without ``cache_dir`` (older than 1.0.13, below the declared
    bound) reads the ``HF_HUB_CACHE`` variable instead, which works only if Hugging Face's hub is not imported yet."""
    if _hub_cache is None:
        return {}
    if "cache_dir" in inspect.signature(create).parameters:
        return {"cache_dir": str(_hub_cache)}
    os.environ.setdefault("HF_HUB_CACHE", str(_hub_cache))
    return {}
