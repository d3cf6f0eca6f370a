"""Operators under `kinmo.*`: thin wrappers that check input, call the worker, retarget and bake, and report errors.

Every failure is reported as one line (self.report ERROR) and returns CANCELLED with the scene as it was: nothing
is changed before all input has been checked, and anything made before a late failure is removed again.
Worker requests (generate, expand, converting a .bvh/.npy) run as modal operators with a timer in the UI (progress
bar, status line, Esc cancels, Blender stays responsive) and synchronously in background mode, where timers never fire.
"""

import dataclasses
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import bpy
import numpy as np
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty

from . import action_versions as av
from . import backend, rig_checks
from . import bake as bk
from . import edit_math as em
from .props import LEVELS, clear_descriptions, edited_descriptions, preferences, store_descriptions
from .retarget.bone_map import auto_bone_map, preset_map, validate_bone_map
from .retarget.rig import RigSpec
from .retarget.solve import facing_basis, retarget
from .retarget.source import MotionFileError, SourceMotion, load_motion_npz
from .worker_requests import (
    KinmoUserError,
    conversion_result,
    expand_request,
    generate_request,
    generated_motion,
    needs_worker,
)


def _worker_settings(context) -> tuple[str, float]:
    prefs = preferences(context)
    return (prefs.python_path if prefs else ""), (prefs.request_timeout if prefs else 600.0)


def model_setting(context) -> str:
    """The pipeline folder to generate with: the scene's, else the preferences', else "" (the packaged default)."""
    prefs = preferences(context)
    folder = context.scene.kinmo.model_folder.strip() or (prefs.model_path.strip() if prefs else "")
    return bpy.path.abspath(folder) if folder else ""


def submit_request(python: str, method: str, params: dict) -> backend.Job:
    """Send a request to the shared worker for this Python; return its job at once (KinmoUserError if it can't)."""
    try:
        return backend.get_client(python).submit(method, params)
    except backend.WorkerError as e:
        raise KinmoUserError(f"KinMo worker: {e}") from None


def wait_for(job: backend.Job, timeout: float, on_wait: Callable[[backend.Job], None] | None = None) -> dict:
    """Block until a job's reply (background mode, scripts); cancel it, or stop a stuck worker, after `timeout` s.

    on_wait(job) is called about four times a second while waiting (to show progress).
    """
    deadline = time.monotonic() + timeout
    while not job.wait(min(0.25, max(deadline - time.monotonic(), 0.0))) and time.monotonic() < deadline:
        if on_wait is not None:
            on_wait(job)
    if not job.done.is_set():
        client = backend.current_client()
        if client is not None:
            client.cancel(job.id)
            if not job.wait(2.0):
                client.stop()  # stuck: the next request starts a fresh worker
        raise KinmoUserError(f"KinMo worker: no answer within {timeout:g} s (cancelled)")
    try:
        return job.get()
    except backend.WorkerError as e:
        raise KinmoUserError(f"KinMo worker: {e}") from None


def submit_conversion(context, path: str) -> backend.Job:
    """Ask the worker to convert a .bvh/.npy file to a KinMo .npz; return the job at once."""
    if not Path(path).is_file():
        raise KinmoUserError(f"motion file not found: {path}")
    python, _ = _worker_settings(context)
    return submit_request(python, "load_motion", {"path": path})


def read_motion(context, path: str) -> tuple[SourceMotion, str]:
    """Read a motion file: .npz with numpy here; .bvh and .npy converted by the worker. Returns (motion, npz path)."""
    if not path:
        raise KinmoUserError("choose a motion file (.npz, .bvh or .npy)")
    path = bpy.path.abspath(path)
    ext = Path(path).suffix.lower()
    if ext == ".npz":
        try:
            return load_motion_npz(path), path
        except MotionFileError as e:
            raise KinmoUserError(str(e)) from None
    if needs_worker(path):
        job = submit_conversion(context, path)
        _, timeout = _worker_settings(context)
        return conversion_result(wait_for(job, timeout))
    raise KinmoUserError(f"unsupported motion file type {ext or '(none)'}: use .npz, .bvh or .npy")


