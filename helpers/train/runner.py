"""The one runner of cross-validated experiments, for every approach.

``run_experiment(config)`` trains and tests every fold of one configuration (skipping folds whose artifacts
exist), ``run_fold`` does one fold: seed, build the model (the approach's ``build_model``), the fold's task
and loaders (its ``prepare``), ``fit_and_test``, then the artifacts every approach writes the same way
(``write_fold``): ``results/<profile>/<approach>/<run>/fold_<k>/`` with metrics, history, predictions,
config and environment, the fold's weights as ``save_weights`` says, its checkpoints deleted unless kept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pickle
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from accelerate import Accelerator
from torch import nn

from helpers import data, frames, profiles, results, storage
from helpers.data import protocols
from helpers.metrics import evaluate
from helpers.train.config import ExperimentConfig, FoldOutcome, FoldSetup, keeps_weights, setting_differences
from helpers.train.folds import FoldData, fingerprint
from helpers.train.checkpoints import EPOCH_LOG
from helpers.train.loop import FitResult, TrainConfig, fit, make_accelerator, predict, seed_everything
from helpers.train import protocol_scoring
from helpers.train.processes import on_main_process, printing_once
from helpers.train.tasks import Task

#: how long training waits for another process's extraction of its crops (then it is refused, told who extracts)
EXTRACTION_WAIT_S = 6 * 3600


def fit_and_test(model: nn.Module, task: Task, loaders: tuple, fold: FoldData, config: TrainConfig,
                 checkpoints: Path, accelerator: Accelerator, target: str = "label",
                 fitter: Callable[..., FitResult] = fit) -> FoldOutcome:
    """Train on ``loaders``' train and validation parts (with ``fitter``: the training loop unless the approach
    fits its model otherwise), predict the test part, score it at frame and video level, and add the
    bookkeeping every approach records (epochs, timing, the subjects of each part)."""
    train_loader, val_loader, test_loader, test_set = loaders
    started = time.perf_counter()
    fitted = fitter(model, task, train_loader, val_loader, config, checkpoints, accelerator=accelerator)
    train_seconds = time.perf_counter() - started
    outputs = predict(fitted.model, task, test_loader, accelerator)
    predictions = evaluate.predictions_table(outputs, test_set.videos, target)
    metrics = evaluate.evaluate_predictions(predictions, target)
    val_predictions = None
    if val_loader is not None:  # what a configuration is chosen on: never the test subjects
        val_model = fitted.validation_model if fitted.validation_model is not None else fitted.model
        val_outputs = predict(val_model, task, val_loader, accelerator)
        val_predictions = evaluate.predictions_table(val_outputs, val_loader.dataset.videos, target)
        metrics["validation"] = evaluate.selection_row(evaluate.evaluate_predictions(val_predictions, target))
    metrics.update({
        "fold": fold.fold, "best_epoch": fitted.best_epoch, "epochs_run": int(len(fitted.history)),
        "stopped_early": fitted.stopped_early, "train_seconds": train_seconds,
        "resumed_from_epoch": fitted.resumed_from,
        "subjects": {part: sorted(getattr(fold, part)["subject"].astype(str).unique())
                     for part in ("train", "val", "test")}, "monitor": fitted.monitor,
    })
    return FoldOutcome(fitted, outputs, test_set.videos, predictions, metrics, val_predictions)


def run_fold(config: ExperimentConfig, fold: FoldData, paths: profiles.RunPaths,
             accelerator: Accelerator | None = None) -> dict:
    """Train and test one fold of any approach; write its artifacts; return its metrics."""
    seed_everything(config.train.seed)  # the heads' initial weights depend only on the seed
    model = config.build_model()
    setup = config.prepare(model, fold, paths)
    checkpoints = checkpoint_dir(paths, config, fold.fold)
    accelerator = accelerator or make_accelerator(config.train)
    outcome = fit_and_test(model, setup.task, setup.loaders, fold, config.train, checkpoints, accelerator,
                           config.prediction_target, fitter=config.fit)
    outcome.metrics.update(config.fold_metrics(outcome, model))
    if accelerator.is_main_process:  # pairs found once, by the process that writes the fold
        outcome.metrics.update(protocol_scoring.protocol_fold_metrics(
            config.protocol, config.extraction, outcome.predictions, outcome.test_videos, config.prediction_target,
            paths.work))
    if accelerator.is_main_process:
        write_fold(config, fold, paths, outcome, setup, accelerator)
        if not config.keep_checkpoints:
            shutil.rmtree(checkpoints, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.free_memory()  # drop Accelerate's references to this fold's model, optimizer and loaders
    return outcome.metrics


def write_fold(config: ExperimentConfig, fold: FoldData, paths: profiles.RunPaths, outcome: FoldOutcome,
               setup: FoldSetup, accelerator: Accelerator) -> Path:
    """The artifacts of a finished fold, the kept weights included, then its completion marker (last)."""
    run_config = {**config.to_dict(), "fold": fold.fold, "run": config.run_name, "run_id": config.run_id,
                  "identity": config.identity(), "target": config.prediction_target,
                  "loss": outcome.metrics["loss"], "image_size": outcome.metrics.get("image_size")}
    if hasattr(setup.preprocess, "mean"):  # image models: the normalisation that rebuilding the model needs
        run_config["normalization_stats"] = {"mean": setup.preprocess.mean.flatten().tolist(),
                                             "std": setup.preprocess.std.flatten().tolist()}
    env = results.environment(config.profile, fingerprint(fold), mixed_precision=accelerator.mixed_precision,
                              processes=accelerator.num_processes, channels_last=outcome.fitted.channels_last,
                              compiled=outcome.fitted.compiled)
    folder = results.run_dir(paths.results, config.approach, config.run_id, fold.fold)
    files = dict(config.fold_files(outcome))
    if outcome.val_predictions is not None:
        files[results.VALIDATION_FILE] = outcome.val_predictions
    epoch_log = checkpoint_dir(paths, config, fold.fold) / EPOCH_LOG
    if epoch_log.exists():  # the full epoch log beside history.csv (the page shows one line per fold)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(epoch_log, folder / EPOCH_LOG)
    kept = kept_weights_path(paths, config, fold.fold)
    weights = (kept, outcome.fitted.model) if kept is not None else None
    if kept is None:  # weights of an earlier training of this fold would be taken for this one's
        model_weights_path(paths, config.approach, config.run_id, fold.fold).unlink(missing_ok=True)
    results.write_run(folder, outcome.metrics, outcome.fitted.history, outcome.predictions, run_config, env,
                      tables=files, weights=weights)
    return folder


def fold_line(metrics: dict, folder: Path) -> str:
    """How a trained fold ends its one line on the page: epochs, the best one, time, where its epoch log is."""
    best = f", best epoch {metrics['best_epoch']}" if metrics.get("best_epoch") else ""
    stopped = " (stopped early)" if metrics.get("stopped_early") else ""
    return (f"{metrics.get('epochs_run', 0)} epoch(s){stopped}{best}, {metrics.get('train_seconds', 0):.0f} s; "
            f"epoch log: {folder.parent.name}/{folder.name}/{EPOCH_LOG}")


def checkpoint_dir(paths: profiles.RunPaths, config: ExperimentConfig, fold: int) -> Path:
    """``<work>/<profile>/checkpoints/<approach>/<run id>/fold_<k>``: bulky, so in the work dir, not in results;
    named by the run's identity, so a checkpoint made under other settings is never resumed."""
    return paths.checkpoints / config.approach / config.run_id / results.fold_dir_name(fold)


