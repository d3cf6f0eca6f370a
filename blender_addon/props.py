"""The add-on's data: scene settings, the bone map saved on armatures, and the preferences (worker Python)."""

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from . import retarget_math as rm

LEVEL_ITEMS = [
    ("GLOBAL", "Global action", "Condition on the prompt only"),
    ("GROUPS", "+ Body parts", "Also on the six body-part (group-level) descriptions"),
    ("INTERACTIONS", "+ Interactions", "Also on the fifteen body-part interactions (the full hierarchy)"),
]
ASSIGN_ITEMS = [
    ("AUTO", "Auto", "Active action when the armature has none, otherwise a new NLA track (nothing is replaced)"),
    ("ACTIVE", "Active action", "Make the new action the armature's active action (the old one stays in the file)"),
    ("NLA", "NLA track", "Add the new action as a new NLA track"),
]
PRESET_ITEMS = [("AUTO", "Auto-detect", "Detect from bone names and the hierarchy")] + [
    (key, title, f"Bone names of the {title} rig") for key, title in rm.PRESET_TITLES.items()
]


def _is_armature(_self, obj) -> bool:
    return obj.type == "ARMATURE"


class KinmoBoneMapItem(bpy.types.PropertyGroup):
    """One row of an armature's bone map: a SMPL-22 joint and the rig's bone that follows it."""

    joint: StringProperty(name="Joint", description="SMPL-22 joint")
    bone: StringProperty(name="Bone", description="Bone of this armature that follows the joint (empty: none)")


class KinmoSettings(bpy.types.PropertyGroup):
    """Per-scene KinMo settings shown in the 3D Viewport's KinMo tab."""

    prompt: StringProperty(name="Prompt", description="What the motion should show")
    seconds: FloatProperty(name="Length", description="Length in seconds", default=4.0, min=0.5, max=9.8,
                           subtype="TIME_ABSOLUTE", unit="TIME_ABSOLUTE")  # fmt: skip
    seed: IntProperty(name="Seed", description="Same seed, same motion", default=0, min=0)
    levels: EnumProperty(name="Levels", items=LEVEL_ITEMS, default="INTERACTIONS",
                         description="Which levels of the text hierarchy condition the motion")  # fmt: skip
    target_armature: PointerProperty(name="Target", type=bpy.types.Object, poll=_is_armature,
                                     description="Armature that receives motions (empty: the selected one, "
                                     "or a new SMPL-22 armature on import)")  # fmt: skip
    motion_path: StringProperty(name="Motion", subtype="FILE_PATH",
                                description="The KinMo .npz motion last imported")  # fmt: skip
    foot_cleanup: BoolProperty(name="Clean up foot sliding", default=False,
                               description="Keep feet from sliding while they touch the ground (two-bone IK on the "
                               "legs; changes leg directions slightly)")  # fmt: skip
    assign: EnumProperty(name="Assign", items=ASSIGN_ITEMS, default="AUTO")
    preset: EnumProperty(name="Preset", items=PRESET_ITEMS, default="AUTO")
    status: StringProperty(name="Status", default="")


class KinmoPreferences(bpy.types.AddonPreferences):
    """Where the KinMo Python lives (the worker runs there; Blender's Python needs no torch)."""

    bl_idname = __package__

    python_path: StringProperty(
        name="KinMo Python",
        subtype="FILE_PATH",
        description="Python interpreter (or environment folder) with kinmo installed; empty: detect",
    )
    request_timeout: FloatProperty(name="Request timeout (s)", default=600.0, min=5.0)

    def draw(self, context) -> None:
        """Draw the preferences."""
        col = self.layout.column()
        col.prop(self, "python_path")
        row = col.row()
        row.operator("kinmo.detect_python", icon="VIEWZOOM")
        row.operator("kinmo.check_worker", icon="CHECKMARK")
        col.prop(self, "request_timeout")


CLASSES = (KinmoBoneMapItem, KinmoSettings, KinmoPreferences)


def register() -> None:
    """Register the property groups and attach them to scenes and objects."""
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.kinmo = PointerProperty(type=KinmoSettings)
    bpy.types.Object.kinmo_bone_map = CollectionProperty(type=KinmoBoneMapItem)
    bpy.types.Object.kinmo_bone_map_index = IntProperty(default=0)


def unregister() -> None:
    """Remove what `register` added."""
    del bpy.types.Object.kinmo_bone_map_index
    del bpy.types.Object.kinmo_bone_map
    del bpy.types.Scene.kinmo
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)


def preferences(context):
    """The add-on's preferences, or None when it is not enabled as an add-on (e.g. classes registered by hand)."""
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None
