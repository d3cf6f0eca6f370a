"""Scene objects as KinMo control: a Curve or Grease Pencil stroke as the pelvis's ground path, empties as pins and
trajectories, prompt blocks as a compose timeline.

Coordinates. KinMo's control files are in motion coordinates (metres, Y up, +Z forward, 20 fps). `SceneFrame`
ties them to the scene: a motion placed by the add-on stands with its pelvis over `origin` (the rig's pelvis at rest,
on the floor under it), faces the rig's front, and one motion metre is `scale` Blender units (the rig's leg length
over KinMo's; a new SMPL-22 armature is built in metres, so 1). Scene units are thereby respected: a rig modelled in
centimetres walks a 300-unit curve as 3 m. Frames are counted from the scene's start frame at 20 fps.
Everything here checks its input first and raises ControlError (one line) without changing the scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import bpy
import numpy as np
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, IntProperty, StringProperty

from . import bake as bk
from . import edit_math as em
from .core import kinematic as K
from .core import skeleton as S
from .retarget.bone_map import auto_bone_map, validate_bone_map
from .retarget.solve import facing_basis
from .retarget.source import KINMO_TO_BLENDER
from .worker_requests import KinmoUserError

PART_ITEMS = [
    ("NONE", "None", "Not a KinMo target"),
    ("PELVIS", "Pelvis", "The pelvis (hips) follows this empty"),
    ("HEAD", "Head", "The head follows this empty"),
    ("LEFT_HAND", "Left hand", "The left wrist follows this empty"),
    ("RIGHT_HAND", "Right hand", "The right wrist follows this empty"),
    ("LEFT_FOOT", "Left foot", "The left ankle follows this empty"),
    ("RIGHT_FOOT", "Right foot", "The right ankle follows this empty"),
]
PART_JOINTS: dict[str, str] = {
    "PELVIS": "pelvis", "HEAD": "head", "LEFT_HAND": "left_wrist", "RIGHT_HAND": "right_wrist",
    "LEFT_FOOT": "left_ankle", "RIGHT_FOOT": "right_ankle",
}  # fmt: skip
"""The SMPL-22 joint each body-part choice of an empty controls."""
GROUP_ITEMS = [(g.upper(), K.GROUP_TITLES[g], f"The {K.GROUP_TITLES[g].lower()}") for g in K.GROUPS]
"""The six body-part groups as enum-flag items (LEFT_ARM, ...), shared by prompt blocks and the Edit panel."""
MIN_PATH_LENGTH_M = 0.05
"""A path shorter than this (motion metres) is taken as zero length."""


class ControlError(KinmoUserError):
    """Scene control that cannot be used; the message is one line for the UI."""


def groups_from_flags(flags) -> list[str]:
    """Enum-flag items ({'LEFT_ARM', ...}) as group keys in KinMo's order."""
    return [g for g in K.GROUPS if g.upper() in set(flags)]


# ------------------------------------------------------------------------------------------------ the scene frame


@dataclass
class SceneFrame:
    """Where placed motions stand: motion coordinates p <-> world = origin + scale * axes @ p."""

    origin: np.ndarray
    axes: np.ndarray
    """3x3, KinMo axes to world axes (orthonormal)."""
    scale: float
    """Blender units per motion metre."""
    basis: np.ndarray
    """3x3, KinMo axes to the armature's (what the retargeter takes); None-rig frames use the default armature's."""
    frame_start: int
    fps: float
    pinned: dict = field(default_factory=dict)
    """Wrists and ankles that targets hold: joint -> 20 fps frames (baking makes the rig reach them)."""

    def to_motion(self, world: np.ndarray) -> np.ndarray:
        """World points (..., 3) in motion coordinates."""
        return (np.asarray(world, np.float64) - self.origin) @ self.axes / self.scale

    def to_world(self, p: np.ndarray) -> np.ndarray:
        """Motion coordinates (..., 3) in world space."""
        return self.origin + self.scale * np.asarray(p, np.float64) @ self.axes.T

    def frame20(self, scene_frame: float, way: str = "nearest") -> int:
        """A scene frame as a 20 fps frame of the motion (which starts at the scene's start frame); way: "nearest",
        "down" or "up" (a span's ends round outwards, so every scene frame of it lies between pinned samples)."""
        t = (scene_frame - self.frame_start) * S.FPS / self.fps
        return int({"nearest": round, "down": math.floor, "up": math.ceil}[way](t - 1e-9 if way == "up" else t))


