"""Fast decoding gives the same frames: FFmpeg's threads and skipping the frames nothing needs
(``iter_frames(threads=..., skip_unkept=True)``) yield the kept frames bit-identical to a plain decode,
numbered the same; the extractor (decoding ahead in one process, threaded decoding in each of several)
writes the same files either way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import frames, profiles, synthetic, video
from helpers.frames import one_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A synthetic face clip with B-frames (x264's default), 30 fps: some frames are not references."""
    spec = profiles.SyntheticSpec(subjects=1, fps=30, seconds=3.0, width=128, height=96)
    rendered, _ = synthetic.render_video(0, "N2H", spec)
    return video.write_video(tmp_path_factory.mktemp("decoding") / "S1" / "N2H.MP4", rendered, fps=30)


def plain(path: Path, start: float, end: float, step: int) -> list[tuple[int, float, np.ndarray]]:
    return list(video.iter_frames(path, start, end, step))


@pytest.mark.parametrize("start, end, step", [(0.4, 0.9, 3), (0.0, 1.0, 10), (0.1, 0.7, 7), (0.3, 0.6, 1)])
@pytest.mark.parametrize("threads", [1, 2])
def test_threads_and_skipping_keep_every_kept_frame_bit_identical(clip, start, end, step, threads):
    expected = plain(clip, start, end, step)
    fast = list(video.iter_frames(clip, start, end, step, threads=threads, skip_unkept=True))
    assert [(i, t) for i, t, _ in fast] == [(i, t) for i, t, _ in expected]
    assert all(np.array_equal(a, b) for (_, _, a), (_, _, b) in zip(fast, expected))


def test_the_decoder_really_skips_non_reference_frames(clip):
    total = video.probe(clip).frames
    ranks = video._display_ranks(clip, total)
    assert ranks is not None and sorted(ranks.values()) == list(range(total))
    kept = range(0, total, 10)
    import av

    with av.open(str(clip)) as container:
        decoded = [index for index, _ in video._skipping(container, container.streams.video[0], kept, ranks)]
    assert set(kept) <= set(decoded), "every kept frame is decoded"
    assert len(decoded) < total, "some frames that are neither kept nor referenced were skipped"


def test_wrong_timestamps_fall_back_to_decoding_every_frame(clip, monkeypatch):
    expected = plain(clip, 0.2, 0.9, 4)
    real = video._display_ranks

    def shuffled(path, total):
        ranks = real(path, total)
        stamps = sorted(ranks)
        return {stamp: ranks[stamps[(i + 7) % len(stamps)]] for i, stamp in enumerate(stamps)}  # misnumbered

    monkeypatch.setattr(video, "_display_ranks", shuffled)
    fast = list(video.iter_frames(clip, 0.2, 0.9, 4, threads=1, skip_unkept=True))
    assert [i for i, _, _ in fast] == [i for i, _, _ in expected]
    assert all(np.array_equal(a, b) for (_, _, a), (_, _, b) in zip(fast, expected))


def test_a_frame_the_decoder_drops_midway_falls_back_without_repeating_frames(clip, monkeypatch):
    """A packet that yields no frame would shift a full decode's numbering: found at the next kept frame,
    the rest is decoded in full, and the frames already yielded are not yielded again."""
    start, end, step = 0.1, 0.9, 4
    expected = plain(clip, start, end, step)
    real = video._display_ranks
    dropped_at = expected[3][0]  # a kept frame in the middle

    def with_a_phantom(path, total):
        stamps = sorted(real(path, total))
        phantom = (stamps[dropped_at - 1] + stamps[dropped_at]) / 2  # no packet decodes to this one
        return {stamp: rank for rank, stamp in enumerate(sorted([*stamps, phantom]))}

    passes = []
    decode = video._decode

    def counted(path, kept, stop, threads, ranks):
        passes.append(ranks is not None)
        yield from decode(path, kept, stop, threads, ranks)

    monkeypatch.setattr(video, "_display_ranks", with_a_phantom)
    monkeypatch.setattr(video, "_decode", counted)
    fast = list(video.iter_frames(clip, start, end, step, threads=1, skip_unkept=True))
    assert passes == [True, False], "skipping, then the full decode"
    assert [i for i, _, _ in fast] == [i for i, _, _ in expected]
    assert all(np.array_equal(a, b) for (_, _, a), (_, _, b) in zip(fast, expected))


def test_without_usable_timestamps_nothing_is_skipped(clip, monkeypatch):
    monkeypatch.setattr(video, "_display_ranks", lambda path, total: None)
    fast = list(video.iter_frames(clip, 0.4, 0.9, 3, threads=2, skip_unkept=True))
    assert [i for i, _, _ in fast] == [i for i, _, _ in plain(clip, 0.4, 0.9, 3)]


