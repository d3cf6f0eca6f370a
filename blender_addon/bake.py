"""Blender side of retargeting: read a rig, build the SMPL-22 armature, bake keys in bulk into a new action."""

from __future__ import annotations

import bpy
import numpy as np

from .core import quaternions as Q
from .core import skeleton as S
from .retarget.rig import RigSpec, smpl_armature_layout
from .retarget.solve import RetargetResult

DEFAULT_ARMATURE_NAME = "KinMo SMPL-22"


def is_armature(obj) -> bool:
    """True for an armature object."""
    return obj is not None and getattr(obj, "type", None) == "ARMATURE"


def rig_spec(obj) -> RigSpec:
    """Describe an armature object's rest pose (armature space) for the bpy-free retargeter."""
    bones = obj.data.bones
    names = [b.name for b in bones]
    parents = [b.parent.name if b.parent else None for b in bones]
    heads = np.array([tuple(b.head_local) for b in bones], dtype=np.float64).reshape(-1, 3)
    mats = np.array([[tuple(r) for r in b.matrix_local.to_3x3().normalized()] for b in bones]).reshape(-1, 3, 3)
    spec = RigSpec.from_unordered(names, parents, heads, Q.matrix_to_quat(mats))
    for pb in obj.pose.bones:  # helper bones that copy another bone (Rigify's ORG bones copy its controls)
        for c in pb.constraints:
            if (c.type in _FOLLOW_CONSTRAINTS and c.enabled and c.influence >= 1.0 and getattr(c, "target", None) == obj
                    and c.subtarget in spec.index):  # fmt: skip
                spec.follows[spec.index[pb.name]] = spec.index[c.subtarget]
                break
    return spec


_FOLLOW_CONSTRAINTS = ("COPY_TRANSFORMS", "CHILD_OF")


def object_rotation(obj) -> np.ndarray:
    """The object's world rotation (3x3, scale removed)."""
    return np.array([tuple(r) for r in obj.matrix_world.to_3x3().normalized()], dtype=np.float64)


def stored_bone_map(obj) -> dict[str, str]:
    """The joint -> bone map saved on an armature object (its `kinmo_bone_map` collection)."""
    return {item.joint: item.bone for item in obj.kinmo_bone_map if item.bone}


def store_bone_map(obj, bone_map: dict[str, str]) -> None:
    """Save a joint -> bone map on the armature object, one row per SMPL-22 joint (empty where unmapped)."""
    obj.kinmo_bone_map.clear()
    for joint in S.JOINT_NAMES:
        item = obj.kinmo_bone_map.add()
        item.joint = joint
        item.bone = bone_map.get(joint, "")


def build_smpl_armature(context, name: str = DEFAULT_ARMATURE_NAME, offsets: np.ndarray | None = None):
    """Create the default SMPL-22 armature (T-pose, bones named as SMPL joints, rolls so bends are about local x)."""
    heads, tails, roll = smpl_armature_layout(offsets)
    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    collection = context.collection or context.scene.collection
    collection.objects.link(obj)
    obj.location = context.scene.cursor.location
    view_layer = context.view_layer
    for o in context.selected_objects:
        o.select_set(False)
    view_layer.objects.active = obj
    obj.select_set(True)
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit = arm.edit_bones
        for j, joint in enumerate(S.JOINT_NAMES):
            bone = edit.new(joint)
            bone.head = tuple(heads[j])
            bone.tail = tuple(tails[j])
            bone.align_roll(tuple(roll[j]))
        for j, joint in enumerate(S.JOINT_NAMES):
            p = S.PARENTS[j]
            if p >= 0:
                bone = edit[joint]
                bone.parent = edit[S.JOINT_NAMES[p]]
                bone.use_connect = bool(np.allclose(tuple(bone.head), tuple(bone.parent.tail), atol=1e-6))
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    store_bone_map(obj, {n: n for n in S.JOINT_NAMES})
    return obj