def selected_armature(context):
    """The active object if it is an armature, else the only selected armature, else None."""
    active = context.active_object
    if bk.is_armature(active) and (active.select_get() or not context.selected_objects):
        return active
    arms = [o for o in context.selected_objects if bk.is_armature(o)]
    return arms[0] if len(arms) == 1 else None


def target_armature(context):
    """The armature motions go to: the panel's Target, else the selected armature, else None (build one)."""
    return context.scene.kinmo.target_armature or selected_armature(context)


def bone_map_for(obj, driven: dict[str, str] | None = None) -> tuple[RigSpec, dict[str, str], str]:
    """The armature's rig spec and joint -> bone map (saved, else detected) and where it came from; no change made.

    Detection prefers bones keys can move (not in `driven`, e.g. a generated Rigify rig's controls over its DEF
    bones). Raises KinmoUserError when the armature is in Edit Mode or no bone maps to a SMPL-22 joint.
    """
    if obj.mode == "EDIT":
        raise KinmoUserError(f"leave Edit Mode on '{obj.name}' first (its bones are being edited)")
    spec = bk.rig_spec(obj)
    bone_map = validate_bone_map(spec, bk.stored_bone_map(obj))
    found = "saved"
    if not bone_map:
        if driven is None:
            driven = rig_checks.driven_bones(obj, spec.names)
        bone_map, found = auto_bone_map(spec, frozenset(driven))
    if not bone_map:
        raise KinmoUserError(
            f"no bone of '{obj.name}' maps to a SMPL-22 joint; pick a preset or fill its bone map in the KinMo tab"
        )
    return spec, bone_map, found


def add_warnings(action, warnings: list[str]) -> None:
    """Keep report warnings on the action (a custom property, "; "-joined) so they outlive the report."""
    old = [w for w in str(action.get("kinmo_warnings", "")).split("; ") if w]
    action["kinmo_warnings"] = "; ".join(old + [w for w in warnings if w and w not in old])


def report_level(action) -> set[str]:
    """WARNING when the action carries warnings, else INFO: a result with problems is never reported as success."""
    return {"WARNING"} if action.get("kinmo_warnings") else {"INFO"}


def _uses_fk_controls(bone_map: dict[str, str]) -> bool:
    return any("fk" in re.split(r"[^a-z0-9]+", bone.lower()) for bone in bone_map.values())


def retarget_onto(context, obj, motion: SourceMotion, label: str, basis=None,
                  placed=None) -> tuple[bpy.types.Action, str]:
    """Retarget a motion onto an armature and bake it; return (new action, report line). Raises KinmoUserError first.

    basis: KinMo axes -> armature (default: the rig's facing); placed: a scene_control.SceneFrame for motions placed
    in the scene (the pelvis starts where the motion's first frame has it, not at the rig's rest position, and
    pinned hands and feet reach their targets).

    Problems that leave the result unlike the motion (pelvis or a limb unmapped, mapped bones driven by constraints
    or drivers) go into the line as a WARNING and onto the action (`report_level`). Keys on FK controls come with
    the rig's IK/FK switches set to FK; on rigs whose controls hang from constraint-driven helpers the pose
    channels are measured through Blender (`rig_checks.visual_channels`).
    """
    settings = context.scene.kinmo
    driven = rig_checks.driven_bones(obj, [b.name for b in obj.data.bones])
    spec, bone_map, found = bone_map_for(obj, driven)
    render = context.scene.render
    fps = render.fps / render.fps_base
    if basis is None:
        basis = facing_basis(spec, bone_map, bk.object_rotation(obj))
    result = retarget(motion, spec, bone_map, basis, fps=fps, foot_cleanup=settings.foot_cleanup)
    if placed is not None:
        em.shift_root(result, spec, motion)
        inverse = np.linalg.inv(np.array([tuple(r) for r in obj.matrix_world], np.float64))

        def to_armature(p):
            return placed.to_world(p) @ inverse[:3, :3].T + inverse[:3, 3]

        for joint, frames in placed.pinned.items():
            em.reach(result, spec, bone_map, joint, frames, fps, to_armature)
    switched = rig_checks.set_fk_switches(obj) if _uses_fk_controls(bone_map) else 0
    if rig_checks.has_driven_ancestors(obj, bone_map.values()):
        rotations, root_loc = rig_checks.visual_channels(obj, spec, bone_map, result, context.view_layer)
        result = dataclasses.replace(result, rotations=rotations, root_locations=root_loc)
    name = f"KinMo {label}"[:60]
    scene = context.scene
    review = settings.assign == "AUTO"
    action, how = bk.bake(obj, result, name, scene.frame_start, "NONE" if review else settings.assign)
    if found != "saved":
        bk.store_bone_map(obj, bone_map)
    if settings.set_frame_range:
        scene.frame_end = scene.frame_start + result.frames - 1
    skate = result.foot_skate
    action["kinmo_foot_skate_m_per_s"] = skate["mean"]
    action["kinmo_source_foot_skate_m_per_s"] = skate["source_mean"]
    action["kinmo_mapped_bones"] = len(bone_map)
    warnings = rig_checks.mapping_warnings(bone_map, driven)
    add_warnings(action, warnings)
    av.store_source(action, motion, scene.frame_start, basis)
    if review:
        av.begin_review(obj, scene, [action], label=label)
        where = "playing as a new version (Accept or Reject in the Edit Motion panel)"
    else:
        where = "as its active action" if how == "ACTIVE" else f"as NLA track '{action.name}'"
    line = (
        f"KinMo: '{label}' on '{obj.name}' {where}: {result.frames} frames at {fps:g} fps, {len(bone_map)}/22 joints "
        f"mapped ({found}), foot skate {100 * skate['mean']:.1f} cm/s (source {100 * skate['source_mean']:.1f})"
    )
    if switched:
        line += f"; {switched} IK/FK switch(es) and follow slider(s) set to FK"
    if warnings:
        line = f"KinMo WARNING: {'; '.join(warnings)}. {line.removeprefix('KinMo: ')}"
    settings.status = line
    return action, line


