"""Foot-contact and jitter cleanup of joint motions: planted feet locked, nothing under the floor, no shaking.

Model-free and cheap (vectorised over frames; Python loops only over limbs and contact phases), so the default
pipeline runs it on every generated motion (`KinMoPipeline(..., cleanup=True)`) and `kinmo_core.control` builds its
joint-space solve on the same pieces. `clean_motion_joints` is the whole cleanup:

1. jitter: the pelvis path and the local joint rotations are low-pass filtered (Savitzky-Golay, cubic, a short
   window: it keeps the swing of a walk or a wave and removes the frame-to-frame shaking generated motions have), and
   the body is posed again by forward kinematics with the target skeleton's bone lengths (bones exact);
2. floor: the body is moved up or down so the feet it plants stand on y = 0;
3. feet: each planted phase of a foot joint (the project's one contact rule, `contacts.ground_contacts`) is held at
   one ground point by analytic two-bone IK of the leg, faded in and out over a few frames (`clean_feet`);
4. what still lies under the floor is lifted: ankles and toes by bending the leg, anything else by raising the body
   in those frames (smoothly).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d, maximum_filter1d
from scipy.signal import savgol_filter

from kinmo_core.motion.contacts import FOOT_JOINTS, ground_contacts, true_runs
from kinmo_core.motion.features import joints_to_features
from kinmo_core.motion.ik import estimate_offsets, positions_to_rotations
from kinmo_core.motion.plausibility import JOINT_LIMITS
from kinmo_core.motion.rotations import quat_to_matrix
from kinmo_core.motion.skeleton import BONE_LENGTHS, FACE_JOINTS, FPS, JOINT_INDEX, NUM_JOINTS, PARENTS

FLOOR: float = 0.0
"""Height of the floor in motion coordinates (features_to_joints puts the clip's lowest point there)."""

SMOOTH_WINDOW: int = 5
"""Frames of the Savitzky-Golay window (cubic) on every rotation and the pelvis path: short, so an arm swing or a
wave keeps its energy (a 7- or 9-frame window took 4-18% of a generated walk's arm motion energy)."""

SMOOTH_ORDER: int = 3

STAND_SIGMA: float = 3.0
"""Gaussian sigma (frames) of the stronger low-pass on the pelvis and legs where the body stands."""

STAND_SPEED: float = 0.25
"""Pelvis speed (m/s) under which the body stands (the realism benchmark's standing rule); the strong filter fades
out by twice this speed."""

FOOT_BLEND: int = 8
"""Frames over which a foot lock fades in and out around its planted phase."""

BEND_HINT_WEIGHT: float = 0.01
"""Metres: how far off the straight line a limb's middle joint must be for its own bend direction to outweigh the
hint (a knee bending forward) when IK moves it."""

_J = JOINT_INDEX
_STAND_JOINTS = tuple(_J[n] for n in ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
                                      "right_ankle", "left_foot", "right_foot"))
_LIMBS = (("left_hip", "left_knee", "left_ankle", "knee_flexion"), ("right_hip", "right_knee", "right_ankle",
          "knee_flexion"), ("left_shoulder", "left_elbow", "left_wrist", "elbow_flexion"),
          ("right_shoulder", "right_elbow", "right_wrist", "elbow_flexion"))


def ground_heading(p: torch.Tensor) -> torch.Tensor:
    """Return the body's unit facing on the ground (T, 2) as (x, z), from hips and shoulders of joints (T, 22, 3)."""
    rh, lh, rs, ls = FACE_JOINTS
    across = (p[:, rh] - p[:, lh]) + (p[:, rs] - p[:, ls])
    f = torch.stack((across[:, 2], -across[:, 0]), dim=-1)  # up x across, on (x, z)
    return f / f.norm(dim=-1, keepdim=True).clamp_min(1e-9)


def target_offsets(joints: np.ndarray) -> np.ndarray:
    """Return the motion's rest offsets (22, 3) with the target skeleton's exact bone lengths."""
    off = np.asarray(estimate_offsets(np.asarray(joints, np.float64)), np.float64)
    norm = np.linalg.norm(off, axis=-1, keepdims=True)
    off[1:] *= BONE_LENGTHS[1:, None] / np.maximum(norm[1:], 1e-9)
    return off


