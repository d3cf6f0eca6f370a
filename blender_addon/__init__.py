"""KinMo for Blender: generate motion from text, import KinMo motion files, retarget and bake onto any armature.

Loads as a Blender extension (blender_manifest.toml, id "kinmo") and as a legacy add-on (bl_info). Blender's own
Python needs only numpy: everything that needs KinMo's Python side (torch) runs in a `kinmo worker` subprocess
(backend.py). The submodules that import bpy are loaded in register(), so the math can be imported without Blender.
"""

bl_info = {
    "name": "KinMo",
    "author": "KinMo contributors",
    "version": (0, 1, 0),
    "blender": (4, 2, 0),
    "location": "3D Viewport > Sidebar > KinMo",
    "description": "Text to 3D human motion with per-body-part control: generate, import and retarget onto any rig",
    "category": "Animation",
}

_MODULES = ("props", "operators", "ui", "edit_ops")


def _modules():
    import importlib

    return [importlib.import_module(f"{__package__}.{name}") for name in _MODULES]


def register() -> None:
    """Register the add-on's classes and properties; start loading the model if the preference says so."""
    import bpy

    for module in _modules():
        module.register()
    # The preferences exist only once enabling is done: look at them from a timer (they never fire in background
    # mode, where scripts call warmup.maybe_start themselves).
    bpy.app.timers.register(_warm_up_on_enable, first_interval=0.1)


def _warm_up_on_enable() -> None:
    import bpy

    from . import warmup

    warmup.maybe_start(bpy.context, "ENABLE")


def unregister() -> None:
    """Unregister everything and stop the worker."""
    import bpy

    from . import backend, warmup

    if bpy.app.timers.is_registered(_warm_up_on_enable):
        bpy.app.timers.unregister(_warm_up_on_enable)
    for module in reversed(_modules()):
        module.unregister()
    backend.shutdown()
    warmup.reset()
