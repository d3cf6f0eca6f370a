"""Operators under `kinmo.*`: thin wrappers that check input, call the retargeter and bake, and report errors.

Every failure is reported as one line (self.report ERROR) and returns CANCELLED with the scene as it was: nothing
is changed before all input has been checked, and anything made before a late failure is removed again.
"""

from pathlib import Path

import bpy
from bpy.props import StringProperty

from . import backend
from . import bake as bk
from . import retarget_math as rm
from .props import preferences


class KinmoUserError(Exception):
    """A problem the user can fix; its message is shown as the operator's error report."""


def _worker_settings(context) -> tuple[str, float]:
    prefs = preferences(context)
    return (prefs.python_path if prefs else ""), (prefs.request_timeout if prefs else 600.0)


def needs_worker(path: str) -> bool:
    """True for files only the worker can read (.bvh, .npy); .npz is read here with numpy."""
    return Path(path).suffix.lower() in (".bvh", ".npy")


def submit_conversion(context, path: str) -> backend.Job:
    """Ask the worker to convert a .bvh/.npy file to a KinMo .npz; return the job at once."""
    if not Path(path).is_file():
        raise KinmoUserError(f"motion file not found: {path}")
    python, _ = _worker_settings(context)
    try:
        return backend.get_client(python).submit("load_motion", {"path": path})
    except backend.WorkerError as e:
        raise KinmoUserError(f"KinMo worker: {e}") from None


def finish_conversion(job: backend.Job) -> tuple[rm.SourceMotion, str]:
    """Read the .npz a finished conversion job wrote."""
    try:
        reply = job.get()
        return rm.load_motion_npz(reply["path"]), reply["path"]
    except backend.WorkerError as e:
        raise KinmoUserError(f"KinMo worker: {e}") from None
    except rm.MotionFileError as e:
        raise KinmoUserError(str(e)) from None


def read_motion(context, path: str) -> tuple[rm.SourceMotion, str]:
    """Read a motion file: .npz with numpy here; .bvh and .npy converted by the worker. Returns (motion, npz path)."""
    if not path:
        raise KinmoUserError("choose a motion file (.npz, .bvh or .npy)")
    path = bpy.path.abspath(path)
    ext = Path(path).suffix.lower()
    if ext == ".npz":
        try:
            return rm.load_motion_npz(path), path
        except rm.MotionFileError as e:
            raise KinmoUserError(str(e)) from None
    if needs_worker(path):
        job = submit_conversion(context, path)
        _, timeout = _worker_settings(context)
        if not job.wait(timeout):
            client = backend.current_client()
            if client is not None:
                client.cancel(job.id)
                if not job.wait(2.0):
                    client.stop()  # stuck: the next request starts a fresh worker
            raise KinmoUserError(f"KinMo worker: no answer within {timeout:g} s (cancelled)")
        return finish_conversion(job)
    raise KinmoUserError(f"unsupported motion file type {ext or '(none)'}: use .npz, .bvh or .npy")


def selected_armature(context):
    """The active object if it is an armature, else the only selected armature, else None."""
    active = context.active_object
    if bk.is_armature(active) and (active.select_get() or not context.selected_objects):
        return active
    arms = [o for o in context.selected_objects if bk.is_armature(o)]
    return arms[0] if len(arms) == 1 else None


def retarget_onto(context, obj, motion: rm.SourceMotion, label: str) -> str:
    """Retarget a motion onto an armature and bake it; return the report line. Raises KinmoUserError first."""
    settings = context.scene.kinmo
    if obj.mode == "EDIT":
        raise KinmoUserError(f"leave Edit Mode on '{obj.name}' first (its bones are being edited)")
    spec = bk.rig_spec(obj)
    bone_map = rm.validate_bone_map(spec, bk.stored_bone_map(obj))
    found = "saved"
    if not bone_map:
        bone_map, found = rm.auto_bone_map(spec)
    if not bone_map:
        raise KinmoUserError(
            f"no bone of '{obj.name}' maps to a SMPL-22 joint; pick a preset or fill its bone map in the KinMo tab"
        )
    render = context.scene.render
    fps = render.fps / render.fps_base
    basis = rm.facing_basis(spec, bone_map, bk.object_rotation(obj))
    result = rm.retarget(motion, spec, bone_map, basis, fps=fps, foot_cleanup=settings.foot_cleanup)
    name = f"KinMo {label}"[:60]
    action, how = bk.bake(obj, result, name, context.scene.frame_start, settings.assign)
    if found != "saved":
        bk.store_bone_map(obj, bone_map)
    skate = result.foot_skate
    action["kinmo_foot_skate_m_per_s"] = skate["mean"]
    action["kinmo_source_foot_skate_m_per_s"] = skate["source_mean"]
    action["kinmo_mapped_bones"] = len(bone_map)
    where = "as its active action" if how == "ACTIVE" else f"as NLA track '{action.name}'"
    line = (
        f"KinMo: '{label}' on '{obj.name}' {where}: {result.frames} frames at {fps:g} fps, {len(bone_map)}/22 joints "
        f"mapped ({found}), foot skate {100 * skate['mean']:.1f} cm/s (source {100 * skate['source_mean']:.1f})"
    )
    settings.status = line
    return line


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


