"""The ChaLearn 2017 metrics named for what they are, and the challenge's prediction file."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers.data import challenge_labels
from helpers.metrics import challenge


def test_forty_of_sixty_is_the_winners_66_7_percent_with_its_exact_interval():
    truth = np.array([True, False] * 30)
    decisions = truth.copy()
    decisions[:20] = ~decisions[:20]  # 20 wrong, 40 right
    result = challenge.challenge_accuracy(truth, decisions)
    assert (result["correct"], result["videos"]) == (40, 60)
    assert round(100 * result["accuracy"], 1) == 66.7
    assert (round(100 * result["low"], 1), round(100 * result["high"], 1)) == (53.3, 78.3)
    # Clopper-Pearson by its definition: each bound leaves 2.5 % of the binomial on its side
    assert stats.binom.sf(39, 60, result["low"]) == pytest.approx(0.025, abs=1e-9)
    assert stats.binom.cdf(40, 60, result["high"]) == pytest.approx(0.025, abs=1e-9)
    assert challenge.format_challenge_accuracy(result) == "66.7 % (53.3-78.3), 40 of 60 videos"


def test_exact_interval_edges():
    assert challenge.exact_interval(0, 10)[0] == 0.0 and challenge.exact_interval(10, 10)[1] == 1.0
    assert challenge.exact_interval(10, 10)[0] == pytest.approx(0.025 ** (1 / 10))
    assert all(math.isnan(value) for value in challenge.exact_interval(0, 0))
    with pytest.raises(ValueError, match="between 0 and total"):
        challenge.exact_interval(11, 10)
    with pytest.raises(ValueError, match="one of each per video"):
        challenge.challenge_accuracy([True], [True, False])


SCORES = pd.DataFrame({
    "video": ["a.mp4", "b.mp4", "c.mp4", "d.mp4", "e.mp4", "f.mp4", "g.mp4"],
    "p_genuine": [0.4, 0.3, 0.6, 0.9, 0.7, 0.7, 0.2],
    "genuine": [True, False, True, False, True, True, False],
})


def test_paired_decisions_and_paired_accuracy_pairs_found():
    pairs = pd.DataFrame({"video_a": ["a.mp4", "c.mp4", "e.mp4"], "video_b": ["b.mp4", "d.mp4", "f.mp4"]})
    decisions = challenge.paired_decisions(SCORES, pairs)
    # a > b: a genuine although 0.4 < 0.5; d > c; e = f tie: each alone; g alone
    assert decisions.to_dict() == {"a.mp4": True, "b.mp4": False, "c.mp4": False, "d.mp4": True, "e.mp4": True,
                                   "f.mp4": True, "g.mp4": False}
    assert challenge.challenge_accuracy(SCORES["genuine"], decisions[SCORES["video"]])["correct"] == 5
    found = challenge.paired_accuracy_pairs_found(SCORES, pairs)
    # a/b right (1), c/d wrong (0), e/f tie of two genuine videos (0.5)
    assert found == {"accuracy": 0.5, "pairs": 3, "true_pairs": 2, "unpaired": 1}
    wrong_pair = pd.DataFrame({"video_a": ["e.mp4"], "video_b": ["d.mp4"]})  # a true pair (e genuine, d posed) judged wrong
    assert challenge.paired_accuracy_pairs_found(SCORES, wrong_pair)["accuracy"] == 0.0
    same_kind = pd.DataFrame({"video_a": ["a.mp4"], "video_b": ["c.mp4"]})  # two genuine videos: one is called posed
    assert challenge.paired_accuracy_pairs_found(SCORES, same_kind) == {"accuracy": 0.5, "pairs": 1, "true_pairs": 0,
                                                                         "unpaired": 5}
    with pytest.raises(ValueError, match="more than one pair"):
        challenge.paired_decisions(SCORES, pd.DataFrame({"video_a": ["a.mp4", "a.mp4"], "video_b": ["b.mp4", "c.mp4"]}))
    with pytest.raises(ValueError, match="without a score"):
        challenge.paired_decisions(SCORES, pd.DataFrame({"video_a": ["a.mp4"], "video_b": ["z.mp4"]}))


def test_prediction_file_in_the_challenges_format(tmp_path):
    decisions = {"5257702033_ANGER.mp4": True, "3013708652_ANGER.mp4": False}
    paths = challenge.write_prediction_file(decisions, tmp_path)
    assert paths["pickle"].name == "test_prediction.pkl"
    assert challenge_labels.read_pickle_labels(paths["pickle"]) == {"3013708652_ANGER.mp4": "fake",
                                                                     "5257702033_ANGER.mp4": "true"}
    assert paths["pickle"].read_bytes()[:2] == b"\x80\x02"  # protocol 2: the challenge's Python 2 scorer reads it
    for kind in ("json", "csv"):
        assert challenge_labels.read_labels(paths[kind]) == decisions
    with pytest.raises(ValueError, match="by their file name"):
        challenge.write_prediction_file({"S01/N2H": True}, tmp_path)
    assert challenge.METRIC_NAMES["paired_accuracy"] == "paired accuracy, pairs known"


def test_with_the_true_pairs_pairs_found_is_paired_accuracy_pairs_known():
    from helpers import labels
    from helpers.metrics import scoring

    rng = np.random.default_rng(1)
    rows = [{"subject": subject, "code": code, "video": f"{subject}/{code}", "p_genuine": rng.random(),
             "emotion": labels.parse_code(code).emotion, "genuine": labels.parse_code(code).genuine}
            for subject in ("S01", "S02", "S03") for code in labels.CODES if (subject, code) != ("S03", "N2H")]
    videos = pd.DataFrame(rows)
    pairs = challenge.known_pairs(videos)
    assert len(pairs) == 17 and "S03/S2N2H" not in set(pairs["video_b"])  # its genuine partner is missing
    found = challenge.paired_accuracy_pairs_found(videos, pairs)
    known = scoring.paired_protocol(videos)
    assert found["accuracy"] == pytest.approx(known["accuracy"]) and found["pairs"] == known["pairs"] == 17
    assert found["true_pairs"] == 17 and found["unpaired"] == known["skipped"] == 1
