"""Ground paths for the pelvis: arc-length sampling, a pace read off the text, and the facing along the path."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
from scipy.ndimage import uniform_filter1d

from kinmo_core.motion.skeleton import FPS

MIN_PATH_LENGTH: float = 0.10
MAX_PATH_LENGTH: float = 500.0
RAMP_SECONDS: float = 0.5
"""Time to reach (and leave) the path's pace at its ends: the body starts and stops from standing."""
HEADING_LOOKAHEAD: float = 0.25
"""Metres of arc either side over which the path's direction is taken, so polyline corners turn smoothly."""

# Typical pelvis speeds (m/s) of the gaits a prompt may name; the first match in this order wins.
GAIT_SPEEDS: tuple[tuple[str, float], ...] = (
    (r"\bsprint", 5.0),
    (r"\b(run|runs|running|ran)\b", 3.0),
    (r"\bjog", 2.2),
    (r"\b(crawl|crawls|crawling)\b", 0.4),
    (r"\b(tiptoe|sneak|creep|shuffle|limp|stagger|tiptoes|sneaks|creeps|shuffles|limps|staggers)", 0.7),
    (r"\b(march|strut|stride|marches|struts|strides)", 1.4),
    (r"\b(walk|walks|walking|walked|steps|paces|wanders|strolls|stroll)\b", 1.2),
)
DEFAULT_SPEED: float = 1.2
SLOW_WORDS: str = r"\b(slow|slowly|carefully|cautiously|leisurely|tired|wearily)\b"
FAST_WORDS: str = r"\b(fast|quickly|briskly|hurriedly|quick|rushes|hurries|energetically)\b"


def path_length(points: np.ndarray) -> float:
    """Return the length (m) of a ground polyline (P, 2)."""
    return float(np.linalg.norm(np.diff(np.asarray(points, np.float64), axis=0), axis=-1).sum())


def speed_from_text(text: str) -> float:
    """Return the pelvis speed (m/s) the prompt's gait suggests (walks 1.2, jogs 2.2, runs 3.0, ...)."""
    t = text.lower()
    speed = next((v for pattern, v in GAIT_SPEEDS if re.search(pattern, t)), DEFAULT_SPEED)
    if re.search(SLOW_WORDS, t):
        speed *= 0.7
    elif re.search(FAST_WORDS, t):
        speed *= 1.3
    return speed


def path_duration(points: np.ndarray, text: str = "", seconds: float | None = None, speed: float | None = None,
                  start: int = 0, frame_range: tuple[int, int] = (20, 200)) -> int:
    """Return the frames a motion needs to cover the path (plus `start` frames before it), within frame_range."""
    MIN_FRAMES, MAX_FRAMES = frame_range  # noqa: N806 (the pipeline's limits)
    length = path_length(points)
    if seconds is None:
        pace = speed if speed is not None else speed_from_text(text)
        # The ramps at both ends run at half pace on average, which costs one ramp's time.
        seconds = length / pace + RAMP_SECONDS
    frames = int(round(seconds * FPS)) + 1 + start
    if frames > MAX_FRAMES:
        warnings.warn(f"the path ({length:.1f} m) needs {frames / FPS:.1f} s at that pace; KinMo makes at most "
                      f"{MAX_FRAMES / FPS:g} s, so the body moves at {length / (MAX_FRAMES / FPS):.1f} m/s",
                      stacklevel=3)
    return int(min(max(frames, MIN_FRAMES), MAX_FRAMES))


def _arc(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(points, np.float64)
    seg = np.linalg.norm(np.diff(p, axis=0), axis=-1)
    keep = np.concatenate(([True], seg > 1e-9))  # repeated points add nothing
    p = p[keep]
    return p, np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=-1))))


def _at(p: np.ndarray, s_cum: np.ndarray, s: np.ndarray) -> np.ndarray:
    return np.stack([np.interp(s, s_cum, p[:, 0]), np.interp(s, s_cum, p[:, 1])], axis=-1)


def _direction(p: np.ndarray, s_cum: np.ndarray, s: np.ndarray) -> np.ndarray:
    total = s_cum[-1]
    look = min(HEADING_LOOKAHEAD, total / 4)
    d = _at(p, s_cum, np.clip(s + look, 0, total)) - _at(p, s_cum, np.clip(s - look, 0, total))
    return d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)