def report_error(op, context, message: str) -> None:
    """Report an operator's error and show it on the status line, so the line never keeps an older success."""
    context.scene.kinmo.status = message if message.startswith("KinMo") else f"KinMo: {message}"
    op.report({"ERROR"}, message)


class _Undoable:
    """Remember the data-blocks an operator creates, and remove them if it fails half way."""

    def __init__(self) -> None:
        self.objects: list = []
        self.actions_before = set(bpy.data.actions)
        self.armatures: list = []

    def rollback(self) -> None:
        for action in set(bpy.data.actions) - self.actions_before:
            bpy.data.actions.remove(action)
        for obj in self.objects:
            data = obj.data
            bpy.data.objects.remove(obj)
            if data is not None and data.users == 0:
                bpy.data.armatures.remove(data)


def place_motion(context, motion: SourceMotion, label: str, obj=None, basis=None,
                 placed=None) -> tuple[object, bpy.types.Action, str]:
    """Bake a motion onto obj (None: a new SMPL-22 armature) as a new action; on any failure remove what was made.

    Returns (armature object, new action, report line). basis, placed: as in `retarget_onto`.
    """
    undo = _Undoable()
    try:
        if obj is None:
            if context.mode != "OBJECT":
                raise KinmoUserError("switch to Object Mode first (a new SMPL-22 armature is added)")
            obj = bk.build_smpl_armature(context, offsets=motion.offsets)
            undo.objects.append(obj)
            unit = context.scene.unit_settings.scale_length
            if unit > 0 and abs(unit - 1.0) > 1e-9:  # a human in the scene's units (e.g. 170 units when cm)
                obj.scale = (1.0 / unit,) * 3
        action, line = retarget_onto(context, obj, motion, label, basis, placed)
    except BaseException:
        undo.rollback()
        raise
    return obj, action, line


def interactive(context) -> bool:
    """True when a window can run a modal operator with timers (not in background mode, where timers never fire)."""
    return context.window is not None and not bpy.app.background


_ACTIVE: dict[str, backend.Job] = {}
"""Worker jobs that modal operators are waiting for, by operator id (one at a time each)."""
_CANCEL_REQUESTED: set[int] = set()
"""Job ids the Cancel button asked to stop (their results are dropped even if they arrive)."""


def running_job(operators: tuple[str, ...] | None = None) -> backend.Job | None:
    """The worker job a KinMo modal operator (any, or one of `operators` by id) is waiting for, if any."""
    return next((job for op, job in _ACTIVE.items() if operators is None or op in operators), None)


