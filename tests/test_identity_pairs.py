"""Pairs found without subject ids: the matching, and dlib's face identity on synthetic subjects."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from helpers import synthetic
from helpers.frames import identity
from helpers.profiles import SyntheticSpec

# Subjects 0 and 1 are drawn from the two different base photos (synthetic.BASE_FACES): other synthetic
# subjects share a photo and, to dlib's network, a face (descriptor distances 0.09-0.22, as close as one
# subject's two videos), so only subjects of different photos are different people here.
SPEC = SyntheticSpec(subjects=2, fps=10, seconds=1.0, width=192, height=144, seed=0)
MARGIN = 0.2


def face_crops(subject: int, code: str, size: int = 112) -> np.ndarray:
    """Square crops around the true face box with 02's margin, as 02 packs them."""
    frames, truth = synthetic.render_video(subject, code, SPEC)
    crops = []
    for frame, row in zip(frames, truth.itertuples()):
        half = max(row.w, row.h) * (1 + 2 * MARGIN) / 2
        cx, cy = row.x + row.w / 2, row.y + row.h / 2
        padded = np.pad(frame, ((100, 100), (100, 100), (0, 0)), mode="edge")
        x0, y0 = int(round(cx - half)) + 100, int(round(cy - half)) + 100
        side = int(round(2 * half))
        crops.append(cv2.resize(padded[y0:y0 + side, x0:x0 + side], (size, size)))
    return np.stack(crops)


@pytest.fixture(scope="module")
def descriptors() -> dict[str, np.ndarray]:
    videos = {"a.mp4": (0, "N2H"), "b.mp4": (0, "S2N2H"), "c.mp4": (1, "N2H"), "d.mp4": (1, "S2N2H")}
    return {name: identity.video_descriptor(face_crops(*video), MARGIN) for name, video in videos.items()}


TRUTH = pd.DataFrame({"video": ["a.mp4", "b.mp4", "c.mp4", "d.mp4"], "subject": ["S01", "S01", "S02", "S02"],
                      "emotion": "happy", "genuine": [True, False, True, False]})


@pytest.mark.slow
def test_synthetic_subjects_are_paired_by_face_identity(descriptors):
    names = ["d.mp4", "a.mp4", "c.mp4", "b.mp4"]  # shuffled: the matching must not rely on order
    pairs = identity.find_pairs(pd.DataFrame({"video": names, "emotion": "happy"}),
                                np.stack([descriptors[name] for name in names]))
    assert sorted(map(sorted, zip(pairs["video_a"], pairs["video_b"]))) == [["a.mp4", "b.mp4"], ["c.mp4", "d.mp4"]]
    assert (pairs["distance"] < identity.SAME_PERSON_DISTANCE).all()
    assert identity.pair_agreement(pairs, TRUTH) == {"formed": 2, "right": 2, "possible": 2, "unpaired": 0,
                                                     "unpaired_right": 0}


@pytest.mark.slow
def test_a_subject_with_one_video_of_an_emotion_stays_unpaired(descriptors):
    names = ["a.mp4", "b.mp4", "c.mp4"]  # subject 1's posed video is absent
    pairs = identity.match_pairs(names, np.stack([descriptors[name] for name in names]))
    assert pairs[["video_a", "video_b"]].values.tolist() == [["a.mp4", "b.mp4"]]
    truth = TRUTH[TRUTH["video"].isin(names)]
    assert identity.pair_agreement(pairs, truth) == {"formed": 1, "right": 1, "possible": 1, "unpaired": 1,
                                                     "unpaired_right": 1}
    strangers = ["a.mp4", "d.mp4"]  # one video of each subject: not forced into a pair
    assert identity.match_pairs(strangers, np.stack([descriptors[name] for name in strangers])).empty


def test_matching_prefers_the_most_pairs_under_the_threshold():
    # a-b are closest, but pairing them leaves c and d too far apart; a-c and b-d pair all four
    distance = np.array([[0, 0.1, 0.2, 0.9], [0.1, 0, 0.9, 0.2], [0.2, 0.9, 0, 0.9], [0.9, 0.2, 0.9, 0]])
    # points on a line cannot give these distances: check the matching on the matrix directly
    assert sorted(identity.exact_matching(distance, 0.6)) == [(0, 2), (1, 3)]
    assert identity.closest_first_matching(distance, 0.6) == [(0, 1)]
    line = np.array([[0.0], [0.05], [1.0], [1.1], [5.0]])  # two close pairs and one far video
    pairs = identity.match_pairs(["v", "w", "x", "y", "z"], line)
    assert pairs[["video_a", "video_b"]].values.tolist() == [["v", "w"], ["x", "y"]]
    assert pairs["distance"].round(2).tolist() == [0.05, 0.1]
    assert identity.match_pairs(["v", "w"], np.array([[0.0], [0.7]])).empty  # farther than 0.6: no pair
    with pytest.raises(ValueError, match="2 videos but 1 descriptors"):
        identity.match_pairs(["v", "w"], np.zeros((1, 128)))


def test_many_videos_are_matchedclosest_first_matching():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 128)) * 10
    points = np.concatenate([centres, centres + 0.01])  # 20 videos: beyond the exact matching's limit
    names = [f"{i}.mp4" for i in range(20)]
    pairs = identity.match_pairs(names, points)
    assert sorted(zip(pairs["video_a"], pairs["video_b"])) == sorted((f"{i}.mp4", f"{i + 10}.mp4") for i in range(10))


@pytest.mark.slow
def test_descriptors_from_the_crops_02_stored(descriptors, tmp_path):
    from helpers.frames import storage

    for subject, code in (("S01", "N2H"), ("S02", "S2N2H")):
        storage.save_array(storage.video_files(tmp_path, subject, code)["face"], face_crops(int(subject[-1]) - 1, code))
    stored = identity.stored_descriptors(tmp_path, [("S01", "N2H"), ("S02", "S2N2H")], MARGIN)
    assert np.allclose(stored, np.stack([descriptors["a.mp4"], descriptors["d.mp4"]]), atol=1e-5)
