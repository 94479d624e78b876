"""Facial activity descriptors: a video's action-unit proxies summarised into one fixed-length vector.

After Saxen, Werner & Al-Hamadi (ICCV 2017 workshops, the ChaLearn LAP 2017 real-vs-fake winners): each
proxy series is smoothed by a zero-phase Butterworth low-pass filter (1st order, 1 Hz), its 1st and 2nd
derivatives are taken and smoothed too, and each of the three series (``SERIES``: ``d0`` the smoothed
value, ``d1`` its speed per second, ``d2`` its acceleration per second squared) is summarised by the 17
statistics of :data:`STATISTICS`. A one-hot code of the emotion the video shows (given, as in the
challenge) is appended. Descriptor names are ``"<proxy>:<series>:<statistic>"`` (``lip_corner_pull:d1:max``)
and ``"emotion:<name>"``; :data:`DESCRIPTOR_NAMES` is their fixed order.

The statistics, in order (``x`` one series of ``n`` samples, ``t = i / (n - 1)`` the relative time of
sample ``i``, 0 for a single sample, so videos of different lengths compare):

=========================  ===========================================================================
``mean``, ``median``,      value
``min``, ``max``
``range``, ``std``,        variability: max - min, standard deviation (population, ddof 0),
``iqr``, ``spread_10_90``  75th - 25th and 90th - 10th percentile (linear interpolation),
``mean_abs_dev``           mean absolute deviation from the mean
``time_of_max``            relative time of the (first) maximum, in [0, 1]
``share_above_mean``       share of the samples above the mean, in [0, 1]
``share_above_low``        share above the low threshold, halfway between the minimum and the mean
``runs_above_mean``        number of separate stretches above the mean (a count of "events")
``runs_above_low``         number of separate stretches above the low threshold
``area_above_min``         mean height above the minimum: the area under the series over relative time
``area_ratio``             ``area_above_min / range`` in [0, 1] (0 for a constant series)
``max_after_mean_cross``   ``time_of_max`` minus the relative time of the first crossing of the mean,
                           in [-1, 1] (0 for a constant series)
=========================  ===========================================================================

``squared_terms=True`` adds, as NIT-OVGU's code does, the squares of the value, variability and area
statistics of the smoothed value series (:data:`SQUARED_STATISTICS` of ``d0``, 11 per column, named
``"<column>:d0:<statistic>^2"`` after the column's 51): 62 descriptors per column instead of 51.

Differences from the paper: times are relative to the video's length instead of seconds, areas are means
instead of sums (both so that length does not enter), and stretches are counted directly (the paper halves
the number of mean crossings, rounding up). Series that are constant give 0 for the time, share, run and
ratio statistics. Everything is deterministic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import signal

from helpers.geometry.action_units import PROXIES
from helpers.labels import EMOTIONS

SERIES: tuple[str, ...] = ("d0", "d1", "d2")
STATISTICS: tuple[str, ...] = (
    "mean",
    "median",
    "min",
    "max",
    "range",
    "std",
    "iqr",
    "spread_10_90",
    "mean_abs_dev",
    "time_of_max",
    "share_above_mean",
    "share_above_low",
    "runs_above_mean",
    "runs_above_low",
    "area_above_min",
    "area_ratio",
    "max_after_mean_cross",
)
#: The statistics whose squares NIT-OVGU's descriptors add, of the smoothed value series ``d0`` only.
SQUARED_STATISTICS: tuple[str, ...] = STATISTICS[:9] + ("area_above_min", "area_ratio")
CUTOFF_HZ = 1.0  # the paper's low-pass cut-off (at 100 fps); scaled to each video's rate by smooth()
FILTER_ORDER = 1


def smooth(series: np.ndarray, fps: float, cutoff_hz: float = CUTOFF_HZ, order: int = FILTER_ORDER) -> np.ndarray:
    """Zero-phase Butterworth low-pass filtering (``scipy.signal.butter`` + ``filtfilt``) of a series
    sampled at ``fps`` samples per second (along axis 0: a 1-D series or one column per series).

    The digital cut-off is ``cutoff_hz / (fps / 2)``, so the same cut-off in Hz holds at SASE-FE's kept
    ~10 fps, the synthetic videos' ~8.3 fps or the paper's 100 fps. Running the filter forwards and
    backwards doubles its order and shifts no peak. filtfilt pads the ends with ``3 * (order + 1)``
    samples (odd reflection); a series not longer than that is padded with ``n - 1`` samples instead,
    so short videos (5 frames) are smoothed too. A series of fewer than 2 samples, or a cut-off at or
    above the Nyquist frequency (``fps / 2``: nothing to remove), comes back unfiltered (a float copy).
    """
    values = np.array(series, dtype=float)
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if len(values) < 2 or cutoff_hz >= fps / 2:
        return values
    b, a = signal.butter(order, cutoff_hz / (fps / 2))
    padlen = min(3 * max(len(a), len(b)), len(values) - 1)
    return signal.filtfilt(b, a, values, axis=0, padlen=padlen)


def derivative(series: np.ndarray, fps: float) -> np.ndarray:
    """Rate of change per second (along axis 0; central differences inside, one-sided at the ends);
    zeros for a series of fewer than 2 samples."""
    values = np.asarray(series, dtype=float)
    if len(values) < 2:
        return np.zeros_like(values)
    return np.gradient(values, axis=0) * fps


def activity_series(
    series: np.ndarray, fps: float, cutoff_hz: float = CUTOFF_HZ, order: int = FILTER_ORDER
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(d0, d1, d2)``: the smoothed series, its smoothed 1st derivative and its smoothed 2nd derivative."""
    d0 = smooth(series, fps, cutoff_hz, order)
    d1 = smooth(derivative(d0, fps), fps, cutoff_hz, order)
    d2 = smooth(derivative(d1, fps), fps, cutoff_hz, order)
    return d0, d1, d2