def _rotation_channels(pose_bone, quats: np.ndarray) -> tuple[str, np.ndarray]:
    """The bone's rotation data path and values (T, k) in its own rotation mode (the user's choice is kept)."""
    mode = pose_bone.rotation_mode
    if mode == "QUATERNION":
        return "rotation_quaternion", quats
    if mode == "AXIS_ANGLE":
        q = Q.qcontinuous(np.where(quats[:, :1] < 0, -quats, quats))
        angle = 2 * np.arccos(np.clip(q[:, 0], -1, 1))
        s = np.sqrt(np.maximum(1 - q[:, 0] ** 2, 1e-12))
        axis = np.where(s[:, None] > 1e-6, q[:, 1:] / s[:, None], np.array([0.0, 1.0, 0.0]))
        return "rotation_axis_angle", np.concatenate((angle[:, None], axis), axis=1)
    from mathutils import Quaternion

    out = np.empty((len(quats), 3))
    prev = None
    for i, q in enumerate(quats):
        e = Quaternion(tuple(q)).to_euler(mode, prev) if prev is not None else Quaternion(tuple(q)).to_euler(mode)
        out[i] = tuple(e)
        prev = e
    return "rotation_euler", out


def bake(
    obj, result: RetargetResult, action_name: str, frame_start: int, assign: str = "AUTO"
) -> tuple[bpy.types.Action, str]:
    """Write the retargeted keys into a new action (one slot, one layer, one keyframe strip, one channelbag) in bulk.

    assign: "ACTIVE" makes it the armature's active action, "NLA" adds it as a new NLA track, "AUTO" picks ACTIVE
    when the armature has no action and NLA otherwise, so an existing action and its keys are never replaced;
    "NONE" assigns it nowhere (the caller does: action_versions.begin_review).
    Returns (action, how it was assigned).
    """
    action = bpy.data.actions.new(action_name)
    if hasattr(action, "slots"):
        slot = action.slots.new(id_type="OBJECT", name=obj.name)
        layer = action.layers.new("KinMo")
        strip = layer.strips.new(type="KEYFRAME")
        fcurves = strip.channelbag(slot, ensure=True).fcurves
    else:  # Blender 4.2/4.3 have no slotted actions: the action holds its F-curves itself
        slot = None
        fcurves = action.fcurves
    frames = frame_start + np.arange(result.frames, dtype=np.float64)
    co = np.empty((result.frames, 2), dtype=np.float32)
    co[:, 0] = frames

    def add_curves(data_path: str, values: np.ndarray, group: str) -> None:
        for index in range(values.shape[1]):
            if slot is None:
                fc = fcurves.new(data_path, index=index, action_group=group)
            else:
                fc = fcurves.new(data_path, index=index, group_name=group)
            fc.keyframe_points.add(result.frames)
            co[:, 1] = values[:, index]
            fc.keyframe_points.foreach_set("co", co.ravel())
            fc.update()

    for bone_name, quats in result.rotations.items():
        pb = obj.pose.bones[bone_name]
        path, values = _rotation_channels(pb, quats)
        add_curves(f'pose.bones["{bpy.utils.escape_identifier(bone_name)}"].{path}', values, bone_name)
    if result.root_bone is not None and result.root_locations is not None:
        path = f'pose.bones["{bpy.utils.escape_identifier(result.root_bone)}"].location'
        add_curves(path, result.root_locations, result.root_bone)

    anim = obj.animation_data or obj.animation_data_create()
    how = assign
    if assign == "AUTO":
        how = "ACTIVE" if anim.action is None else "NLA"
    if how == "ACTIVE":
        anim.action = action
        if slot is not None:
            anim.action_slot = slot
    elif how == "NLA":
        track = anim.nla_tracks.new()
        track.name = action.name
        nla_strip = track.strips.new(action.name, int(frame_start), action)
        if slot is not None:
            nla_strip.action_slot = slot
    return action, how


def shift_action(action, offset: float) -> None:
    """Move every key of an action (all layers, strips and channelbags) by `offset` frames."""
    if hasattr(action, "layers"):
        bags = [bag for layer in action.layers for strip in layer.strips for bag in strip.channelbags]
        curves = [fc for bag in bags for fc in bag.fcurves]
    else:  # Blender 4.2/4.3
        curves = list(action.fcurves)
    for fc in curves:
        n = len(fc.keyframe_points)
        for attr in ("co", "handle_left", "handle_right"):
            co = np.empty(2 * n, dtype=np.float64)
            fc.keyframe_points.foreach_get(attr, co)
            co[0::2] += offset
            fc.keyframe_points.foreach_set(attr, co)
        fc.update()
