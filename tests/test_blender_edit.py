"""Edit Motion, versions and scene control in a real Blender (`bpy==5.0.1`, background mode), without a model.

Versions: a new motion plays at once; the original action's curves stay byte-for-byte as they were; Accept and
Reject leave the expected assignment (action and slot). Key writing of an edit: only the chosen bones' curves
change, only inside the range. Curves, Grease Pencil strokes, empties and prompt blocks become the worker's control
and timeline input; bad input is one error line and leaves the scene as it was.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the add-on folder is not an installed package
sys.path.insert(0, str(Path(__file__).resolve().parent))
import addon_utils  # noqa: E402
from conftest import FIXTURES, bandai_files, requires_shared  # noqa: E402
from test_blender_addon import build_armature, select_only, snapshot  # noqa: E402

from blender_addon import action_versions as av  # noqa: E402
from blender_addon import bake as bk  # noqa: E402
from blender_addon import edit_math as em  # noqa: E402
from blender_addon import edit_ops  # noqa: E402
from blender_addon import scene_control as sc  # noqa: E402
from blender_addon.core import kinematic as K  # noqa: E402
from blender_addon.core import quaternions as Q  # noqa: E402
from blender_addon.core import skeleton as S  # noqa: E402
from blender_addon.retarget.solve import retarget  # noqa: E402
from blender_addon.retarget.source import SourceMotion, default_offsets, load_motion_npz  # noqa: E402

pytestmark = pytest.mark.blender


@pytest.fixture
def scene():
    """An empty scene with the add-on enabled."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert addon_utils.enable("blender_addon", default_set=True, handle_error=None) is not None
    yield bpy.context.scene
    addon_utils.disable("blender_addon", default_set=True)


def curve_bytes(action) -> list:
    """Everything of an action's curves that a change could touch, as raw float32/int bytes."""
    out = []
    for layer in action.layers:
        for strip in layer.strips:
            for bag in strip.channelbags:
                for fc in bag.fcurves:
                    n = len(fc.keyframe_points)
                    row = [fc.data_path, fc.array_index, fc.group.name if fc.group else ""]
                    for attr in ("co", "handle_left", "handle_right"):
                        a = np.empty(2 * n, np.float32)
                        fc.keyframe_points.foreach_get(attr, a)
                        row.append(a.tobytes())
                    for attr in ("interpolation", "handle_left_type", "handle_right_type"):
                        row.append(tuple(getattr(k, attr) for k in fc.keyframe_points))
                    out.append(tuple(row))
    return out


def users_rig():
    """The default SMPL-22 armature with the user's own action (two keys on the left elbow)."""
    assert bpy.ops.kinmo.build_armature() == {"FINISHED"}
    obj = bpy.context.scene.kinmo.target_armature
    pb = obj.pose.bones["left_elbow"]
    pb.rotation_quaternion = (0.9, 0.4, 0.0, 0.0)
    pb.keyframe_insert("rotation_quaternion", frame=5)
    pb.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
    pb.keyframe_insert("rotation_quaternion", frame=30)
    return obj


# ------------------------------------------------------------------------------------------------ versions


def test_a_new_motion_plays_at_once_and_reject_restores_the_assignment_exactly(scene, motion_path):
    obj = users_rig()
    users = obj.animation_data.action
    slot = obj.animation_data.action_slot
    before = curve_bytes(users)
    assert bpy.ops.kinmo.import_motion(filepath=str(motion_path)) == {"FINISHED"}
    new = obj.animation_data.action
    assert new is not users and obj.animation_data.action_slot == new.slots[0]
    assert users.use_fake_user and av.review_state(obj)["original"] == users.name
    assert "playing as a new version" in scene.kinmo.status
    assert bpy.ops.kinmo.reject_version() == {"FINISHED"}
    assert obj.animation_data.action is users and obj.animation_data.action_slot == slot
    assert [a.name for a in bpy.data.actions] == [users.name]  # the version is gone
    assert not users.use_fake_user and av.review_state(obj) is None  # the flag is as it was
    assert curve_bytes(users) == before
    with pytest.raises(RuntimeError, match="no KinMo version under review"):
        bpy.ops.kinmo.reject_version()
    assert scene.kinmo.status.startswith("KinMo: ") and "no KinMo version" in scene.kinmo.status
    assert bpy.ops.kinmo.import_motion(filepath=str(motion_path)) == {"FINISHED"}
    assert "playing as a new version" in scene.kinmo.status
    with pytest.raises(RuntimeError, match="motion file not found"):
        bpy.ops.kinmo.import_motion(filepath=str(motion_path.parent / "missing.npz"))
    assert "motion file not found" in scene.kinmo.status  # the latest result, never a stale success