def foot_locks(joints: np.ndarray, reference: np.ndarray | None = None,
               skip: np.ndarray | None = None) -> np.ndarray:
    """Return (T, 22, 3) lock targets (NaN elsewhere): each planted phase of a foot joint held at one ground point.

    Contacts come from `reference` (the motion as generated, before any correction moved it; default `joints`);
    the point is the joint's mean position over the phase in `joints`, at or above the floor. `skip` (T, 22) marks
    joints whose phases are left free (a user's target on that foot wins).
    """
    j = np.asarray(joints, np.float64)
    ref = j if reference is None else np.asarray(reference, np.float64)
    n = len(j)
    locks = np.full((n, NUM_JOINTS, 3), np.nan)
    if n < 3:
        return locks
    planted = ground_contacts(ref)
    planted = np.concatenate((planted, planted[-1:]), axis=0)  # the last frame keeps its predecessor's state
    for k, joint in enumerate(FOOT_JOINTS):
        for a, b in true_runs(planted[:, k]):
            if b - a < 2 or (skip is not None and skip[a:b, joint].any()):
                continue
            p = j[a:b, joint].mean(axis=0)
            p[1] = max(p[1], FLOOR)
            locks[a:b, joint] = p
    return locks


def two_bone(p: np.ndarray, top: int, mid: int, end: int, goal: np.ndarray, frames: np.ndarray,
             max_flexion: float, bend_hint: np.ndarray, hint_weight: float = 0.0) -> np.ndarray:
    """Place `end` on goal (F, 3) at `frames` (in place) by turning the top and mid bones in the limb's own plane.

    Bone lengths stay exact; the hinge never flexes past max_flexion (degrees), so an out-of-reach goal is met as
    closely as the limb allows. bend_hint (F, 3): where the hinge should point when the limb is straight;
    hint_weight > 0 (metres) blends it in wherever the limb is within about that of straight (0: only when the
    limb is straight to 0.1 mm).
    Returns how far the end moved (F, 3).
    """
    a = np.linalg.norm(p[frames, mid] - p[frames, top], axis=-1)
    b = np.linalg.norm(p[frames, end] - p[frames, mid], axis=-1)
    to_goal = goal - p[frames, top]
    dist = np.linalg.norm(to_goal, axis=-1)
    u = to_goal / np.maximum(dist, 1e-9)[:, None]
    lo = np.sqrt(np.maximum(a * a + b * b - 2 * a * b * math.cos(math.radians(180.0 - max_flexion)), 0.0)) + 1e-6
    d = np.clip(dist, lo, (a + b) * (1 - 1e-7))
    x = (a * a - b * b + d * d) / (2 * d)
    h = np.sqrt(np.maximum(a * a - x * x, 0.0))
    side = p[frames, mid] - p[frames, top]
    side = side - (side * u).sum(-1, keepdims=True) * u
    hint = bend_hint - (bend_hint * u).sum(-1, keepdims=True) * u
    if hint_weight > 0:
        # A nearly straight limb's bend direction is noise: the hint takes over below about hint_weight metres.
        side = side + hint_weight * hint / np.maximum(np.linalg.norm(hint, axis=-1, keepdims=True), 1e-9)
    else:
        weak = np.linalg.norm(side, axis=-1) < 1e-4
        side[weak] = hint[weak]
    side /= np.maximum(np.linalg.norm(side, axis=-1, keepdims=True), 1e-9)
    new_end = p[frames, top] + u * d[:, None]
    shift = new_end - p[frames, end]
    p[frames, mid] = p[frames, top] + u * x[:, None] + side * h[:, None]
    p[frames, end] = new_end
    return shift


def _depths() -> list[list[int]]:
    depth = [0] * NUM_JOINTS
    for j in range(1, NUM_JOINTS):
        depth[j] = depth[PARENTS[j]] + 1
    return [[j for j in range(NUM_JOINTS) if depth[j] == d] for d in range(1, max(depth) + 1)]


_LEVELS = _depths()


