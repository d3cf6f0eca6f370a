"""What a rig needs before and after keys are written: driven bones, unmapped limbs, FK switches, visual keying.

- `driven_bones`: bones whose pose is set by constraints or drivers (keys on them do nothing: e.g. Rigify's DEF bones).
- `mapping_warnings`: the report lines for a bone map that leaves the pelvis or a whole limb unmapped, or maps driven
  bones; the operators report them as a WARNING, never as success.
- `set_fk_switches`: control rigs keyed on their FK controls need their IK/FK switches at FK and their follow
  sliders at full (`FK_SWITCHES`).
- `visual_channels`: on rigs whose controls hang from constraint-driven helper bones (Rigify's MCH bones), the solved
  armature-space rotations are turned into pose channels by Blender itself (`pose_bone.matrix`, frame by frame), so
  the keys land where the solver meant whatever the helpers do.
"""

from __future__ import annotations

import re

import numpy as np

LIMBS: dict[str, tuple[str, ...]] = {
    "left leg": ("left_hip", "left_knee", "left_ankle"),
    "right leg": ("right_hip", "right_knee", "right_ankle"),
    "left arm": ("left_shoulder", "left_elbow", "left_wrist"),
    "right arm": ("right_shoulder", "right_elbow", "right_wrist"),
}
"""A limb counts as unmapped when none of these joints is mapped."""

FK_SWITCHES: dict[str, float] = {"IK_FK": 1.0, "ik_fk_switch": 1.0, "neck_follow": 1.0, "head_follow": 1.0}
"""Pose-bone custom properties that make a control rig a plain FK chain, and their values: the IK/FK switches at FK
(Rigify's IK_FK, Auto-Rig Pro's ik_fk_switch) and Rigify's neck and head fully following the chest (at its default
0.5 the neck keeps part of its own orientation, so keys would not give the motion's neck and head)."""

_CHANNEL = re.compile(
    r'^pose\.bones\["(.+?)"\]\.(location|rotation_quaternion|rotation_euler|rotation_axis_angle|scale)$')


def driven_bones(obj, names) -> dict[str, str]:
    """{bone: why} for the given bones whose pose comes from enabled constraints or drivers on their channels."""
    names = set(names)
    out: dict[str, str] = {}
    for name in names:
        pb = obj.pose.bones.get(name)
        if pb is None:
            continue
        active = [c for c in pb.constraints if c.enabled and c.influence > 0.0]
        if active:
            out[name] = f"constraint {active[0].type.replace('_', ' ').lower()}"
    anim = obj.animation_data
    for fc in anim.drivers if anim is not None else ():
        m = _CHANNEL.match(fc.data_path)
        if m and m.group(1) in names and m.group(1) not in out and not fc.mute:
            out[m.group(1)] = f"driver on {m.group(2).replace('_', ' ')}"
    return out


def has_driven_ancestors(obj, bones) -> bool:
    """True when a bone between one of `bones` and the armature's root is moved by constraints or drivers."""
    seen: set[str] = set()
    for name in bones:
        b = obj.data.bones.get(name)
        b = b.parent if b is not None else None
        while b is not None and b.name not in seen:
            seen.add(b.name)
            b = b.parent
    return bool(driven_bones(obj, seen))


def mapping_warnings(bone_map: dict[str, str], driven: dict[str, str]) -> list[str]:
    """Report lines (with what to do) for a map whose keys would not move the character as the motion does."""
    out = []
    if not bone_map.get("pelvis"):
        out.append("the pelvis is not mapped, so the character stays in place: map the hips / root bone in the "
                   "KinMo bone map")  # fmt: skip
    missing = [limb for limb, joints in LIMBS.items() if not any(bone_map.get(j) for j in joints)]
    if missing:
        out.append(f"no bone is mapped for the {', '.join(missing)}, which will not move: pick a preset or fill "
                   "the bone map")  # fmt: skip
    mapped_driven = sorted(b for b in bone_map.values() if b in driven)
    if mapped_driven:
        shown = ", ".join(f"{b} ({driven[b]})" for b in mapped_driven[:3])
        more = f" and {len(mapped_driven) - 3} more" if len(mapped_driven) > 3 else ""
        out.append(f"{len(mapped_driven)} mapped bone(s) are driven by constraints or drivers, so their keys have no "
                   f"effect: {shown}{more}; map the rig's control bones instead (for a generated Rigify rig: the "
                   "Rigify preset, which keys its FK controls) or disable those constraints")  # fmt: skip
    return out


