"""BVH reading and writing (kinmo_core.motion.bvh): channels, rotation orders, units, axes, round trip, bad files."""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from kinmo_core.errors import KinmoInputError
from kinmo_core.motion import ik
from kinmo_core.motion.bvh import read_bvh, write_bvh
from kinmo_core.motion.skeleton import JOINT_NAMES, NUM_JOINTS
from tests.conftest import bandai_files, requires_shared

CHAIN = """HIERARCHY
ROOT Root
{{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Mid
  {{
    OFFSET 0 {l1} 0
    CHANNELS {mid_channels}
    JOINT Tip
    {{
      OFFSET {l2} 0 0
      CHANNELS 3 Xrotation Yrotation Zrotation
      End Site
      {{
        OFFSET 0 0 {l3}
      }}
    }}
  }}
}}
MOTION
Frames: {frames}
Frame Time: {frame_time}
{data}
"""


def _chain_text(rows, mid_channels="3 Yrotation Xrotation Zrotation", l1=50.0, l2=30.0, l3=5.0, frame_time=0.05,
                frames=None):
    data = "\n".join(" ".join(repr(float(v)) for v in r) for r in rows)
    return CHAIN.format(l1=l1, l2=l2, l3=l3, mid_channels=mid_channels, frames=len(rows) if frames is None else frames,
                        frame_time=frame_time, data=data)


