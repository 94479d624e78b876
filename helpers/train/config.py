"""The experiment configuration every approach shares, and the hooks an approach fills in.

An experiment is one model, trained and tested on every fold of the subject-independent split. What every
approach shares (which model, its weights, the batch size, the folds, where results go, the training
settings of ``TrainConfig`` ...) is a field of ``ExperimentConfig``; an approach (``helpers.approaches``)
subclasses it with its own fields and fills in the hooks that differ:

- ``build_model(untrained)``: its model (``untrained=True``: random weights, nothing downloaded);
- ``prepare(model, fold, paths)``: the task and the loaders of one fold (``FoldSetup``);
- ``fit(...)``: how the model learns from the fold's training loader: the project's training loop by default
  (``helpers.train.loop.fit``); a model fitted otherwise (e.g. scikit-learn's solvers) says so here;
- ``fold_metrics(outcome, model)``: what it adds to a fold's ``metrics.json``;
- ``fold_files(outcome)``: extra artifacts of a fold (e.g. attention weights), written before ``metrics.json``;
- ``fold_data`` and ``fold_table`` when it needs more than the defaults.

``helpers.train.runner`` does the rest the same way for every approach: seeds, checkpoints and resumes,
tests, writes the artifacts, keeps weights as ``save_weights`` says, cleans up.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import yaml
from torch import nn

from helpers import frames, profiles, results
from helpers.data import protocols
from helpers.metrics import evaluate
from helpers.models import losses, model_entry
from helpers.train.folds import FoldData, fold_data
from helpers.train.loop import FitResult, TrainConfig, backbone_rate, fit
from helpers.train.setting_types import (
    SettingError, check_at_least, check_fields, dataclass_from_dict, field_types, typed_value,
)

WEIGHTS_CHOICES = ("all", "first", "none")
#: Settings that decide where a run goes, how fast it runs or what it keeps, not what it learns: left out of
#: its identity (changing them never makes other results).
NOT_IDENTITY = frozenset({"profile", "approach", "name", "work_dir", "results_dir", "workers", "folds",
                          "keep_checkpoints", "save_weights", "eval_batch_size"})
# how fast it trains (the memory layout, compilation), not what it learns: the same results up to rounding
NOT_IDENTITY_TRAIN = frozenset({"progress", "verbose", "channels_last", "compile"})
IDENTITY_LENGTH = 6  # hex digits of the settings' hash in a run folder's name


def identity_hash(identity: Mapping[str, Any]) -> str:
    """A short, stable hash of a run's identity (its settings that change the result)."""
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:IDENTITY_LENGTH]


