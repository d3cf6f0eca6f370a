"""Temporal analysis per kinematic group: periodicity, actions over time and changes between keyframes.

Everything here reads joint measurements only (`BodyMeasures`). Each group gets a
sequence of segments, each with an action label from the shared vocabulary
(`kinmo_core.data.actions.GROUP_ACTIONS`) and details (side, direction, rate, amplitude)
found from the signal itself: sliding windows are classified by thresholded rules,
labels are voted per frame, then short runs are merged away.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from kinmo_core.annotate.measure import SIDES, BodyMeasures
from kinmo_core.motion.kinematic import GROUP_JOINTS, GROUPS

WINDOW_SECONDS: float = 1.6
"""Length of the analysis windows."""
SHORT_WINDOW_SECONDS: float = 0.8
"""Length of the windows that classify held arm poses (raise, reach, hands on hips, crossed arms)."""
PERIODIC_ARM_ACTIONS: tuple[str, ...] = ("swing", "wave", "clap", "punch", "throw")
ARM_MIN_SEGMENT_SECONDS: float = 0.6
HOP_FRAMES: int = 4
MIN_SEGMENT_SECONDS: float = 0.8
"""Runs of one label shorter than this are merged into their neighbours."""

# Periodicity search band (Hz) and the share of spectral power that makes a signal periodic.
PERIOD_MIN_HZ: float = 0.6
PERIOD_MAX_HZ: float = 5.0
PERIODIC_STRENGTH: float = 0.35

# Legs (metres, m/s). Foot heights are of the lower of ankle and toe above the floor.
OFF_GROUND: float = 0.02  # a foot above this is off the ground (swinging or airborne)
FLIGHT_SHARE: float = 0.08  # both feet off the ground together this share of a window: a flight phase (jog, run, jump)
KNEEL_KNEE_HEIGHT: float = 0.15
SQUAT_PELVIS_DROP: float = 0.12  # below standing height
LUNGE_FEET_GAP: float = 0.45  # forward distance between the feet
JUMP_PELVIS_RANGE: float = 0.2
JUMP_FOOT_HEIGHT: float = 0.12
FEET_HEIGHT_MATCH: float = 0.08  # both feet peak within this of each other: they move together
KICK_FOOT_HEIGHT: float = 0.25
KICK_EXTENSION: float = 0.45  # a kick sends the ankle this far out from the pelvis (forward or sideways)
KNEE_HIGH_ELEVATION: float = 65.0  # a held-up thigh this far from hanging (90 = level) is a knee raise, not a tuck
HIGH_STEP_HEIGHT: float = 0.23  # a swing foot this high is a high knee (march) or a step over something
RUN_STEP_HEIGHT: float = 0.2  # swing-foot clearance separating a run from a jog
MARCH_MAX_SPEED: float = 0.62
LIFTED_SHARE: float = 0.85  # a foot off the ground this share of a window is held up
MOVING_ROOT_SPEED: float = 0.25
STEP_SHARE: float = 0.12  # a foot off the ground at least this share of the window: stepping

# Arms (metres, m/s, degrees). Positions are of the wrist relative to its shoulder in the body frame.
ARM_HELD_SPEED: float = 0.35  # mean wrist speed below which a pose counts as held
CLAP_HANDS_DISTANCE: float = 0.14
HIP_HAND_DISTANCE: float = 0.25
HIP_ELBOW_OUT: float = 0.1  # hands on hips: the elbow sticks out sideways
BENT_ELBOW: float = 110.0
CROSS_MIDLINE: float = 0.05  # a wrist this close to (or past) the body's midline crosses it
WAVE_MIN_HEIGHT: float = -0.2  # the waving hand is at least near shoulder height
WAVE_ELBOW_AMPLITUDE: float = 10.0
PUNCH_WRIST_SPEED: float = 2.2
PUNCH_ELBOW_AMPLITUDE: float = 25.0
THROW_WRIST_SPEED: float = 3.0
THROW_WINDUP_HEIGHT: float = 0.15  # the throwing hand winds up above the shoulder with a bent elbow, once
RAISE_ELEVATION: float = 70.0  # shoulder-to-wrist angle from straight down
OVERHEAD_ELEVATION: float = 150.0
STRAIGHT_ELBOW: float = 155.0
SWING_MIN_AMPLITUDE: float = 0.05
SWING_STRENGTH: float = 0.3

# Torso and neck (degrees).
BOW_INCLINE: float = 18.0
LEAN_INCLINE: float = 5.5
TWIST_ANGLE: float = 15.0
TWIST_RANGE: float = 25.0  # a torso turning back and forth: range of the twist angle within a window
NOD_AMPLITUDE: float = 6.0
SHAKE_AMPLITUDE: float = 11.0  # real walking sways the head by up to ~10 degrees
LOOK_YAW: float = 18.0
LOOK_PITCH: float = 14.0


@dataclass
class Segment:
    """One run of frames [start, end) in which a group performs one action."""

    start: int
    end: int
    action: str
    details: dict[str, object] = field(default_factory=dict)


@dataclass
class GroupTimeline:
    """The segments of every group, plus per-frame labels."""

    segments: dict[str, list[Segment]]
    frame_labels: dict[str, np.ndarray]


def periodicity(x: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (frequency Hz, amplitude, strength in [0, 1]) of the dominant period of each row of x (..., n)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    t = np.arange(n) - (n - 1) / 2
    # Remove the mean and the linear trend so a slow drift does not read as a low-frequency period.
    xc = x - x.mean(-1, keepdims=True)
    slope = (xc * t).sum(-1, keepdims=True) / max((t * t).sum(), 1e-9)
    xd = xc - slope * t
    nfft = max(64, 1 << int(np.ceil(np.log2(4 * n))))
    spec = np.abs(np.fft.rfft(xd * np.hanning(n), n=nfft, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(nfft, d=1.0 / fps)
    band = (freqs >= max(PERIOD_MIN_HZ, 1.5 * fps / n)) & (freqs <= PERIOD_MAX_HZ)
    if not band.any():
        z = np.zeros(x.shape[:-1])
        return z, z, z
    sb = spec[..., band]
    k = sb.argmax(-1)
    freq = freqs[band][k]
    total = spec[..., 1:].sum(-1)
    # Power near the peak (three bins either side of a zero-padded spectrum) over all non-DC power.
    idx = np.arange(sb.shape[-1])
    near = np.abs(idx - k[..., None]) <= 3
    strength = (sb * near).sum(-1) / np.maximum(total, 1e-12)
    amplitude = (xd.max(-1) - xd.min(-1)) / 2
    return freq, amplitude, np.clip(strength, 0.0, 1.0)


def _windows(x: np.ndarray, win: int, hop: int) -> np.ndarray:
    return sliding_window_view(x, win, axis=0)[::hop]


def _window_starts(n: int, win: int, hop: int) -> np.ndarray:
    return np.arange(0, n - win + 1, hop)


def _leg_labels(m: dict[str, np.ndarray], win: int, hop: int, fps: float) -> dict[str, np.ndarray]:
    W = {
        k: _windows(m[k], win, hop)
        for k in (
            "left_foot_height",
            "right_foot_height",
            "left_knee_height",
            "right_knee_height",
            "pelvis_height",
            "pelvis_drop",
            "root_speed",
            "root_forward_speed",
            "root_left_speed",
            "feet_forward_gap",
        )
    }
    h = {s: W[f"{s}_foot_height"] for s in SIDES}
    off = {s: (h[s] > OFF_GROUND).mean(-1) for s in SIDES}
    hmax = {s: h[s].max(-1) for s in SIDES}
    flight = ((h["left"] > OFF_GROUND) & (h["right"] > OFF_GROUND)).mean(-1)
    pel_range = np.ptp(W["pelvis_height"], -1)
    drop = W["pelvis_drop"].max(-1)
    speed = W["root_speed"].mean(-1)
    fwd = W["root_forward_speed"].mean(-1)
    lat = W["root_left_speed"].mean(-1)
    gap = np.abs(W["feet_forward_gap"]).max(-1)
    knee_min = np.minimum(W["left_knee_height"].min(-1), W["right_knee_height"].min(-1))
    together = np.abs(hmax["left"] - hmax["right"]) < FEET_HEIGHT_MATCH
    n = len(speed)

    # Stepping needs both feet to leave the ground in turn (one foot alone is a kick, a lunge step or a held leg).
    stepping = ((off["left"] > STEP_SHARE) & (off["right"] > STEP_SHARE)) | (speed > MOVING_ROOT_SPEED)
    high = np.minimum(hmax["left"], hmax["right"]) > HIGH_STEP_HEIGHT
    gait = np.where(
        (np.abs(lat) > np.abs(fwd)) & (np.abs(lat) > MOVING_ROOT_SPEED * 0.8),
        "side_step",
        np.where(
            flight > FLIGHT_SHARE,
            np.where(np.maximum(hmax["left"], hmax["right"]) > RUN_STEP_HEIGHT, "run", "jog"),
            np.where(high & (speed < MARCH_MAX_SPEED), "march", "walk"),
        ),
    )
    jump = (
        (flight > FLIGHT_SHARE)
        & together
        & (np.minimum(hmax["left"], hmax["right"]) > JUMP_FOOT_HEIGHT)
        & (pel_range > JUMP_PELVIS_RANGE)
    )
    kneel = knee_min < KNEEL_KNEE_HEIGHT
    lunge = (gap > LUNGE_FEET_GAP) & (drop > SQUAT_PELVIS_DROP) & ~stepping
    squat = (drop > SQUAT_PELVIS_DROP) & (gap < LUNGE_FEET_GAP) & ~stepping
    out: dict[str, np.ndarray] = {}
    for s, o in (("left", "right"), ("right", "left")):
        lab = np.full(n, "still", dtype=object)
        lab = np.where(stepping, gait, lab)
        lab = np.where(squat, "squat", lab)
        lab = np.where(lunge, "lunge", lab)
        held = (off[s] > LIFTED_SHARE) & (off[o] < LIFTED_SHARE)
        hopping = (off[o] > LIFTED_SHARE) & (off[s] < LIFTED_SHARE) & (flight > FLIGHT_SHARE)
        kick = (hmax[s] > KICK_FOOT_HEIGHT) & (hmax[o] < OFF_GROUND) & (speed < MOVING_ROOT_SPEED)
        lab = np.where(kick, "kick", lab)
        lab = np.where(held, "lift", lab)
        lab = np.where(hopping, "hop", lab)
        lab = np.where(jump, "jump", lab)
        lab = np.where(kneel, "kneel", lab)
        out[f"{s}_leg"] = lab
    return out


def _high_steps(m: dict[str, np.ndarray], side: str, labels: np.ndarray, fps: float) -> np.ndarray:
    """Mark as 'lift' the swing phases of a walk whose foot rises high (stepping over something)."""
    h = m[f"{side}_foot_height"]
    off = h > OFF_GROUND
    out = labels.copy()
    for a, b, lab in _runs(off.astype(np.int8)):
        if lab != "1" or h[a:b].max() <= HIGH_STEP_HEIGHT:
            continue
        lo, hi = max(0, a - 2), min(len(h), b + 2)
        if np.mean(labels[lo:hi] == "walk") > 0.5:
            out[lo:hi] = "lift"
    return out


def _knee_level(m: dict[str, np.ndarray], side: str, a: int, b: int) -> bool:
    """Whether the thigh of `side` comes up (nearly) level in frames [a, b): a knee raise, not a tucked leg."""
    return float(np.percentile(m[f"{side}_thigh_elevation"][a:b], 90)) > KNEE_HIGH_ELEVATION


def _knee_raises(m: dict[str, np.ndarray], side: str, labels: np.ndarray) -> np.ndarray:
    """Relabel as 'lift' the 'kick' runs whose ankle never extends and whose knee comes up level or that border a
    held-up leg: a knee raised and lowered again, not a kick."""
    reach = np.maximum(m[f"{side}_foot_forward"], m[f"{side}_foot_outward"])
    runs = _runs(labels)
    out = labels.copy()
    for k, (a, b, lab) in enumerate(runs):
        if lab != "kick" or float(reach[a:b].max()) >= KICK_EXTENSION:
            continue
        near_lift = any(0 <= j < len(runs) and runs[j][2] == "lift" for j in (k - 1, k + 1))
        if near_lift or _knee_level(m, side, a, b):
            out[a:b] = "lift"
    return out


def _arm_labels(m: dict[str, np.ndarray], win: int, hop: int, fps: float) -> dict[str, np.ndarray]:
    hands = _windows(m["hands_distance"], win, hop)
    _, clap_a, clap_s = periodicity(hands, fps)
    clap_w = (hands.min(-1) < CLAP_HANDS_DISTANCE) & (clap_a > 0.03) & (clap_s > PERIODIC_STRENGTH)
    out: dict[str, np.ndarray] = {}
    for s in SIDES:
        W = {
            k: _windows(m[f"{s}_{k}"], win, hop)
            for k in (
                "wrist_speed",
                "wrist_above_shoulder",
                "wrist_forward",
                "wrist_outward",
                "arm_elevation",
                "elbow_angle",
                "wrist_to_hip",
                "elbow_outward",
            )
        }
        speed = W["wrist_speed"]
        up, fwd, elbow = W["wrist_above_shoulder"], W["wrist_forward"], W["elbow_angle"]
        _, fwd_a, fwd_s = periodicity(fwd, fps)
        _, elb_a, elb_s = periodicity(elbow, fps)
        med = {k: np.median(v, -1) for k, v in W.items()}
        n = len(speed)
        held = speed.mean(-1) < ARM_HELD_SPEED
        lab = np.full(n, "still", dtype=object)
        swing = (fwd_s > SWING_STRENGTH) & (fwd_a > SWING_MIN_AMPLITUDE) & (up.max(-1) < 0.0)
        lab = np.where(swing, "swing", lab)
        straight = med["elbow_angle"] > STRAIGHT_ELBOW
        raised = (med["arm_elevation"] > RAISE_ELEVATION) & straight
        # Straight arm held out: overhead or out to the side reads as raising it, to the front (or up in front) as
        # reaching; raise, reach and point poses differ by a few degrees only, so pointing is not told apart.
        overhead = med["arm_elevation"] > OVERHEAD_ELEVATION
        sideways = med["wrist_outward"] > np.abs(med["wrist_forward"])
        lab = np.where(raised, np.where(overhead | sideways, "raise", "reach"), lab)
        hips = (
            (med["wrist_to_hip"] < HIP_HAND_DISTANCE)
            & (med["elbow_outward"] > HIP_ELBOW_OUT)
            & (med["elbow_angle"] < BENT_ELBOW)
        )
        lab = np.where(hips, "hands_on_hips", lab)
        cross = (
            (med["wrist_outward"] < CROSS_MIDLINE)
            & (med["elbow_angle"] < BENT_ELBOW)
            & (np.median(hands, -1) < 0.2)
            & held
        )
        lab = np.where(cross, "cross_arms", lab)
        wave = (
            (med["wrist_above_shoulder"] > WAVE_MIN_HEIGHT)
            & (elb_a > WAVE_ELBOW_AMPLITUDE)
            & (elb_s > PERIODIC_STRENGTH)
            & ~((speed.max(-1) > PUNCH_WRIST_SPEED) & (elb_a > 2 * PUNCH_ELBOW_AMPLITUDE))
        )
        lab = np.where(wave, "wave", lab)
        punch = (
            (speed.max(-1) > PUNCH_WRIST_SPEED)
            & (elb_a > PUNCH_ELBOW_AMPLITUDE)
            & (up.max(-1) < 0.15)
            & (fwd.max(-1) > 0.3)
        )
        lab = np.where(punch, "punch", lab)
        throw = (
            (speed.max(-1) > THROW_WRIST_SPEED)
            & (up.max(-1) > THROW_WINDUP_HEIGHT)
            & (elbow.min(-1) < BENT_ELBOW)
            & (elb_s < 0.5)
        )
        lab = np.where(throw, "throw", lab)
        # Clapping keeps the elbow's bend; alternating punches also bring the hands close, but by straightening it.
        lab = np.where(clap_w & (elb_a < PUNCH_ELBOW_AMPLITUDE), "clap", lab)
        lab = np.where(
            ~held & np.isin(lab, ["raise", "reach", "hands_on_hips", "cross_arms"]) & ~raised & ~hips & ~cross,
            "still",
            lab,
        )
        out[f"{s}_arm"] = lab
    return out


def _torso_labels(m: dict[str, np.ndarray], win: int, hop: int, fps: float) -> np.ndarray:
    fwd = np.median(_windows(m["torso_incline_forward"], win, hop), -1)
    side = np.median(_windows(m["torso_incline_left"], win, hop), -1)
    twist_w = _windows(m["torso_twist"], win, hop)
    twist = np.abs(np.median(twist_w, -1)) > TWIST_ANGLE
    # Alternating twists can be slower than a window, so look at the range rather than a period.
    twist |= np.ptp(twist_w, -1) > TWIST_RANGE
    lab = np.full(len(fwd), "upright", dtype=object)
    lab = np.where(np.abs(side) > LEAN_INCLINE, "lean", lab)
    lab = np.where(twist, "twist", lab)
    lab = np.where(fwd > BOW_INCLINE, "bow", lab)
    return lab


def _neck_labels(m: dict[str, np.ndarray], win: int, hop: int, fps: float) -> np.ndarray:
    yaw = _windows(m["head_yaw"], win, hop)
    pitch = _windows(m["head_pitch"], win, hop)
    _, ya, ys = periodicity(yaw, fps)
    _, pa, ps = periodicity(pitch, fps)
    lab = np.full(len(yaw), "neutral", dtype=object)
    look = (np.abs(np.median(yaw, -1)) > LOOK_YAW) | (np.abs(np.median(pitch, -1)) > LOOK_PITCH)
    lab = np.where(look, "look", lab)
    lab = np.where((pa > NOD_AMPLITUDE) & (ps > PERIODIC_STRENGTH) & (pa * 1.2 > ya), "nod", lab)
    lab = np.where((ya > SHAKE_AMPLITUDE) & (ys > PERIODIC_STRENGTH) & (ya > pa * 1.2), "shake", lab)
    return lab


def _to_frames(labels: np.ndarray, starts: np.ndarray, win: int, n: int) -> np.ndarray:
    """Give each frame the label of the window whose centre is nearest."""
    centres = starts + win / 2
    idx = np.abs(np.arange(n)[:, None] + 0.5 - centres[None, :]).argmin(1)
    return labels[idx]


def _runs(labels: np.ndarray) -> list[tuple[int, int, str]]:
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    bounds = np.concatenate([[0], change, [len(labels)]])
    return [(int(a), int(b), str(labels[a])) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _merge_short(labels: np.ndarray, min_len: int) -> np.ndarray:
    labels = labels.copy()
    for _ in range(8):
        runs = _runs(labels)
        if len(runs) <= 1:
            break
        short = [i for i, (a, b, _) in enumerate(runs) if b - a < min_len]
        if not short:
            break
        i = min(short, key=lambda k: runs[k][1] - runs[k][0])
        a, b, _ = runs[i]
        # Absorb into the longer neighbour.
        left = runs[i - 1] if i > 0 else None
        right = runs[i + 1] if i + 1 < len(runs) else None
        pick = left if right is None or (left is not None and left[1] - left[0] >= right[1] - right[0]) else right
        labels[a:b] = pick[2]
    return labels


def _segment_details(group: str, action: str, m: dict[str, np.ndarray], a: int, b: int, fps: float) -> dict:
    d: dict[str, object] = {"start_s": round(a / fps, 2), "end_s": round(b / fps, 2)}
    sl = slice(a, b)
    if group.endswith("_leg"):
        fwd = float(np.mean(m["root_forward_speed"][sl]))
        lat = float(np.mean(m["root_left_speed"][sl]))
        speed = float(np.mean(m["root_speed"][sl]))
        turn = float(np.mean(m["turn_rate"][sl]))
        d["speed_mps"] = round(speed, 2)
        if action in ("walk", "jog", "run", "march"):
            d["direction"] = "backward" if fwd < -0.15 else ("forward" if fwd > 0.15 else "in place")
            if abs(turn) > 20:
                d["turn"] = "left" if turn > 0 else "right"
        if action == "side_step":
            d["direction"] = "left" if lat > 0 else "right"
        if action in ("jump", "hop"):
            d["direction"] = "forward" if fwd > 0.3 else "in place"
        if action == "lift" and _knee_level(m, group.split("_")[0], a, b):
            d["knee"] = "high"
        if action == "kneel":
            lower = float(np.min(m["left_knee_height"][sl])) < float(np.min(m["right_knee_height"][sl]))
            d["side"] = "left" if lower else "right"
        if action == "lunge":
            gap = m["feet_forward_gap"][sl]
            d["side"] = "left" if float(gap[np.argmax(np.abs(gap))]) > 0 else "right"
        if action in ("walk", "jog", "run", "march", "side_step", "hop", "jump"):
            f, _, st = periodicity(m[f"{group.split('_')[0]}_foot_height"][sl], fps)
            if st > PERIODIC_STRENGTH:
                d["rate_hz"] = round(float(f), 2)
    elif group.endswith("_arm"):
        s = group.split("_")[0]
        if action in ("wave", "swing", "clap", "punch"):
            key = {
                "wave": f"{s}_wrist_outward",
                "swing": f"{s}_wrist_forward",
                "clap": "hands_distance",
                "punch": f"{s}_wrist_forward",
            }[action]
            f, amp, st = periodicity(m[key][sl], fps)
            if st > PERIODIC_STRENGTH:
                d["rate_hz"] = round(float(f), 2)
            d["amplitude_m"] = round(float(amp), 2)
        if action == "wave":
            d["height"] = "high" if float(np.median(m[f"{s}_wrist_above_shoulder"][sl])) > 0.1 else "low"
        if action == "raise":
            up = float(np.median(m[f"{s}_wrist_above_shoulder"][sl]))
            fw = float(np.median(m[f"{s}_wrist_forward"][sl]))
            d["direction"] = "overhead" if up > 0.25 else ("forward" if fw > 0.3 else "sideways")
    elif group == "torso":
        if action == "lean":
            d["side"] = "left" if float(np.median(m["torso_incline_left"][sl])) > 0 else "right"
        if action == "twist":
            # The first clear turn gives the side (an alternating twist goes that way first).
            tw = m["torso_twist"][sl]
            big = np.flatnonzero(np.abs(tw) > TWIST_ANGLE / 2)
            d["side"] = "left" if float(tw[big[0]] if len(big) else np.median(tw)) > 0 else "right"
        if action == "bow":
            d["angle_deg"] = round(float(np.max(m["torso_incline_forward"][sl])), 1)
    elif group == "neck":
        yaw = float(np.median(m["head_yaw"][sl]))
        pitch = float(np.median(m["head_pitch"][sl]))
        if action == "look":
            if abs(yaw) >= abs(pitch):
                d["side"] = "left" if yaw > 0 else "right"
            else:
                d["side"] = "up" if pitch > 0 else "down"
        if action in ("nod", "shake"):
            f, amp, st = periodicity(m["head_pitch" if action == "nod" else "head_yaw"][sl], fps)
            if st > PERIODIC_STRENGTH:
                d["rate_hz"] = round(float(f), 2)
            d["amplitude_deg"] = round(float(amp), 1)
    return d


def analyse(body: BodyMeasures) -> GroupTimeline:
    """Return the action segments of every group of a motion, from its measurements alone."""
    m, fps, n = body.m, body.fps, body.n_frames
    win = min(n, max(8, int(round(WINDOW_SECONDS * fps))))
    hop = max(1, min(HOP_FRAMES, n - win + 1))
    starts = _window_starts(n, win, hop)
    frames: dict[str, np.ndarray] = {}
    per_window: dict[str, np.ndarray] = {}
    per_window.update(_leg_labels(m, win, hop, fps))
    per_window["torso"] = _torso_labels(m, win, hop, fps)
    per_window["neck"] = _neck_labels(m, win, hop, fps)
    for g, lab in per_window.items():
        frames[g] = _to_frames(lab, starts, win, n)
    # Arms: periodic actions need long windows, held poses are told apart better by short ones.
    long_arms = _arm_labels(m, win, hop, fps)
    swin = min(n, max(8, int(round(SHORT_WINDOW_SECONDS * fps))))
    shop = max(1, min(HOP_FRAMES, n - swin + 1))
    short_arms = _arm_labels(m, swin, shop, fps)
    for g in ("left_arm", "right_arm"):
        lf = _to_frames(long_arms[g], starts, win, n)
        sf = _to_frames(short_arms[g], _window_starts(n, swin, shop), swin, n)
        frames[g] = np.where(np.isin(lf, PERIODIC_ARM_ACTIONS) | np.isin(sf, PERIODIC_ARM_ACTIONS), lf, sf)
    segments: dict[str, list[Segment]] = {}
    frame_labels: dict[str, np.ndarray] = {}
    for g in GROUPS:
        seconds = ARM_MIN_SEGMENT_SECONDS if g.endswith("_arm") else MIN_SEGMENT_SECONDS
        labels = _merge_short(frames[g], max(1, int(round(seconds * fps))))
        if g.endswith("_leg"):
            side = g.split("_")[0]
            labels = _knee_raises(m, side, _high_steps(m, side, labels, fps))
        frame_labels[g] = labels
        segments[g] = [Segment(a, b, act, _segment_details(g, act, m, a, b, fps)) for a, b, act in _runs(labels)]
    return GroupTimeline(segments=segments, frame_labels=frame_labels)


def group_positions(body: BodyMeasures) -> dict[str, np.ndarray]:
    """Return P_g (paper Eq. 1): the mean body-frame position of each group's joints, (T, 3) per group."""
    return {g: body.local[:, list(GROUP_JOINTS[g])].mean(1) for g in GROUPS}