@pytest.mark.parametrize("processes, cores, threads", [(1, 2, 2), (2, 2, 1), (3, 2, 1), (2, 8, 4), (1, 1, 1)])
def test_decoding_threads_share_out_the_cores(processes, cores, threads):
    assert video.decode_threads(processes, cores) == threads


def test_unreadable_video_still_names_the_file_when_skipping(tmp_path):
    path = tmp_path / "N2A.MP4"
    path.write_bytes(b"not a video" * 100)
    with pytest.raises(video.VideoReadError, match="N2A.MP4"):
        list(video.iter_frames(path, 0.4, 0.9, 3, threads=1, skip_unkept=True))


def test_decoding_ahead_and_in_processes_writes_the_same_files(clip, tmp_path):
    """One process decodes the next video in a thread; two processes decode with one FFmpeg thread each;
    a video extracted alone decodes in this thread: the files are the same bytes."""
    other = video.write_video(clip.parent / "N2S.MP4", synthetic.render_video(
        0, "N2S", profiles.SyntheticSpec(subjects=1, fps=30, seconds=3.0, width=128, height=96))[0], fps=30)
    videos = pd.DataFrame([{"subject": "S1", "code": p.stem, "path": str(p)} for p in (clip, other)])
    config = frames.ExtractionConfig(landmarks=False)
    alone = tmp_path / "alone"
    for row in videos.itertuples():
        assert one_video.extract_video(row.path, alone, row.subject, row.code, config, 1)["status"] == "ok"
    for workers in (1, 2):
        out = tmp_path / f"workers{workers}"
        extraction = frames.extract_dataset(videos, out, config, workers=workers, progress=False, exact_dir=True)
        assert (extraction.videos["status"] == "ok").all()
        for written in sorted(alone.rglob("*.npy")) + sorted(alone.rglob("*.frames.csv")):
            assert written.read_bytes() == (out / written.relative_to(alone)).read_bytes(), written.name


def test_an_unreadable_video_decoded_ahead_is_reported(clip, tmp_path):
    broken = tmp_path / "S2" / "N2D.MP4"
    broken.parent.mkdir()
    broken.write_bytes(clip.read_bytes()[:1000])
    videos = pd.DataFrame([{"subject": "S2", "code": "N2D", "path": str(broken)},
                           {"subject": "S1", "code": "N2H", "path": str(clip)}])
    extraction = frames.extract_dataset(videos, tmp_path / "crops", frames.ExtractionConfig(landmarks=False),
                                        workers=1, progress=False)
    table = extraction.videos.set_index("code")
    assert table.loc["N2D", "status"] == "error" and "N2D.MP4" in table.loc["N2D", "error"]
    assert table.loc["N2H", "status"] == "ok"


# Turns on PyAV's log forwarding as torchvision <= 0.25 does when imported (torchvision/io/video.py), after the
# helpers are imported, then decodes with FFmpeg's threads: in this thread, and ahead in another as the
# extractor does. With the forwarding on, the decoder's threads wait for the GIL to log and this hangs.
FORWARDING_THEN_THREADED_DECODING = """
import sys
from concurrent.futures import ThreadPoolExecutor
import av, av.logging
from helpers import frames, video
from helpers.frames import one_video
av.logging.set_level(av.logging.ERROR)
clip = sys.argv[1]
assert len(list(video.iter_frames(clip, 0.0, 1.0, 1, threads=2))) == video.probe(clip).frames
av.logging.set_level(av.logging.ERROR)
with ThreadPoolExecutor(1) as ahead:
    for _ in range(5):
        info, decoded = ahead.submit(one_video.decode_ahead, clip, frames.ExtractionConfig(), 2).result()
        assert decoded, "frames decoded ahead"
print("decoded", av.logging.get_level())
"""


def test_threaded_decoding_finishes_when_an_import_turned_log_forwarding_on(clip):
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    try:
        done = subprocess.run([sys.executable, "-c", FORWARDING_THEN_THREADED_DECODING, str(clip)],
                              capture_output=True, text=True, timeout=60, cwd=repo, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("threaded decoding hung with PyAV's log forwarding on (as torchvision <= 0.25 sets it)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["decoded", "None"], "decoding turned the forwarding off again"


def test_pyav_can_turn_log_forwarding_off():
    """``av.logging.set_level(None)`` exists from PyAV 12.1; 12.0 forwards logs by default and refuses None.
    The bound is higher still: ``to_ndarray(threads=)`` (single-threaded conversion beside decoding threads)
    first appears in PyAV 17.0, and the minimum-versions venv's video tests fail with 16 and older."""
    import tomllib

    from packaging.requirements import Requirement

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    av_requirement = next(r for r in map(Requirement, pyproject["project"]["dependencies"]) if r.name == "av")
    assert not av_requirement.specifier.contains("16.0.0") and av_requirement.specifier.contains("17.0.0")