def model_weights_path(paths: profiles.RunPaths, approach: str, run: str, fold: int) -> Path:
    """``<work>/<profile>/models/<approach>/<run id>/fold_<k>.pt``: the final weights of a trained fold, in half
    precision (in the work dir like the checkpoints: too bulky for results/, but on Drive on Colab, so they
    survive)."""
    return paths.work / "models" / approach / run / f"{results.fold_dir_name(fold)}.pt"


def kept_weights_path(paths: profiles.RunPaths, config: ExperimentConfig, fold: int) -> Path | None:
    """Where ``config`` keeps the weights of ``fold`` (None when it keeps none of this fold)."""
    if not keeps_weights(config.save_weights, config.folds, fold):
        return None
    return model_weights_path(paths, config.approach, config.run_id, fold)


def load_trained_model(config: ExperimentConfig, fold: int, paths: profiles.RunPaths | None = None
                       ) -> nn.Module | None:
    """The model of a trained fold (the architecture with random weights + the kept weights), or None when
    its weights were not kept."""
    paths = paths or profiles.paths_for(config.profile, config.work_dir, config.results_dir)
    path = model_weights_path(paths, config.approach, config.run_id, fold)
    if results.kept_weights(results.run_dir(paths.results, config.approach, config.run_id, fold)) is False:
        return None  # trained without keeping them: a file there is another training's
    return model_with_weights(config, path) if path.exists() else None


