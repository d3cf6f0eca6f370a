"""Edit Motion: re-prompt a frame range and some body parts of what an armature plays; review the versions.

Operators: kinmo.edit_range (Regenerate), kinmo.accept_version, kinmo.reject_version, kinmo.next_variant,
kinmo.compose_blocks (+ add/remove prompt blocks). Every input is an operator property, so scripts call them
directly; a property left unset takes the panel's value (the scene's `kinmo_edit` settings).

How an edit works (see edit_math): the source is the action's stored KinMo motion, or the rig's mapped joints
sampled at 20 fps (the user's own animation, e.g. imported mocap); the worker canonicalises it (load_motion) and
edits it (edit); only the bones of the body parts that changed get new keys inside the range, in a copy of the
action, so every other curve, and every frame outside the range, keeps the original's values exactly.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, IntProperty, PointerProperty, StringProperty

from . import action_versions as av
from . import bake as bk
from . import edit_math as em
from . import scene_control as sc
from .core import kinematic as K
from .core import quaternions as Q
from .core import skeleton as S
from .operators import (
    KinmoUserError,
    _worker_settings,
    _WorkerTask,
    bone_map_for,
    model_setting,
    place_motion,
    selected_armature,
    submit_request,
    target_armature,
    wait_for,
)
from .retarget.rig import AIM_CHAINS, RigSpec
from .retarget.solve import retarget
from .retarget.source import MotionFileError, SourceMotion, load_motion_npz
from .ui import _SidebarPanel


class KinmoEditSettings(bpy.types.PropertyGroup):
    """The Edit Motion panel's values (the operators' defaults)."""

    use_custom_range: BoolProperty(name="Custom range", default=False,
                                   description="Edit the frames below instead of the preview range or the selected "
                                   "keys' span")  # fmt: skip
    frame_start: IntProperty(name="From", default=1, description="First frame to edit")
    frame_end: IntProperty(name="To", default=48, description="Last frame to edit")
    parts: EnumProperty(name="Parts", items=sc.GROUP_ITEMS, options={"ENUM_FLAG"}, default=set(),
                        description="Body parts to re-prompt (none: the whole body)")  # fmt: skip
    auto_parts: BoolProperty(name="Auto from text", default=False,
                             description="Let the Motion Reasoner pick the parts the prompt changes")
    prompt: StringProperty(name="Prompt", description="What the range should show, e.g. 'raise the left arm'")
    seed: IntProperty(name="Seed", default=0, min=0, description="Same seed, same edit")
    variants: IntProperty(name="Variants", default=1, min=1, max=8, description="Versions to make (Next Variant "
                          "cycles through them)")  # fmt: skip
    path_object: PointerProperty(name="Path", type=bpy.types.Object,
                                 description="Curve or Grease Pencil stroke the pelvis walks along (Generate)")
    fit_to_scene: BoolProperty(name="Fit to scene range", default=False,
                               description="Walk the path in the scene's frame range (else at the prompt's speed)")


# ------------------------------------------------------------------------------------------------ source motion


def default_range(context, action) -> tuple[int, int]:
    """The scene's preview range if set, else the selected keys' span of the action; KinmoUserError if neither."""
    scene = context.scene
    if scene.use_preview_range:
        return scene.frame_preview_start, scene.frame_preview_end
    frames = [k.co[0] for fc in _fcurves(action) for k in fc.keyframe_points if k.select_control_point]
    if frames and max(frames) > min(frames):
        return int(math.floor(min(frames))), int(math.ceil(max(frames)))
    raise KinmoUserError("set the frames to edit: a preview range, selected keys, or frame_start and frame_end")


def _fcurves(action) -> list:
    if action is None:
        return []
    if hasattr(action, "layers"):
        return [fc for layer in action.layers for strip in layer.strips for bag in strip.channelbags
                for fc in bag.fcurves]  # fmt: skip
    return list(action.fcurves)


def _channelbag(action, slot):
    from bpy_extras.anim_utils import action_get_channelbag_for_slot

    return action_get_channelbag_for_slot(action, slot)


def fill_joints(heads: dict[str, np.ndarray], where: str) -> np.ndarray:
    """All 22 joints (T, 22, 3) from the mapped ones: an unmapped joint lies on its chain between the nearest mapped
    ancestor and descendant, at KinMo's bone-length proportions. KinmoUserError for an unmapped end of a chain."""
    t = len(next(iter(heads.values())))
    out = np.empty((t, 22, 3))
    missing = []
    for j, name in enumerate(S.JOINT_NAMES):
        if name in heads:
            out[:, j] = heads[name]
            continue
        below = next((a for a in AIM_CHAINS.get(name, ()) if a in heads), None)
        up, p = [], S.PARENTS[j]
        while p >= 0 and S.JOINT_NAMES[p] not in heads:
            up.append(p)
            p = S.PARENTS[p]
        if below is None or p < 0:
            missing.append(name)
            continue
        chain, c = [], S.JOINT_INDEX[below]
        while c != p:
            chain.append(c)
            c = S.PARENTS[c]
        lengths = {c: S.BONE_LENGTHS[c] for c in chain}
        total = sum(lengths.values()) or 1.0
        upto = sum(v for c, v in lengths.items() if c not in _descendants_on(chain, j)) / total
        out[:, j] = (1 - upto) * heads[S.JOINT_NAMES[p]] + upto * heads[below]
    if missing:
        raise KinmoUserError(f"'{where}' maps no bone to {', '.join(missing)}; map them in the Bone Map panel to "
                             "edit its animation")  # fmt: skip
    return out


