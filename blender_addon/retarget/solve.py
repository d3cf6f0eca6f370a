"""Retargeting: pose-bone keys that make a rig's mapped bones point where the source motion's bones point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import contacts as C
from ..core import quaternions as Q
from ..core import skeleton as S
from .bone_map import validate_bone_map
from .metrics import foot_skate, source_skate
from .rig import AIM_CHAINS, RigSpec, local_from_global, pose_heads
from .source import KINMO_TO_BLENDER, SourceMotion, foot_contacts, forward_kinematics_rotations, resample


@dataclass
class RetargetResult:
    """Keys to bake: local rotations per mapped bone, the root bone's locations, and quality figures."""

    frames: int
    rotations: dict[str, np.ndarray]
    root_bone: str | None
    root_locations: np.ndarray | None
    scale: float
    basis: np.ndarray
    contacts: np.ndarray
    foot_skate: dict[str, float]
    source_joints: np.ndarray
    global_rotations: np.ndarray
    heads: np.ndarray


def facing_basis(rig: RigSpec, bone_map: dict[str, str], object_rotation: np.ndarray | None = None) -> np.ndarray:
    """Return the 3x3 map from KinMo axes to armature space for a rig.

    The motion faces the rig's own rest facing when the rig stands upright in its rest pose (spine within 30 degrees
    of world up); otherwise (BVH rigs whose rest pose lies flat) it faces Blender's front, -y in the world.
    """
    world_from_arm = np.eye(3) if object_rotation is None else np.asarray(object_rotation, dtype=np.float64)
    basis = KINMO_TO_BLENDER.copy()
    need = ("pelvis", "left_hip", "right_hip")
    top = next((j for j in ("neck", "spine3", "head", "spine2") if j in bone_map), None)
    if top and all(j in bone_map for j in need):
        h = {j: world_from_arm @ rig.rest_heads[rig.index[bone_map[j]]] for j in need + (top,)}
        up = Q.unit(h[top] - h["pelvis"])
        left = h["left_hip"] - h["right_hip"]
        if up[2] > np.cos(np.radians(30)) and np.linalg.norm(left) > 1e-9:
            fwd = np.cross(left, up)
            fwd[2] = 0.0
            if np.linalg.norm(fwd) > 1e-9:
                fwd = Q.unit(fwd)
                yaw = np.arctan2(fwd[1], fwd[0]) - np.arctan2(-1.0, 0.0)
                c, s = np.cos(yaw), np.sin(yaw)
                basis = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ basis
    return world_from_arm.T @ basis


def _leg_length(points: dict[str, np.ndarray]) -> float | None:
    lengths = []
    for s in ("left", "right"):
        chain = [points.get(f"{s}_{j}") for j in ("hip", "knee", "ankle")]
        if all(p is not None for p in chain):
            lengths.append(np.linalg.norm(chain[1] - chain[0]) + np.linalg.norm(chain[2] - chain[1]))
    return float(np.mean(lengths)) if lengths else None