def test_accept_keeps_the_version_and_the_original_unchanged(scene, motion_path):
    obj = users_rig()
    users = obj.animation_data.action
    before = curve_bytes(users)
    assert bpy.ops.kinmo.import_motion(filepath=str(motion_path)) == {"FINISHED"}
    first = obj.animation_data.action.name
    assert bpy.ops.kinmo.import_motion(filepath=str(motion_path)) == {"FINISHED"}  # replaces the pending version
    second = obj.animation_data.action
    assert first not in bpy.data.actions and av.review_state(obj)["original"] == users.name
    assert bpy.ops.kinmo.accept_version() == {"FINISHED"}
    assert obj.animation_data.action is second and obj.animation_data.action_slot == second.slots[0]
    assert av.review_state(obj) is None and users.use_fake_user and curve_bytes(users) == before
    assert "kept" in scene.kinmo.status


def test_next_variant_cycles_and_markers_show_the_range(scene, motion_path):
    obj = users_rig()
    users = obj.animation_data.action
    a, b = users.copy(), users.copy()
    av.begin_review(obj, scene, [a, b], (10, 30), "raise the left arm")
    assert obj.animation_data.action is a
    markers = sorted((m.name, m.frame) for m in scene.timeline_markers)
    assert markers == [(av.MARKER_END, 30), (av.MARKER_START, 10)]
    assert bpy.ops.kinmo.next_variant() == {"FINISHED"} and obj.animation_data.action is b
    assert bpy.ops.kinmo.next_variant() == {"FINISHED"} and obj.animation_data.action is a
    assert bpy.ops.kinmo.reject_version() == {"FINISHED"}
    assert obj.animation_data.action is users and len(scene.timeline_markers) == 0
    assert [x.name for x in bpy.data.actions] == [users.name]


def test_a_rig_without_an_action_gets_none_back_on_reject(scene, motion_path):
    assert bpy.ops.kinmo.build_armature() == {"FINISHED"}
    obj = scene.kinmo.target_armature
    assert bpy.ops.kinmo.import_motion(filepath=str(motion_path)) == {"FINISHED"}
    action = obj.animation_data.action
    assert av.stored_source(action) is not None  # the source motion is kept with the action
    assert bpy.ops.kinmo.reject_version() == {"FINISHED"}
    assert obj.animation_data.action is None and len(bpy.data.actions) == 0


# ------------------------------------------------------------------------------------------------ edit keys