def _write(tmp_path, text, name="clip.bvh"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_rotation_orders_and_position_channels(tmp_path):
    rng = np.random.default_rng(0)
    rows, expected = [], []
    for _ in range(4):
        root_pos = rng.uniform(-100, 100, 3)
        root_eul = rng.uniform(-90, 90, 3)  # Z X Y
        mid_pos = rng.uniform(-10, 10, 3)
        mid_eul = rng.uniform(-90, 90, 3)  # Y X Z
        tip_eul = rng.uniform(-90, 90, 3)  # X Y Z
        rows.append([*root_pos, *root_eul, *mid_pos, *mid_eul, *tip_eul])
        r0 = Rotation.from_euler("ZXY", root_eul, degrees=True)
        r1 = r0 * Rotation.from_euler("YXZ", mid_eul, degrees=True)
        p_mid = root_pos + r0.apply(mid_pos)  # position channels replace the offset
        p_tip = p_mid + r1.apply([30.0, 0, 0])
        expected.append([root_pos, p_mid, p_tip])
    path = _write(tmp_path, _chain_text(rows, mid_channels="6 Xposition Yposition Zposition Yrotation Xrotation "
                                                           "Zrotation"))
    bvh = read_bvh(path, unit="cm", up="y")
    assert bvh.names == ["Root", "Mid", "Tip"]
    assert list(bvh.parents) == [-1, 0, 1]
    assert bvh.fps == 20.0
    np.testing.assert_allclose(bvh.global_positions(), np.array(expected) * 0.01, atol=1e-9)
    np.testing.assert_allclose(bvh.end_sites[2], [0, 0, 0.05])
    # Global rotations agree with scipy's composition.
    g = bvh.global_rotations()
    r = Rotation.from_euler("ZXY", rows[0][3:6], degrees=True)
    np.testing.assert_allclose(np.abs((g[0, 0] * r.as_quat()[[3, 0, 1, 2]]).sum()), 1.0, atol=1e-9)


def _standing_rig_rows(frames=3, height=0.9):
    return [[0, height, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] for _ in range(frames)]


def test_unit_detection(tmp_path):
    # A 1.7 m tall two-bone rig: the span is l1 + l2.
    for unit, scale in (("cm", 100.0), ("m", 1.0), ("mm", 1000.0)):
        text = _chain_text(_standing_rig_rows(height=0.9 * scale), l1=1.2 * scale, l2=0.8 * scale)
        path = _write(tmp_path, text, f"{unit}.bvh")
        bvh = read_bvh(path)
        assert bvh.unit == unit
        tip = bvh.global_positions()[0, 2]
        np.testing.assert_allclose(tip, [0.8, 0.9 + 1.2, 0.0], atol=1e-9)
    bvh = read_bvh(path, unit=0.001)
    assert bvh.unit_scale == 0.001
    with pytest.raises(KinmoInputError, match="unknown unit"):
        read_bvh(path, unit="furlong")


def test_z_up_is_detected_and_turned_to_y_up(tmp_path):
    # The chain stands along +Z (the Mid offset is made along Z): a Z-up file.
    text = _chain_text(_standing_rig_rows(), l1=1.5, l2=0.3).replace("OFFSET 0 1.5 0", "OFFSET 0 0 1.5")
    path = _write(tmp_path, text)
    bvh = read_bvh(path, unit="m")
    assert bvh.up == "z"
    pos = bvh.global_positions()[0]
    # (x, y, z) Z-up -> (x, z, -y): the root at height 0 of the file's Y... the Mid joint is 1.5 m above the root.
    np.testing.assert_allclose(pos[1] - pos[0], [0, 1.5, 0], atol=1e-9)
    forced = read_bvh(path, unit="m", up="y")
    np.testing.assert_allclose(forced.global_positions()[0, 1] - forced.global_positions()[0, 0], [0, 0, 1.5],
                               atol=1e-9)


def test_write_then_read_gives_same_joints(tmp_path, fixture_joints):
    joints = fixture_joints.astype(np.float64)
    q = ik.positions_to_rotations(joints)
    own = ik.estimate_offsets(joints)
    expected = ik.forward_kinematics(q, joints[:, 0], own)
    path = write_bvh(tmp_path / "out.bvh", q, joints[:, 0], offsets=own, fps=20)
    bvh = read_bvh(path, unit="m", up="y")
    assert sorted(bvh.names) == sorted(JOINT_NAMES)  # written depth first
    assert bvh.fps == 20 and bvh.num_frames == len(joints)
    order = [bvh.index(n) for n in JOINT_NAMES]
    got = bvh.global_positions()[:, order]
    assert np.abs(got - expected).max() < 1e-3
    assert np.abs(got - joints).max() < 1e-3
    # Auto-detection reads the metre file the same way; centimetres work too.
    np.testing.assert_allclose(read_bvh(path).global_positions()[:, order], got, atol=1e-12)
    path_cm = write_bvh(tmp_path / "out_cm.bvh", q, joints[:, 0], offsets=own, scale=100.0)
    bvh_cm = read_bvh(path_cm)
    assert bvh_cm.unit == "cm"
    assert np.abs(bvh_cm.global_positions()[:, order] - joints).max() < 1e-3


def test_write_refuses_to_overwrite_and_is_atomic(tmp_path):
    q = np.tile([1.0, 0, 0, 0], (2, NUM_JOINTS, 1))
    root = np.zeros((2, 3))
    path = tmp_path / "m.bvh"
    path.write_text("user data")
    with pytest.raises(KinmoInputError, match="already exists"):
        write_bvh(path, q, root)
    assert path.read_text() == "user data"
    write_bvh(path, q, root, overwrite=True)
    assert path.read_text().startswith("HIERARCHY")
    assert sorted(os.listdir(tmp_path)) == ["m.bvh"]  # no temporary file left behind
    with pytest.raises(KinmoInputError):
        write_bvh(tmp_path / "nan.bvh", np.full((2, NUM_JOINTS, 4), np.nan), root)
    with pytest.raises(KinmoInputError):
        write_bvh(tmp_path / "missing_dir" / "x.bvh", q, root)


def test_bad_files_give_one_line_input_errors(tmp_path):
    rows = _standing_rig_rows(3)
    cases = {
        "missing": tmp_path / "nope.bvh",
        "not_bvh": _write(tmp_path, "hello world\n", "a.bvh"),
        "truncated_values": _write(tmp_path, _chain_text(rows, frames=5), "b.bvh"),
        "truncated_header": _write(tmp_path, _chain_text(rows).split("MOTION")[0][:120], "c.bvh"),
        "nan": _write(tmp_path, _chain_text(rows).replace("0.9 0.0 0.0", "0.9 nan 0.0", 1), "d.bvh"),
        "inf": _write(tmp_path, _chain_text(rows).replace("0.9 0.0 0.0", "0.9 inf 0.0", 1), "e.bvh"),
        "zero_frames": _write(tmp_path, _chain_text([], frames=0), "f.bvh"),
        "text_value": _write(tmp_path, _chain_text(rows).replace("0.9 0.0 0.0", "0.9 x 0.0", 1), "g.bvh"),
    }
    for name, path in cases.items():
        with pytest.raises(KinmoInputError) as err:
            read_bvh(path)
        assert "\n" not in str(err.value), name
    with pytest.raises(KinmoInputError, match="zero frames"):
        read_bvh(cases["zero_frames"])
    with pytest.raises(KinmoInputError, match="truncated"):
        read_bvh(cases["truncated_values"])


@requires_shared
def test_bandai_clip_reads_in_metres_y_up():
    path = bandai_files()[0]
    bvh = read_bvh(path)
    assert bvh.unit == "cm" and bvh.up == "y" and bvh.fps == 30
    assert len(bvh.names) == 22 and bvh.names[0] == "joint_Root"
    pos = bvh.global_positions()
    head = pos[:, bvh.index("Head"), 1]
    toes = pos[:, bvh.index("Toes_L"), 1]
    assert 1.3 < head.mean() < 1.9 and -0.05 < toes.min() < 0.15  # a standing person, feet on the floor
    # Every joint carries position channels that equal its offset; reading them keeps the bones rigid.
    lengths = np.linalg.norm(pos[:, 2] - pos[:, 1], axis=-1)
    assert lengths.std() < 1e-9


@pytest.mark.blender
def test_blender_reads_written_bvh_to_the_same_joints(tmp_path, fixture_joints):
    """An independent reader: Blender's own BVH importer puts every joint where KinMo says (Y up -> Blender Z up)."""
    bpy = pytest.importorskip("bpy")
    joints = fixture_joints[:30].astype(np.float64)
    q = ik.positions_to_rotations(joints)
    path = write_bvh(tmp_path / "m.bvh", q, joints[:, 0], offsets=ik.estimate_offsets(joints))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_anim.bvh(filepath=str(path), global_scale=1.0, frame_start=1, use_fps_scale=False)
    arm = bpy.context.selected_objects[0]
    worst = 0.0
    for frame in (1, 12, 30):
        bpy.context.scene.frame_set(frame)
        for i, name in enumerate(JOINT_NAMES):
            head = arm.matrix_world @ arm.pose.bones[name].head
            got = np.array([head.x, head.z, -head.y])  # Blender (x, y, z) Z up -> KinMo (x, z, -y) Y up
            worst = max(worst, float(np.linalg.norm(got - joints[frame - 1, i])))
    assert worst < 1e-3
    # And back: Blender writes Z up, centimetres, 6 channels per joint, XZY order; the reader detects all of it.
    out = tmp_path / "from_blender.bvh"
    bpy.context.scene.frame_start, bpy.context.scene.frame_end = 1, 30
    bpy.ops.export_anim.bvh(filepath=str(out), frame_start=1, frame_end=30, global_scale=100.0, rotate_mode="XZY")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    back = read_bvh(out)
    assert (back.unit, back.up) == ("cm", "z")
    assert back.channels[1][3:] == ["Xrotation", "Zrotation", "Yrotation"]
    order = [back.index(n) for n in JOINT_NAMES]
    assert np.abs(back.global_positions()[:, order] - joints).max() < 1e-3


def test_windows_line_endings_and_tabs(tmp_path):
    rows = _standing_rig_rows(2)
    text = _chain_text(rows).replace("\n", "\r\n").replace("  ", "\t")
    a = read_bvh(_write(tmp_path, _chain_text(rows), "unix.bvh"), unit="m")
    b = read_bvh(_write(tmp_path, text, "dos.bvh"), unit="m")
    np.testing.assert_allclose(a.global_positions(), b.global_positions())
    with pytest.raises(KinmoInputError, match="more values"):
        read_bvh(_write(tmp_path, _chain_text(rows + rows, frames=2), "extra.bvh"))