def _descendants_on(chain: list[int], j: int) -> set[int]:
    """Chain joints strictly below joint j (the chain lists a descendant first, then its parents)."""
    out = set()
    for c in chain:
        if c == j:
            break
        out.add(c)
    return out


def sample_rig(context, obj, action, slot, bone_map: dict[str, str], frame: sc.SceneFrame,
               scene_frames: list[float]) -> np.ndarray:
    """The rig's 22 joints (T, 22, 3, motion coordinates of `frame`) playing `action` at (fractional) scene frames.

    The assignment and the current frame are put back as they were.
    """
    scene = context.scene
    now, sub = scene.frame_current, scene.frame_subframe
    was_action, was_slot = av.current_assignment(obj)
    heads = {j: np.empty((len(scene_frames), 3)) for j in bone_map}
    try:
        if was_action is not action:
            av.assign(obj, action, slot)
        depsgraph = context.evaluated_depsgraph_get()
        for i, f in enumerate(scene_frames):
            scene.frame_set(int(math.floor(f)), subframe=f - math.floor(f))
            ev = obj.evaluated_get(depsgraph)
            mw = np.array([tuple(r) for r in ev.matrix_world], np.float64)
            for j, b in bone_map.items():
                heads[j][i] = mw[:3, :3] @ np.array(tuple(ev.pose.bones[b].head)) + mw[:3, 3]
    finally:
        if was_action is not action:
            if was_action is None:
                obj.animation_data.action = None
            else:
                av.assign(obj, was_action, was_slot)
        scene.frame_set(now, subframe=sub)
    return fill_joints({j: frame.to_motion(h) for j, h in heads.items()}, obj.name)


# ------------------------------------------------------------------------------------------------ writing keys


def _rotation_path(obj, bag, bone: str) -> tuple[str, str]:
    """(data path kind, rotation mode) the bone's rotation keys use: its existing curves, else its rotation mode."""
    base = f'pose.bones["{bpy.utils.escape_identifier(bone)}"].'
    for kind in ("rotation_quaternion", "rotation_euler", "rotation_axis_angle"):
        if bag is not None and bag.fcurves.find(base + kind, index=0) is not None:
            mode = obj.pose.bones[bone].rotation_mode
            if kind == "rotation_euler" and mode in ("QUATERNION", "AXIS_ANGLE"):
                mode = "XYZ"
            return kind, {"rotation_quaternion": "QUATERNION", "rotation_axis_angle": "AXIS_ANGLE"}.get(kind, mode)
    mode = obj.pose.bones[bone].rotation_mode
    kind = {"QUATERNION": "rotation_quaternion", "AXIS_ANGLE": "rotation_axis_angle"}.get(mode, "rotation_euler")
    return kind, mode


