"""Retargeting onto the rigs animators use (bpy 5.0.1): detection, accuracy, warnings, FK switches, frame range.

Every rig is built in the test (tests/rig_zoo.py; Rigify's through its bundled add-on, generated once per module).
The motion: synthetic motion 241 (seed 0), a walk of 2.9 m stepping over an obstacle while the left hand waves
(its wrist rises 0.75 m) and the right arm swings. Measured, on the bones that deform (a generated Rigify rig's
DEF bones): the pelvis travels the source's distance (scaled by leg length) within 5%, the left hand's height
follows the source's (correlation > 0.9), and every mapped bone points within 5 degrees of the source's bone.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import addon_utils  # noqa: E402
import rig_zoo  # noqa: E402
from test_blender_addon import build_armature, select_only  # noqa: E402

from blender_addon.core import bonenames  # noqa: E402
from blender_addon.core import quaternions as Q  # noqa: E402
from blender_addon.core import skeleton as S  # noqa: E402
from blender_addon.retarget.rig import AIM_CHAINS  # noqa: E402
from blender_addon.retarget.source import KINMO_TO_BLENDER  # noqa: E402

pytestmark = pytest.mark.blender
ZOO = rig_zoo.rigs()
RIGIFY_DEF = {j: names[0] for j, names in bonenames.PRESETS["rigify"].items()}


@pytest.fixture(scope="module")
def motion(tmp_path_factory):
    """(path of the .npz, joints (T, 22, 3) in KinMo axes at 20 fps)."""
    from kinmo_core.data.synth import synthesize
    from kinmo_core.motion.file import Motion

    m = Motion.from_joints(synthesize(0, 241).joints, text="a guy walks and steps over an object while waving")
    return m.save(tmp_path_factory.mktemp("motion") / "wave_walk.npz"), m.joints.astype(np.float64)


@pytest.fixture(scope="module")
def rigify_file(tmp_path_factory) -> Path:
    """A generated Rigify rig (metarig without face and fingers), saved once for the module."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    rig_zoo.build_rigify(bpy, generate=True)
    path = tmp_path_factory.mktemp("rigify") / "rigify.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    return path


@pytest.fixture
def scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert addon_utils.enable("blender_addon", default_set=True, handle_error=None) is not None
    bpy.context.scene.render.fps = 20  # one key per source frame, so frames compare one to one
    yield bpy.context.scene
    addon_utils.disable("blender_addon", default_set=True)


def _build(kind: str, rigify_file: Path):
    """The armature of a rig kind, selected; and the map (joint -> bone) it should be keyed on."""
    if kind == "rigify":
        with bpy.data.libraries.load(str(rigify_file)) as (src, dst):
            dst.objects = [n for n in src.objects if n == "rig"]
        obj = dst.objects[0]
        bpy.context.scene.collection.objects.link(obj)
        expected = rig_zoo.RIGIFY_CONTROLS_EXPECTED
    elif kind == "rigify_metarig":
        obj = rig_zoo.build_rigify(bpy, generate=False)
        expected = rig_zoo.RIGIFY_METARIG_EXPECTED
    else:
        bones, scale, expected = ZOO[kind]
        obj = build_armature(kind, bones, scale=scale)
    select_only(obj)
    return obj, expected


def _heads(obj, bones: dict[str, str], frames: range) -> dict[str, np.ndarray]:
    """World positions (F, 3) of the posed heads of {joint: bone}."""
    scene = bpy.context.scene
    out = {j: np.empty((len(frames), 3)) for j in bones}
    for k, f in enumerate(frames):
        scene.frame_set(scene.frame_start + f)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        ev = obj.evaluated_get(depsgraph)
        world = np.array([tuple(r) for r in ev.matrix_world])
        for j, b in bones.items():
            out[j][k] = (world @ np.append(np.array(tuple(ev.pose.bones[b].head)), 1.0))[:3]
    return out


def _rest_leg(obj, bones: dict[str, str]) -> float:
    scale = float(np.mean(tuple(obj.matrix_world.to_scale())))
    h = {j: np.array(tuple(obj.data.bones[bones[j]].head_local)) for j in ("left_hip", "left_knee", "left_ankle")}
    return scale * (np.linalg.norm(h["left_knee"] - h["left_hip"]) + np.linalg.norm(h["left_ankle"] - h["left_knee"]))


def _path(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(points[::4, :2], axis=0), axis=1).sum())


