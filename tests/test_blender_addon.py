"""The add-on inside a real Blender (`bpy==5.0.1`, background mode): operators, retargeting accuracy, baking, errors.

Directions are measured on the evaluated pose (scene.frame_set, pose-bone heads in world space) against the
source joints resampled to the scene's frame rate, in Blender's axes (z up, facing -y).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the add-on folder is not an installed package
sys.path.insert(0, str(Path(__file__).resolve().parent))
import addon_utils  # noqa: E402
from conftest import FIXTURES, bandai_files, requires_shared  # noqa: E402
from test_blender_math import MIXAMO_BONES, roll_axis  # noqa: E402

from blender_addon.core import quaternions as Q  # noqa: E402
from blender_addon.core import skeleton  # noqa: E402
from blender_addon.retarget.rig import AIM_CHAINS  # noqa: E402
from blender_addon.retarget.source import KINMO_TO_BLENDER, load_motion_npz, resample  # noqa: E402

pytestmark = pytest.mark.blender


@pytest.fixture
def scene():
    """An empty scene with the add-on enabled (as a legacy add-on from the checkout)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    mod = addon_utils.enable("blender_addon", default_set=True, handle_error=None)
    assert mod is not None
    yield bpy.context.scene
    addon_utils.disable("blender_addon", default_set=True)


def snapshot() -> tuple:
    """What an operator that fails must leave as it was."""
    return (
        sorted(o.name for o in bpy.data.objects),
        sorted(a.name for a in bpy.data.actions),
        sorted(a.name for a in bpy.data.armatures),
        sorted((o.name, o.animation_data.action.name if o.animation_data and o.animation_data.action else None,
                len(o.animation_data.nla_tracks) if o.animation_data else 0) for o in bpy.data.objects),
    )  # fmt: skip


def select_only(obj) -> None:
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj


