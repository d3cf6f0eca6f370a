"""The add-on's bpy-free retargeting math (blender_addon/retarget/): runs without Blender."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

# The add-on folder is not an installed package: make the checkout importable under plain `pytest` too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from blender_addon.core import CORE_MODULES, bonenames, skeleton  # noqa: E402
from blender_addon.core import quaternions as Q  # noqa: E402
from blender_addon.retarget.bone_map import auto_bone_map, validate_bone_map  # noqa: E402
from blender_addon.retarget.metrics import direction_errors  # noqa: E402
from blender_addon.retarget.rig import (  # noqa: E402
    RigSpec,
    bone_matrix,
    forward_kinematics_positions,
    global_from_local,
    smpl_armature_layout,
)
from blender_addon.retarget.solve import facing_basis, retarget  # noqa: E402
from blender_addon.retarget.source import (  # noqa: E402
    KINMO_TO_BLENDER,
    MotionFileError,
    SourceMotion,
    default_offsets,
    load_motion_npz,
    motion_from_fields,
)

# ------------------------------------------------------------------------------------------- rigs used by the tests

MIXAMO_BONES = [
    # name, parent, head (cm, Blender axes: z up, facing -y, left +x), tail
    ("mixamorig:Hips", None, (0, 0, 100), (0, 0, 110)),
    ("mixamorig:Spine", "mixamorig:Hips", (0, 0, 110), (0, 0, 122)),
    ("mixamorig:Spine1", "mixamorig:Spine", (0, 0, 122), (0, 0, 134)),
    ("mixamorig:Spine2", "mixamorig:Spine1", (0, 0, 134), (0, 0, 148)),
    ("mixamorig:Neck", "mixamorig:Spine2", (0, 0, 148), (0, -1, 158)),
    ("mixamorig:Head", "mixamorig:Neck", (0, -1, 158), (0, -1, 175)),
    ("mixamorig:HeadTop_End", "mixamorig:Head", (0, -1, 175), (0, -1, 185)),
]
for _s, _x in (("Left", 1.0), ("Right", -1.0)):
    _c = 0.7071
    MIXAMO_BONES += [
        (f"mixamorig:{_s}Shoulder", "mixamorig:Spine2", (_x * 3, 0, 144), (_x * 15, 0, 144)),
        # A-pose: upper arms and forearms 45 degrees below horizontal.
        (f"mixamorig:{_s}Arm", f"mixamorig:{_s}Shoulder", (_x * 15, 0, 144),
         (_x * (15 + 28 * _c), 0, 144 - 28 * _c)),
        (f"mixamorig:{_s}ForeArm", f"mixamorig:{_s}Arm", (_x * (15 + 28 * _c), 0, 144 - 28 * _c),
         (_x * (15 + 53 * _c), 0, 144 - 53 * _c)),
        (f"mixamorig:{_s}Hand", f"mixamorig:{_s}ForeArm", (_x * (15 + 53 * _c), 0, 144 - 53 * _c),
         (_x * (15 + 61 * _c), 0, 144 - 61 * _c)),
        (f"mixamorig:{_s}HandIndex1", f"mixamorig:{_s}Hand", (_x * (15 + 61 * _c), 0, 144 - 61 * _c),
         (_x * (15 + 64 * _c), 0, 144 - 64 * _c)),
        (f"mixamorig:{_s}UpLeg", "mixamorig:Hips", (_x * 10, 0, 96), (_x * 10, 1, 52)),
        (f"mixamorig:{_s}Leg", f"mixamorig:{_s}UpLeg", (_x * 10, 1, 52), (_x * 10, 3, 9)),
        (f"mixamorig:{_s}Foot", f"mixamorig:{_s}Leg", (_x * 10, 3, 9), (_x * 10, -10, 2)),
        (f"mixamorig:{_s}ToeBase", f"mixamorig:{_s}Foot", (_x * 10, -10, 2), (_x * 10, -17, 2)),
        (f"mixamorig:{_s}Toe_End", f"mixamorig:{_s}ToeBase", (_x * 10, -17, 2), (_x * 10, -20, 2)),
    ]  # fmt: skip


def roll_axis(head, tail) -> np.ndarray:
    """Roll for test rigs: local z forward (-y), or up for bones that point forward."""
    d = np.asarray(tail, float) - np.asarray(head, float)
    return np.array([0.0, 0.0, 1.0]) if abs(d[1]) > 0.7 * np.linalg.norm(d) else np.array([0.0, -1.0, 0.0])


def spec_from_bones(bones) -> RigSpec:
    """A RigSpec from (name, parent, head, tail) rows, with rest rotations as Blender would make them."""
    rots = [Q.matrix_to_quat(bone_matrix(np.array(h, float), np.array(t, float), roll_axis(h, t)))
            for _, _, h, t in bones]  # fmt: skip
    return RigSpec.from_unordered([b[0] for b in bones], [b[1] for b in bones], [b[2] for b in bones], rots)


def smpl_spec() -> RigSpec:
    """The default SMPL-22 armature's rest as a RigSpec."""
    heads, tails, roll = smpl_armature_layout()
    rots = Q.matrix_to_quat(np.stack([bone_matrix(heads[j], tails[j], roll[j]) for j in range(22)]))
    parents = [skeleton.JOINT_NAMES[p] if p >= 0 else None for p in skeleton.PARENTS]
    return RigSpec.from_unordered(list(skeleton.JOINT_NAMES), parents, heads, rots)


