"""Benchmark: click-to-keys time of Generate in Blender (bpy 5.0.1, background mode) with the default model.

Measures, from calling `kinmo.generate` to the new action's keys on the armature (a 4 s prompt at the default levels):
a first Generate with no worker running (worker start, imports, model load, generation, retargeting, baking), a warm
Generate right after it, and a first Generate after the add-on's background warm-up (`blender_addon/warmup.py`) has
finished, with the warm-up's own duration. Run: `python benchmarks/bench_first_generate.py [--repeats N]`.
Target (issue 20): the first Generate after the warm-up as fast as a warm one (within 1 s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def click_to_keys(bpy, prompt: str) -> float:
    """Seconds from calling Generate to the new action's keys on the armature."""
    before = set(bpy.data.actions)
    scene = bpy.context.scene
    scene.kinmo.prompt = prompt
    t0 = time.perf_counter()
    assert bpy.ops.kinmo.generate() == {"FINISHED"}
    elapsed = time.perf_counter() - t0
    new = set(bpy.data.actions) - before
    assert len(new) == 1 and new.pop().layers[0].strips[0].channelbags[0].fcurves[0].keyframe_points
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios; print one row each (median over repeats)."""
    import bpy  # noqa: I001  (bpy first: it puts addon_utils on the path)
    import addon_utils

    from blender_addon import backend, warmup

    p = argparse.ArgumentParser(description="click-to-keys time of the first and a warm Generate")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("blender_addon", default_set=True, handle_error=None)
    prefs = bpy.context.preferences.addons["blender_addon"].preferences
    prefs.python_path = sys.executable
    scene = bpy.context.scene
    scene.kinmo.seconds = 4.0
    rows: dict[str, list[float]] = {"first Generate, no warm-up": [], "warm Generate": [],
                                    "background warm-up (worker start + model load)": [],
                                    "first Generate after the warm-up": []}  # fmt: skip
    for r in range(args.repeats):
        backend.shutdown()
        warmup.reset()
        rows["first Generate, no warm-up"].append(click_to_keys(bpy, f"a person walks forward {r}"))
        rows["warm Generate"].append(click_to_keys(bpy, f"a person waves with the left hand {r}"))
        backend.shutdown()
        warmup.reset()
        t0 = time.perf_counter()
        warmup.start(prefs.python_path, "")
        assert warmup.wait(600) and warmup.STATE.state == "ready", warmup.STATE.error
        rows["background warm-up (worker start + model load)"].append(time.perf_counter() - t0)
        rows["first Generate after the warm-up"].append(click_to_keys(bpy, f"a person jumps twice {r}"))
    backend.shutdown()
    print(f"KinMo click-to-keys, default model, 4 s prompt, levels 3, bpy {bpy.app.version_string}, "
          f"median of {args.repeats}")  # fmt: skip
    for name, values in rows.items():
        print(f"{name:<50} {statistics.median(values):7.2f} s   (runs: {', '.join(f'{v:.2f}' for v in values)})")
    first_after = statistics.median(rows["first Generate after the warm-up"])
    warm = statistics.median(rows["warm Generate"])
    return 0 if first_after < warm + 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