class _WorkerTask:
    """Mixin for operators that wait for one worker request: modal with a progress bar, or synchronous headless.

    Subclasses call `run_task` from execute and implement `task_done(context, reply) -> set`.
    """

    busy_text = "working"

    @classmethod
    def poll(cls, context):
        """Not while another KinMo request is running."""
        return running_job() is None

    def run_task(self, context, method: str, params: dict) -> set:
        """Submit the request; in the UI wait for it modally, in background mode block until it answers."""
        python, timeout = _worker_settings(context)
        job = submit_request(python, method, params)
        if not interactive(context):
            return self.task_done(context, wait_for(job, timeout))
        self._job = job
        self._timeout = timeout
        self._started = time.monotonic()
        self._cancelling = ""
        self._kill_at = None
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        _ACTIVE[self.bl_idname] = job
        self._show(context, f"KinMo: {self.busy_text}... (Esc cancels)")
        return {"RUNNING_MODAL"}

    def _show(self, context, text: str | None) -> None:
        context.scene.kinmo.status = text or ""
        if context.workspace is not None:
            context.workspace.status_text_set(text)
        for area in context.screen.areas if context.screen else ():
            if area.type == "VIEW_3D":
                area.tag_redraw()

    def _stop_waiting(self, context) -> None:
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        _ACTIVE.pop(self.bl_idname, None)
        _CANCEL_REQUESTED.discard(self._job.id)
        if context.workspace is not None:
            context.workspace.status_text_set(None)

    def _request_cancel(self, why: str) -> None:
        self._cancelling = why
        self._kill_at = time.monotonic() + 2.0  # a worker that ignores the cancel that long is stopped
        client = backend.current_client()
        if client is not None:
            client.cancel(self._job.id)

    def modal(self, context, event):
        """Show progress; Esc (or the Cancel button, or the timeout) cancels; finish when the reply arrives."""
        job = self._job
        if event.type == "ESC" and event.value == "PRESS":
            if not self._cancelling:
                self._request_cancel("cancelled")
                self._show(context, "KinMo: cancelling...")
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if job.id in _CANCEL_REQUESTED and not self._cancelling:
            self._request_cancel("cancelled")
        if not job.done.is_set():
            now = time.monotonic()
            if not self._cancelling and now - self._started > self._timeout:
                self._request_cancel(f"no answer within {self._timeout:g} s (cancelled)")
            elif self._kill_at is not None and now > self._kill_at:
                client = backend.current_client()
                if client is not None:
                    client.stop()  # fails the job: handled at the next tick
                self._kill_at = None
            context.window_manager.progress_update(int(100 * job.progress))
            if not self._cancelling:
                step = job.message or job.method
                self._show(context, f"KinMo: {self.busy_text}: {step} {100 * job.progress:.0f}% (Esc cancels)")
            return {"PASS_THROUGH"}
        self._stop_waiting(context)
        if self._cancelling:  # a result that arrives after a cancel is dropped: the user asked for nothing
            self._show(context, f"KinMo: {self.busy_text} {self._cancelling}")
            self.report({"WARNING"} if self._cancelling == "cancelled" else {"ERROR"},
                        f"KinMo: {self.busy_text} {self._cancelling}")  # fmt: skip
            return {"CANCELLED"}
        try:
            reply = job.get()
        except backend.WorkerError as e:
            line = f"KinMo worker: {e}"
            self._show(context, line)
            self.report({"ERROR"}, line)
            return {"CANCELLED"}
        self._show(context, None)
        return self.task_done(context, reply)

    def cancel(self, context) -> None:
        """Blender ends the operator (window closed, file loaded): stop the request and clean up."""
        client = backend.current_client()
        if client is not None and not self._job.done.is_set():
            client.cancel(self._job.id)
        self._stop_waiting(context)