_DEFAULTS = {"rotation_quaternion": (1.0, 0.0, 0.0, 0.0), "rotation_axis_angle": (0.0, 0.0, 1.0, 0.0),
             "rotation_euler": (0.0, 0.0, 0.0), "location": (0.0, 0.0, 0.0)}  # fmt: skip


def _evaluate(bag, path: str, kind: str, frames: np.ndarray) -> np.ndarray:
    """Channel values (F, k) of a property's curves at frames (missing curves: the property's default)."""
    default = _DEFAULTS[kind]
    out = np.empty((len(frames), len(default)))
    for i, d in enumerate(default):
        fc = bag.fcurves.find(path, index=i) if bag is not None else None
        out[:, i] = [fc.evaluate(float(f)) for f in frames] if fc is not None else d
    return out


def _to_quats(values: np.ndarray, kind: str, mode: str) -> np.ndarray:
    from mathutils import Euler, Quaternion

    if kind == "rotation_quaternion":
        return Q.qnormalize(values)
    if kind == "rotation_axis_angle":
        return np.array([tuple(Quaternion(tuple(v[1:]), v[0])) for v in values])
    return np.array([tuple(Euler(tuple(v), mode).to_quaternion()) for v in values])


def _from_quats(quats: np.ndarray, kind: str, mode: str, before: np.ndarray | None) -> np.ndarray:
    from mathutils import Euler, Quaternion

    if kind == "rotation_quaternion":
        return quats
    if kind == "rotation_axis_angle":
        out = []
        for q in quats:
            axis, angle = Quaternion(tuple(q)).to_axis_angle()
            out.append((angle, *tuple(axis)))
        return np.array(out)
    out, prev = [], Euler(tuple(before), mode) if before is not None else None
    for q in quats:
        e = Quaternion(tuple(q)).to_euler(mode, prev) if prev is not None else Quaternion(tuple(q)).to_euler(mode)
        out.append(tuple(e))
        prev = e
    return np.array(out)


def _write(bag, path: str, group: str, frames: np.ndarray, values: np.ndarray) -> None:
    """Replace a property's curves by one key per frame (values (F, k))."""
    co = np.empty((len(frames), 2), np.float32)
    co[:, 0] = frames
    for i in range(values.shape[1]):
        fc = bag.fcurves.find(path, index=i) or bag.fcurves.new(path, index=i, group_name=group)
        fc.keyframe_points.clear()
        fc.keyframe_points.add(len(frames))
        co[:, 1] = values[:, i]
        fc.keyframe_points.foreach_set("co", co.ravel())
        fc.update()


def edited_action(obj, base, slot, spec: RigSpec, bone_map: dict[str, str], window: em.Window, r0, r1,
                  joints: set[int], name: str):
    """A copy of `base` whose mapped bones of `joints` take the edit inside the window's frames.

    Their curves become one key per frame over the action: the original's own values outside the range (so those
    frames evaluate exactly as before), L_orig * R0^-1 * R1 inside. Every other curve is the original's copy.
    """
    new = base.copy()
    new.name = name
    new.use_fake_user = False
    new_slot = next((s for s in new.slots if slot is not None and s.identifier == slot.identifier), None)
    src_bag, bag = _channelbag(base, slot), _channelbag(new, new_slot)
    if bag is None:  # the original has no curves for this slot: make its bag
        new_slot = new_slot or new.slots.new(id_type="OBJECT", name=obj.name)
        layer = new.layers[0] if len(new.layers) else new.layers.new("KinMo")
        strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type="KEYFRAME")
        bag = strip.channelbag(new_slot, ensure=True)
    lo, hi = base.frame_range
    frames = np.arange(int(math.floor(lo)), int(math.ceil(hi)) + 1, dtype=np.float64)
    inside = (frames >= window.first) & (frames <= window.last)
    k = np.round(frames[inside] - window.start).astype(int)
    ok = (k >= 0) & (k < r0.frames) & (k < r1.frames)
    rows = np.nonzero(inside)[0][ok]
    k = k[ok]
    for j in sorted(joints):
        bone = bone_map.get(S.JOINT_NAMES[j])
        if bone is None:
            continue
        base_path = f'pose.bones["{bpy.utils.escape_identifier(bone)}"].'
        kind, mode = _rotation_path(obj, src_bag, bone)
        values = _evaluate(src_bag, base_path + kind, kind, frames)
        quats = _to_quats(values[rows], kind, mode)
        new_q = em.rotation_delta(quats, r0.rotations[bone][k], r1.rotations[bone][k])
        before = values[rows[0] - 1] if len(rows) and rows[0] > 0 else None
        values[rows] = _from_quats(new_q, kind, mode, before)
        _write(bag, base_path + kind, bone, frames, values)
        if bone == r0.root_bone and r0.root_locations is not None:
            loc = _evaluate(src_bag, base_path + "location", "location", frames)
            loc[rows] += r1.root_locations[k] - r0.root_locations[k]
            _write(bag, base_path + "location", bone, frames, loc)
    return new


