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

from .core import kinematic as S
from .retarget.bone_map import PRESET_TITLES

LEVELS: dict[str, int] = {"GLOBAL": 1, "GROUPS": 2, "INTERACTIONS": 3}
"""The worker's `levels` number for each choice of the Levels menu."""
LEVEL_ITEMS = [
    ("GLOBAL", "Global action", "Condition on the prompt only"),
    ("GROUPS", "+ Body parts", "Also on the six body-part (group-level) descriptions"),
    ("INTERACTIONS", "+ Interactions", "Also on the fifteen body-part interactions (the full hierarchy)"),
]
ASSIGN_ITEMS = [
    ("AUTO", "Auto", "Play it at once as a version to Accept or Reject; the action it replaces is kept unchanged"),
    ("ACTIVE", "Active action", "Make the new action the armature's active action (the old one stays in the file)"),
    ("NLA", "NLA track", "Add the new action as a new NLA track"),
]
PRESET_ITEMS = [("AUTO", "Auto-detect", "Detect from bone names and the hierarchy")] + [
    (key, title, f"Bone names of the {title} rig") for key, title in PRESET_TITLES.items()
]


def _is_armature(_self, obj) -> bool:
    return obj.type == "ARMATURE"


class KinmoBoneMapItem(bpy.types.PropertyGroup):
    """One row of an armature's bone map: a SMPL-22 joint and the rig's bone that follows it."""

    joint: StringProperty(name="Joint", description="SMPL-22 joint")
    bone: StringProperty(name="Bone", description="Bone of this armature that follows the joint (empty: none)")


class KinmoDescriptionItem(bpy.types.PropertyGroup):
    """One part description written by Expand: a group (6) or a pair of groups (15), editable before Generate."""

    key: StringProperty(name="Key", description="Group name, or a pair such as 'left_arm|torso'")
    text: StringProperty(name="Description", description="What this body part does (edit before Generate)")


class KinmoSettings(bpy.types.PropertyGroup):
    """Per-scene KinMo settings shown in the 3D Viewport's KinMo tab."""

    prompt: StringProperty(name="Prompt", description="What the motion should show")
    seconds: FloatProperty(name="Length", description="Length in seconds", default=4.0, min=1.0, max=10.0,
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
    set_frame_range: BoolProperty(name="Set frame range", default=True,
                                  description="Set the scene's frame range to each new motion")  # fmt: skip
    preset: EnumProperty(name="Preset", items=PRESET_ITEMS, default="AUTO")
    status: StringProperty(name="Status", default="")
    descriptions: CollectionProperty(type=KinmoDescriptionItem, name="Descriptions",
                                     description="The 6 group and 15 interaction descriptions from Expand")  # fmt: skip
    expanded_prompt: StringProperty(name="Expanded prompt", default="",
                                    description="The prompt the descriptions were written for (another prompt makes "
                                    "them stale: they are not used)")  # fmt: skip
    model_folder: StringProperty(name="Model", subtype="DIR_PATH", default="",
                                 description="KinMo pipeline folder for this scene (empty: the one in the add-on "
                                 "preferences, else the packaged default model)")  # fmt: skip


class KinmoPreferences(bpy.types.AddonPreferences):
    """Where the KinMo Python lives (the worker runs there; Blender's Python needs no torch)."""

    bl_idname = __package__

    python_path: StringProperty(
        name="KinMo Python",
        subtype="FILE_PATH",
        description="Python interpreter (or environment folder) with kinmo installed; empty: detect",
    )
    model_path: StringProperty(
        name="KinMo model",
        subtype="DIR_PATH",
        description="Pipeline folder used for generation (empty: the default model of the KinMo installation)",
    )
    request_timeout: FloatProperty(name="Request timeout (s)", default=600.0, min=5.0)
    preload: EnumProperty(
        name="Load model",
        description="When to start the KinMo worker and load the model in the background, so the first Generate "
        "does not wait for it",
        items=(
            ("ENABLE", "When the add-on is enabled", "Start loading as soon as Blender enables KinMo"),
            ("PANEL", "When the KinMo panel is shown", "Start loading the first time the KinMo tab is drawn"),
            ("NEVER", "On the first request", "Load only when Generate or Expand is first used"),
        ),
        default="PANEL",
    )

    def draw(self, context) -> None:
        """Draw the preferences."""
        col = self.layout.column()
        col.prop(self, "python_path")
        row = col.row()
        row.operator("kinmo.detect_python", icon="VIEWZOOM")
        row.operator("kinmo.check_worker", icon="CHECKMARK")
        col.prop(self, "model_path")
        col.prop(self, "preload")
        col.prop(self, "request_timeout")


CLASSES = (KinmoBoneMapItem, KinmoDescriptionItem, KinmoSettings, KinmoPreferences)


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


def descriptions_stale(settings) -> bool:
    """True when Expand's descriptions were written for another prompt than the current one."""
    return len(settings.descriptions) > 0 and " ".join(settings.prompt.split()) != settings.expanded_prompt


def edited_descriptions(settings) -> dict | None:
    """The descriptions as the worker takes them ({"groups": {..}, "interactions": {..}}), or None if none or stale."""
    if not len(settings.descriptions) or descriptions_stale(settings):
        return None
    out: dict = {"groups": {}, "interactions": {}}
    for item in settings.descriptions:
        if item.key in S.GROUPS:
            out["groups"][item.key] = item.text.strip()
        elif item.key in S.PAIRS:
            out["interactions"][item.key] = item.text.strip()
    return out


def store_descriptions(settings, descriptions: dict, prompt: str) -> None:
    """Replace the scene's descriptions with a worker reply's, in the fixed group then pair order."""
    groups = descriptions.get("groups") or {}
    pairs = descriptions.get("interactions") or {}
    settings.descriptions.clear()
    for key in S.GROUPS + S.PAIRS:
        item = settings.descriptions.add()
        item.key = key
        item.text = str((groups if key in S.GROUPS else pairs).get(key, ""))
    settings.expanded_prompt = " ".join(prompt.split())


def clear_descriptions(settings) -> None:
    """Forget Expand's descriptions."""
    settings.descriptions.clear()
    settings.expanded_prompt = ""