def retarget(
    motion: SourceMotion,
    rig: RigSpec,
    bone_map: dict[str, str],
    basis: np.ndarray,
    fps: float = float(S.FPS),
    foot_cleanup: bool = False,
) -> RetargetResult:
    """Solve pose-bone keys that make the mapped bones point where the source's bones point, at `fps`.

    For each mapped joint j aiming at the next mapped joint a of its chain, the bone's armature-space pose rotation is
    C q_j(t) A_j C^-1 R_rest: A_j turns the rig's rest direction j->a onto the source's rest direction (rest-pose
    alignment, T- or A-pose), q_j(t) is the source's global rotation corrected so that it takes the source rest
    direction exactly onto the source's j->a direction at time t. Unmapped bones keep their rest pose relative to
    their parents, so chains with extra bones stay rigid between mapped ones. The root moves by the source root
    motion scaled by the leg-length ratio.
    """
    bone_map = validate_bone_map(rig, bone_map)
    if not bone_map:
        raise ValueError("no bone of the armature maps to a SMPL-22 joint")
    basis = np.asarray(basis, dtype=np.float64)
    q_basis = Q.matrix_to_quat(basis)
    joints, local_src, _ = resample(motion, fps)
    contacts_src = foot_contacts(motion.joints)
    idx = np.clip(np.round(np.arange(joints.shape[0]) * motion.fps / fps).astype(int), 0, len(contacts_src) - 1)
    contacts = contacts_src[idx]
    glob_src = forward_kinematics_rotations(local_src)
    rest_src = motion.rest_positions()
    t_count = joints.shape[0]
    mapped = {S.JOINT_INDEX[j]: rig.index[b] for j, b in bone_map.items()}

    align: dict[int, np.ndarray] = {}
    correct: dict[int, np.ndarray] = {}
    deltas: dict[int, np.ndarray] = {}
    for j in sorted(mapped):
        name = S.JOINT_NAMES[j]
        aim = next((S.JOINT_INDEX[a] for a in AIM_CHAINS.get(name, ()) if S.JOINT_INDEX[a] in mapped), None)
        if aim is None:
            # A leaf takes the alignment and correction of its nearest mapped ancestor: in both rigs it continues
            # that bone's frame, so a leaf without source motion of its own keeps its rest pose relative to it.
            p = S.PARENTS[j]
            while p >= 0 and p not in align:
                p = S.PARENTS[p]
            align[j] = align[p] if p >= 0 else np.array([1.0, 0.0, 0.0, 0.0])
            correct[j] = correct[p] if p >= 0 else np.tile([1.0, 0.0, 0.0, 0.0], (t_count, 1))
        else:
            r_src = rest_src[aim] - rest_src[j]
            r_tgt = basis.T @ (rig.rest_heads[mapped[aim]] - rig.rest_heads[mapped[j]])
            align[j] = Q.qbetween(r_tgt, r_src)
            d_true = joints[:, aim] - joints[:, j]
            d_pred = Q.qrot(glob_src[:, j], np.broadcast_to(r_src, (t_count, 3)))
            correct[j] = Q.qbetween(d_pred, d_true)
        q = Q.qmul(correct[j], glob_src[:, j])
        deltas[mapped[j]] = Q.qmul(Q.qmul(q_basis, Q.qmul(q, align[j])), Q.qinv(q_basis))

    glob = _propagate(rig, deltas, t_count)

    # Root motion, scaled by the ratio of leg lengths (hip-knee-ankle) so steps cover the ground the legs can.
    tgt_pts = {j: rig.rest_heads[rig.index[b]] for j, b in bone_map.items()}
    src_pts = {n: rest_src[S.JOINT_INDEX[n]] for n in S.JOINT_NAMES}
    tgt_leg, src_leg = _leg_length(tgt_pts), _leg_length(src_pts)
    if tgt_leg and src_leg:
        scale = tgt_leg / src_leg
    else:
        spread = np.ptp(rig.rest_heads, axis=0).max() if len(rig.names) > 1 else 1.0
        scale = float(spread / max(np.ptp(rest_src, axis=0).max(), 1e-9))
    root_bone = bone_map.get("pelvis")
    root_loc = None
    locations: dict[int, np.ndarray] = {}
    if root_bone is not None:
        rb = rig.index[root_bone]
        feet = [S.JOINT_INDEX[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")]
        rest_height = rest_src[0, 1] - rest_src[feet, 1].min()  # pelvis above the lowest foot joint at rest
        delta = joints[:, 0] - np.array([joints[0, 0, 0], rest_height, joints[0, 0, 2]])
        target = rig.rest_heads[rb] + (basis @ (scale * delta).T).T
        root_loc = _root_location(rig, glob, rb, target)
        locations[rb] = root_loc

    if foot_cleanup:
        glob = _clean_feet(rig, bone_map, glob, locations, contacts, basis, joints, scale, fps)

    local = Q.qcontinuous(local_from_global(rig, glob))
    heads = pose_heads(rig, glob, locations)
    skate = foot_skate(rig, bone_map, heads, contacts, fps, scale, basis)
    skate.update({f"source_{k}": v for k, v in source_skate(joints, contacts, fps).items()})
    rotations = {rig.names[b]: local[:, b] for b in mapped.values()}
    return RetargetResult(
        t_count, rotations, root_bone, root_loc, float(scale), basis, contacts, skate, joints, glob, heads
    )


def _propagate(rig: RigSpec, deltas: dict[int, np.ndarray], t_count: int) -> np.ndarray:
    """Armature-space pose rotations: mapped bones take delta * rest; others follow their parents rigidly."""
    rest = rig.rest_rotations
    glob = np.empty((t_count, len(rig.names), 4))
    for b, p in enumerate(rig.parents):
        if b in deltas:
            glob[:, b] = Q.qmul(deltas[b], rest[b])
        elif p < 0:
            glob[:, b] = rest[b]
        else:
            glob[:, b] = Q.qmul(glob[:, p], Q.qmul(Q.qinv(rest[p]), rest[b]))
    return glob


def _root_location(rig: RigSpec, glob: np.ndarray, b: int, target: np.ndarray) -> np.ndarray:
    """Pose location (bone rest frame) that puts bone b's head at `target`, its ancestors posed as in `glob`."""
    p = rig.parents[b]
    rest_r, rest_h = rig.rest_rotations, rig.rest_heads
    if p < 0:
        return Q.qrot(Q.qinv(rest_r[b]), target - rest_h[b])
    heads = pose_heads(rig, glob)
    frame = Q.qmul(glob[:, p], Q.qinv(rest_r[p]))
    rel = Q.qrot(Q.qinv(frame), target - heads[:, p]) - (rest_h[b] - rest_h[p])
    return Q.qrot(Q.qinv(rest_r[b]), rel)


def _clean_feet(
    rig: RigSpec,
    bone_map: dict[str, str],
    glob: np.ndarray,
    locations: dict[int, np.ndarray],
    contacts: np.ndarray,
    basis: np.ndarray,
    source_joints: np.ndarray,
    scale: float,
    fps: float,
) -> np.ndarray:
    """Keep each ankle from sliding while its foot is in contact, by two-bone IK on hip and knee."""
    up = basis @ np.array([0.0, 1.0, 0.0])
    lateral = basis @ np.array([1.0, 0.0, 0.0])
    glob = glob.copy()
    for col, side in ((0, "left"), (2, "right")):
        names = [bone_map.get(f"{side}_{j}") for j in ("hip", "knee", "ankle")]
        if any(n is None for n in names):
            continue
        bh, bk, ba = (rig.index[n] for n in names)
        heads = pose_heads(rig, glob, locations)
        ankle = heads[:, ba]
        in_contact = contacts[:, col] | contacts[:, col + 1]
        weight = _contact_weights(in_contact)
        if not weight.any():
            continue
        # While in contact the ankle may move only as the source's ankle does (scaled into the rig), and not at all
        # where the source's is nearly still: sliding caused by other proportions goes, the source's steps stay.
        src_ankle = source_joints[:, S.JOINT_INDEX[f"{side}_ankle"]]
        src_vel = np.diff(src_ankle, axis=0) * fps
        src_vel[:, 1] = 0.0
        still = np.linalg.norm(src_vel, axis=-1) < PLANTED_SPEED
        step = scale * (basis @ (src_vel / fps).T).T
        step[still] = 0.0
        offset = np.zeros_like(ankle)
        for start, stop in C.true_runs(in_contact):
            path = ankle[start] + np.concatenate((np.zeros((1, 3)), np.cumsum(step[start : stop - 1], axis=0)))
            offset[start:stop] = path - ankle[start:stop]
            for i in range(1, RAMP_FRAMES + 1):  # fade the correction out around the run
                for f, edge in ((start - i, start), (stop - 1 + i, stop - 1)):
                    if 0 <= f < len(offset) and not in_contact[f]:
                        offset[f] = weight[f] * offset[edge]
        offset -= np.outer(offset @ up, up)  # only horizontal sliding is corrected
        goal = ankle + offset
        two_bone_ik(rig, glob, (bh, bk, ba), heads, goal, np.nonzero(weight > 0)[0], lateral)
    return glob


def two_bone_ik(rig: RigSpec, glob: np.ndarray, chain: tuple[int, int, int], heads: np.ndarray, goal: np.ndarray,
                frames: np.ndarray, lateral: np.ndarray) -> None:
    """Turn the upper and lower bones of chain (upper, lower, end bone indices) so the end's head reaches `goal`
    (T, 3) at `frames`, bending in the limb's own plane (`lateral` where it is straight); the end bone keeps its
    world orientation and bones below are rebuilt. heads: (T, B, 3) armature-space heads of glob. Edits glob."""
    bh, bk, ba = chain
    h, k, a, g = heads[frames, bh], heads[frames, bk], heads[frames, ba], goal[frames]
    l1 = np.linalg.norm(k - h, axis=-1)
    l2 = np.linalg.norm(a - k, axis=-1)
    dist = np.clip(np.linalg.norm(g - h, axis=-1), np.abs(l1 - l2) + 1e-6, (l1 + l2) * (1 - 1e-6))
    axis = np.cross(k - h, a - k)
    straight = np.linalg.norm(axis, axis=-1) < 1e-6 * np.maximum(l1 * l2, 1e-12)
    axis[straight] = lateral
    axis = Q.unit(axis)
    cos_now = np.sum(Q.unit(h - k) * Q.unit(a - k), axis=-1)
    cos_new = (l1**2 + l2**2 - dist**2) / np.maximum(2 * l1 * l2, 1e-12)
    bend = np.arccos(np.clip(cos_now, -1, 1)) - np.arccos(np.clip(cos_new, -1, 1))
    r_knee = Q.quat_from_axis_angle(axis, bend)
    a_new = k + Q.qrot(r_knee, a - k)
    r_hip = Q.qbetween(a_new - h, g - h)
    end_glob = glob[frames, ba].copy()
    glob[frames, bh] = Q.qmul(r_hip, glob[frames, bh])
    glob[frames, bk] = Q.qmul(Q.qmul(r_hip, r_knee), glob[frames, bk])
    # Rebuild everything below the upper bone from the new upper and lower ones, keeping the end's orientation.
    local = local_from_global(rig, glob[frames])
    fixed = {bh: glob[frames, bh], bk: glob[frames, bk], ba: end_glob}
    glob[frames] = _rebuild(rig, local, fixed)


def _rebuild(rig: RigSpec, local: np.ndarray, fixed: dict[int, np.ndarray]) -> np.ndarray:
    """Pose rotations from locals, except bones in `fixed` which take the given armature-space rotations."""
    rest = rig.rest_rotations
    out = np.empty_like(local)
    for b, p in enumerate(rig.parents):
        if b in fixed:
            out[:, b] = fixed[b]
        elif p < 0:
            out[:, b] = Q.qmul(rest[b], local[:, b])
        else:
            out[:, b] = Q.qmul(Q.qmul(out[:, p], Q.qmul(Q.qinv(rest[p]), rest[b])), local[:, b])
    return out


PLANTED_SPEED = 0.15
"""Source foot speed (m/s, horizontal) below which a foot in contact counts as planted and is pinned."""
RAMP_FRAMES = 3


def _contact_weights(contact: np.ndarray, ramp: int = RAMP_FRAMES) -> np.ndarray:
    """1 inside contacts, fading linearly over `ramp` frames on either side, so pinning never pops."""
    w = contact.astype(np.float64)
    for start, stop in C.true_runs(contact):
        for i in range(1, ramp + 1):
            for f in (start - i, stop - 1 + i):
                if 0 <= f < len(w):
                    w[f] = max(w[f], 1 - i / (ramp + 1))
    return w