# ------------------------------------------------------------------------------------------------ the operators


def _armature(context, name: str):
    if name:
        obj = bpy.data.objects.get(name)
        if not bk.is_armature(obj):
            raise KinmoUserError(f"'{name}' is not an armature")
        return obj
    obj = target_armature(context)
    if obj is None:
        raise KinmoUserError("select the armature to edit")
    return obj


def _fps(context) -> float:
    return context.scene.render.fps / context.scene.render.fps_base


class KINMO_OT_edit_range(_WorkerTask, bpy.types.Operator):
    """Re-prompt a frame range of what the armature plays, for some body parts: a new version to Accept or Reject"""

    bl_idname = "kinmo.edit_range"
    bl_label = "Regenerate"
    bl_options = {"REGISTER", "UNDO"}
    busy_text = "editing"

    frame_start: IntProperty(name="From", default=0, description="First frame to edit (unset: the panel's range)")
    frame_end: IntProperty(name="To", default=0, description="Last frame to edit (unset: the panel's range)")
    prompt: StringProperty(name="Prompt", description="What the range should show (unset: the panel's prompt)")
    parts: EnumProperty(name="Parts", items=sc.GROUP_ITEMS, options={"ENUM_FLAG"}, default=set(),
                        description="Body parts to re-prompt (none: the whole body)")  # fmt: skip
    auto_parts: BoolProperty(name="Auto from text", default=False)
    seed: IntProperty(name="Seed", default=0, min=0)
    variants: IntProperty(name="Variants", default=1, min=1, max=8)
    armature: StringProperty(name="Armature", description="Armature to edit (unset: the target or selected one)")

    def _value(self, name: str, panel):
        return getattr(self, name) if self.properties.is_property_set(name) else getattr(panel, name)

    def execute(self, context):
        """Check everything, send the source to the worker, and wait for the edit (modal in the UI)."""
        settings = context.scene.kinmo_edit
        try:
            self._t0 = time.monotonic()
            params = self._prepare(context, settings)
            return self.run_task(context, "edit", params)
        except (KinmoUserError, em.EditRangeError, sc.ControlError) as e:
            return self._fail(context, str(e))

    def _fail(self, context, line: str) -> set:
        context.scene.kinmo.status = f"KinMo: {line}" if not line.startswith("KinMo") else line
        self.report({"ERROR"}, context.scene.kinmo.status)
        return {"CANCELLED"}

    def _prepare(self, context, settings) -> dict:
        obj = _armature(context, self.armature)
        prompt = " ".join(str(self._value("prompt", settings)).split())
        if not prompt:
            raise KinmoUserError("type what the range should show, e.g. 'raise the left arm'")
        spec, bone_map, _ = bone_map_for(obj)
        action, slot = av.base_assignment(obj)
        if action is None:
            raise KinmoUserError(f"'{obj.name}' has no action to edit; generate or import a motion first")
        if not hasattr(action, "slots"):
            raise KinmoUserError("Edit Motion needs Blender 4.4 or later (slotted actions)")
        custom = self.properties.is_property_set("frame_start") or self.properties.is_property_set("frame_end")
        if custom:
            fa, fb = self.frame_start, self.frame_end
        elif settings.use_custom_range:
            fa, fb = settings.frame_start, settings.frame_end
        else:
            fa, fb = default_range(context, action)
        parts = groups = sc.groups_from_flags(self._value("parts", settings))
        auto = self._value("auto_parts", settings)
        fps = _fps(context)
        stored = av.stored_source(action)
        if stored is not None:
            motion, origin, basis = stored
            first, last = origin, origin + (len(motion.joints) - 1) * fps / motion.fps
            start, k0 = em.stored_start(fa, origin, fps)
            window = em.edit_window(fa, fb, first, last, fps, start=start)
            joints = motion.joints[k0:k0 + window.samples]
            if len(joints) < window.samples:  # the extra sample past the end repeats the last frame
                joints = np.concatenate((joints, np.repeat(joints[-1:], window.samples - len(joints), axis=0)))
            self._stored = (k0, motion)
        else:
            lo, hi = action.frame_range
            window = em.edit_window(fa, fb, lo, hi, fps)
            frame = sc.scene_frame(context, obj, bone_map)
            basis = frame.basis
            times = [window.start + i * fps / S.FPS for i in range(window.samples)]
            joints = sample_rig(context, obj, action, slot, bone_map, frame, times)
            self._stored = None
        python, timeout = _worker_settings(context)
        folder = Path(tempfile.mkdtemp(prefix="kinmo-edit-source-"))
        np.save(folder / "source.npy", joints.astype(np.float32), allow_pickle=False)
        reply = wait_for(submit_request(python, "load_motion", {"path": str(folder / "source.npy")}), timeout)
        try:
            canon = load_motion_npz(reply["path"])
        except (KeyError, MotionFileError) as e:
            raise KinmoUserError(f"KinMo worker: the source could not be read back ({e})") from None
        yaw, offset = em.fit_yaw(joints, canon.joints)
        self._plan = dict(obj=obj.name, action=action.name, slot=slot.identifier if slot else "", spec=spec,
                          bone_map=bone_map, window=window, basis=basis, canon=canon, yaw=yaw, offset=offset,
                          groups=groups, prompt=prompt)  # fmt: skip
        params = {"path": reply["path"], "text": prompt, "frames": [window.a, window.b], "seed": int(
            self._value("seed", settings)), "num": int(self._value("variants", settings)), "bvh": False}
        if auto:
            params["parts"] = "auto"
        elif parts:
            params["parts"] = parts
        model = model_setting(context)
        if model:
            params["model"] = model
        return params

    def task_done(self, context, reply: dict) -> set:
        """Turn each edited motion into a new version of the action (only the changed parts' bones get keys)."""
        plan = self._plan
        try:
            obj = bpy.data.objects.get(plan["obj"])
            base = bpy.data.actions.get(plan["action"])
            if not bk.is_armature(obj) or base is None:
                raise KinmoUserError("the armature or its action is gone; nothing was changed")
            slot = next((s for s in base.slots if s.identifier == plan["slot"]), None)
            paths = reply.get("paths") or []
            if not paths:
                raise KinmoUserError("KinMo worker: the edit reply names no motion file")
            edits = [load_motion_npz(p) for p in paths]
        except (KinmoUserError, MotionFileError) as e:
            return self._fail(context, str(e))
        window, spec, bone_map = plan["window"], plan["spec"], plan["bone_map"]
        fps = _fps(context)
        c0 = em.place(plan["canon"], plan["yaw"], plan["offset"])
        r0 = retarget(c0, spec, bone_map, plan["basis"], fps=fps)
        allowed = set(plan["groups"]) if plan["groups"] and reply.get("parts") is None else None
        if reply.get("parts"):
            allowed = set(reply["parts"])
        versions, changed_names = [], set()
        before = set(bpy.data.actions)
        try:
            for k, edit in enumerate(edits):
                moved = em.changed_joints(plan["canon"].joints, edit.joints, window.a, window.b)
                groups = {g for g, js in K.GROUP_JOINTS.items() if moved & set(js)}
                if allowed is not None:
                    groups &= allowed
                joints = {j for g in groups for j in K.GROUP_JOINTS[g]}
                changed_names |= groups
                r1 = retarget(em.place(edit, plan["yaw"], plan["offset"]), spec, bone_map, plan["basis"], fps=fps)
                suffix = f" v{k + 1}" if len(edits) > 1 else ""
                name = f"{base.name[:28]} | {plan['prompt'][:24]}{suffix}"
                new = edited_action(obj, base, slot, spec, bone_map, window, r0, r1, joints, name)
                new["kinmo_edit"] = f"{plan['prompt']} (frames {window.first}-{window.last}, parts " \
                                    f"{', '.join(sorted(groups)) or 'none'})"
                if self._stored is not None:
                    self._update_source(new, edit, window)
                versions.append(new)
            av.begin_review(obj, context.scene, versions, (window.first, window.last), plan["prompt"])
        except Exception:
            for action in set(bpy.data.actions) - before:
                bpy.data.actions.remove(action)
            raise
        took = time.monotonic() - self._t0
        titles = ", ".join(K.GROUP_TITLES[g] for g in K.GROUPS if g in changed_names) or "no part"
        line = (f"KinMo: '{plan['prompt']}' on frames {window.first}-{window.last} of '{obj.name}' ({titles}): "
                f"{len(versions)} version(s) playing, Accept or Reject ({took:.1f} s)")  # fmt: skip
        context.scene.kinmo.status = line
        self.report({"INFO"}, line)
        return {"FINISHED"}

    def _update_source(self, action, edit: SourceMotion, window: em.Window) -> None:
        """Keep the edited frames in the new version's stored motion, so a later edit starts from them."""
        k0, motion = self._stored
        placed = em.place(edit, self._plan["yaw"], self._plan["offset"])
        joints, rotations = motion.joints.copy(), motion.rotations.copy()
        lo, hi = k0 + window.a, min(k0 + window.b, len(joints))
        joints[lo:hi] = placed.joints[window.a:window.a + hi - lo]
        rotations[lo:hi] = placed.rotations[window.a:window.a + hi - lo]
        stored = av.stored_source(action)
        av.store_source(action, SourceMotion(joints, rotations, motion.offsets, motion.fps, motion.text),
                        stored[1], stored[2])  # fmt: skip


