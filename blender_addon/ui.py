"""The KinMo tab of the 3D Viewport's sidebar: Generate Motion (+ Interactions), Import & Retarget, the bone map."""

import bpy

from . import backend, warmup
from . import bake as bk
from .core import kinematic as S
from .operators import running_job, selected_armature
from .props import descriptions_stale


class KINMO_UL_bone_map(bpy.types.UIList):
    """Rows of an armature's bone map: SMPL-22 joint on the left, the rig's bone (searchable) on the right."""

    bl_idname = "KINMO_UL_bone_map"

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        """Draw one joint -> bone row."""
        row = layout.row(align=True)
        split = row.split(factor=0.4)
        split.label(text=item.joint.replace("_", " "))
        if data.type == "ARMATURE":
            split.prop_search(item, "bone", data.data, "bones", text="")
        else:
            split.prop(item, "bone", text="")


class _SidebarPanel:
    """Where every KinMo panel lives: the 3D Viewport's sidebar, tab "KinMo"."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "KinMo"


class KINMO_PT_generate(_SidebarPanel, bpy.types.Panel):
    """Text to motion: prompt, length, seed, levels, target; Expand writes editable part descriptions; Generate."""

    bl_idname = "KINMO_PT_generate"
    bl_label = "Generate Motion"

    def draw(self, context):
        """Draw the settings, the six group descriptions, Generate and the progress of a running request."""
        settings = context.scene.kinmo
        job = running_job(("kinmo.generate", "kinmo.expand"))
        warm = warmup.maybe_start(context, "PANEL") or warmup.STATE
        col = self.layout.column()
        if warm.busy or warm.state == "failed":
            row = col.row()
            row.alert = warm.state == "failed"
            row.label(text=warm.label(), icon="ERROR" if warm.state == "failed" else "TIME")
        col.prop(settings, "prompt")
        col.prop(settings, "seconds")
        col.prop(settings, "seed")
        col.prop(settings, "levels")
        col.prop(settings, "target_armature")
        col.prop(settings, "model_folder")
        row = col.row(align=True)
        row.operator("kinmo.expand", icon="TEXT")
        if len(settings.descriptions):
            row.operator("kinmo.clear_descriptions", icon="X")
            box = col.box()
            if descriptions_stale(settings):
                box.alert = True
                box.label(text="For another prompt: not used (Expand again)", icon="ERROR")
            elif settings.levels == "GLOBAL":
                box.label(text="Not used at Levels = Global action", icon="INFO")
            sub = box.column()
            sub.enabled = not descriptions_stale(settings)
            for item in settings.descriptions:
                if item.key in S.GROUPS:
                    sub.prop(item, "text", text=S.GROUP_TITLES[item.key])
        col.separator()
        big = col.row()
        big.scale_y = 1.5
        big.operator("kinmo.generate", icon="PLAY")
        if job is not None:
            row = col.row(align=True)
            row.label(text=f"{job.message or job.method} {100 * job.progress:.0f}%")
            row.operator("kinmo.cancel", icon="CANCEL")
        if settings.status:
            col.label(text=settings.status)


class KINMO_PT_interactions(_SidebarPanel, bpy.types.Panel):
    """The fifteen interaction descriptions from Expand (pairs of body parts), editable."""

    bl_idname = "KINMO_PT_interactions"
    bl_label = "Interactions"
    bl_parent_id = "KINMO_PT_generate"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context):
        """Only once Expand has written descriptions."""
        return len(context.scene.kinmo.descriptions) > 0

    def draw(self, context):
        """Draw one text field per pair of body parts."""
        settings = context.scene.kinmo
        col = self.layout.column()
        col.enabled = not descriptions_stale(settings)
        for item in settings.descriptions:
            if item.key in S.PAIRS:
                a, b = item.key.split("|")
                col.prop(item, "text", text=f"{S.GROUP_TITLES[a]} + {S.GROUP_TITLES[b]}")


class KINMO_PT_import(_SidebarPanel, bpy.types.Panel):
    """Import motion files and retarget them onto armatures."""

    bl_idname = "KINMO_PT_import"
    bl_label = "Import & Retarget"

    def draw(self, context):
        """Draw import, retarget and worker controls."""
        settings = context.scene.kinmo
        col = self.layout.column()
        col.operator("kinmo.import_motion", icon="IMPORT")
        col.operator("kinmo.build_armature", icon="ARMATURE_DATA")
        col.separator()
        col.prop(settings, "motion_path", text="")
        col.operator("kinmo.retarget", icon="CON_ARMATURE")
        col.prop(settings, "foot_cleanup")
        col.prop(settings, "assign")
        col.prop(settings, "set_frame_range")
        if settings.status:
            col.label(text=settings.status)
        client = backend.current_client()
        if client is not None and client.pending() and running_job(("kinmo.generate", "kinmo.expand")) is None:
            job = client.pending()[0]
            col.label(text=f"{job.method}: {100 * job.progress:.0f}% {job.message}")
            col.operator("kinmo.cancel", icon="CANCEL")


class KINMO_PT_bone_map(_SidebarPanel, bpy.types.Panel):
    """The selected armature's bone map, saved on the armature."""

    bl_idname = "KINMO_PT_bone_map"
    bl_label = "Bone Map"
    bl_parent_id = "KINMO_PT_import"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        """Draw the preset picker and the list."""
        obj = selected_armature(context)
        col = self.layout.column()
        if obj is None:
            col.label(text="Select an armature", icon="ERROR")
            return
        row = col.row(align=True)
        row.prop(context.scene.kinmo, "preset", text="")
        row.operator("kinmo.detect_bone_map", text="Detect")
        if len(obj.kinmo_bone_map):
            col.template_list("KINMO_UL_bone_map", "", obj, "kinmo_bone_map", obj, "kinmo_bone_map_index", rows=8)
        else:
            col.label(text="No map yet: Detect, or retarget to detect one")
        col.label(text=f"{len(bk.stored_bone_map(obj))}/22 joints mapped")


CLASSES = (KINMO_UL_bone_map, KINMO_PT_generate, KINMO_PT_interactions, KINMO_PT_import, KINMO_PT_bone_map)


# Blender's own helper: registers CLASSES in order, unregisters them in reverse.
register, unregister = bpy.utils.register_classes_factory(CLASSES)
