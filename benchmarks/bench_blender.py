"""Benchmark: retarget and bake a 10 s KinMo motion onto a 60-bone rig in Blender (bpy 5.0.1, background mode).

Target: the whole `kinmo.retarget` operator under 1 s. Run: `.venv/bin/python benchmarks/bench_blender.py`.
Prints one row per setting: frames baked, retarget math time, bake time, whole operator time (median of 5 runs).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

TARGET_S = 1.0
REPEATS = 5


def ten_second_motion(folder: Path) -> Path:
    """A 10 s (200 frame) motion: HumanML3D's fixture walk, continued by its own first frames."""
    from kinmo_core.motion.file import Motion

    joints = np.load(ROOT / "tests" / "fixtures" / "012314_new_joints.npy")
    tail = joints[1:32].copy()
    tail[..., [0, 2]] += joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]]
    motion = Motion.from_joints(np.concatenate((joints, tail)), text="a person walks for ten seconds")
    return motion.save(folder / "ten_seconds.npz")


def sixty_bone_rig():
    """A Mixamo-style rig (the test rig) plus 15 finger bones per hand and a few extras: 60 bones."""
    import bpy
    from test_blender_addon import build_armature
    from test_blender_math import MIXAMO_BONES

    bones = list(MIXAMO_BONES)
    heads = {name: np.array(tail, float) for name, _p, _h, tail in bones}
    for side in ("Left", "Right"):
        hand = f"mixamorig:{side}Hand"
        base = heads[hand]
        x = 1.0 if side == "Left" else -1.0
        for f, finger in enumerate(("Thumb", "Index", "Middle", "Ring", "Pinky")):
            parent = hand
            start = base + np.array([0.0, -3.0 + 1.5 * f, 0.0])
            for k in range(1, 4):
                if finger == "Index" and k == 1:
                    continue  # the test rig already has HandIndex1
                name = f"mixamorig:{side}Hand{finger}{k}"
                end = start + np.array([x * 2.0, 0.0, -1.0])
                bones.append((name, parent, tuple(start), tuple(end)))
                parent, start = name, end
    bones.append(("mixamorig:LeftEye", "mixamorig:Head", (3, -8, 165), (3, -10, 165)))
    bones.append(("mixamorig:RightEye", "mixamorig:Head", (-3, -8, 165), (-3, -10, 165)))
    while len(bones) < 60:
        i = len(bones)
        bones.append((f"prop_{i}", "mixamorig:Spine2", (0, 10, 140), (0, 15, 140)))
    obj = build_armature("Rig60", bones[:60], scale=0.01)
    assert len(obj.data.bones) == 60, len(obj.data.bones)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    return obj


def main() -> int:
    """Run the benchmark and print the table; exit 1 if the target is missed."""
    import bpy  # noqa: I001  (bpy first: it puts addon_utils on the path)
    import addon_utils

    from blender_addon import bake as bk
    from blender_addon.retarget.bone_map import auto_bone_map
    from blender_addon.retarget.solve import facing_basis, retarget
    from blender_addon.retarget.source import load_motion_npz

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = ten_second_motion(Path(tmp))
        source = load_motion_npz(str(path))
        for fps, cleanup in ((24, False), (30, False), (60, False), (30, True)):
            bpy.ops.wm.read_factory_settings(use_empty=True)
            addon_utils.enable("blender_addon", default_set=True, handle_error=None)
            scene = bpy.context.scene
            scene.render.fps = fps
            scene.kinmo.foot_cleanup = cleanup
            scene.kinmo.assign = "ACTIVE"
            obj = sixty_bone_rig()
            spec = bk.rig_spec(obj)
            bone_map, _ = auto_bone_map(spec)
            basis = facing_basis(spec, bone_map, bk.object_rotation(obj))
            math_t, bake_t, op_t = [], [], []
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                result = retarget(source, spec, bone_map, basis, fps=fps, foot_cleanup=cleanup)
                t1 = time.perf_counter()
                action, _ = bk.bake(obj, result, "bench", 1, "ACTIVE")
                t2 = time.perf_counter()
                math_t.append(t1 - t0)
                bake_t.append(t2 - t1)
                bpy.data.actions.remove(action)
                t3 = time.perf_counter()
                assert bpy.ops.kinmo.retarget(filepath=str(path)) == {"FINISHED"}
                op_t.append(time.perf_counter() - t3)
            rows.append((fps, cleanup, result.frames, statistics.median(math_t), statistics.median(bake_t),
                         statistics.median(op_t)))  # fmt: skip
    frames = source.joints.shape[0]
    version = bpy.app.version_string
    print(f"KinMo Blender bake benchmark: {frames} frames ({frames / source.fps:.1f} s at {source.fps:g} fps) onto a "
          f"60-bone rig (22 mapped), bpy {version}, median of {REPEATS}")  # fmt: skip
    print(f"{'scene fps':>9} {'cleanup':>8} {'frames':>7} {'math s':>8} {'bake s':>8} {'operator s':>11} {'target':>7}")
    ok = True
    for fps, cleanup, frames, m, b, o in rows:
        passed = o < TARGET_S
        ok &= passed
        print(f"{fps:>9} {str(cleanup):>8} {frames:>7} {m:>8.3f} {b:>8.3f} {o:>11.3f} {'ok' if passed else 'MISS':>7}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