class KINMO_OT_import_motion(_WorkerTask, bpy.types.Operator):
    """Import a motion file (.npz, .bvh, .npy) onto the target armature, or onto a new SMPL-22 armature"""

    bl_idname = "kinmo.import_motion"
    bl_label = "Import Motion"
    bl_options = {"REGISTER", "UNDO"}
    busy_text = "converting"

    filepath: StringProperty(subtype="FILE_PATH")
    filter_glob: StringProperty(default="*.npz;*.bvh;*.npy", options={"HIDDEN"})

    def invoke(self, context, event):
        """Open the file browser."""
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        """Read, retarget and bake. A .bvh/.npy file is converted by the worker (modal in the UI)."""
        path = bpy.path.abspath(self.filepath) if self.filepath else ""
        try:
            if path and needs_worker(path):
                if not Path(path).is_file():
                    raise KinmoUserError(f"motion file not found: {path}")
                return self.run_task(context, "load_motion", {"path": path})
            motion, npz_path = read_motion(context, self.filepath)
        except KinmoUserError as e:
            report_error(self, context, str(e))
            return {"CANCELLED"}
        return self._apply(context, motion, npz_path)

    def task_done(self, context, reply: dict) -> set:
        """Bake the motion the worker converted."""
        try:
            motion, npz_path = conversion_result(reply)
        except KinmoUserError as e:
            report_error(self, context, str(e))
            return {"CANCELLED"}
        return self._apply(context, motion, npz_path)

    def _apply(self, context, motion: SourceMotion, npz_path: str):
        try:
            label = motion.text or Path(self.filepath).stem
            _, action, line = place_motion(context, motion, label, target_armature(context))
        except KinmoUserError as e:
            report_error(self, context, str(e))
            return {"CANCELLED"}
        context.scene.kinmo.motion_path = npz_path
        self.report(report_level(action), line)
        return {"FINISHED"}


class KINMO_OT_generate(_WorkerTask, bpy.types.Operator):
    """Generate a motion from the prompt with the KinMo model and bake it onto the target armature (or a new one)"""

    bl_idname = "kinmo.generate"
    bl_label = "Generate"
    bl_options = {"REGISTER", "UNDO"}
    busy_text = "generating"

    prompt: StringProperty(name="Prompt", description="What the motion should show (unset: the panel's prompt)")
    seconds: FloatProperty(name="Length", min=1.0, max=10.0, default=4.0, description="Seconds (unset: the panel's)")
    seed: IntProperty(name="Seed", min=0, default=0, description="Same seed, same motion (unset: the panel's)")
    path_object: StringProperty(name="Path", description="Curve or Grease Pencil object the pelvis walks along "
                                "(unset: the panel's Path; empty: none)")  # fmt: skip
    fit_to_scene: BoolProperty(name="Fit to scene range", default=False,
                               description="Walk the path in the scene's frame range (else at the prompt's speed)")
    use_targets: BoolProperty(name="Use target empties", default=True,
                              description="Pin body parts to the empties assigned to them")
    targets: StringProperty(name="Targets", description="Comma-separated empties to use (unset: every empty "
                            "assigned to a body part)")  # fmt: skip

    def execute(self, context):
        """Check everything, then ask the worker; the motion is baked when it arrives."""
        from . import scene_control as sc

        settings = context.scene.kinmo

        def value(name: str, default):
            return getattr(self, name) if self.properties.is_property_set(name) else default

        try:
            params = generate_request(value("prompt", settings.prompt), value("seconds", settings.seconds),
                                      value("seed", settings.seed), LEVELS[settings.levels],
                                      edited_descriptions(settings), model_setting(context))  # fmt: skip
            obj = target_armature(context)
            if obj is not None:
                bone_map_for(obj)  # a rig that cannot take the motion fails now, not after generating
            elif context.mode != "OBJECT":
                raise KinmoUserError("switch to Object Mode first (a new SMPL-22 armature is added)")
            self._frame = sc.add_control(context, obj, params, self, value)
            self._target = obj.name if obj is not None else ""
            self._params = params
            return self.run_task(context, "generate", params)
        except (KinmoUserError, sc.ControlError) as e:
            settings.status = f"KinMo: {e}"
            self.report({"ERROR"}, settings.status)
            return {"CANCELLED"}

    def task_done(self, context, reply: dict) -> set:
        """Bake the generated motion into a new action named after the prompt."""
        try:
            obj = None
            if self._target:
                obj = bpy.data.objects.get(self._target)
                if not bk.is_armature(obj):
                    raise KinmoUserError(f"the target armature '{self._target}' is gone; nothing was changed")
            motion, npz_path = generated_motion(reply)
            motion, basis = placed_motion(motion, reply, self._frame)
            _, action, line = place_motion(context, motion, reply.get("text") or self._params["text"], obj, basis,
                                           self._frame)  # fmt: skip
        except KinmoUserError as e:
            report_error(self, context, str(e))
            return {"CANCELLED"}
        tag_generated(action, self._params, reply)
        context.scene.kinmo.motion_path = npz_path
        warnings = [str(w) for w in reply.get("warnings") or [] if w]
        if warnings:  # generated anyway: the motion is there, but the user should not trust it blindly
            add_warnings(action, warnings)
            line = f"{line}. Warning: {'; '.join(warnings)}"
            context.scene.kinmo.status = line
        self.report(report_level(action), line)
        return {"FINISHED"}


