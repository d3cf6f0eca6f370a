"""End to end in Blender (`bpy==5.0.1`, background mode) with the packaged model in a real worker: edit a range of
imported Bandai mocap and of a KinMo action, walk along a Bezier circle, pin a hand to an empty, compose blocks.

Each test needs a worker method or parameter that the editing and control work adds (`edit`, `compose`, `generate`
with constraints); it is skipped, saying why, where the worker lacks it. KINMO_E2E_WORKER_PATH runs the worker from
another checkout (its PYTHONPATH), e.g. one with those branches merged, while the add-on comes from this one.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import addon_utils  # noqa: E402
from conftest import FIXTURES, bandai_files, requires_shared  # noqa: E402
from test_blender_edit import curve_bytes  # noqa: E402

from blender_addon import action_versions as av  # noqa: E402
from blender_addon import backend, edit_ops  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.slow]


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    """The add-on enabled with a worker on this Python (optionally another checkout's code); its method list."""
    old, cwd = os.environ.get("PYTHONPATH"), os.getcwd()
    if os.environ.get("KINMO_E2E_WORKER_PATH"):
        os.environ["PYTHONPATH"] = os.environ["KINMO_E2E_WORKER_PATH"]
        os.chdir(tmp_path_factory.mktemp("worker-cwd"))  # `python -m` puts the working folder first on sys.path
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert addon_utils.enable("blender_addon", default_set=True, handle_error=None) is not None
    bpy.context.preferences.addons["blender_addon"].preferences.python_path = sys.executable
    client = backend.get_client(sys.executable)
    client.start()
    os.chdir(cwd)
    yield set(client.info.get("methods", ()))
    backend.shutdown()
    addon_utils.disable("blender_addon", default_set=True)
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


def needs(methods: set, name: str) -> None:
    if name not in methods:
        pytest.skip(f"the KinMo worker has no '{name}' method (it comes with the editing work; "
                    "KINMO_E2E_WORKER_PATH can point at a checkout that has it)")  # fmt: skip


@pytest.fixture
def scene(worker):
    """A fresh empty scene (the worker keeps running)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.preferences.addons["blender_addon"].preferences.python_path = sys.executable
    yield bpy.context.scene


def world_heads(obj, frames) -> dict[int, dict[str, np.ndarray]]:
    """Every pose bone's head in world space at each frame."""
    scene = bpy.context.scene
    out = {}
    for f in frames:
        scene.frame_set(f)
        ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        mw = np.array([tuple(r) for r in ev.matrix_world])
        out[f] = {b.name: mw[:3, :3] @ np.array(tuple(b.head)) + mw[:3, 3] for b in ev.pose.bones}
    return out


def curve_values(action, slot, frames) -> dict:
    bag = edit_ops._channelbag(action, slot)
    return {(fc.data_path, fc.array_index): np.array([fc.evaluate(float(f)) for f in frames], np.float32)
            for fc in bag.fcurves}  # fmt: skip


@requires_shared
def test_raise_the_left_arm_of_imported_bandai_mocap(scene, worker):
    needs(worker, "edit")
    bvh = next(p for p in bandai_files() if p.name.startswith("dataset-1_walk_normal"))
    bpy.ops.import_anim.bvh(filepath=str(bvh), global_scale=0.01)
    obj = bpy.context.object
    users, slot = av.current_assignment(obj)
    before_bytes = curve_bytes(users)
    lo, hi = 30, 30 + 2 * scene.render.fps  # a 2 s range
    frames = range(int(users.frame_range[0]), int(users.frame_range[1]) + 1)
    before = world_heads(obj, frames)
    old_curves = curve_values(users, slot, frames)
    t = time.monotonic()
    assert bpy.ops.kinmo.edit_range(frame_start=lo, frame_end=hi, prompt="a person raises the left arm above the head",
                                    parts={"LEFT_ARM"}, seed=1) == {"FINISHED"}  # fmt: skip
    took = time.monotonic() - t
    new, new_slot = av.current_assignment(obj)
    assert new is not users and curve_bytes(users) == before_bytes  # the user's mocap is untouched
    assert sorted((m.name, m.frame) for m in scene.timeline_markers) == [("KinMo edit end", hi),
                                                                         ("KinMo edit start", lo)]  # fmt: skip
    after = world_heads(obj, frames)
    arm = {"Shoulder_L", "UpperArm_L", "LowerArm_L", "Hand_L"}
    rest = max(np.linalg.norm(after[f][b] - before[f][b]) for f in frames for b in before[f] if b not in arm)
    assert rest < 0.01  # the rest of the body keeps its mocap (within 1 cm; it is exact)
    new_curves = curve_values(new, new_slot, frames)
    inside = np.array([lo <= f <= hi for f in frames])
    for key, old in old_curves.items():
        assert np.array_equal(old[~inside], new_curves[key][~inside]), key  # outside the range: exact
        if not any(f'"{b}"' in key[0] for b in arm):
            assert np.array_equal(old, new_curves[key]), key  # other bones: exact everywhere
    middle = [f for f in frames if lo + 12 <= f <= hi - 12]
    rise = np.median([after[f]["Hand_L"][2] - before[f]["Hand_L"][2] for f in middle])
    above = np.median([after[f]["Hand_L"][2] - after[f]["Head"][2] for f in middle])
    print(f"\nBandai {bvh.name}: left hand rises {100 * rise:.1f} cm (median, middle of the range), "
          f"{100 * above:+.1f} cm relative to the head; rest of the body moved {100 * rest:.3f} cm; {took:.2f} s")
    assert rise > 0.15
    assert bpy.ops.kinmo.reject_version() == {"FINISHED"}
    assert av.current_assignment(obj) == (users, slot) and len(scene.timeline_markers) == 0


@pytest.mark.parametrize("rig", ["default", "bandai"])
def test_edit_a_kinmo_action_variants_accept_and_reject(scene, worker, tmp_path, rig):
    needs(worker, "edit")
    motion_mod = pytest.importorskip("kinmo_core.motion.file")
    path = motion_mod.Motion.from_joints(np.load(FIXTURES / "012314_new_joints.npy")[:121],
                                         text="a person walks forward").save(tmp_path / "walk.npz")  # fmt: skip
    scene.kinmo.assign = "ACTIVE"
    if rig == "bandai":  # a KinMo motion retargeted onto a Bandai BVH rig
        if not bandai_files():
            pytest.skip("the Bandai-Namco mocap set is not in ../shared")
        bpy.ops.import_anim.bvh(filepath=str(next(p for p in bandai_files() if "walk" in p.name)), global_scale=0.01)
        obj = bpy.context.object
        assert bpy.ops.kinmo.retarget(filepath=str(path)) == {"FINISHED"}
    else:
        assert bpy.ops.kinmo.import_motion(filepath=str(path)) == {"FINISHED"}
        obj = bpy.data.objects["KinMo SMPL-22"]
    bone_map = {item.joint: item.bone for item in obj.kinmo_bone_map if item.bone}
    base, slot = av.current_assignment(obj)
    before = curve_bytes(base)
    frames = range(int(base.frame_range[0]), int(base.frame_range[1]) + 1)
    old = curve_values(base, slot, frames)
    assert bpy.ops.kinmo.edit_range(frame_start=40, frame_end=88, prompt="a person waves the right hand",
                                    parts={"RIGHT_ARM"}, variants=2, seed=3) == {"FINISHED"}  # fmt: skip
    state = av.review_state(obj)
    assert len(state["versions"]) == 2 and curve_bytes(base) == before
    first = obj.animation_data.action
    first_name = first.name
    assert bpy.ops.kinmo.next_variant() == {"FINISHED"} and obj.animation_data.action is not first
    second, second_slot = av.current_assignment(obj)
    new = curve_values(second, second_slot, frames)
    inside = np.array([40 <= f <= 88 for f in frames])
    arm = {bone_map[j] for j in ("right_collar", "right_shoulder", "right_elbow", "right_wrist")}
    changed = set()
    for key, values in old.items():
        assert np.array_equal(values[~inside], new[key][~inside]), key
        bone = key[0].split('"')[1]
        if not np.array_equal(values, new[key]):
            changed.add(bone)
    assert changed and changed <= arm, changed
    assert av.stored_source(second) is not None  # a later edit starts from the edited motion
    assert bpy.ops.kinmo.accept_version() == {"FINISHED"}
    assert av.current_assignment(obj) == (second, second_slot) and first_name not in bpy.data.actions


def _controlled(scene, **kwargs) -> None:
    try:
        assert bpy.ops.kinmo.generate(**kwargs) == {"FINISHED"}
    except RuntimeError as e:
        if "ignores paths and targets" in str(e):
            pytest.skip("the KinMo worker's generate takes no constraints yet (the control work adds them)")
        raise


def test_walk_along_a_3_m_bezier_circle(scene, worker):
    bpy.ops.curve.primitive_bezier_circle_add(radius=1.5, location=(1.0, 2.0, 0.0))
    circle = bpy.context.object
    scene.kinmo.levels = "GLOBAL"
    _controlled(scene, prompt="a person walks", path_object=circle.name, use_targets=False)
    obj = bpy.data.objects["KinMo SMPL-22"]
    action = obj.animation_data.action
    frames = range(int(action.frame_range[0]), int(action.frame_range[1]) + 1)
    heads = world_heads(obj, frames)
    pelvis = np.array([heads[f]["pelvis"] for f in frames])
    off = np.abs(np.linalg.norm(pelvis[:, :2] - [1.0, 2.0], axis=1) - 1.5)
    turn = np.degrees(np.ptp(np.unwrap(np.arctan2(pelvis[:, 1] - 2.0, pelvis[:, 0] - 1.0))))
    skate, source = action["kinmo_foot_skate_m_per_s"], action["kinmo_source_foot_skate_m_per_s"]
    print(f"\nBezier circle 3 m: pelvis {100 * off.mean():.2f} cm from the curve on average (max "
          f"{100 * off.max():.2f}), {turn:.0f} degrees around, foot skate {100 * skate:.1f} cm/s (generated "
          f"{100 * source:.1f})")  # fmt: skip
    assert off.mean() < 0.10 and turn > 300
    assert skate < source + 0.02  # feet stay planted as in the generated motion


def test_a_pinned_hand_stays_on_its_empty(scene, worker):
    from mathutils import Matrix, Vector

    assert bpy.ops.kinmo.build_armature() == {"FINISHED"}
    rig = scene.kinmo.target_armature
    rig.matrix_world = Matrix.Translation((0.5, -1.0, 0.0)) @ Matrix.Rotation(0.6, 4, "Z")
    bpy.context.view_layer.update()
    hand = bpy.data.objects.new("Hand", None)
    scene.collection.objects.link(hand)
    hand.location = rig.matrix_world @ Vector((0.3, -0.25, 1.1))
    hand.kinmo_part, hand.kinmo_span_start, hand.kinmo_span_end = "LEFT_HAND", 21, 45
    scene.kinmo.levels = "GLOBAL"
    _controlled(scene, prompt="a person stands and waves", seconds=4.0, path_object="")
    heads = world_heads(rig, range(21, 46))
    dist = [np.linalg.norm(heads[f]["left_wrist"] - np.array(tuple(hand.location))) for f in heads]
    print(f"\npinned hand: {100 * np.mean(dist):.2f} cm from its empty on average (max {100 * np.max(dist):.2f})")
    assert max(dist) < 0.02


def test_compose_prompt_blocks_into_one_long_motion(scene, worker):
    needs(worker, "compose")
    fps = scene.render.fps
    for text, a, b in (("a person walks forward", 1, 1 + 6 * fps), ("a person jumps", 1 + 6 * fps, 1 + 12 * fps)):
        assert bpy.ops.kinmo.add_prompt_block(text=text, frame_start=a, frame_end=b) == {"FINISHED"}
    assert bpy.ops.kinmo.add_prompt_block(text="a person waves the right hand", frame_start=48, frame_end=96,
                                          parts={"RIGHT_ARM"}) == {"FINISHED"}  # fmt: skip
    assert bpy.ops.kinmo.compose_blocks(seed=2) == {"FINISHED"}
    action = bpy.data.objects["KinMo SMPL-22"].animation_data.action
    lo, hi = action.frame_range
    assert (hi - lo) / fps > 10.0  # longer than one generation
