"""Facial activity descriptors + a Rank-SVM ensemble (notebook 05): the approach of the ChaLearn LAP 2017
winners NIT-OVGU (Saxen, Werner, Al-Hamadi 2017; tied first, 66.7 % of the challenge's 60 test videos).

Each video becomes one vector: its action-unit series over time summarised by 17 statistics of each
smoothed series and of its derivatives (``helpers.geometry``), and the emotion's one-hot code (the challenge
gave each test video's emotion). ``helpers.models.ranking`` fits the ensembles with scikit-learn on the
fold's training videos (the ``fit`` hook: no epochs, nothing to checkpoint); the one runner tests, scores
and saves it like every other model, so 06 compares it at video and paired level.

:data:`NIT_OVGU_REFERENCE` is the team's published configuration, as far as it can be had here: their seven
action units (as landmark proxies, or from py-feat's AU model with ``au_source``), the squared statistics,
libsvm's hinge-loss linear SVMs with an intercept and C = 1, 75 rankers on random halves of the pairs
combined by vote counts, and the model refitted on every training subject (validation subjects included)
for the test subjects, once chosen (the validation subjects are predicted by the fit without them). The
defaults are today's variant (12 proxies, mean score, squared hinge without intercept); both are in the
grids. Notebook 05 lists what still differs from the paper and why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from helpers import geometry, labels, profiles, results
from helpers.approaches.geometry_base import GeometryExperimentConfig
from helpers.data import protocols
from helpers.models import losses
from helpers.models.ranking import COMBINATIONS, SVM_LOSSES, RankerFit, RankSVMEnsemble, fit_ranker
from helpers.train import protocol_scoring
from helpers.train.config import FoldSetup
from helpers.train.folds import FoldData
from helpers.train.geometry_inputs import DescriptorDataset, DescriptorSettings
from helpers.train.loaders import make_loader
from helpers.train.loop import FitResult, TrainConfig
from helpers.train.tasks import ClassificationTask
from helpers.train.transforms import IdentityTransform

WEIGHTS_FILE = "descriptor_weights.csv"
#: NIT-OVGU's configuration (Saxen et al. 2017 and their code, fsaxen/NIT-ICCV17Challenge).
NIT_OVGU_REFERENCE: dict[str, Any] = {"C": 1.0, "n_models": 75, "svm_loss": "hinge", "intercept": True,
                                      "combination": "votes", "action_units": "nit_ovgu", "squared_terms": True,
                                      "refit_on_validation": True}
#: The settings added after the first runs, at the values those runs had: left out of a run's identity at
#: these values, so earlier runs keep their folders.
LATER_SETTINGS: dict[str, Any] = {"svm_loss": "squared_hinge", "intercept": False, "combination": "mean",
                                  "action_units": "proxies", "squared_terms": False, "au_source": "landmarks",
                                  "refit_on_validation": False, "landmark_frames": "kept"}


@dataclass
class DescriptorConfig(GeometryExperimentConfig):
    """One cross-validated Rank-SVM experiment: ``C`` of the linear SVMs and the size of the ensembles."""

    APPROACH = "descriptors"
    DISPLAY_NAME = "activity descriptors + Rank-SVM (05)"
    NOTEBOOK = "05_temporal"
    PREDICTION_UNIT = "video"
    model: str = "rank_svm"
    batch_size: int = 256  # videos per prediction batch
    n_models: int = 75  # models per ensemble, each on a random half of the pairs (or videos)
    C: float = 0.1  # the linear SVMs' regularisation (smaller: simpler weights)
    svm_loss: str = "squared_hinge"  # or "hinge" (with intercept: libsvm's SVC, as NIT-OVGU)
    intercept: bool = False  # the rankers' intercept (the plain SVMs always have one)
    combination: str = "mean"  # how the rankers decide a pair: "mean" score or "votes" (NIT-OVGU)
    action_units: str = "proxies"  # the descriptors' columns: every proxy, or "nit_ovgu" (AU1, 2, 4, 6, 9, 12, 25)
    squared_terms: bool = False  # add the squares of 11 statistics of each smoothed series (NIT-OVGU)
    au_source: str = "landmarks"  # the series: landmark proxies, "py-feat" (its AU model) or "module:factory"
    refit_on_validation: bool = False  # refit on train + validation subjects for the test subjects
    # the landmarks' frames: 02's kept frames, or "whole_video" (every frame at the video's own rate: needs
    # the extraction setting whole_video_landmarks)
    landmark_frames: str = "kept"

    def __post_init__(self):
        super().__post_init__()
        if self.model != "rank_svm":
            raise ValueError(f"the descriptors approach fits model 'rank_svm', got {self.model!r}")
        if self.n_models < 1 or self.C <= 0:
            raise ValueError(f"n_models must be >= 1 and C > 0, got {self.n_models} and {self.C}")
        for name, allowed in (("svm_loss", SVM_LOSSES), ("combination", COMBINATIONS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if not self.descriptor_settings.columns:  # DescriptorSettings refuses unknown sets, sources and frames
            raise ValueError(f"the AU source {self.au_source!r} gives none of the {self.action_units!r} columns")

    @property
    def descriptor_settings(self) -> DescriptorSettings:
        return DescriptorSettings(self.action_units, self.squared_terms, self.au_source, self.landmark_frames)

    @property
    def run_name(self) -> str:
        if self.name:
            return self.name
        reference = all(getattr(self, key) == value for key, value in NIT_OVGU_REFERENCE.items()
                        if key not in ("C", "n_models"))
        parts = [f"rank_svm-C{self.C:g}", *([f"{self.n_models}models"] if self.n_models != 75 else [])]
        parts += ["nit_ovgu"] if reference else [
            *([self.svm_loss] if self.svm_loss != "squared_hinge" else []),
            *(["intercept"] if self.intercept else []), *(["votes"] if self.combination == "votes" else []),
            *([f"{self.action_units}_aus"] if self.action_units != "proxies" else []),
            *(["squared"] if self.squared_terms else []), *(["refit"] if self.refit_on_validation else [])]
        source = self.au_source.rsplit(":", 1)[-1].replace(".", "-").replace("_", "-")
        return "-".join(parts + ([source] if self.au_source != "landmarks" else [])
                        + (["whole_video"] if self.landmark_frames == "whole_video" else []))

    def to_dict(self) -> dict[str, Any]:
        values = super().to_dict()
        for key, default in LATER_SETTINGS.items():
            if values.get(key) == default:
                del values[key]
        return values

    def build_model(self, untrained: bool = False) -> nn.Module:
        return RankSVMEnsemble(len(self.descriptor_settings.names), self.n_models)

    def prepare(self, model: nn.Module, fold: FoldData, paths: profiles.RunPaths) -> FoldSetup:
        started = time.perf_counter()
        sets = {part: DescriptorDataset(getattr(fold, part), self.descriptor_settings,
                                        self.pairs_found(getattr(fold, part), paths, part))
                for part in ("train", "val", "test")}
        print(f"activity descriptors of {sum(len(s) for s in sets.values())} videos: "
              f"{time.perf_counter() - started:.1f} s")
        loss = losses.build_loss(self.loss, **self.loss_params)
        task = ClassificationTask(loss, "authenticity", input_key="features")
        loader = {part: make_loader(data, self.batch_size, False, workers=self.workers) for part, data in sets.items()}
        return FoldSetup(task, (loader["train"], loader["val"] if len(sets["val"]) else None, loader["test"],
                                sets["test"]), IdentityTransform())

    def pairs_found(self, videos: pd.DataFrame, paths: profiles.RunPaths, part: str) -> pd.DataFrame | None:
        """Under a protocol with a fixed test set, the validation and test videos are paired as the challenge's
        winners paired them, by face identity, never by subject; None (pairs by subject) otherwise."""
        if part == "train" or self.protocol == protocols.DEFAULT_PROTOCOL:
            return None
        return protocol_scoring.pairs_of(self.protocol, self.extraction, videos, paths.work, part)

    def fit(self, model: nn.Module, task: Any, train_loader: Any, val_loader: Any, train: TrainConfig,
            checkpoints: Path, accelerator: Any) -> FitResult:
        """scikit-learn's solvers on the training videos; the history's one row says how it went."""
        videos: DescriptorDataset = train_loader.dataset
        fitted, fit = self.fit_ensembles([videos], train.seed)
        model.load_state_dict(fitted.state_dict())
        row = {"epoch": 1, "train_pairs": fit.pairs, "train_oob_paired_accuracy": fit.oob_paired_accuracy,
               "train_oob_coverage": fit.oob_coverage}
        if val_loader is None or not len(val_loader.dataset):
            return FitResult(model, pd.DataFrame([row]), None, False, 0, monitor="none")
        row.update(_loss_and_accuracy(model, task, val_loader.dataset, "val"))
        if not self.refit_on_validation:
            return FitResult(model, pd.DataFrame([row]), None, False, 0, monitor="none")
        # chosen on the validation subjects by the fit without them; the test subjects get the fit on all
        refitted, refit = self.fit_ensembles([videos, val_loader.dataset], train.seed)
        row.update({"refit_pairs": refit.pairs, "refit_videos": len(videos) + len(val_loader.dataset)})
        return FitResult(refitted, pd.DataFrame([row]), None, False, 0, monitor="none", validation_model=model)

    def fit_ensembles(self, parts: list[DescriptorDataset], seed: int) -> tuple[RankSVMEnsemble, RankerFit]:
        """The ensembles fitted on the videos of ``parts`` (the training videos, or those and the validation's)."""
        targets = np.concatenate([part.targets for part in parts])
        subjects = np.concatenate([part.videos["ranking_group"].astype(str).to_numpy() for part in parts])
        return fit_ranker(np.concatenate([part.descriptors for part in parts]), subjects, targets[:, 1],
                          targets[:, 2] == labels.AUTHENTICITY.index("genuine"), self.n_models, self.C, seed,
                          self.svm_loss, self.intercept, self.combination, len(geometry.EMOTION_DESCRIPTOR_NAMES))

    def fold_metrics(self, outcome, model: nn.Module) -> dict[str, Any]:
        history = outcome.fitted.history.iloc[0]
        return {**super().fold_metrics(outcome, model), "C": self.C, "n_models": self.n_models,
                "svm_loss": self.svm_loss, "intercept": self.intercept, "combination": self.combination,
                "action_units": self.action_units, "squared_terms": self.squared_terms, "au_source": self.au_source,
                "refit_on_validation": self.refit_on_validation, "landmark_frames": self.landmark_frames,
                "train_pairs": int(history["train_pairs"]),
                "train_oob_paired_accuracy": float(history["train_oob_paired_accuracy"]),
                "test_partnered": int(outcome.test_videos["partnered"].sum()),
                **({"refit_pairs": int(history["refit_pairs"])} if "refit_pairs" in history else {})}

    def fold_files(self, outcome) -> dict[str, pd.DataFrame]:
        return {WEIGHTS_FILE: descriptor_weights(outcome.fitted.model, self.descriptor_settings.names)}

    def describe(self) -> dict[str, Any]:
        return {"run": self.run_name, "model": "Rank-SVM ensemble on activity descriptors", "C": self.C,
                "models per ensemble": self.n_models, "SVM": f"{self.svm_loss}" + (" + intercept" if self.intercept else ""),
                "combination": self.combination, "action units": self.action_units, "source": self.au_source,
                "descriptors": len(self.descriptor_settings.names), "refit on validation": self.refit_on_validation,
                "landmark frames": self.landmark_frames,
                "folds": len(self.folds) if self.folds is not None else "all"}


def _loss_and_accuracy(model: nn.Module, task: ClassificationTask, videos: DescriptorDataset, part: str
                       ) -> dict[str, float]:
    with torch.no_grad():
        batch = {"features": videos.inputs, "authenticity": torch.tensor(videos.targets[:, 2])}
        result = task.step(model, batch, training=False)
    accuracy = task.epoch_metrics({name: value.numpy() for name, value in result.outputs.items()})["accuracy"]
    return {f"{part}_loss": float(result.loss), f"{part}_accuracy": accuracy}


def descriptor_weights(model: RankSVMEnsemble, names: tuple[str, ...] = geometry.DESCRIPTOR_NAMES) -> pd.DataFrame:
    """The Rank-SVMs' weight of every descriptor (``names``) on standardised inputs: ``descriptor``, ``weight``
    (mean over the ensemble), ``weight_std`` and ``sign_agreement`` (share of models agreeing with the mean's
    sign)."""
    weights = model.rank_weights.numpy()
    mean = weights.mean(axis=0)
    agreement = (np.sign(weights) == np.sign(mean)).mean(axis=0)
    return pd.DataFrame({"descriptor": list(names), "weight": mean,
                         "weight_std": weights.std(axis=0), "sign_agreement": agreement})


def mean_descriptor_weights(runs) -> pd.DataFrame:
    """The descriptor weights of a configuration's folds (``WEIGHTS_FILE`` of each run), averaged:
    ``descriptor, weight`` (mean over folds), ``weight_std`` (std over folds) and ``folds``."""
    tables = [results.read_table(run.folder, WEIGHTS_FILE) for run in runs if (Path(run.folder) / WEIGHTS_FILE).exists()]
    if not tables:
        raise FileNotFoundError(f"no {WEIGHTS_FILE} in the runs given: fit the descriptors approach first")
    stacked = pd.concat(tables, ignore_index=True)
    table = stacked.groupby("descriptor", sort=False)["weight"].agg(["mean", "std", "size"]).reset_index()
    return table.rename(columns={"mean": "weight", "std": "weight_std", "size": "folds"}).fillna({"weight_std": 0.0})