def _runs(above: np.ndarray) -> np.ndarray:
    """Number of separate stretches of True in each column of an n x k boolean array."""
    return above[:1].sum(axis=0) + (above[1:] & ~above[:-1]).sum(axis=0)


def statistics(series: np.ndarray) -> np.ndarray:
    """The :data:`STATISTICS` of a series (n) or of each column of n x k series: 17 (or 17 x k) values."""
    x = np.asarray(series, dtype=float)
    single = x.ndim == 1
    x = x[:, None] if single else x
    n = len(x)
    if n == 0 or not np.isfinite(x).all():
        raise ValueError(f"statistics need a non-empty, finite series ({n} samples given)")
    mean, low, high = x.mean(axis=0), x.min(axis=0), x.max(axis=0)
    spread = high - low
    varies = spread > 1e-12 * (1.0 + np.abs(x).max(axis=0))  # a constant series, up to rounding, does not
    p10, p25, median, p75, p90 = np.percentile(x, [10, 25, 50, 75, 90], axis=0)
    above_mean = (x > mean) & varies
    above_low = (x > (low + mean) / 2) & varies
    scale = 1.0 / (n - 1) if n > 1 else 0.0
    time_of_max = np.where(varies, np.argmax(x, axis=0) * scale, 0.0)
    changes = above_mean[1:] != above_mean[:-1]
    first_change = np.argmax(changes, axis=0) + 1 if n > 1 else np.zeros(x.shape[1])
    first_cross = np.where(changes.any(axis=0), first_change * scale, 0.0)
    area = (x - low).mean(axis=0)
    values = np.stack([
        mean, median, low, high,
        spread, x.std(axis=0), p75 - p25, p90 - p10, np.abs(x - mean).mean(axis=0),
        time_of_max,
        above_mean.mean(axis=0), above_low.mean(axis=0),
        _runs(above_mean).astype(float), _runs(above_low).astype(float),
        area, np.where(varies, area / np.where(varies, spread, 1.0), 0.0),
        np.where(varies, time_of_max - first_cross, 0.0),
    ])
    return values[:, 0] if single else values


def descriptor_names(columns: tuple[str, ...] | list[str] = PROXIES, squared_terms: bool = False) -> list[str]:
    """``"<column>:<series>:<statistic>"`` for every column, series and statistic, in descriptor order; with
    ``squared_terms``, each column's ``"<column>:d0:<statistic>^2"`` of :data:`SQUARED_STATISTICS` after them."""
    names = []
    for column in columns:
        names += [f"{column}:{series}:{statistic}" for series in SERIES for statistic in STATISTICS]
        names += [f"{column}:d0:{statistic}^2" for statistic in SQUARED_STATISTICS] if squared_terms else []
    return names


