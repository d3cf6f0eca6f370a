"""Leg and root generators for the synthesiser: gaits with planned footsteps, jumps and hops, in-place leg actions.

Each generator returns a `LegTrack` in segment-local coordinates (starting at the origin, facing +Z) that starts
and ends in a relaxed stance with both feet flat under the hips and the body at rest, so segments chain with
continuous positions and velocities. A planted foot stays at one world point for its whole contact phase.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d

from kinmo_core.data.synth_body import (
    ANKLE_HEIGHT,
    HIP_OFFSET,
    LEG_REACH,
    SHIN,
    STAND_PELVIS_HEIGHT,
    THIGH,
    hip_positions,
    rot_y,
    two_bone_ik,
)
from kinmo_core.motion.contacts import contact_mask, true_runs
from kinmo_core.motion.skeleton import FPS

GRAVITY = 9.81
SIDES = ("left", "right")


@dataclass
class LegTrack:
    """Root and leg motion of one segment, n frames including both ends, in segment-local coordinates."""

    pelvis: np.ndarray  # (n, 3), y = desired height before the reach limit
    heading: np.ndarray  # (n,)
    ankles: np.ndarray  # (n, 2, 3)
    foot_yaw: np.ndarray  # (n, 2)
    foot_pitch: np.ndarray  # (n, 2)
    knee_up: np.ndarray  # (n, 2)
    planted: np.ndarray  # (n, 2) bool
    swing: np.ndarray  # (n,) arm swing signal in [-1, 1], + when the right foot is ahead
    gait: np.ndarray  # (n,) locomotion intensity in [0, 1]
    labels: list[list[str]]  # per side, per frame leg action label
    params: dict = field(default_factory=dict)
    spine_bow: np.ndarray | None = None  # (n,) automatic forward lean (balance), radians


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Return the C1 ease curve 3x^2 - 2x^3 of x clipped to [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def keyframes(t: np.ndarray, times: Sequence[float], values: Sequence | np.ndarray) -> np.ndarray:
    """Return values eased between keyframes (zero velocity at each key), held before the first and after the last."""
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    idx = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    span = np.maximum(times[idx + 1] - times[idx], 1e-9)
    w = smoothstep((t - times[idx]) / span)
    w = w.reshape(w.shape + (1,) * (values.ndim - 1))
    return values[idx] * (1 - w) + values[idx + 1] * w


def hermite(t: np.ndarray, times: Sequence[float], values: Sequence[float], slopes: Sequence[float]) -> np.ndarray:
    """Return the piecewise cubic Hermite curve through (times, values) with the given slopes (per second)."""
    times = np.asarray(times, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    m = np.asarray(slopes, dtype=np.float64)
    idx = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    h = np.maximum(times[idx + 1] - times[idx], 1e-9)
    s = np.clip((t - times[idx]) / h, 0.0, 1.0)
    h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
    return h00 * y[idx] + h10 * h * m[idx] + h01 * y[idx + 1] + h11 * h * m[idx + 1]


def swing_progress(u: np.ndarray, frames: float) -> np.ndarray:
    """Return horizontal swing progress for swing phase u in [0, 1] lasting `frames` frames.

    The foot first rises straight up for about a frame and only then travels, and it comes straight down at the
    end: the slow frames at either end of a swing then carry no horizontal drift, which the velocity-based
    contact rule would otherwise count as skating.
    """
    delay = min(1.0 / max(frames, 1e-6), 0.2)
    return smoothstep((u - delay) / (1 - 2 * delay))


def _swing_drift(n: int, dist: float, lift: float) -> float:
    # The foot-skate a swing would show under HumanML3D's contact rule: frames moving slower than the rule's
    # threshold count as contact, so a slow run of frames next to a stance phase reads as sliding.
    u = np.arange(-2, n + 3) / n
    x = dist * swing_progress(u, n)
    y = lift * np.sin(np.pi * np.clip(u, 0, 1))
    contact = contact_mask(np.stack((x, y, np.zeros_like(x)), axis=-1)[:, None])[:, 0]
    return max((float(np.max(np.abs(x[a:b] - x[a]))) for a, b in true_runs(contact)), default=0.0)


def swing_lift(n: int, dist: float, lift: float, tolerance: float = 0.012) -> float:
    """Return the smallest lift height >= `lift` for which a swing of n frames over `dist` metres shows no skate."""
    h = lift
    while h < 0.45 and _swing_drift(n, dist, h) > tolerance:
        h += 0.01
    return h


def _pin_ends(x: np.ndarray, first: float, last: float, frames: int) -> np.ndarray:
    # Smoothing pulls the end values of a path inward; ease them back so a segment starts and ends exactly in stance.
    ramp = smoothstep(np.arange(len(x)) / max(frames, 1))
    x = x + (first - x[0]) * (1 - ramp)
    return x + (last - x[-1]) * ramp[::-1]


def _stance_feet(n: int) -> np.ndarray:
    feet = np.zeros((n, 2, 3))
    for s in (0, 1):
        feet[:, s] = (HIP_OFFSET[s][0], ANKLE_HEIGHT[s], 0.0)
    return feet


def _track(n: int, pelvis, ankles, planted, label, params, **kw) -> LegTrack:
    return LegTrack(
        pelvis=pelvis,
        heading=kw.pop("heading", np.zeros(n)),
        ankles=ankles,
        foot_yaw=kw.pop("foot_yaw", np.zeros((n, 2))),
        foot_pitch=kw.pop("foot_pitch", np.zeros((n, 2))),
        knee_up=kw.pop("knee_up", np.zeros((n, 2))),
        planted=planted,
        swing=kw.pop("swing", np.zeros(n)),
        gait=kw.pop("gait", np.zeros(n)),
        labels=kw.pop("labels", [[label] * n, [label] * n]),
        params=params,
        spine_bow=kw.pop("spine_bow", None),
    )


class _Path:
    """A planar path by arc length: heading turns at a constant rate per metre; travel is offset from heading."""

    def __init__(self, length: float, turn: float, travel_offset: float):
        self.length = max(length, 1e-6)
        self.rate = turn / self.length
        self.offset = travel_offset
        self.grid = np.linspace(0.0, self.length, 512)
        phi = self.rate * self.grid + travel_offset
        ds = np.diff(self.grid)
        mid = 0.5 * (phi[1:] + phi[:-1])
        self.x = np.concatenate(([0.0], np.cumsum(np.sin(mid) * ds)))
        self.z = np.concatenate(([0.0], np.cumsum(np.cos(mid) * ds)))

    def heading(self, s: np.ndarray) -> np.ndarray:
        """Return the heading (radians) at arc lengths s."""
        return self.rate * np.clip(s, 0, self.length)

    def point(self, s: np.ndarray) -> np.ndarray:
        """Return (..., 3) path points (y = 0) at arc lengths s."""
        s = np.clip(s, 0, self.length)
        return np.stack((np.interp(s, self.grid, self.x), np.zeros_like(s), np.interp(s, self.grid, self.z)), -1)


def gait(n: int, *, label: str, speed: float, cycle: float, stance: float, lift: float, direction: str = "forward",
         turn: float = 0.0, pattern: str = "alternate", lead: int = 0, crouch: float = 0.0, bob: float = 0.0,
         high_steps: tuple[int, ...] = (), high_lift: float = 0.0, high_label: str = "lift",
         params: dict | None = None) -> LegTrack:
    """Return a footstep-planned gait: walking, jogging, running, marching, side steps, stepping over."""
    t = np.arange(n) / FPS
    dur = t[-1]
    half = cycle / 2
    # Lift-offs and landings fall on frames, so the foot is exactly at rest on the frames that hold it.
    swing_d = max(round((1 - stance) * cycle * FPS), 3) / FPS
    t0, tail = 0.2, 0.2
    n_steps = max(int((dur - tail - t0 - swing_d) // half) + 1, 2)
    if pattern == "together" and n_steps % 2:
        n_steps -= 1
    # Step targets along the path's arc length; the last step of an alternating gait closes the stance.
    if pattern == "together":
        step_len = speed * cycle
        targets = np.array([((j + 1) // 2) * step_len for j in range(1, n_steps + 1)], dtype=np.float64)
    else:
        step_len = speed * half
        # Faster gaits need a few shorter steps to speed up and slow down.
        ramp = max(int(np.ceil(speed / 1.2)), 1)
        j = np.arange(n_steps)
        scale = np.minimum(1.0, np.minimum((j + 1) / ramp, (n_steps - 1 - j) / ramp + 0.5 / ramp))
        targets = np.cumsum(step_len * scale)
        targets[-1] = targets[-2]
    travel = {"forward": 0.0, "backward": np.pi, "left": np.pi / 2, "right": -np.pi / 2}[direction]
    path = _Path(float(targets.max()) if len(targets) else 0.0, turn, travel)
    sig = np.zeros((n, 2))
    height = np.zeros((n, 2))
    swinging = np.zeros((n, 2), dtype=bool)
    labels = [[label] * n, [label] * n]
    pos = [0.0, 0.0]
    for j in range(n_steps):
        foot = lead if j % 2 == 0 else 1 - lead
        lift_t = round((t0 + j * half) * FPS) / FPS
        land_t = lift_t + swing_d
        u = (t - lift_t) / swing_d
        inside = (u > 0) & (u < 1)
        after = u >= 1
        h = high_lift if j in high_steps else lift
        h = swing_lift(int(round(swing_d * FPS)), abs(targets[j] - pos[foot]), h)
        sig[inside, foot] = pos[foot] + (targets[j] - pos[foot]) * swing_progress(u[inside], swing_d * FPS)
        height[inside, foot] = h * np.sin(np.pi * u[inside])
        sig[after, foot] = targets[j]
        swinging[inside, foot] = True
        if j in high_steps:
            for f in np.nonzero((t >= lift_t - 0.1) & (t <= land_t + 0.1))[0]:
                labels[foot][f] = high_label
        pos[foot] = targets[j]
    ankles = np.zeros((n, 2, 3))
    yaw = np.zeros((n, 2))
    for s in (0, 1):
        th = path.heading(sig[:, s])
        ankles[:, s] = path.point(sig[:, s]) + np.einsum("tij,j->ti", rot_y(th), np.array([HIP_OFFSET[s][0], 0, 0]))
        ankles[:, s, 1] = ANKLE_HEIGHT[s] + height[:, s]
        yaw[:, s] = th
    if pattern == "together":
        centre = gaussian_filter1d(sig.mean(axis=1), 0.3 * cycle * FPS, mode="nearest")
    else:
        # The pelvis passes over each stance foot at mid-stance (halfway between its landing and next lift-off).
        knot_t, knot_s = [0.0, t0], [0.0, 0.0]
        for j in range(n_steps):
            land = t0 + j * half + swing_d
            nxt = t0 + (j + 2) * half
            mid = 0.5 * (land + nxt) if j + 2 < n_steps else dur
            if mid > knot_t[-1] + 1e-6:
                knot_t.append(mid)
                knot_s.append(targets[j])
        knot_t.append(dur + 1e-3)
        knot_s.append(knot_s[-1])
        centre = gaussian_filter1d(np.interp(t, knot_t, knot_s), 0.2 * cycle * FPS, mode="nearest")
    centre = _pin_ends(centre, 0.0, float(targets[-1]), int(0.5 * FPS))
    pelvis = path.point(centre)
    heading = path.heading(centre)
    active = gaussian_filter1d(swinging.any(axis=1).astype(np.float64), 0.5 * cycle * FPS, mode="nearest")
    active = np.clip(active / max(active.max(), 1e-6), 0, 1)
    flight = gaussian_filter1d(swinging.all(axis=1).astype(np.float64), 1.0)
    pelvis[:, 1] = STAND_PELVIS_HEIGHT - crouch * active + bob * flight
    if step_len > 0.05 and direction in ("forward", "backward"):
        raw = (sig[:, 1] - sig[:, 0]) / step_len
        if direction == "backward":
            raw = -raw
    else:
        raw = (height[:, 1] - height[:, 0]) / max(lift, 1e-3)
    swing = np.clip(gaussian_filter1d(raw, 1.0, mode="nearest"), -1, 1)
    planted = ~swinging
    knee_up = np.zeros((n, 2))
    if lift > 0.2:  # marching: the knee leads the foot upward
        knee_up = np.clip(height / lift, 0, 1) * 0.6
    p = dict(params or {})
    return _track(n, pelvis, ankles, planted, label, p, heading=heading, foot_yaw=yaw, knee_up=knee_up,
                  swing=swing, gait=active, labels=labels)


def jumps(n: int, *, count: int, height: float, distance: float, crouch: float, one_leg: int | None = None,
          params: dict | None = None) -> LegTrack:
    """Return jumps on both feet (or hops on one, the other held up), in place or travelling forward."""
    t = np.arange(n) / FPS
    # Flight time snapped to whole frames; the take-off speed follows from it.
    tf = max(round(2 * np.sqrt(2 * height / GRAVITY) * FPS), 3) / FPS
    v0 = GRAVITY * tf / 2
    hs = STAND_PELVIS_HEIGHT
    h_ext = hs + 0.01
    dip, push, land, recover = (0.3, 0.15, 0.18, 0.3) if one_leg is None else (0.22, 0.12, 0.15, 0.25)
    start = 0.2 if one_leg is None else 0.45
    def snap(x: float) -> float:
        """Round a time to the frame grid."""
        return round(x * FPS) / FPS

    k_t, k_y, k_v = [0.0, start], [hs, hs], [0.0, 0.0]
    flights = []
    ts = start
    for _ in range(count):
        a = snap(ts + dip)
        b = snap(a + push)
        c = b + tf
        d = c + land
        e = d + recover
        k_t += [a, b, c, d, e]
        k_y += [hs - crouch, h_ext, h_ext, hs - 0.7 * crouch, hs]
        k_v += [0.0, v0, -v0, 0.0, 0.0]
        flights.append((b, c))
        ts = e
    k_t.append(max(ts + 1e-3, t[-1]))
    k_y.append(hs)
    k_v.append(0.0)
    pelvis_y = hermite(t, k_t, k_y, k_v)
    sig = np.zeros(n)
    air = np.zeros(n, dtype=bool)
    tuck = np.zeros(n)
    for i, (b, c) in enumerate(flights):
        u = (t - b) / (c - b)
        inside = (u > 0) & (u < 1)
        sig[inside] = i * distance + distance * swing_progress(u[inside], tf * FPS)
        sig[u >= 1] = (i + 1) * distance
        air |= inside
        tuck[inside] = np.sin(np.pi * u[inside])
    ankles = _stance_feet(n)
    for s in (0, 1):
        ankles[:, s, 2] = sig
        lift = np.where(air, np.maximum(pelvis_y - h_ext, 0.0) + 0.12 * tuck, 0.0)
        ankles[:, s, 1] = ANKLE_HEIGHT[s] + lift
    planted = np.stack((~air, ~air), axis=1)
    centre = _pin_ends(gaussian_filter1d(sig, 0.12 * FPS, mode="nearest"), 0.0, float(sig[-1]), int(0.3 * FPS))
    pelvis = np.stack((np.zeros(n), pelvis_y, centre), -1)
    label = "jump" if one_leg is None else "hop"
    labels = [[label] * n, [label] * n]
    knee_up = np.zeros((n, 2))
    if one_leg is not None:
        free = 1 - one_leg
        hold = keyframes(t, [0.0, 0.1, 0.4, t[-1] - 0.45, t[-1] - 0.15, t[-1]], [0, 0, 1, 1, 0, 0])
        # Shift the weight over the hopping foot, then lift the other foot behind with the knee bent.
        pelvis[:, 0] += HIP_OFFSET[one_leg][0] * 0.6 * hold
        hips = hip_positions(pelvis, np.zeros(n))
        raised = hips[:, free] + np.array([0.0, -0.55, -0.2])
        raised[:, 1] = np.maximum(raised[:, 1], ankles[:, one_leg, 1] + 0.15)
        ankles[:, free] = ankles[:, free] * (1 - hold[:, None]) + raised * hold[:, None]
        ankles[:, free, 1] = np.maximum(ankles[:, free, 1], ANKLE_HEIGHT[free])
        planted[:, free] = hold < 1e-6
        knee_up[:, free] = 0.3 * hold
        labels[free] = ["lift" if h > 0.05 else "still" for h in hold]
    gait_amp = gaussian_filter1d(air.astype(np.float64), 3.0)
    return _track(n, pelvis, ankles, planted, label, dict(params or {}), knee_up=knee_up, labels=labels,
                  gait=np.clip(gait_amp / max(gait_amp.max(), 1e-6), 0, 1))


def still(n: int, *, amp: float, rate: float, phase: float, params: dict | None = None) -> LegTrack:
    """Return a relaxed stance with a slow, small weight shift (amp metres, rate Hz)."""
    t = np.arange(n) / FPS
    sway = amp * (np.sin(2 * np.pi * rate * t + phase) - np.sin(phase)) * smoothstep(t / 0.5) * smoothstep(
        (t[-1] - t) / 0.5)
    pelvis = np.stack((sway, np.full(n, STAND_PELVIS_HEIGHT) - 0.2 * np.abs(sway), np.zeros(n)), -1)
    return _track(n, pelvis, _stance_feet(n), np.ones((n, 2), dtype=bool), "still", dict(params or {}))


def squat(n: int, *, count: int, depth: float, params: dict | None = None) -> LegTrack:
    """Return squats: the hips go down and back with both feet flat, then rise."""
    t = np.arange(n) / FPS
    per = (t[-1] - 0.4) / count
    times, ys, zs, bows = [0.0, 0.2], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]
    for i in range(count):
        a = 0.2 + i * per
        times += [a + 0.4 * per, a + 0.55 * per, a + per]
        ys += [depth, depth, 0.0]
        zs += [-0.3 * depth, -0.3 * depth, 0.0]
        bows += [0.35, 0.35, 0.0]
    times.append(t[-1] + 1e-3)
    ys.append(0.0)
    zs.append(0.0)
    bows.append(0.0)
    down = keyframes(t, times, ys)
    back = keyframes(t, times, zs)
    pelvis = np.stack((np.zeros(n), STAND_PELVIS_HEIGHT - down, back), -1)
    return _track(n, pelvis, _stance_feet(n), np.ones((n, 2), dtype=bool), "squat", dict(params or {}),
                  spine_bow=keyframes(t, times, bows))


def _step(t: np.ndarray, start: float, dur: float, a: np.ndarray, b: np.ndarray, lift: float):
    u = (t - start) / dur
    lift = swing_lift(int(round(dur * FPS)), float(np.linalg.norm(b - a)), lift)
    w = swing_progress(u, dur * FPS)[:, None]
    pos = a * (1 - w) + b * w
    inside = (u > 0) & (u < 1)
    pos[inside, 1] += lift * np.sin(np.pi * u[inside])
    return pos, inside


def lunge(n: int, *, lead: int, length: float, depth: float, params: dict | None = None) -> LegTrack:
    """Return a forward lunge: one foot steps far ahead, the hips sink, then the foot steps back."""
    t = np.arange(n) / FPS
    dur = t[-1]
    step = 0.45
    hold_end = dur - 0.2 - step - 0.5
    ankles = _stance_feet(n)
    a = ankles[0, lead].copy()
    b = a + np.array([0.0, 0.0, length])
    out, in1 = _step(t, 0.2, step, a, b, 0.06)
    back, in2 = _step(t, hold_end + 0.5, step, b, a, 0.06)
    ankles[:, lead] = np.where((t < hold_end + 0.5)[:, None], out, back)
    planted = np.ones((n, 2), dtype=bool)
    planted[in1 | in2, lead] = False
    times = [0.0, 0.2, 0.2 + step, 0.2 + step + 0.5, hold_end, hold_end + 0.5, hold_end + 0.5 + step, dur + 1e-3]
    z = keyframes(t, times, [0, 0, 0.3 * length, 0.45 * length, 0.45 * length, 0.3 * length, 0, 0])
    y = keyframes(t, times, [0, 0, 0.04, depth, depth, 0.04, 0, 0])
    pelvis = np.stack((np.zeros(n), STAND_PELVIS_HEIGHT - y, z), -1)
    return _track(n, pelvis, ankles, planted, "lunge", dict(params or {}))


def _kneel_height(back_z: float, pelvis_z: float, side: int) -> float:
    # Bisection on the pelvis height that puts the back knee 5 cm above the floor.
    lo, hi = 0.2, STAND_PELVIS_HEIGHT
    ankle = np.array([[HIP_OFFSET[side][0], ANKLE_HEIGHT[side], back_z]])
    pole = np.array([[0.0, 0.0, 1.0]])
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        hip = np.array([[HIP_OFFSET[side][0], mid + HIP_OFFSET[side][1], pelvis_z]])
        knee, _ = two_bone_ik(hip, ankle, pole, THIGH[side], SHIN[side])
        if knee[0, 1] < 0.05:
            lo = mid
        else:
            hi = mid
    return hi


def kneel(n: int, *, knee: int, back: float, params: dict | None = None) -> LegTrack:
    """Return kneeling on one knee: that foot steps back, the hips sink until the knee nears the floor, then rise."""
    t = np.arange(n) / FPS
    dur = t[-1]
    step, down = 0.5, 0.7
    rise_start = dur - 0.2 - step - down
    ankles = _stance_feet(n)
    a = ankles[0, knee].copy()
    b = a + np.array([0.0, 0.0, -back])
    out, in1 = _step(t, 0.2, step, a, b, 0.05)
    ret, in2 = _step(t, rise_start + down, step, b, a, 0.05)
    ankles[:, knee] = np.where((t < rise_start + down)[:, None], out, ret)
    planted = np.ones((n, 2), dtype=bool)
    planted[in1 | in2, knee] = False
    pz = -0.4 * back
    low = _kneel_height(-back, pz, knee)
    times = [0.0, 0.2, 0.2 + step, 0.2 + step + down, rise_start, rise_start + down, rise_start + down + step,
             dur + 1e-3]
    z = keyframes(t, times, [0, 0, 0.5 * pz, pz, pz, 0.5 * pz, 0, 0])
    y = keyframes(t, times, [STAND_PELVIS_HEIGHT, STAND_PELVIS_HEIGHT, STAND_PELVIS_HEIGHT - 0.05, low, low,
                             STAND_PELVIS_HEIGHT - 0.05, STAND_PELVIS_HEIGHT, STAND_PELVIS_HEIGHT])
    pelvis = np.stack((np.zeros(n), y, z), -1)
    bow = keyframes(t, times, [0, 0, 0.1, 0.2, 0.2, 0.1, 0, 0])
    return _track(n, pelvis, ankles, planted, "kneel", dict(params or {}), spine_bow=bow)


def kick(n: int, *, side: int, style: str, angle: float, count: int, params: dict | None = None) -> LegTrack:
    """Return kicks with one leg (front or side) while the other foot stays planted."""
    t = np.arange(n) / FPS
    support = 1 - side
    per = (t[-1] - 0.9) / count
    times, w_ch, w_ex = [0.0, 0.4], [0.0, 0.0], [0.0, 0.0]
    for i in range(count):
        a = 0.4 + i * per
        times += [a + 0.3, a + 0.45, a + 0.6, a + 0.8, a + min(per, 1.2)]
        w_ch += [1.0, 1.0, 1.0, 1.0, 0.0]
        w_ex += [0.0, 1.0, 1.0, 0.0, 0.0]
    times.append(t[-1] + 1e-3)
    w_ch.append(0.0)
    w_ex.append(0.0)
    chamber = keyframes(t, times, w_ch)
    # The kicking foot leaves and meets the floor briskly (ease-out / ease-in), not creeping, which the contact
    # rule would read as a sliding foot.
    brisk = np.sin(np.pi / 2 * np.clip(chamber, 0, 1) ** 0.5)
    chamber = np.where(chamber > 0, brisk, 0.0)
    extend = keyframes(t, times, w_ex)
    shift = keyframes(t, [0.0, 0.1, 0.4, t[-1] - 0.5, t[-1] - 0.15, t[-1] + 1e-3], [0, 0, 1, 1, 0, 0])
    pelvis = np.stack((shift * HIP_OFFSET[support][0] * 0.5, np.full(n, STAND_PELVIS_HEIGHT), np.zeros(n)), -1)
    hips = hip_positions(pelvis, np.zeros(n))
    reach = 0.93 * LEG_REACH[side]
    if style == "front":
        ext = np.array([0.0, -np.cos(angle), np.sin(angle)]) * reach
    else:
        ext = np.array([np.sign(HIP_OFFSET[side][0]) * np.sin(angle), -np.cos(angle), 0.15]) * reach
    chamber_rel = np.array([0.0, -0.5, 0.3]) if style == "front" else np.array([0.1 * np.sign(HIP_OFFSET[side][0]),
                                                                                -0.5, 0.25])
    rel = chamber_rel[None] * (1 - extend[:, None]) + ext[None] * extend[:, None]
    ankles = _stance_feet(n)
    target = hips[:, side] + rel
    ankles[:, side] = ankles[:, side] * (1 - chamber[:, None]) + target * chamber[:, None]
    ankles[:, side, 1] = np.maximum(ankles[:, side, 1], ANKLE_HEIGHT[side])
    planted = np.ones((n, 2), dtype=bool)
    planted[:, side] = chamber < 1e-6
    knee_up = np.zeros((n, 2))
    knee_up[:, side] = 0.5 * chamber * (1 - extend)
    pitch = np.zeros((n, 2))
    pitch[:, side] = 0.6 * chamber
    labels = [["still"] * n, ["still"] * n]
    labels[side] = ["kick" if c > 0.05 else "still" for c in chamber]
    return _track(n, pelvis, ankles, planted, "kick", dict(params or {}), knee_up=knee_up, foot_pitch=pitch,
                  labels=labels, spine_bow=-0.1 * chamber if style == "front" else None)


def knee_lift(n: int, *, side: int, count: int, hold: float, angle: float, params: dict | None = None) -> LegTrack:
    """Return knee raises on one leg: the weight moves over the other foot, the knee comes up in front, held, lowered.

    `angle` is the thigh's elevation from the horizontal at the top (radians, 0 = knee at hip height); each raise
    takes 0.35 s up, `hold` seconds held and 0.35 s down, with 0.4 s standing between raises.
    """
    t = np.arange(n) / FPS
    support = 1 - side
    times, w = [0.0], [0.0]
    for i in range(count):
        a = 0.45 + i * (hold + 1.1)
        times += [a, a + 0.35, a + 0.35 + hold, a + 0.7 + hold]
        w += [0.0, 1.0, 1.0, 0.0]
    times.append(max(t[-1], times[-1]) + 1e-3)
    w.append(0.0)
    raw = keyframes(t, times, w)
    # The foot leaves and meets the floor moving upward or downward at once (ease-out), and travels forward only
    # once it is off the floor (smoothstep), so the velocity contact rule never sees a slowly creeping foot.
    rise = np.sin(np.pi / 2 * np.clip(raw, 0, 1))
    end = min(t[-1], times[-2] + 0.45)
    shift = keyframes(t, [0.0, 0.1, 0.4, end - 0.35, end, t[-1] + 1e-3], [0, 0, 1, 1, 0, 0])
    pelvis = np.stack((shift * HIP_OFFSET[support][0] * 0.6, np.full(n, STAND_PELVIS_HEIGHT), np.zeros(n)), -1)
    hips = hip_positions(pelvis, np.zeros(n))
    knee = np.array([0.0, np.sin(angle), np.cos(angle)]) * THIGH[side]
    top = knee + np.array([0.0, -0.97, -0.25]) * SHIN[side]  # the shin hangs nearly straight down, foot a little back
    ankles = _stance_feet(n)
    target = hips[:, side] + top
    travel = smoothstep(raw)
    ankles[:, side, [0, 2]] = ankles[:, side, [0, 2]] * (1 - travel[:, None]) + target[:, [0, 2]] * travel[:, None]
    ankles[:, side, 1] = np.maximum(ankles[:, side, 1] * (1 - rise) + target[:, 1] * rise, ANKLE_HEIGHT[side])
    planted = np.ones((n, 2), dtype=bool)
    planted[:, side] = rise < 1e-6
    knee_up = np.zeros((n, 2))
    knee_up[:, side] = 0.7 * rise
    pitch = np.zeros((n, 2))
    pitch[:, side] = 0.35 * rise
    labels = [["still"] * n, ["still"] * n]
    labels[side] = ["lift" if x > 0.05 else "still" for x in rise]
    return _track(n, pelvis, ankles, planted, "lift", dict(params or {}), knee_up=knee_up, foot_pitch=pitch,
                  labels=labels)


__all__ = ["LegTrack", "gait", "jumps", "still", "squat", "lunge", "kneel", "kick", "knee_lift", "keyframes",
           "hermite", "smoothstep", "SIDES", "THIGH", "SHIN"]