def fast_fk(rotations: torch.Tensor, root: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """`ik.forward_kinematics` for (T, 22, 4) rotations, walking the tree by depth (7 steps, not 21): fast, and for
    autograd (control's solve)."""
    q = rotations / rotations.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    local = quat_to_matrix(q)  # (T, 22, 3, 3)
    g = {0: local[:, 0]}
    p = {0: root}
    for level in _LEVELS:
        par = [PARENTS[j] for j in level]
        gp = torch.stack([g[k] for k in par], dim=1)  # (T, L, 3, 3)
        pp = torch.stack([p[k] for k in par], dim=1)
        pos = pp + (gp @ offsets[level][None, :, :, None])[..., 0]
        rot = gp @ local[:, level]
        for i, j in enumerate(level):
            g[j], p[j] = rot[:, i], pos[:, i]
    return torch.stack([p[j] for j in range(NUM_JOINTS)], dim=1)


def _forward3(p: np.ndarray) -> np.ndarray:
    fwd = ground_heading(torch.from_numpy(p)).numpy()
    return np.stack((fwd[:, 0], np.zeros(len(p)), fwd[:, 1]), -1)


def fix_limbs(p: np.ndarray, goal: np.ndarray, blend: int = FOOT_BLEND, hint_weight: float = 0.0) -> np.ndarray:
    """Meet wrist, ankle and toe goals (T, 22, 3; NaN free) exactly where a limb can reach, by analytic IK
    (`two_bone`'s hint_weight)."""
    p = np.array(p, np.float64)
    fwd3 = _forward3(p)
    t_all = np.arange(len(p))
    for top, mid, end, name in _LIMBS:
        t, m, e = _J[top], _J[mid], _J[end]
        toe = _J[end.replace("ankle", "foot")] if "ankle" in end else None
        want = goal[:, e].copy()
        if toe is not None:
            # A toe goal alone moves the ankle with it (the foot keeps its orientation).
            only_toe = np.isnan(want).any(-1) & np.isfinite(goal[:, toe]).all(-1)
            want[only_toe] = goal[only_toe, toe] - (p[only_toe, toe] - p[only_toe, e])
        # Axes left free keep the limb's own value.
        want = np.where(np.isnan(want), p[:, e], want)
        hit = np.isfinite(goal[:, e]).any(-1)
        if toe is not None:
            hit |= np.isfinite(goal[:, toe]).any(-1)
        if not hit.any():
            continue
        # What is left is taken up in full at the goal frames and faded out over `blend` frames around them
        # (smoothstep), so a limb never jumps into or out of its goal.
        offset = np.where(hit[:, None], want - p[:, e], 0.0)
        idx = np.flatnonzero(hit)
        pos = np.searchsorted(idx, t_all)
        nearest = idx[np.clip(pos, 0, len(idx) - 1)]
        before = idx[np.clip(pos - 1, 0, len(idx) - 1)]
        near = np.where(np.abs(before - t_all) < np.abs(nearest - t_all), before, nearest)
        x = np.clip(1.0 - np.abs(near - t_all) / blend, 0.0, 1.0)
        weight = np.where(hit, 1.0, x * x * (3 - 2 * x))
        frames = np.flatnonzero(weight > 0)
        want = p[:, e] + offset[near] * weight[:, None]
        hint = fwd3[frames] * (1.0 if "knee" in mid else -1.0)
        shift = two_bone(p, t, m, e, want[frames], frames, JOINT_LIMITS[name][1], hint, hint_weight)
        if toe is not None:
            p[frames, toe] += shift
            frames = idx
            g = goal[frames, toe]
            ok = np.isfinite(g).all(-1)
            if ok.any():
                f = frames[ok]
                bone = np.linalg.norm(p[f, toe] - p[f, e], axis=-1, keepdims=True)
                v = g[ok] - p[f, e]
                p[f, toe] = p[f, e] + v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9) * bone
    return p


REACH_MARGIN: float = 0.995
"""Share of a leg's length it may stretch to when reaching a foot goal (a straight knee looks locked)."""

MAX_DROP: float = 0.10
"""Metres the body may be lowered to let a leg reach a planted foot (a long stride lowers the pelvis)."""