def model_with_weights(config: ExperimentConfig, weights: Path) -> nn.Module:
    """``config``'s architecture with random weights (nothing downloaded), then the kept ones, in eval mode."""
    model = config.build_model(untrained=True)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except (EOFError, OSError, RuntimeError, ValueError, pickle.UnpicklingError) as error:
        raise results.DamagedRunError(
            f"{weights} is damaged ({type(error).__name__}: {str(error)[:200]}): train its fold again with "
            "--force (run_experiment(..., force=True)), or delete it and run the training again") from error
    model.load_state_dict(state)
    return model.eval()


def latest_extraction(crops_root: Path | str) -> frames.ExtractionConfig | None:
    """The ``ExtractionConfig`` of the most recently finished extraction under ``crops_root`` (what notebook 02
    made), or None. Folders made by another version of ``helpers.frames`` are ignored."""
    finished = []
    for config_file in Path(crops_root).glob(f"*/{frames.CONFIG_FILE}"):
        summary = config_file.parent / frames.VIDEOS_FILE
        try:
            stored = frames.ExtractionConfig.from_dict(results.read_json(config_file)["config"])
        except (KeyError, TypeError, ValueError):
            continue
        if summary.exists() and stored.name == config_file.parent.name:
            finished.append((summary.stat().st_mtime, stored))
    return max(finished, key=lambda item: item[0])[1] if finished else None


def extraction_config(config: ExperimentConfig, crops_root: Path | str | None = None) -> frames.ExtractionConfig:
    """The ``ExtractionConfig`` whose crops ``config`` trains on: ``config.extraction`` when set, else the latest
    finished extraction under ``crops_root`` (02's), else the defaults of ``helpers.frames``."""
    if config.extraction is not None:
        return frames.ExtractionConfig.from_dict(config.extraction)
    return (latest_extraction(crops_root) if crops_root else None) or frames.ExtractionConfig()


def with_extraction(config: ExperimentConfig, crops_root: Path | str | None = None,
                    crops_dir: Path | str | None = None) -> ExperimentConfig:
    """``config`` with ``extraction`` set to the crops it trains on, so that they are part of its identity
    (crops of other settings make other results): its own setting, else the configuration of ``crops_dir``
    (a crops folder), else ``extraction_config`` under ``crops_root``. Unchanged when none is known."""
    if config.extraction is not None:
        return config
    stored = Path(crops_dir) / frames.CONFIG_FILE if crops_dir is not None else None
    if stored is not None:
        if not stored.exists():
            return config  # crops made outside helpers.frames (tests): nothing more to say about them
        settings = frames.ExtractionConfig.from_dict(results.read_json(stored)["config"])
    else:
        settings = extraction_config(config, crops_root)
    return dataclasses.replace(config, extraction=settings.to_dict())


def other_settings(paths: profiles.RunPaths, config: ExperimentConfig) -> list[str]:
    """Lines naming the runs of the same name made under other settings (kept, never reused) and how their
    settings differ from ``config``'s, e.g. ``.../resnet18-focal-1a2b3c: train.epochs: 1 / 5``."""
    lines = []
    for folder in sorted((paths.results / config.approach).glob(f"{config.run_name}-*")):
        stored = next(iter(sorted(folder.glob(f"fold_*/{results.CONFIG_FILE}"))), None)
        if folder.name == config.run_id or stored is None:
            continue
        try:
            settings = results.read_json(stored)
        except (OSError, ValueError) as error:  # cut by a kill or a full disk: that run is left out
            print(f"{config.run_name}: {stored} is unreadable ({type(error).__name__}: {error}), so the "
                  f"settings of {folder.name} are not compared; delete {folder} if it is not needed")
            continue
        identity = settings.get("identity") if isinstance(settings, dict) else None
        if identity is None or settings.get("run") != config.run_name:
            continue
        differences = setting_differences(identity, config.identity())
        lines.append(f"{folder}: {'; '.join(differences) or 'the same settings, another version'} (there / here)")
    return lines


