"""Every approach on synthetic data with chosen cues: the negative control and the cue ablation.

A *setting* is a :class:`CueConfig`: every cue (the default), one cue alone (the others' effect sizes 0) or
none (:meth:`CueConfig.cue_free`, the negative control). For each setting, :func:`run_setting` generates a
dataset of the profile's size in its own folder, runs each approach's grid of that profile through the one
runner (:func:`helpers.train.run_experiment`), and reports, per approach, the paired protocol of the
configuration chosen on validation subjects (:func:`helpers.analysis.selection.selected_scores`) with its 95 %
interval over subjects. ``experiments/negative_control.py`` and ``experiments/cue_ablation.py`` call it.

This module trains models: it is imported by those scripts and their tests, not by ``helpers.synthetic``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from helpers import approaches, data, profiles, results, train
from helpers.analysis import compare, selection
from helpers.metrics import evaluate
from helpers.profiles import SyntheticSpec
from helpers.synthetic.generate import dataset_parameters, ensure_dataset
from helpers.synthetic.plans import CUES, CueConfig

NEGATIVE_CONTROL = "none"


def cue_settings() -> dict[str, CueConfig]:
    """``all`` (every cue), each cue of :data:`CUES` alone, and ``none`` (the cue-free control)."""
    return {"all": CueConfig(), **{cue: CueConfig().only(cue) for cue in CUES}, NEGATIVE_CONTROL: CueConfig.cue_free()}


@dataclass
class CueExperiment:
    """What to run: the profile whose size and grids are used, and what to cut for a quick check."""

    profile: str = "demo"
    subjects: int | None = None  # default: the profile's
    folds: list[int] | None = None  # default: every fold
    epochs: int | None = None  # default: each grid's
    approaches: tuple[str, ...] = tuple(approaches.APPROACHES)
    workers: int | None = None  # extraction and loader processes (default: the runner's)


def dataset_spec(experiment: CueExperiment) -> SyntheticSpec:
    """The size of the experiment's datasets: its profile's, with its number of subjects."""
    profile = profiles.get_profile(experiment.profile)
    if profile.synthetic is None:
        raise ValueError(f"profile {experiment.profile!r} has no synthetic data: use 'smoke' or 'demo'")
    return replace(profile.synthetic, subjects=experiment.subjects or profile.synthetic.subjects)


def setting_folder(out: Path, name: str, cues: CueConfig, experiment: CueExperiment) -> Path:
    """``out/<name>-<hash of the dataset's parameters>``: another size, other cues or another generator version
    makes another folder, so results of models trained on other data are never reported as this setting's."""
    parameters = json.dumps(dataset_parameters(dataset_spec(experiment), cues), sort_keys=True)
    return Path(out) / f"{name}-{hashlib.sha1(parameters.encode()).hexdigest()[:8]}"


def prepare(cues: CueConfig, experiment: CueExperiment, paths: profiles.RunPaths) -> data.Dataset:
    """The dataset of ``cues`` at the experiment's size under ``paths``, indexed and split as 01 does."""
    spec = dataset_spec(experiment)
    root = ensure_dataset(paths.dataset, spec, cues, workers=experiment.workers, progress=False)
    index = data.cached_index(root, paths.index)
    report = data.validate_layout(root, index)
    splits = data.ensure_splits(index, paths.splits, min(profiles.get_profile(experiment.profile).n_folds,
                                                         spec.subjects))
    return data.Dataset(root, index, report, splits, profiles.get_profile(experiment.profile))


def configurations(experiment: CueExperiment, paths: profiles.RunPaths, approach: str) -> list:
    """``approach``'s grid of the experiment's profile, writing under ``paths``, cut as the experiment says."""
    settings: dict = {"work_dir": str(paths.work.parent), "results_dir": str(paths.results.parent)}
    if experiment.folds is not None:
        settings["folds"] = list(experiment.folds)
    if experiment.epochs is not None:
        settings["train"] = {"epochs": experiment.epochs}
    if experiment.workers is not None:
        settings["workers"] = experiment.workers
    return approaches.grid(experiment.profile, approach, settings=settings)


def selected_intervals(profile_results: Path, approach_names: Sequence[str],
                       run_ids: Mapping[str, Collection[str]] | None = None) -> pd.DataFrame:
    """Per approach: the paired accuracy of its configuration chosen on validation subjects, pooled over its
    test folds, with the 95 % interval over subjects: ``approach, estimate, ci_low, ci_high, items, subjects``.
    ``run_ids`` (per approach) keeps to the configurations of this experiment: runs left in the folder by
    another call (``--quick``, other epochs) are never chosen among."""
    runs = compare.load_all(profile_results, tuple(approach_names))
    if run_ids is not None:
        runs = [run for run in runs if run.run_id in run_ids.get(run.config.get("approach"), ())]
    scores = compare.video_scores(runs)
    rows = []
    for approach in approach_names:
        chosen = selection.selected_scores(scores, runs, approach)
        interval = compare.interval_table(chosen, "paired").iloc[0]
        rows.append({"approach": approach, **interval.drop(["model", "interval"]).to_dict()})
    return pd.DataFrame(rows)


