"""Numpy math of range edits and placed motions (no bpy): windows, yaw fits, motion placement, key deltas.

An edit never re-bakes what it did not change. The source (a KinMo action's stored motion, or joints sampled from
the rig) is canonicalised by the worker (C) and edited (E); both are retargeted onto the rig the same way (R0, R1)
and the chosen bones get L_orig * R0^-1 * R1 inside the range: where E equals C the original keys come back, and
retargeting error cancels out. Root locations take L_orig + (R1 - R0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .core import quaternions as Q
from .core import skeleton as S
from .retarget.rig import RigSpec, local_from_global, pose_heads
from .retarget.solve import RetargetResult, _contact_weights, _leg_length, two_bone_ik
from .retarget.source import SourceMotion, default_offsets

CONTEXT_SECONDS = 3.0
"""Seconds of the source on each side of an edited range sent to the worker (its in-painting uses up to 2 s)."""
MIN_EDIT_FRAMES = 4
"""The shortest range (frames at 20 fps) the worker edits: one token."""
MAX_EDIT_FRAMES = 200
"""The longest range one edit covers (10 s at 20 fps)."""
CHANGED_M = 1e-5
"""A group counts as edited where one of its joints moved more than this (metres) in the range."""


@dataclass
class Window:
    """What an edit sends and rewrites: 20 fps samples from scene frame `start`, the range [a, b) in them."""

    start: float
    """Scene frame of sample 0 (an integer frame)."""
    samples: int
    """Samples sent (one more than the worker's motion has: features drop the last frame)."""
    a: int
    b: int
    first: int
    last: int
    """Scene frames rewritten (inclusive)."""


class EditRangeError(ValueError):
    """A range that cannot be edited; the message is one line for the UI."""


def edit_window(fa: int, fb: int, first: float, last: float, fps: float, start: float | None = None,
                context: float = CONTEXT_SECONDS) -> Window:
    """Plan the 20 fps window around scene frames [fa, fb] of an animation spanning scene frames [first, last].

    start: the scene frame of sample 0 (default: the whole frame `context` seconds before fa, within the animation).
    """
    if fb < fa:
        raise EditRangeError(f"the range {fa}-{fb} is reversed")
    if fa < math.floor(first + 1e-6) or fb > math.ceil(last - 1e-6):
        raise EditRangeError(f"frames {fa}-{fb} are outside the action (frames {first:g}-{last:g})")
    per = S.FPS / fps  # samples per scene frame
    if start is None:
        start = float(math.ceil(max(first, fa - context * fps) - 1e-9))
    end = min(last, fb + context * fps)
    n = int(math.floor((end - start) * per + 1e-6)) + 1  # the worker's motion: n frames
    a = max(int(math.floor((fa - start) * per + 1e-6)), 0)
    b = min(int(math.ceil((fb - start) * per - 1e-6)) + 1, n)
    if n < S.FPS:
        raise EditRangeError(f"the action is {n / S.FPS:.2f} s long; editing needs at least 1 s of animation")
    if b - a < MIN_EDIT_FRAMES:
        raise EditRangeError(f"frames {fa}-{fb} are {(fb - fa + 1) / fps:.2f} s; a range needs at least "
                             f"{MIN_EDIT_FRAMES / S.FPS:g} s")  # fmt: skip
    if b - a > MAX_EDIT_FRAMES:
        raise EditRangeError(f"frames {fa}-{fb} are {(fb - fa + 1) / fps:.1f} s; one edit covers at most 10 s")
    return Window(start, n + 1, a, b, int(fa), int(fb))


def stored_start(fa: int, origin: float, fps: float, context: float = CONTEXT_SECONDS) -> tuple[float, int]:
    """First sample of a stored 20 fps motion (baked from scene frame `origin`) to send: (scene frame, index).

    The index is a multiple of the samples between scene frames that fall on a sample, so keys stay on frames.
    """
    per = S.FPS / fps
    step = S.FPS // math.gcd(S.FPS, round(fps)) if abs(fps - round(fps)) < 1e-9 else 1
    k = max(math.floor((fa - context * fps - origin) * per / step + 1e-9) * step, 0)
    return origin + k / per, k


def ry(yaw: float) -> np.ndarray:
    """Rotation about +Y (KinMo's up) by yaw radians: x' = cos x + sin z, z' = -sin x + cos z."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def fit_yaw(target: np.ndarray, canon: np.ndarray) -> tuple[float, np.ndarray]:
    """Yaw (about +Y) and ground offset that best turn `canon` (T, 22, 3) onto `target`, by hips and shoulders."""
    j = S.JOINT_INDEX

    def across(x: np.ndarray) -> np.ndarray:
        return (x[:, j["left_hip"]] - x[:, j["right_hip"]]) + (x[:, j["left_shoulder"]] - x[:, j["right_shoulder"]])

    n = min(len(target), len(canon))
    ts, cs = across(np.asarray(target[:n], np.float64)), across(np.asarray(canon[:n], np.float64))
    dot = float(np.sum(ts[:, 0] * cs[:, 0] + ts[:, 2] * cs[:, 2]))
    cross = float(np.sum(ts[:, 0] * cs[:, 2] - ts[:, 2] * cs[:, 0]))
    yaw = math.atan2(cross, dot)
    offset = np.asarray(target[0, 0], np.float64) - ry(yaw) @ np.asarray(canon[0, 0], np.float64)
    offset[1] = 0.0
    return yaw, offset


def place(motion: SourceMotion, yaw: float, offset) -> SourceMotion:
    """The motion turned by yaw about +Y and moved by offset (joints and the root's rotation)."""
    q = np.array([math.cos(yaw / 2), 0.0, math.sin(yaw / 2), 0.0])
    joints = motion.joints @ ry(yaw).T + np.asarray(offset, np.float64)
    rotations = motion.rotations.copy()
    rotations[:, 0] = Q.qmul(q, rotations[:, 0])
    return replace(motion, joints=joints, rotations=rotations)


def unplace_control(motion: SourceMotion, placement: dict | None) -> SourceMotion:
    """Undo the worker's control placement (p_motion = Ry(yaw) (p_file - offset)): the motion in file coordinates."""
    if not placement:
        return motion
    ox, oz = (float(v) for v in placement.get("offset", (0.0, 0.0)))
    yaw = math.radians(float(placement.get("yaw_degrees", 0.0)))
    return place(motion, -yaw, (ox, 0.0, oz))


def shift_root(result: RetargetResult, rig: RigSpec, motion: SourceMotion) -> None:
    """Start the root bone where the motion's first frame is on the ground (the retargeter starts it at rest).

    Exact when the root bone's ancestors are unmapped (they keep their rest pose), as the pelvis's always are.
    """
    if result.root_bone is None or result.root_locations is None:
        return
    b = rig.index[result.root_bone]
    x0, _, z0 = np.asarray(motion.joints[0, 0], np.float64)
    shift = result.basis @ (result.scale * np.array([x0, 0.0, z0]))
    result.root_locations = result.root_locations + Q.qrot(Q.qinv(rig.rest_rotations[b]), shift)


def changed_joints(canon: np.ndarray, edited: np.ndarray, a: int, b: int) -> set[int]:
    """Joints that the edit moved (more than CHANGED_M) in frames [a, b)."""
    n = min(len(canon), len(edited), b)
    moved = np.abs(np.asarray(edited[a:n], np.float64) - np.asarray(canon[a:n], np.float64)).max(axis=(0, 2))
    return {j for j in range(len(moved)) if moved[j] > CHANGED_M}


def rotation_delta(original: np.ndarray, r0: np.ndarray, r1: np.ndarray) -> np.ndarray:
    """Local rotations original * r0^-1 * r1 (F, 4), kept in one hemisphere with the original."""
    out = Q.qnormalize(Q.qmul(original, Q.qmul(Q.qinv(r0), r1)))
    flip = np.sum(out * original, axis=-1) < 0
    out[flip] *= -1
    return out


def leg_scale(rig: RigSpec, bone_map: dict[str, str]) -> float:
    """Rig leg length over KinMo's (armature units per motion metre), as the retargeter scales root motion."""
    tgt = _leg_length({j: rig.rest_heads[rig.index[b]] for j, b in bone_map.items()})
    rest = SourceMotion(np.zeros((1, 22, 3)), np.zeros((1, 22, 4)), default_offsets()).rest_positions()
    src = _leg_length({n: rest[S.JOINT_INDEX[n]] for n in S.JOINT_NAMES})
    if not tgt or not src:
        raise ValueError("the rig maps no full leg (hip, knee, ankle); map them to place motions in the scene")
    return float(tgt / src)


REACH_CHAINS: dict[str, tuple[str, str, str]] = {
    f"{s}_{end}": (f"{s}_{a}", f"{s}_{b}", f"{s}_{end}")
    for s in ("left", "right")
    for a, b, end in (("shoulder", "elbow", "wrist"), ("hip", "knee", "ankle"))
}
"""Two-bone chains that put a pinned hand or foot where the motion has it."""


def reach(result: RetargetResult, rig: RigSpec, bone_map: dict[str, str], joint: str, frames20, fps: float,
          to_armature) -> None:  # fmt: skip
    """Make the rig's `joint` (a wrist or ankle) reach the motion's position at the given 20 fps frames.

    Retargeting matches bone directions, so a rig whose proportions differ from the motion's (collars, hips, rest
    height) puts hands a few centimetres off; a pinned hand must be on its empty. to_armature maps motion positions
    (N, 3) to armature space (the scene frame the motion was placed in); the arm (or leg) bends to them with two-bone
    IK, faded in and out over a few frames. result.rotations and result.global_rotations are updated.
    """
    names = REACH_CHAINS.get(joint)
    if names is None or any(n not in bone_map for n in names):
        return
    t_count = result.frames
    wanted = {int(f) for f in frames20}
    mask = np.array([math.floor(i * S.FPS / fps + 1e-9) in wanted and math.ceil(i * S.FPS / fps - 1e-9) in wanted
                     for i in range(t_count)])
    if not mask.any():
        return
    weight = _contact_weights(mask)
    glob = result.global_rotations.copy()
    locations = {rig.index[result.root_bone]: result.root_locations} if result.root_locations is not None else {}
    heads = pose_heads(rig, glob, locations)
    target = np.asarray(to_armature(result.source_joints[:, S.JOINT_INDEX[joint]]), np.float64)
    end = rig.index[bone_map[joint]]
    goal = heads[:, end] + weight[:, None] * (target - heads[:, end])
    chain = tuple(rig.index[bone_map[n]] for n in names)
    two_bone_ik(rig, glob, chain, heads, goal, np.nonzero(weight > 0)[0], result.basis @ np.array([1.0, 0, 0]))
    local = Q.qcontinuous(local_from_global(rig, glob))
    result.global_rotations = glob
    result.rotations = {name: local[:, rig.index[name]] for name in result.rotations}
