"""Results under a protocol (``helpers.data.protocols``): which runs belong to it, how its numbers are shown,
and the challenge's prediction file.

Runs made under different protocols are never compared with each other (:func:`runs_of_protocol`). Under a
protocol with a fixed test set (``chalearn2017``, ``fixed``) every run's test videos carry the challenge's
metrics (``metrics.json`` ``challenge``: ``helpers.train.protocol_scoring``); :func:`challenge_table` shows them
named for what they are, and :func:`write_challenge_predictions` writes the prediction file of the
configuration chosen on the validation videos.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from helpers import approaches, profiles, results
from helpers.analysis import inference, selection
from helpers.analysis.compare import NothingToCompare, approach_name, load_comparable, model_name
from helpers.data import protocols, read_dataset_record
from helpers.data.challenge import parse_challenge_name, release_of
from helpers.metrics import challenge

PREDICTIONS_FOLDER = "challenge"


def run_protocol(run: results.RunArtifacts) -> str:
    """The protocol a run was trained under (``kfold`` for runs made before the setting existed)."""
    return str(run.config.get("protocol") or protocols.DEFAULT_PROTOCOL)


def runs_of_protocol(runs: Iterable[results.RunArtifacts], protocol: str) -> list[results.RunArtifacts]:
    """The runs made under ``protocol`` only."""
    protocols.check_protocol(protocol)
    return [run for run in runs if run_protocol(run) == protocol]


def comparable_runs(profile_results: Path | str, profile: str, protocol: str) -> list[results.RunArtifacts]:
    """The runs under ``profile_results`` made under ``protocol``, or ``NothingToCompare`` saying what to run."""
    runs = runs_of_protocol(load_comparable(profile_results, profile), protocol)
    if not runs:
        raise NothingToCompare(f"no results under protocol {protocol!r} in {profile_results}: run notebooks 03-05 "
                               f"with PROFILE = {profile!r} and PROTOCOL = {protocol!r} first")
    return runs


def missing_notes(profile_results: Path | str, profile: str, protocol: str) -> list[str]:
    """One line per approach without a run under ``protocol``: which notebook to run, with which settings (and
    under which other protocols it did run: those results are never compared with these)."""
    protocols.check_protocol(protocol)
    notes = []
    for approach in approaches.APPROACHES:
        runs = [results.load_run(folder, predictions=False) for folder in results.find_runs(profile_results, approach)]
        if runs_of_protocol(runs, protocol):
            continue
        others = sorted({run_protocol(run) for run in runs})
        elsewhere = f" (it has runs under {', '.join(others)} only)" if others else ""
        notes.append(f"no {approach_name(approach)} results under protocol {protocol!r} for profile {profile!r}"
                     f"{elsewhere}: run notebooks/{approaches.notebook_of(approach)}.ipynb with PROFILE = "
                     f"{profile!r} and PROTOCOL = {protocol!r}")
    return notes


def protocol_heading(protocol: str, dataset: str) -> str:
    """The line every table of numbers under ``protocol`` is shown with."""
    note = protocols.independence_note(protocol)
    return f"Protocol: **{protocols.protocol_label(protocol)}**; {dataset}." + (f" Under it, {note}." if note else "")


def _percent(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f} %"


def challenge_table(runs: Sequence[results.RunArtifacts], names: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per run with the challenge's metrics of its test videos: *challenge accuracy* (each video judged
    alone, exact 95 % interval), the same with each video judged within its pair found, *paired accuracy, pairs
    found* (and how many of the pairs are true pairs), *paired accuracy, pairs known* where subjects are known,
    and the validation scores it is chosen by (``selection.SELECTION_METRICS``, in order). Empty when no run has them."""
    rows = []
    for run in runs:
        scored = run.metrics.get("challenge")
        if not scored:
            continue
        found = scored["paired_found"]
        known = scored.get("paired_known")
        name = model_name(run.config)
        rows.append({
            "model": (names or {}).get(name, name),
            "challenge accuracy (exact 95 % CI)": challenge.format_challenge_accuracy(scored["challenge_accuracy"]),
            "challenge accuracy, pairs found decide": challenge.format_challenge_accuracy(
                scored["challenge_accuracy_pairs_found"]),
            "paired accuracy, pairs found": _percent(found["accuracy"]),
            "pairs found (one genuine + one posed)": f"{found['pairs']} ({found['true_pairs']})",
            "pairs found of the same person": _agreement(scored.get("pair_agreement")),
            "paired accuracy, pairs known": _percent(known["accuracy"]) if known else "- (subjects unknown)",
            "validation: paired, real/fake per video": ", ".join(
                _percent(run.metrics.get("validation", {}).get(metric))
                for metric in ("paired_accuracy", "authenticity_video_accuracy")),
        })
    return pd.DataFrame(rows)


