"""How hard is the synthetic task? An oracle on the generator's true action units, and single descriptors.

For the synthetic dataset of a profile (default: demo, 16 subjects, seed 0), with every cue, with each cue
alone and with none (the cue-free negative control), this prints

- the **oracle**: a logistic regression on z-scored activity descriptors of the generator's *true*
  action-unit series at the kept frames (``helpers.analysis.oracle``; no rendering), cross-validated with
  subjects as groups (the profile's number of folds), scored on the paired protocol, with a 95 % interval
  from resampling subjects;
- the **best single descriptor**: the largest AUC (genuine vs posed, either direction) of any one
  activity descriptor, over all videos;
- the AUC of each cue's drawn strength (what the generator put in).

The book's synthetic-data page quotes the first row. The test suite holds the demo figures: oracle 80-90 %
paired, no single descriptor above an AUC of 0.85.

    python experiments/oracle.py                  # demo size, seed 0
    python experiments/oracle.py --seed 1 --subjects 40
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from helpers import profiles  # noqa: E402
from helpers.analysis import oracle  # noqa: E402
from helpers.synthetic import CUES, CueConfig  # noqa: E402


def settings() -> dict[str, CueConfig]:
    """Every cue, each cue alone, and none."""
    return {"all cues": CueConfig(), **{f"{cue} only": CueConfig().only(cue) for cue in CUES},
            "none (cue-free)": CueConfig.cue_free()}


def table(spec: profiles.SyntheticSpec, n_folds: int, n_boot: int = 2000) -> pd.DataFrame:
    """One row per setting of :func:`settings`: the oracle's paired accuracy and interval (percent), the best
    single descriptor and its AUC, and the AUC of each cue's drawn strength."""
    rows = []
    for name, cues in settings().items():
        result = oracle.difficulty(spec, cues, n_folds=n_folds, n_boot=n_boot)
        paired, aucs = result["oracle"], result["descriptor_aucs"]
        rows.append({
            "cues": name, "oracle paired %": round(100 * paired["estimate"], 1),
            "95 % interval": f"{100 * paired['ci_low']:.1f}-{100 * paired['ci_high']:.1f}",
            "pairs": paired["n_items"], "best single descriptor": aucs.index[0], "its AUC": round(aucs.iloc[0], 3),
            **{f"AUC {name.removeprefix('strength_')} strength": round(value, 3)
               for name, value in result["strength_aucs"].sort_index().items()},
        })
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="demo", choices=["smoke", "demo"])
    parser.add_argument("--subjects", type=int, help="default: the profile's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the table to this CSV file")
    args = parser.parse_args(argv)
    profile = profiles.get_profile(args.profile)
    spec = replace(profile.synthetic, seed=args.seed, **({"subjects": args.subjects} if args.subjects else {}))
    result = table(spec, profile.n_folds)
    print(f"Synthetic data, {args.profile} size ({spec.subjects} subjects, {spec.seconds:g} s at {spec.fps:g} fps), "
          f"seed {spec.seed}; oracle = logistic regression on descriptors of the true action units, "
          f"{profile.n_folds} folds over subjects\n")
    print(result.to_string(index=False))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
