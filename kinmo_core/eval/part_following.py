"""Part following: does a generated motion move the body part a prompt names, on the side it names?

Each prompt of `part_prompts.PART_PROMPTS` names one check (group, action, side). A check measures kinematic
quantities on joints (T, 22, 3) in the body frame (per frame: pelvis moved over the origin, root yaw taken from the
hip line removed, so +X is the body's left, +Y up, +Z forward) and thresholds them; every threshold is a named
constant below. A prompt is *followed* when the named check passes AND the mirrored check (the other arm or leg,
the other direction for the head and torso) does not.

Checks (group kinds: arm, leg, neck, torso):
  arm raise   wrist higher than the shoulder by RAISE_MARGIN for RAISE_MIN_FRAMES
  arm wave    wrist above the shoulder while its sideways position swings back and forth (WAVE_MIN_REVERSALS
              reversals of at least WAVE_AMPLITUDE each) within one raised stretch of WAVE_MIN_FRAMES
  arm punch   wrist moving forward faster than PUNCH_SPEED, then within PUNCH_WINDOW frames at least PUNCH_REACH in
              front of the shoulder and within PUNCH_HEIGHT_BAND of its height
  arm reach   wrist at least REACH_DISTANCE out (forward or to its own side) from the shoulder, within
              REACH_HEIGHT_BAND of shoulder height, for REACH_MIN_FRAMES
  leg kick    ankle KICK_FORWARD in front of its hip and KICK_HEIGHT above the floor in the same frame
  leg lift    knee no lower than KNEE_LIFT_MARGIN below its hip for KNEE_LIFT_MIN_FRAMES
  neck look   left/right: head yaw against the shoulder line beyond HEAD_TURN_ANGLE (defined only where the
              neck-head vector leans forward by HEAD_MIN_HORIZONTAL of its length); up/down: head pitch against
              the upper spine changed by HEAD_PITCH_ANGLE from its first BASELINE_FRAMES (the neutral pitch depends
              on the skeleton's geometry, so it is measured, not assumed); both for LOOK_MIN_FRAMES
  torso lean  pelvis-to-neck line tilted sideways beyond LEAN_ANGLE for LEAN_MIN_FRAMES
  torso twist shoulder line turned against the hip line beyond TWIST_ANGLE for TWIST_MIN_FRAMES

Each check is tested on synthetic motions (forward kinematics on the target skeleton, mirrored) and, where the
Bandai-Namco mocap is present, on real gestures: right-hand 'bye' waves, right-arm 'guide' reaches, both-hand
'byebye' waves and plain walks (tests/test_eval_part_following.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from kinmo_core.errors import KinmoInputError
from kinmo_core.eval.plausibility_report import check_joints
from kinmo_core.motion.contacts import true_runs
from kinmo_core.motion.kinematic import GROUPS, MIRROR_GROUP
from kinmo_core.motion.skeleton import FPS, JOINT_INDEX, LEFT_FOOT_JOINTS, RIGHT_FOOT_JOINTS

J = JOINT_INDEX

RAISE_MARGIN: float = 0.10  # metres above the shoulder joint
RAISE_MIN_FRAMES: int = 6  # 0.3 s
WAVE_AMPLITUDE: float = 0.05  # metres of sideways wrist travel between reversals
WAVE_MIN_REVERSALS: int = 2  # side-to-side-to-side: one full cycle
WAVE_MIN_FRAMES: int = 8
PUNCH_SPEED: float = 1.5  # m/s, forward wrist speed relative to the shoulder
PUNCH_REACH: float = 0.30  # metres in front of the shoulder within PUNCH_WINDOW frames of the fast frame
PUNCH_HEIGHT_BAND: float = 0.15  # metres above or below the shoulder at that moment (a swinging arm is lower)
PUNCH_WINDOW: int = 3
REACH_DISTANCE: float = 0.38  # metres; an arm is about 0.52 m long
REACH_HEIGHT_BAND: float = 0.30  # metres above or below the shoulder
REACH_MIN_FRAMES: int = 4
KICK_FORWARD: float = 0.35  # metres in front of the hip joint
KICK_HEIGHT: float = 0.25  # metres above the clip's floor
KNEE_LIFT_MARGIN: float = 0.15  # metres below the hip joint
KNEE_LIFT_MIN_FRAMES: int = 3
HEAD_TURN_ANGLE: float = 30.0  # degrees
HEAD_PITCH_ANGLE: float = 20.0  # degrees
HEAD_MIN_HORIZONTAL: float = 0.3  # share of the neck-head vector that must lie horizontal for a yaw to be defined
BASELINE_FRAMES: int = 5
LOOK_MIN_FRAMES: int = 4
LEAN_ANGLE: float = 15.0  # degrees
LEAN_MIN_FRAMES: int = 6
TWIST_ANGLE: float = 25.0  # degrees
TWIST_MIN_FRAMES: int = 4

SIDES: tuple[str, ...] = ("left", "right", "up", "down")
OPPOSITE_SIDE: dict[str, str] = {"left": "right", "right": "left", "up": "down", "down": "up"}
GROUP_KIND: dict[str, str] = {"torso": "torso", "neck": "neck", "left_arm": "arm", "right_arm": "arm",
                              "left_leg": "leg", "right_leg": "leg"}
CHECK_SIDES: dict[tuple[str, str], tuple[str, ...]] = {
    ("arm", "raise"): ("left", "right"),
    ("arm", "wave"): ("left", "right"),
    ("arm", "punch"): ("left", "right"),
    ("arm", "reach"): ("left", "right"),
    ("leg", "kick"): ("left", "right"),
    ("leg", "lift"): ("left", "right"),
    ("neck", "look"): ("left", "right", "up", "down"),
    ("torso", "lean"): ("left", "right"),
    ("torso", "twist"): ("left", "right"),
}
"""Every (group kind, action) with a check, and the sides it accepts (actions from `data.actions`)."""


def body_frame(joints) -> np.ndarray:
    """Return joints (T, 22, 3) with each frame's pelvis over the origin and its hip line turned to face +Z."""
    j = check_joints(joints, min_frames=1)
    across = j[:, J["left_hip"]] - j[:, J["right_hip"]]
    # forward = across x up; its heading angle about Y is removed frame by frame.
    fx, fz = -across[:, 2], across[:, 0]
    theta = np.arctan2(fx, fz)
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    rel = j - j[:, :1] * np.array([1.0, 0.0, 1.0])
    out = rel.copy()
    out[..., 0] = rel[..., 0] * c - rel[..., 2] * s
    out[..., 2] = rel[..., 0] * s + rel[..., 2] * c
    return out