def scene_frame(context, obj, bone_map: dict[str, str] | None = None) -> SceneFrame:
    """The frame motions placed on armature `obj` use (None: a new SMPL-22 armature at the 3D cursor)."""
    scene = context.scene
    fps = scene.render.fps / scene.render.fps_base
    if obj is None:  # a new SMPL-22 armature at the cursor, human-sized in the scene's units
        basis = KINMO_TO_BLENDER.copy()
        origin = np.array(tuple(scene.cursor.location), np.float64)
        unit = scene.unit_settings.scale_length if scene.unit_settings.scale_length > 0 else 1.0
        return SceneFrame(origin, basis, 1.0 / unit, basis, scene.frame_start, fps)
    spec = bk.rig_spec(obj)
    if bone_map is None:
        bone_map = validate_bone_map(spec, bk.stored_bone_map(obj)) or auto_bone_map(spec)[0]
    if "pelvis" not in bone_map:
        raise ControlError(f"'{obj.name}' maps no bone to the pelvis; map it in the Bone Map panel to place motions")
    try:
        leg = em.leg_scale(spec, bone_map)
    except ValueError as e:
        raise ControlError(f"'{obj.name}': {e}") from None
    mw = np.array([tuple(r) for r in obj.matrix_world], np.float64)
    rot = bk.object_rotation(obj)
    obj_scale = float(np.cbrt(abs(np.linalg.det(mw[:3, :3]))))
    basis = facing_basis(spec, bone_map, rot)
    heads = (mw[:3, :3] @ spec.rest_heads.T).T + mw[:3, 3]
    pelvis = heads[spec.index[bone_map["pelvis"]]]
    feet = [heads[spec.index[bone_map[j]]][2] for j in ("left_ankle", "right_ankle", "left_foot", "right_foot")
            if j in bone_map]  # fmt: skip
    origin = np.array([pelvis[0], pelvis[1], min(feet) if feet else pelvis[2]])
    return SceneFrame(origin, rot @ basis, obj_scale * leg, basis, scene.frame_start, fps)


# ------------------------------------------------------------------------------------------------ paths


def stroke_points(obj, context) -> np.ndarray:
    """World-space points (N, 3) along a Curve object (evaluated: Bezier, NURBS, poly, modifiers) or the first
    stroke of a Grease Pencil object's active layer at the current frame; closed shapes repeat their first point."""
    if obj is None:
        raise ControlError("choose a Curve or Grease Pencil object as the path")
    mw = np.array([tuple(r) for r in obj.matrix_world], np.float64)
    if obj.type == "CURVE":
        if not len(obj.data.splines):
            raise ControlError(f"the curve '{obj.name}' has no spline")
        if len(obj.data.splines) > 1:
            raise ControlError(f"the curve '{obj.name}' has {len(obj.data.splines)} splines; a path is one spline")
        ev = obj.evaluated_get(context.evaluated_depsgraph_get())
        mesh = ev.to_mesh()
        try:
            local = np.array([tuple(v.co) for v in mesh.vertices], np.float64).reshape(-1, 3)
        finally:
            ev.to_mesh_clear()
        cyclic = bool(obj.data.splines[0].use_cyclic_u)
    elif obj.type == "GREASEPENCIL":
        layer = obj.data.layers.active or (obj.data.layers[0] if len(obj.data.layers) else None)
        frame = layer.current_frame() if layer is not None else None
        if frame is None or frame.drawing is None or not len(frame.drawing.strokes):
            raise ControlError(f"the Grease Pencil object '{obj.name}' has no stroke on this frame")
        stroke = frame.drawing.strokes[0]
        local = np.array([tuple(p.position) for p in stroke.points], np.float64).reshape(-1, 3)
        cyclic = bool(stroke.cyclic)
    else:
        raise ControlError(f"'{obj.name}' is a {obj.type.lower()}, not a Curve or Grease Pencil object")
    world = local @ mw[:3, :3].T + mw[:3, 3]
    if cyclic and len(world) > 2:
        world = np.concatenate((world, world[:1]))
    return world


