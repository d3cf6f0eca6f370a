"""Benchmark: click to keys for Edit Motion (`kinmo.edit_range`) on a 2 s range, warm worker, packaged model.

Target: at most 2 s from the click to the new keys. Two cases: imported Bandai mocap (the rig is sampled back to the
22 joints) and a KinMo action (its stored source motion). Each row: the median over REPEATS of the whole operator,
and its parts (worker load_motion, worker edit, the add-on's own work: sampling, retargeting, writing keys).

Run: `python benchmarks/bench_blender_edit.py [--worker-path CHECKOUT]` with a worker that has the `edit` method
(--worker-path: another checkout's code for the worker, e.g. one with the editing branch merged).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

TARGET_S = 2.0
REPEATS = 3
PROMPT = "a person raises the left arm above the head"


def main(argv: list[str] | None = None) -> int:
    """Time edits and print one row per case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker-path", default="", help="PYTHONPATH for the worker (another checkout)")
    args = parser.parse_args(argv)
    if args.worker_path:
        os.environ["PYTHONPATH"] = args.worker_path
        os.chdir(tempfile.mkdtemp())  # `python -m` puts the working folder first on sys.path
    import bpy  # noqa: I001 (first: it provides addon_utils)
    import addon_utils
    from conftest import bandai_files

    from blender_addon import backend, edit_ops, operators

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("blender_addon", default_set=True, handle_error=None)
    bpy.context.preferences.addons["blender_addon"].preferences.python_path = sys.executable
    client = backend.get_client(sys.executable)
    client.start()
    if "edit" not in client.info.get("methods", ()):
        print("error: the worker has no 'edit' method; pass --worker-path", file=sys.stderr)
        return 2
    parts: dict[str, list[float]] = {}
    original_wait = operators.wait_for

    def timed_wait(job, timeout, on_wait=None):
        t0 = time.monotonic()
        reply = original_wait(job, timeout, on_wait)
        parts.setdefault(job.method, []).append(time.monotonic() - t0)
        return reply

    edit_ops.wait_for = timed_wait
    operators.wait_for = timed_wait  # run_task (background mode) waits through operators.wait_for

    def case(name: str, setup) -> None:
        bpy.ops.wm.read_homefile(use_empty=True)
        bpy.context.preferences.addons["blender_addon"].preferences.python_path = sys.executable
        setup()
        fps = bpy.context.scene.render.fps
        lo, hi = 30, 30 + 2 * fps
        whole = []
        for k in range(REPEATS + 1):  # the first edit loads the text models: not counted
            parts.clear()
            t0 = time.monotonic()
            assert bpy.ops.kinmo.edit_range(frame_start=lo, frame_end=hi, prompt=PROMPT, parts={"LEFT_ARM"},
                                            seed=k) == {"FINISHED"}  # fmt: skip
            if k:
                whole.append(time.monotonic() - t0)
                for m in ("load_motion", "edit"):
                    timings.setdefault((name, m), []).append(parts[m][0])
        med = statistics.median(whole)
        load, edit = (statistics.median(timings[(name, m)]) for m in ("load_motion", "edit"))
        verdict = "ok" if med <= TARGET_S else f"over the {TARGET_S:g} s target"
        print(f"{name:<28} {med:7.2f} s {load:9.2f} s {edit:9.2f} s {med - load - edit:9.2f} s   {verdict}")

    def bandai():
        bvh = next(p for p in bandai_files() if p.name.startswith("dataset-1_walk_normal"))
        bpy.ops.import_anim.bvh(filepath=str(bvh), global_scale=0.01)

    def kinmo_action():
        from kinmo_core.motion.file import Motion

        joints = np.load(ROOT / "tests" / "fixtures" / "012314_new_joints.npy")[:121]
        path = Motion.from_joints(joints, text="a person walks").save(Path(tempfile.mkdtemp()) / "walk.npz")
        bpy.context.scene.kinmo.assign = "ACTIVE"
        assert bpy.ops.kinmo.import_motion(filepath=str(path)) == {"FINISHED"}

    timings: dict = {}
    print(f"{'case (2 s range, warm)':<28} {'click-keys':>9} {'load_motion':>11} {'edit':>11} {'add-on':>11}")
    if bandai_files():
        case("Bandai BVH mocap (sampled)", bandai)
    case("KinMo action (stored)", kinmo_action)
    backend.shutdown()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
