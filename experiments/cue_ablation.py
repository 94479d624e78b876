"""Which approach sees which cue? Every approach on synthetic data with one cue at a time.

The synthetic dataset separates genuine from posed videos by three cues (``helpers.synthetic.CueConfig``):
the temporal shape of the expression (``onset``), eye involvement (``eye``) and asymmetry (``asymmetry``),
each with an effect size. This experiment generates a dataset of the demo size for each setting (every cue,
each cue alone, none: the negative control), runs every approach's demo grid on it through the one runner
(``helpers.train.run_experiment``), and reports the paired protocol of each approach's configuration chosen
on validation subjects, with 95 % intervals over subjects: a table (``cue_results.md``, ``.csv``) and a
figure (``cue_results.png``) under ``--out`` (default ``<results>/demo/cue_ablation``). The default demo
dataset and results are never touched.

At the demo size this is five times notebooks 03-05 (about 17 minutes each on an idle 2-core CPU). ``--quick``
proves the wiring in minutes: 6 subjects, one fold, one epoch (its numbers mean nothing).

    python experiments/cue_ablation.py                          # every setting, demo size, every fold
    python experiments/cue_ablation.py --settings eye none      # some settings
    python experiments/cue_ablation.py --quick --settings none  # a quick check of the pipeline
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from helpers import approaches, profiles  # noqa: E402
from helpers.analysis import cue_experiments  # noqa: E402

QUICK = {"subjects": 6, "folds": [0], "epochs": 1}


def parser(description: str = __doc__, settings: list[str] | None = None) -> argparse.ArgumentParser:
    arguments = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    choices = list(cue_experiments.cue_settings())
    arguments.add_argument("--settings", nargs="+", choices=choices, default=settings or choices,
                           help="cue settings to run (default: %(default)s)")
    arguments.add_argument("--approaches", nargs="+", choices=list(approaches.APPROACHES),
                           default=list(approaches.APPROACHES))
    arguments.add_argument("--subjects", type=int, help="default: the demo profile's 16")
    arguments.add_argument("--folds", type=int, nargs="+", help="default: every fold")
    arguments.add_argument("--epochs", type=int, help="default: each grid's")
    arguments.add_argument("--workers", type=int, help="extraction and loader processes")
    arguments.add_argument("--quick", action="store_true", help="6 subjects, fold 0, 1 epoch: a pipeline check")
    arguments.add_argument("--out", type=Path, help="default: <results>/demo/<script name>")
    return arguments


def main(argv: list[str] | None = None, name: str = "cue_ablation", description: str = __doc__,
         settings: list[str] | None = None) -> None:
    args = parser(description, settings).parse_args(argv)
    cut = QUICK if args.quick else {}
    experiment = cue_experiments.CueExperiment(
        profile="demo", subjects=args.subjects or cut.get("subjects"), folds=args.folds or cut.get("folds"),
        epochs=args.epochs or cut.get("epochs"), approaches=tuple(args.approaches), workers=args.workers)
    out = args.out or profiles.default_results_dir() / "demo" / name
    table = cue_experiments.run_settings(args.settings, experiment, out)
    print(f"\nPaired accuracy of each approach (chosen on validation), synthetic data; written to {out}"
          f"{' (--quick: a pipeline check, not a result)' if args.quick else ''}\n")
    print(cue_experiments.markdown_table(table))


if __name__ == "__main__":
    main()