def ground_path(world: np.ndarray, frame: SceneFrame, name: str = "path") -> np.ndarray:
    """A world polyline as ground points (P, 2) = (x, z) in motion coordinates; repeated points dropped."""
    world = np.asarray(world, np.float64).reshape(-1, 3)
    if len(world) < 2 or np.ptp(world, axis=0).max() < 1e-9:
        raise ControlError(f"the path '{name}' has a single point; draw at least two")
    p = frame.to_motion(world)[:, [0, 2]]
    length = float(np.linalg.norm(np.diff(p, axis=0), axis=-1).sum())
    if length < MIN_PATH_LENGTH_M:
        raise ControlError(f"the path '{name}' has zero length on the ground ({length * 100:.1f} cm)")
    keep = np.ones(len(p), bool)
    keep[1:] = np.linalg.norm(np.diff(p, axis=0), axis=-1) > 1e-6
    return p[keep]


def path_constraint(obj, context, frame: SceneFrame, seconds: float | None = None) -> dict:
    """The control file's "path" constraint for a Curve or Grease Pencil object (seconds: fit the walk to them)."""
    points = ground_path(stroke_points(obj, context), frame, obj.name if obj is not None else "path")
    c: dict = {"kind": "path", "joint": "pelvis", "points": points.round(5).tolist()}
    if seconds is not None:
        c["seconds"] = float(seconds)
    return c


# ------------------------------------------------------------------------------------------------ empties


def _animated(obj) -> bool:
    anim = obj.animation_data
    return anim is not None and anim.action is not None


def _key_span(obj) -> tuple[float, float]:
    lo, hi = obj.animation_data.action.frame_range
    return float(lo), float(hi)


def empty_constraints(context, frame: SceneFrame, empties=None, frames: int | None = None) -> list[dict]:
    """Pins (a still empty over its span) and trajectories (a keyframed empty over its keys) of the scene's empties
    assigned to a body part; `empties` (objects) limits them and each must have a part."""
    scene = context.scene
    context.view_layer.update()  # world matrices of objects moved by scripts
    if empties is None:
        empties = [o for o in scene.objects if o.type == "EMPTY" and o.kinmo_part != "NONE"]
    out: list[dict] = []
    for obj in empties:
        if obj.type != "EMPTY":
            raise ControlError(f"'{obj.name}' is not an empty")
        if obj.kinmo_part == "NONE":
            raise ControlError(f"the empty '{obj.name}' is assigned to no body part; pick one in its KinMo panel")
        joint = PART_JOINTS[obj.kinmo_part]
        if _animated(obj):
            lo, hi = _key_span(obj)
            f0, f1 = max(frame.frame20(lo), 0), frame.frame20(hi)
            if frames is not None:
                f1 = min(f1, frames - 1)
            if f1 < f0:
                raise ControlError(f"the keys of '{obj.name}' lie outside the generated frames")
            times = [frame.frame_start + f * frame.fps / S.FPS for f in range(f0, f1 + 1)]
            positions = _sample_world(context, obj, times)
            out.append({"kind": "trajectory", "joint": joint, "frames": list(range(f0, f1 + 1)),
                        "positions": frame.to_motion(positions).round(5).tolist()})  # fmt: skip
        else:
            start, end = frame.frame20(obj.kinmo_span_start, "down"), frame.frame20(obj.kinmo_span_end, "up")
            if end < start or start < 0:
                raise ControlError(f"the span of '{obj.name}' ({obj.kinmo_span_start}-{obj.kinmo_span_end}) is "
                                   f"empty or before the scene's start frame {scene.frame_start}")  # fmt: skip
            if frames is not None and end >= frames:
                raise ControlError(f"the span of '{obj.name}' ends after the generated motion "
                                   f"({frames / S.FPS:g} s from frame {scene.frame_start})")  # fmt: skip
            world = np.array(tuple(obj.matrix_world.translation), np.float64)
            out.append({"kind": "pin", "joint": joint, "start": start, "end": end,
                        "position": frame.to_motion(world).round(5).tolist()})  # fmt: skip
    return out