def test_edit_keys_change_only_the_chosen_bones_inside_the_range(scene, motion_path):
    scene.kinmo.assign = "ACTIVE"
    assert bpy.ops.kinmo.build_armature() == {"FINISHED"}
    obj = scene.kinmo.target_armature
    assert bpy.ops.kinmo.import_motion(filepath=str(motion_path)) == {"FINISHED"}
    base = obj.animation_data.action
    slot = obj.animation_data.action_slot
    before = curve_bytes(base)
    motion, origin, basis = av.stored_source(base)
    fps = scene.render.fps / scene.render.fps_base
    spec = bk.rig_spec(obj)
    bone_map = bk.stored_bone_map(obj)
    lo, hi = base.frame_range
    start, k0 = em.stored_start(20, origin, fps)
    window = em.edit_window(20, 40, origin, hi, fps, start=start)
    src = SourceMotion(motion.joints[k0:], motion.rotations[k0:], motion.offsets)
    other = load_motion_npz(str(motion_path))
    other.rotations = other.rotations[::-1].copy()  # another pose everywhere: only the range may take it
    other.joints = other.joints[::-1].copy()
    other = SourceMotion(other.joints[k0:], other.rotations[k0:], other.offsets)
    r0 = retarget(src, spec, bone_map, basis, fps=fps)
    r1 = retarget(other, spec, bone_map, basis, fps=fps)
    arm = set(K.GROUP_JOINTS["left_arm"])
    new = edit_ops.edited_action(obj, base, slot, spec, bone_map, window, r0, r1, arm, "edited")
    assert curve_bytes(base) == before  # the original is untouched
    old_bag = base.layers[0].strips[0].channelbag(slot)
    new_bag = new.layers[0].strips[0].channelbag(new.slots[0])
    arm_bones = {bone_map[S.JOINT_NAMES[j]] for j in arm}
    frames = np.arange(int(lo), int(hi) + 1)
    changed_inside = 0
    for fc in old_bag.fcurves:
        nf = new_bag.fcurves.find(fc.data_path, index=fc.array_index)
        bone = fc.data_path.split('"')[1]
        old_v = np.array([fc.evaluate(float(f)) for f in frames], np.float32)
        new_v = np.array([nf.evaluate(float(f)) for f in frames], np.float32)
        outside = (frames < 20) | (frames > 40)
        assert np.array_equal(old_v[outside], new_v[outside]), fc.data_path  # exact float equality
        if bone not in arm_bones:
            assert np.array_equal(old_v, new_v), fc.data_path
        else:
            changed_inside += int(not np.array_equal(old_v[~outside], new_v[~outside]))
    assert changed_inside >= 4
    # Inside, the chosen bones take the edit: L_orig * R0^-1 * R1 is R1 where the action is R0's bake.
    path = 'pose.bones["left_elbow"].rotation_quaternion'
    q = np.array([[new_bag.fcurves.find(path, index=i).evaluate(30.0) for i in range(4)]])
    k = int(round(30 - window.start))
    assert Q.angle_between(Q.qrot(q, [0, 1, 0]), Q.qrot(r1.rotations["left_elbow"][k], [0, 1, 0])) < 0.5


def test_edit_window_maps_scene_frames_to_20_fps():
    w = em.edit_window(30, 60, 1, 200, 30.0)
    assert w.start == 1 and (w.a, w.b) == (19, 41) and w.samples == 101  # 3 s of context after frame 60
    start, k = em.stored_start(61, 1.0, 24.0)
    assert k % 5 == 0 and (start - 1.0) * 20 / 24 == pytest.approx(k)  # a sample falls on a whole frame
    with pytest.raises(em.EditRangeError, match="outside the action"):
        em.edit_window(150, 260, 1, 200, 30.0)
    with pytest.raises(em.EditRangeError, match="at least 0.2 s"):
        em.edit_window(30, 31, 1, 200, 30.0)
    with pytest.raises(em.EditRangeError, match="reversed"):
        em.edit_window(60, 30, 1, 200, 30.0)