@pytest.mark.parametrize("kind", ["rigify_metarig", "rigify", *ZOO])
def test_rig_is_detected_and_follows_the_motion(kind, rigify_file, scene, motion):
    path, joints = motion
    obj, expected = _build(kind, rigify_file)
    assert bpy.ops.kinmo.retarget(filepath=str(path)) == {"FINISHED"}
    bone_map = {item.joint: item.bone for item in obj.kinmo_bone_map if item.bone}
    assert bone_map == expected
    action = obj.animation_data.action
    assert not action.get("kinmo_warnings"), action.get("kinmo_warnings")
    assert scene.kinmo.status.startswith("KinMo: ")
    frames = range(len(joints))
    assert (scene.frame_start, scene.frame_end) == (1, len(joints))  # the frame range follows the new motion

    # Measured on the bones that deform: a generated Rigify rig's DEF bones follow its controls.
    measure = {j: RIGIFY_DEF[j] for j in expected} if kind == "rigify" else expected
    if kind == "rigify":
        assert all(obj.pose.bones[p]["IK_FK"] == 1.0 for p in ("thigh_parent.L", "upper_arm_parent.R"))
        assert obj.pose.bones["torso"]["neck_follow"] == obj.pose.bones["torso"]["head_follow"] == 1.0
        assert "6 IK/FK switch(es) and follow slider(s) set to FK" in scene.kinmo.status
    heads = _heads(obj, measure, frames)
    src = {j: joints[:, S.JOINT_INDEX[j]] @ KINMO_TO_BLENDER.T for j in measure}
    src_leg = sum(np.linalg.norm(joints[0, S.JOINT_INDEX[a]] - joints[0, S.JOINT_INDEX[b]])
                  for a, b in (("left_hip", "left_knee"), ("left_knee", "left_ankle")))  # fmt: skip
    scale = _rest_leg(obj, measure) / src_leg
    travel = _path(heads["pelvis"]) / (scale * _path(src["pelvis"]))
    assert abs(travel - 1.0) < 0.05, f"pelvis travels {travel:.3f} x the source's distance"
    hand = np.corrcoef(heads["left_wrist"][:, 2], src["left_wrist"][:, 2])[0, 1]
    rise = np.ptp(heads["left_wrist"][:, 2]) / (scale * np.ptp(src["left_wrist"][:, 2]))
    assert hand > 0.9 and rise > 0.7, f"left hand height: correlation {hand:.3f}, rise {rise:.2f} x the source's"
    worst = {}
    for joint in measure:
        aim = next((a for a in AIM_CHAINS.get(joint, ()) if a in measure), None)
        if aim is not None:
            angles = Q.angle_between(heads[aim] - heads[joint], src[aim] - src[joint])
            worst[joint] = float(np.max(angles))
    print(f"\nRIG {kind}: {len(bone_map)}/22 mapped, pelvis travel x{travel:.3f}, left hand height correlation "
          f"{hand:.3f} (rise x{rise:.2f}), worst bone direction {max(worst.values()):.2f} deg")
    bad = {j: round(a, 1) for j, a in worst.items() if a > 5.0}
    assert not bad, f"bone directions off by more than 5 degrees: {bad}"


def test_unmapped_pelvis_limb_and_driven_bones_are_warnings(scene, motion):
    path, _ = motion
    bones, scale, _ = ZOO["names_Left"]
    # No pelvis name, no left arm, and the right leg's bones copy another bone's rotation (keys do nothing).
    renamed = {"Hips": "Bone", "LeftArm": "Bone.001", "LeftForeArm": "Bone.002", "LeftHand": "Bone.003"}
    rows = [(renamed.get(n, n), renamed.get(p, p), h, t) for n, p, h, t in bones]
    obj = build_armature("Odd", rows, scale=scale)
    for name in ("RightUpLeg", "RightLeg"):
        c = obj.pose.bones[name].constraints.new("COPY_ROTATION")
        c.target, c.subtarget = obj, "Spine"
    select_only(obj)
    assert bpy.ops.kinmo.retarget(filepath=str(path)) == {"FINISHED"}
    status = scene.kinmo.status
    assert status.startswith("KinMo WARNING: ") and "success" not in status.lower()
    assert "the pelvis is not mapped" in status and "left arm" in status
    assert "2 mapped bone(s) are driven by constraints" in status and "RightUpLeg (constraint copy rotation)" in status
    assert obj.animation_data.action["kinmo_warnings"]


def test_frame_range_toggle(scene, motion):
    path, joints = motion
    bones, scale, _ = ZOO["ue5"]
    obj = build_armature("UE", bones, scale=scale)
    select_only(obj)
    scene.kinmo.set_frame_range = False
    scene.frame_end = 77
    assert bpy.ops.kinmo.retarget(filepath=str(path)) == {"FINISHED"}
    assert scene.frame_end == 77
    scene.kinmo.set_frame_range = True
    scene.frame_start = 10
    assert bpy.ops.kinmo.retarget(filepath=str(path)) == {"FINISHED"}
    assert (scene.frame_start, scene.frame_end) == (10, 10 + len(joints) - 1)


def test_visual_keys_checked_frame_by_frame_when_helpers_do_not_follow_rigidly(rigify_file, scene, motion,
                                                                               monkeypatch, tmp_path):
    from blender_addon import rig_checks
    from kinmo_core.motion.file import Motion

    _, joints = motion
    short = Motion.from_joints(joints[:21].astype(np.float32)).save(tmp_path / "short.npz")
    keys = {}
    for slow in (False, True):
        if slow:  # as if the check on three frames had failed: every frame is posed through Blender
            monkeypatch.setattr(rig_checks, "_check_frame", lambda *a, **k: False)
        obj, _ = _build("rigify", rigify_file)
        assert bpy.ops.kinmo.retarget(filepath=str(short)) == {"FINISHED"}
        bag = obj.animation_data.action.layers[0].strips[0].channelbags[0]
        keys[slow] = {(fc.data_path, fc.array_index): [k.co[1] for k in fc.keyframe_points] for fc in bag.fcurves}
        bpy.data.objects.remove(obj)
    assert keys[False].keys() == keys[True].keys()
    worst = max(np.abs(np.array(keys[False][k]) - np.array(keys[True][k])).max() for k in keys[False])
    assert worst < 1e-3