def group_velocities(body: BodyMeasures) -> dict[str, np.ndarray]:
    """Return V_g (paper Eq. 2): the mean velocity (m/s, body frame) of each group's joints, (T, 3) per group."""
    return {g: np.gradient(p, axis=0) * body.fps for g, p in group_positions(body).items()}


_GROUP_ANGLE = {
    "left_arm": "left_elbow_angle",
    "right_arm": "right_elbow_angle",
    "left_leg": "left_knee_angle",
    "right_leg": "right_knee_angle",
    "torso": "torso_incline_forward",
    "neck": "head_pitch",
}
_ANGLE_NAME = {
    "left_arm": "the left elbow",
    "right_arm": "the right elbow",
    "left_leg": "the left knee",
    "right_leg": "the right knee",
    "torso": "the torso's forward incline",
    "neck": "the head's pitch",
}
POSITION_CHANGE: float = 0.08
"""A group's mean position must move this far (m) between keyframes to be mentioned."""
ANGLE_CHANGE: float = 20.0
"""A group's main angle must change this much (degrees) between keyframes to be mentioned."""


def keyframe_changes(body: BodyMeasures, keyframes: list[int]) -> list[dict]:
    """Return, per interval between consecutive keyframes, a short sentence per group on what changes in it."""
    P = group_positions(body)
    V = group_velocities(body)
    bounds = list(keyframes) + [body.n_frames - 1]
    out: list[dict] = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if b <= a:
            continue
        item: dict[str, str] = {}
        for g in GROUPS:
            clauses = []
            dp = P[g][b] - P[g][a]
            if np.linalg.norm(dp) > POSITION_CHANGE:
                axis = int(np.argmax(np.abs(dp)))
                word = [("moves left", "moves right"), ("rises", "drops"), ("moves forward", "moves back")][axis]
                clauses.append(f"{word[0] if dp[axis] > 0 else word[1]} by {abs(dp[axis]) * 100:.0f} cm")
            key = _GROUP_ANGLE[g]
            da = float(body.m[key][b] - body.m[key][a])
            if abs(da) > ANGLE_CHANGE:
                if g in ("torso", "neck"):
                    verb = "grows" if da > 0 else "shrinks"
                else:
                    verb = "straightens" if da > 0 else "bends"
                clauses.append(f"{_ANGLE_NAME[g]} {verb} by {abs(da):.0f} degrees")
            speed = float(np.linalg.norm(V[g][a : b + 1], axis=-1).mean())
            if speed > 0.3:
                clauses.append(f"mean speed {speed:.1f} m/s")
            if clauses:
                item[g] = ", ".join(clauses)
        out.append({"start": int(a), "end": int(b), "groups": item})
    return out