def run_setting(name: str, cues: CueConfig, experiment: CueExperiment, out: Path) -> pd.DataFrame:
    """Every approach of ``experiment`` on the dataset of ``cues`` (under ``setting_folder``): the table of
    :func:`selected_intervals` with the setting's name and whether each interval covers 50 %."""
    folder = setting_folder(out, name, cues, experiment)
    paths = profiles.paths_for(experiment.profile, folder / "work", folder / "results")
    dataset = prepare(cues, experiment, paths)
    run_ids: dict[str, set[str]] = {}
    for approach in experiment.approaches:
        for config in configurations(experiment, paths, approach):
            train.run_experiment(config, dataset)
            run_ids.setdefault(approach, set()).add(train.with_extraction(config, paths.crops).run_id)
    table = selected_intervals(paths.results, experiment.approaches, run_ids)
    table.insert(0, "cues", name)
    table["covers_chance"] = (table["ci_low"] <= 0.5) & (table["ci_high"] >= 0.5)
    return table


def run_settings(names: Sequence[str], experiment: CueExperiment, out: Path) -> pd.DataFrame:
    """:func:`run_setting` for each named setting of :func:`cue_settings`; writes ``cue_results.csv``,
    ``cue_results.md`` (a table for the book) and ``cue_results.png`` under ``out``."""
    settings = cue_settings()
    unknown = [name for name in names if name not in settings]
    if unknown:
        raise ValueError(f"unknown cue setting(s) {', '.join(unknown)}; choose among {', '.join(settings)}")
    table = pd.concat([run_setting(name, settings[name], experiment, out) for name in names], ignore_index=True)
    results.write_csv(out / "cue_results.csv", table)
    (out / "cue_results.md").write_text(markdown_table(table))
    figure = cue_figure(table)
    figure.savefig(out / "cue_results.png", dpi=120, bbox_inches="tight")
    return table


def markdown_table(table: pd.DataFrame) -> str:
    """Approaches as rows, cue settings as columns: paired accuracy in percent with its interval."""
    cells = table.assign(cell=[f"{100 * row.estimate:.1f} ({100 * row.ci_low:.1f}-{100 * row.ci_high:.1f})"
                               for row in table.itertuples()])
    wide = cells.pivot(index="approach", columns="cues", values="cell")
    wide = wide[[name for name in cue_settings() if name in wide.columns]]
    lines = ["| approach | " + " | ".join(wide.columns) + " |", "| --- |" + " --- |" * len(wide.columns)]
    lines += [f"| {approach} | " + " | ".join(row) + " |" for approach, row in wide.iterrows()]
    return "\n".join(lines) + "\n"


def cue_figure(table: pd.DataFrame):
    """Paired accuracy with its 95 % interval, per approach (x) and cue setting (colour); chance at 50 %."""
    import matplotlib.pyplot as plt

    names = [name for name in cue_settings() if name in set(table["cues"])]
    approach_names = list(dict.fromkeys(table["approach"]))
    figure, axis = plt.subplots(figsize=(1.6 * len(approach_names) + 2, 3.6))
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        part = table[table["cues"] == name].set_index("approach").reindex(approach_names)
        x = [i - 0.4 + width * (k + 0.5) for i in range(len(approach_names))]
        axis.errorbar(x, 100 * part["estimate"], yerr=[100 * (part["estimate"] - part["ci_low"]),
                                                      100 * (part["ci_high"] - part["estimate"])],
                      fmt="o", capsize=3, label=name)
    axis.axhline(50, color="grey", linestyle="--", linewidth=1)
    axis.set_xticks(range(len(approach_names)), approach_names)
    axis.set_ylabel("paired accuracy, % (95 % CI)")
    axis.set_ylim(0, 100)
    axis.legend(title="cues", fontsize=8, loc="lower right")
    axis.set_title("One cue at a time: paired accuracy, pairs known\n(synthetic data, demo size, kfold, chosen per fold "
                   "on validation)", fontsize=9)
    return figure


def variant_intervals(approach: str, configs: Sequence, paths: profiles.RunPaths) -> pd.DataFrame:
    """Train ``configs`` (one approach's configurations, e.g. a grid with settings changed) through the one
    runner under ``paths``, skipping folds already done, and tabulate the paired and per-video accuracy of each
    configuration and of the one chosen per fold on validation subjects, with 95 % intervals over subjects."""
    plan = train.plan_grid(list(configs), paths, False, None, None)
    print(plan.summary(), flush=True)
    train.run_grid(plan)
    runs = evaluate.load_runs(paths.results, approach, runs=plan.run_ids, predictions=True)
    scores = compare.video_scores(runs)
    chosen = selection.selected_scores(scores, runs, approach)
    table = compare.real_fake_intervals(pd.concat([chosen, scores], ignore_index=True))
    return table[["model", "paired (95 % CI over subjects)", "video (95 % CI over subjects)"]]