def _sample_world(context, obj, scene_frames: list[float]) -> np.ndarray:
    """World positions of an object at (fractional) scene frames; the current frame is restored."""
    scene = context.scene
    now, sub = scene.frame_current, scene.frame_subframe
    out = np.empty((len(scene_frames), 3))
    try:
        for i, f in enumerate(scene_frames):
            scene.frame_set(int(math.floor(f)), subframe=f - math.floor(f))
            out[i] = tuple(obj.matrix_world.translation)
    finally:
        scene.frame_set(now, subframe=sub)
    return out


# ------------------------------------------------------------------------------------------------ prompt blocks


class KinmoPromptBlock(bpy.types.PropertyGroup):
    """One block of a composed motion: a prompt over a span of scene frames, for the whole body or some parts."""

    text: StringProperty(name="Prompt", description="What happens in this block")
    frame_start: IntProperty(name="Start", description="First frame of the block", default=1)
    frame_end: IntProperty(name="End", description="Last frame of the block", default=80)
    parts: EnumProperty(name="Parts", items=GROUP_ITEMS, options={"ENUM_FLAG"}, default=set(),
                        description="Body parts this block drives over the others (none: the whole body)")


def blocks_timeline(blocks, frame_start: int, fps: float) -> dict:
    """Prompt blocks as the worker's compose timeline (seconds from `frame_start`); ControlError for bad blocks.

    Whole-body blocks become segments, which must not overlap; part blocks become tracks over them.
    """
    rows = [(" ".join(b.text.split()), int(b.frame_start), int(b.frame_end), groups_from_flags(b.parts))
            for b in blocks]  # fmt: skip
    if not rows:
        raise ControlError("add a prompt block first")
    for i, (text, a, b, _) in enumerate(rows, 1):
        if not text:
            raise ControlError(f"prompt block {i} has no prompt")
        if b <= a:
            raise ControlError(f"prompt block {i} ('{text}') ends at frame {b}, not after its start {a}")
        if a < frame_start:
            raise ControlError(f"prompt block {i} ('{text}') starts before the scene's start frame {frame_start}")
    segments = sorted((r for r in rows if not r[3]), key=lambda r: r[1])
    if not segments:
        raise ControlError("add a whole-body prompt block (no parts) for the tracks to play over")
    for prev, nxt in zip(segments, segments[1:], strict=False):
        if nxt[1] < prev[2]:
            raise ControlError(f"prompt blocks '{prev[0]}' ({prev[1]}-{prev[2]}) and '{nxt[0]}' ({nxt[1]}-{nxt[2]}) "
                               "overlap; whole-body blocks follow one another")  # fmt: skip
    tracks = [r for r in rows if r[3]]
    for i, t in enumerate(tracks):
        for u in tracks[i + 1:]:
            shared = set(t[3]) & set(u[3])
            if shared and u[1] < t[2] and t[1] < u[2]:
                raise ControlError(f"prompt blocks '{t[0]}' and '{u[0]}' overlap on the "
                                   f"{K.GROUP_TITLES[sorted(shared)[0]].lower()}")  # fmt: skip

    def sec(f: int) -> float:
        return round((f - frame_start) / fps, 4)

    return {"segments": [{"text": t, "start": sec(a), "end": sec(b)} for t, a, b, _ in segments],
            "tracks": [{"text": t, "parts": p, "start": sec(a), "end": sec(b)} for t, a, b, p in tracks]}  # fmt: skip


