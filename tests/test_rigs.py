"""Rig mapping and retargeting (kinmo_core.motion.rigs) on synthetic CMU / Mixamo / unnamed rigs and on Bandai clips."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from kinmo_core.errors import KinmoInputError
from kinmo_core.motion import ik
from kinmo_core.motion.bvh import read_bvh
from kinmo_core.motion.rigs import (
    PRESETS,
    bvh_to_smpl22,
    load_bvh_joints,
    normalize_name,
    resample_times,
    retarget_to_target,
)
from kinmo_core.motion.skeleton import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS, PARENTS, TARGET_OFFSETS
from tests.conftest import bandai_files, requires_shared

J = JOINT_INDEX
CMU = {
    "pelvis": "Hips", "spine1": "Spine", "spine2": None, "spine3": "Spine1", "neck": "Neck", "head": "Head",
    **{f"{s}_{k}": f"{S}{v}" for s, S in (("left", "Left"), ("right", "Right")) for k, v in (
        ("hip", "UpLeg"), ("knee", "Leg"), ("ankle", "Foot"), ("foot", "ToeBase"), ("collar", "Shoulder"),
        ("shoulder", "Arm"), ("elbow", "ForeArm"), ("wrist", "Hand"))},
}


def _q(r: Rotation) -> np.ndarray:
    return r.as_quat()[..., [3, 0, 1, 2]]


def _r(q: np.ndarray) -> Rotation:
    return Rotation.from_quat(np.asarray(q)[..., [1, 2, 3, 0]])


def _rig_text(joints, names, fps=20.0, unit=1.0, z_up=False, a_pose=False, extras=True) -> str:
    """BVH text of a rig that moves like `joints` (T, 22, 3 metres): KinMo joints renamed by `names`.

    Extras imitate real rigs: zero-length joints (CMU's LHipJoint/RHipJoint and LowerBack), finger leaves under the
    hands, End Sites. a_pose turns the arms' rest pose 45 degrees out (the motion stays the same).
    """
    q = ik.positions_to_rotations(joints)
    off = ik.estimate_offsets(joints)
    t = len(joints)
    local = [_r(q[:, j]) for j in range(NUM_JOINTS)]
    rest_rot = {j: Rotation.identity() for j in range(NUM_JOINTS)}
    if a_pose:
        for side, sign in (("left", 1.0), ("right", -1.0)):
            for n in ("shoulder", "elbow"):
                rest_rot[J[f"{side}_{n}"]] = Rotation.from_euler("z", sign * 45, degrees=True)
    # Rest offsets turn with the parent's rest rotation; local rotations compensate so positions stay the same.
    offsets = np.array([rest_rot[PARENTS[j]].apply(off[j]) if j else off[j] for j in range(NUM_JOINTS)])
    new_local = []
    for j in range(NUM_JOINTS):
        p = PARENTS[j]
        a_p = rest_rot[p] if p >= 0 else Rotation.identity()
        new_local.append(a_p * local[j] * rest_rot[j].inv())
    root_pos = joints[:, 0].copy()
    if z_up:
        to_z = Rotation.from_euler("x", 90, degrees=True)  # inverse of the reader's Z-up -> Y-up turn
        new_local[0] = to_z * new_local[0]
        root_pos = to_z.apply(root_pos)
    # Hierarchy with extras.
    nodes: list[tuple[str, int | None, np.ndarray, Rotation | None]] = []  # name, kinmo index, offset, rotations
    parent_of: dict[str, str | None] = {}
    name_of = {j: names[JOINT_NAMES[j]] or f"Extra{j}" for j in range(NUM_JOINTS)}
    children: dict[str, list[str]] = {}

    def add(name, parent, kinmo, offset, rot):
        nodes.append((name, kinmo, offset, rot))
        parent_of[name] = parent
        children.setdefault(name, [])
        if parent is not None:
            children[parent].append(name)

    for j in range(NUM_JOINTS):
        p = PARENTS[j]
        parent = name_of[p] if p >= 0 else None
        if extras and j in (J["left_hip"], J["right_hip"]):
            add(f"{'L' if j == 1 else 'R'}HipJoint", parent, None, np.zeros(3), None)
            parent = f"{'L' if j == 1 else 'R'}HipJoint"
        if extras and j == J["spine1"]:
            add("LowerBack", parent, None, np.zeros(3), None)
            parent = "LowerBack"
        add(name_of[j], parent, j, offsets[j], new_local[j])
        if extras and j in (J["left_wrist"], J["right_wrist"]):
            add(name_of[j] + "Finger", name_of[j], None, offsets[j] * 0.3, None)

    lines = ["HIERARCHY"]
    order: list[tuple[str, int | None, Rotation | None]] = []

    def emit(name, depth):
        node = next(n for n in nodes if n[0] == name)
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {name}")
        lines.append(pad + "{")
        lines.append(pad + "  OFFSET " + " ".join(repr(float(v)) for v in node[2] * unit))
        chans = "6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" if depth == 0 else \
            "3 Zrotation Xrotation Yrotation"
        lines.append(f"{pad}  CHANNELS {chans}")
        order.append((name, node[1], node[3]))
        for c in children[name]:
            emit(c, depth + 1)
        if not children[name]:
            lines.extend([pad + "  End Site", pad + "  {", pad + "    OFFSET 0 0.01 0", pad + "  }"])
        lines.append(pad + "}")

    emit(name_of[0], 0)
    cols = []
    for i, (_, _, rot) in enumerate(order):
        eul = rot.as_euler("ZXY", degrees=True) if rot is not None else np.zeros((t, 3))
        if i == 0:
            cols.append(root_pos * unit)
        cols.append(eul)
    data = np.concatenate(cols, axis=1)
    lines += ["MOTION", f"Frames: {t}", f"Frame Time: {1.0 / fps!r}"]
    lines += [" ".join(repr(float(v)) for v in row) for row in data]
    return "\n".join(lines) + "\n"


def _expected(joints):
    out = retarget_to_target(joints)
    return out - out[:, :1]


@pytest.fixture(scope="module")
def motion(fixture_joints) -> np.ndarray:
    return fixture_joints[:60].astype(np.float64)


def test_normalize_name():
    assert normalize_name("mixamorig:LeftUpLeg") == ("left", "upleg")
    assert normalize_name("UpperArm_L") == ("left", "upperarm")
    assert normalize_name("upperarm.R") == ("right", "upperarm")
    assert normalize_name("Bip01 L Thigh") == ("left", "thigh")
    assert normalize_name("lShldr") == ("left", "shldr")
    assert normalize_name("R_Knee") == ("right", "knee")
    assert normalize_name("Hips") == ("", "hips")
    assert normalize_name("joint_Root") == ("", "root")


def test_cmu_rig_in_centimetres_z_up(tmp_path, motion):
    path = tmp_path / "cmu.bvh"
    path.write_text(_rig_text(motion, CMU, unit=100.0, z_up=True))
    joints, report = load_bvh_joints(path)
    assert report.unit == "cm" and report.up == "z"
    assert report.rig == "preset:cmu"
    assert report.derived == ["spine2"]
    assert report.mapping["left_hip"] == "LeftUpLeg" and report.mapping["left_collar"] == "LeftShoulder"
    assert joints.shape == (len(motion), NUM_JOINTS, 3)
    # Up is +Y again and the motion matches the direction-preserving retarget of the source.
    got = joints - joints[:, :1]
    exp = _expected(motion)
    spine2 = J["spine2"]  # derived on the spine1-spine3 line, so it differs; everything else is exact
    keep = [j for j in range(NUM_JOINTS) if j not in (spine2, J["spine3"], J["neck"], J["head"], J["left_collar"],
                                                        J["right_collar"], J["left_shoulder"], J["right_shoulder"],
                                                        J["left_elbow"], J["right_elbow"], J["left_wrist"],
                                                        J["right_wrist"])]
    assert np.abs(got[:, keep] - exp[:, keep]).max() < 1e-3
    assert report.ik_error < 0.01 and report.bone_error_output < 1e-5


def test_mixamo_names_a_pose_same_motion_as_t_pose_rig(tmp_path, motion):
    names = {k: (None if v is None else "mixamorig:" + v) for k, v in {**CMU, "spine2": "Spine1",
                                                                      "spine3": "Spine2"}.items()}
    path = tmp_path / "mixamo.bvh"
    path.write_text(_rig_text(motion, names, a_pose=True, extras=False))
    joints, report = load_bvh_joints(path)
    assert report.rig == "preset:mixamo" and report.derived == []
    assert report.unit == "m" and report.up == "y"
    # Every KinMo joint exists in this rig, so the output is exactly the retarget of the source motion.
    assert np.abs((joints - joints[:, :1]) - _expected(motion)).max() < 1e-3
    np.testing.assert_allclose(np.linalg.norm(joints[:, 1:] - joints[:, list(PARENTS[1:])], axis=-1),
                               np.broadcast_to(np.linalg.norm(TARGET_OFFSETS[1:], axis=-1), joints[:, 1:, 0].shape),
                               atol=1e-5)


def test_resampling_30_to_20_keeps_duration(tmp_path, motion):
    names = dict(zip(JOINT_NAMES, JOINT_NAMES, strict=True))
    path = tmp_path / "smpl30.bvh"
    path.write_text(_rig_text(motion, names, fps=30.0, extras=False))
    joints, report = load_bvh_joints(path)
    assert report.rig == "preset:smpl" and report.fps_in == 30 and report.fps_out == 20
    n_in = len(motion)
    assert report.frames_out == len(joints) == int((n_in - 1) * 20 / 30) + 1
    assert abs((len(joints) - 1) / 20 - (n_in - 1) / 30) < 1 / 20
    # Output frame k is source time k/20 s = source frame 1.5 k: even frames land on source frames.
    exp = _expected(motion)
    got = joints - joints[:, :1]
    np.testing.assert_allclose(got[::2], exp[::3][: len(got[::2])], atol=1e-3)
    assert resample_times(4, 30, 20).tolist() == [0.0, 1.5, 3.0]


def test_unnamed_rig_is_read_from_its_hierarchy(tmp_path, motion):
    names = {n: f"bone{i:02d}" for i, n in enumerate(JOINT_NAMES)}
    path = tmp_path / "bones.bvh"
    path.write_text(_rig_text(motion, names, extras=False))
    joints, report = load_bvh_joints(path)
    assert report.rig == "hierarchy"
    assert report.mapping["left_hip"] == names["left_hip"]
    assert report.mapping["right_wrist"] == names["right_wrist"]
    assert np.abs((joints - joints[:, :1]) - _expected(motion)).max() < 1e-3


def test_explicit_mapping_and_unknown_rig(tmp_path, motion):
    text = "\n".join([
        "HIERARCHY", "ROOT a", "{", "  OFFSET 0 0 0", "  CHANNELS 6 Xposition Yposition Zposition Zrotation "
        "Xrotation Yrotation", "  JOINT b", "  {", "    OFFSET 0 50 0", "    CHANNELS 3 Zrotation Xrotation Yrotation",
        "    End Site", "    {", "      OFFSET 0 50 0", "    }", "  }", "}", "MOTION", "Frames: 2",
        "Frame Time: 0.05", "0 90 0 0 0 0 0 0 0", "0 90 0 0 0 0 0 0 0", ""])
    path = tmp_path / "stick.bvh"
    path.write_text(text)
    with pytest.raises(KinmoInputError, match="no joint found for") as err:
        load_bvh_joints(path)
    assert "left_hip" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(KinmoInputError, match="not in the rig"):
        load_bvh_joints(path, mapping={"pelvis": "nope"})
    with pytest.raises(KinmoInputError, match="unknown rig preset"):
        load_bvh_joints(path, mapping="robot")
    with pytest.raises(KinmoInputError, match="does not fit"):
        load_bvh_joints(path, mapping="cmu")
    # An explicit mapping overrides the automatic one.
    cmu = tmp_path / "cmu.bvh"
    cmu.write_text(_rig_text(motion, CMU))
    _, report = load_bvh_joints(cmu, mapping={"spine3": "Spine"})
    assert report.mapping["spine3"] == "Spine" and report.rig.startswith("explicit")


def test_presets_cover_every_joint_or_leave_it_derived():
    for name, preset in PRESETS.items():
        assert set(preset) <= set(JOINT_NAMES), name
        assert {"pelvis", "left_wrist", "right_ankle"} <= set(preset), name


@requires_shared
def test_bandai_clips_convert():
    files = bandai_files()
    for path in (files[0], next(f for f in files if "walk_normal" in f.name)):
        bvh = read_bvh(path)
        joints, report = bvh_to_smpl22(bvh)
        assert report.rig == "preset:bandai" and report.derived == ["spine2"]
        assert report.fps_in == 30 and report.fps_out == 20
        assert len(joints) == int((bvh.num_frames - 1) * 2 / 3) + 1
        assert report.ik_error < 0.01 and report.bone_error_output < 1e-5 and report.bone_error_source < 1e-6
        assert report.pose_error < 0.15
        feet = joints[:, [J["left_foot"], J["right_foot"], J["left_ankle"], J["right_ankle"]], 1]
        assert -0.01 < feet.min() < 0.1  # on the floor
        assert np.isfinite(joints).all()


def test_biped_names_are_matched_by_synonyms(tmp_path, motion):
    """3ds Max Biped names (no preset): thigh/calf/clavicle/toe0 synonyms plus the spine chain from the hierarchy."""
    parts = {"hip": "Thigh", "knee": "Calf", "ankle": "Foot", "foot": "Toe0", "collar": "Clavicle",
             "shoulder": "UpperArm", "elbow": "Forearm", "wrist": "Hand"}
    names = {"pelvis": "Bip01 Pelvis", "spine1": "Bip01 Spine", "spine2": "Bip01 Spine1", "spine3": "Bip01 Spine2",
             "neck": "Bip01 Neck", "head": "Bip01 Head",
             **{f"{s}_{k}": f"Bip01 {s[0].upper()} {v}" for s in ("left", "right") for k, v in parts.items()}}
    path = tmp_path / "biped.bvh"
    path.write_text(_rig_text(motion, {k: v.replace(" ", "_") for k, v in names.items()}, extras=False))
    joints, report = load_bvh_joints(path)
    assert report.rig == "names" and report.derived == []
    assert report.mapping["left_collar"] == "Bip01_L_Clavicle" and report.mapping["spine2"] == "Bip01_Spine1"
    assert np.abs((joints - joints[:, :1]) - _expected(motion)).max() < 1e-3
