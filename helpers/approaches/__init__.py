"""The approaches: what differs between single-task (03), multi-task (04), temporal (05: clips, and facial
geometry over time) experiments.

An approach is one module with a subclass of ``helpers.train.ExperimentConfig``: its own settings (as
dataclass fields), what the rest of the project knows of it (class attributes), and the hooks that differ
(``build_model``, ``prepare`` for the task and loaders of a fold, and, if it needs them, ``fit``,
``fold_metrics``, ``fold_files``, ``fold_data``, ``fold_table``, ``describe``). The one runner
(``helpers.train.run_experiment``) does everything else the same way for every approach.

To add an approach:

1. write ``helpers/approaches/<name>.py``: a ``@dataclass`` subclass of ``ExperimentConfig`` (or of an
   approach's class) with ``APPROACH = "<name>"`` (its results go to ``results/<profile>/<name>/``),
   ``DISPLAY_NAME`` (how 06's tables and the notebooks' messages name it, e.g. ``"single-task (03)"``),
   ``NOTEBOOK`` (the notebook that trains it, e.g. ``"05_temporal"``) and ``PREDICTION_UNIT`` (what one row
   of its predictions scores: ``"frame"``, ``"clip"``, or ``"video"``: no timeline in 06's inspector);
2. add the class to the tuple of built-in approaches in ``registry.py`` (``register`` checks the attributes);
3. write its grid file for every profile: ``helpers/grids/<smoke|demo|full>/<name>.yaml``
   (``tests/test_experiments.py`` checks that each exists and loads);
4. train it from its notebook (``approaches.grid(PROFILE, "<name>", GRID, SETTINGS)``, ``train.plan_grid``,
   ``train.run_grid``) or with ``python -m helpers.train --config helpers/grids/<profile>/<name>.yaml``;
5. say what it is where readers look: its notebook's text, the notebooks table of ``book/intro.md`` and of
   README.md (06's tables, and the book's results page that quotes them, need nothing).

06 then finds its results, lists it in every table under its display name, chooses its configuration on
validation subjects, makes it an ensemble member, and names its notebook while it has no results; nothing
else lists the approaches. Optionally, add published numbers it answers to ``published.REFERENCE_NUMBERS`` (``helpers.analysis.published``).

- ``single_task``, ``multitask``, ``temporal`` (clips of face crops), ``descriptors`` (activity descriptors +
  Rank-SVM ensemble, fitted by scikit-learn through the ``fit`` hook), ``trajectories`` (landmark sequences +
  a supervised recurrent network), ``lstm_pb`` (HCILab's LSTM with parametric bias per emotion + gradient
  boosting, fitted through the ``fit`` hook): the approaches;
- ``geometry_base``: what the three approaches over facial geometry share (nothing pretrained, no images);
- ``registry``: the one list of approaches (``APPROACHES``, ``register``, ``display_name``, ``notebook_of``),
  experiment files read into the right class;
- ``grids``: each profile's grid of each approach (``grid(profile, approach, values, settings)``).
"""

from helpers.approaches.descriptors import DescriptorConfig
from helpers.approaches.grids import GRIDS_DIR, Grid, expand, grid, grid_file, grid_table, load_configs, read_grid
from helpers.approaches.lstm_pb import LSTMPBConfig
from helpers.approaches.multitask import MultiTaskConfig
from helpers.approaches.registry import (
    APPROACHES, PREDICTION_UNITS, config_class, config_from_dict, config_from_run, display_name, load_config,
    notebook_of, register,
)
from helpers.approaches.single_task import SingleTaskConfig
from helpers.approaches.temporal import TemporalConfig
from helpers.approaches.trajectories import TrajectoryConfig

__all__ = ["APPROACHES", "GRIDS_DIR", "PREDICTION_UNITS", "DescriptorConfig", "Grid", "LSTMPBConfig",
           "MultiTaskConfig", "SingleTaskConfig", "TemporalConfig", "TrajectoryConfig", "config_class",
           "config_from_dict", "config_from_run", "display_name", "expand", "grid", "grid_file", "grid_table",
           "load_config", "load_configs", "notebook_of", "read_grid", "register"]
