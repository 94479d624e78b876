"""Facial activity descriptors + a Rank-SVM ensemble (notebook 05): the approach of the ChaLearn LAP 2017
winners NIT-OVGU (Saxen, Werner, Al-Hamadi 2017; tied first, 66.7 % on the test pairs of SASE-FE).

Each video becomes one vector: its action-unit proxies over time (from 02's landmarks, ``helpers.geometry``)
summarised by about 17 statistics of each smoothed series and of its derivatives, and the emotion's one-hot
code (the challenge gave each test video's emotion). ``helpers.models.ranking`` fits the ensembles with
scikit-learn on the fold's training videos (the ``fit`` hook: no epochs, nothing to checkpoint); the one
runner tests, scores and saves it like every other model, so 06 compares it at video and paired level.

Where this differs from the paper: landmark proxies instead of OpenFace's AU intensities (OpenFace cannot be
installed here, nor on Colab without a build), the kept frames of 02 (10 per second on SASE-FE) instead of
all 100, and our folds (subject-independent, validation subjects held out) instead of the challenge's split.
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
from helpers.models import losses
from helpers.models.ranking import RankSVMEnsemble, fit_ranker
from helpers.train.config import ExperimentConfig, FoldSetup
from helpers.train.folds import FoldData
from helpers.train.geometry_inputs import DescriptorDataset
from helpers.train.loaders import make_loader
from helpers.train.loop import FitResult, TrainConfig
from helpers.train.tasks import ClassificationTask
from helpers.train.transforms import IdentityTransform

WEIGHTS_FILE = "descriptor_weights.csv"


@dataclass
class DescriptorConfig(ExperimentConfig):
    """One cross-validated Rank-SVM experiment: ``C`` of the linear SVMs and the size of the ensembles."""

    APPROACH = "descriptors"
    DISPLAY_NAME = "activity descriptors + Rank-SVM (05)"
    NOTEBOOK = "05_temporal"
    PREDICTION_UNIT = "video"
    model: str = "rank_svm"
    weights: str | None = None  # fitted from scratch on each fold: nothing pretrained
    batch_size: int = 256  # videos per prediction batch
    workers: int | None = 0  # the vectors are in memory: worker processes would only cost
    n_models: int = 75  # models per ensemble, each on a random half of the pairs (or videos)
    C: float = 0.1  # the linear SVMs' regularisation (smaller: simpler weights)

    def __post_init__(self):
        super().__post_init__()
        if self.model != "rank_svm":
            raise ValueError(f"the descriptors approach fits model 'rank_svm', got {self.model!r}")
        if self.n_models < 1 or self.C <= 0:
            raise ValueError(f"n_models must be >= 1 and C > 0, got {self.n_models} and {self.C}")

    @property
    def run_name(self) -> str:
        return self.name or f"rank_svm-C{self.C:g}" + (f"-{self.n_models}models" if self.n_models != 75 else "")

    @property
    def input_size(self) -> None:
        return None  # no images

    @property
    def prediction_target(self) -> str:
        return "authenticity"

    def build_model(self, untrained: bool = False) -> nn.Module:
        return RankSVMEnsemble(len(geometry.DESCRIPTOR_NAMES), self.n_models)

    def prepare(self, model: nn.Module, fold: FoldData, paths: profiles.RunPaths) -> FoldSetup:
        started = time.perf_counter()
        sets = {part: DescriptorDataset(getattr(fold, part)) for part in ("train", "val", "test")}
        print(f"activity descriptors of {sum(len(s) for s in sets.values())} videos: "
              f"{time.perf_counter() - started:.1f} s")
        loss = losses.build_loss(self.loss, **self.loss_params)
        task = ClassificationTask(loss, "authenticity", input_key="features")
        loader = {part: make_loader(data, self.batch_size, False, workers=self.workers) for part, data in sets.items()}
        return FoldSetup(task, (loader["train"], loader["val"] if len(sets["val"]) else None, loader["test"],
                                sets["test"]), IdentityTransform())

    def fit(self, model: nn.Module, task: Any, train_loader: Any, val_loader: Any, train: TrainConfig,
            checkpoints: Path, accelerator: Any) -> FitResult:
        """scikit-learn's solvers on the training videos; the history's one row says how it went."""
        videos: DescriptorDataset = train_loader.dataset
        emotions = videos.targets[:, 1]
        fitted, fit = fit_ranker(videos.descriptors, videos.videos["subject"].astype(str).to_numpy(), emotions,
                                 videos.targets[:, 2] == labels.AUTHENTICITY.index("genuine"), self.n_models,
                                 self.C, train.seed)
        model.load_state_dict(fitted.state_dict())
        row = {"epoch": 1, "train_pairs": fit.pairs, "train_oob_paired_accuracy": fit.oob_paired_accuracy,
               "train_oob_coverage": fit.oob_coverage}
        if val_loader is not None:
            row.update(_loss_and_accuracy(model, task, val_loader.dataset, "val"))
        return FitResult(model, pd.DataFrame([row]), None, False, 0, monitor="none")

    def fold_metrics(self, outcome, model: nn.Module) -> dict[str, Any]:
        history = outcome.fitted.history.iloc[0]
        return {**super().fold_metrics(outcome, model), "C": self.C, "n_models": self.n_models,
                "train_pairs": int(history["train_pairs"]),
                "train_oob_paired_accuracy": float(history["train_oob_paired_accuracy"])}

    def fold_files(self, outcome) -> dict[str, pd.DataFrame]:
        return {WEIGHTS_FILE: descriptor_weights(outcome.fitted.model)}

    def describe(self) -> dict[str, Any]:
        return {"run": self.run_name, "model": "Rank-SVM ensemble on activity descriptors", "C": self.C,
                "models per ensemble": self.n_models, "descriptors": len(geometry.DESCRIPTOR_NAMES),
                "folds": len(self.folds) if self.folds is not None else "all"}


def _loss_and_accuracy(model: nn.Module, task: ClassificationTask, videos: DescriptorDataset, part: str
                       ) -> dict[str, float]:
    with torch.no_grad():
        batch = {"features": videos.inputs, "authenticity": torch.tensor(videos.targets[:, 2])}
        result = task.step(model, batch, training=False)
    accuracy = task.epoch_metrics({name: value.numpy() for name, value in result.outputs.items()})["accuracy"]
    return {f"{part}_loss": float(result.loss), f"{part}_accuracy": accuracy}


def descriptor_weights(model: RankSVMEnsemble) -> pd.DataFrame:
    """The Rank-SVMs' weight of every descriptor on standardised inputs: ``descriptor``, ``weight`` (mean over
    the ensemble), ``weight_std`` and ``sign_agreement`` (share of models agreeing with the mean's sign)."""
    weights = model.rank_weights.numpy()
    mean = weights.mean(axis=0)
    agreement = (np.sign(weights) == np.sign(mean)).mean(axis=0)
    return pd.DataFrame({"descriptor": list(geometry.DESCRIPTOR_NAMES), "weight": mean,
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