class _ReviewOperator(bpy.types.Operator):
    bl_options = {"REGISTER", "UNDO"}

    armature: StringProperty(name="Armature", description="Armature under review (unset: the target or selected)")

    def execute(self, context):
        """Run the review step and report it."""
        try:
            obj = _armature(context, self.armature)
            line = self.step(context, obj)
        except (KinmoUserError, av.VersionError) as e:
            context.scene.kinmo.status = f"KinMo: {e}"
            self.report({"ERROR"}, context.scene.kinmo.status)
            return {"CANCELLED"}
        context.scene.kinmo.status = line
        self.report({"INFO"}, line)
        return {"FINISHED"}


class KINMO_OT_accept_version(_ReviewOperator):
    """Keep the version that plays (the original action stays in the file, unchanged)"""

    bl_idname = "kinmo.accept_version"
    bl_label = "Accept"

    def step(self, context, obj) -> str:
        """Accept."""
        return f"KinMo: kept '{av.accept(obj, context.scene)}' on '{obj.name}'"


class KINMO_OT_reject_version(_ReviewOperator):
    """Drop the new versions and play the original action again, exactly as it was assigned"""

    bl_idname = "kinmo.reject_version"
    bl_label = "Reject"

    def step(self, context, obj) -> str:
        """Reject."""
        name = av.reject(obj, context.scene)
        return f"KinMo: back to '{name}' on '{obj.name}'" if name else f"KinMo: '{obj.name}' has no action again"