def test_fit_yaw_and_place_undo_a_turn():
    joints = np.load(FIXTURES / "012314_new_joints.npy")[:40]
    turned = joints @ em.ry(0.7).T + np.array([1.0, 0.0, -2.0])
    yaw, offset = em.fit_yaw(turned, joints)
    assert yaw == pytest.approx(0.7, abs=1e-6) and offset == pytest.approx([1.0, 0.0, -2.0], abs=1e-6)
    m = SourceMotion(joints, np.tile([1.0, 0, 0, 0], (40, 22, 1)), default_offsets())
    placed = em.place(m, yaw, offset)
    assert np.allclose(placed.joints, turned) and np.allclose(Q.qrot(placed.rotations[:, 0], [0, 0, 1]),
                                                               em.ry(0.7) @ [0, 0, 1])  # fmt: skip
    # The worker places controlled motions as p_motion = Ry(yaw) (p_file - offset): unplace_control undoes it.
    off = np.array([1.0, 0.0, -2.0])
    in_motion = SourceMotion((joints - off) @ em.ry(0.7).T, m.rotations, m.offsets)
    back = em.unplace_control(in_motion, {"offset": [1.0, -2.0], "yaw_degrees": math.degrees(0.7)})
    assert np.allclose(back.joints, joints, atol=1e-9)


@requires_shared
def test_sampling_a_bandai_rig_fills_its_unmapped_spine_joint(scene):
    bpy.ops.import_anim.bvh(filepath=str(next(p for p in bandai_files() if "walk" in p.name)), global_scale=0.01)
    obj = bpy.context.object
    spec, bone_map, _ = edit_ops.bone_map_for(obj)
    assert "spine2" not in bone_map
    frame = sc.scene_frame(bpy.context, obj, bone_map)
    action, slot = av.current_assignment(obj)
    joints = edit_ops.sample_rig(bpy.context, obj, action, slot, bone_map, frame, [1.0, 1.5, 10.0])
    j = S.JOINT_INDEX
    assert joints.shape == (3, 22, 3) and np.isfinite(joints).all()
    between = joints[:, j["spine2"]] - joints[:, j["spine1"]]
    along = joints[:, j["spine3"]] - joints[:, j["spine1"]]
    assert np.allclose(np.cross(between, along), 0, atol=1e-9)  # on the segment
    height = joints[0, j["head"], 1] - min(joints[0, j["left_ankle"], 1], joints[0, j["right_ankle"], 1])
    assert 1.2 < height < 1.9  # a person, in motion metres
    assert bpy.context.scene.frame_current == 1  # the frame is put back


def test_a_rig_without_the_head_cannot_be_sampled():
    heads = {n: np.zeros((2, 3)) for n in S.JOINT_NAMES if n != "head"}
    with pytest.raises(edit_ops.KinmoUserError, match="maps no bone to head"):
        edit_ops.fill_joints(heads, "Rig")


# ------------------------------------------------------------------------------------------------ edit: bad input


def test_edit_bad_input_is_one_line_and_leaves_the_scene(scene, motion_path):
    prop = build_armature("Prop", [("a", None, (0, 0, 0), (0, 0, 1)), ("b", "a", (0, 0, 1), (0, 0, 2))])
    select_only(prop)
    before = snapshot()
    with pytest.raises(RuntimeError, match="no bone of 'Prop' maps to a SMPL-22 joint"):
        bpy.ops.kinmo.edit_range(frame_start=1, frame_end=20, prompt="raise the left arm")
    assert bpy.ops.kinmo.build_armature() == {"FINISHED"}
    obj = scene.kinmo.target_armature
    before = snapshot()
    with pytest.raises(RuntimeError, match="has no action to edit"):
        bpy.ops.kinmo.edit_range(frame_start=1, frame_end=20, prompt="raise the left arm")
    assert snapshot() == before and "has no action to edit" in scene.kinmo.status
    scene.kinmo.assign = "ACTIVE"
    assert bpy.ops.kinmo.import_motion(filepath=str(motion_path)) == {"FINISHED"}
    before = snapshot()
    with pytest.raises(RuntimeError, match="outside the action"):
        bpy.ops.kinmo.edit_range(frame_start=60, frame_end=500, prompt="raise the left arm", parts={"LEFT_ARM"})
    with pytest.raises(RuntimeError, match="type what the range should show"):
        bpy.ops.kinmo.edit_range(frame_start=10, frame_end=40, prompt="  ")
    scene.use_preview_range = False
    for fc in edit_ops._fcurves(obj.animation_data.action):
        for key in fc.keyframe_points:
            key.select_control_point = False
    with pytest.raises(RuntimeError, match="set the frames to edit"):
        bpy.ops.kinmo.edit_range(prompt="raise the left arm")
    assert snapshot() == before and obj.animation_data.action is not None
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = 12, 40
    assert edit_ops.default_range(bpy.context, obj.animation_data.action) == (12, 40)


