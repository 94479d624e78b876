import numpy as np
import pytest

from helpers import video


def gradient_frames(count: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    frames = []
    for i in range(count):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
        frame[..., 1] = (i * 255) // max(count - 1, 1)
        frames.append(frame)
    return frames


def test_write_probe_read_round_trip(tmp_path):
    path = video.write_video(tmp_path / "clip.MP4", gradient_frames(20), fps=25)
    info = video.probe(path)
    assert (info.frames, info.width, info.height) == (20, 64, 48)
    assert info.fps == pytest.approx(25) and info.duration == pytest.approx(0.8)
    frames = video.read_frames(path)
    assert frames.shape == (20, 48, 64, 3) and frames.dtype == np.uint8
    # lossy codec, but the brightness ramp in the green channel survives
    assert np.all(np.diff(frames[..., 1].mean(axis=(1, 2))) > 0)
    assert not list(tmp_path.glob(".*partial")), "no partial file left behind"


def test_window_and_step(tmp_path):
    path = video.write_video(tmp_path / "clip.mp4", gradient_frames(20), fps=10)
    picked = list(video.iter_frames(path, 0.4, 0.9, step=2))
    assert [index for index, _, _ in picked] == [8, 10, 12, 14, 16]
    assert picked[0][1] == pytest.approx(0.8)
    assert len(video.frames_at(path, [0.0, 0.5, 0.95])) == 3


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100])
def test_unreadable_video_names_the_file(tmp_path, content):
    path = tmp_path / "N2H.MP4"
    path.write_bytes(content)
    with pytest.raises(video.VideoReadError, match="N2H.MP4"):
        video.probe(path)


def test_truncated_video_names_the_file(tmp_path):
    path = video.write_video(tmp_path / "clip.mp4", gradient_frames(30), fps=25)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(video.VideoReadError, match="clip.mp4"):
        video.read_frames(path)


def test_missing_file(tmp_path):
    with pytest.raises(video.VideoReadError, match="nowhere.mp4"):
        video.probe(tmp_path / "nowhere.mp4")



def test_the_same_frames_always_give_the_same_file(tmp_path):
    """Reproducible datasets need a reproducible encoder, whatever else the process has allocated (x264's
    mbtree read memory it had not written: the files differed from run to run)."""
    from helpers import profiles, synthetic

    frames, _ = synthetic.render_video(0, "N2H", profiles.SyntheticSpec(subjects=1, fps=25, seconds=0.4, width=96,
                                                                       height=72))
    rng = np.random.default_rng(0)
    written = []
    for attempt in range(12):
        clutter = [rng.random((1000, 1000)) for _ in range(3)]  # reshuffle the heap between writes
        written.append(video.write_video(tmp_path / f"clip{attempt}.mp4", frames, fps=25).read_bytes())
        del clutter
    assert all(content == written[0] for content in written)