def synthetic_motion(frames: int = 60, seed: int = 0) -> SourceMotion:
    """A smooth random motion on KinMo's skeleton, joints by forward kinematics of its rotations."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, frames)[:, None]
    axes = rng.normal(size=(22, 3))
    phases = rng.uniform(0, 2 * np.pi, size=22)
    angles = 0.6 * np.sin(2 * np.pi * t + phases)
    local = Q.quat_from_axis_angle(np.broadcast_to(axes, (frames, 22, 3)), angles)
    root = np.concatenate((0.3 * t, 0.9 + 0.05 * np.sin(6 * t), 1.2 * t), axis=1)
    offsets = default_offsets()
    joints = forward_kinematics_positions(local, root, offsets)
    return SourceMotion(joints, local, offsets)


# ------------------------------------------------------------------------------------------------------- tests


def test_the_addon_uses_kinmo_cores_own_modules_from_a_checkout():
    from blender_addon import core
    from kinmo_core.motion import bonenames as kinmo_bonenames
    from kinmo_core.motion import contacts, kinematic, quaternions
    from kinmo_core.motion import skeleton as kinmo_skeleton

    assert core.skeleton is kinmo_skeleton and core.kinematic is kinematic and core.quaternions is quaternions
    assert core.bonenames is kinmo_bonenames and core.contacts is contacts
    np.testing.assert_array_equal(default_offsets(), skeleton.TARGET_OFFSETS)


def test_addon_imports_no_torch_and_only_the_numpy_core_of_kinmo_core():
    import ast

    allowed = {f"kinmo_core.motion.{m}" for m in CORE_MODULES} | {"kinmo_core.motion"}
    for path in (Path(__file__).resolve().parents[1] / "blender_addon").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            else:
                continue
            assert not any(m.split(".")[0] in ("torch", "scipy") for m in mods), (path.name, mods)
            assert all(m in allowed for m in mods if m.startswith("kinmo_core")), (path.name, mods)


def test_quaternion_helpers_roundtrip():
    rng = np.random.default_rng(1)
    q = Q.qnormalize(rng.normal(size=(100, 4)))
    m = Q.quat_to_matrix(q)
    q2 = Q.matrix_to_quat(m)
    assert np.allclose(np.abs(np.sum(q * q2, axis=-1)), 1.0)
    v = rng.normal(size=(100, 3))
    assert np.allclose(Q.qrot(q, v), np.einsum("nij,nj->ni", m, v))
    u, w = rng.normal(size=(100, 3)), rng.normal(size=(100, 3))
    u[0], w[0] = [1, 0, 0], [-1, 0, 0]  # opposite directions
    assert Q.angle_between(Q.qrot(Q.qbetween(u, w), u), w).max() < 1e-5
    half = Q.qslerp(q[:1], q[1:2], np.array([0.5]))
    assert np.isclose(Q.angle_between(Q.qrot(half, v[:1]), Q.qrot(half, v[:1])), 0).all()
    assert np.allclose(Q.qslerp(q[:5], q[5:10], np.zeros(5)), q[:5] * np.sign(q[:5, :1] * 0 + 1))


def test_default_rig_directions_match_source_exactly():
    motion = synthetic_motion()
    rig = smpl_spec()
    bone_map, how = auto_bone_map(rig)
    assert how == "SMPL" and len(bone_map) == 22
    basis = facing_basis(rig, bone_map)
    np.testing.assert_allclose(basis, KINMO_TO_BLENDER, atol=1e-9)
    res = retarget(motion, rig, bone_map, basis, fps=20)
    errors = direction_errors(rig, bone_map, res.heads, res.source_joints, basis)
    assert len(errors) == 17 and max(errors.values()) < 0.1
    # Local rotations reproduce the global pose the solver aimed for.
    local = np.stack([res.rotations[n] for n in rig.names], axis=1)
    assert np.allclose(np.abs(np.sum(global_from_local(rig, local) * res.global_rotations, -1)), 1, atol=1e-9)
    # The root follows the source root (same leg length: scale 1), starting at the rig's rest pelvis.
    assert res.scale == pytest.approx(1.0, abs=0.02)
    pelvis = res.heads[:, rig.index["pelvis"]]
    src = (basis @ (motion.joints[:, 0] - motion.joints[0, 0]).T).T
    assert np.allclose(pelvis[:, :2] - pelvis[0, :2], src[:, :2], atol=1e-6)


def test_mixamo_a_pose_rig_directions_and_scaling():
    motion = synthetic_motion(seed=3)
    rig = spec_from_bones(MIXAMO_BONES)
    bone_map, how = auto_bone_map(rig)
    assert how == "MIXAMO" and len(bone_map) == 22
    basis = facing_basis(rig, bone_map)
    res = retarget(motion, rig, bone_map, basis, fps=30)
    assert res.frames == 1 + int((motion.joints.shape[0] - 1) * 30 / 20)
    errors = direction_errors(rig, bone_map, res.heads, res.source_joints, basis)
    assert max(errors.values()) < 0.5, errors
    assert 90 < res.scale < 110  # a rig in centimetres: legs about 100x the source's metres


def test_rig_facing_plus_y_turns_the_motion():
    rig = smpl_spec()
    turned = RigSpec(
        rig.names, rig.parents, rig.rest_heads * np.array([-1, -1, 1]),
        Q.qmul(np.array([0.0, 0.0, 0.0, 1.0]), rig.rest_rotations),
    )  # fmt: skip
    basis = facing_basis(turned, {n: n for n in skeleton.JOINT_NAMES})
    # KinMo forward (+z) must land on +y, the turned rig's front.
    np.testing.assert_allclose(basis @ [0, 0, 1], [0, 1, 0], atol=1e-9)


def test_name_detection_without_a_preset():
    names = {
        "Hips": None, "Spine_01": "Hips", "Spine_02": "Spine_01", "Spine_03": "Spine_02", "neck_01": "Spine_03",
        "head": "neck_01", "clavicle_l": "Spine_03", "upperarm_l": "clavicle_l", "lowerarm_l": "upperarm_l",
        "hand_l": "lowerarm_l", "clavicle_r": "Spine_03", "upperarm_r": "clavicle_r", "lowerarm_r": "upperarm_r",
        "hand_r": "lowerarm_r", "thigh_l": "Hips", "calf_l": "thigh_l", "foot_l": "calf_l", "ball_l": "foot_l",
        "thigh_r": "Hips", "calf_r": "thigh_r", "foot_r": "calf_r", "ball_r": "foot_r",
    }  # fmt: skip
    n = len(names)
    identity = np.tile([1.0, 0, 0, 0], (n, 1))
    rig = RigSpec.from_unordered(list(names), list(names.values()), np.zeros((n, 3)), identity)
    bone_map, how = auto_bone_map(rig)
    assert how == "names"
    assert bone_map == {
        "pelvis": "Hips", "spine1": "Spine_01", "spine2": "Spine_02", "spine3": "Spine_03", "neck": "neck_01",
        "head": "head", "left_collar": "clavicle_l", "left_shoulder": "upperarm_l", "left_elbow": "lowerarm_l",
        "left_wrist": "hand_l", "right_collar": "clavicle_r", "right_shoulder": "upperarm_r",
        "right_elbow": "lowerarm_r", "right_wrist": "hand_r", "left_hip": "thigh_l", "left_knee": "calf_l",
        "left_ankle": "foot_l", "left_foot": "ball_l", "right_hip": "thigh_r", "right_knee": "calf_r",
        "right_ankle": "foot_r", "right_foot": "ball_r",
    }  # fmt: skip


def test_validate_drops_bones_outside_the_chain():
    rig = smpl_spec()
    bad = {n: n for n in skeleton.JOINT_NAMES}
    bad["left_knee"] = "right_knee"  # a bone already used, and not below the left hip
    bad["left_elbow"] = "no_such_bone"
    out = validate_bone_map(rig, bad)
    assert "left_elbow" not in out and out.get("left_knee") is None and out["right_knee"] == "right_knee"


def test_foot_cleanup_reduces_skate_on_a_longer_legged_rig():
    # A planted left foot while the root sways: retargeted to a rig with other proportions, the foot slides
    # unless cleaned up.
    frames = 40
    motion = synthetic_motion(frames=frames, seed=5)
    local = motion.rotations.copy()
    local[:, [0, 1, 4, 7, 10]] = [1.0, 0, 0, 0]
    root = np.zeros((frames, 3))
    root[:, 0] = 0.05 * np.sin(np.linspace(0, 3, frames))
    root[:, 1] = 0.9
    joints = forward_kinematics_positions(local, root, motion.offsets)
    src = SourceMotion(joints, local, motion.offsets)
    rig = spec_from_bones(MIXAMO_BONES)
    bone_map, _ = auto_bone_map(rig)
    basis = facing_basis(rig, bone_map)
    plain = retarget(src, rig, bone_map, basis, fps=20)
    clean = retarget(src, rig, bone_map, basis, fps=20, foot_cleanup=True)
    assert plain.contacts[:, 0].all()
    assert clean.foot_skate["left_ankle"] < 0.2 * plain.foot_skate["left_ankle"] + 1e-4
    assert "source_mean" in clean.foot_skate


def test_bad_motion_fields_are_rejected(tmp_path):
    with pytest.raises(MotionFileError, match="joints must have shape"):
        motion_from_fields({"joints": np.zeros((5, 21, 3)), "rotations": np.zeros((5, 21, 4))})
    with pytest.raises(MotionFileError, match="lacks"):
        motion_from_fields({"joints": np.zeros((5, 22, 3))})
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(MotionFileError, match="cannot read"):
        load_motion_npz(str(bad))
    with pytest.raises(MotionFileError, match="not found"):
        load_motion_npz(str(tmp_path / "missing.npz"))


def test_rotated_object_like_an_fbx_import():
    # FBX imports often hold a y-up armature in an object turned 90 degrees about x: the motion must still stand up
    # and face the rig's front in the world.
    motion = synthetic_motion(seed=7)
    rig = spec_from_bones(MIXAMO_BONES)
    turn = Q.quat_to_matrix(Q.quat_from_axis_angle(np.array([1.0, 0, 0]), np.pi / 2))  # object rotation
    inner = RigSpec(rig.names, rig.parents, (turn.T @ rig.rest_heads.T).T,
                       Q.qmul(Q.matrix_to_quat(turn.T), rig.rest_rotations))  # fmt: skip
    bone_map, _ = auto_bone_map(inner)
    basis = facing_basis(inner, bone_map, turn)
    np.testing.assert_allclose(turn @ basis, KINMO_TO_BLENDER, atol=1e-9)
    res = retarget(motion, inner, bone_map, basis, fps=20)
    world_heads = res.heads @ turn.T
    errors = direction_errors(rig, bone_map, world_heads, res.source_joints, KINMO_TO_BLENDER)
    assert max(errors.values()) < 0.5


def test_rigify_def_rig_with_segmented_limbs():
    # Rigify's DEF limbs come in two segments (DEF-thigh.L, DEF-thigh.L.001): the unmapped second segment stays
    # rigid at rest relative to the first, so the mapped directions are still exact.
    heads, tails, _ = smpl_armature_layout()
    names = dict(zip(skeleton.JOINT_NAMES, (c[0] for c in bonenames.PRESETS["rigify"].values()), strict=True))
    bones = []
    split = {"left_hip", "right_hip", "left_knee", "right_knee", "left_shoulder", "right_shoulder"}
    last = {}
    for j, joint in enumerate(skeleton.JOINT_NAMES):
        p = skeleton.PARENTS[j]
        parent = last.get(skeleton.JOINT_NAMES[p]) if p >= 0 else None
        h, t = heads[j], tails[j]
        if joint in split:
            mid = (h + t) / 2
            bones.append((names[joint], parent, tuple(h), tuple(mid)))
            bones.append((names[joint] + ".001", names[joint], tuple(mid), tuple(t)))
            last[joint] = names[joint] + ".001"
        else:
            bones.append((names[joint], parent, tuple(h), tuple(t)))
            last[joint] = names[joint]
    rig = spec_from_bones(bones)
    bone_map, how = auto_bone_map(rig)
    assert how == "RIGIFY" and len(bone_map) == 22 and bone_map["left_knee"] == "DEF-shin.L"
    basis = facing_basis(rig, bone_map)
    res = retarget(synthetic_motion(seed=11), rig, bone_map, basis, fps=25)
    errors = direction_errors(rig, bone_map, res.heads, res.source_joints, basis)
    assert max(errors.values()) < 0.5