class KINMO_OT_import_motion(bpy.types.Operator):
    """Import a motion file (.npz, .bvh, .npy) onto the target armature, or onto a new SMPL-22 armature"""

    bl_idname = "kinmo.import_motion"
    bl_label = "Import Motion"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(subtype="FILE_PATH")
    filter_glob: StringProperty(default="*.npz;*.bvh;*.npy", options={"HIDDEN"})

    def invoke(self, context, event):
        """Open the file browser."""
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        """Read, retarget and bake. With a window open, a worker conversion runs without freezing Blender."""
        path = bpy.path.abspath(self.filepath) if self.filepath else ""
        if path and needs_worker(path) and context.window is not None and not bpy.app.background:
            try:
                self._job = submit_conversion(context, path)
            except KinmoUserError as e:
                self.report({"ERROR"}, str(e))
                return {"CANCELLED"}
            wm = context.window_manager
            self._timer = wm.event_timer_add(0.1, window=context.window)
            wm.modal_handler_add(self)
            context.scene.kinmo.status = f"KinMo: converting {Path(path).name} (Esc cancels)"
            return {"RUNNING_MODAL"}
        try:
            motion, npz_path = read_motion(context, self.filepath)
        except KinmoUserError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        return self._apply(context, motion, npz_path)

    def modal(self, context, event):
        """Wait for the worker: show its progress, cancel on Esc, bake when the converted file arrives."""
        job = self._job
        if event.type == "ESC":
            client = backend.current_client()
            if client is not None:
                client.cancel(job.id)
        if event.type != "TIMER" or not job.done.is_set():
            if event.type == "TIMER":
                context.scene.kinmo.status = f"KinMo: {job.message or job.method} {100 * job.progress:.0f}%"
                for area in (context.screen.areas if context.screen else ()):
                    area.tag_redraw()
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        try:
            motion, npz_path = finish_conversion(job)
        except KinmoUserError as e:
            context.scene.kinmo.status = ""
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        return self._apply(context, motion, npz_path)

    def _apply(self, context, motion: rm.SourceMotion, npz_path: str):
        undo = _Undoable()
        try:
            settings = context.scene.kinmo
            obj = settings.target_armature or selected_armature(context)
            if obj is None:
                if context.mode != "OBJECT":
                    raise KinmoUserError("switch to Object Mode to import a motion")
                obj = bk.build_smpl_armature(context, offsets=motion.offsets)
                undo.objects.append(obj)
            label = motion.text or Path(self.filepath).stem
            line = retarget_onto(context, obj, motion, label)
            settings.motion_path = npz_path
        except KinmoUserError as e:
            undo.rollback()
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, line)
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
            undo = _Undoable()
            try:
                line = retarget_onto(context, obj, motion, label)
            except Exception:
                undo.rollback()
                raise
        except KinmoUserError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, line)
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
            self.report({"ERROR"}, "select an armature to map")
            return {"CANCELLED"}
        spec = bk.rig_spec(obj)
        preset = context.scene.kinmo.preset
        if preset == "AUTO":
            bone_map, found = rm.auto_bone_map(spec)
        else:
            bone_map, found = rm.validate_bone_map(spec, rm.preset_map(preset, spec.names)), preset
        if not bone_map:
            self.report({"ERROR"}, f"no bone of '{obj.name}' matches {'any preset' if preset == 'AUTO' else preset}")
            return {"CANCELLED"}
        bk.store_bone_map(obj, bone_map)
        self.report({"INFO"}, f"KinMo: {len(bone_map)}/22 joints mapped on '{obj.name}' ({found})")
        return {"FINISHED"}


class KINMO_OT_cancel(bpy.types.Operator):
    """Cancel what the KinMo worker is doing"""

    bl_idname = "kinmo.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        """Send a cancel for every pending request."""
        client = backend.current_client()
        sent = client.cancel() if client is not None else 0
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
            self.report({"ERROR"}, "no Python with KinMo found; set its path (or its environment folder) by hand")
            return {"CANCELLED"}
        prefs.python_path = found
        self.report({"INFO"}, f"KinMo Python: {found}")
        return {"FINISHED"}


CLASSES = (
    KINMO_OT_import_motion,
    KINMO_OT_retarget,
    KINMO_OT_build_armature,
    KINMO_OT_detect_bone_map,
    KINMO_OT_cancel,
    KINMO_OT_check_worker,
    KINMO_OT_detect_python,
)


# Blender's own helper: registers CLASSES in order, unregisters them in reverse.
register, unregister = bpy.utils.register_classes_factory(CLASSES)