def build_armature(name: str, bones, scale: float = 1.0, euler: bool = False):
    """An armature from (name, parent, head, tail) rows, rolls as in the math tests."""
    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    bpy.context.scene.collection.objects.link(obj)
    select_only(obj)
    bpy.ops.object.mode_set(mode="EDIT")
    for bname, _parent, head, tail in bones:
        eb = arm.edit_bones.new(bname)
        eb.head, eb.tail = head, tail
        eb.align_roll(tuple(roll_axis(head, tail)))
    for bname, parent, _h, _t in bones:
        if parent:
            arm.edit_bones[bname].parent = arm.edit_bones[parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    obj.scale = (scale, scale, scale)
    if euler:
        for pb in obj.pose.bones:
            pb.rotation_mode = "XYZ"
    return obj


def measured_errors(obj, motion_file: Path, frames: int | None = None) -> dict[str, float]:
    """Largest angle per mapped joint between the rig's posed bone direction and the source's, over the frames."""
    scene = bpy.context.scene
    fps = scene.render.fps / scene.render.fps_base
    source = load_motion_npz(str(motion_file))
    joints, _, _ = resample(source, fps)
    bone_map = {item.joint: item.bone for item in obj.kinmo_bone_map if item.bone}
    n = len(joints) if frames is None else frames
    errors: dict[str, float] = {}
    depsgraph = bpy.context.evaluated_depsgraph_get()
    for i in range(n):
        scene.frame_set(scene.frame_start + i)
        ev = obj.evaluated_get(depsgraph)
        world = np.array([tuple(r) for r in ev.matrix_world])
        heads = {j: (world @ np.append(np.array(tuple(ev.pose.bones[b].head)), 1.0))[:3] for j, b in bone_map.items()}
        for joint in bone_map:
            aim = next((a for a in AIM_CHAINS.get(joint, ()) if a in bone_map), None)
            if aim is None:
                continue
            d_src = KINMO_TO_BLENDER @ (joints[i, skeleton.JOINT_INDEX[aim]] - joints[i, skeleton.JOINT_INDEX[joint]])
            err = float(Q.angle_between(heads[aim] - heads[joint], d_src))
            errors[joint] = max(errors.get(joint, 0.0), err)
    return errors


# ------------------------------------------------------------------------------------------------ accuracy


def test_import_onto_default_smpl_rig_within_2_degrees(scene, motion_path):
    scene.render.fps = 30  # the scene's rate is respected: keys are resampled, the rate is never changed
    result = bpy.ops.kinmo.import_motion(filepath=str(motion_path))
    assert result == {"FINISHED"}
    assert scene.render.fps == 30 and scene.render.fps_base == 1.0
    obj = bpy.data.objects["KinMo SMPL-22"]
    assert sorted(b.name for b in obj.data.bones) == sorted(skeleton.JOINT_NAMES)
    action = obj.animation_data.action
    assert action.name.startswith("KinMo a person walks forward")
    assert obj.animation_data.action_slot == action.slots[0]
    channelbag = action.layers[0].strips[0].channelbag(action.slots[0])
    assert len(channelbag.fcurves) == 22 * 4 + 3
    frames = 1 + int((load_motion_npz(str(motion_path)).joints.shape[0] - 1) * 30 / 20 + 1e-6)
    assert all(len(fc.keyframe_points) == frames for fc in channelbag.fcurves)
    errors = measured_errors(obj, motion_path)
    assert len(errors) == 17 and max(errors.values()) < 2.0, errors
    # Root motion: the pelvis travels as the source's root does (same leg length, so about the same distance).
    src = load_motion_npz(str(motion_path)).joints[:, 0]
    scene.frame_set(scene.frame_start)
    start = np.array(obj.matrix_world @ obj.pose.bones["pelvis"].head)
    scene.frame_set(scene.frame_start + frames - 1)
    end = np.array(obj.matrix_world @ obj.pose.bones["pelvis"].head)
    travel_src = np.linalg.norm((src[-1] - src[0])[[0, 2]])
    assert np.linalg.norm((end - start)[:2]) == pytest.approx(travel_src, rel=0.05)
    assert action["kinmo_foot_skate_m_per_s"] >= 0 and action["kinmo_mapped_bones"] == 22
    print(f"\ndefault rig: max direction error {max(errors.values()):.4f} deg, foot skate "
          f"{100 * action['kinmo_foot_skate_m_per_s']:.2f} cm/s (source "
          f"{100 * action['kinmo_source_foot_skate_m_per_s']:.2f})")  # fmt: skip


def test_mixamo_a_pose_rig_within_5_degrees(scene, motion_path):
    obj = build_armature("Mixamo", MIXAMO_BONES, scale=0.01, euler=True)
    obj.pose.bones["mixamorig:Hips"].rotation_mode = "QUATERNION"
    select_only(obj)
    assert bpy.ops.kinmo.retarget(filepath=str(motion_path)) == {"FINISHED"}
    stored = {item.joint: item.bone for item in obj.kinmo_bone_map if item.bone}
    assert stored["left_shoulder"] == "mixamorig:LeftArm" and len(stored) == 22
    errors = measured_errors(obj, motion_path)
    assert max(errors.values()) < 5.0, errors
    action = obj.animation_data.action
    paths = {fc.data_path for fc in action.layers[0].strips[0].channelbag(action.slots[0]).fcurves}
    assert 'pose.bones["mixamorig:LeftArm"].rotation_euler' in paths  # the rig's own rotation mode is kept
    assert 'pose.bones["mixamorig:Hips"].rotation_quaternion' in paths
    print(f"\nmixamo A-pose rig: max direction error {max(errors.values()):.4f} deg, foot skate "
          f"{100 * action['kinmo_foot_skate_m_per_s']:.2f} cm/s")  # fmt: skip


@requires_shared
def test_bandai_bvh_rig_within_5_degrees(scene, motion_path):
    bvh = next(p for p in bandai_files() if "walk" in p.name)
    bpy.ops.import_anim.bvh(filepath=str(bvh))
    obj = bpy.context.object
    users_action = obj.animation_data.action
    scene.kinmo.assign = "ACTIVE"
    select_only(obj)
    assert bpy.ops.kinmo.retarget(filepath=str(motion_path)) == {"FINISHED"}
    stored = {item.joint: item.bone for item in obj.kinmo_bone_map if item.bone}
    assert stored["pelvis"] == "Hips" and stored["spine3"] == "Chest" and "spine2" not in stored
    assert obj.animation_data.action is not users_action and users_action.name in bpy.data.actions
    errors = measured_errors(obj, motion_path)
    assert max(errors.values()) < 5.0, errors
    action = obj.animation_data.action
    print(f"\nBandai BVH rig ({bvh.name}): max direction error {max(errors.values()):.4f} deg, foot skate "
          f"{100 * action['kinmo_foot_skate_m_per_s']:.2f} cm/s")  # fmt: skip


def test_foot_cleanup_option_reports_less_skate_on_a_mixamo_rig(scene, motion_path):
    obj = build_armature("Mixamo", MIXAMO_BONES, scale=0.01)
    select_only(obj)
    assert bpy.ops.kinmo.retarget(filepath=str(motion_path)) == {"FINISHED"}
    plain = obj.animation_data.action["kinmo_foot_skate_m_per_s"]
    scene.kinmo.foot_cleanup = True
    scene.kinmo.assign = "ACTIVE"
    assert bpy.ops.kinmo.retarget(filepath=str(motion_path)) == {"FINISHED"}
    clean = obj.animation_data.action["kinmo_foot_skate_m_per_s"]
    assert clean < plain
    print(f"\nmixamo foot skate: {100 * plain:.2f} cm/s plain, {100 * clean:.2f} cm/s with cleanup")


# ------------------------------------------------------------------------------------------------ baking


def test_existing_action_and_keys_are_left_alone(scene, motion_path):
    assert bpy.ops.kinmo.build_armature() == {"FINISHED"}
    obj = scene.kinmo.target_armature
    pb = obj.pose.bones["left_elbow"]
    pb.rotation_quaternion = (0.9, 0.4, 0.0, 0.0)
    pb.keyframe_insert("rotation_quaternion", frame=5)
    users = obj.animation_data.action
    before = [tuple(k.co) for fc in users.layers[0].strips[0].channelbags[0].fcurves for k in fc.keyframe_points]
    assert bpy.ops.kinmo.import_motion(filepath=str(motion_path)) == {"FINISHED"}
    new = obj.animation_data.action  # the new motion plays at once, as a version under review
    assert new is not users and new.name.startswith("KinMo a person walks forward")
    assert obj.animation_data.action_slot == new.slots[0] and users.use_fake_user
    after = [tuple(k.co) for fc in users.layers[0].strips[0].channelbags[0].fcurves for k in fc.keyframe_points]
    assert after == before
    scene.kinmo.assign = "NLA"  # the NLA choice still adds a track
    assert bpy.ops.kinmo.import_motion(filepath=str(motion_path)) == {"FINISHED"}
    track = obj.animation_data.nla_tracks[-1]
    assert track.strips[0].action is not new and track.strips[0].action_slot == track.strips[0].action.slots[0]


def test_operators_are_undoable():
    from blender_addon import operators

    for cls in (operators.KINMO_OT_import_motion, operators.KINMO_OT_retarget, operators.KINMO_OT_build_armature,
                operators.KINMO_OT_detect_bone_map):  # fmt: skip
        assert {"REGISTER", "UNDO"} <= set(cls.bl_options), cls.__name__


def test_detect_bone_map_with_a_preset(scene):
    obj = build_armature("Mixamo", MIXAMO_BONES)
    select_only(obj)
    scene.kinmo.preset = "MIXAMO"
    assert bpy.ops.kinmo.detect_bone_map() == {"FINISHED"}
    assert len(obj.kinmo_bone_map) == 22 and obj.kinmo_bone_map[0].bone == "mixamorig:Hips"
    scene.kinmo.preset = "RIGIFY"
    with pytest.raises(RuntimeError, match="no bone of 'Mixamo' matches RIGIFY"):
        bpy.ops.kinmo.detect_bone_map()
    assert obj.kinmo_bone_map[0].bone == "mixamorig:Hips"  # the saved map is kept on failure


def test_import_npy_through_the_worker(scene):
    prefs = bpy.context.preferences.addons["blender_addon"].preferences
    prefs.python_path = sys.executable
    try:
        assert bpy.ops.kinmo.import_motion(filepath=str(FIXTURES / "012314_new_joints.npy")) == {"FINISHED"}
    finally:
        from blender_addon import backend

        backend.shutdown()
    obj = bpy.data.objects["KinMo SMPL-22"]
    assert obj.animation_data.action is not None
    assert Path(scene.kinmo.motion_path).suffix == ".npz" and Path(scene.kinmo.motion_path).is_file()


# ------------------------------------------------------------------------------------------------ bad input


def test_retarget_without_a_selected_armature(scene, motion_path):
    build_armature("Mixamo", MIXAMO_BONES)
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    bpy.context.view_layer.objects.active = None
    before = snapshot()
    with pytest.raises(RuntimeError, match="select an armature"):
        bpy.ops.kinmo.retarget(filepath=str(motion_path))
    assert snapshot() == before


def test_rig_with_no_mappable_bones(scene, motion_path):
    obj = build_armature("Prop", [("a", None, (0, 0, 0), (0, 0, 1)), ("b", "a", (0, 0, 1), (0, 0, 2))])
    select_only(obj)
    before = snapshot()
    with pytest.raises(RuntimeError, match="no bone of 'Prop' maps to a SMPL-22 joint"):
        bpy.ops.kinmo.retarget(filepath=str(motion_path))
    assert snapshot() == before and len(obj.kinmo_bone_map) == 0


def test_motion_file_of_the_wrong_shape(scene, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, joints=np.zeros((10, 21, 3)), rotations=np.zeros((10, 21, 4)))
    before = snapshot()
    with pytest.raises(RuntimeError, match=r"joints must have shape \(T, 22, 3\)"):
        bpy.ops.kinmo.import_motion(filepath=str(bad))
    assert snapshot() == before
    with pytest.raises(RuntimeError, match="not found"):
        bpy.ops.kinmo.import_motion(filepath=str(tmp_path / "missing.npz"))
    with pytest.raises(RuntimeError, match="unsupported motion file type"):
        bpy.ops.kinmo.import_motion(filepath=str(FIXTURES / "README.md"))
    assert snapshot() == before


def test_missing_or_broken_worker_environment(scene, tmp_path):
    prefs = bpy.context.preferences.addons["blender_addon"].preferences
    npy = str(FIXTURES / "012314_new_joints.npy")
    before = snapshot()
    prefs.python_path = str(tmp_path / "no" / "python")
    with pytest.raises(RuntimeError, match="KinMo worker: the KinMo Python .* does not exist"):
        bpy.ops.kinmo.import_motion(filepath=npy)
    # An executable that is no KinMo Python: the worker never says it is ready.
    prefs.python_path = "/bin/false"
    with pytest.raises(RuntimeError, match="KinMo worker: the KinMo worker did not start"):
        bpy.ops.kinmo.import_motion(filepath=npy)
    with pytest.raises(RuntimeError, match="KinMo worker"):
        bpy.ops.kinmo.check_worker()
    assert snapshot() == before
    from blender_addon import backend

    backend.shutdown()


def test_no_motion_loaded_yet(scene):
    obj = build_armature("Mixamo", MIXAMO_BONES)
    select_only(obj)
    with pytest.raises(RuntimeError, match="choose a motion file"):
        bpy.ops.kinmo.retarget()


# ------------------------------------------------------------------------------------------------ packaging


def test_addon_zip_is_a_valid_extension_and_installs(tmp_path):
    from blender_addon import build

    zip_path = build.build(tmp_path)
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
    assert "kinmo/__init__.py" in names and "kinmo/blender_manifest.toml" in names
    assert not any("__pycache__" in n or n.endswith("build.py") for n in names)
    manifest = tomllib.loads((ROOT / "blender_addon" / "blender_manifest.toml").read_text())
    assert manifest["id"] == "kinmo" and manifest["blender_version_min"] == "4.2.0" and manifest["license"]
    assert manifest["permissions"]["files"]
    # Blender's own extension validator (shipped with bpy), strict mode.
    cli = Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core" / "bl_pkg" / "cli"
    sys.path.insert(0, str(cli))
    try:
        import blender_ext
    finally:
        sys.path.remove(str(cli))
    checked = blender_ext.pkg_manifest_from_archive_and_validate(str(zip_path), strict=True)
    assert not isinstance(checked, str), checked
    # Installed as an extension in a fresh Blender with its own user folder, it registers its operators.
    script = (
        "import sys, bpy\n"
        "bpy.ops.wm.read_factory_settings(use_empty=True)\n"
        "bpy.ops.extensions.package_install_files(filepath=sys.argv[1], repo='user_default', enable_on_install=True)\n"
        "assert 'bl_ext.user_default.kinmo' in bpy.context.preferences.addons\n"
        "assert bpy.ops.kinmo.build_armature() == {'FINISHED'}\n"
        "print('installed ok')\n"
    )
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "user")}
    run = subprocess.run([sys.executable, "-c", script, str(zip_path)], capture_output=True, text=True, env=env,
                         timeout=120)  # fmt: skip
    assert "installed ok" in run.stdout, run.stdout + run.stderr
    assert build.build(tmp_path / "again").read_bytes() == zip_path.read_bytes()  # reproducible builds
    with pytest.raises(FileExistsError):
        build.build(tmp_path)


def test_legacy_bl_info():
    import blender_addon

    assert blender_addon.bl_info["name"] == "KinMo" and blender_addon.bl_info["blender"] >= (4, 2, 0)