def lower_to_reach(p: np.ndarray, goal: np.ndarray, free: np.ndarray | None = None,
                   max_drop: float = MAX_DROP) -> np.ndarray:
    """Lower the whole body, smoothly in time, in the frames where a leg cannot reach its ankle (or toe) goal.

    goal (T, 22, 3; NaN free): the goals `fix_limbs` will meet. free (T,): frames whose height may change (default
    all). A leg reaches at most `REACH_MARGIN` of its length; the drop is at most max_drop metres, so a goal too far
    along the ground stays out of reach (the leg then stretches towards it).
    """
    p = np.array(p, np.float64)
    n = len(p)
    need = np.zeros(n)
    for side in ("left", "right"):
        hip, knee, ankle, toe = (_J[f"{side}_{x}"] for x in ("hip", "knee", "ankle", "foot"))
        g = goal[:, ankle].copy()
        only_toe = ~np.isfinite(g).all(-1) & np.isfinite(goal[:, toe]).all(-1)
        g[only_toe] = goal[only_toe, toe] - (p[only_toe, toe] - p[only_toe, ankle])
        ok = np.isfinite(g).all(-1)
        if not ok.any():
            continue
        leg = (np.linalg.norm(p[:, knee] - p[:, hip], axis=-1) + np.linalg.norm(p[:, ankle] - p[:, knee], axis=-1))
        leg *= REACH_MARGIN
        d = np.where(ok[:, None], g - p[:, hip], 0.0)
        vertical = np.sqrt(np.maximum(leg**2 - d[:, 0] ** 2 - d[:, 2] ** 2, 0.0))
        # The hip lowered by y leaves the goal d_y + y below it; within reach once -(d_y + y) <= vertical.
        y = np.where(ok, np.clip(-d[:, 1] - vertical, 0.0, max_drop), 0.0)
        need = np.maximum(need, y)
    if free is not None:
        need = np.where(free, need, 0.0)
    if not need.any():
        return p
    drop = np.maximum(gaussian_filter1d(maximum_filter1d(need, 9), 2.0, mode="nearest"), need)
    if free is not None:
        drop = np.where(free, drop, 0.0)
    p[..., 1] -= drop[:, None]
    return p


def lift_feet(p: np.ndarray, hint_weight: float = 0.0) -> np.ndarray:
    """Put ankles and toes that ended under the floor onto it, bones exact (the knee bends, the foot turns).

    Features put a motion's lowest point on the floor, so one toe under it would lift the whole motion.
    """
    p = np.array(p, np.float64)
    fwd3 = _forward3(p)
    for side in ("left", "right"):
        hip, knee, ankle, toe = (_J[f"{side}_{x}"] for x in ("hip", "knee", "ankle", "foot"))
        low = np.flatnonzero(p[:, ankle, 1] < FLOOR)
        if len(low):
            goal = p[low, ankle] * [1.0, 0.0, 1.0] + [0.0, FLOOR, 0.0]
            p[low, toe] += two_bone(p, hip, knee, ankle, goal, low, JOINT_LIMITS["knee_flexion"][1], fwd3[low],
                                    hint_weight)
        low = np.flatnonzero(p[:, toe, 1] < FLOOR)
        if len(low):
            # Turn the foot about the ankle until the toe touches the floor, in its own vertical plane.
            bone = p[low, toe] - p[low, ankle]
            length = np.linalg.norm(bone, axis=-1)
            drop = np.minimum(p[low, ankle, 1] - FLOOR, length)
            reach = np.sqrt(np.maximum(length**2 - drop**2, 0.0))
            flat = bone * [1.0, 0.0, 1.0]
            flat /= np.maximum(np.linalg.norm(flat, axis=-1, keepdims=True), 1e-9)
            p[low, toe] = p[low, ankle] + flat * reach[:, None] - np.outer(drop, [0.0, 1.0, 0.0])
    return p


def clean_feet(joints: np.ndarray) -> np.ndarray:
    """Return joints (T, 22, 3) on the target skeleton (exact bones) with planted feet locked and no ankle or toe
    under the floor: the foot-contact cleanup on its own (no smoothing, no floor levelling)."""
    return _plant(smooth_joints(joints, window=0, stand_sigma=0.0))


def _plant(p: np.ndarray) -> np.ndarray:
    return lift_feet(fix_limbs(p, foot_locks(p), hint_weight=BEND_HINT_WEIGHT), hint_weight=BEND_HINT_WEIGHT)


def _standing_weight(root: np.ndarray, fps: int = FPS) -> np.ndarray:
    """Per frame, 1 where the pelvis stands (slower than STAND_SPEED on the ground), 0 where it travels, smooth."""
    speed = np.linalg.norm(np.gradient(root[:, [0, 2]], axis=0), axis=-1) * fps
    x = np.clip((2 * STAND_SPEED - speed) / STAND_SPEED, 0.0, 1.0)
    return gaussian_filter1d(x * x * (3 - 2 * x), 2.0, mode="nearest")