def setting_differences(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``["train.epochs: 1 / 5", ...]``: the settings whose values differ between two identities."""
    differences = []
    for key in sorted(set(a) | set(b)):
        left, right = a.get(key), b.get(key)
        if isinstance(left, Mapping) and isinstance(right, Mapping):
            differences += setting_differences(left, right, f"{prefix}{key}.")
        elif left != right:
            differences.append(f"{prefix}{key}: {left!r} / {right!r}")
    return differences


def weights_choice(value: str | bool) -> str:
    """``save_weights`` as one of ``WEIGHTS_CHOICES`` (``True`` and ``False`` mean ``all`` and ``none``)."""
    if isinstance(value, bool):
        return "all" if value else "none"
    if value not in WEIGHTS_CHOICES:
        raise ValueError(f"save_weights must be one of {', '.join(WEIGHTS_CHOICES)} (or true/false), got {value!r}")
    return value


def keeps_weights(save_weights: str, folds: Sequence[int] | None, fold: int) -> bool:
    """Whether the final weights of ``fold`` are kept: every fold (``all``), the lowest of ``folds``
    (``first``; fold 0 when ``folds`` is None, i.e. every fold) or none."""
    if save_weights == "all":
        return True
    if save_weights == "first":
        return int(fold) == min(int(f) for f in folds) if folds else int(fold) == 0
    return False


@dataclass
class FoldSetup:
    """What ``prepare`` hands the runner: the task, the loaders ``(train, val, test, test_set)`` and the
    batch transform whose normalisation the run records (and that rebuilding the model for inference needs)."""

    task: Any
    loaders: tuple
    preprocess: nn.Module


@dataclass
class FoldOutcome:
    """A trained and tested fold: the fit, the raw test outputs, the test videos, their predictions table and
    its metrics."""

    fitted: FitResult
    outputs: dict[str, np.ndarray]
    test_videos: pd.DataFrame
    predictions: pd.DataFrame
    metrics: dict[str, Any]
    val_predictions: pd.DataFrame | None = None  # of the validation subjects: what selection may look at


@dataclass
class ExperimentConfig(abc.ABC):
    """One cross-validated experiment; JSON/YAML files for ``python -m helpers.train --config`` hold these keys
    (``train`` holds ``TrainConfig``'s) plus the approach's own."""

    # What the rest of the project knows of an approach, read through helpers.approaches' registry:
    APPROACH: ClassVar[str] = ""  # the name of the approach (results/<profile>/<approach>/..., experiment files)
    DISPLAY_NAME: ClassVar[str] = ""  # how tables and messages name it, e.g. "single-task (03)"
    NOTEBOOK: ClassVar[str] = ""  # the notebook that trains it, e.g. "03_single_task" (notebooks/<NOTEBOOK>.ipynb)
    #: what one row of its predictions scores: "frame", "clip" or "video" (a whole video at once: no timeline)
    PREDICTION_UNIT: ClassVar[str] = "frame"
    #: settings added after runs were made without them, with the value those runs had: left out of the identity
    #: at that value, so the earlier runs keep their ids (a subclass adds its own: ``{**Parent.ADDED_SETTINGS, ...}``)
    ADDED_SETTINGS: ClassVar[Mapping[str, Any]] = {"protocol": protocols.DEFAULT_PROTOCOL}

    profile: str = "smoke"
    approach: str = ""  # defaults to the subclass' APPROACH
    name: str | None = None  # run folder name; default: the approach's own (model, loss, ...)
    model: str = "simple_cnn"
    loss: str = "cross_entropy"
    loss_params: dict[str, Any] = field(default_factory=dict)
    weights: str | None = "default"  # "default": pretrained where the model has weights; None: from scratch
    freeze_backbone: bool = False
    dropout: float = 0.0
    image_size: int | None = None  # None: the model's default input size
    normalization: str | dict[str, list[float]] = "auto"  # auto | dataset | imagenet | model | {mean, std}
    augment: bool = False  # the thesis found augmentation hurt on SASE-FE
    batch_size: int = 32
    eval_batch_size: int | None = None  # None: 2 x batch_size
    workers: int | None = None  # loader processes; None: helpers.train.loaders.default_workers()
    val_fraction: float = 0.15  # share of the training subjects held out for early stopping / LR schedule
    folds: list[int] | None = None  # None: every fold
    crop_kind: str = "face"  # face | context
    extraction: dict[str, Any] | None = None  # helpers.frames.ExtractionConfig settings; None: see ensure_crops
    keep_checkpoints: bool = False  # delete a fold's checkpoints once its artifacts are written
    # keep the final weights (half precision, runner.model_weights_path) of "all" folds, of the "first" fold only
    # (the lowest fold number of `folds`) or of "none"; 06 scores new videos with 03's, 05 plots with its first fold's
    save_weights: str | bool = "all"  # true / false: "all" / "none"
    work_dir: str | None = None
    results_dir: str | None = None
    # which videos train, choose and test (helpers.data.protocols): kfold | chalearn2017 | fixed
    protocol: str = protocols.DEFAULT_PROTOCOL
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        if not self.approach:
            self.approach = self.APPROACH
        if self.approach != self.APPROACH:
            raise ValueError(f"a {type(self).__name__} is a {self.APPROACH!r} experiment, not {self.approach!r}: "
                             "load the file with helpers.approaches.load_config, which picks the class")
        check_fields(self)  # every field as its type hint says (train: a TrainConfig), naming a wrong one's key
        check_at_least(self, {"batch_size": 1, "eval_batch_size": 1, "workers": 0, "image_size": 1})
        if self.folds is not None and (not self.folds or min(self.folds) < 0):
            raise SettingError(f"folds must list fold numbers (0, 1, ...) or be null for every fold, got {self.folds}")
        if not 0 <= self.val_fraction < 1:
            raise SettingError(f"val_fraction must be at least 0 and below 1, got {self.val_fraction}")
        if self.extraction is not None:
            check_extraction(self.extraction)
        if self.protocol not in protocols.PROTOCOLS:
            raise SettingError(f"protocol must be one of {', '.join(protocols.PROTOCOLS)}, got {self.protocol!r}")
        self.save_weights = weights_choice(self.save_weights)

    # ------------------------------------------------------------------ naming and sizes

    @property
    def run_name(self) -> str:
        return self.name or f"{self.model}-{losses.canonical_name(self.loss)}"

    def identity(self) -> dict[str, Any]:
        """Every setting that changes what a run learns (and so its results): everything but ``NOT_IDENTITY``.
        The crops it trains on count too: ``extraction`` is set to the extraction actually used before a run
        (``helpers.train.runner.with_extraction``)."""
        values = {key: value for key, value in self.to_dict().items() if key not in NOT_IDENTITY
                  and not (key in self.ADDED_SETTINGS and value == self.ADDED_SETTINGS[key])}
        values["train"] = {key: value for key, value in values["train"].items() if key not in NOT_IDENTITY_TRAIN}
        return values

    @property
    def run_id(self) -> str:
        """The run's folder name: its readable name and a hash of its identity (``resnet18-focal-3fa2c1``), so that
        results, checkpoints and weights made under other settings are never taken for this run's."""
        return f"{self.run_name}-{identity_hash(self.identity())}"

    @property
    def input_size(self) -> int:
        """The model's input side in pixels: ``image_size``, else the model's default."""
        return self.image_size or model_entry(self.model).default_image_size

    @property
    def prediction_target(self) -> str:
        """What the predictions files hold probabilities of (12 classes unless the approach says otherwise)."""
        return "label"

    # ------------------------------------------------------------------ the hooks of an approach

    @abc.abstractmethod
    def build_model(self, untrained: bool = False) -> nn.Module:
        """The model to train (``untrained``: the same architecture with random weights, nothing downloaded)."""

    @abc.abstractmethod
    def prepare(self, model: nn.Module, fold: FoldData, paths: profiles.RunPaths) -> FoldSetup:
        """The task and loaders of one fold (and anything the fold needs first, e.g. cached features)."""

    def fit(self, model: nn.Module, task: Any, train_loader: Any, val_loader: Any, train: TrainConfig,
            checkpoints: Path, accelerator: Any) -> FitResult:
        """Train ``model`` on the fold's training loader (validation: ``val_loader``, or None): the training loop
        (epochs, checkpoints and resumes, early stopping on ``train.monitor`` or the task's own monitor)."""
        return fit(model, task, train_loader, val_loader, train, checkpoints, accelerator=accelerator)

    def fold_data(self, index: pd.DataFrame, splits: pd.DataFrame, fold: int, crops_dir: Path | str) -> FoldData:
        """The videos of one fold: train / validation / test tables with their crop files."""
        return fold_data(index, splits, fold, crops_dir, self.val_fraction, self.train.seed, self.crop_kind)

    def fold_metrics(self, outcome: FoldOutcome, model: nn.Module) -> dict[str, Any]:
        """What a fold's ``metrics.json`` records beside the shared metrics: what ran."""
        return {"run": self.run_name, "run_id": self.run_id, "approach": self.approach, "model": self.model,
                "loss": losses.canonical_name(self.loss), "pretrained": bool(model.pretrained),
                "image_size": self.input_size, "backbone_lr": self.backbone_lr_used(model)}

    def backbone_lr_used(self, model: nn.Module) -> float | None:
        """The learning rate the backbone trained at (None without a backbone, or with a frozen one)."""
        backbone = getattr(model, "backbone", None)
        trains = backbone is not None and any(p.requires_grad for p in backbone.parameters())
        return backbone_rate(model, self.train) if trains else None

    def fold_files(self, outcome: FoldOutcome) -> dict[str, pd.DataFrame]:
        """Extra tables written into the fold's folder (before ``metrics.json``, which marks it complete)."""
        return {}

    @classmethod
    def fold_table(cls, runs: Sequence[results.RunArtifacts]) -> pd.DataFrame:
        """One row per finished fold (``folds.csv``): ``helpers.metrics.evaluate.fold_table`` by default."""
        return evaluate.fold_table(runs)

    def describe(self) -> dict[str, Any]:
        """One readable row for the grid table of a notebook."""
        return {"run": self.run_name, "model": self.model, "loss": losses.display_name(self.loss),
                "weights": self.weights or "random", "image size": self.input_size, "epochs": self.train.epochs,
                "folds": len(self.folds) if self.folds is not None else "all"}

    # ------------------------------------------------------------------ files

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ExperimentConfig:
        if not isinstance(values, Mapping):
            raise SettingError(f"an experiment's settings are a mapping ({{name: value}}), got {values!r}")
        return dataclass_from_dict(cls, {**values, "train": values.get("train") or {}})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_extraction(settings: Mapping[str, Any]) -> None:
    """Refuse ``extraction`` settings that ``helpers.frames.ExtractionConfig`` would not take (unknown keys, wrong
    types, values out of range), naming the key, before any data is prepared. The settings are kept as given
    (they are part of the run's identity)."""
    types = field_types(frames.ExtractionConfig)
    unknown = set(settings) - set(types)
    if unknown:
        raise SettingError(f"unknown extraction key(s): {', '.join(sorted(map(str, unknown)))}; "
                           f"known: {', '.join(sorted(types))}")
    typed = {key: typed_value(value, types[key], f"extraction.{key}") for key, value in settings.items()}
    try:
        frames.ExtractionConfig(**typed)
    except ValueError as error:
        raise SettingError(f"extraction: {error}") from None


def read_config_file(path: Path | str) -> dict[str, Any]:
    """The values of an experiment or grid file: ``.json``, or ``.yaml``/``.yml``."""
    path = Path(path)
    text = path.read_text()
    try:
        content = (yaml.safe_load(text) if path.suffix.lower() in (".yaml", ".yml") else json.loads(text)) or {}
    except (yaml.YAMLError, ValueError) as error:
        raise SettingError(f"{path} is not valid {path.suffix.lstrip('.').upper() or 'JSON'}: {error}") from None
    if not isinstance(content, Mapping):
        raise SettingError(f"{path} must hold a mapping of settings ({{name: value}}), not a {type(content).__name__}")
    return dict(content)


@contextlib.contextmanager
def naming_file(path: Path | str, note: str = ""):
    """Errors in the settings read from ``path`` name it (``experiments/x.json: train.epochs must ...``)."""
    try:
        yield
    except ValueError as error:
        if str(error).startswith(str(path)):
            raise
        raise SettingError(f"{path}{note}: {error}") from error