# ------------------------------------------------------------------------------------------------ paths


def _curve(name: str, kind: str, points, cyclic: bool = False):
    data = bpy.data.curves.new(name, "CURVE")
    data.dimensions = "3D"
    spline = data.splines.new(kind)
    if kind == "BEZIER":
        spline.bezier_points.add(len(points) - 1)
        for bp, p in zip(spline.bezier_points, points, strict=True):
            bp.co = p
            bp.handle_left_type = bp.handle_right_type = "AUTO"
    else:
        spline.points.add(len(points) - 1)
        for sp, p in zip(spline.points, points, strict=True):
            sp.co = (*p, 1.0)
        if kind == "NURBS":
            spline.use_endpoint_u = True
            spline.order_u = 3
    spline.use_cyclic_u = cyclic
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def test_bezier_circle_nurbs_poly_and_grease_pencil_become_ground_paths(scene):
    bpy.ops.curve.primitive_bezier_circle_add(radius=1.5, location=(2.0, 1.0, 0.3))  # 3 m across, lifted
    circle = bpy.context.object
    frame = sc.scene_frame(bpy.context, None)  # a new armature at the cursor (the origin)
    c = sc.path_constraint(circle, bpy.context, frame)
    p = np.array(c["points"])
    # Blender (x, y) -> motion (x, -z): the centre (2, 1) lies at motion (2, -1); closed, on a 1.5 m radius.
    assert np.abs(np.linalg.norm(p - [2.0, -1.0], axis=1) - 1.5).max() < 0.01
    assert np.allclose(p[0], p[-1]) and len(p) >= 40 and c["joint"] == "pelvis"
    poly = _curve("Poly", "POLY", [(0, 0, 0), (1, 0, 0), (1, 2, 0)])
    assert sc.path_constraint(poly, bpy.context, frame)["points"] == [[0, 0], [1, 0], [1, -2]]
    nurbs = _curve("Nurbs", "NURBS", [(0, 0, 0), (1, 1, 0), (2, 0, 0), (3, 1, 0)])
    q = np.array(sc.path_constraint(nurbs, bpy.context, frame)["points"])
    assert q[0] == pytest.approx([0, 0], abs=1e-4) and q[-1] == pytest.approx([3, -1], abs=1e-4) and len(q) > 4
    gp = bpy.data.grease_pencils.new("Stroke")
    gpo = bpy.data.objects.new("Stroke", gp)
    scene.collection.objects.link(gpo)
    drawing = gp.layers.new("Lines").frames.new(scene.frame_current).drawing
    drawing.add_strokes([3])
    for point, xyz in zip(drawing.strokes[0].points, [(0, 0, 0), (0, -2, 0), (1, -2, 0)], strict=True):
        point.position = xyz
    assert sc.path_constraint(gpo, bpy.context, frame)["points"] == [[0, 0], [0, 2], [1, 2]]


def test_paths_follow_the_rig_scale_and_the_scene_units(scene):
    assert bpy.ops.kinmo.build_armature() == {"FINISHED"}
    rig = scene.kinmo.target_armature
    rig.scale = (2.0, 2.0, 2.0)  # a rig twice KinMo's size: one motion metre is two units
    bpy.context.view_layer.update()
    line = _curve("Line", "POLY", [(0, 0, 0), (0, -3, 0)])
    frame = sc.scene_frame(bpy.context, rig)
    assert frame.scale == pytest.approx(2.0, rel=1e-3)
    assert sc.path_constraint(line, bpy.context, frame, seconds=4)["points"][-1] == pytest.approx([0, 1.5], abs=1e-3)
    scene.unit_settings.scale_length = 0.01  # centimetres: a new armature is 170 units tall, 300 units are 3 m
    long = _curve("Long", "POLY", [(0, 0, 0), (0, -300, 0)])
    frame = sc.scene_frame(bpy.context, None)
    assert sc.path_constraint(long, bpy.context, frame)["points"][-1] == pytest.approx([0, 3.0], abs=1e-6)