class KINMO_OT_next_variant(_ReviewOperator):
    """Play the next version of the last request"""

    bl_idname = "kinmo.next_variant"
    bl_label = "Next Variant"

    def step(self, context, obj) -> str:
        """Cycle."""
        state = av.review_state(obj)
        name = av.next_variant(obj)
        return f"KinMo: playing '{name}' ({state['current'] + 2 if state else 1} of {len(state['versions'])})" \
            if state else f"KinMo: playing '{name}'"


class KINMO_OT_add_prompt_block(bpy.types.Operator):
    """Add a prompt block after the last one"""

    bl_idname = "kinmo.add_prompt_block"
    bl_label = "Add Block"
    bl_options = {"REGISTER", "UNDO"}

    text: StringProperty(name="Prompt")
    frame_start: IntProperty(name="Start", default=-1)
    frame_end: IntProperty(name="End", default=-1)
    parts: EnumProperty(name="Parts", items=sc.GROUP_ITEMS, options={"ENUM_FLAG"}, default=set())

    def execute(self, context):
        """Append a block (default span: 3 s after the last whole-body block)."""
        scene = context.scene
        blocks = scene.kinmo_blocks
        last = max((b.frame_end for b in blocks if not b.parts), default=scene.frame_start)
        block = blocks.add()
        block.text = self.text
        block.frame_start = self.frame_start if self.frame_start >= 0 else last
        block.frame_end = self.frame_end if self.frame_end >= 0 else block.frame_start + round(3 * _fps(context))
        block.parts = set(self.parts)
        scene.kinmo_blocks_index = len(blocks) - 1
        return {"FINISHED"}