def _longest_run(mask: np.ndarray) -> int:
    best = run = 0
    for m in mask:
        run = run + 1 if m else 0
        best = max(best, run)
    return best


def _reversals(x: np.ndarray, amplitude: float) -> int:
    """Count direction reversals of a 1-D signal, each after a monotone move longer than `amplitude`."""
    direction, ext, start, count = 0, x[0], x[0], 0
    for v in x[1:]:
        if direction == 0:
            if abs(v - start) > amplitude:
                direction, ext = (1 if v > start else -1), v
        elif direction == 1:
            if v > ext:
                ext = v
            elif ext - v > amplitude:
                direction, ext, count = -1, v, count + 1
        else:
            if v < ext:
                ext = v
            elif v - ext > amplitude:
                direction, ext, count = 1, v, count + 1
    return count


def _wrap_deg(a: np.ndarray) -> np.ndarray:
    return (a + 180.0) % 360.0 - 180.0


def _shoulder_yaw(b: np.ndarray) -> np.ndarray:
    s = b[:, J["left_shoulder"]] - b[:, J["right_shoulder"]]
    # A turn to the left (about +Y) sends the left shoulder backward (-Z).
    return np.degrees(np.arctan2(-s[:, 2], s[:, 0]))


# --------------------------------------------------------------------------------------------------- checks


def _arm_raise(b: np.ndarray, side: str, fps: int) -> tuple[bool, dict[str, float]]:
    above = b[:, J[f"{side}_wrist"], 1] - b[:, J[f"{side}_shoulder"], 1]
    frames = _longest_run(above > RAISE_MARGIN)
    return frames >= RAISE_MIN_FRAMES, {"wrist_above_shoulder_max_m": float(above.max()), "raised_frames": frames}


def _arm_wave(b: np.ndarray, side: str, fps: int) -> tuple[bool, dict[str, float]]:
    rel = b[:, J[f"{side}_wrist"]] - b[:, J[f"{side}_shoulder"]]
    up = rel[:, 1] > 0.0
    reversals = max([_reversals(rel[a:e, 0], WAVE_AMPLITUDE) for a, e in true_runs(up) if e - a >= WAVE_MIN_FRAMES],
                    default=0)
    return reversals >= WAVE_MIN_REVERSALS, {"sideways_reversals": reversals, "raised_frames": _longest_run(up)}


def _arm_punch(b: np.ndarray, side: str, fps: int) -> tuple[bool, dict[str, float]]:
    rel = b[:, J[f"{side}_wrist"]] - b[:, J[f"{side}_shoulder"]]
    fwd = rel[:, 2]
    speed = np.diff(fwd) * fps
    # A reach frame: far enough in front and near shoulder height (a walking arm swings forward fast, but low).
    extended = (fwd > PUNCH_REACH) & (np.abs(rel[:, 1]) < PUNCH_HEIGHT_BAND)
    hit = [bool(speed[t] > PUNCH_SPEED and extended[t + 1:t + 1 + PUNCH_WINDOW].any()) for t in range(len(speed))]
    return any(hit), {"forward_speed_max_ms": float(speed.max()), "reach_max_m": float(fwd.max())}


