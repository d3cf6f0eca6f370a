"""Speed of the product path: motion file save/load, format conversion and preview rendering (frames per second).

Runs on the HumanML3D reference motion in tests/fixtures (170 frames, 8.5 s). Prints a results table.
Targets: a preview renders faster than real time (>= 20 frames/s) for the three-view GIF; loading a .npz motion
file with full validation takes under 0.1 s.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kinmo_core.motion.file import Motion, load_motion, save_motion  # noqa: E402
from kinmo_core.render import plot_motion_summary, render_motion  # noqa: E402

FEATURES = ROOT / "tests" / "fixtures" / "012314_new_joint_vecs.npy"


def timed(fn, repeat: int = 1) -> float:
    """Return the best wall time of `repeat` calls of fn, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    """Run the benchmark and print the table; return 1 if a target is missed."""
    rows: list[tuple[str, float, str]] = []
    features = np.load(FEATURES)
    n = len(features)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.save(tmp / "f.npy", features)
        rows.append(("load HumanML3D .npy features -> Motion", timed(lambda: load_motion(tmp / "f.npy"), 3), "s"))
        motion = load_motion(tmp / "f.npy")
        rows.append(("Motion.save .npz", timed(lambda: motion.save(tmp / "m.npz", overwrite=True), 3), "s"))
        load_s = timed(lambda: Motion.load(tmp / "m.npz"), 5)
        rows.append(("Motion.load .npz (validated)", load_s, "s"))
        rows.append(("save .bvh", timed(lambda: save_motion(motion, tmp / "m.bvh", overwrite=True), 3), "s"))
        rows.append(("load .bvh -> Motion", timed(lambda: load_motion(tmp / "m.bvh"), 3), "s"))
        rows.append(
            (
                "summary sheet .png",
                timed(lambda: plot_motion_summary(motion.joints, tmp / "s.png", overwrite=True)),
                "s",
            )
        )
        fps = {}
        for view, ext in (("three", ".gif"), ("three", ".mp4"), ("orbit", ".gif"), ("orbit", ".mp4")):
            out = tmp / f"r_{view}{ext}"
            s = timed(
                lambda out=out, view=view: render_motion(motion.joints, out, views=view, overwrite=True, progress=False)
            )
            fps[(view, ext)] = n / s
            rows.append((f"render {view} {ext} ({n} frames)", n / s, "frames/s"))
    print(f"{'case':<44} {'value':>10}  unit")
    for name, value, unit in rows:
        print(f"{name:<44} {value:>10.3f}  {unit}")
    ok = fps[("three", ".gif")] >= 20 and load_s < 0.1
    print(f"targets (three-view GIF >= 20 frames/s, .npz load < 0.1 s): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