#: Names of the activity descriptors of the :data:`~helpers.geometry.PROXIES` (12 x 3 x 17 = 612).
ACTIVITY_DESCRIPTOR_NAMES: tuple[str, ...] = tuple(descriptor_names(PROXIES))
EMOTION_DESCRIPTOR_NAMES: tuple[str, ...] = tuple(f"emotion:{emotion}" for emotion in EMOTIONS)
#: Every name of :func:`video_descriptors`, in order: the activity descriptors, then the emotion's one-hot
#: code (618 in all: the length of a linear model's weight vector over them).
DESCRIPTOR_NAMES: tuple[str, ...] = ACTIVITY_DESCRIPTOR_NAMES + EMOTION_DESCRIPTOR_NAMES


def activity_descriptors(
    proxies: pd.DataFrame, fps: float, cutoff_hz: float = CUTOFF_HZ, order: int = FILTER_ORDER,
    squared_terms: bool = False,
) -> pd.Series:
    """The activity descriptors of one video's proxy series (rows: frames sampled at ``fps`` per second,
    e.g. the kept frames' rate; columns: the series), named by :func:`descriptor_names` of its columns.

    Raises ValueError for an empty table or a missing value (interpolate failed frames first, as
    :func:`~helpers.geometry.au_proxies` does).
    """
    values = proxies.to_numpy(dtype=float)
    if values.shape[0] == 0 or not np.isfinite(values).all():
        raise ValueError(f"activity descriptors need at least one frame of finite values "
                         f"({values.shape[0]} frames, {int((~np.isfinite(values)).sum())} missing values)")
    blocks = [statistics(series) for series in activity_series(values, fps, cutoff_hz, order)]  # 17 x k each
    stacked = np.stack(blocks, axis=1)  # statistic x series x column
    ordered = stacked.transpose(2, 1, 0).reshape(len(proxies.columns), -1)  # column x (series, statistic)
    if squared_terms:
        rows = [STATISTICS.index(name) for name in SQUARED_STATISTICS]
        ordered = np.concatenate([ordered, blocks[0][rows].T ** 2], axis=1)
    names = descriptor_names(list(proxies.columns), squared_terms)
    return pd.Series(ordered.reshape(-1), index=names, dtype=float)


def emotion_code(emotion: str) -> np.ndarray:
    """One-hot code (float, ``helpers.labels.EMOTIONS`` order) of an emotion name, in any case."""
    key = str(emotion).lower()
    if key not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {', '.join(EMOTIONS)}")
    code = np.zeros(len(EMOTIONS))
    code[EMOTIONS.index(key)] = 1.0
    return code


def video_descriptor_names(columns: tuple[str, ...] | list[str] = PROXIES, squared_terms: bool = False
                           ) -> tuple[str, ...]:
    """The names of :func:`video_descriptors` of these columns: :data:`DESCRIPTOR_NAMES` at the defaults."""
    return (*descriptor_names(columns, squared_terms), *EMOTION_DESCRIPTOR_NAMES)


def video_descriptors(
    proxies: pd.DataFrame, fps: float, emotion: str, cutoff_hz: float = CUTOFF_HZ, order: int = FILTER_ORDER,
    columns: tuple[str, ...] | list[str] = PROXIES, squared_terms: bool = False,
) -> pd.Series:
    """A video's descriptor vector: the activity descriptors of its ``columns`` (``PROXIES`` unless a subset,
    e.g. NIT-OVGU's action units, in that order whatever the table's order) and the one-hot code of
    ``emotion``, indexed by :func:`video_descriptor_names` (:data:`DESCRIPTOR_NAMES` at the defaults)."""
    missing = [name for name in columns if name not in proxies.columns]
    if missing:
        raise ValueError(f"the proxy table lacks {', '.join(missing)} (expected the columns of au_proxies)")
    activity = activity_descriptors(proxies[list(columns)], fps, cutoff_hz, order, squared_terms)
    code = pd.Series(emotion_code(emotion), index=list(EMOTION_DESCRIPTOR_NAMES))
    return pd.concat([activity, code]).set_axis(list(video_descriptor_names(columns, squared_terms)))