def _arm_reach(b: np.ndarray, side: str, fps: int) -> tuple[bool, dict[str, float]]:
    rel = b[:, J[f"{side}_wrist"]] - b[:, J[f"{side}_shoulder"]]
    outward = np.maximum(rel[:, 0] * (1.0 if side == "left" else -1.0), 0.0)
    dist = np.hypot(np.maximum(rel[:, 2], 0.0), outward)
    ok = (dist > REACH_DISTANCE) & (np.abs(rel[:, 1]) < REACH_HEIGHT_BAND)
    frames = _longest_run(ok)
    return frames >= REACH_MIN_FRAMES, {"reach_max_m": float(dist.max()), "reach_frames": frames}


def _leg_kick(b: np.ndarray, side: str, fps: int) -> tuple[bool, dict[str, float]]:
    floor = b[:, list(LEFT_FOOT_JOINTS + RIGHT_FOOT_JOINTS), 1].min()
    fwd = b[:, J[f"{side}_ankle"], 2] - b[:, J[f"{side}_hip"], 2]
    height = b[:, J[f"{side}_ankle"], 1] - floor
    hit = (fwd > KICK_FORWARD) & (height > KICK_HEIGHT)
    return bool(hit.any()), {"ankle_forward_max_m": float(fwd.max()), "ankle_height_max_m": float(height.max())}


def _leg_lift(b: np.ndarray, side: str, fps: int) -> tuple[bool, dict[str, float]]:
    gap = b[:, J[f"{side}_hip"], 1] - b[:, J[f"{side}_knee"], 1]
    frames = _longest_run(gap < KNEE_LIFT_MARGIN)
    return frames >= KNEE_LIFT_MIN_FRAMES, {"knee_below_hip_min_m": float(gap.min()), "lifted_frames": frames}