def ensure_crops(dataset: data.Dataset, paths: profiles.RunPaths, config: ExperimentConfig, workers: int = 1,
                 progress: bool = True) -> Path:
    """The folder of the face crops to train on (see ``extraction_config``), extracting whatever is missing
    first: a no-op, apart from reading the per-video summaries, when notebook 02 already did it."""
    settings = extraction_config(config, paths.crops)
    extraction = frames.extract_dataset(dataset.usable, paths.crops, settings, workers=workers,
                                        progress=progress, retry_errors=False, lock_wait_s=EXTRACTION_WAIT_S)
    if extraction.processed:
        print(extraction.summary())
    return extraction.root


@dataclass
class PreparedRun:
    """What a run trains on, prepared before its first fold: the dataset, the configuration with its crops'
    settings (``with_extraction``), its folds, the crops folder and, once the run holds its lock, why each
    fold is incomplete (``incomplete_reason``; None: complete)."""

    dataset: data.Dataset
    config: ExperimentConfig
    folds: list[int]
    crops_dir: Path | str | None
    missing: dict[int, str | None] = dataclasses.field(default_factory=dict)


def prepare_run(config: ExperimentConfig, paths: profiles.RunPaths, dataset: data.Dataset | None,
                crops_dir: Path | str | None) -> PreparedRun:
    """Get and validate the dataset (generated when synthetic and missing) as the configuration's protocol
    uses it (``helpers.data.protocols``) and decide the configuration (its crops' settings are part of its
    identity) and the folds to train (see ``run_experiment``)."""
    dataset = protocols.protocol_dataset(dataset or data.prepare_dataset(config.profile, paths), config.protocol,
                                         protocols.fixed_split_path(paths.splits))
    config = with_extraction(config, paths.crops, crops_dir)
    folds = [int(f) for f in (config.folds if config.folds is not None else sorted(dataset.splits["fold"].unique()))]
    if config.protocol != protocols.DEFAULT_PROTOCOL and folds != [protocols.PROTOCOL_FOLD]:
        raise ValueError(f"protocol {config.protocol!r} has one fold ({protocols.PROTOCOL_FOLD}), not {folds}: "
                         "set folds to null (or [0]) for it")
    return PreparedRun(dataset, config, folds, crops_dir)


def with_crops(prepared: PreparedRun, paths: profiles.RunPaths, force: bool) -> PreparedRun:
    """``prepared`` with why each fold is incomplete and, when a fold is to be trained, the crops extracted
    (done under the run's lock, so that two runs never decide on the same folds)."""
    missing = {fold: incomplete_reason(paths, prepared.config, fold) for fold in prepared.folds}
    crops_dir = prepared.crops_dir
    if crops_dir is None and (force or any(missing.values())):
        crops_dir = ensure_crops(prepared.dataset, paths, prepared.config)
    return dataclasses.replace(prepared, crops_dir=crops_dir, missing=missing)


def prepared_by_main_process(accelerator: Accelerator, prepare: Callable[[], PreparedRun]) -> PreparedRun:
    """``prepare()`` on the main process only, its result sent to the others, which wait for it (up to
    ``loop.PROCESS_GROUP_TIMEOUT``): several processes (``torchrun``) must not generate, validate and extract
    the same files at once (they crashed renaming each other's partial videos), and must all train on the
    same folds and crops. An error of ``prepare()`` is raised on every process."""
    return on_main_process(accelerator, prepare)


def incomplete_reason(paths: profiles.RunPaths, config: ExperimentConfig, fold: int) -> str | None:
    """Why ``fold`` of ``config`` is not complete (None when it is)."""
    folder = results.run_dir(paths.results, config.approach, config.run_id, fold)
    try:
        results.check_run(folder, kept_weights_path(paths, config, fold))
    except (FileNotFoundError, results.DamagedRunError) as error:
        return str(error)
    return None


