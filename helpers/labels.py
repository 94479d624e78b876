"""The SASE-FE vocabulary: video codes, emotions, authenticity and class indices.

SASE-FE records every subject in 12 videos. A genuine video starts neutral and shows the felt emotion
(``N2H``: neutral to happy). A posed video starts with a *contrasting* emotion, returns to neutral and
then shows the posed one (``S2N2H``: sad, neutral, posed happy).

Real releases also use a few other spellings for some codes (``CODE_VARIANTS``): :func:`resolve_code`
maps them to the canonical code, and :func:`nearest_codes` suggests what an unknown name may have meant.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
import pandas as pd

EMOTIONS: tuple[str, ...] = ("happy", "sad", "disgust", "anger", "contempt", "surprise")
AUTHENTICITY: tuple[str, ...] = ("posed", "genuine")  # index 1 = genuine, so p(class 1) is "genuineness"


@dataclass(frozen=True)
class VideoCode:
    """One of the 12 SASE-FE recordings of a subject."""

    code: str
    emotion: str
    genuine: bool
    start_emotion: str  # what the video shows first: "neutral" for genuine, the contrasting emotion if posed

    @property
    def label(self) -> int:
        """Index of this code in the 12-class problem (see ``CLASS_NAMES``)."""
        return CODES.index(self.code)

    @property
    def emotion_index(self) -> int:
        return EMOTIONS.index(self.emotion)

    @property
    def authenticity_index(self) -> int:
        return int(self.genuine)

    @property
    def class_name(self) -> str:
        return f"{'genuine' if self.genuine else 'posed'} {self.emotion}"


# The 12 recordings, one row per emotion (in EMOTIONS order): the genuine code, then the posed code and the
# contrasting emotion the posed video starts with.
_RECORDINGS = (
    ("N2H", "S2N2H", "sad"), ("N2S", "H2N2S", "happy"), ("N2D", "H2N2D", "happy"),
    ("N2A", "H2N2A", "happy"), ("N2C", "H2N2C", "happy"), ("N2Sur", "D2N2Sur", "disgust"),
)
VIDEO_CODES: tuple[VideoCode, ...] = (
    *(VideoCode(genuine, emotion, True, "neutral") for emotion, (genuine, _, _) in zip(EMOTIONS, _RECORDINGS)),
    *(VideoCode(posed, emotion, False, start) for emotion, (_, posed, start) in zip(EMOTIONS, _RECORDINGS)),
)
CODES: tuple[str, ...] = tuple(video.code for video in VIDEO_CODES)
CLASS_NAMES: tuple[str, ...] = tuple(video.class_name for video in VIDEO_CODES)
GENUINE_CODES: tuple[str, ...] = tuple(v.code for v in VIDEO_CODES if v.genuine)
POSED_CODES: tuple[str, ...] = tuple(v.code for v in VIDEO_CODES if not v.genuine)
_BY_CODE = {video.code.upper(): video for video in VIDEO_CODES}

#: Spellings found in real SASE-FE releases besides the canonical codes (reported by the ChaLearn LAP 2017
#: winners): fake surprise also appears as ``D2N2S``, and posed anger once as the misspelt ``H2NA``.
#: Compared ignoring case, like the codes.
CODE_VARIANTS: dict[str, str] = {"D2N2S": "D2N2Sur", "H2NA": "H2N2A"}
_VARIANTS = {variant.upper(): code for variant, code in CODE_VARIANTS.items()}


#: The ChaLearn LAP 2017 release names its validation and test videos ``<10-digit id>_<WORD>.mp4`` with these
#: emotion words (contempt is ``CONTENTMENT`` there), and scores a file of ``'true'`` (genuine) / ``'fake'``.
CHALLENGE_EMOTION_WORDS: dict[str, str] = {
    "HAPPINESS": "happy", "SADNESS": "sad", "DISGUST": "disgust", "ANGER": "anger", "CONTENTMENT": "contempt",
    "SURPRISE": "surprise",
}
CHALLENGE_WORD_OF: dict[str, str] = {emotion: word for word, emotion in CHALLENGE_EMOTION_WORDS.items()}
CHALLENGE_LABELS: dict[bool, str] = {True: "true", False: "fake"}


def parse_code(code: str) -> VideoCode:
    """Look a code up, ignoring case (``n2sur`` and ``N2Sur`` are the same video).

    Raises ``KeyError`` naming the valid codes when ``code`` is not one of them.
    """
    try:
        return _BY_CODE[code.upper()]
    except KeyError:
        raise KeyError(f"{code!r} is not a SASE-FE video code; expected one of {', '.join(CODES)}") from None


def is_code(code: str) -> bool:
    return code.upper() in _BY_CODE


def resolve_code(name: str) -> tuple[str, bool] | None:
    """``(canonical code, mapped)`` for a code or a known variant spelling (any case), None for anything else.

    ``mapped`` is True when ``name`` is one of ``CODE_VARIANTS`` (``"d2n2s"`` -> ``("D2N2Sur", True)``);
    a code in another case is not a variant (``"n2sur"`` -> ``("N2Sur", False)``).
    """
    key = str(name).upper()
    if key in _BY_CODE:
        return _BY_CODE[key].code, False
    if key in _VARIANTS:
        return _VARIANTS[key], True
    return None


def nearest_codes(name: str, cutoff: float = 0.6) -> list[str]:
    """The valid codes most similar to ``name`` (ignoring case), in ``CODES`` order; [] when none is close.

    All codes tied at the best similarity are returned: ``H2N2X`` is as near to ``H2N2A`` as to ``H2N2C``,
    and suggesting only one of them would be a guess. ``cutoff`` is difflib's similarity ratio (0-1).
    """
    key = str(name).upper()
    scores = {code: difflib.SequenceMatcher(None, key, code.upper()).ratio() for code in CODES}
    best = max(scores.values())
    if best < cutoff:
        return []
    return [code for code in CODES if scores[code] == best]


def class_index(emotion: str, genuine: bool) -> int:
    """12-class index from the two task labels (the inverse of ``split_class_index``)."""
    for video in VIDEO_CODES:
        if video.emotion == emotion and video.genuine == bool(genuine):
            return video.label
    raise KeyError(f"unknown emotion {emotion!r}; expected one of {', '.join(EMOTIONS)}")


def split_class_index(label: int) -> tuple[int, int]:
    """(emotion index, authenticity index) of a 12-class index."""
    video = VIDEO_CODES[label]
    return video.emotion_index, video.authenticity_index


def pair_code(code: str) -> str:
    """The code of the same emotion with the other authenticity (``N2H`` <-> ``S2N2H``)."""
    video = parse_code(code)
    return CODES[class_index(video.emotion, not video.genuine)]


#: What a model can be trained to predict, and its classes: the 12 SASE-FE classes, the 6 emotions, or the
#: authenticity (index 1 = genuine).
TARGETS: dict[str, int] = {"label": len(CLASS_NAMES), "emotion": len(EMOTIONS), "authenticity": len(AUTHENTICITY)}
TARGET_CLASSES: dict[str, tuple[str, ...]] = {"label": CLASS_NAMES, "emotion": EMOTIONS, "authenticity": AUTHENTICITY}


def num_classes(target: str) -> int:
    """Number of classes of a task: ``label`` (12 classes), ``emotion`` (6) or ``authenticity`` (2)."""
    try:
        return TARGETS[target]
    except KeyError:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}") from None


def video_targets(videos: pd.DataFrame) -> pd.DataFrame:
    """The three labels of each video (12-class, emotion, authenticity) as int64 columns."""
    label = videos["label"].astype("int64").to_numpy()
    emotion = np.array([split_class_index(int(v))[0] for v in label], dtype=np.int64)
    authenticity = np.array([split_class_index(int(v))[1] for v in label], dtype=np.int64)
    return pd.DataFrame({"label": label, "emotion": emotion, "authenticity": authenticity}, index=videos.index)