def placed_motion(motion: SourceMotion, reply: dict, frame) -> tuple[SourceMotion, object]:
    """A controlled motion moved back onto the scene's curve and empties, and the basis to bake it with."""
    if frame is None:
        return motion, None
    control = reply.get("control")
    if not control:
        raise KinmoUserError("this KinMo worker ignores paths and targets (no 'control' in its reply); update KinMo")
    return em.unplace_control(motion, control[0].get("placement")), frame.basis


def tag_generated(action, params: dict, reply: dict) -> None:
    """Record on the new action how it was generated (prompt, seed, length, levels, model, descriptions used)."""
    action["kinmo_prompt"] = reply.get("text") or params["text"]
    action["kinmo_seed"] = params["seed"]
    action["kinmo_seconds"] = params.get("seconds") or reply.get("frames", 0) / reply.get("fps", 20)
    action["kinmo_levels"] = params["levels"]
    action["kinmo_model"] = params.get("model", "")
    used = reply.get("descriptions") or {}
    written = any(str(v).strip() for part in ("groups", "interactions") for v in (used.get(part) or {}).values())
    action["kinmo_descriptions"] = json.dumps(used) if written else ""


class KINMO_OT_expand(_WorkerTask, bpy.types.Operator):
    """Let the Motion Reasoner describe what each body part does for the prompt; edit the text before Generate"""

    bl_idname = "kinmo.expand"
    bl_label = "Expand"
    bl_options = {"REGISTER", "UNDO"}
    busy_text = "writing part descriptions"

    def execute(self, context):
        """Ask the worker for the descriptions of the current prompt."""
        settings = context.scene.kinmo
        try:
            params = expand_request(settings.prompt, settings.seed, model_setting(context))
            self._prompt = settings.prompt
            return self.run_task(context, "expand", params)
        except KinmoUserError as e:
            report_error(self, context, str(e))
            return {"CANCELLED"}

    def task_done(self, context, reply: dict) -> set:
        """Store the six group and fifteen interaction descriptions in the scene."""
        descriptions = reply.get("descriptions")
        if not isinstance(descriptions, dict) or not isinstance(descriptions.get("groups"), dict):
            report_error(self, context, "KinMo worker: the expand reply holds no descriptions")
            return {"CANCELLED"}
        settings = context.scene.kinmo
        store_descriptions(settings, descriptions, self._prompt)
        line = f"KinMo: part descriptions for '{settings.expanded_prompt}' (edit them, then Generate)"
        settings.status = line
        self.report({"INFO"}, line)
        return {"FINISHED"}


class KINMO_OT_clear_descriptions(bpy.types.Operator):
    """Forget the part descriptions (Generate then uses the prompt alone, or the model's own descriptions)"""

    bl_idname = "kinmo.clear_descriptions"
    bl_label = "Clear"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        """Clear them."""
        clear_descriptions(context.scene.kinmo)
        return {"FINISHED"}


class KINMO_OT_retarget(bpy.types.Operator):
    """Retarget the imported motion onto the selected armature (bone map from its saved map, a preset or names)"""

    bl_idname = "kinmo.retarget"
    bl_label = "Retarget to Selected"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(subtype="FILE_PATH", description="Motion file (empty: the last imported motion)")

    def execute(self, context):
        """Retarget and bake."""
        try:
            obj = selected_armature(context)
            if obj is None:
                raise KinmoUserError("select an armature to retarget onto")
            motion, _ = read_motion(context, self.filepath or context.scene.kinmo.motion_path)
            label = motion.text or Path(self.filepath or context.scene.kinmo.motion_path).stem
            _, action, line = place_motion(context, motion, label, obj)
        except KinmoUserError as e:
            report_error(self, context, str(e))
            return {"CANCELLED"}
        self.report(report_level(action), line)
        return {"FINISHED"}


