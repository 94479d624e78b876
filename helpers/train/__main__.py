"""``python -m helpers.train --config FILE``: every fold of one experiment file, or of every configuration of
a grid file, for any approach (the file's ``approach`` key picks it; see ``helpers.approaches``)."""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from accelerate import PartialState

from helpers import approaches, train
from helpers.metrics import evaluate
from helpers.train.setting_types import SettingError


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m helpers.train", description=train.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, type=Path,
                        help="an experiment file (.json or .yaml) or a grid file (helpers/grids/<profile>/*.yaml)")
    parser.add_argument("--force", action="store_true", help="retrain folds whose results exist")
    args = parser.parse_args(argv)
    try:  # every configuration checked before any data is prepared
        configs = approaches.load_configs(args.config)
    except SettingError as error:
        parser.exit(2, f"{parser.prog}: {error}\n")
    tables = [train.run_experiment(config, force=args.force) for config in configs]
    table = pd.concat(tables, ignore_index=True)
    metrics = [column for column in table.columns if column.endswith(("accuracy", "macro_f1"))]
    summary = evaluate.aggregate_folds(table, metrics, by=("approach", "run"))
    if PartialState().is_main_process:  # once, with several processes (torchrun)
        print(summary[["run", "folds", *metrics]].to_string(index=False))


if __name__ == "__main__":
    sys.exit(main())
