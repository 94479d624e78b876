"""The negative control: every approach on synthetic data without any genuine-vs-posed cue.

``helpers.synthetic.CueConfig.cue_free()`` sets every cue's effect size to 0 and drops the posed videos'
contrasting start, so genuine and posed videos are drawn from the same distributions and only their random
numbers differ. A method that does better than chance here learns something that is not there (a leak). This
runs every approach's demo grid on such a dataset (the ``none`` setting of ``experiments/cue_ablation.py``)
and reports each approach's paired accuracy with its 95 % interval over subjects, which should cover 50 %.

    python experiments/negative_control.py           # demo size, every fold
    python experiments/negative_control.py --quick   # 6 subjects, fold 0, 1 epoch: a pipeline check
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def _cue_ablation():
    path = Path(__file__).resolve().parent / "cue_ablation.py"
    spec = importlib.util.spec_from_file_location("cue_ablation", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> None:
    _cue_ablation().main(argv, name="negative_control", description=__doc__, settings=["none"])


if __name__ == "__main__":
    main()