class KINMO_OT_build_armature(bpy.types.Operator):
    """Add KinMo's SMPL-22 armature (T-pose, bones named after SMPL joints) at the 3D cursor"""

    bl_idname = "kinmo.build_armature"
    bl_label = "Add SMPL-22 Armature"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        """Only in Object Mode."""
        return context.mode == "OBJECT"

    def execute(self, context):
        """Build the armature and make it the target."""
        obj = bk.build_smpl_armature(context)
        if context.scene.kinmo.target_armature is None:
            context.scene.kinmo.target_armature = obj
        self.report({"INFO"}, f"KinMo: added '{obj.name}'")
        return {"FINISHED"}


class KINMO_OT_detect_bone_map(bpy.types.Operator):
    """Fill the selected armature's bone map from the chosen preset, or detect it from names and the hierarchy"""

    bl_idname = "kinmo.detect_bone_map"
    bl_label = "Detect Bone Map"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        """Detect and save the map on the armature."""
        obj = selected_armature(context)
        if obj is None:
            report_error(self, context, "select an armature to map")
            return {"CANCELLED"}
        spec = bk.rig_spec(obj)
        preset = context.scene.kinmo.preset
        if preset == "AUTO":
            bone_map, found = auto_bone_map(spec)
        else:
            bone_map, found = validate_bone_map(spec, preset_map(preset, spec.names)), preset
        if not bone_map:
            report_error(self, context, f"no bone of '{obj.name}' matches "
                         f"{'any preset' if preset == 'AUTO' else preset}")
            return {"CANCELLED"}
        bk.store_bone_map(obj, bone_map)
        self.report({"INFO"}, f"KinMo: {len(bone_map)}/22 joints mapped on '{obj.name}' ({found})")
        return {"FINISHED"}


class KINMO_OT_cancel(bpy.types.Operator):
    """Cancel what the KinMo worker is doing"""

    bl_idname = "kinmo.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        """Send a cancel for every pending request; a modal operator waiting for one drops its result."""
        client = backend.current_client()
        sent = 0
        if client is not None:
            _CANCEL_REQUESTED.update(job.id for job in client.pending())
            sent = client.cancel()
        self.report({"INFO"}, f"KinMo: cancelled {sent} request(s)" if sent else "KinMo: nothing to cancel")
        return {"FINISHED"}


class KINMO_OT_check_worker(bpy.types.Operator):
    """Start the KinMo worker with the Python set in the preferences and check that it answers"""

    bl_idname = "kinmo.check_worker"
    bl_label = "Check KinMo Python"

    def execute(self, context):
        """Ping the worker."""
        prefs = preferences(context)
        try:
            reply = backend.get_client(prefs.python_path if prefs else "").request("ping", timeout=120)
        except backend.WorkerError as e:
            self.report({"ERROR"}, f"KinMo worker: {e}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"KinMo {reply['kinmo']} ready (Python {reply['python']}, numpy {reply['numpy']})")
        return {"FINISHED"}


class KINMO_OT_detect_python(bpy.types.Operator):
    """Look for a Python with KinMo installed and put it in the preferences"""

    bl_idname = "kinmo.detect_python"
    bl_label = "Detect"

    def execute(self, context):
        """Detect and store."""
        found = backend.detect_python()
        prefs = preferences(context)
        if found is None or prefs is None:
            self.report({"ERROR"}, backend.no_python_message())
            return {"CANCELLED"}
        prefs.python_path = found
        self.report({"INFO"}, f"KinMo Python: {found}")
        return {"FINISHED"}


CLASSES = (
    KINMO_OT_import_motion,
    KINMO_OT_generate,
    KINMO_OT_expand,
    KINMO_OT_clear_descriptions,
    KINMO_OT_retarget,
    KINMO_OT_build_armature,
    KINMO_OT_detect_bone_map,
    KINMO_OT_cancel,
    KINMO_OT_check_worker,
    KINMO_OT_detect_python,
)


# Blender's own helper: registers CLASSES in order, unregisters them in reverse.
register, unregister = bpy.utils.register_classes_factory(CLASSES)