def test_bad_paths_are_refused_and_the_scene_is_untouched(scene):
    scene.kinmo.prompt = "a person walks"
    one = _curve("One", "POLY", [(1, 1, 0)])
    up = _curve("Up", "POLY", [(1, 1, 0), (1, 1, 2)])  # vertical: no length on the ground
    bpy.ops.mesh.primitive_cube_add()
    cube = bpy.context.object
    two = _curve("Two", "POLY", [(0, 0, 0), (1, 0, 0)])
    two.data.splines.new("POLY").points.add(1)
    before = snapshot()
    cases = [("One", "has a single point"), ("Up", "has zero length"), (cube.name, "is a mesh, not a Curve"),
             ("Two", "has 2 splines"), ("Missing", "no object named 'Missing'")]  # fmt: skip
    for name, message in cases:
        with pytest.raises(RuntimeError, match=message):
            bpy.ops.kinmo.generate(prompt="a person walks", path_object=name)
        assert snapshot() == before and message in scene.kinmo.status, name
    assert one and up


def test_generate_params_take_the_path_fitted_or_at_the_prompts_speed(scene):
    scene.render.fps, scene.frame_start, scene.frame_end = 24, 1, 145  # a 6 s scene
    line = _curve("Line", "POLY", [(0, 0, 0), (0, -4, 0)])
    hand = bpy.data.objects.new("Hand", None)
    scene.collection.objects.link(hand)
    hand.kinmo_part, hand.kinmo_span_start, hand.kinmo_span_end = "RIGHT_HAND", 25, 48

    def value(settings):
        return lambda name, default: settings.get(name, default)

    params = {"text": "a person walks", "seconds": 4.0}
    frame = sc.add_control(bpy.context, None, params, None, value({"path_object": "Line", "fit_to_scene": True}))
    assert params["seconds"] == 6.0 and params["constraints"][0] == {
        "kind": "path", "joint": "pelvis", "points": [[0.0, 0.0], [0.0, 4.0]], "seconds": 6.0}  # fmt: skip
    assert params["constraints"][1]["kind"] == "pin" and frame.pinned == {"right_wrist": set(range(20, 41))}
    params = {"text": "a person walks", "seconds": 4.0}
    sc.add_control(bpy.context, None, params, None, value({"path_object": "Line", "use_targets": False}))
    assert "seconds" not in params and "seconds" not in params["constraints"][0]  # the prompt's speed sets it
    assert len(params["constraints"]) == 1 and line
    params = {"text": "a person waves", "seconds": 4.0}
    assert sc.add_control(bpy.context, None, params, None, value({"path_object": "", "use_targets": False})) is None
    assert "constraints" not in params


# ------------------------------------------------------------------------------------------------ empties