def smooth_joints(joints: np.ndarray, window: int = SMOOTH_WINDOW, order: int = SMOOTH_ORDER,
                  stand_sigma: float = STAND_SIGMA, offsets: np.ndarray | None = None) -> np.ndarray:
    """Return joints (T, 22, 3) posed again from low-pass filtered rotations and pelvis path, with exact bones.

    The pelvis path and the local rotations (time-continuous quaternions) go through a Savitzky-Golay filter of
    `window` frames and polynomial `order` (it keeps the swing of a walk or a wave); where the body stands, the
    pelvis and the legs go through a Gaussian of `stand_sigma` frames instead (a standing body's legs hardly move,
    and their shaking is what looks generated). A window shorter than order + 2 filters nothing (the bones are
    made exact all the same). offsets: the skeleton to pose (default: the motion's own proportions with the
    target's bone lengths, `target_offsets`).
    """
    j = np.asarray(joints, np.float64)
    off = target_offsets(j) if offsets is None else np.asarray(offsets, np.float64)
    rot = np.asarray(positions_to_rotations(j, off), np.float64)
    root = j[:, 0].copy()
    legs = list(_STAND_JOINTS)
    w = min(int(window), len(j) - 1 + len(j) % 2)  # the longest odd window the clip holds
    if w >= order + 2 and w % 2 == 1:
        rot = savgol_filter(rot, w, order, axis=0, mode="interp")
        root = savgol_filter(root, w, order, axis=0, mode="interp")
        if stand_sigma > 0:
            s = _standing_weight(root)[:, None]
            rot[:, legs] += s[:, None] * (gaussian_filter1d(rot[:, legs], stand_sigma, axis=0, mode="nearest")
                                          - rot[:, legs])
            root += s * (gaussian_filter1d(root, stand_sigma, axis=0, mode="nearest") - root)
    with torch.no_grad():
        return fast_fk(torch.from_numpy(rot), torch.from_numpy(root), torch.from_numpy(off)).numpy()


def _lift_body(p: np.ndarray) -> np.ndarray:
    """Raise the whole body in the frames where some joint is still under the floor, smoothly in time."""
    depth = np.maximum(FLOOR - p[..., 1].min(axis=1), 0.0)
    if not depth.any():
        return p
    lift = gaussian_filter1d(maximum_filter1d(depth, 5, mode="nearest"), 1.5, mode="nearest")
    return p + np.maximum(lift, depth)[:, None, None] * np.array([0.0, 1.0, 0.0])


def _floor_level(p: np.ndarray) -> float:
    """Height of the ground the motion stands on: the median over frames of the lowest planted foot joint (the
    lowest joint of the clip when it plants none)."""
    planted = ground_contacts(p)
    feet = np.where(planted, p[: len(planted)][:, list(FOOT_JOINTS), 1], np.inf).min(axis=1)
    feet = feet[np.isfinite(feet)]
    return float(np.median(feet)) if feet.size else float(p[..., 1].min())


def clean_motion_joints(joints: np.ndarray, smooth: bool = True) -> np.ndarray:
    """Return the cleaned joints (T, 22, 3): smoothed (optional), on the floor, feet locked, nothing under the floor."""
    p = smooth_joints(joints, window=SMOOTH_WINDOW if smooth else 0, stand_sigma=STAND_SIGMA if smooth else 0)
    p = p - np.array([0.0, _floor_level(p) - FLOOR, 0.0])
    return _lift_body(_plant(p))


def joints_to_motion_features(joints: np.ndarray, level: bool = True) -> np.ndarray:
    """Return features (T, 263) whose recovered joints are `joints` (T, 22, 3; target skeleton, floor at 0).

    Features hold one row fewer than the joints they come from, so one frame is extrapolated at the end. The
    joints keep their place unless their frame 0 is not at the origin facing +Z (features start every motion there).
    level=False keeps heights as they are: spatial control's targets would otherwise sink with a motion whose
    planted toes end a few millimetres above the floor.
    """
    j = np.asarray(joints, np.float64)
    nxt = 2 * j[-1:] - j[-2:-1]
    nxt[..., 1] = np.maximum(nxt[..., 1], j[-1:, :, 1])  # never push the extra frame through the floor
    return np.asarray(joints_to_features(np.concatenate((j, nxt)), uniform_skeleton=False, canonical=level),
                      np.float32)


def clean_features(features: np.ndarray, smooth: bool = True) -> np.ndarray:
    """Return features (T, 263) of the cleaned motion (`clean_motion_joints`) of features (T, 263)."""
    from kinmo_core.motion.features import features_to_joints

    joints = np.asarray(features_to_joints(np.asarray(features, np.float64)))
    return joints_to_motion_features(clean_motion_joints(joints, smooth=smooth))