def set_fk_switches(obj) -> int:
    """Set every IK/FK switch and follow slider of the rig (`FK_SWITCHES`) to FK; return how many were changed."""
    changed = 0
    for pb in obj.pose.bones:
        for prop, fk in FK_SWITCHES.items():
            if prop in pb.keys() and pb[prop] != fk:
                pb[prop] = fk
                changed += 1
    return changed


def visual_channels(obj, rig, bone_map: dict[str, str], result, view_layer
                    ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Local rotations (wxyz per mapped bone, (T, 4)) and root locations (T, 3) that give the solved armature-space
    rotations (and the root bone's head) with the rig's constraints and drivers evaluated.

    Blender poses the first frame level by level of the body (pelvis; hips and spine; knees; ...), one depsgraph
    update per level, and the rotation of each mapped bone's (helper) parent is read relative to the mapped bone it
    follows in the body. That relation is taken as fixed for the other frames (FK helpers follow rigidly), which is
    checked on three frames by Blender; where it does not hold every frame is posed the slow way.
    """
    from .core import skeleton as S

    order = _body_levels(bone_map, rig, result)
    pbs = {b: obj.pose.bones[rig.names[b]] for level in order for b in level}
    before = {b: pb.matrix_basis.copy() for b, pb in pbs.items()}  # the user's pose comes back afterwards
    anim = obj.animation_data
    saved = (anim.action, anim.use_nla) if anim is not None else None
    if anim is not None:  # the rig's own animation must not overwrite the pose while it is measured
        anim.action, anim.use_nla = None, False
    try:
        _pose_frame(pbs, order, result, 0, view_layer)
        anchors = _anchors(bone_map, rig, S)
        rotations, root_loc = _channels_from_anchors(pbs, anchors, result)
        if not all(_check_frame(pbs, rotations, root_loc, result, t, view_layer)
                   for t in sorted({0, result.frames // 2, result.frames - 1})):  # fmt: skip
            rotations, root_loc = _channels_frame_by_frame(pbs, order, result, view_layer)
    finally:
        for b, pb in pbs.items():
            pb.matrix_basis = before[b]
        if saved is not None:
            anim.action, anim.use_nla = saved
        view_layer.update()
    for q in rotations.values():  # w >= 0 first, then the short way between keys (one side of the double cover)
        q *= np.where(q[0, 0] < 0, -1.0, 1.0)
        flip = np.cumsum(np.sum(q[1:] * q[:-1], axis=1) < 0) % 2 == 1
        q[1:][flip] *= -1
    return rotations, root_loc


def _identity():
    from mathutils import Matrix

    return Matrix.Identity(4)


def _body_levels(bone_map: dict[str, str], rig, result) -> list[list[int]]:
    """Mapped bones grouped by their joint's depth in the body's tree (pelvis 0, hips and spine1 1, ...)."""
    from .core import skeleton as S

    levels: dict[int, list[int]] = {}
    for joint, bone in bone_map.items():
        if bone in result.rotations:
            d, p = 0, S.PARENTS[S.JOINT_INDEX[joint]]
            while p >= 0:
                d, p = d + 1, S.PARENTS[p]
            levels.setdefault(d, []).append(rig.index[bone])
    return [levels[d] for d in sorted(levels)]


def _pose_frame(pbs, order, result, t: int, view_layer) -> None:
    """Pose frame t through Blender: each level's bones get their solved matrices once the levels below are final."""
    from mathutils import Matrix, Quaternion, Vector

    root = result.root_bone
    for level in order:
        view_layer.update()
        for b in level:
            pb = pbs[b]
            head = Vector(result.heads[t, b]) if pb.name == root else pb.matrix.translation.copy()
            pb.matrix = Matrix.LocRotScale(head, Quaternion(result.global_rotations[t, b]), None)
    view_layer.update()


def _anchors(bone_map: dict[str, str], rig, S) -> dict[int, int | None]:
    """For each mapped bone, the mapped bone of its nearest mapped ancestor joint in the body (None for the root)."""
    out: dict[int, int | None] = {}
    for joint, bone in bone_map.items():
        p = S.PARENTS[S.JOINT_INDEX[joint]]
        while p >= 0 and S.JOINT_NAMES[p] not in bone_map:
            p = S.PARENTS[p]
        out[rig.index[bone]] = rig.index[bone_map[S.JOINT_NAMES[p]]] if p >= 0 else None
    return out


def _quat(m) -> np.ndarray:
    q = m.to_quaternion()
    return np.array((q.w, q.x, q.y, q.z))


def _channels_from_anchors(pbs, anchors, result):
    """Channels for every frame from the first frame's helper-parent rotations, relative to the anchor bones."""
    from .core import quaternions as Q

    glob = result.global_rotations
    rotations: dict[str, np.ndarray] = {}
    root_loc = None
    for b, pb in pbs.items():
        bone = pb.bone
        rest_rel = _quat(bone.parent.matrix_local.inverted() @ bone.matrix_local) if bone.parent else _quat(
            bone.matrix_local)  # fmt: skip
        parent_q = _quat(pb.parent.matrix) if pb.parent else np.array([1.0, 0.0, 0.0, 0.0])
        a = anchors.get(b)
        if a is None:
            parents = np.broadcast_to(parent_q, (result.frames, 4))
        else:  # the parent turns with the anchor: parent(t) = anchor(t) * (anchor(0)^-1 parent(0))
            parents = Q.qmul(glob[:, a], np.broadcast_to(Q.qmul(Q.qinv(glob[0, a]), parent_q), (result.frames, 4)))
        rotations[pb.name] = Q.qmul(Q.qinv(Q.qmul(parents, np.broadcast_to(rest_rel, (result.frames, 4)))), glob[:, b])
        if pb.name == result.root_bone:
            # Pose matrix = parent pose * parent rest^-1 * rest * basis; the root's parent does not move.
            base = (pb.parent.matrix @ bone.parent.matrix_local.inverted() @ bone.matrix_local) if pb.parent else (
                bone.matrix_local)  # fmt: skip
            inv = np.array(base.inverted())
            heads = np.concatenate((result.heads[:, b], np.ones((result.frames, 1))), axis=1)
            # Translation of base^-1 * M(t): rotation parts cancel for the translation column.
            root_loc = (heads @ inv.T)[:, :3]
    return rotations, root_loc


def _check_frame(pbs, rotations, root_loc, result, t: int, view_layer) -> bool:
    """True when keying frame t with these channels gives the solved rotations (0.5 deg) and root head (1 mm)."""
    from mathutils import Quaternion, Vector

    from .core import quaternions as Q

    for pb in pbs.values():
        pb.matrix_basis = Quaternion(rotations[pb.name][t]).to_matrix().to_4x4()
        if pb.name == result.root_bone and root_loc is not None:
            pb.matrix_basis.translation = Vector(root_loc[t])
    view_layer.update()
    for b, pb in pbs.items():
        # |cos| of half the angle between the two rotations: at least cos(0.25 deg) means within 0.5 deg.
        if abs(float(np.dot(_quat(pb.matrix), Q.qnormalize(result.global_rotations[t, b])))) < np.cos(np.radians(0.25)):
            return False
        if pb.name == result.root_bone and np.linalg.norm(np.array(pb.matrix.translation) - result.heads[t, b]) > 1e-3:
            return False
    return True


def _channels_frame_by_frame(pbs, order, result, view_layer):
    """Pose every frame through Blender and read the channels back (exact, one depsgraph update per body level)."""
    rotations = {pb.name: np.empty((result.frames, 4)) for pb in pbs.values()}
    root_loc = np.empty((result.frames, 3)) if result.root_bone in rotations else None
    for pb in pbs.values():
        pb.matrix_basis = _identity()
    for t in range(result.frames):
        _pose_frame(pbs, order, result, t, view_layer)
        for pb in pbs.values():
            rotations[pb.name][t] = _quat(pb.matrix_basis)
            if pb.name == result.root_bone:
                root_loc[t] = tuple(pb.matrix_basis.translation)
    return rotations, root_loc