class KINMO_OT_remove_prompt_block(bpy.types.Operator):
    """Remove the selected prompt block"""

    bl_idname = "kinmo.remove_prompt_block"
    bl_label = "Remove Block"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        """Remove it."""
        scene = context.scene
        if 0 <= scene.kinmo_blocks_index < len(scene.kinmo_blocks):
            scene.kinmo_blocks.remove(scene.kinmo_blocks_index)
            scene.kinmo_blocks_index = max(scene.kinmo_blocks_index - 1, 0)
        return {"FINISHED"}


class KINMO_OT_compose_blocks(_WorkerTask, bpy.types.Operator):
    """Compose the prompt blocks into one motion (longer than 10 s if you like) through the worker, as a new version"""

    bl_idname = "kinmo.compose_blocks"
    bl_label = "Compose Blocks"
    bl_options = {"REGISTER", "UNDO"}
    busy_text = "composing"

    seed: IntProperty(name="Seed", default=0, min=0)
    armature: StringProperty(name="Armature", description="Armature to bake onto (unset: the target or selected "
                             "one, else a new SMPL-22 armature)")  # fmt: skip

    def execute(self, context):
        """Check the blocks and the rig, then ask the worker."""
        try:
            obj = _armature(context, self.armature) if self.armature else target_armature(context)
            if obj is not None:
                bone_map_for(obj)
            timeline = sc.blocks_timeline(context.scene.kinmo_blocks, context.scene.frame_start, _fps(context))
            self._target = obj.name if obj is not None else ""
            params = {"timeline": timeline, "seed": int(self.seed), "bvh": False}
            model = model_setting(context)
            if model:
                params["model"] = model
            return self.run_task(context, "compose", params)
        except (KinmoUserError, sc.ControlError) as e:
            context.scene.kinmo.status = f"KinMo: {e}"
            self.report({"ERROR"}, context.scene.kinmo.status)
            return {"CANCELLED"}

    def task_done(self, context, reply: dict) -> set:
        """Bake the composed motion as a new version."""
        try:
            obj = bpy.data.objects.get(self._target) if self._target else None
            if self._target and not bk.is_armature(obj):
                raise KinmoUserError(f"the armature '{self._target}' is gone; nothing was changed")
            motion = load_motion_npz(reply["path"])
            label = " + ".join(b.text for b in context.scene.kinmo_blocks if not b.parts)[:50]
            _, _, line = place_motion(context, motion, label, obj)
        except (KinmoUserError, MotionFileError, KeyError) as e:
            context.scene.kinmo.status = f"KinMo: {e}"
            self.report({"ERROR"}, context.scene.kinmo.status)
            return {"CANCELLED"}
        self.report({"INFO"}, line)
        return {"FINISHED"}


# ------------------------------------------------------------------------------------------------ the panels


