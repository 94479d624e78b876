import pytest

from helpers import labels


def test_twelve_codes_six_emotions_each_genuine_and_posed():
    assert len(labels.CODES) == 12 and len(set(labels.CODES)) == 12
    pairs = {(v.emotion, v.genuine) for v in labels.VIDEO_CODES}
    assert pairs == {(e, g) for e in labels.EMOTIONS for g in (True, False)}


def test_posed_codes_start_with_a_contrasting_emotion():
    for video in labels.VIDEO_CODES:
        if video.genuine:
            assert video.code.startswith("N2") and video.start_emotion == "neutral"
        else:
            assert video.start_emotion not in ("neutral", video.emotion)
            assert video.code.count("2") == 2


def test_class_index_round_trip():
    for label in range(12):
        emotion, authentic = labels.split_class_index(label)
        assert labels.class_index(labels.EMOTIONS[emotion], bool(authentic)) == label
        assert labels.VIDEO_CODES[label].label == label


def test_parse_code_ignores_case_and_names_valid_codes():
    assert labels.parse_code("n2sur").code == "N2Sur"
    assert labels.pair_code("N2H") == "S2N2H" and labels.pair_code("S2N2H") == "N2H"
    with pytest.raises(KeyError, match="N2H"):
        labels.parse_code("N2X")


def test_known_variant_spellings_resolve_to_their_code():
    assert labels.resolve_code("D2N2S") == ("D2N2Sur", True)
    assert labels.resolve_code("h2na") == ("H2N2A", True)  # case-insensitive like the codes
    assert labels.resolve_code("n2sur") == ("N2Sur", False)  # another case is not a variant
    assert labels.resolve_code("D2N2Sur") == ("D2N2Sur", False)
    assert labels.resolve_code("N2X") is None
    for variant, code in labels.CODE_VARIANTS.items():
        assert not labels.is_code(variant) and labels.is_code(code)  # a variant never shadows a code


def test_nearest_codes_suggests_the_closest_valid_codes():
    nearest = labels.nearest_codes("H2N2X")
    assert {"H2N2A", "H2N2C"} <= set(nearest) and "N2H" not in nearest
    assert nearest == [code for code in labels.CODES if code in nearest]  # in CODES order
    assert labels.nearest_codes("d2n2su") == ["D2N2Sur"]
    assert labels.nearest_codes("holiday") == []
