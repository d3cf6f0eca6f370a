"""Joint-space correction: inverse kinematics that meets position targets on the target skeleton.

The motion is posed by forward kinematics from local rotations and a root path, with the target skeleton's bone
lengths (so bones can never stretch). One least-squares problem (L-BFGS) changes the rotations and the root as little
and as smoothly in time as it can while it

- meets the targets (any joint, any axis, any frame),
- keeps planted feet where they are planted (the project's one contact rule, `motion.contacts.ground_contacts`:
  each contact phase of a foot joint is locked at one ground point),
- keeps every joint above the floor and knees/elbows within `motion.plausibility.JOINT_LIMITS`,
- keeps feet the generated motion lifts at least as high as they were: a target that moves the body down (a lower
  pelvis) must not press swing feet to the floor, where the eval's skate rule (a toe under 5 cm moving over 0.5 m/s)
  counts them sliding.

Before it, a pelvis target moves the root (interpolated in time between the constrained frames) and a facing target
turns the body about the pelvis, so the optimisation only has the small remainder to do. Where a target is still
missed by over `FAR_MISS`, the generated gait's planted feet near it are what holds the body back (targets from a
motion that travels faster or elsewhere): those contact phases let go (`release_locks`) and the solve runs again;
only what is missed after that counts as out of reach. The model-free pieces it
shares with the pipeline's cleanup (foot locks, analytic two-bone IK, lifting feet onto the floor, features of
corrected joints) live in `kinmo_core.motion.cleanup`; `clean_feet` (re-exported here) is that module's
foot-contact cleanup on its own.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize

from kinmo_core.motion.cleanup import (  # noqa: F401  (clean_feet, joints_to_motion_features: control's interface)
    FLOOR,
    clean_feet,
    fast_fk,
    fix_limbs,
    foot_locks,
    ground_heading,
    joints_to_motion_features,
    lift_feet,
    lower_to_reach,
    target_offsets,
)
from kinmo_core.motion.contacts import FOOT_JOINTS, GROUND_GATE, ground_contacts
from kinmo_core.motion.ik import forward_kinematics, positions_to_rotations
from kinmo_core.motion.plausibility import JOINT_LIMITS
from kinmo_core.motion.rotations import (
    qinv,
    qmul,
    qrot,
    quat_from_axis_angle,
    quat_to_axis_angle,
    y_rotation,
)
from kinmo_core.motion.skeleton import BONE_LENGTHS, FACE_JOINTS, JOINT_INDEX, NUM_JOINTS, PARENTS, rest_pose

REACH_TOLERANCE: float = 0.02
"""Metres a target may stay away from its joint before a warning names the residual."""

LIMB_ENDS: tuple[int, ...] = tuple(JOINT_INDEX[n] for n in ("left_wrist", "right_wrist", "left_ankle", "right_ankle",
                                                              "left_foot", "right_foot"))
"""Hands and feet: the joints the limbs reach with by themselves (and the analytic limb fix meets exactly)."""

REACH: np.ndarray = np.full(NUM_JOINTS, 0.05)
"""Metres (per joint) a target may lie from the generated joint on the ground before the whole body moves towards
it: hands and feet reach further by themselves (the solve bends the limb), the trunk and head hardly."""
REACH[list(LIMB_ENDS)] = 0.25

_J = JOINT_INDEX
_CHAIN = np.zeros(NUM_JOINTS)
"""Metres from the pelvis to each joint along the skeleton (the furthest the joint can be from it)."""
for _j in range(1, NUM_JOINTS):
    _CHAIN[_j] = _CHAIN[PARENTS[_j]] + BONE_LENGTHS[_j]
_LEG_JOINTS = {0: ("left_hip", "left_knee", "left_ankle", "left_foot"),
               1: ("right_hip", "right_knee", "right_ankle", "right_foot")}


@dataclass
class SolveSettings:
    """Weights (per squared metre or radian) and iterations of the joint-space solve."""

    iterations: int = 40
    passes: int = 2
    """Solves; each later one also locks the feet the corrected motion itself plants (half the iterations)."""
    target: float = 1e5
    feet: float = 3e3
    clearance: float = 3e3
    """Weight keeping a foot joint that the generated motion lifts at least as high as it was (swing feet are not
    pressed to the floor, where the eval's skate rule would count them sliding)."""
    floor: float = 1e4
    limits: float = 1e3
    rotation: float = 1.0
    rotation_smooth: float = 100.0
    root: float = 1.0
    root_smooth: float = 100.0
    far_target: float = 10.0
    """Weight of a target still over `FAR_MISS` from its joint after the solve (out of reach), in a last pass."""
    keyframe_window: int = 10
    """Frames either side of a keyframe over which its last exact correction fades in and out."""
    release_window: int = 10
    """Frames either side of a missed target within which planted feet may let go (`release_locks`)."""


FAR_MISS: float = 0.10
"""Metres a target may still be away after the solve before it counts as out of reach (weak pull, limits win)."""

RISE: float = 0.25
"""Metres the pelvis may rise above the generated motion's highest pelvis to reach a target (a stretch, a hop)."""

TOUCHDOWN_PASSES: int = 3
"""Times the final analytic foot fix may add locks for phases the corrected motion itself plants."""
STEP_CLEARANCE: float = 0.07
"""Metres a foot stepping between two ground targets is lifted to mid-step (over the skate rule's 5 cm)."""


def target_steps(targets: np.ndarray, max_gap: int = 20, max_speed: float = 0.02,
                 step_speed: float = 0.06) -> tuple[np.ndarray, np.ndarray]:
    """Return locks (T, 22, 3; NaN elsewhere) and swing heights (T, 22; 0 elsewhere) for feet the user targets.

    Two consecutive targets of a foot joint, at most `max_gap` frames apart, one or both on the ground (within
    `GROUND_GATE` of the joint's standing height), say what the foot does between them: both on the ground almost
    at one place (under `max_speed` metres per frame apart: 0.4 m/s, under the skate rule's 0.5 m/s, so targets
    that drift slowly are followed along the ground rather than hopped between every few frames) it stands there,
    held on the line joining them;
    otherwise it steps: a swing of `step_speed` metres per frame lifted `STEP_CLEARANCE` off the floor (mid-gap
    between two ground targets, last before a lifted one, first after one), standing on each ground target before
    or after it. Without this the foot follows another motion's steps only at the target frames
    and slides along the floor between them.
    """
    tg = np.asarray(targets, np.float64)
    locks = np.full(tg.shape, np.nan)
    lift = np.zeros(tg.shape[:2])
    stand = rest_pose()[:, 1] - rest_pose()[:, 1].min()
    for joint in FOOT_JOINTS:
        frames = np.flatnonzero(np.isfinite(tg[:, joint]).all(-1))
        for a, b in zip(frames[:-1], frames[1:], strict=True):
            pa, pb = tg[a, joint], tg[b, joint]
            down_a, down_b = (p[1] - FLOOR < stand[joint] + GROUND_GATE for p in (pa, pb))
            if b - a > max_gap or not (down_a or down_b):
                continue
            dist = float(np.linalg.norm((pb - pa)[[0, 2]]))
            if down_a and down_b and dist <= max_speed * (b - a):
                w = np.linspace(0.0, 1.0, b - a + 1)[:, None]
                locks[a:b + 1, joint] = (1 - w) * pa + w * pb
                continue
            if b - a < 3:
                continue
            # The swing takes the time its length needs; the foot stands on the ground before and after it.
            swing = int(np.clip(math.ceil(dist / step_speed), 1, b - a - 1))
            if down_a and down_b:
                s0 = a + (b - a - swing + 1) // 2
            else:
                s0 = b - swing if down_a else a + 1
            if down_a:
                locks[a:s0, joint] = pa
            if down_b:
                locks[s0 + swing:b + 1, joint] = pb
            lift[s0:s0 + swing, joint] = FLOOR + stand[joint] + STEP_CLEARANCE
    return locks, lift


def release_locks(locks: np.ndarray, missed: np.ndarray, window: int) -> np.ndarray:
    """Return foot locks (T, 22, 3; NaN where free) without the contact phases within `window` frames of a missed
    target (missed: (T, 22) bool), so the body can follow the targets and the feet step anew."""
    out = np.array(locks, np.float64)
    near = np.convolve(missed.any(-1).astype(float), np.ones(2 * window + 1), mode="same") > 0
    for joint in FOOT_JOINTS:
        held = np.isfinite(out[:, joint]).all(-1)
        edges = np.flatnonzero(np.diff(np.concatenate(([0], held.astype(np.int8), [0]))))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            if near[a:b].any():
                out[a:b, joint] = np.nan
    return out


def _interp_fill(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Linear interpolation in time of values (T,) from the known frames, held constant beyond them."""
    t = np.arange(len(values))
    if not known.any():
        return np.zeros_like(values)
    return np.interp(t, t[known], values[known])


def _prepare(rot: torch.Tensor, root: torch.Tensor, off: torch.Tensor, targets: np.ndarray,
             heading: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Put frame 0 where motion features start (pelvis at x = z = 0, facing +Z), turn the body to face `heading`,
    and move the root onto pelvis targets (interpolated between them)."""
    with torch.no_grad():
        h0 = ground_heading(forward_kinematics(rot[:1], root[:1], off))[0]
    turn0 = y_rotation(torch.atan2(-h0[0], h0[1]).reshape(1).to(rot.dtype))
    rot = rot.clone()
    rot[:, 0] = qmul(turn0.expand(len(rot), 4), rot[:, 0])
    root = qrot(turn0.expand(len(root), 4), root - root[:1] * torch.tensor([1.0, 0.0, 1.0], dtype=root.dtype))
    if heading is not None:
        known = np.isfinite(heading).all(-1)
        if known.any():
            p = forward_kinematics(rot, root, off)
            h = ground_heading(p).numpy()
            have = np.arctan2(h[:, 0], h[:, 1])
            want = np.arctan2(heading[:, 0], heading[:, 1])
            t = np.arange(len(known))
            wrapped = (want[known] - have[known] + np.pi) % (2 * np.pi) - np.pi
            if not known[0]:
                # Frame 0 faces +Z in every motion: it keeps its facing and the turn builds up from there.
                known = known.copy()
                known[0] = True
                wrapped = np.concatenate(([0.0], wrapped))
            delta = np.interp(t, t[known], np.unwrap(wrapped))
            turn = y_rotation(torch.from_numpy(delta).to(rot.dtype))
            rot = rot.clone()
            rot[:, 0] = qmul(turn, rot[:, 0])
    shift = _root_shift(forward_kinematics(rot, root, off).numpy(), targets)
    root = root + torch.from_numpy(shift).to(root.dtype)
    return rot, root


def _root_shift(p: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Return the root move (T, 3) that brings targeted joints within their limb's reach, interpolated in time.

    A pelvis target moves the root onto it. Any other target further than `REACH` from its joint moves the body
    along the ground by the rest (the mean over the frame's targets), so targets taken from a motion that travels
    elsewhere (metres away) are met by walking there, not by stretching limbs against planted feet at the iteration
    cap. Frame 0 stays where features put it (x = z = 0) unless a target says otherwise; the move builds up from there.
    """
    n = len(p)
    shift = np.zeros((n, 3))
    pelvis = targets[:, 0]
    # Horizontal offset of every other targeted joint beyond its reach, averaged per frame.
    gap = targets[:, 1:, [0, 2]] - p[:, 1:, [0, 2]]
    have = np.isfinite(gap).any(-1)
    others = have.any(-1)
    g = np.nan_to_num(gap)
    size = np.linalg.norm(g, axis=-1, keepdims=True)
    g = g * np.clip(1.0 - REACH[1:, None] / np.maximum(size, 1e-9), 0.0, None)
    mean = g.sum(1) / np.maximum(have.sum(-1), 1)[:, None]
    for axis in range(3):
        known = np.isfinite(pelvis[:, axis])
        d = np.where(known, pelvis[:, axis] - p[:, 0, axis], 0.0)
        if axis != 1:
            # A pelvis target wins at its frame; the other joints' move fills the frames it leaves.
            extra = others & ~known
            d = np.where(extra, mean[:, 0 if axis == 0 else 1], d)
            known = known | extra
            if known.any() and not known[0]:
                known[0], d[0] = True, 0.0
        if known.any():
            shift[:, axis] = _interp_fill(d, known)
    return shift


# The angles `motion.plausibility.joint_angles` measures against JOINT_LIMITS: between (b - a) and (d - c).
_ANGLES = tuple((f"{side}_{a}", f"{side}_{b}", f"{side}_{b}", f"{side}_{c}", name)
                for a, b, c, name in (("hip", "knee", "ankle", "knee_flexion"),
                                      ("shoulder", "elbow", "wrist", "elbow_flexion"))
                for side in ("left", "right")) + (
    ("pelvis", "spine1", "spine1", "spine3", "spine_bend"), ("spine2", "neck", "neck", "head", "neck_bend"))


def _limit_penalty(p: torch.Tensor) -> torch.Tensor:
    # No joint may bend past its limit: the cosine between the two segments must stay above cos(limit).
    total = p.new_zeros(())
    for a, b, c, d, name in _ANGLES:
        u = p[:, _J[b]] - p[:, _J[a]]
        v = p[:, _J[d]] - p[:, _J[c]]
        cos = (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1)).clamp_min(1e-9)
        total = total + torch.relu(math.cos(math.radians(JOINT_LIMITS[name][1])) - cos).pow(2).sum()
    return total


def _snap_keyframes(q: torch.Tensor, root: torch.Tensor, off: torch.Tensor, tgt: np.ndarray, frames: np.ndarray,
                    window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Meet full-pose keyframes exactly: each joint's remaining local correction is applied in full at the keyframe
    and faded in and out (slerp, smoothstep) over `window` frames around it, so bones stay exact and time smooth."""
    n = len(q)
    t = np.arange(n)
    q = q / q.norm(dim=-1, keepdim=True)
    root = root.clone()
    for k in frames:
        key = positions_to_rotations(torch.from_numpy(tgt[k:k + 1]).to(q.dtype), off)[0]
        fix = qmul(key, qinv(q[k]))
        fix = torch.where(fix[..., :1] < 0, -fix, fix)
        x = np.clip(1.0 - np.abs(t - k) / max(window, 1), 0.0, 1.0)
        w = torch.from_numpy(x * x * (3 - 2 * x)).to(q.dtype)
        axis_angle = quat_to_axis_angle(fix)  # (22, 3)
        angle = axis_angle.norm(dim=-1)
        part = quat_from_axis_angle(axis_angle[None].expand(n, -1, -1), angle[None] * w[:, None])
        q = qmul(part, q)
        root = root + w[:, None] * (torch.from_numpy(tgt[k, 0]).to(q.dtype) - root[k])
    return q, root


def solve_joints(joints: np.ndarray, targets: np.ndarray | None = None, heading: np.ndarray | None = None,
                 lock_feet: bool = True, settings: SolveSettings | None = None,
                 reference: np.ndarray | None = None) -> np.ndarray:
    """Return joints (T, 22, 3) on the target skeleton meeting `targets` (T, 22, 3; NaN free) with planted feet.

    heading (T, 2): unit ground direction to face per frame (NaN free). reference: the uncorrected motion whose foot
    contacts are kept (default: `joints`).
    """
    s = settings or SolveSettings()
    j0 = np.asarray(joints, np.float64)
    n = len(j0)
    tgt = np.full((n, NUM_JOINTS, 3), np.nan) if targets is None else np.asarray(targets, np.float64)
    dtype = torch.float64
    posed = np.isfinite(tgt).all(axis=(1, 2))
    # Keyframe poses bring their own proportions (where the hips and collars sit): the motion takes them on.
    off = torch.from_numpy(target_offsets(tgt[posed] if posed.any() else j0)).to(dtype)
    facing0 = torch.tensor([0.0, 1.0], dtype=dtype)
    rot0 = torch.from_numpy(np.asarray(positions_to_rotations(j0, off.numpy()), np.float64)).to(dtype)
    root0 = torch.from_numpy(j0[:, 0].copy()).to(dtype)
    facing = np.isfinite(tgt[:, list(FACE_JOINTS)]).all(axis=(1, 2))
    if facing.any():
        # Keyframes fix the body's facing too: turn towards it first, as for a path, so the solve starts close.
        heading = np.full((n, 2), np.nan) if heading is None else np.array(heading, np.float64)
        heading[facing] = ground_heading(torch.from_numpy(np.nan_to_num(tgt[facing]))).numpy()
    rot0, root0 = _prepare(rot0, root0, off, tgt, heading)
    with torch.no_grad():
        start = forward_kinematics(rot0, root0, off).numpy()
    # The pelvis rises at most RISE over its generated height (unless a target sets it), so a target higher than the
    # joint's chain can stretch from there (a hand metres above the head) is aimed at that height: the limbs reach
    # straight towards it and no joint is pulled past its limit; the residual names what stays out of reach.
    pelvis_top = np.where(np.isfinite(tgt[:, 0, 1]), tgt[:, 0, 1], start[:, 0, 1].max() + RISE)
    tgt = tgt.copy()
    tgt[:, 1:, 1] = np.minimum(tgt[:, 1:, 1], pelvis_top[:, None] + 0.98 * _CHAIN[None, 1:])
    lock = np.full_like(tgt, np.nan)
    skip = np.zeros((n, NUM_JOINTS), bool)
    if lock_feet:
        for leg in _LEG_JOINTS.values():
            user = np.isfinite(tgt[:, [_J[x] for x in leg]]).any(axis=(1, 2))
            for name in leg:
                skip[:, _J[name]] |= user
        lock = foot_locks(start, reference if reference is not None else j0, skip)
        # A foot the user targets on the ground stays planted between those targets (not the generated steps).
        held, swing = target_steps(tgt)
        lock = np.where(np.isfinite(held) | (swing > 0)[..., None], held, lock)
        skip |= swing > 0

    def weights(lock: np.ndarray) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
        goal = np.where(np.isfinite(tgt), tgt, lock)
        weight = np.where(np.isfinite(tgt), np.where(far[..., None], s.far_target, s.target),
                          np.where(np.isfinite(lock), s.feet, 0.0))
        return goal, torch.from_numpy(np.nan_to_num(goal)).to(dtype), torch.from_numpy(weight).to(dtype)

    far = np.zeros((n, NUM_JOINTS), bool)
    goal, goal_t, w_t = weights(lock)
    # Lifted feet keep their generated height above the floor (the pelvis may move down, the swing may not).
    ref = np.asarray(reference if reference is not None else j0, np.float64)
    lift = np.zeros((n, NUM_JOINTS))
    if lock_feet and n >= 3:
        planted = ground_contacts(ref)
        planted = np.concatenate((planted, planted[-1:]), axis=0)
        for k, joint in enumerate(FOOT_JOINTS):
            free = ~planted[:, k] & ~skip[:, joint] & ~np.isfinite(tgt[:, joint]).any(-1)
            lift[free, joint] = np.maximum(ref[free, joint, 1], FLOOR)
    if lock_feet:
        lift = np.maximum(lift, swing)
    lift_t = torch.from_numpy(lift).to(dtype)
    lift_w = torch.from_numpy((lift > 0).astype(np.float64)).to(dtype)

    # The body may not fly up to a target out of reach: the pelvis stays under its highest generated height plus
    # `RISE`, except where a target holds the pelvis height itself.
    rise_t = torch.from_numpy(np.where(np.isfinite(tgt[:, 0, 1]), 1e3, pelvis_top)).to(dtype)

    canon = [1e3 * s.target]
    d_rot = torch.zeros(n, NUM_JOINTS, 3, dtype=dtype, requires_grad=True)
    d_root = torch.zeros(n, 3, dtype=dtype, requires_grad=True)
    ones = torch.ones(n, NUM_JOINTS, 1, dtype=dtype)

    def pose() -> torch.Tensor:
        # A first-order quaternion (1, v/2) per joint: smooth at zero; forward_kinematics normalises it.
        q = qmul(rot0, torch.cat((ones, d_rot / 2), dim=-1))
        return fast_fk(q, root0 + d_root, off)

    def loss() -> torch.Tensor:
        p = pose()
        e = (w_t * (p - goal_t) ** 2).sum()
        e = e + s.floor * torch.relu(FLOOR - p[..., 1]).pow(2).sum() + s.limits * _limit_penalty(p)
        e = e + 1e3 * s.target * torch.relu(p[:, 0, 1] - rise_t).pow(2).sum()
        e = e + s.clearance * (lift_w * torch.relu(lift_t - p[..., 1]).pow(2)).sum()
        e = e + s.rotation * d_rot.pow(2).sum() + s.root * d_root.pow(2).sum()
        e = e + s.rotation_smooth * (d_rot[1:] - d_rot[:-1]).pow(2).sum()
        e = e + s.root_smooth * (d_root[1:] - d_root[:-1]).pow(2).sum()
        # Features start every motion at x = z = 0 facing +Z: frame 0 must stay there or the whole motion moves.
        e = e + canon[0] * ((ground_heading(p[:1])[0] - facing0).pow(2).sum() + p[0, 0, [0, 2]].pow(2).sum())
        return e

    if np.isfinite(goal).any() or (start[..., 1] < FLOOR).any() or heading is not None:
        # scipy's L-BFGS-B with torch gradients (torch.optim would import torch._dynamo: seconds on first use).
        size = d_rot.numel()

        def use(x: np.ndarray) -> None:
            with torch.no_grad():
                d_rot.copy_(torch.from_numpy(x[:size]).view_as(d_rot))
                d_root.copy_(torch.from_numpy(x[size:]).view_as(d_root))

        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            use(x)
            d_rot.grad = d_root.grad = None
            e = loss()
            e.backward()
            return float(e.detach()), np.concatenate((d_rot.grad.numpy().ravel(), d_root.grad.numpy().ravel()))

        def descend(x: np.ndarray, iterations: int) -> np.ndarray:
            x = minimize(fun, x, jac=True, method="L-BFGS-B",
                         options={"maxiter": iterations, "maxcor": 20, "gtol": 1e-10, "ftol": 1e-14}).x
            use(x)
            return x

        x = np.zeros(size + d_root.numel())
        passes = s.passes if lock_feet else 1
        for k in range(passes):
            # The stiff frame-0 term only in the last pass: the first ones converge better without it.
            canon[0] = 1e3 * s.target if k == passes - 1 else s.target
            if k:
                # The corrected motion plants feet of its own (where the body now stands still): lock those too.
                with torch.no_grad():
                    now = pose().numpy()
                own = foot_locks(now, None, skip)
                lock = np.where(np.isfinite(own), own, lock)
                goal, goal_t, w_t = weights(lock)
            x = descend(x, s.iterations if not k else s.iterations // 2)
        def missed() -> np.ndarray:
            with torch.no_grad():
                miss = np.linalg.norm(np.nan_to_num(pose().numpy() - tgt), axis=-1)
            return np.isfinite(tgt).any(-1) & (miss > FAR_MISS)

        # Not `far` yet: `weights` reads `far`, and the released re-solve keeps these targets at full weight.
        missing = missed()
        if missing.any() and lock_feet:
            # Feet planted where the generated gait stood can hold the body back from targets another motion reached
            # (a faster gait, a turn elsewhere): those contact phases let go, and the feet re-plant where the
            # corrected motion stands (the touchdown passes below).
            freed = release_locks(lock, missing, s.release_window)
            if not np.array_equal(np.isfinite(freed), np.isfinite(lock)):
                lock = freed
                goal, goal_t, w_t = weights(lock)
                x = descend(x, s.iterations)
                missing = missed()
        far = missing
        if far.any():
            # Targets still far out of reach after the solve would strain every joint towards them: they keep a
            # weak pull and the joint limits win (the residual is reported; the body stays plausible).
            goal, goal_t, w_t = weights(lock)
            x = descend(x, s.iterations // 2)
    with torch.no_grad():
        q = qmul(rot0, torch.cat((ones, d_rot / 2), dim=-1))
        root = root0 + d_root
        if posed.any():
            q, root = _snap_keyframes(q, root, off, tgt, np.flatnonzero(posed), s.keyframe_window)
        out = fast_fk(q, root, off).numpy()
    # Height may give where no target but a hand's or a foot's holds it (those the limb fix meets afterwards).
    free_y = ~np.isfinite(np.delete(tgt, LIMB_ENDS, axis=1)[..., 1]).any(-1)

    def finish(goal: np.ndarray) -> np.ndarray:
        return lift_feet(fix_limbs(lower_to_reach(out, goal, free_y), goal))

    fixed = finish(goal)
    for _ in range(TOUCHDOWN_PASSES if lock_feet else 0):
        # The corrected motion's own planted phases win over the generated motion's: it may land a frame earlier
        # (easing into a lock slows the landing step under the contact rule's speed) or join two generated phases
        # into one, and each such phase is held at one point, so no step inside it slides.
        own = foot_locks(fixed, None, skip)
        more = np.where(np.isfinite(tgt), tgt, np.where(np.isfinite(own), own, goal))
        if np.allclose(more, goal, atol=1e-6, equal_nan=True):
            break
        goal = more
        fixed = finish(goal)
    return fixed


def warn_residuals(residuals: list[dict], tolerance: float = REACH_TOLERANCE) -> None:
    """Warn (one line per constraint) where a target was missed by more than `tolerance` metres."""
    for r in residuals:
        if r["max_m"] > tolerance:
            warnings.warn(f"{r['constraint']}: the target at frame {r['worst_frame']} ({r['worst_joint']}) cannot be "
                          f"reached; residual error {100 * r['max_m']:.1f} cm (mean {100 * r['mean_m']:.1f} cm); "
                          "the body stays intact", stacklevel=3)
