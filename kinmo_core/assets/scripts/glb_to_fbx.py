"""Convert a KinMo .glb to FBX with Blender's importer and exporter: `python glb_to_fbx.py IN.glb OUT.fbx`.

Run by `kinmo_core.motion.gltf.write_fbx` in a child process of a Python that has the `bpy` module (KinMo itself
never imports bpy). The take starts at time 0 and covers exactly the motion's frames at its frame rate, so Blender's FBX
importer (default settings) puts it at frames 1..T, and other tools at time 0.
"""

import json
import struct
import sys


def glb_frames(path: str) -> tuple[int, int]:
    """Return (frames, fps) stored in the .glb's asset extras by KinMo (fps 20 and frames 0 when absent)."""
    with open(path, "rb") as f:
        head = f.read(20)
        length = struct.unpack_from("<I", head, 12)[0]
        doc = json.loads(f.read(length))
    extras = doc.get("asset", {}).get("extras") or {}
    return int(extras.get("frames", 0)), int(extras.get("fps", 20))


def main(src: str, dst: str) -> int:
    """Import src, write dst; exit code 0 on success."""
    import bpy

    frames, fps = glb_frames(src)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0
    bpy.ops.import_scene.gltf(filepath=src)
    armatures = [o for o in scene.objects if o.type == "ARMATURE"]
    if len(armatures) != 1 or armatures[0].animation_data is None or armatures[0].animation_data.action is None:
        print("error: the .glb holds no animated armature", file=sys.stderr)
        return 1
    arm = armatures[0]
    action = arm.animation_data.action
    first, last = action.frame_range  # the importer keys glTF time 0 at frame 0
    count = frames or int(round(last - first)) + 1
    # The FBX exporter writes frame f at time f / fps and Blender's FBX importer adds one frame (its default
    # "Animation Offset"): baking frames 0..T-1 gives a take from time 0 that re-imports at frame 1.
    scene.frame_start, scene.frame_end = int(round(first)), int(round(first)) + count - 1
    for obj in scene.objects:  # the armature and its skinned body; not the importer's bone display shape
        obj.select_set(obj.type in ("ARMATURE", "MESH") and (obj == arm or obj.parent == arm))
    bpy.context.view_layer.objects.active = arm
    bpy.ops.export_scene.fbx(filepath=dst, use_selection=True, object_types={"ARMATURE", "MESH"},
                             add_leaf_bones=False, bake_anim=True, bake_anim_use_all_actions=False,
                             bake_anim_use_nla_strips=False, bake_anim_force_startend_keying=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
