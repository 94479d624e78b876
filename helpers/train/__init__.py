"""Training: one experiment configuration family, one training loop and one runner for every approach.

- ``config``: ``ExperimentConfig``, what every approach shares, and the hooks an approach fills in
  (``helpers.approaches`` holds the approaches: single-task, multi-task, temporal); ``setting_types``: the
  settings read from files checked against the fields' type hints (``SettingError`` names the key);
- ``runner``: ``run_experiment`` (every fold of a configuration) and ``run_fold`` (seed, model, fit, test,
  artifacts, kept weights, clean-up: the same for every approach);
- ``loop``: ``TrainConfig`` and ``fit``/``predict`` on Accelerate (CPU, one GPU with mixed precision, or
  several); ``checkpoints``: what a resumed run reads; ``tasks``: how a batch becomes a loss;
- ``folds``: the videos of one fold; ``crops``, ``datasets``, ``transforms``, ``loaders``: the packed crops
  as frames or clips, on the device, in batches; ``features``: cached features of a frozen CNN;
- ``budget``: what a grid writes, beside the free space; ``estimate``: how long it trains, measured on a few
  steps (``estimate_grid_time``); ``plan``: a notebook's grid from its pending folds and its data to every
  fold trained (``plan_grid``, ``run_grid``).

Command line (any approach; the file's ``approach`` key picks it)::

    python -m helpers.train --config experiment.json     # or .yaml, or a grid file of helpers/grids/
    torchrun --standalone --nproc_per_node 2 -m helpers.train --config experiment.json   # 2 GPUs
"""

from helpers.train.budget import Budget, BudgetError, ModelSize, grid_items
from helpers.train.checkpoints import (BEST_WEIGHTS, LAST_CHECKPOINT, CheckpointMismatchError, DamagedCheckpointError,
                                      load_checkpoint)
from helpers.train.config import (
    WEIGHTS_CHOICES, ExperimentConfig, FoldOutcome, FoldSetup, keeps_weights, read_config_file, weights_choice,
)
from helpers.train.crops import (
    CONTEXT_PATH_COLUMN, CROP_PATH_COLUMN, attach_context_paths, attach_crop_paths, crop_statistics, packed_shape,
    select_frames, stage_locally,
)
from helpers.train.estimate import COLAB_SESSION_HOURS, GridTime, StepTiming, estimate_grid_time
from helpers.train.datasets import ClipDataset, FaceContextDataset, FeatureClipDataset, FrameDataset, onset_apex_segment
from helpers.train.features import cache_frame_features, feature_cache_dir
from helpers.train.geometry_inputs import (
    DescriptorDataset, DescriptorSettings, GeometryUnavailable, TrajectoryDataset, VideoGeometry, geometry_timing, has_partner,
    pair_geometry, video_geometry, with_geometry,
)
from helpers.train.folds import FoldData, fingerprint, fold_data, validation_subjects
from helpers.train.loaders import EpochShuffleSampler, default_workers, make_loader
from helpers.train.loop import (
    PRETRAINED_BACKBONE_SCALE, FitResult, TrainConfig, backbone_rate, build_optimizer, build_scheduler, fit,
    make_accelerator, predict, resolve_mixed_precision, seed_everything,
)
from helpers.train.plan import GridPlan, pending_folds, plan_grid, run_grid
from helpers.train.runner import (
    checkpoint_dir, ensure_crops, extraction_config, fit_and_test, latest_extraction, load_trained_model,
    model_weights_path, model_with_weights, other_settings, run_experiment, run_fold, with_extraction, write_fold,
)
from helpers.train.setting_types import SettingError
from helpers.train.tasks import (
    CLASS_INDEX, ClassificationTask, MultiTaskTask, StepResult, Task, combine_probabilities, head_metrics, pair_to_class,
)
from helpers.train.transforms import BatchTransform, IdentityTransform, normalization_stats, resize_uint8

__all__ = [
    "BEST_WEIGHTS", "CLASS_INDEX", "COLAB_SESSION_HOURS", "CONTEXT_PATH_COLUMN", "CROP_PATH_COLUMN", "LAST_CHECKPOINT", "PRETRAINED_BACKBONE_SCALE",
    "WEIGHTS_CHOICES",
    "BatchTransform", "Budget", "BudgetError", "CheckpointMismatchError", "ClassificationTask", "ClipDataset",
    "DamagedCheckpointError",
    "DescriptorDataset", "DescriptorSettings", "EpochShuffleSampler", "ExperimentConfig", "FaceContextDataset", "FeatureClipDataset",
    "FitResult", "FoldData", "FoldOutcome", "FoldSetup", "FrameDataset", "GeometryUnavailable", "GridPlan", "GridTime",
    "IdentityTransform", "ModelSize", "MultiTaskTask", "SettingError", "StepResult", "StepTiming", "Task", "TrainConfig",
    "TrajectoryDataset", "VideoGeometry", "attach_context_paths", "attach_crop_paths", "backbone_rate", "build_optimizer", "build_scheduler",
    "cache_frame_features", "checkpoint_dir", "combine_probabilities", "crop_statistics", "default_workers",
    "ensure_crops", "estimate_grid_time", "extraction_config", "feature_cache_dir", "fingerprint", "fit", "fit_and_test", "fold_data",
    "geometry_timing", "grid_items", "has_partner", "head_metrics", "keeps_weights", "latest_extraction",
    "load_checkpoint", "load_trained_model", "make_accelerator", "make_loader", "model_weights_path",
    "model_with_weights", "normalization_stats", "onset_apex_segment", "other_settings", "packed_shape",
    "pair_geometry", "pair_to_class", "pending_folds", "plan_grid", "predict", "read_config_file", "resize_uint8",
    "resolve_mixed_precision", "run_experiment", "run_fold", "run_grid", "seed_everything", "select_frames",
    "stage_locally",
    "validation_subjects", "video_geometry", "weights_choice", "with_extraction", "with_geometry", "write_fold",
]
