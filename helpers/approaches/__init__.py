"""The approaches: what differs between single-task (03), multi-task (04), temporal (05: clips, and facial
geometry over time) experiments.

An approach is one module with a subclass of ``helpers.train.ExperimentConfig``: its own settings (as
dataclass fields) and the hooks that differ (``build_model``, ``prepare`` for the task and loaders of a
fold, and, if it needs them, ``fold_metrics``, ``fold_files``, ``fold_data``, ``fold_table``, ``describe``).
The one runner (``helpers.train.run_experiment``) does everything else the same way for every approach.
To add one: write its module, add its class to ``registry.APPROACHES``, and a grid file per profile under
``helpers/grids/<profile>/<approach>.yaml``; ``python -m helpers.train --config FILE`` then runs it.

- ``single_task``, ``multitask``, ``temporal`` (clips of face crops), ``descriptors`` (activity descriptors +
  Rank-SVM ensemble, fitted by scikit-learn through the ``fit`` hook), ``trajectories`` (landmark sequences +
  a recurrent network): the approaches;
- ``registry``: approaches by name, experiment files read into the right class;
- ``grids``: each profile's grid of each approach (``grid(profile, approach, values, settings)``).
"""

from helpers.approaches.descriptors import DescriptorConfig
from helpers.approaches.grids import GRIDS_DIR, Grid, expand, grid, grid_file, grid_table, load_configs, read_grid
from helpers.approaches.multitask import MultiTaskConfig
from helpers.approaches.registry import APPROACHES, config_class, config_from_dict, config_from_run, load_config
from helpers.approaches.single_task import SingleTaskConfig
from helpers.approaches.temporal import TemporalConfig
from helpers.approaches.trajectories import TrajectoryConfig

__all__ = ["APPROACHES", "GRIDS_DIR", "DescriptorConfig", "Grid", "MultiTaskConfig", "SingleTaskConfig",
           "TemporalConfig", "TrajectoryConfig", "config_class",
           "config_from_dict", "config_from_run", "expand", "grid", "grid_file", "grid_table", "load_config",
           "load_configs", "read_grid"]