def register() -> None:
    """Register prompt blocks and the empties' body-part properties."""
    bpy.utils.register_class(KinmoPromptBlock)
    bpy.types.Scene.kinmo_blocks = CollectionProperty(type=KinmoPromptBlock)
    bpy.types.Scene.kinmo_blocks_index = IntProperty(default=0)
    bpy.types.Object.kinmo_part = EnumProperty(name="KinMo part", items=PART_ITEMS, default="NONE",
                                               description="Body part this empty pins or guides")  # fmt: skip
    bpy.types.Object.kinmo_span_start = IntProperty(name="From", default=1,
                                                    description="First frame the part is pinned to this empty")
    bpy.types.Object.kinmo_span_end = IntProperty(name="To", default=40,
                                                  description="Last frame the part is pinned to this empty")
    bpy.types.Scene.kinmo_use_targets = BoolProperty(name="Use target empties", default=True,
                                                     description="Generate pins parts to the empties assigned to them")


def unregister() -> None:
    """Remove what `register` added."""
    for attr in ("kinmo_use_targets", "kinmo_blocks_index", "kinmo_blocks"):
        delattr(bpy.types.Scene, attr)
    for attr in ("kinmo_span_end", "kinmo_span_start", "kinmo_part"):
        delattr(bpy.types.Object, attr)
    bpy.utils.unregister_class(KinmoPromptBlock)


def add_control(context, obj, params: dict, op, value) -> SceneFrame | None:
    """Add the path and target empties of a Generate call to its worker params; return the frame they are in.

    op: the operator (its path_object, fit_to_scene, use_targets, targets); value(name, default) reads a property or
    the panel's default. None when nothing controls the motion.
    """
    scene = context.scene
    path_name = value("path_object", None)
    path_obj = scene.kinmo_edit.path_object if path_name is None else (bpy.data.objects.get(path_name)
                                                                        if path_name else None)
    if path_name and path_obj is None:
        raise ControlError(f"no object named '{path_name}' for the path")
    use_targets = value("use_targets", scene.kinmo_use_targets)
    names = value("targets", "")
    empties = None
    if names:
        empties = []
        for name in (n.strip() for n in names.split(",") if n.strip()):
            if bpy.data.objects.get(name) is None:
                raise ControlError(f"no object named '{name}' among the targets")
            empties.append(bpy.data.objects[name])
    elif not use_targets:
        empties = []
    frame = scene_frame(context, obj)
    fit = value("fit_to_scene", scene.kinmo_edit.fit_to_scene)
    constraints: list[dict] = []
    if path_obj is not None:
        seconds = None
        if fit:
            seconds = min(max((scene.frame_end - scene.frame_start) / frame.fps, 1.0), 10.0)
            params["seconds"] = seconds
        constraints.append(path_constraint(path_obj, context, frame, seconds))
        if not fit:
            params.pop("seconds", None)  # the path's length at the prompt's speed sets it
    frames = None if "seconds" not in params else int(round(params["seconds"] * S.FPS))
    constraints += empty_constraints(context, frame, empties, frames)
    if not constraints:
        return None
    params["constraints"] = constraints
    for c in constraints:
        if c["kind"] == "pin":
            frame.pinned.setdefault(c["joint"], set()).update(range(c["start"], c["end"] + 1))
        elif c["kind"] in ("trajectory", "targets"):
            frame.pinned.setdefault(c["joint"], set()).update(c["frames"])
    return frame