def test_empties_become_pins_and_trajectories(scene):
    scene.render.fps = 20
    frame = sc.scene_frame(bpy.context, None)
    hand = bpy.data.objects.new("Hand", None)
    hand.location = (0.3, -0.4, 1.2)
    hand.kinmo_part, hand.kinmo_span_start, hand.kinmo_span_end = "LEFT_HAND", 11, 30
    head = bpy.data.objects.new("Head", None)
    head.kinmo_part = "HEAD"
    for f, x in ((1, 0.0), (21, 1.0)):
        head.location = (x, 0.0, 1.6)
        head.keyframe_insert("location", frame=f)
    loose = bpy.data.objects.new("Loose", None)
    for o in (hand, head, loose):
        scene.collection.objects.link(o)
    out = sc.empty_constraints(bpy.context, frame)
    pin = next(c for c in out if c["kind"] == "pin")
    assert pin == {"kind": "pin", "joint": "left_wrist", "start": 10, "end": 29, "position": [0.3, 1.2, 0.4]}
    traj = next(c for c in out if c["kind"] == "trajectory")
    assert traj["joint"] == "head" and traj["frames"] == list(range(0, 21))
    assert traj["positions"][10] == pytest.approx([0.5, 1.6, 0.0], abs=1e-4)  # halfway between the keys
    assert len(out) == 2  # the loose empty is nobody's target
    before = snapshot()
    with pytest.raises(RuntimeError, match="'Loose' is assigned to no body part"):
        bpy.ops.kinmo.generate(prompt="a person waves", targets="Loose")
    assert snapshot() == before


# ------------------------------------------------------------------------------------------------ prompt blocks


def _blocks(scene, rows):
    scene.kinmo_blocks.clear()
    for text, a, b, parts in rows:
        assert bpy.ops.kinmo.add_prompt_block(text=text, frame_start=a, frame_end=b, parts=parts) == {"FINISHED"}


def test_prompt_blocks_become_a_compose_timeline(scene):
    scene.render.fps = 24
    _blocks(scene, [("a person walks", 1, 121, set()), ("a person jumps", 121, 289, set()),
                    ("waves the right hand", 49, 97, {"RIGHT_ARM"})])  # fmt: skip
    timeline = sc.blocks_timeline(scene.kinmo_blocks, scene.frame_start, 24.0)
    assert timeline == {
        "segments": [{"text": "a person walks", "start": 0.0, "end": 5.0},
                     {"text": "a person jumps", "start": 5.0, "end": 12.0}],
        "tracks": [{"text": "waves the right hand", "parts": ["right_arm"], "start": 2.0, "end": 4.0}],
    }  # fmt: skip


@pytest.mark.parametrize(("rows", "message"), [
    ([("a person walks", 1, 100, set()), ("a person jumps", 80, 200, set())], "overlap; whole-body blocks"),
    ([("a person walks", 1, 100, set()), ("waves", 10, 50, {"LEFT_ARM"}), ("claps", 40, 60, {"LEFT_ARM", "RIGHT_ARM"})],
     "overlap on the left arm"),
    ([("a person walks", 1, 100, set()), ("", 100, 150, set())], "prompt block 2 has no prompt"),
    ([("a person walks", 50, 20, set())], "ends at frame 20, not after its start 50"),
    ([("waves", 1, 50, {"LEFT_ARM"})], "add a whole-body prompt block"),
    ([], "add a prompt block first"),
])  # fmt: skip
def test_bad_prompt_blocks_are_refused(scene, rows, message):
    _blocks(scene, rows)
    before = snapshot()
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.kinmo.compose_blocks()
    assert snapshot() == before and message in scene.kinmo.status


def test_panels_draw_the_edit_settings_and_review_buttons(scene, motion_path):
    from test_blender_generate import _draw

    assert bpy.ops.kinmo.build_armature() == {"FINISHED"}
    log = _draw(edit_ops.KINMO_PT_edit, bpy.context)
    assert [a[0] for name, a, _ in log if name == "operator"] == ["kinmo.edit_range"]
    assert [a[1] for name, a, _ in log if name == "prop"] == ["use_custom_range", "parts", "auto_parts", "prompt",
                                                              "seed", "variants"]  # fmt: skip
    assert bpy.ops.kinmo.import_motion(filepath=str(motion_path)) == {"FINISHED"}
    log = _draw(edit_ops.KINMO_PT_edit, bpy.context)
    assert [a[0] for name, a, _ in log if name == "operator"] == ["kinmo.edit_range", "kinmo.accept_version",
                                                                  "kinmo.reject_version"]  # fmt: skip