@contextlib.contextmanager
def run_lock(paths: profiles.RunPaths, config: ExperimentConfig, accelerator: Accelerator) -> Iterator[None]:
    """One training of a configuration at a time: its results folder is locked by the main process (a second
    run is refused, told who runs it, on every process); the other processes of a distributed run share the
    lock."""
    folder = paths.results / config.approach / config.run_id
    lock = storage.FolderLock(folder, f"the training of {config.run_id}")

    def acquire() -> None:  # a refusal or any other error (a full disk) stops every process
        lock.acquire()

    on_main_process(accelerator, acquire)
    try:
        yield
    finally:
        lock.release()


def run_experiment(config: ExperimentConfig, dataset: data.Dataset | None = None, crops_dir: Path | str | None = None,
                   force: bool = False, accelerator: Accelerator | None = None) -> pd.DataFrame:
    """Every fold of ``config`` (a fold whose artifacts exist is skipped; with ``force`` it is retrained from
    scratch, while an unfinished fold resumes from its checkpoint); returns the fold table (the approach's
    ``fold_table``), also written as ``<results>/<profile>/<approach>/<run>/folds.csv``.

    ``dataset``: a ``helpers.data.Dataset`` (default: ``data.prepare_dataset(config.profile, ...)``);
    ``crops_dir``: the folder of the packed crops (default: extracted if needed by ``ensure_crops``). With
    several processes the main one prepares both while the others wait, and only the main one prints.
    """
    paths = profiles.paths_for(config.profile, config.work_dir, config.results_dir)
    accelerator = accelerator or make_accelerator(config.train)
    with printing_once(accelerator):
        prepared = prepared_by_main_process(accelerator, lambda: prepare_run(config, paths, dataset, crops_dir))
        with run_lock(paths, prepared.config, accelerator):
            prepared = prepared_by_main_process(accelerator, lambda: with_crops(prepared, paths, force))
            return train_folds(prepared, paths, force, accelerator)


def train_folds(prepared: PreparedRun, paths: profiles.RunPaths, force: bool, accelerator: Accelerator
                ) -> pd.DataFrame:
    """Train the prepared run's folds (skipping those whose artifacts exist unless ``force``); write and return
    the fold table."""
    config, folds = prepared.config, prepared.folds
    for line in other_settings(paths, config):
        accelerator.print(f"{config.run_name}: results under other settings are kept, not reused: {line}")
    for fold in folds:
        folder = results.run_dir(paths.results, config.approach, config.run_id, fold)
        if prepared.missing.get(fold) is None:
            if not force:
                accelerator.print(f"{config.run_id} fold {fold}: results exist in {profiles.display_path(folder)}, not retraining"
                                  f"{unkept_weights_note(paths, config, fold)}")
                continue
            shutil.rmtree(checkpoint_dir(paths, config, fold), ignore_errors=True)  # retrain from scratch
        elif folder.exists():
            accelerator.print(f"{config.run_id} fold {fold}: {prepared.missing[fold]}; training it again")
        accelerator.print(f"{config.run_id} fold {fold}: training", end="" if not config.train.verbose else "\n",
                          flush=True)
        metrics = run_fold(config, config.fold_data(prepared.dataset.index, prepared.dataset.splits, fold,
                                                    prepared.crops_dir), paths, accelerator)
        if not config.train.verbose:  # the rest of the fold's line: what the epoch log in its folder holds
            accelerator.print(" " + fold_line(metrics, folder))
    names = {results.fold_dir_name(fold) for fold in folds}  # other folds are not read (one may be damaged)
    runs = [results.load_run(f, predictions=False) for f in results.find_runs(paths.results, config.approach,
                                                                                 config.run_id) if f.name in names]
    table = config.fold_table([r for r in runs if int(r.config.get("fold", -1)) in folds])
    if accelerator.is_main_process:
        results.write_csv(paths.results / config.approach / config.run_id / "folds.csv", table)
    return table


def unkept_weights_note(paths: profiles.RunPaths, config: ExperimentConfig, fold: int) -> str:
    """What to say of a complete fold whose weights ``config`` would keep but its training did not (it ran
    under another ``save_weights`` or ``folds``): its results stand, its model cannot be rebuilt."""
    folder = results.run_dir(paths.results, config.approach, config.run_id, fold)
    if kept_weights_path(paths, config, fold) is None or results.kept_weights(folder) is not False:
        return ""
    return ("; its weights were not kept by the settings it was trained under (save_weights, folds), so "
            "load_trained_model gives None for it: train it again with --force (run_experiment(..., force=True)) "
            "to keep them")
