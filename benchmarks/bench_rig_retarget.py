"""Benchmark: the `kinmo.retarget` operator on each rig kind of tests/rig_zoo.py, a 10 s motion at 24 fps.

Target: under 2 s per rig, a generated Rigify rig included (its keys are measured through Blender because its FK
controls hang from constraint-driven helper bones; `blender_addon/rig_checks.py`). Also times the exact
frame-by-frame path on the Rigify rig, the fallback when the helpers do not follow rigidly.
Run: `python benchmarks/bench_rig_retarget.py` (bpy 5.0.1, background mode). Prints one row per rig (median of 3).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
TARGET_S = 2.0
REPEATS = 3


def main() -> int:
    """Time every rig; exit 1 if one misses the target."""
    import bpy  # noqa: I001  (bpy first: it puts addon_utils on the path)
    import addon_utils
    import rig_zoo
    from bench_blender import ten_second_motion
    from test_blender_addon import build_armature, select_only

    from blender_addon import rig_checks

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = ten_second_motion(Path(tmp))
        bpy.ops.wm.read_factory_settings(use_empty=True)
        rig_zoo.build_rigify(bpy, generate=True)
        rigify_file = Path(tmp) / "rigify.blend"
        bpy.ops.wm.save_as_mainfile(filepath=str(rigify_file), copy=True)
        kinds = ["rigify (generated)", "rigify (generated), frame by frame", "rigify_metarig", *rig_zoo.rigs()]
        for kind in kinds:
            times = []
            for _ in range(REPEATS if "frame by frame" not in kind else 1):
                if kind.startswith("rigify (generated)"):
                    bpy.ops.wm.open_mainfile(filepath=str(rigify_file), load_ui=False)
                    obj = bpy.data.objects["rig"]
                else:
                    bpy.ops.wm.read_factory_settings(use_empty=True)
                    if kind == "rigify_metarig":
                        obj = rig_zoo.build_rigify(bpy, generate=False)
                    else:
                        bones, scale, _ = rig_zoo.rigs()[kind]
                        obj = build_armature(kind, bones, scale=scale)
                addon_utils.enable("blender_addon", default_set=True, handle_error=None)
                bpy.context.scene.render.fps = 24
                select_only(obj)
                check = rig_checks._check_frame
                if "frame by frame" in kind:
                    rig_checks._check_frame = lambda *a, **k: False
                try:
                    t0 = time.perf_counter()
                    assert bpy.ops.kinmo.retarget(filepath=str(path)) == {"FINISHED"}
                    times.append(time.perf_counter() - t0)
                finally:
                    rig_checks._check_frame = check
                bones = len(obj.data.bones)
                frames = int(obj.animation_data.action.frame_range[1] - obj.animation_data.action.frame_range[0]) + 1
            rows.append((kind, bones, frames, statistics.median(times)))
    print(f"kinmo.retarget, 10 s motion at 24 fps, bpy {bpy.app.version_string}, median of {REPEATS}")
    print(f"{'rig':<38} {'bones':>6} {'frames':>7} {'seconds':>8} {'target':>7}")
    ok = True
    for kind, bones, frames, s in rows:
        passed = s < TARGET_S or "frame by frame" in kind
        ok &= passed
        print(f"{kind:<38} {bones:>6} {frames:>7} {s:>8.2f} {'ok' if passed else 'MISS':>7}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