def _agreement(agreement: dict[str, int] | None) -> str:
    """How many pairs found are of one person (subjects known: ``fixed``), or why it is not known."""
    if not agreement:
        return "- (subjects unknown)"
    return f"{agreement['right']} of {agreement['formed']} ({agreement['possible']} possible)"


def chosen_on_validation(runs: Sequence[results.RunArtifacts]) -> results.RunArtifacts | None:
    """The run chosen on the validation videos among those scored as the challenge was, by the rule every
    notebook chooses by (``selection.selected_per_fold``), or None when none has validation scores."""
    scored = [run for run in runs if run.metrics.get("challenge")]
    try:
        chosen = selection.selected_per_fold(scored)
    except ValueError:  # no validation scores
        return None
    run_id = chosen.get(protocols.PROTOCOL_FOLD, next(iter(chosen.values())))
    return next(run for run in scored if run.run_id == run_id)


def write_challenge_predictions(run: results.RunArtifacts, results_dir: Path | str) -> dict[str, Path]:
    """The challenge's prediction file (``{video: 'true' | 'fake'}``, each test video judged within its pair
    found) of ``run`` under ``<results_dir>/challenge/``; needs the release's file names (``chalearn2017``)."""
    decisions = run.metrics.get("challenge", {}).get("decisions")
    if not decisions:
        raise ValueError(f"{run.folder} has no test decisions: train it under protocol 'chalearn2017'")
    return challenge.write_prediction_file(decisions, Path(results_dir) / PREDICTIONS_FOLDER)


def inspector_videos(predictions: pd.DataFrame, tested: Iterable[str]) -> list[tuple[str, str]]:
    """The ``(subject, code)`` of the genuine and the posed happy video (``N2H``, ``S2N2H``) that 06 shows: of
    the first tested subject with both or, where no subject has both (``chalearn2017``: each test video is its
    own storage subject), the first tested video of each."""
    table = predictions[["subject", "code"]].astype(str).drop_duplicates()
    table = table[table["subject"].isin({str(subject) for subject in tested})]
    for subject, part in sorted(table.groupby("subject"), key=lambda item: item[0]):
        if {"N2H", "S2N2H"} <= set(part["code"]):
            return [(subject, "N2H"), (subject, "S2N2H")]
    rows = sorted(zip(table["subject"], table["code"]))
    found = [next(((s, c) for s, c in rows if c == code), None) for code in ("N2H", "S2N2H")]
    return [video for video in found if video is not None]


def example_videos(trained: Sequence[inference.TrainedModel], paths: profiles.RunPaths, my_video: str | Path | None,
                   protocol: str) -> list[tuple[Path, list[inference.TrainedModel]]]:
    """What 06's "analyse your own video" scores: ``inference.example_videos``, except under ``chalearn2017``
    without ``my_video``, where the test videos have no subject in the index: the release's first genuine
    and posed happy test videos (``inspector_videos``), each scored by the fold model that tested it."""
    if protocol != "chalearn2017" or my_video:
        return inference.example_videos(trained, paths.index, my_video)
    record = read_dataset_record(paths) or {}
    layout = release_of(record["root"]) if record.get("root") else None
    if layout is None or layout.test is None:
        raise FileNotFoundError(f"the ChaLearn 2017 release recorded in {paths.dataset_record} has no test folder: "
                                "run 01 with DATASET_DIR set to the release, or set MY_VIDEO to a video file")
    files = {protocols.storage_subject("test", parse_challenge_name(path)[0]): path
             for path in sorted(layout.test.iterdir()) if parse_challenge_name(path)}
    for member in trained:
        run = results.load_run(results.run_dir(paths.results, member.config["approach"], member.config["run_id"],
                                               member.fold))
        shown = inspector_videos(run.predictions, member.test_subjects)
        if shown and all(subject in files for subject, _ in shown):
            return [(files[subject], [member]) for subject, _ in shown]
    raise FileNotFoundError(f"no test video of {layout.test} was scored by the fold models: set MY_VIDEO to a "
                            "video file to analyse")


def challenge_by_approach(runs: Sequence[results.RunArtifacts], names: dict[str, str] | None = None
                          ) -> dict[str, tuple[str, str]]:
    """Per approach (and ``any``: over all of them), the challenge accuracy with each test video judged within
    its pair found, of the configuration chosen on the validation videos, with that model's name: what the
    published challenge numbers are compared with (``published.reference_comparison``)."""
    chosen = {"any": chosen_on_validation(runs)}
    for approach in dict.fromkeys(str(run.config.get("approach")) for run in runs):
        chosen[approach] = chosen_on_validation([run for run in runs if run.config.get("approach") == approach])
    found = {}
    for key, run in chosen.items():
        if run is not None:
            name = model_name(run.config)
            decided = run.metrics["challenge"]["challenge_accuracy_pairs_found"]
            found[key] = (challenge.format_challenge_accuracy(decided), (names or {}).get(name, name))
    return found