def place_path(points: np.ndarray, turn: bool = True) -> tuple[np.ndarray, float]:
    """Return (offset, yaw): the first point goes to the origin and (with turn) the first direction onto +Z."""
    p, s_cum = _arc(points)
    d = p[1] - p[0]  # the polyline's own first direction
    yaw = -math.atan2(d[0], d[1]) if turn else 0.0
    return p[0].copy(), yaw


def _progress(n: int) -> np.ndarray:
    # Share of the path covered at each of n frames: a trapezoidal speed profile with RAMP_SECONDS ramps.
    u = np.linspace(0.0, 1.0, 20 * n)
    a = min(RAMP_SECONDS * FPS / max(n - 1, 1), 0.25)
    v = np.minimum(1.0, np.minimum(u / a, (1.0 - u) / a))
    s = np.concatenate(([0.0], np.cumsum((v[1:] + v[:-1]) / 2)))
    return np.interp(np.linspace(0.0, 1.0, n), u, s / s[-1])


PACE_SMOOTH_SECONDS: float = 0.5
"""Window over which a generated gait's pelvis speed is averaged before the path takes its pace (a stride's sway
is not a change of pace)."""
MIN_PACE_SHARE: float = 0.25
"""A generated motion that covers under this share of the path's length is not locomotion: the path keeps its
own even pace."""


def gait_progress(pelvis_xz: np.ndarray, path_len: float) -> np.ndarray | None:
    """Return the share of the path covered at each frame when the path takes the generated motion's own pace.

    pelvis_xz (n, 2): the generated pelvis on the ground. Where the generated gait slows or pauses, the path does
    too, so a planted foot is not dragged along; the even pace (`_progress`) is blended in as the generated motion
    covers less of the path. None when it hardly travels (then the even pace alone).
    """
    xz = np.asarray(pelvis_xz, np.float64)
    n = len(xz)
    if n < 3:
        return None
    k = max(1, int(round(PACE_SMOOTH_SECONDS * FPS)))
    smooth = uniform_filter1d(xz, 2 * k + 1, axis=0, mode="nearest")
    step = np.linalg.norm(np.diff(smooth, axis=0), axis=-1)
    covered = float(step.sum())
    share = covered / max(path_len, 1e-9)
    if share < MIN_PACE_SHARE:
        return None
    own = np.concatenate(([0.0], np.cumsum(step))) / covered
    # Fully the gait's pace once the motion covers the path's length; towards the even pace as it covers less.
    w = float(np.clip((share - MIN_PACE_SHARE) / (1.0 - MIN_PACE_SHARE), 0.0, 1.0))
    return w * own + (1.0 - w) * _progress(n)


def pace_mismatch(pelvis_xz: np.ndarray, path_len: float) -> float:
    """Return how far (|log| of the ratio) the generated pelvis's travelled distance is from the path's length."""
    xz = np.asarray(pelvis_xz, np.float64)
    covered = float(np.linalg.norm(np.diff(xz, axis=0), axis=-1).sum()) if len(xz) > 1 else 0.0
    return abs(math.log(max(covered, 1e-3) / max(path_len, 1e-3)))


def sample_path(points: np.ndarray, n: int, offset: np.ndarray, yaw: float,
                progress: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return the pelvis ground positions (n, 2) along the path by arc length and the facing directions (n, 2).

    Both are in motion coordinates: moved by -offset and turned by yaw (see `place_path`). progress (n,): the share
    of the path covered at each frame (default: an even pace with ramps at both ends).
    """
    p, s_cum = _arc(points)
    prog = _progress(n) if progress is None else np.asarray(progress, np.float64)
    if prog.shape != (n,):
        raise ValueError(f"progress has shape {prog.shape}, expected ({n},)")
    s = np.clip(prog, 0.0, 1.0) * s_cum[-1]
    xz = _at(p, s_cum, s) - offset
    head = _direction(p, s_cum, s)
    c, si = math.cos(yaw), math.sin(yaw)
    rot = np.array([[c, si], [-si, c]])
    return xz @ rot.T, head @ rot.T