def head_angles(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return per-frame head yaw against the shoulders (deg, + left, NaN where undefined) and pitch (deg, + down)."""
    h = b[:, J["head"]] - b[:, J["neck"]]
    horizontal = np.hypot(h[:, 0], h[:, 2])
    yaw = _wrap_deg(np.degrees(np.arctan2(h[:, 0], h[:, 2])) - _shoulder_yaw(b))
    # Yaw needs a face direction: a near-vertical neck-head vector has none, and one pointing backward means the
    # head is tilted back (looking up), not turned by more than 90 degrees.
    defined = (horizontal > HEAD_MIN_HORIZONTAL * np.linalg.norm(h, axis=1)) & (np.abs(yaw) < 90.0)
    yaw = np.where(defined, yaw, np.nan)
    u = b[:, J["neck"]] - b[:, J["spine3"]]
    pitch = _wrap_deg(np.degrees(np.arctan2(h[:, 2], h[:, 1]) - np.arctan2(u[:, 2], u[:, 1])))
    return yaw, pitch


def _neck_look(b: np.ndarray, side: str, fps: int) -> tuple[bool, dict[str, float]]:
    yaw, pitch = head_angles(b)
    if side in ("left", "right"):
        sign = 1.0 if side == "left" else -1.0
        turned = np.nan_to_num(sign * yaw, nan=-np.inf) > HEAD_TURN_ANGLE
        frames = _longest_run(turned)
        peak = float(np.nanmax(sign * yaw)) if np.any(np.isfinite(yaw)) else float("nan")
        return frames >= LOOK_MIN_FRAMES, {"head_yaw_max_deg": peak, "turned_frames": frames}
    baseline = float(np.median(pitch[:BASELINE_FRAMES]))
    change = (baseline - pitch) if side == "up" else (pitch - baseline)
    frames = _longest_run(change > HEAD_PITCH_ANGLE)
    return frames >= LOOK_MIN_FRAMES, {"head_pitch_change_max_deg": float(change.max()), "pitched_frames": frames}


def _torso_lean(b: np.ndarray, side: str, fps: int) -> tuple[bool, dict[str, float]]:
    s = b[:, J["neck"]] - b[:, J["pelvis"]]
    lean = np.degrees(np.arctan2(s[:, 0], s[:, 1])) * (1.0 if side == "left" else -1.0)
    frames = _longest_run(lean > LEAN_ANGLE)
    return frames >= LEAN_MIN_FRAMES, {"lean_max_deg": float(lean.max()), "lean_frames": frames}


def _torso_twist(b: np.ndarray, side: str, fps: int) -> tuple[bool, dict[str, float]]:
    twist = _shoulder_yaw(b) * (1.0 if side == "left" else -1.0)
    frames = _longest_run(twist > TWIST_ANGLE)
    return frames >= TWIST_MIN_FRAMES, {"twist_max_deg": float(twist.max()), "twist_frames": frames}


_CHECKS: dict[tuple[str, str], Callable[[np.ndarray, str, int], tuple[bool, dict[str, float]]]] = {
    ("arm", "raise"): _arm_raise,
    ("arm", "wave"): _arm_wave,
    ("arm", "punch"): _arm_punch,
    ("arm", "reach"): _arm_reach,
    ("leg", "kick"): _leg_kick,
    ("leg", "lift"): _leg_lift,
    ("neck", "look"): _neck_look,
    ("torso", "lean"): _torso_lean,
    ("torso", "twist"): _torso_twist,
}
assert set(_CHECKS) == set(CHECK_SIDES)


# --------------------------------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class PartCheck:
    """Outcome of one part-following check: the named part, its mirror, and what was measured on each."""

    group: str
    action: str
    side: str
    named: bool
    other: bool
    named_values: dict[str, float] = field(default_factory=dict)
    other_values: dict[str, float] = field(default_factory=dict)

    @property
    def followed(self) -> bool:
        """True when the named part does the action and its mirror does not."""
        return self.named and not self.other


def validate_check(group: str, action: str, side: str) -> None:
    """Raise KinmoInputError unless (group, action, side) names a check that exists."""
    if group not in GROUPS:
        raise KinmoInputError(f"unknown group {group!r}; expected one of {', '.join(GROUPS)}")
    kind = GROUP_KIND[group]
    if (kind, action) not in CHECK_SIDES:
        known = sorted(a for k, a in CHECK_SIDES if k == kind)
        raise KinmoInputError(f"no part-following check for {action!r} of {group}; known: {', '.join(known)}")
    if side not in CHECK_SIDES[(kind, action)]:
        raise KinmoInputError(f"side {side!r} does not fit {group} {action}; expected one of "
                              f"{', '.join(CHECK_SIDES[(kind, action)])}")
    if kind in ("arm", "leg") and not group.startswith(side + "_"):
        raise KinmoInputError(f"side {side!r} contradicts the group {group!r}")


def mirror_check(group: str, action: str, side: str) -> tuple[str, str, str]:
    """Return the check of the other side: the other limb, or the opposite direction for the neck and torso."""
    validate_check(group, action, side)
    return MIRROR_GROUP[group], action, OPPOSITE_SIDE[side]


def measure(joints, group: str, action: str, side: str, fps: int = FPS) -> tuple[bool, dict[str, float]]:
    """Return whether joints (T, 22, 3) show (group, action, side) and the measured quantities."""
    validate_check(group, action, side)
    b = body_frame(check_joints(joints, min_frames=2))
    return _CHECKS[(GROUP_KIND[group], action)](b, side, fps)


def check_part(joints, group: str, action: str, side: str, fps: int = FPS) -> PartCheck:
    """Run the named check and its mirror on joints (T, 22, 3)."""
    b = body_frame(check_joints(joints, min_frames=2))
    validate_check(group, action, side)
    g2, a2, s2 = mirror_check(group, action, side)
    named, named_values = _CHECKS[(GROUP_KIND[group], action)](b, side, fps)
    other, other_values = _CHECKS[(GROUP_KIND[g2], a2)](b, s2, fps)
    return PartCheck(group, action, side, named, other, named_values, other_values)


def evaluate_part_following(generate: Callable[[str], np.ndarray], prompts: Iterable | None = None,
                            progress: bool = True) -> dict[str, float]:
    """Generate joints for each prompt with generate(text) and return the share followed, overall and per check.

    Keys: 'rate' (followed), 'named_rate' (named part acts, ignoring the mirror), 'count', and 'rate/<group>' and
    'rate/<group>/<action>' for every group and (group, action) present.
    """
    from kinmo_core.eval.part_prompts import PART_PROMPTS

    items = list(PART_PROMPTS if prompts is None else prompts)
    if not items:
        raise KinmoInputError("no prompts to evaluate")
    followed, named = [], []
    per: dict[str, list[bool]] = defaultdict(list)
    for p in tqdm(items, desc="part following", disable=not progress):
        r = check_part(generate(p.text), p.group, p.action, p.side)
        followed.append(r.followed)
        named.append(r.named)
        per[f"rate/{p.group}"].append(r.followed)
        per[f"rate/{p.group}/{p.action}"].append(r.followed)
    out = {"rate": float(np.mean(followed)), "named_rate": float(np.mean(named)), "count": float(len(items))}
    out.update({k: float(np.mean(v)) for k, v in sorted(per.items())})
    return out