class KINMO_PT_edit(_SidebarPanel, bpy.types.Panel):
    """Edit Motion: range, parts, prompt, seed, variants; Regenerate; Accept, Reject, Next Variant."""

    bl_idname = "KINMO_PT_edit"
    bl_label = "Edit Motion"

    def draw(self, context):
        """Draw the edit settings and the review buttons."""
        s = context.scene.kinmo_edit
        col = self.layout.column()
        obj = target_armature(context) or selected_armature(context)
        col.prop(s, "use_custom_range")
        row = col.row(align=True)
        if s.use_custom_range:
            row.prop(s, "frame_start")
            row.prop(s, "frame_end")
        elif context.scene.use_preview_range:
            row.label(text=f"Preview range {context.scene.frame_preview_start}-{context.scene.frame_preview_end}")
        else:
            row.label(text="Selected keys' span (or set a preview range)")
        grid = col.grid_flow(columns=2, align=True)
        grid.enabled = not s.auto_parts
        grid.prop(s, "parts")
        col.prop(s, "auto_parts")
        col.prop(s, "prompt")
        row = col.row(align=True)
        row.prop(s, "seed")
        row.prop(s, "variants")
        big = col.row()
        big.scale_y = 1.4
        big.operator("kinmo.edit_range", icon="FILE_REFRESH")
        state = av.review_state(obj) if obj is not None else None
        if state is not None:
            box = col.box()
            box.label(text=f"Reviewing {state['current'] + 1} of {len(state['versions'])}: {state.get('label', '')}")
            row = box.row(align=True)
            row.operator("kinmo.accept_version", icon="CHECKMARK")
            row.operator("kinmo.reject_version", icon="X")
            if len(state["versions"]) > 1:
                row.operator("kinmo.next_variant", icon="FORWARD")
        if context.scene.kinmo.status:
            col.label(text=context.scene.kinmo.status)


class KINMO_PT_scene_control(_SidebarPanel, bpy.types.Panel):
    """Path and target empties used by Generate; the active empty's body part."""

    bl_idname = "KINMO_PT_scene_control"
    bl_label = "Path & Targets"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        """Draw the path field, the fit toggle and the active empty's part."""
        s = context.scene.kinmo_edit
        col = self.layout.column()
        col.prop(s, "path_object")
        col.prop(s, "fit_to_scene")
        col.prop(context.scene, "kinmo_use_targets")
        obj = context.active_object
        if obj is not None and obj.type == "EMPTY":
            box = col.box()
            box.prop(obj, "kinmo_part")
            if not (obj.animation_data and obj.animation_data.action):
                row = box.row(align=True)
                row.prop(obj, "kinmo_span_start")
                row.prop(obj, "kinmo_span_end")
            else:
                box.label(text="Keyframed: a timed trajectory over its keys")


class KINMO_UL_prompt_blocks(bpy.types.UIList):
    """Prompt blocks: text, span, parts."""

    bl_idname = "KINMO_UL_prompt_blocks"

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        """Draw one block."""
        row = layout.row(align=True)
        row.prop(item, "text", text="")
        row.prop(item, "frame_start", text="")
        row.prop(item, "frame_end", text="")


class KINMO_PT_prompt_blocks(_SidebarPanel, bpy.types.Panel):
    """Prompt blocks composed into one motion."""

    bl_idname = "KINMO_PT_prompt_blocks"
    bl_label = "Prompt Blocks"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        """Draw the block list and Compose."""
        scene = context.scene
        col = self.layout.column()
        row = col.row()
        row.template_list("KINMO_UL_prompt_blocks", "", scene, "kinmo_blocks", scene, "kinmo_blocks_index", rows=4)
        side = row.column(align=True)
        side.operator("kinmo.add_prompt_block", icon="ADD", text="")
        side.operator("kinmo.remove_prompt_block", icon="REMOVE", text="")
        if 0 <= scene.kinmo_blocks_index < len(scene.kinmo_blocks):
            col.prop(scene.kinmo_blocks[scene.kinmo_blocks_index], "parts")
        col.operator("kinmo.compose_blocks", icon="SEQUENCE")


CLASSES = (
    KinmoEditSettings,
    KINMO_OT_edit_range,
    KINMO_OT_accept_version,
    KINMO_OT_reject_version,
    KINMO_OT_next_variant,
    KINMO_OT_add_prompt_block,
    KINMO_OT_remove_prompt_block,
    KINMO_OT_compose_blocks,
    KINMO_PT_edit,
    KINMO_PT_scene_control,
    KINMO_UL_prompt_blocks,
    KINMO_PT_prompt_blocks,
)


def register() -> None:
    """Register the edit settings, operators and panels."""
    sc.register()
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.kinmo_edit = PointerProperty(type=KinmoEditSettings)


def unregister() -> None:
    """Remove what `register` added."""
    del bpy.types.Scene.kinmo_edit
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
    sc.unregister()
