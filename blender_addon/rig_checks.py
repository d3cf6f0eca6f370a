"""What a rig needs before and after keys are written: driven bones, unmapped limbs, FK switches, visual keying.

- `driven_bones`: bones whose pose is set by constraints or drivers (keys on them do nothing: e.g. Rigify's DEF bones).
- `mapping_warnings`: the report lines for a bone map that leaves the pelvis or a whole limb unmapped, or maps driven
  bones; the operators report them as a WARNING, never as success.
- `set_fk_switches`: control rigs keyed on their FK controls need their IK/FK switches at FK (`FK_SWITCHES`).
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

FK_SWITCHES: dict[str, float] = {"IK_FK": 1.0, "ik_fk_switch": 1.0}
"""Pose-bone custom properties that switch a limb between IK and FK, and their FK value (Rigify; Auto-Rig Pro)."""

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
    """Set every IK/FK switch of the rig (`FK_SWITCHES`) to FK; return how many were changed."""
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
    rotations (and the root bone's head) with the rig's constraints and drivers evaluated, frame by frame."""
    from mathutils import Matrix, Quaternion, Vector

    from .core import skeleton as S

    # Bones are set level by level of the body's tree (pelvis; hips and spine; knees; ...), one depsgraph update per
    # level: a control's helper parents may follow other controls through constraints, not through bone parents,
    # but always ones closer to the pelvis in the body.
    def body_depth(joint: str) -> int:
        d, p = 0, S.PARENTS[S.JOINT_INDEX[joint]]
        while p >= 0:
            d, p = d + 1, S.PARENTS[p]
        return d

    levels: dict[int, list[int]] = {}
    for joint, bone in bone_map.items():
        if bone in result.rotations:
            levels.setdefault(body_depth(joint), []).append(rig.index[bone])
    mapped = [b for d in sorted(levels) for b in levels[d]]
    rotations = {name: np.empty((result.frames, 4)) for name in result.rotations}
    root = rig.index[result.root_bone] if result.root_bone else None
    root_loc = np.empty((result.frames, 3)) if root is not None else None
    anim = obj.animation_data
    saved = (anim.action, anim.use_nla) if anim is not None else None
    if anim is not None:  # the rig's own animation must not overwrite the pose while it is measured
        anim.action, anim.use_nla = None, False
    pbs = {b: obj.pose.bones[rig.names[b]] for b in mapped}
    try:
        for pb in pbs.values():
            pb.matrix_basis = Matrix.Identity(4)
        for t in range(result.frames):
            for depth in sorted(levels):
                view_layer.update()
                for b in levels[depth]:
                    pb = pbs[b]
                    head = Vector(result.heads[t, b]) if b == root else pb.matrix.translation.copy()
                    pb.matrix = Matrix.LocRotScale(head, Quaternion(result.glob[t, b]), None)
            for b, pb in pbs.items():
                q = pb.matrix_basis.to_quaternion()
                rotations[rig.names[b]][t] = (q.w, q.x, q.y, q.z)
                if b == root:
                    root_loc[t] = tuple(pb.matrix_basis.translation)
    finally:
        for pb in pbs.values():
            pb.matrix_basis = Matrix.Identity(4)
        if saved is not None:
            anim.action, anim.use_nla = saved
        view_layer.update()
    # Consecutive frames on the same side of the quaternion double cover, so interpolation takes the short way.
    for q in rotations.values():
        flip = np.cumsum(np.sum(q[1:] * q[:-1], axis=1) < 0) % 2 == 1
        q[1:][flip] *= -1
    return rotations, root_loc
